package gpio

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// NumLights is the number of contactless status lights (EMV Book A's four
// visual status indicators).
const NumLights = 4

// Lights are the four contactless status lights, light 1 leftmost. A nil
// pin stands for a light the board does not have. Safe for concurrent use.
type Lights struct {
	pins [NumLights]gpio.PinOut
	mu   sync.Mutex
	cur  uint8 // bit i set: light i+1 on
	init bool  // cur is known (every light has been driven once)
}

// NewLights takes the pins of lights 1 to 4 (nil for an absent light),
// turns every light off and returns them.
func NewLights(pins ...gpio.PinOut) (*Lights, error) {
	if len(pins) != NumLights {
		return nil, configErr("lights", "%d pins given, want %d (nil for an absent light)", len(pins), NumLights)
	}
	l := &Lights{}
	copy(l.pins[:], pins)
	if err := l.Set(0); err != nil {
		return nil, err
	}
	return l, nil
}

// Set switches the lights to mask: bit 0 is light 1, bit 3 light 4. Only
// lights whose state changes are driven (all of them the first time). The
// errors of failed lights are joined; the other lights are still set.
func (l *Lights) Set(mask uint8) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for i, p := range l.pins {
		bit := uint8(1) << i
		if p == nil || (l.init && l.cur&bit == mask&bit) {
			continue
		}
		lv := gpio.Level(mask&bit != 0)
		if err := p.Out(lv); err != nil {
			errs = append(errs, pinErr(fmt.Sprintf("light %d (%s)", i+1, p.Name()), fmt.Sprintf("Out(%s)", lv), err))
			continue
		}
		l.cur = l.cur&^bit | mask&bit
	}
	if len(errs) == 0 {
		l.init = true
	}
	return errors.Join(errs...)
}

// Mask returns the lights last set successfully.
func (l *Lights) Mask() uint8 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// BuzzerMode says how a buzzer is driven.
type BuzzerMode int

// Buzzer modes.
const (
	// BuzzerAuto tries PWM on the first tone and falls back to on/off
	// when the pin refuses it (periph's character-device lines always do).
	BuzzerAuto BuzzerMode = iota
	// BuzzerOnOff drives an active buzzer (its own oscillator, one fixed
	// pitch) high to sound; the tone's frequency is ignored.
	BuzzerOnOff
	// BuzzerPWM drives a passive buzzer with a 50 % PWM at the tone's
	// frequency (the pin must support hardware PWM).
	BuzzerPWM
)

// String names the mode.
func (m BuzzerMode) String() string {
	switch m {
	case BuzzerAuto:
		return "auto"
	case BuzzerOnOff:
		return "on-off"
	case BuzzerPWM:
		return "pwm"
	}
	return fmt.Sprintf("BuzzerMode(%d)", int(m))
}

// Buzzer is a buzzer on a GPIO line. Safe for concurrent use.
type Buzzer struct {
	pin  gpio.PinOut
	log  *slog.Logger
	mu   sync.Mutex
	mode BuzzerMode
	cur  physic.Frequency // sounding frequency, 0 when silent
	on   bool
}

// NewBuzzer silences pin and returns the buzzer; log (nil discards) hears
// about a PWM fallback.
func NewBuzzer(pin gpio.PinOut, mode BuzzerMode, log *slog.Logger) (*Buzzer, error) {
	if pin == nil {
		return nil, configErr("buzzer", "nil pin")
	}
	if mode < BuzzerAuto || mode > BuzzerPWM {
		return nil, configErr("buzzer mode", "%d unknown", int(mode))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Buzzer{pin: pin, mode: mode, log: log}
	if err := pin.Out(gpio.Low); err != nil {
		return nil, pinErr(pin.Name(), "Out(Low)", err)
	}
	return b, nil
}

// Mode returns the mode in use (BuzzerAuto resolves on the first tone).
func (b *Buzzer) Mode() BuzzerMode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mode
}

// Tone sounds f, or silences the buzzer when f is 0. Repeating the
// current state does nothing.
func (b *Buzzer) Tone(f physic.Frequency) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f < 0 {
		return configErr("tone", "negative frequency %v", f)
	}
	if f == 0 {
		if !b.on {
			return nil
		}
		if err := b.pin.Out(gpio.Low); err != nil {
			return pinErr(b.pin.Name(), "Out(Low)", err)
		}
		b.on, b.cur = false, 0
		return nil
	}
	if b.on && (b.cur == f || b.mode == BuzzerOnOff) {
		return nil
	}
	if b.mode != BuzzerOnOff {
		err := b.pin.PWM(gpio.DutyHalf, f)
		if err == nil {
			b.mode = BuzzerPWM
			b.on, b.cur = true, f
			return nil
		}
		if b.mode == BuzzerPWM {
			return pinErr(b.pin.Name(), fmt.Sprintf("PWM(50%%, %s)", f), err)
		}
		b.log.Info("gpio: buzzer pin has no PWM, driving it on/off (fixed pitch)", "pin", b.pin.Name(), "err", err)
		b.mode = BuzzerOnOff
	}
	if err := b.pin.Out(gpio.High); err != nil {
		return pinErr(b.pin.Name(), "Out(High)", err)
	}
	b.on, b.cur = true, f
	return nil
}
