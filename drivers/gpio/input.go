package gpio

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/posagent/posagent/core/clock"
)

// Input defaults and limits.
const (
	// DefaultDebounce is the settle time after an edge before the level is
	// re-read. Mechanical switches bounce for a few milliseconds; 20 ms
	// covers common tact and micro switches and is short next to a human
	// opening a case or a printer running out of paper.
	DefaultDebounce = 20 * time.Millisecond
	// DefaultSlice is the timeout passed to periph's WaitForEdge on each
	// turn of the wait loop; a cancelled context is seen within one slice.
	DefaultSlice = 100 * time.Millisecond
	// DefaultPoll is the polling interval when edge detection is not
	// available.
	DefaultPoll = 10 * time.Millisecond
	// DefaultMaxSpurious is how many edges in a row that settle back to
	// the old level (with no quiet slice between them) make Input give up
	// on edge detection and poll instead: an interrupt storm such as the
	// sysfs WaitForEdge that returned at once in a loop after a kernel
	// update (periph/conn#40).
	DefaultMaxSpurious = 50
	// DefaultMaxQuick is how many WaitForEdge calls in a row may return
	// "no edge" long before their slice ended (by the injected clock)
	// before Input decides edge detection is broken and polls. periph's
	// character-device driver returns false at once, logging a line each
	// time, when the line is not configured for edges (for instance after
	// another process reconfigured it); looping on that would spin a core
	// and flood the log.
	DefaultMaxQuick = 20

	// MaxDebounce, MaxSlice and MaxPoll bound the options.
	MaxDebounce = 5 * time.Second
	MaxSlice    = 10 * time.Second
	MaxPoll     = 10 * time.Second
	// MinSlice and MinPoll keep the loops from spinning.
	MinSlice = time.Millisecond
	MinPoll  = time.Millisecond
)

// InputOptions configure an Input. The zero value is usable: no pull
// change, 20 ms debounce, 100 ms slices, 10 ms polling, system clock.
type InputOptions struct {
	// Name is used in errors and logs; default the pin's name.
	Name string
	// Pull is the bias requested with In (from the pin spec's flags).
	Pull gpio.Pull
	// Debounce is how long to wait after an edge before re-reading the
	// level: 0 means DefaultDebounce, a negative value re-reads at once.
	Debounce time.Duration
	// Slice is the bounded timeout given to periph's WaitForEdge; 0 means
	// DefaultSlice. It is never 0 or -1 when passed on, whose meaning
	// differs by periph driver.
	Slice time.Duration
	// Poll is the polling interval without edge detection; 0 means
	// DefaultPoll.
	Poll time.Duration
	// ForcePoll skips edge detection and polls from the start.
	ForcePoll bool
	// MaxSpurious: see DefaultMaxSpurious; 0 means the default, a negative
	// value never falls back.
	MaxSpurious int
	// MaxQuick: see DefaultMaxQuick; 0 means the default, a negative value
	// never falls back.
	MaxQuick int
	// Clock times debounce and polling; nil means the system clock.
	Clock clock.Clock
	// Log receives the fallback to polling; nil discards.
	Log *slog.Logger
}

// normalise fills defaults and checks limits.
func (o InputOptions) normalise() (InputOptions, error) {
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Debounce > MaxDebounce {
		return o, configErr("Debounce", "%v above the %v limit", o.Debounce, MaxDebounce)
	}
	if o.Slice == 0 {
		o.Slice = DefaultSlice
	}
	if o.Slice < MinSlice || o.Slice > MaxSlice {
		return o, configErr("Slice", "%v outside %v..%v", o.Slice, MinSlice, MaxSlice)
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	if o.Poll < MinPoll || o.Poll > MaxPoll {
		return o, configErr("Poll", "%v outside %v..%v", o.Poll, MinPoll, MaxPoll)
	}
	if o.MaxSpurious == 0 {
		o.MaxSpurious = DefaultMaxSpurious
	}
	if o.MaxQuick == 0 {
		o.MaxQuick = DefaultMaxQuick
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Input is a debounced digital input with our own wait semantics over
// periph's WaitForEdge. One goroutine at a time may wait on it; Level and
// Polling may be called from any goroutine.
type Input struct {
	pin  gpio.PinIn
	name string
	opt  InputOptions

	mu       sync.Mutex // held by WaitEdge and Settle
	spurious int        // consecutive edges that settled back
	quick    int        // consecutive early "no edge" returns

	stable  atomic.Bool // last stable level (true = High)
	polling atomic.Bool // edge detection unavailable or given up
}

// NewInput configures pin as an input with edge detection on both edges
// (falling back to polling when In with BothEdges fails) and reads its
// first level. An In error in the polling configuration is returned,
// wrapped in ErrPin.
func NewInput(pin gpio.PinIn, opt InputOptions) (*Input, error) {
	if pin == nil {
		return nil, configErr("pin", "nil (use Open or Lookup, which report a missing pin)")
	}
	opt, err := opt.normalise()
	if err != nil {
		return nil, err
	}
	in := &Input{pin: pin, name: opt.Name, opt: opt}
	if in.name == "" {
		in.name = pin.Name()
	}
	edges := false
	if !opt.ForcePoll {
		if err := pin.In(opt.Pull, gpio.BothEdges); err != nil {
			opt.Log.Warn("gpio: edge detection unavailable, polling instead", "pin", in.name, "poll", opt.Poll, "err", err)
		} else {
			edges = true
		}
	}
	if !edges {
		if err := in.toPolling(); err != nil {
			return nil, err
		}
	}
	in.stable.Store(bool(pin.Read()))
	return in, nil
}

// toPolling reconfigures the pin without edge detection.
func (in *Input) toPolling() error {
	if err := in.pin.In(in.opt.Pull, gpio.NoEdge); err != nil {
		return pinErr(in.name, fmt.Sprintf("In(%s, NoEdge)", in.opt.Pull), err)
	}
	in.polling.Store(true)
	return nil
}

// Name returns the input's name (for logs).
func (in *Input) Name() string { return in.name }

// Level returns the last stable level: the first read, the result of
// Settle, or the last level WaitEdge reported.
func (in *Input) Level() gpio.Level { return gpio.Level(in.stable.Load()) }

// Polling reports whether the input polls (edge detection unavailable,
// forced, or abandoned after an edge storm).
func (in *Input) Polling() bool { return in.polling.Load() }

// Settle reads the level until two reads one debounce time apart agree,
// records it as the stable level and returns it. Use it at start-up so a
// glitch at the first read is not taken for the line's state.
func (in *Input) Settle(ctx context.Context) (gpio.Level, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for {
		first := in.pin.Read()
		if err := in.sleep(ctx, in.opt.Debounce); err != nil {
			return in.Level(), err
		}
		if l := in.pin.Read(); l == first {
			in.stable.Store(bool(l))
			return l, nil
		}
	}
}

// WaitEdge waits until the input settles at a level different from the
// last stable one, and returns that level and the time the change was
// first seen (before the debounce wait). Edges that settle back to the old
// level are not reported; a level change whose edge was lost is caught by
// the re-read after each quiet slice (or each poll).
//
// It returns when ctx ends, with an error wrapping ctx.Err(); in edge mode
// that is seen within one Slice, since periph's WaitForEdge cannot be
// interrupted.
func (in *Input) WaitEdge(ctx context.Context) (gpio.Level, time.Time, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return in.Level(), time.Time{}, fmt.Errorf("gpio: %s: wait: %w", in.name, err)
		}
		stable := in.Level()
		var seen bool
		if in.Polling() {
			if err := in.sleep(ctx, in.opt.Poll); err != nil {
				continue // reported at the top of the loop
			}
			seen = in.pin.Read() != stable
		} else {
			// A positive, bounded timeout: never 0 (forever on the
			// character-device driver) nor -1 (forever on the others,
			// at once on the character-device driver).
			start := in.opt.Clock.Now()
			seen = in.pin.WaitForEdge(in.opt.Slice)
			if !seen {
				in.spurious = 0 // a quiet slice ends any storm
				if err := in.noteQuiet(in.opt.Clock.Now().Sub(start)); err != nil {
					return stable, time.Time{}, err
				}
				seen = in.pin.Read() != stable
			} else {
				in.quick = 0
			}
		}
		if !seen {
			continue
		}
		at := in.opt.Clock.Now()
		if in.opt.Debounce > 0 {
			if err := in.sleep(ctx, in.opt.Debounce); err != nil {
				continue
			}
		}
		l := in.pin.Read()
		if l == stable {
			if err := in.noteSpurious(); err != nil {
				return stable, time.Time{}, err
			}
			continue
		}
		in.spurious = 0
		in.stable.Store(bool(l))
		return l, at, nil
	}
}

// noteSpurious counts an edge that settled back and switches to polling
// after MaxSpurious of them in a row.
func (in *Input) noteSpurious() error {
	if in.Polling() || in.opt.MaxSpurious < 0 {
		return nil
	}
	in.spurious++
	if in.spurious < in.opt.MaxSpurious {
		return nil
	}
	in.opt.Log.Warn("gpio: edge storm (edges without a level change), polling instead", "pin", in.name, "edges", in.spurious, "poll", in.opt.Poll)
	in.spurious = 0
	return in.toPolling()
}

// noteQuiet counts WaitForEdge calls that returned "no edge" in less than
// half their slice, and switches to polling after MaxQuick in a row.
func (in *Input) noteQuiet(took time.Duration) error {
	if took >= in.opt.Slice/2 || in.opt.MaxQuick < 0 {
		in.quick = 0
		return nil
	}
	in.quick++
	if in.quick < in.opt.MaxQuick {
		return nil
	}
	in.opt.Log.Warn("gpio: WaitForEdge returns at once without an edge, polling instead", "pin", in.name, "calls", in.quick, "poll", in.opt.Poll)
	in.quick = 0
	return in.toPolling()
}

// sleep waits d on the injected clock or until ctx ends.
func (in *Input) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-in.opt.Clock.After(d):
		return nil
	}
}
