package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// Options tune a Serial or HID reader. The zero value is usable.
type Options struct {
	// MaxLen is the longest code kept (bytes for serial, characters for
	// HID); 0 means DefaultMaxLen. Longer codes are reported as ErrTooLong.
	MaxLen int
	// IdleTimeout is the inter-character timeout; 0 means
	// DefaultIdleTimeout. A partial code followed by this much silence is
	// discarded as ErrIncomplete.
	IdleTimeout time.Duration
	// TailWindow: input arriving within this time after a code was cut by
	// IdleTimeout is discarded up to its terminator as that code's tail
	// (ErrIncomplete) instead of being emitted as a code. 0 means
	// DefaultTailWindow; negative disables the guard.
	TailWindow time.Duration
	// PollInterval bounds each read while no code is in progress, which
	// is how soon a cancelled context is noticed; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// IsTimeout reports whether a Port.Read error is a read timeout
	// (serial only). nil means: an error with a Timeout() bool method
	// returning true (drivers/serialio's *Error), or
	// os.ErrDeadlineExceeded. A (0, nil) read is always a timeout.
	IsTimeout func(error) bool
	// Clock stamps codes and measures silence; nil means the system clock.
	Clock clock.Clock
	// Logger receives bad scans (reason and length, never the text) at
	// warn and device events at info/debug; nil discards.
	Logger *slog.Logger
	// OnBadScan, when set, is called by Run for every per-code error
	// (to sound the "bad scan" beep), from Run's goroutine.
	OnBadScan func(err error)
	// NoGrab skips EVIOCGRAB when opening a HID device (HID only). Only
	// for a device another component already grabs, or for tests feeding
	// synthetic events through a pipe: without the grab every scan is
	// also typed into the console.
	NoGrab bool
}

// normalize checks o and fills in defaults; errors wrap ErrConfig and
// name the field.
func (o Options) normalize() (Options, error) {
	switch {
	case o.MaxLen < 0:
		return o, fmt.Errorf("%w: MaxLen %d is negative", ErrConfig, o.MaxLen)
	case o.IdleTimeout < 0:
		return o, fmt.Errorf("%w: IdleTimeout %v is negative", ErrConfig, o.IdleTimeout)
	case o.PollInterval < 0:
		return o, fmt.Errorf("%w: PollInterval %v is negative", ErrConfig, o.PollInterval)
	}
	if o.MaxLen == 0 {
		o.MaxLen = DefaultMaxLen
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.TailWindow == 0 {
		o.TailWindow = DefaultTailWindow
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.IsTimeout == nil {
		o.IsTimeout = defaultIsTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func defaultIsTimeout(err error) bool {
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return true
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// readFunc reads into p waiting at most d. A timeout is (0, nil); any
// error is final for the reader.
type readFunc func(p []byte, d time.Duration) (int, error)

// loop is the scan loop shared by the serial and HID readers: it reads
// with a timeout, feeds a splitter, ends codes cut by silence and guards
// against their tails.
type loop struct {
	o    Options
	name string // device, for errors and logs
	read readFunc
	dec  splitter
	buf  []byte

	mu      sync.Mutex // one Scan at a time
	queue   []Result
	last    time.Time // last input
	cutAt   time.Time // last input of a code cut by silence
	cut     bool
	closed  atomic.Bool
	readErr error // sticky: the reader is dead
}

func newLoop(o Options, name string, bufSize int, read readFunc, dec splitter) *loop {
	return &loop{o: o, name: name, read: read, dec: dec, buf: make([]byte, bufSize)}
}

// scan returns the next code or per-code error, waiting until ctx is done.
func (l *loop) scan(ctx context.Context) (Code, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clk := l.o.Clock
	for {
		if len(l.queue) > 0 {
			r := l.queue[0]
			l.queue = l.queue[1:]
			if len(l.queue) == 0 {
				l.queue = nil
			}
			return r.Code, r.Err
		}
		if l.readErr != nil {
			return Code{}, l.readErr
		}
		if l.closed.Load() {
			return Code{}, fmt.Errorf("%w: %s", ErrClosed, l.name)
		}
		if err := ctx.Err(); err != nil {
			return Code{}, err
		}
		wait := l.o.PollInterval
		if l.dec.Pending() {
			left := l.o.IdleTimeout - clk.Now().Sub(l.last)
			if left <= 0 {
				if r, ok := l.dec.Idle(); ok {
					l.cut, l.cutAt = true, l.last
					l.queue = append(l.queue, r)
				}
				continue
			}
			wait = min(wait, left)
		}
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, max(dl.Sub(clk.Now()), time.Millisecond))
		}
		n, err := l.read(l.buf, wait)
		n = max(0, min(n, len(l.buf))) // a port may return -1 (go-serial#55)
		if n > 0 {
			now := clk.Now()
			if l.cut && !l.dec.Pending() && l.o.TailWindow > 0 && now.Sub(l.cutAt) < l.o.TailWindow {
				l.dec.Taint(ErrIncomplete)
			}
			l.cut = false
			l.last = now
			start := len(l.queue)
			l.queue = l.dec.Feed(l.queue, l.buf[:n])
			for i := start; i < len(l.queue); i++ {
				if l.queue[i].Err == nil {
					l.queue[i].Code.At = now
				}
			}
		}
		if err != nil {
			if l.closed.Load() {
				l.readErr = fmt.Errorf("%w: %s", ErrClosed, l.name)
			} else {
				l.readErr = err
			}
		}
	}
}

// run sends codes to out until ctx is done or the device fails. Bad scans
// are logged (reason and length only) and passed to OnBadScan.
func (l *loop) run(ctx context.Context, out chan<- Code) error {
	for {
		c, err := l.scan(ctx)
		if err != nil {
			if errors.Is(err, ErrBadScan) {
				l.o.Logger.Warn("scanner: bad scan", "dev", l.name, "err", err)
				if l.o.OnBadScan != nil {
					l.o.OnBadScan(err)
				}
				continue
			}
			return err
		}
		l.o.Logger.Debug("scanner: code", "dev", l.name, "code", c)
		select {
		case out <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
