package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/posagent/posagent/core/payment"
)

// rig is an indicator on recorded fake pins with a hooked fake clock.
type rig struct {
	hc   *hookClock
	rec  *recorder
	pins [NumLights]*recPin
	buz  *recPin
	ind  *Indicator
	held chan payment.Signal
	logs *logBuf
}

func newRig(t *testing.T, mode BuzzerMode, mod func(*IndicatorOptions), prep func(*rig)) *rig {
	t.Helper()
	r := &rig{hc: newHookClock(), held: make(chan payment.Signal, 64)}
	r.rec = newRecorder(r.hc)
	var outs []gpio.PinOut
	for i := range r.pins {
		r.pins[i] = newRecPin(fmt.Sprintf("L%d", i+1), r.rec)
		outs = append(outs, r.pins[i])
	}
	r.buz = newRecPin("BUZ", r.rec)
	if prep != nil {
		prep(r)
	}
	var log *slog.Logger
	log, r.logs = newLog()
	lights, err := NewLights(outs...)
	if err != nil {
		t.Fatal(err)
	}
	buz, err := NewBuzzer(r.buz, mode, log)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.rec.events(); len(got) != 5 {
		t.Fatalf("construction drove %q, want every light and the buzzer off", got)
	}
	r.rec.reset()
	opt := IndicatorOptions{Clock: r.hc, Log: log}
	if mod != nil {
		mod(&opt)
	}
	r.ind, err = newIndicator(lights, buz, opt, r.held)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.ind.Close() })
	// Start: idle. Light 1 flashes (its first 200 ms timer is left
	// pending), or with IdlePeriod < 0 every light stays off.
	if opt.IdlePeriod < 0 {
		r.heldAt(t, payment.SignalIdle)
		r.expect(t)
	} else {
		if d := r.hc.next(t); d != DefaultIdleOn {
			t.Fatalf("first idle timer %v", d)
		}
		r.expect(t, "0s L1 High")
	}
	return r
}

// expect checks the events since the last expect, then forgets them and
// restarts the time origin at the current fake time.
func (r *rig) expect(t *testing.T, want ...string) {
	t.Helper()
	got := r.rec.events()
	if !slices.Equal(got, want) {
		t.Fatalf("outputs:\n got  %q\n want %q", got, want)
	}
	r.rec.reset()
}

// heldAt waits for the pattern to reach its hold.
func (r *rig) heldAt(t *testing.T, want payment.Signal) {
	t.Helper()
	select {
	case s := <-r.held:
		if s != want {
			t.Fatalf("held in %q, want %q", s, want)
		}
	case <-time.After(liveness):
		t.Fatalf("pattern %q never reached its hold", want)
	}
}

func TestIndicatorIdleFlashes(t *testing.T) {
	r := newRig(t, BuzzerPWM, nil, nil)
	r.hc.Advance(DefaultIdleOn) // the pending first flash ends
	r.hc.step(t, DefaultIdlePeriod-DefaultIdleOn)
	r.hc.next(t)
	r.expect(t, "200ms L1 Low", "5s L1 High")
	r.hc.Advance(DefaultIdleOn)
	r.hc.next(t)
	r.expect(t, "200ms L1 Low")
}

func TestIndicatorSaleSuccessPWM(t *testing.T) {
	r := newRig(t, BuzzerPWM, nil, nil)
	ctx := context.Background()

	r.ind.Indicate(ctx, payment.SignalReady)
	r.heldAt(t, payment.SignalReady)
	r.expect(t) // light 1 is already on from the idle flash: nothing to drive

	r.ind.Indicate(ctx, payment.SignalProcessing)
	r.hc.step(t, DefaultLightStep)
	r.hc.step(t, DefaultLightStep)
	r.heldAt(t, payment.SignalProcessing)
	r.expect(t, "125ms L2 High", "250ms L3 High")

	r.ind.Indicate(ctx, payment.SignalSuccess)
	r.hc.step(t, 500*time.Millisecond)                   // the success tone
	r.hc.step(t, DefaultResultHold-500*time.Millisecond) // lights stay on
	r.hc.next(t)                                         // idle's first flash started
	r.expect(t,
		"0s L4 High", "0s BUZ PWM 50% 1.500kHz",
		"500ms BUZ Low",
		"3s L2 Low", "3s L3 Low", "3s L4 Low",
	)
}

func TestIndicatorAlertOnOffBuzzer(t *testing.T) {
	r := newRig(t, BuzzerOnOff, nil, nil)
	r.ind.Indicate(context.Background(), payment.SignalAlert)
	r.hc.step(t, 200*time.Millisecond) // beep 1
	r.hc.step(t, 200*time.Millisecond) // gap
	r.hc.step(t, 200*time.Millisecond) // beep 2
	r.hc.step(t, DefaultResultHold-600*time.Millisecond)
	r.hc.next(t)
	r.expect(t,
		"0s L1 Low", "0s BUZ High",
		"200ms BUZ Low",
		"400ms BUZ High",
		"600ms BUZ Low",
		"3s L1 High",
	)
}

// A new signal supersedes the one in progress at once: the success tone
// stops and the alert tone starts.
func TestIndicatorNewSignalSupersedesTone(t *testing.T) {
	r := newRig(t, BuzzerPWM, nil, nil)
	r.ind.Indicate(context.Background(), payment.SignalSuccess)
	if d := r.hc.next(t); d != 500*time.Millisecond {
		t.Fatalf("tone timer %v", d)
	}
	r.hc.Advance(200 * time.Millisecond) // 200 ms into the 500 ms tone
	r.ind.Indicate(context.Background(), payment.SignalAlert)
	r.hc.step(t, 200*time.Millisecond)
	r.hc.next(t) // the gap timer: the outputs before it are recorded
	r.expect(t,
		"0s L2 High", "0s L3 High", "0s L4 High", "0s BUZ PWM 50% 1.500kHz",
		"200ms L1 Low", "200ms L2 Low", "200ms L3 Low", "200ms L4 Low", "200ms BUZ PWM 50% 750Hz",
		"400ms BUZ Low",
	)
}

// Indicate never waits for the outputs: with the worker stuck in a pin
// write, a caller still returns from any number of calls.
func TestIndicateDoesNotBlock(t *testing.T) {
	block := make(chan struct{})
	r := newRig(t, BuzzerPWM, nil, nil)
	inOut := make(chan struct{}, 1)
	r.pins[1].mu.Lock()
	r.pins[1].block, r.pins[1].inOut = block, inOut
	r.pins[1].mu.Unlock()
	r.ind.Indicate(context.Background(), payment.SignalSuccess)
	select {
	case <-inOut: // the worker is stuck writing light 2
	case <-time.After(liveness):
		t.Fatal("the worker never wrote light 2")
	}
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			r.ind.Indicate(context.Background(), []payment.Signal{payment.SignalReady, payment.SignalAlert}[i%2])
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(liveness):
		t.Fatal("Indicate blocked while the outputs were stuck")
	}
	close(block)
	// The worker finishes the success step it was in, then the newest
	// signal (alert) supersedes it.
	if d := r.hc.next(t); d != 500*time.Millisecond {
		t.Fatalf("timer %v, want the success tone's", d)
	}
	if d := r.hc.next(t); d != 200*time.Millisecond {
		t.Fatalf("timer %v, want the alert beep's", d)
	}
	got := r.rec.events()
	if !slices.Contains(got, "0s BUZ PWM 50% 750Hz") {
		t.Fatalf("alert tone not played after unblocking: %q", got)
	}
}

// A broken light does not stop the others, nor the sale; the failure is
// logged once, not at every step.
func TestIndicatorBrokenLight(t *testing.T) {
	r := newRig(t, BuzzerPWM, nil, nil)
	r.pins[1].failOut(errors.New("line_config ioctl: input/output error"))
	for range 3 {
		r.ind.Indicate(context.Background(), payment.SignalSuccess)
		r.hc.step(t, 500*time.Millisecond)
		r.hc.next(t) // the hold after the tone
		r.ind.Indicate(context.Background(), payment.SignalReady)
		r.heldAt(t, payment.SignalReady)
	}
	got := r.rec.events()
	if !slices.Contains(got, "0s L4 High") || !slices.Contains(got, "0s BUZ PWM 50% 1.500kHz") {
		t.Fatalf("other outputs not driven: %q", got)
	}
	if n := strings.Count(r.logs.String(), "light 2 (L2)"); n != 1 {
		t.Fatalf("failure logged %d times, want once:\n%s", n, r.logs)
	}
	// Both success steps (tone, then hold) try light 2 again.
	if n := r.ind.OutputErrors(); n != 6 {
		t.Fatalf("OutputErrors %d, want 6 (two per success pattern)", n)
	}
}

// BuzzerAuto on a pin without PWM (periph's character-device lines) falls
// back to on/off, once.
func TestBuzzerAutoFallsBack(t *testing.T) {
	r := newRig(t, BuzzerAuto, nil, func(r *rig) { r.buz.pwmErr = errors.New("PWM() not implemented") })
	r.ind.Indicate(context.Background(), payment.SignalSuccess)
	r.hc.step(t, 500*time.Millisecond)
	r.hc.next(t)
	r.expect(t, "0s L2 High", "0s L3 High", "0s L4 High", "0s BUZ High", "500ms BUZ Low")
	if r.ind.buzzer.Mode() != BuzzerOnOff || !strings.Contains(r.logs.String(), "no PWM") {
		t.Fatalf("mode %v, log %s", r.ind.buzzer.Mode(), r.logs)
	}
	if !strings.Contains(r.ind.String(), "on-off") {
		t.Fatalf("String %q", r.ind.String())
	}
}

func TestBuzzerPWMRefusedIsAnError(t *testing.T) {
	rec := newRecorder(newHookClock())
	p := newRecPin("BUZ", rec)
	p.pwmErr = errors.New("PWM() not implemented")
	b, err := NewBuzzer(p, BuzzerPWM, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Tone(1500 * physic.Hertz); !errors.Is(err, ErrPin) {
		t.Fatalf("err %v", err)
	}
	if err := b.Tone(-1); !errors.Is(err, ErrConfig) {
		t.Fatalf("negative tone: %v", err)
	}
	if _, err := NewBuzzer(nil, BuzzerPWM, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil pin: %v", err)
	}
	if _, err := NewBuzzer(p, BuzzerMode(9), nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad mode: %v", err)
	}
}

func TestIndicatorCloseTurnsOff(t *testing.T) {
	r := newRig(t, BuzzerPWM, nil, nil)
	r.ind.Indicate(context.Background(), payment.SignalSuccess)
	r.hc.next(t)
	if err := r.ind.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.ind.Close(); err != nil {
		t.Fatal(err)
	}
	r.ind.Indicate(context.Background(), payment.SignalReady) // no-op
	r.expect(t,
		"0s L2 High", "0s L3 High", "0s L4 High", "0s BUZ PWM 50% 1.500kHz",
		"0s L1 Low", "0s L2 Low", "0s L3 Low", "0s L4 Low", "0s BUZ Low",
	)
}

func TestIndicatorUnknownSignalAndIdleOff(t *testing.T) {
	r := newRig(t, BuzzerPWM, func(o *IndicatorOptions) { o.IdlePeriod = -1 }, nil)
	r.ind.Indicate(context.Background(), payment.SignalReady)
	r.heldAt(t, payment.SignalReady)
	r.ind.Indicate(context.Background(), payment.Signal("disco"))
	r.heldAt(t, payment.Signal("disco"))
	if !strings.Contains(r.logs.String(), "unknown indicator signal") {
		t.Fatalf("log %s", r.logs)
	}
	r.expect(t, "0s L1 High", "0s L1 Low")
}

func TestIndicatorOptionsValidation(t *testing.T) {
	for _, c := range []struct {
		field string
		opt   IndicatorOptions
	}{
		{"LightStep", IndicatorOptions{LightStep: -1}},
		{"ResultHold", IndicatorOptions{ResultHold: time.Hour}},
		{"IdleOn", IndicatorOptions{IdleOn: 5 * time.Second}},
		{"Success.Count", IndicatorOptions{Success: Tone{Freq: 1500 * physic.Hertz, On: time.Millisecond}}},
		{"Alert.Off", IndicatorOptions{Alert: Tone{Freq: 750 * physic.Hertz, On: time.Millisecond, Count: 2}}},
		{"Alert.Freq", IndicatorOptions{Alert: Tone{Freq: 5 * physic.Hertz, On: time.Millisecond, Count: 1}}},
	} {
		_, err := NewIndicator(nil, nil, c.opt)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: err %v", c.field, err)
		}
	}
}

func TestLightsSet(t *testing.T) {
	rec := newRecorder(newHookClock())
	a, c := newRecPin("A", rec), newRecPin("C", rec)
	l, err := NewLights(a, nil, c, nil) // lights 2 and 4 absent
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Set(0b0101); err != nil {
		t.Fatal(err)
	}
	if err := l.Set(0b0101); err != nil { // no change: no writes
		t.Fatal(err)
	}
	want := []string{"0s A Low", "0s C Low", "0s A High", "0s C High"}
	if got := rec.events(); !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	c.failOut(errors.New("boom"))
	err = l.Set(0)
	if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), "light 3 (C)") {
		t.Fatalf("err %v", err)
	}
	if l.Mask() != 0b0100 {
		t.Fatalf("mask %04b: light 1 off, light 3 still on", l.Mask())
	}
	if _, err := NewLights(a, c); !errors.Is(err, ErrConfig) {
		t.Fatalf("two pins: %v", err)
	}
}

var _ payment.Indicator = (*Indicator)(nil)
