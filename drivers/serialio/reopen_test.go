package serialio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// recClock is a fake clock that records every After duration, so a test
// can wait until the supervisor is sleeping and advance exactly that far.
type recClock struct {
	*clock.Fake
	mu    sync.Mutex
	waits []time.Duration
}

func newRecClock() *recClock {
	return &recClock{Fake: clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}
}

func (c *recClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d) // registered before it is visible to waitAfter
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return ch
}

// waitGen waits until the Reopener has installed its n-th port.
func waitGen(t *testing.T, r *Reopener, n uint64) {
	t.Helper()
	stop := time.Now().Add(guard)
	for r.Generation() < n {
		if time.Now().After(stop) {
			t.Fatalf("generation stuck at %d, want %d", r.Generation(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitAfter waits until the clock has been asked for n timers and returns
// the n-th duration (1-based).
func (c *recClock) waitAfter(t *testing.T, n int) time.Duration {
	t.Helper()
	stop := time.Now().Add(guard)
	for time.Now().Before(stop) {
		c.mu.Lock()
		if len(c.waits) >= n {
			d := c.waits[n-1]
			c.mu.Unlock()
			return d
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("clock never got timer #%d", n)
	return 0
}

// advanceUntil moves the clock on in MaxBackoff steps until the Reopener
// reports an event of the given kind.
func advanceUntil(t *testing.T, clk *recClock, r *Reopener, kind EventKind) Event {
	t.Helper()
	stop := time.Now().Add(guard)
	for time.Now().Before(stop) {
		select {
		case ev := <-r.Events():
			if ev.Kind == kind {
				return ev
			}
		default:
			clk.Advance(DefaultMaxBackoff)
			time.Sleep(time.Millisecond)
		}
	}
	t.Fatalf("no %v event", kind)
	return Event{}
}

func nextEvent(t *testing.T, r *Reopener) Event {
	t.Helper()
	select {
	case ev, ok := <-r.Events():
		if !ok {
			t.Fatal("Events closed")
		}
		return ev
	case <-time.After(guard):
		t.Fatal("no event")
	}
	return Event{}
}

func wantEvent(t *testing.T, r *Reopener, kind EventKind, st Status) Event {
	t.Helper()
	ev := nextEvent(t, r)
	if ev.Kind != kind || ev.Status != st {
		t.Fatalf("event %v/%s (%v), want %v/%s", ev.Kind, ev.Status, ev.Err, kind, st)
	}
	return ev
}

// The replug of the brief: a by-id link points at pty A; A is unplugged;
// pty B appears and udev repoints the link (atomic rename); the Reopener
// comes back on B and data flows again, through the same Port value.
func TestReopenerFollowsReplug(t *testing.T) {
	clk := newRecClock()
	masterA, slaveA := newPTY(t)
	masterB, slaveB := newPTY(t) // made now so its /dev/pts number differs from A's
	lnk := byIDPath(t)
	link(t, slaveA, lnk)

	var logs logBuffer
	r, err := OpenReopener(context.Background(), Config{Path: lnk, Logger: debugLogger(&logs)}, ReopenOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ev := wantEvent(t, r, EventPresent, StatusOK)
	if ev.Path != slaveA || ev.Generation != 1 || r.Status() != StatusOK {
		t.Fatalf("present event %+v, status %s", ev, r.Status())
	}
	var port Port = r // what a driver holds
	port.Write([]byte("A?"))
	if got := readN(t, masterA, 2); string(got) != "A?" {
		t.Fatalf("A got %q", got)
	}

	masterA.Close() // unplug A
	ev = wantEvent(t, r, EventGone, StatusGone)
	if !errors.Is(ev.Err, ErrGone) || ev.Path != slaveA {
		t.Fatalf("gone event %+v", ev)
	}
	if _, err := port.Write([]byte{1}); !errors.Is(err, ErrGone) {
		t.Fatalf("Write while away = %v, want ErrGone", err)
	}

	link(t, slaveB, lnk) // replug: udev points the link at the new node
	d := clk.waitAfter(t, 1)
	clk.Advance(d)
	ev = wantEvent(t, r, EventReopened, StatusOK)
	waitGen(t, r, 2)
	if ev.Path != slaveB || ev.Generation != 2 || r.Path() != slaveB {
		t.Fatalf("reopened event %+v; Path() %s", ev, r.Path())
	}

	want := allBytes()
	if _, err := port.Write(want); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, masterB, 256); !bytes.Equal(got, want) {
		t.Fatal("B did not receive the bytes")
	}
	masterB.Write(want)
	if got := readPort(t, port, 256); !bytes.Equal(got, want) {
		t.Fatal("the port did not receive B's bytes")
	}
	for _, s := range []string{"level=WARN msg=\"serialio: device gone\"", "level=INFO msg=\"serialio: device reopened\""} {
		if !bytes.Contains([]byte(logs.String()), []byte(s)) {
			t.Errorf("log lacks %s:\n%s", s, logs.String())
		}
	}
}

// A Read blocked when the device goes away returns ErrGone; a Read while
// away waits up to the read timeout for the device and then fails with
// ErrGone wrapping the reason (missing); a Read that is waiting when the
// device comes back gets its data.
func TestReopenerReadWhileAway(t *testing.T) {
	clk := newRecClock()
	masterA, slaveA := newPTY(t)
	lnk := byIDPath(t)
	link(t, slaveA, lnk)
	r, err := OpenReopener(context.Background(), Config{Path: lnk, ReadTimeout: time.Hour}, ReopenOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantEvent(t, r, EventPresent, StatusOK)

	blocked := make(chan error, 1)
	go func() { _, err := r.Read(make([]byte, 4)); blocked <- err }()
	time.Sleep(50 * time.Millisecond)
	masterA.Close()
	select {
	case err := <-blocked:
		if !errors.Is(err, ErrGone) {
			t.Fatalf("blocked Read at unplug = %v, want ErrGone", err)
		}
	case <-time.After(guard):
		t.Fatal("Read not released by unplug")
	}
	wantEvent(t, r, EventGone, StatusGone)
	// The link still points at A's vanished node: the first retry finds
	// nothing.
	clk.Advance(clk.waitAfter(t, 1))
	wantEvent(t, r, EventGone, StatusMissing)

	// Read while away: times out on the read timeout with ErrGone+ErrMissing.
	if err := r.SetReadTimeout(30 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	clk.waitAfter(t, 2) // the supervisor sleeps before its next attempt
	res := make(chan error, 1)
	go func() { _, err := r.Read(make([]byte, 4)); res <- err }()
	clk.waitAfter(t, 3) // the Read's own timer
	clk.Advance(30 * time.Millisecond)
	select {
	case err := <-res:
		if !errors.Is(err, ErrGone) || !errors.Is(err, ErrMissing) {
			t.Fatalf("Read while missing = %v, want ErrGone wrapping ErrMissing", err)
		}
	case <-time.After(guard):
		t.Fatal("Read while away did not time out")
	}

	// A Read waiting while the device comes back reads from it.
	if err := r.SetReadTimeout(time.Hour); err != nil {
		t.Fatal(err)
	}
	masterB, slaveB := newPTY(t)
	link(t, slaveB, lnk)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 3)
		k, err := r.Read(b)
		if err != nil {
			t.Errorf("Read across reopen: %v", err)
		}
		got <- b[:k]
	}()
	advanceUntil(t, clk, r, EventReopened)
	masterB.Write([]byte("hi!"))
	select {
	case b := <-got:
		if len(b) == 0 || !bytes.HasPrefix([]byte("hi!"), b) {
			t.Fatalf("read %q", b)
		}
	case <-time.After(guard):
		t.Fatal("waiting Read did not get the reopened port's data")
	}
}

func TestReopenerMissingAtStartThenPresent(t *testing.T) {
	clk := newRecClock()
	lnk := byIDPath(t)
	r, err := OpenReopener(context.Background(), Config{Path: lnk}, ReopenOptions{Clock: clk})
	if err != nil {
		t.Fatalf("a missing device must not fail OpenReopener: %v", err)
	}
	defer r.Close()
	ev := wantEvent(t, r, EventGone, StatusMissing)
	if !errors.Is(ev.Err, ErrMissing) || r.Status() != StatusMissing || !errors.Is(r.Err(), ErrMissing) {
		t.Fatalf("event %+v status %s err %v", ev, r.Status(), r.Err())
	}
	// More failed attempts with the same reason: no more events.
	clk.Advance(clk.waitAfter(t, 1))
	clk.Advance(clk.waitAfter(t, 2))
	clk.waitAfter(t, 3)
	select {
	case ev := <-r.Events():
		t.Fatalf("unexpected event %+v for an unchanged status", ev)
	default:
	}
	master, slave := newPTY(t)
	link(t, slave, lnk)
	clk.Advance(clk.waitAfter(t, 3))
	ev = wantEvent(t, r, EventPresent, StatusOK)
	if ev.Generation != 1 || ev.Path != slave {
		t.Fatalf("present event %+v", ev)
	}
	r.Write([]byte("ok"))
	if got := readN(t, master, 2); string(got) != "ok" {
		t.Fatalf("got %q", got)
	}
}

func TestReopenerBusyThenFree(t *testing.T) {
	clk := newRecClock()
	_, slave := newPTY(t)
	holder, err := Open(context.Background(), Config{Path: slave})
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReopener(context.Background(), Config{Path: slave}, ReopenOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantEvent(t, r, EventGone, StatusBusy)
	if _, err := r.Write([]byte{1}); !errors.Is(err, ErrGone) || !errors.Is(err, ErrBusy) {
		t.Fatalf("Write while busy = %v", err)
	}
	holder.Close()
	clk.Advance(clk.waitAfter(t, 1))
	wantEvent(t, r, EventPresent, StatusOK)
}

func TestReopenerCloseStops(t *testing.T) {
	clk := newRecClock()
	_, slave := newPTY(t)
	r, err := OpenReopener(context.Background(), Config{Path: slave, ReadTimeout: time.Hour}, ReopenOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() { _, err := r.Read(make([]byte, 1)); readErr <- err }()
	time.Sleep(50 * time.Millisecond)
	within(t, "Reopener.Close", func() { r.Close() })
	if err := <-readErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read at Close = %v, want ErrClosed", err)
	}
	for range r.Events() { // drains, then ends: the channel is closed
	}
	// The port is released: it can be opened again.
	p, err := Open(context.Background(), Config{Path: slave})
	if err != nil {
		t.Fatalf("Open after Reopener.Close: %v", err)
	}
	p.Close()
	if _, err := r.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	r.Close() // twice is fine
}

func TestReopenerContextEndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, slave := newPTY(t)
	r, err := OpenReopener(ctx, Config{Path: slave}, ReopenOptions{Clock: newRecClock()})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	within(t, "supervisor exit", func() {
		for range r.Events() {
		}
	})
	p, err := Open(context.Background(), Config{Path: slave})
	if err != nil {
		t.Fatalf("port still held after the context ended: %v", err)
	}
	p.Close()
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after the context ended = %v, want ErrClosed", err)
	}
	r.Close()
}

func TestReopenerConfigErrors(t *testing.T) {
	if _, err := OpenReopener(context.Background(), Config{}, ReopenOptions{}); !errors.Is(err, ErrConfig) {
		t.Errorf("empty config = %v", err)
	}
	_, err := OpenReopener(context.Background(), Config{Path: "/dev/ttyS9"}, ReopenOptions{MinBackoff: time.Second, MaxBackoff: time.Millisecond})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("max < min = %v", err)
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 5*time.Second
	wantMax := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for n, w := range wantMax {
		w *= time.Millisecond
		if got := backoff(n, lo, hi, 0); got != w/2 {
			t.Errorf("backoff(%d, u=0) = %v, want %v", n, got, w/2)
		}
		if got := backoff(n, lo, hi, 0.999999); got > w || got < w*99/100 {
			t.Errorf("backoff(%d, u→1) = %v, want just under %v", n, got, w)
		}
	}
	for _, n := range []int{62, 63, 64, 1000} {
		if got := backoff(n, lo, hi, 0.5); got < hi/2 || got > hi {
			t.Errorf("backoff(%d) = %v, outside [%v, %v]", n, got, hi/2, hi)
		}
	}
	if got := backoff(0, lo, hi, 2); got != lo/2 {
		t.Errorf("a jitter value outside [0,1) must not stretch the wait: %v", got)
	}
}

// fakeConn is a conn whose failure the test controls.
type fakeConn struct {
	path    string
	done    chan struct{}
	once    sync.Once
	closed  atomic.Bool
	timeout atomic.Int64
}

func newFakeConn(path string) *fakeConn { return &fakeConn{path: path, done: make(chan struct{})} }

func (f *fakeConn) fail() { f.once.Do(func() { close(f.done) }) }
func (f *fakeConn) Read(p []byte) (int, error) {
	<-f.done
	return 0, f.Err()
}
func (f *fakeConn) Write(p []byte) (int, error) {
	if f.Err() != nil {
		return 0, f.Err()
	}
	return len(p), nil
}
func (f *fakeConn) SetReadTimeout(d time.Duration) error { f.timeout.Store(int64(d)); return nil }
func (f *fakeConn) Close() error                         { f.closed.Store(true); f.fail(); return nil }
func (f *fakeConn) SetDTR(bool) error                    { return nil }
func (f *fakeConn) SetRTS(bool) error                    { return nil }
func (f *fakeConn) ModemStatus() (ModemStatus, error)    { return ModemStatus{CTS: true}, nil }
func (f *fakeConn) Done() <-chan struct{}                { return f.done }
func (f *fakeConn) Path() string                         { return f.path }
func (f *fakeConn) Err() error {
	select {
	case <-f.done:
		if f.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("%w: fake unplug", ErrGone)
	default:
		return nil
	}
}

// A device that opens and dies at once must not be reopened at the
// minimum backoff forever: the backoff only resets after the port stayed
// up for MaxBackoff.
func TestReopenerFlappingDeviceBacksOff(t *testing.T) {
	clk := newRecClock()
	conns := make(chan *fakeConn, 100)
	open := func(ctx context.Context, c Config) (conn, error) {
		fc := newFakeConn(fmt.Sprintf("/dev/ttyUSB%d", len(conns)))
		conns <- fc
		return fc, nil
	}
	r, err := newReopener(context.Background(), Config{Path: "/dev/ttyUSB0"},
		ReopenOptions{Clock: clk, jitter: func() float64 { return 0 }}, open)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var waits []time.Duration
	for i := 1; i <= 8; i++ {
		(<-conns).fail() // dies as soon as it is up
		d := clk.waitAfter(t, i)
		waits = append(waits, d)
		clk.Advance(d)
	}
	want := []time.Duration{50, 100, 200, 400, 800, 1600, 2500, 2500}
	for i := range want {
		if waits[i] != want[i]*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", waits, want)
		}
	}
	// Now the device stays up for MaxBackoff before it dies: back to the minimum.
	c := <-conns
	waitGen(t, r, 9) // installed: its up time starts now
	clk.Advance(DefaultMaxBackoff)
	c.fail()
	if d := clk.waitAfter(t, 9); d != 50*time.Millisecond {
		t.Fatalf("after a stable period the wait is %v, want 50ms", d)
	}
	if r.Generation() != 9 {
		t.Errorf("generation %d, want 9", r.Generation())
	}
}

func TestReopenerEventsDropOldest(t *testing.T) {
	clk := newRecClock()
	conns := make(chan *fakeConn, 100)
	open := func(ctx context.Context, c Config) (conn, error) {
		fc := newFakeConn("/dev/ttyACM0")
		conns <- fc
		return fc, nil
	}
	r, err := newReopener(context.Background(), Config{Path: "/dev/ttyACM0"},
		ReopenOptions{Clock: clk, EventBuffer: 2, jitter: func() float64 { return 0 }}, open)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 1; i <= 3; i++ { // present, gone, reopened, gone, reopened, gone, reopened
		(<-conns).fail()
		clk.Advance(clk.waitAfter(t, i))
	}
	<-conns
	waitGen(t, r, 4)
	// Nobody read: the two newest remain.
	ev1, ev2 := nextEvent(t, r), nextEvent(t, r)
	if ev1.Kind != EventGone || ev2.Kind != EventReopened || ev2.Generation != 4 {
		t.Fatalf("kept %v(gen %d), %v(gen %d); want the last gone and reopened gen 4", ev1.Kind, ev1.Generation, ev2.Kind, ev2.Generation)
	}
}

func TestReopenerAppliesReadTimeoutToNewPorts(t *testing.T) {
	clk := newRecClock()
	conns := make(chan *fakeConn, 10)
	open := func(ctx context.Context, c Config) (conn, error) {
		fc := newFakeConn("/dev/ttyS1")
		conns <- fc
		return fc, nil
	}
	r, err := newReopener(context.Background(), Config{Path: "/dev/ttyS1"}, ReopenOptions{Clock: clk}, open)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := <-conns
	if err := r.SetReadTimeout(250 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Duration(first.timeout.Load()) != 250*time.Millisecond {
		t.Errorf("current port timeout %v", time.Duration(first.timeout.Load()))
	}
	first.fail()
	clk.Advance(clk.waitAfter(t, 1))
	second := <-conns
	wantEvent(t, r, EventPresent, StatusOK)
	wantEvent(t, r, EventGone, StatusGone)
	wantEvent(t, r, EventReopened, StatusOK)
	if time.Duration(second.timeout.Load()) != 250*time.Millisecond {
		t.Errorf("reopened port timeout %v, want 250ms", time.Duration(second.timeout.Load()))
	}
	if st, err := r.ModemStatus(); err != nil || !st.CTS {
		t.Errorf("ModemStatus through the Reopener = %+v, %v", st, err)
	}
	if err := r.SetReadTimeout(-1); !errors.Is(err, ErrConfig) {
		t.Errorf("negative timeout = %v", err)
	}
}
