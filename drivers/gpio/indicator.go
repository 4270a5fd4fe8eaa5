package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/payment"
)

// Tone is a beep pattern: Count beeps of On at Freq, separated by Off.
type Tone struct {
	Freq  physic.Frequency
	On    time.Duration
	Off   time.Duration
	Count int
}

// duration is the time from the first beep's start to the last beep's
// end.
func (t Tone) duration() time.Duration {
	return time.Duration(t.Count)*t.On + time.Duration(t.Count-1)*t.Off
}

func (t Tone) check(field string) error {
	switch {
	case t.Count < 1 || t.Count > 10:
		return configErr(field+".Count", "%d outside 1..10", t.Count)
	case t.On <= 0 || t.On > 5*time.Second:
		return configErr(field+".On", "%v outside (0, 5s]", t.On)
	case t.Off < 0 || t.Off > 5*time.Second || (t.Count > 1 && t.Off == 0):
		return configErr(field+".Off", "%v outside (0, 5s] (needed between %d beeps)", t.Off, t.Count)
	case t.Freq < 20*physic.Hertz || t.Freq > 20*physic.KiloHertz:
		return configErr(field+".Freq", "%v outside 20 Hz..20 kHz", t.Freq)
	}
	return nil
}

// Indicator timing defaults (docs/gpio.md says where each comes from).
var (
	// DefaultSuccessTone: one beep, about 1500 Hz for about 500 ms (EMV
	// Contactless Book A's success tone as the brief states it; not
	// checked against the spec text here).
	DefaultSuccessTone = Tone{Freq: 1500 * physic.Hertz, On: 500 * time.Millisecond, Count: 1}
	// DefaultAlertTone: two beeps of about 750 Hz, 200 ms on, 200 ms off
	// (Book A's alert tone as the brief states it; not checked against the
	// spec text here).
	DefaultAlertTone = Tone{Freq: 750 * physic.Hertz, On: 200 * time.Millisecond, Off: 200 * time.Millisecond, Count: 2}
)

// Indicator timing defaults.
const (
	// DefaultLightStep is the interval between lights 1, 2 and 3 coming on
	// during processing: the three steps take 250 ms, inside the few
	// hundred milliseconds a tap lasts.
	DefaultLightStep = 125 * time.Millisecond
	// DefaultResultHold is how long the success or alert state stays
	// before the lights return to idle.
	DefaultResultHold = 3 * time.Second
	// DefaultIdleOn and DefaultIdlePeriod: in idle, light 1 flashes
	// (on 200 ms every 5 s) so the reader is seen to be alive but not
	// ready for a card.
	DefaultIdleOn     = 200 * time.Millisecond
	DefaultIdlePeriod = 5 * time.Second
)

// IndicatorOptions configure an Indicator; zero fields take the defaults.
type IndicatorOptions struct {
	LightStep  time.Duration // processing sequence step; default DefaultLightStep
	ResultHold time.Duration // success/alert display time; default DefaultResultHold
	IdleOn     time.Duration // idle flash length; default DefaultIdleOn
	// IdlePeriod is the idle flash period; default DefaultIdlePeriod. A
	// negative value turns every light off in idle instead.
	IdlePeriod time.Duration
	Success    Tone        // zero value: DefaultSuccessTone
	Alert      Tone        // zero value: DefaultAlertTone
	Clock      clock.Clock // nil: system clock
	Log        *slog.Logger
}

// Light masks.
const (
	light1   uint8 = 1 << 0
	lights12 uint8 = 0b0011
	lights13 uint8 = 0b0111
	allLight uint8 = 0b1111
)

// step is one state of the outputs: lights, tone (0 = silent), and how
// long it lasts; hold means until the next signal.
type step struct {
	lights uint8
	tone   physic.Frequency
	d      time.Duration
	hold   bool
}

// pattern is what a signal shows: its steps, then either a loop back to
// steps[loop] (loop >= 0), a hold (the last step has hold set), or the
// pattern of signal then.
type pattern struct {
	steps []step
	loop  int
	then  payment.Signal
}

// buildPatterns turns the options into the per-signal patterns.
func buildPatterns(o IndicatorOptions) map[payment.Signal]pattern {
	idle := pattern{steps: []step{{lights: 0, hold: true}}, loop: -1}
	if o.IdlePeriod > 0 {
		idle = pattern{steps: []step{{lights: light1, d: o.IdleOn}, {lights: 0, d: o.IdlePeriod - o.IdleOn}}, loop: 0}
	}
	result := func(lights uint8, t Tone) pattern {
		var steps []step
		for i := range t.Count {
			steps = append(steps, step{lights: lights, tone: t.Freq, d: t.On})
			if i < t.Count-1 {
				steps = append(steps, step{lights: lights, d: t.Off})
			}
		}
		steps = append(steps, step{lights: lights, d: max(o.ResultHold-t.duration(), 0)})
		return pattern{steps: steps, loop: -1, then: payment.SignalIdle}
	}
	return map[payment.Signal]pattern{
		payment.SignalIdle:  idle,
		payment.SignalReady: {steps: []step{{lights: light1, hold: true}}, loop: -1},
		payment.SignalProcessing: {steps: []step{
			{lights: light1, d: o.LightStep},
			{lights: lights12, d: o.LightStep},
			{lights: lights13, hold: true},
		}, loop: -1},
		payment.SignalSuccess: result(allLight, o.Success),
		payment.SignalAlert:   result(0, o.Alert),
	}
}

// Indicator shows payment signals on the status lights and the buzzer,
// after the EMV contactless four-light convention:
//
//	idle        light 1 flashes (reader not in use)
//	ready       light 1 on (waiting for a card)
//	processing  lights 1, 2, 3 come on in sequence and stay on
//	success     all four on, success tone, then idle
//	alert       lights off, alert tone, then idle
//
// Patterns run in the Indicator's own goroutine: Indicate never waits for
// a light or a tone, and a new signal supersedes the one in progress at
// once (a tone in progress stops). Output errors are counted, logged once
// per distinct error, and never reach the caller: a broken LED does
// not stop a sale. It implements payment.Indicator.
type Indicator struct {
	lights   *Lights
	buzzer   *Buzzer
	opt      IndicatorOptions
	patterns map[payment.Signal]pattern

	mu     sync.Mutex
	next   payment.Signal
	seq    uint64 // bumped by each Indicate
	closed bool

	wake      chan struct{} // cap 1: a new signal is waiting
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	held      chan payment.Signal // test hook: a pattern reached a hold

	logged  map[string]bool // output errors already logged (worker goroutine only)
	outErrs atomic.Uint64   // output steps that failed
}

// NewIndicator starts an indicator on lights and buzzer (either may be
// nil when the board has none) showing idle. Close stops it.
func NewIndicator(lights *Lights, buzzer *Buzzer, opt IndicatorOptions) (*Indicator, error) {
	return newIndicator(lights, buzzer, opt, nil)
}

func newIndicator(lights *Lights, buzzer *Buzzer, opt IndicatorOptions, held chan payment.Signal) (*Indicator, error) {
	if opt.LightStep == 0 {
		opt.LightStep = DefaultLightStep
	}
	if opt.ResultHold == 0 {
		opt.ResultHold = DefaultResultHold
	}
	if opt.IdleOn == 0 {
		opt.IdleOn = DefaultIdleOn
	}
	if opt.IdlePeriod == 0 {
		opt.IdlePeriod = DefaultIdlePeriod
	}
	if opt.Success == (Tone{}) {
		opt.Success = DefaultSuccessTone
	}
	if opt.Alert == (Tone{}) {
		opt.Alert = DefaultAlertTone
	}
	switch {
	case opt.LightStep < 0 || opt.LightStep > 2*time.Second:
		return nil, configErr("LightStep", "%v outside (0, 2s]", opt.LightStep)
	case opt.ResultHold < 0 || opt.ResultHold > time.Minute:
		return nil, configErr("ResultHold", "%v outside (0, 1m]", opt.ResultHold)
	case opt.IdleOn < 0 || (opt.IdlePeriod > 0 && opt.IdleOn >= opt.IdlePeriod):
		return nil, configErr("IdleOn", "%v must be positive and below IdlePeriod %v", opt.IdleOn, opt.IdlePeriod)
	case opt.IdlePeriod > time.Minute:
		return nil, configErr("IdlePeriod", "%v above 1m", opt.IdlePeriod)
	}
	if err := opt.Success.check("Success"); err != nil {
		return nil, err
	}
	if err := opt.Alert.check("Alert"); err != nil {
		return nil, err
	}
	if opt.Clock == nil {
		opt.Clock = clock.System{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	ind := &Indicator{
		lights: lights, buzzer: buzzer, opt: opt, patterns: buildPatterns(opt),
		next: payment.SignalIdle, seq: 1,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		held: held, logged: map[string]bool{},
	}
	ind.wake <- struct{}{}
	go ind.run()
	return ind, nil
}

// Indicate shows s, superseding whatever is showing. It returns at once.
// ctx is deliberately not used to bound the pattern: the sale's context
// often ends right after SignalSuccess, and the success tone must still
// finish. The pattern lives until the next signal or Close.
func (ind *Indicator) Indicate(_ context.Context, s payment.Signal) {
	ind.mu.Lock()
	if ind.closed {
		ind.mu.Unlock()
		return
	}
	ind.next = s
	ind.seq++
	ind.mu.Unlock()
	select {
	case ind.wake <- struct{}{}:
	default: // a wake-up is already pending; it will read the newest signal
	}
}

// Close stops the pattern, turns the lights and the buzzer off and waits
// for the goroutine to end. Later Indicate calls do nothing.
func (ind *Indicator) Close() error {
	ind.closeOnce.Do(func() {
		ind.mu.Lock()
		ind.closed = true
		ind.mu.Unlock()
		close(ind.stop)
	})
	<-ind.done
	return nil
}

// take returns the newest signal and its sequence number.
func (ind *Indicator) take() (payment.Signal, uint64) {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	return ind.next, ind.seq
}

// changed reports whether a signal newer than seq arrived.
func (ind *Indicator) changed(seq uint64) bool {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	return ind.seq != seq
}

type playResult int

const (
	played  playResult = iota // pattern ended; follow its then
	holding                   // pattern holds until the next signal
	woken                     // a newer signal arrived
	stopped                   // Close was called
)

func (ind *Indicator) run() {
	defer close(ind.done)
	for {
		select {
		case <-ind.stop:
			ind.off()
			return
		case <-ind.wake:
		}
	signal:
		for {
			s, seq := ind.take()
			for {
				p, ok := ind.patterns[s]
				if !ok {
					ind.opt.Log.Warn("gpio: unknown indicator signal, lights off", "signal", string(s))
					p = pattern{steps: []step{{hold: true}}, loop: -1}
				}
				switch ind.play(s, p, seq) {
				case stopped:
					ind.off()
					return
				case woken:
					continue signal
				case holding:
					if ind.waitChange(seq) {
						continue signal
					}
					ind.off()
					return
				case played:
					s = p.then
				}
			}
		}
	}
}

// play runs p from its first step.
func (ind *Indicator) play(s payment.Signal, p pattern, seq uint64) playResult {
	for i := 0; ; {
		st := p.steps[i]
		ind.apply(st)
		if st.hold {
			if ind.held != nil {
				ind.held <- s
			}
			return holding
		}
		if st.d > 0 {
			tc := ind.opt.Clock.After(st.d)
		wait:
			for {
				select {
				case <-ind.stop:
					return stopped
				case <-ind.wake:
					if ind.changed(seq) {
						return woken
					}
				case <-tc:
					break wait
				}
			}
		}
		if i++; i == len(p.steps) {
			if p.loop < 0 {
				return played
			}
			i = p.loop
		}
	}
}

// waitChange waits for a newer signal (true) or Close (false).
func (ind *Indicator) waitChange(seq uint64) bool {
	for {
		select {
		case <-ind.stop:
			return false
		case <-ind.wake:
			if ind.changed(seq) {
				return true
			}
		}
	}
}

// apply drives the outputs to st, logging errors once.
func (ind *Indicator) apply(st step) {
	var errs []error
	if ind.lights != nil {
		errs = append(errs, ind.lights.Set(st.lights))
	}
	if ind.buzzer != nil {
		errs = append(errs, ind.buzzer.Tone(st.tone))
	}
	ind.report(errors.Join(errs...))
}

func (ind *Indicator) off() {
	ind.apply(step{})
}

// maxLogged bounds the set of distinct output errors remembered.
const maxLogged = 32

// report counts an output error and logs it the first time it is seen: a
// broken light fails at every pattern, and one line says so.
func (ind *Indicator) report(err error) {
	if err == nil {
		return
	}
	ind.outErrs.Add(1)
	msg := err.Error()
	if ind.logged[msg] {
		return
	}
	if len(ind.logged) >= maxLogged {
		clear(ind.logged)
	}
	ind.logged[msg] = true
	ind.opt.Log.Warn("gpio: status lights or buzzer failed (the sale goes on; logged once per distinct error)", "err", err)
}

// OutputErrors returns how many output steps failed so far (for status
// reports and diagnostics).
func (ind *Indicator) OutputErrors() uint64 { return ind.outErrs.Load() }

// String describes the indicator's configuration.
func (ind *Indicator) String() string {
	b := "none"
	if ind.buzzer != nil {
		b = ind.buzzer.Mode().String()
	}
	return fmt.Sprintf("indicator(lights=%t, buzzer=%s)", ind.lights != nil, b)
}

var _ payment.Indicator = (*Indicator)(nil)
