package serialio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// Reopen policy defaults.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// DefaultEventBuffer is the capacity of the Events channel.
	DefaultEventBuffer = 16
)

// ReopenOptions tunes a Reopener. The zero value is usable.
type ReopenOptions struct {
	// Clock times the backoff and Read's wait for a port while the device
	// is away; nil means clock.System{}.
	Clock clock.Clock
	// MinBackoff and MaxBackoff bound the wait between open attempts
	// (defaults 100 ms and 5 s). The n-th consecutive failed attempt waits
	// a random duration in [d/2, d] with d = min(MinBackoff·2ⁿ, MaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// EventBuffer is the capacity of the Events channel (default 16).
	// When a slow reader lets it fill, the oldest event is dropped.
	EventBuffer int

	jitter func() float64 // tests fix the jitter; nil means math/rand/v2
}

// EventKind says what happened to a Reopener's device.
type EventKind int

// Event kinds.
const (
	// EventPresent: the port opened for the first time.
	EventPresent EventKind = iota + 1
	// EventGone: the device is not usable; Status says why (gone, missing,
	// busy, denied). Sent when the port fails and whenever the reason
	// changes while it is away, not for every failed attempt.
	EventGone
	// EventReopened: the port is open again after being away. It is a new
	// device session: drivers re-initialise the device (PN532 SAM
	// configuration, printer status, modem AT setup).
	EventReopened
)

// String returns "present", "gone" or "reopened".
func (k EventKind) String() string {
	switch k {
	case EventPresent:
		return "present"
	case EventGone:
		return "gone"
	case EventReopened:
		return "reopened"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a state change of a Reopener's device.
type Event struct {
	Kind   EventKind
	Status Status
	// Path is the device node opened (present/reopened) or last known.
	Path string
	// Err is why the device is not usable (EventGone only).
	Err error
	// Generation counts successful opens; it is 1 for EventPresent and
	// grows with every EventReopened.
	Generation uint64
	// At is the Clock's time of the change.
	At time.Time
}

// conn is the part of *SerialPort the Reopener needs; tests fake it.
type conn interface {
	Port
	ModemLines
	Done() <-chan struct{}
	Err() error
	Path() string
}

type openFunc func(ctx context.Context, c Config) (conn, error)

func openSerial(ctx context.Context, c Config) (conn, error) {
	p, err := Open(ctx, c)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Reopener is a Port that survives its device going away: when the port
// fails with ErrGone (or hangs up while idle) it closes it and reopens the
// same Config, re-resolving links and USB ids, with bounded exponential
// backoff and jitter, until it is closed or its context ends. Drivers keep
// the one Reopener as their transport and watch Events (or Generation) to
// re-initialise the device after EventReopened.
//
// While the device is away, Read waits up to the read timeout for it to
// come back and then fails with ErrGone (wrapping the current reason, e.g.
// ErrMissing); Write fails with ErrGone at once.
type Reopener struct {
	cfg    Config
	name   string
	log    *slog.Logger
	clk    clock.Clock
	min    time.Duration
	max    time.Duration
	open   openFunc
	jitter func() float64

	readTimeout atomic.Int64
	gen         atomic.Uint64
	upAt        time.Time // when the current port was installed; supervisor only

	mu       sync.Mutex
	cur      conn
	changed  chan struct{} // closed and replaced when cur changes
	status   Status
	lastErr  error
	lastPath string

	events  chan Event
	evMu    sync.Mutex
	cancel  context.CancelFunc
	stopped chan struct{} // closed by Close
	exited  chan struct{} // closed when the supervisor has returned
	stop    sync.Once
}

// OpenReopener validates c, makes a first open attempt and starts the
// supervisor, which runs until Close or until ctx ends. Only an invalid
// Config is an error: a device that is missing, busy or denied at start is
// reported through Status and Events and retried.
func OpenReopener(ctx context.Context, c Config, o ReopenOptions) (*Reopener, error) {
	return newReopener(ctx, c, o, openSerial)
}

func newReopener(ctx context.Context, c Config, o ReopenOptions, open openFunc) (*Reopener, error) {
	nc, err := c.normalize()
	if err != nil {
		return nil, &Error{Op: "open", Port: c.Name(), Err: err}
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		return nil, &Error{Op: "open", Port: c.Name(), Err: fmt.Errorf("%w: MaxBackoff %v below MinBackoff %v", ErrConfig, o.MaxBackoff, o.MinBackoff)}
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = DefaultEventBuffer
	}
	if o.jitter == nil {
		o.jitter = rand.Float64
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Reopener{
		cfg:     nc,
		name:    nc.Name(),
		log:     nc.Logger.With("port", nc.Name()),
		clk:     o.Clock,
		min:     o.MinBackoff,
		max:     o.MaxBackoff,
		open:    open,
		jitter:  o.jitter,
		changed: make(chan struct{}),
		events:  make(chan Event, o.EventBuffer),
		cancel:  cancel,
		stopped: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	r.readTimeout.Store(int64(nc.ReadTimeout))
	first, err := r.open(ctx, r.cfg)
	if err != nil {
		first = nil
		r.setDown(err, "")
	} else {
		r.install(first)
	}
	go r.run(ctx, first)
	return r, nil
}

// backoff returns the wait before open attempt n+1 after n consecutive
// failures: d = min(lo·2ⁿ, hi), then a point in [d/2, d] chosen by u ∈ [0,1).
func backoff(n int, lo, hi time.Duration, u float64) time.Duration {
	d := hi
	if n < 62 && lo <= hi>>uint(n) {
		d = lo << uint(n)
	}
	if u < 0 || u >= 1 {
		u = 0
	}
	half := d / 2
	return half + time.Duration(u*float64(d-half))
}

// run is the supervisor: wait for the open port to fail, close it, back
// off, open again. c is the open port, or nil when the device is away.
func (r *Reopener) run(ctx context.Context, c conn) {
	defer close(r.exited)
	defer r.closeEvents()
	failures := 0
	for {
		if c == nil {
			if !r.sleep(ctx, backoff(failures, r.min, r.max, r.jitter())) {
				return
			}
			failures++
			nc, err := r.open(ctx, r.cfg)
			if ctx.Err() != nil {
				if err == nil {
					_ = nc.Close()
				}
				return
			}
			if err != nil {
				r.setDown(err, "")
				continue
			}
			c = nc
			r.install(c)
		}
		select {
		case <-ctx.Done():
			r.uninstall()
			_ = c.Close()
			return
		case <-c.Done():
		}
		cause := c.Err()
		path := c.Path()
		r.uninstall()
		_ = c.Close()
		c = nil
		if ctx.Err() != nil {
			return
		}
		if cause == nil || errors.Is(cause, ErrClosed) {
			cause = fmt.Errorf("%w: port closed unexpectedly", ErrGone)
		}
		// A device that stayed up resets the backoff; one that flaps
		// (opens, then dies at once) keeps backing off.
		if r.clk.Now().Sub(r.upAt) >= r.max {
			failures = 0
		}
		r.setDown(cause, path)
	}
}

// sleep waits d on the clock; false when ctx ended first.
func (r *Reopener) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-r.clk.After(d):
		return ctx.Err() == nil
	}
}

// install makes c the current port and reports it. Generation is
// published last, so a Generation of n means port n is installed and its
// event sent. Only the supervisor (and newReopener before it) calls this.
func (r *Reopener) install(c conn) {
	r.upAt = r.clk.Now()
	gen := r.gen.Load() + 1
	kind := EventPresent
	if gen > 1 {
		kind = EventReopened
	}
	r.mu.Lock()
	r.cur = c
	if err := c.SetReadTimeout(time.Duration(r.readTimeout.Load())); err != nil {
		r.log.Debug("serialio: read timeout not applied", "err", err)
	}
	r.status = StatusOK
	r.lastErr = nil
	r.lastPath = c.Path()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	r.log.Info("serialio: device "+kind.String(), "dev", c.Path(), "generation", gen)
	r.emit(Event{Kind: kind, Status: StatusOK, Path: c.Path(), Generation: gen, At: r.upAt})
	r.gen.Store(gen)
}

func (r *Reopener) uninstall() {
	r.mu.Lock()
	r.cur = nil
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// setDown records why the device is not usable and reports a change of
// status (not every failed attempt: a device missing for an hour is one
// event and one warning, then debug lines).
func (r *Reopener) setDown(err error, path string) {
	st := StatusOf(err)
	r.mu.Lock()
	changed := r.status != st
	r.status = st
	r.lastErr = err
	if path != "" {
		r.lastPath = path
	}
	path = r.lastPath
	r.mu.Unlock()
	if !changed {
		r.log.Debug("serialio: open failed", "status", st, "err", err)
		return
	}
	r.log.Warn("serialio: device "+string(st), "err", err)
	r.emit(Event{Kind: EventGone, Status: st, Path: path, Err: err, Generation: r.gen.Load(), At: r.clk.Now()})
}

// emit sends without blocking, dropping the oldest event when full.
func (r *Reopener) emit(ev Event) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	for {
		select {
		case r.events <- ev:
			return
		default:
		}
		select {
		case <-r.events:
		default:
		}
	}
}

func (r *Reopener) closeEvents() {
	r.evMu.Lock()
	close(r.events)
	r.evMu.Unlock()
}

// Events delivers state changes. It is closed after the Reopener stops.
func (r *Reopener) Events() <-chan Event { return r.events }

// Status returns the current device status.
func (r *Reopener) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Err returns why the device is not usable, nil when it is.
func (r *Reopener) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// Path returns the device node currently (or last) opened.
func (r *Reopener) Path() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastPath
}

// Generation counts successful opens: a driver that remembers it can tell
// cheaply whether the device was reopened since it last initialised it.
// It is published after the port is installed and its event sent.
func (r *Reopener) Generation() uint64 { return r.gen.Load() }

func (r *Reopener) current() (conn, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur, r.changed
}

// isClosed reports whether the Reopener was closed or its context ended
// (the supervisor has stopped and will not reopen).
func (r *Reopener) isClosed() bool {
	select {
	case <-r.stopped:
		return true
	case <-r.exited:
		return true
	default:
		return false
	}
}

func (r *Reopener) errorf(op string, err error) error {
	return &Error{Op: op, Port: r.name, Dev: r.Path(), Err: err}
}

// downErr is the error for I/O while the device is away.
func (r *Reopener) downErr(op string) error {
	if r.isClosed() {
		return r.errorf(op, ErrClosed)
	}
	r.mu.Lock()
	cause := r.lastErr
	r.mu.Unlock()
	if cause == nil || errors.Is(cause, ErrGone) {
		if cause == nil {
			cause = ErrGone
		}
		return r.errorf(op, cause)
	}
	return r.errorf(op, fmt.Errorf("%w: %w", ErrGone, cause))
}

// translate turns ErrClosed from a port the supervisor closed (because it
// was gone) into ErrGone; after Close it stays ErrClosed.
func (r *Reopener) translate(op string, err error) error {
	if err != nil && errors.Is(err, ErrClosed) && !r.isClosed() {
		return r.downErr(op)
	}
	return err
}

// Read implements Port. While the device is away it waits up to the read
// timeout for the Reopener to bring it back, then fails with ErrGone.
func (r *Reopener) Read(p []byte) (int, error) {
	var timer <-chan time.Time
	for {
		if r.isClosed() {
			return 0, r.errorf("read", ErrClosed)
		}
		c, changed := r.current()
		if c != nil {
			n, err := c.Read(p)
			return n, r.translate("read", err)
		}
		if timer == nil {
			timer = r.clk.After(time.Duration(r.readTimeout.Load()))
		}
		select {
		case <-changed:
		case <-timer:
			return 0, r.downErr("read")
		case <-r.stopped:
		case <-r.exited:
		}
	}
}

// Write implements Port; while the device is away it fails with ErrGone.
func (r *Reopener) Write(p []byte) (int, error) {
	if r.isClosed() {
		return 0, r.errorf("write", ErrClosed)
	}
	c, _ := r.current()
	if c == nil {
		return 0, r.downErr("write")
	}
	n, err := c.Write(p)
	return n, r.translate("write", err)
}

// SetReadTimeout implements Port; the timeout applies to the current port
// and every reopened one. Negative durations are rejected.
func (r *Reopener) SetReadTimeout(d time.Duration) error {
	if d < 0 {
		return r.errorf("set read timeout", fmt.Errorf("%w: read timeout %v is negative", ErrConfig, d))
	}
	r.readTimeout.Store(int64(d))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		return r.cur.SetReadTimeout(d)
	}
	return nil
}

// SetDTR implements ModemLines on the current port (ErrGone while away).
func (r *Reopener) SetDTR(on bool) error {
	c, _ := r.current()
	if c == nil {
		return r.downErr("set DTR")
	}
	return c.SetDTR(on)
}

// SetRTS implements ModemLines on the current port (ErrGone while away).
func (r *Reopener) SetRTS(on bool) error {
	c, _ := r.current()
	if c == nil {
		return r.downErr("set RTS")
	}
	return c.SetRTS(on)
}

// ModemStatus implements ModemLines on the current port (ErrGone while away).
func (r *Reopener) ModemStatus() (ModemStatus, error) {
	c, _ := r.current()
	if c == nil {
		return ModemStatus{}, r.downErr("modem status")
	}
	return c.ModemStatus()
}

// Close stops reopening, closes the current port (unblocking a pending
// Read or Write) and waits for the supervisor to finish; Events is closed.
// Closing twice is a no-op.
func (r *Reopener) Close() error {
	r.stop.Do(func() {
		close(r.stopped)
		r.cancel()
	})
	<-r.exited
	return nil
}

var (
	_ Port       = (*Reopener)(nil)
	_ ModemLines = (*Reopener)(nil)
)
