package gpio

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"

	"github.com/posagent/posagent/core/clock"
)

// liveness bounds how long a test waits for the code under test to do
// something it must do (start a timer, return). It is a hang guard, not a
// timing assertion: nothing is measured against it.
const liveness = 5 * time.Second

var epoch = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// hookClock is a clock.Fake that reports every timer the code under test
// starts, so a test advances time exactly when the code waits.
type hookClock struct {
	*clock.Fake
	afters chan time.Duration
}

func newHookClock() *hookClock {
	return &hookClock{Fake: clock.NewFake(epoch), afters: make(chan time.Duration, 1024)}
}

// After implements clock.Clock.
func (h *hookClock) After(d time.Duration) <-chan time.Time {
	ch := h.Fake.After(d)
	h.afters <- d
	return ch
}

// next waits until the code under test starts a timer and returns its
// duration.
func (h *hookClock) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-h.afters:
		return d
	case <-time.After(liveness):
		t.Fatal("the code under test never started a timer")
		return 0
	}
}

// step waits for the next timer, checks its duration and fires it.
func (h *hookClock) step(t *testing.T, want time.Duration) {
	t.Helper()
	if d := h.next(t); d != want {
		t.Fatalf("timer of %v started, want %v", d, want)
	}
	h.Advance(want)
}

// quiet checks that no timer is pending to be reported.
func (h *hookClock) quiet(t *testing.T) {
	t.Helper()
	select {
	case d := <-h.afters:
		t.Fatalf("unexpected timer of %v", d)
	default:
	}
}

// edgePin is a gpiotest.Pin whose edges are notifications only, as on real
// hardware: the line level is whatever the test set, not the level an edge
// carried. It records the timeouts passed to WaitForEdge and the In calls,
// and can refuse edge detection or any In.
type edgePin struct {
	*gpiotest.Pin
	mu       sync.Mutex
	timeouts []time.Duration
	ins      []string
	edgeErr  error // returned by In with an edge
	inErr    error // returned by every In
}

func newEdgePin(name string) *edgePin {
	return &edgePin{Pin: &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 64)}}
}

// In implements gpio.PinIn.
func (p *edgePin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	p.ins = append(p.ins, fmt.Sprintf("%s/%s", pull, edge))
	edgeErr, inErr := p.edgeErr, p.inErr
	p.mu.Unlock()
	if inErr != nil {
		return inErr
	}
	if edge != gpio.NoEdge && edgeErr != nil {
		return edgeErr
	}
	return p.Pin.In(pull, edge)
}

// WaitForEdge implements gpio.PinIn. A 0 or negative timeout is recorded
// and answered at once (on real drivers one of them blocks forever).
func (p *edgePin) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	p.timeouts = append(p.timeouts, timeout)
	p.mu.Unlock()
	if timeout <= 0 {
		return false
	}
	select {
	case <-p.EdgesChan:
		return true
	case <-time.After(timeout): // periph's own timeout, not our logic's
		return false
	}
}

// set changes the line level and raises an edge.
func (p *edgePin) set(l gpio.Level) {
	p.Lock()
	p.L = l
	p.Unlock()
	p.EdgesChan <- l
}

// setQuiet changes the level without an edge (a lost edge).
func (p *edgePin) setQuiet(l gpio.Level) {
	p.Lock()
	p.L = l
	p.Unlock()
}

// glitch raises an edge without a level change.
func (p *edgePin) glitch() { p.EdgesChan <- p.Read() }

func (p *edgePin) waitTimeouts() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.timeouts...)
}

// stepIdle is hc.step for an input in edge mode that must not report:
// it fires the debounce timer and waits until the code under test is back
// in WaitForEdge, i.e. has finished reacting to it.
func (p *edgePin) stepIdle(t *testing.T, hc *hookClock, want time.Duration) {
	t.Helper()
	if d := hc.next(t); d != want {
		t.Fatalf("timer of %v started, want %v", d, want)
	}
	n := len(p.waitTimeouts()) // the code is waiting on the timer, not in WaitForEdge
	hc.Advance(want)
	for deadline := time.Now().Add(liveness); len(p.waitTimeouts()) <= n; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatal("the code under test did not return to WaitForEdge")
		}
	}
}

func (p *edgePin) inCalls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ins...)
}

// recorder logs output operations with the fake clock's time.
type recorder struct {
	mu    sync.Mutex
	clk   clock.Clock
	start time.Time
	evs   []string
}

func newRecorder(clk clock.Clock) *recorder { return &recorder{clk: clk, start: clk.Now()} }

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, fmt.Sprintf("%v %s", r.clk.Now().Sub(r.start), fmt.Sprintf(format, args...)))
}

// reset forgets the events so far and restarts the time origin.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs, r.start = nil, r.clk.Now()
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.evs...)
}

// recPin is a gpiotest.Pin that records Out and PWM calls, and can fail
// them or block in them.
type recPin struct {
	*gpiotest.Pin
	rec    *recorder
	mu     sync.Mutex
	outErr error
	pwmErr error
	block  chan struct{} // when set, Out waits for it to be closed...
	inOut  chan struct{} // ...after a send here (if set)
}

func newRecPin(name string, rec *recorder) *recPin {
	return &recPin{Pin: &gpiotest.Pin{N: name}, rec: rec}
}

// Out implements gpio.PinOut.
func (p *recPin) Out(l gpio.Level) error {
	p.mu.Lock()
	err, block, inOut := p.outErr, p.block, p.inOut
	p.mu.Unlock()
	if block != nil {
		if inOut != nil {
			inOut <- struct{}{}
		}
		<-block
	}
	if err != nil {
		return err
	}
	p.rec.add("%s %s", p.N, l)
	return p.Pin.Out(l)
}

// PWM implements gpio.PinOut.
func (p *recPin) PWM(d gpio.Duty, f physic.Frequency) error {
	p.mu.Lock()
	err := p.pwmErr
	p.mu.Unlock()
	if err != nil {
		return err
	}
	p.rec.add("%s PWM %s %s", p.N, d, f)
	return p.Pin.PWM(d, f)
}

func (p *recPin) failOut(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outErr = err
}

// logBuf collects slog output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

var (
	_ gpio.PinIO = (*edgePin)(nil)
	_ gpio.PinIO = (*recPin)(nil)
)
