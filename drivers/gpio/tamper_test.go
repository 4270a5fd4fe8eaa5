package gpio

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// alarms records OnAlarm calls.
type alarms struct {
	mu  sync.Mutex
	ats []time.Time
	ch  chan time.Time
}

func newAlarms() *alarms { return &alarms{ch: make(chan time.Time, 16)} }

func (a *alarms) on(at time.Time) {
	a.mu.Lock()
	a.ats = append(a.ats, at)
	a.mu.Unlock()
	a.ch <- at
}

func (a *alarms) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ats)
}

func (a *alarms) wait(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-a.ch:
		return at
	case <-time.After(liveness):
		t.Fatal("no tamper alarm")
		return time.Time{}
	}
}

func runTamper(t *testing.T, tp *Tamper) (context.CancelFunc, <-chan error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tp.Run(ctx) }()
	t.Cleanup(cancel)
	return cancel, done
}

func TestTamperLatchesUntilCleared(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_TAMPER")
	al := newAlarms()
	log, logs := newLog()
	tp, err := NewTamper(p, TamperOptions{OnAlarm: al.on, Input: InputOptions{Clock: hc, Log: log, Slice: quietSlice}})
	if err != nil {
		t.Fatal(err)
	}
	cancel, done := runTamper(t, tp)
	p.stepIdle(t, hc, DefaultDebounce) // Settle at start: closed
	if on, _ := tp.Tampered(); on || tp.Open() {
		t.Fatal("tampered at start with the case closed")
	}

	opened := hc.Now()
	p.set(gpio.High) // the case is opened
	hc.step(t, DefaultDebounce)
	if at := al.wait(t); !at.Equal(opened) {
		t.Fatalf("alarm at %v, want %v", at, opened)
	}
	if on, at := tp.Tampered(); !on || !at.Equal(opened) {
		t.Fatalf("Tampered = %v %v", on, at)
	}
	if err := tp.Clear(); !errors.Is(err, ErrCaseOpen) {
		t.Fatalf("Clear while open: %v", err)
	}

	p.set(gpio.Low) // closed again: still latched
	p.stepIdle(t, hc, DefaultDebounce)
	if on, _ := tp.Tampered(); !on || tp.Open() {
		t.Fatalf("latch lost when the case closed (open=%v)", tp.Open())
	}
	if !strings.Contains(logs.String(), "TAMPER") || !strings.Contains(logs.String(), "closed again") {
		t.Fatalf("log %s", logs)
	}
	if err := tp.Clear(); err != nil {
		t.Fatal(err)
	}
	if on, at := tp.Tampered(); on || !at.IsZero() {
		t.Fatalf("after Clear: %v %v", on, at)
	}

	p.set(gpio.High) // opened again: a second alarm
	hc.step(t, DefaultDebounce)
	al.wait(t)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if al.count() != 2 {
		t.Fatalf("%d alarms", al.count())
	}
}

// A bounce (the case knocked, not opened) raises nothing.
func TestTamperBounceNoAlarm(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_TAMPER_B")
	al := newAlarms()
	tp, err := NewTamper(p, TamperOptions{OnAlarm: al.on, Input: InputOptions{Clock: hc, Slice: quietSlice}})
	if err != nil {
		t.Fatal(err)
	}
	runTamper(t, tp)
	p.stepIdle(t, hc, DefaultDebounce) // Settle
	p.set(gpio.High)
	d := hc.next(t)
	p.set(gpio.Low)
	hc.Advance(d)
	p.stepIdle(t, hc, DefaultDebounce)
	if al.count() != 0 {
		t.Fatal("alarm for a bounce")
	}
	if on, _ := tp.Tampered(); on {
		t.Fatal("latched by a bounce")
	}
}

// A case opened while the agent was down alarms at start; the polling
// fallback (no edge detection) works for the tamper line too.
func TestTamperOpenAtStartPolling(t *testing.T) {
	hc := newHookClock()
	p := &gpiotest.Pin{N: "T_TAMPER_P", L: gpio.High}
	al := newAlarms()
	tp, err := NewTamper(p, TamperOptions{OnAlarm: al.on, Input: InputOptions{Clock: hc}})
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Polling() {
		t.Fatal("not polling without edge support")
	}
	runTamper(t, tp)
	start := hc.Now()
	hc.step(t, DefaultDebounce)
	if at := al.wait(t); !at.Equal(start.Add(DefaultDebounce)) {
		t.Fatalf("alarm at %v", at)
	}
	if !tp.Open() {
		t.Fatal("Open() false")
	}
}

func TestTamperRestore(t *testing.T) {
	al := newAlarms()
	tp, err := NewTamper(newEdgePin("T_TAMPER_R"), TamperOptions{OnAlarm: al.on})
	if err != nil {
		t.Fatal(err)
	}
	at := epoch.Add(-time.Hour)
	tp.Restore(at)
	if on, got := tp.Tampered(); !on || !got.Equal(at) || al.count() != 0 {
		t.Fatalf("restored %v %v, %d alarms", on, got, al.count())
	}
	// The case reads closed (fresh read too): a technician may clear.
	if err := tp.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTamper(nil, TamperOptions{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil pin: %v", err)
	}
}

func TestPaperSensor(t *testing.T) {
	hc := newHookClock()
	p := newEdgePin("T_PAPER")
	p.setQuiet(gpio.High)
	ps, err := NewPaperSensor(p, InputOptions{Clock: hc, Slice: quietSlice})
	if err != nil {
		t.Fatal(err)
	}
	if !ps.Present() || ps.Polling() {
		t.Fatalf("present=%v polling=%v", ps.Present(), ps.Polling())
	}
	type res struct {
		present bool
		at      time.Time
		err     error
	}
	ch := make(chan res, 1)
	go func() {
		present, at, err := ps.Wait(t.Context())
		ch <- res{present, at, err}
	}()
	out := hc.Now()
	p.set(gpio.Low) // the roll runs out
	hc.step(t, DefaultDebounce)
	select {
	case r := <-ch:
		if r.err != nil || r.present || !r.at.Equal(out) {
			t.Fatalf("got %+v", r)
		}
	case <-time.After(liveness):
		t.Fatal("Wait did not return")
	}
	if ps.Present() {
		t.Fatal("Present after paper out")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ps.Settle(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Settle with a cancelled ctx: %v", err)
	}
}
