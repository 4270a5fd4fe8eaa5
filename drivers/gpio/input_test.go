package gpio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// result is one WaitEdge return.
type result struct {
	l   gpio.Level
	at  time.Time
	err error
}

// waitAsync runs WaitEdge in a goroutine and returns its result channel.
func waitAsync(ctx context.Context, in *Input) <-chan result {
	ch := make(chan result, 1)
	go func() {
		l, at, err := in.WaitEdge(ctx)
		ch <- result{l, at, err}
	}()
	return ch
}

func recv(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(liveness):
		t.Fatal("WaitEdge did not return")
		return result{}
	}
}

func noResult(t *testing.T, ch <-chan result) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("WaitEdge returned %v at %v, err %v; want it still waiting", r.l, r.at, r.err)
	default:
	}
}

// testSlice is short, for tests that need the quiet-slice path (lost
// edge, cancellation). quietSlice is long, for edge-sequence tests: with
// it the slice never ends during the test, so the re-read after a quiet
// slice cannot race the test's level changes.
const (
	testSlice  = 2 * time.Millisecond
	quietSlice = 300 * time.Millisecond
)

func longSlice(o *InputOptions) { o.Slice = quietSlice }

func newTestInput(t *testing.T, p gpio.PinIn, hc *hookClock, mod func(*InputOptions)) *Input {
	t.Helper()
	// With the fake clock every WaitForEdge timeout looks instant, so the
	// early-return guard is off unless a test turns it on.
	opt := InputOptions{Clock: hc, Slice: testSlice, MaxQuick: -1}
	if mod != nil {
		mod(&opt)
	}
	in, err := NewInput(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func checkTimeouts(t *testing.T, p *edgePin, want time.Duration) {
	t.Helper()
	ts := p.waitTimeouts()
	if len(ts) == 0 {
		t.Fatal("WaitForEdge was never called")
	}
	for _, d := range ts {
		if d != want {
			t.Fatalf("WaitForEdge(%v) called; only the bounded slice %v may be passed (never 0 or -1)", d, want)
		}
	}
}

func TestWaitEdgeReportsDebouncedChange(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_IN1")
	in := newTestInput(t, p, hc, longSlice)
	if in.Polling() || in.Level() != gpio.Low {
		t.Fatalf("polling=%v level=%v, want edge mode at Low", in.Polling(), in.Level())
	}
	if got := p.inCalls(); len(got) != 1 || got[0] != "PullNoChange/BothEdges" {
		t.Fatalf("In calls %q", got)
	}
	ctx := t.Context()
	ch := waitAsync(ctx, in)
	seen := hc.Now()
	p.set(gpio.High)
	hc.step(t, DefaultDebounce)
	r := recv(t, ch)
	if r.err != nil || r.l != gpio.High || !r.at.Equal(seen) {
		t.Fatalf("got %v at %v err %v; want High at %v (when the edge was seen)", r.l, r.at, r.err, seen)
	}
	if in.Level() != gpio.High {
		t.Fatalf("stable level %v", in.Level())
	}
	checkTimeouts(t, p, quietSlice)
}

// Bouncing contacts: several fast edges that end at the old level report
// nothing; the next real change is reported once.
func TestWaitEdgeBounceBackIsNotReported(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_BOUNCE")
	in := newTestInput(t, p, hc, longSlice)
	ch := waitAsync(t.Context(), in)

	p.set(gpio.High)
	d := hc.next(t) // the debounce wait after the first edge
	p.set(gpio.Low) // the contact bounces during the debounce time...
	p.set(gpio.High)
	p.set(gpio.Low) // ...and settles back where it was
	hc.Advance(d)
	// The three queued edges each cost one more debounce and re-read.
	for range 2 {
		hc.step(t, DefaultDebounce)
	}
	p.stepIdle(t, hc, DefaultDebounce)
	noResult(t, ch)

	seen := hc.Now()
	p.set(gpio.High)
	hc.step(t, DefaultDebounce)
	r := recv(t, ch)
	if r.err != nil || r.l != gpio.High || !r.at.Equal(seen) {
		t.Fatalf("got %v at %v err %v, want High at %v", r.l, r.at, r.err, seen)
	}
	checkTimeouts(t, p, quietSlice)
}

// Bouncing that settles at the new level is reported once; the queued
// bounce edges after it are not reported again.
func TestWaitEdgeBounceToNewLevelReportedOnce(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_BOUNCE2")
	in := newTestInput(t, p, hc, longSlice)
	ctx, cancel := context.WithCancel(t.Context())
	ch := waitAsync(ctx, in)
	p.set(gpio.High)
	d := hc.next(t)
	p.set(gpio.Low)
	p.set(gpio.High)
	hc.Advance(d)
	if r := recv(t, ch); r.err != nil || r.l != gpio.High {
		t.Fatalf("got %v err %v", r.l, r.err)
	}
	ch = waitAsync(ctx, in)
	hc.step(t, DefaultDebounce)        // queued edge 2: level still High
	p.stepIdle(t, hc, DefaultDebounce) // queued edge 3: level still High
	noResult(t, ch)
	cancel()
	if r := recv(t, ch); !errors.Is(r.err, context.Canceled) || r.l != gpio.High {
		t.Fatalf("after cancel got %v err %v", r.l, r.err)
	}
}

// Edges that do not alternate, with periph's own gpiotest.Pin (whose edges
// carry a level): two High edges in a row report High once.
func TestWaitEdgeNonAlternatingEdgesGpiotest(t *testing.T) {
	hc := newHookClock()
	p := &gpiotest.Pin{N: "T_NONALT", EdgesChan: make(chan gpio.Level, 8)}
	in := newTestInput(t, p, hc, longSlice)
	ctx, cancel := context.WithCancel(t.Context())
	ch := waitAsync(ctx, in)
	p.EdgesChan <- gpio.High
	p.EdgesChan <- gpio.High
	hc.step(t, DefaultDebounce)
	if r := recv(t, ch); r.err != nil || r.l != gpio.High {
		t.Fatalf("got %v err %v", r.l, r.err)
	}
	ch = waitAsync(ctx, in)
	hc.step(t, DefaultDebounce) // the second High edge: no change
	noResult(t, ch)
	// A Low edge that reads High after the debounce time (the line went
	// back up) is no change either.
	p.EdgesChan <- gpio.Low
	d := hc.next(t)
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	hc.Advance(d)
	p.EdgesChan <- gpio.Low
	hc.step(t, DefaultDebounce)
	if r := recv(t, ch); r.err != nil || r.l != gpio.Low {
		t.Fatalf("got %v err %v, want Low", r.l, r.err)
	}
	cancel()
}

// A level change whose edge was lost is caught by the re-read after a
// quiet slice.
func TestWaitEdgeMissedEdgeCaughtByReread(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_MISSED")
	in := newTestInput(t, p, hc, nil)
	ch := waitAsync(t.Context(), in)
	p.setQuiet(gpio.High)
	hc.step(t, DefaultDebounce)
	if r := recv(t, ch); r.err != nil || r.l != gpio.High {
		t.Fatalf("got %v err %v", r.l, r.err)
	}
}

// Edge detection unsupported: periph's gpiotest.Pin without EdgesChan
// refuses In(BothEdges); the input polls on the injected clock.
func TestWaitEdgePollingFallback(t *testing.T) {
	hc := newHookClock()
	log, logs := newLog()
	p := &gpiotest.Pin{N: "T_POLL"}
	in := newTestInput(t, p, hc, func(o *InputOptions) { o.Log = log })
	if !in.Polling() {
		t.Fatal("not polling although In(BothEdges) failed")
	}
	if !strings.Contains(logs.String(), "edge detection unavailable") {
		t.Fatalf("fallback not logged: %s", logs)
	}
	ch := waitAsync(t.Context(), in)
	hc.step(t, DefaultPoll) // nothing changed
	hc.step(t, DefaultPoll)
	noResult(t, ch)
	d := hc.next(t)
	if d != DefaultPoll {
		t.Fatalf("poll timer %v", d)
	}
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	hc.Advance(d)
	seen := hc.Now()
	hc.step(t, DefaultDebounce)
	r := recv(t, ch)
	if r.err != nil || r.l != gpio.High || !r.at.Equal(seen) {
		t.Fatalf("got %v at %v err %v, want High at %v", r.l, r.at, r.err, seen)
	}
}

func TestWaitEdgePollingBounceNotReported(t *testing.T) {
	hc := newHookClock()
	p := &gpiotest.Pin{N: "T_POLLB"}
	in := newTestInput(t, p, hc, func(o *InputOptions) { o.ForcePoll = true })
	ctx, cancel := context.WithCancel(t.Context())
	ch := waitAsync(ctx, in)
	d := hc.next(t)
	_ = p.Out(gpio.High) // seen by the poll...
	hc.Advance(d)
	d = hc.next(t) // ...the debounce wait starts
	_ = p.Out(gpio.Low)
	hc.Advance(d) // gone again: a glitch
	hc.step(t, DefaultPoll)
	noResult(t, ch)
	cancel()
	if r := recv(t, ch); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err %v", r.err)
	}
}

func TestWaitEdgeCancelInEdgeMode(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_CANCEL")
	in := newTestInput(t, p, hc, nil)
	ctx, cancel := context.WithCancel(t.Context())
	ch := waitAsync(ctx, in)
	for deadline := time.Now().Add(liveness); len(p.waitTimeouts()) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("WaitEdge never called WaitForEdge")
		}
	}
	cancel()
	r := recv(t, ch)
	if !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), "T_CANCEL") {
		t.Fatalf("err %v", r.err)
	}
	checkTimeouts(t, p, testSlice)
}

func TestWaitEdgeCancelDuringDebounce(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_CANCEL2")
	in := newTestInput(t, p, hc, longSlice)
	ctx, cancel := context.WithCancel(t.Context())
	ch := waitAsync(ctx, in)
	p.set(gpio.High)
	hc.next(t) // in the debounce wait, which never fires
	cancel()
	r := recv(t, ch)
	if !errors.Is(r.err, context.Canceled) || r.l != gpio.Low || in.Level() != gpio.Low {
		t.Fatalf("got %v err %v, stable %v: an unconfirmed change must not be reported", r.l, r.err, in.Level())
	}
}

func TestWaitEdgeDeadline(t *testing.T) {
	hc := newHookClock()
	in := newTestInput(t, &gpiotest.Pin{N: "T_DL"}, hc, nil)
	ctx, cancel := context.WithDeadline(t.Context(), epoch) // long past
	defer cancel()
	_, _, err := in.WaitEdge(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

// An interrupt storm (edges with no level change and no quiet slice)
// makes the input give up on edges and poll.
func TestEdgeStormFallsBackToPolling(t *testing.T) {
	hc := newHookClock()
	log, logs := newLog()
	p := newEdgePin("T_STORM")
	in := newTestInput(t, p, hc, func(o *InputOptions) { o.MaxSpurious = 3; o.Log = log; longSlice(o) })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := waitAsync(ctx, in)
	for range 3 {
		p.glitch()
	}
	for range 3 {
		hc.step(t, DefaultDebounce)
	}
	hc.step(t, DefaultPoll) // now polling
	if !in.Polling() || !strings.Contains(logs.String(), "edge storm") {
		t.Fatalf("polling=%v log=%s", in.Polling(), logs)
	}
	if calls := p.inCalls(); calls[len(calls)-1] != "PullNoChange/NoEdge" {
		t.Fatalf("In calls %q", calls)
	}
	noResult(t, ch)
}

func TestNewInputErrors(t *testing.T) {
	p := newEdgePin("T_BUSY")
	p.inErr = errors.New("line_request ioctl: device or resource busy")
	_, err := NewInput(p, InputOptions{})
	if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), "T_BUSY") || !strings.Contains(err.Error(), "line busy") {
		t.Fatalf("err %v", err)
	}
	p.inErr = errors.New("open /dev/gpiochip0: permission denied")
	_, err = NewInput(p, InputOptions{})
	if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), `SUBSYSTEM=="gpio"`) {
		t.Fatalf("err %v", err)
	}
	if _, err := NewInput(nil, InputOptions{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil pin: %v", err)
	}
	for _, c := range []struct {
		field string
		opt   InputOptions
	}{
		{"Slice", InputOptions{Slice: -1}},
		{"Slice", InputOptions{Slice: time.Hour}},
		{"Poll", InputOptions{Poll: -time.Millisecond}},
		{"Poll", InputOptions{Poll: time.Hour}},
		{"Debounce", InputOptions{Debounce: time.Minute}},
	} {
		_, err := NewInput(newEdgePin("T_OPT"), c.opt)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: err %v, want ErrConfig naming %s", c.opt, err, c.field)
		}
	}
}

func TestSettleWaitsForStableLevel(t *testing.T) {
	hc := newHookClock()
	p := &gpiotest.Pin{N: "T_SETTLE"}
	in := newTestInput(t, p, hc, func(o *InputOptions) { o.ForcePoll = true })
	_ = p.Out(gpio.High) // glitch at start
	done := make(chan gpio.Level, 1)
	go func() {
		l, err := in.Settle(t.Context())
		if err != nil {
			t.Error(err)
		}
		done <- l
	}()
	d := hc.next(t)
	_ = p.Out(gpio.Low) // the first read (High) does not hold
	hc.Advance(d)
	hc.step(t, DefaultDebounce)
	select {
	case l := <-done:
		if l != gpio.Low || in.Level() != gpio.Low {
			t.Fatalf("settled at %v, stable %v", l, in.Level())
		}
	case <-time.After(liveness):
		t.Fatal("Settle did not return")
	}
}

func TestDebounceDisabled(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_NODB")
	in := newTestInput(t, p, hc, func(o *InputOptions) { o.Debounce = -1; longSlice(o) })
	ch := waitAsync(t.Context(), in)
	p.set(gpio.High)
	if r := recv(t, ch); r.l != gpio.High || r.err != nil {
		t.Fatalf("got %v err %v", r.l, r.err)
	}
	hc.quiet(t)
}

// A WaitForEdge that returns "no edge" at once (periph's character-device
// driver on a line not configured for edges) must not spin: the input
// falls back to polling.
func TestWaitForEdgeReturningAtOnceFallsBack(t *testing.T) {
	hc := newHookClock()
	log, logs := newLog()
	p := &instantPin{edgePin: newEdgePin("T_INSTANT")}
	in := newTestInput(t, p, hc, func(o *InputOptions) { o.MaxQuick = 5; o.Log = log; o.Slice = quietSlice })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := waitAsync(ctx, in)
	hc.step(t, DefaultPoll) // polling after five instant returns
	if !in.Polling() || !strings.Contains(logs.String(), "returns at once") {
		t.Fatalf("polling=%v log=%s", in.Polling(), logs)
	}
	if n := len(p.waitTimeouts()); n != 5 {
		t.Fatalf("%d WaitForEdge calls, want 5", n)
	}
	noResult(t, ch)
}

// instantPin's WaitForEdge returns false at once.
type instantPin struct{ *edgePin }

func (p *instantPin) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timeouts = append(p.timeouts, timeout)
	return false
}
