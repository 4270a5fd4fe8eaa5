package gpio

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// TamperOptions configure a Tamper.
type TamperOptions struct {
	// Input configures the debounced input (pull, debounce, clock, log).
	Input InputOptions
	// OnAlarm is called from Run's goroutine each time the case settles
	// open (also at start when it already reads open), with the time the
	// opening was first seen. It must not block for long. The wiring
	// persists the latch here (and raises the alarm upstream).
	OnAlarm func(at time.Time)
}

// Tamper watches the case switch: logical High means the case is open
// (use an ",active-low" spec for a switch that reads Low when open). An
// opening calls OnAlarm and latches Tampered until a technician calls
// Clear; the latch is in memory, so the wiring persists it through
// OnAlarm and restores it with Restore after a restart.
type Tamper struct {
	in      *Input
	onAlarm func(time.Time)
	log     *slog.Logger

	mu      sync.Mutex
	latched bool
	at      time.Time
}

// NewTamper configures pin as the tamper input.
func NewTamper(pin gpio.PinIn, opt TamperOptions) (*Tamper, error) {
	if opt.Input.Name == "" && pin != nil {
		opt.Input.Name = "tamper (" + pin.Name() + ")"
	}
	in, err := NewInput(pin, opt.Input)
	if err != nil {
		return nil, err
	}
	log := opt.Input.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tamper{in: in, onAlarm: opt.OnAlarm, log: log}, nil
}

// Run watches the switch until ctx ends (it returns an error wrapping
// ctx.Err()) or the line fails. It first settles the level, so a case
// opened while the agent was down raises the alarm at start.
func (t *Tamper) Run(ctx context.Context) error {
	l, err := t.in.Settle(ctx)
	if err != nil {
		return fmt.Errorf("gpio: %s: settle: %w", t.in.Name(), err)
	}
	if l == gpio.High {
		t.raise(t.in.opt.Clock.Now())
	}
	for {
		l, at, err := t.in.WaitEdge(ctx)
		if err != nil {
			return err
		}
		if l == gpio.High {
			t.raise(at)
		} else {
			t.log.Info("gpio: tamper switch closed again", "pin", t.in.Name(), "latched", t.isLatched())
		}
	}
}

func (t *Tamper) raise(at time.Time) {
	t.mu.Lock()
	if !t.latched {
		t.latched, t.at = true, at
	}
	t.mu.Unlock()
	t.log.Error("gpio: TAMPER: case opened", "pin", t.in.Name(), "at", at)
	if t.onAlarm != nil {
		t.onAlarm(at)
	}
}

func (t *Tamper) isLatched() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.latched
}

// Tampered reports whether the latch is set and when the first opening
// since the last Clear was seen.
func (t *Tamper) Tampered() (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.latched, t.at
}

// Open reports whether the case reads open now (last stable level).
func (t *Tamper) Open() bool { return t.in.Level() == gpio.High }

// Restore sets the latch from persisted state (after a restart) without
// calling OnAlarm.
func (t *Tamper) Restore(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.latched, t.at = true, at
}

// Clear resets the latch, for a technician who has inspected the
// terminal. It refuses with ErrCaseOpen while the case reads open, by its
// last stable level or by a fresh read of the line.
func (t *Tamper) Clear() error {
	if t.in.Level() == gpio.High || t.in.pin.Read() == gpio.High {
		return fmt.Errorf("gpio: %s: clear refused: %w", t.in.Name(), ErrCaseOpen)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.latched, t.at = false, time.Time{}
	return nil
}

// Polling reports whether the switch is polled (no edge detection).
func (t *Tamper) Polling() bool { return t.in.Polling() }

// PaperSensor is the printer's paper sensor: logical High means paper
// present (use an ",active-low" spec for a sensor that reads Low with
// paper).
type PaperSensor struct {
	in *Input
}

// NewPaperSensor configures pin as the paper sensor input.
func NewPaperSensor(pin gpio.PinIn, opt InputOptions) (*PaperSensor, error) {
	if opt.Name == "" && pin != nil {
		opt.Name = "paper (" + pin.Name() + ")"
	}
	in, err := NewInput(pin, opt)
	if err != nil {
		return nil, err
	}
	return &PaperSensor{in: in}, nil
}

// Present reports whether paper is present, by the last stable level.
func (p *PaperSensor) Present() bool { return p.in.Level() == gpio.High }

// Settle re-reads the sensor until it is stable (see Input.Settle) and
// reports whether paper is present.
func (p *PaperSensor) Settle(ctx context.Context) (bool, error) {
	l, err := p.in.Settle(ctx)
	return l == gpio.High, err
}

// Wait blocks until the paper state changes (debounced) or ctx ends, and
// returns the new state and when the change was first seen.
func (p *PaperSensor) Wait(ctx context.Context) (present bool, at time.Time, err error) {
	l, at, err := p.in.WaitEdge(ctx)
	return l == gpio.High, at, err
}

// Polling reports whether the sensor is polled (no edge detection).
func (p *PaperSensor) Polling() bool { return p.in.Polling() }
