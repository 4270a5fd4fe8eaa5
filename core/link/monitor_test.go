package link

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

var errHostGone = errors.New("dial tcp 127.0.0.1:5000: connection refused")

// fakeProber answers echo tests by a rule of the fake time and counts them.
type fakeProber struct {
	clk   *clock.Fake
	mu    sync.Mutex
	calls []time.Time
	ok    func(now time.Time) bool
}

func (p *fakeProber) Echo(ctx context.Context) error {
	now := p.clk.Now()
	p.mu.Lock()
	p.calls = append(p.calls, now)
	ok := p.ok
	p.mu.Unlock()
	if ok != nil && ok(now) {
		return nil
	}
	return errHostGone
}

func (p *fakeProber) set(ok func(time.Time) bool) {
	p.mu.Lock()
	p.ok = ok
	p.mu.Unlock()
}

func (p *fakeProber) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// fakeModem returns a settable state.
type fakeModem struct {
	mu    sync.Mutex
	st    ModemState
	err   error
	calls int
}

func (f *fakeModem) ModemState(ctx context.Context) (ModemState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.st, f.err
}

func (f *fakeModem) set(st ModemState) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
}

// harness runs a Monitor on a fake clock. Run reports each wait through
// parkHook after arming its timer, so the harness always knows the
// deadline Run sleeps towards and can advance the clock exactly.
type harness struct {
	t        *testing.T
	clk      *clock.Fake
	m        *Monitor
	parks    chan time.Duration
	deadline time.Time
	waits    []time.Duration
	stop     func()
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	cfg.Clock = clk
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	if p, ok := cfg.Prober.(*fakeProber); ok {
		p.clk = clk
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, clk: clk, m: m, parks: make(chan time.Duration)}
	m.parkHook = func(d time.Duration) { h.parks <- d }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	h.stop = func() {
		cancel()
		// Run may be about to report a park; let it.
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
				return
			case <-h.parks:
			}
		}
	}
	t.Cleanup(h.stop)
	h.park() // the first probe is made at once
	return h
}

// park waits for Run to sleep and records its deadline.
func (h *harness) park() time.Duration {
	h.t.Helper()
	select {
	case d := <-h.parks:
		h.deadline = h.clk.Now().Add(d)
		h.waits = append(h.waits, d)
		return d
	case <-time.After(10 * time.Second): // hang guard, not a timing assertion
		h.t.Fatal("monitor did not go back to sleep")
		return 0
	}
}

// advance moves the fake clock by d, following Run through every timer
// that fires on the way.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	end := h.clk.Now().Add(d)
	for !h.deadline.After(end) {
		h.clk.Advance(h.deadline.Sub(h.clk.Now()))
		h.park()
	}
	h.clk.Advance(end.Sub(h.clk.Now()))
}

// markDown calls MarkDown and follows Run when that woke it.
func (h *harness) markDown(err error) {
	h.t.Helper()
	wasUp := h.m.Up()
	h.m.MarkDown(err)
	if wasUp {
		h.park()
	}
}

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 60 * time.Second, Rand: rand.New(rand.NewPCG(7, 7))}
	ceil := time.Second
	distinct := map[time.Duration]bool{}
	for i := range 40 {
		d := b.Next()
		if d < ceil/2 || d > ceil {
			t.Fatalf("delay %d = %v, want within [%v, %v]", i, d, ceil/2, ceil)
		}
		if d > 60*time.Second {
			t.Fatalf("delay %d = %v exceeds Max", i, d)
		}
		if ceil == 60*time.Second {
			distinct[d] = true
		}
		ceil = min(2*ceil, 60*time.Second)
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct delays at the cap: no jitter?", len(distinct))
	}
	b.Reset()
	if d := b.Next(); d < 500*time.Millisecond || d > time.Second {
		t.Errorf("after Reset: %v, want within [0.5s, 1s]", d)
	}
	// Zero value: the defaults.
	var z Backoff
	if d := z.Next(); d < DefaultBackoffMin/2 || d > DefaultBackoffMin {
		t.Errorf("zero Backoff first delay %v", d)
	}
}

func TestDownProbesFollowBackoff(t *testing.T) {
	p := &fakeProber{}
	h := start(t, Config{Prober: p})
	if h.m.Up() || p.count() != 1 {
		t.Fatalf("after the first probe: up=%v probes=%d, want down after 1", h.m.Up(), p.count())
	}
	ceil := time.Second
	for i := range 12 {
		d := h.waits[len(h.waits)-1]
		if d < ceil/2 || d > ceil {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, d, ceil/2, ceil)
		}
		h.advance(d)
		if got := p.count(); got != i+2 {
			t.Fatalf("after wait %d: %d probes, want %d", i, got, i+2)
		}
		ceil = min(2*ceil, DefaultBackoffMax)
	}
	st := h.m.State()
	if st.Up || !strings.Contains(st.Reason, "echo test failed") || st.LastErr != errHostGone.Error() || st.Probes != 13 {
		t.Errorf("state %+v", st)
	}
}

func TestComesBackAndIdleEcho(t *testing.T) {
	p := &fakeProber{}
	h := start(t, Config{Prober: p})
	states, cancel := h.m.Subscribe()
	defer cancel()
	if s := <-states; s.Up {
		t.Fatalf("initial state up")
	}
	p.set(func(time.Time) bool { return true })
	h.advance(h.waits[len(h.waits)-1])
	select {
	case s := <-states:
		if !s.Up || s.Reason != "echo test answered" || !s.Since.Equal(h.clk.Now()) {
			t.Errorf("published %+v", s)
		}
	default:
		t.Fatal("coming up was not published")
	}
	if d := h.waits[len(h.waits)-1]; d != DefaultEchoInterval {
		t.Fatalf("wait while up = %v, want the echo interval", d)
	}
	n := p.count()
	// A real request answered 30 s in defers the idle echo by 30 s.
	h.advance(30 * time.Second)
	h.m.MarkUp()
	h.advance(30 * time.Second)
	if p.count() != n {
		t.Fatalf("echo sent %v after a real answer", 30*time.Second)
	}
	if d := h.waits[len(h.waits)-1]; d != 30*time.Second {
		t.Errorf("remaining wait %v, want 30s", d)
	}
	h.advance(30 * time.Second)
	if p.count() != n+1 {
		t.Fatalf("idle echo not sent: %d probes, want %d", p.count(), n+1)
	}
}

func TestMarkDownAndRecovery(t *testing.T) {
	p := &fakeProber{ok: func(time.Time) bool { return true }}
	h := start(t, Config{Prober: p})
	states, cancel := h.m.Subscribe()
	defer cancel()
	<-states
	p.set(nil) // the host goes away
	h.advance(5 * time.Second)
	h.markDown(errHostGone)
	select {
	case s := <-states:
		if s.Up || !strings.Contains(s.Reason, "request failed") {
			t.Errorf("published %+v", s)
		}
	default:
		t.Fatal("going down was not published")
	}
	// Run re-planned: the next probe follows the backoff, not the echo
	// interval.
	if d := h.waits[len(h.waits)-1]; d > time.Second {
		t.Fatalf("after MarkDown the next probe is in %v, want within the first backoff step", d)
	}
	p.set(func(time.Time) bool { return true })
	n := p.count()
	h.advance(time.Second)
	if p.count() != n+1 || !h.m.Up() {
		t.Fatalf("not probed back up: probes %d->%d up=%v", n, p.count(), h.m.Up())
	}
	// MarkUp alone brings it up too.
	h.markDown(errHostGone)
	h.m.MarkUp()
	if !h.m.Up() || h.m.State().Reason != "request answered" {
		t.Errorf("MarkUp: %+v", h.m.State())
	}
}

// TestMarkDownStormDoesNotProbe: a thousand failures reported by traffic
// while the clock stands still cause no probe at all.
func TestMarkDownStormDoesNotProbe(t *testing.T) {
	p := &fakeProber{ok: func(time.Time) bool { return true }}
	h := start(t, Config{Prober: p})
	n := p.count()
	for range 1000 {
		h.markDown(errHostGone)
		h.m.MarkUp()
	}
	if p.count() != n {
		t.Fatalf("%d probes during a MarkDown storm, want 0", p.count()-n)
	}
}

// TestFlappingLinkBounded: the host answers or not by 100 ms slices of
// time, and traffic reports up and down every 100 ms. Over ten minutes
// the monitor probes no more than the backoff allows, not once per flap.
func TestFlappingLinkBounded(t *testing.T) {
	flap := func(now time.Time) bool { return now.Sub(t0)/(100*time.Millisecond)%2 == 0 }
	p := &fakeProber{ok: flap}
	h := start(t, Config{Prober: p})
	const span = 10 * time.Minute
	flaps := 0
	for h.clk.Now().Sub(t0) < span {
		h.advance(100 * time.Millisecond)
		if flap(h.clk.Now()) {
			h.m.MarkUp()
		} else {
			h.markDown(errHostGone)
		}
		flaps++
	}
	// While down the waits are at least half the backoff step, which
	// reaches 30 s after six steps; while up the wait is the echo
	// interval. So at most 6 early probes plus one per 30 s.
	limit := 6 + int(span/(DefaultBackoffMax/2))
	if got := p.count(); got > limit {
		t.Fatalf("%d probes over %v of flapping (%d flaps), limit %d", got, span, flaps, limit)
	}
	t.Logf("%d flaps, %d probes", flaps, p.count())

	// The same host without traffic: only probes see it.
	p2 := &fakeProber{ok: flap}
	h2 := start(t, Config{Prober: p2})
	h2.advance(span)
	if got := p2.count(); got > limit {
		t.Fatalf("no traffic: %d probes over %v, limit %d", got, span, limit)
	}
	t.Logf("no traffic: %d probes", p2.count())
}

// TestProberFlapKeepsBackoff: a host that answers every other probe never
// looks stable (no success confirms it stayed up), so the backoff grows
// instead of restarting at 1 s after each answer.
func TestProberFlapKeepsBackoff(t *testing.T) {
	var n int
	var mu sync.Mutex
	p := &fakeProber{ok: func(time.Time) bool { mu.Lock(); defer mu.Unlock(); n++; return n%2 == 0 }}
	h := start(t, Config{Prober: p})
	h.advance(30 * time.Minute)
	// Down waits after the sixth are at least 30 s; up waits are 60 s.
	var early int
	for _, d := range h.waits {
		if d < 30*time.Second {
			early++
		}
	}
	if early > 6 {
		t.Errorf("%d short waits, want at most 6: %v", early, h.waits)
	}
}

// TestStableLinkResetsBackoff: after confirmed uptime of StableAfter, an
// outage starts the backoff at its minimum again.
func TestStableLinkResetsBackoff(t *testing.T) {
	p := &fakeProber{}
	h := start(t, Config{Prober: p})
	h.advance(5 * time.Minute) // backoff at its cap
	p.set(func(time.Time) bool { return true })
	h.advance(3 * time.Minute) // up, echoes confirm it
	if !h.m.Up() {
		t.Fatal("not up")
	}
	h.markDown(errHostGone)
	if d := h.waits[len(h.waits)-1]; d > time.Second {
		t.Errorf("first wait after a stable period = %v, want ≤ 1s", d)
	}
}

func TestModem(t *testing.T) {
	for _, c := range []struct {
		name   string
		st     ModemState
		reason string
	}{
		{"no SIM", ModemState{Responsive: true}, "SIM not ready"},
		{"not registered", ModemState{Responsive: true, SIMReady: true, SignalKnown: true, SignalDBm: -105}, "not registered on the network"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &fakeProber{ok: func(time.Time) bool { return true }}
			mdm := &fakeModem{st: c.st}
			h := start(t, Config{Prober: p, Modem: mdm})
			st := h.m.State()
			if st.Up || !strings.Contains(st.Reason, c.reason) || st.Modem == nil || *st.Modem != c.st {
				t.Fatalf("state %+v", st)
			}
			if !strings.Contains(st.LastErr, ErrModemNotReady.Error()) {
				t.Errorf("LastErr %q does not name the modem", st.LastErr)
			}
			if p.count() != 0 {
				t.Errorf("echo sent while the modem is not ready")
			}
			mdm.set(ModemState{Responsive: true, SIMReady: true, Registered: true, Operator: "CMCC"})
			h.advance(time.Second)
			if !h.m.Up() || p.count() != 1 || h.m.State().Modem.Operator != "CMCC" {
				t.Errorf("after registration: %+v, echoes %d", h.m.State(), p.count())
			}
		})
	}
}

func TestModemOnly(t *testing.T) {
	mdm := &fakeModem{st: ModemState{Responsive: true, SIMReady: true, Registered: true}}
	h := start(t, Config{Modem: mdm})
	if !h.m.Up() || h.m.State().Reason != "modem registered" {
		t.Errorf("%+v", h.m.State())
	}
	mdm.mu.Lock()
	mdm.err = errors.New("AT timeout")
	mdm.mu.Unlock()
	h.advance(DefaultEchoInterval)
	if h.m.Up() || !strings.Contains(h.m.State().Reason, "unreadable") || h.m.State().Modem.Err == "" {
		t.Errorf("unreadable modem without a prober: %+v", h.m.State())
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("no sources: %v", err)
	}
	if _, err := New(Config{Prober: &fakeProber{}, EchoInterval: -1}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "EchoInterval") {
		t.Errorf("negative: %v", err)
	}
	if _, err := New(Config{Prober: &fakeProber{}, BackoffMin: time.Minute, BackoffMax: time.Second}); !errors.Is(err, ErrConfig) {
		t.Errorf("max < min: %v", err)
	}
	m, err := New(Config{Prober: &fakeProber{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.running.Store(true)
	if err := m.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
	cancel()
}

// TestProbeTimeout: an echo that never returns is bounded by ProbeTimeout
// on the injected clock.
func TestProbeTimeout(t *testing.T) {
	clk := clock.NewFake(t0)
	entered := make(chan struct{})
	m, err := New(Config{Prober: proberFunc(func(ctx context.Context) error {
		close(entered)
		<-ctx.Done()
		return context.Cause(ctx)
	}), Clock: clk, ProbeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan time.Duration, 1)
	go func() { done <- m.probe(context.Background()) }()
	<-entered
	clk.Advance(5 * time.Second)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("probe not bounded by ProbeTimeout")
	}
	if st := m.State(); st.Up || !strings.Contains(st.LastErr, "timed out") {
		t.Errorf("%+v", st)
	}
}

type proberFunc func(ctx context.Context) error

func (f proberFunc) Echo(ctx context.Context) error { return f(ctx) }
