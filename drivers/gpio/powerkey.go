package gpio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/posagent/posagent/core/clock"
)

// Power key timing for Quectel EC2x-class modems (docs/gpio.md has the
// sources). The key is pressed by driving it low on the module; boards
// usually drive it through an open-collector transistor, so the GPIO goes
// High to press. Either way the pin here is logical: High = pressed (use
// an ",active-low" spec when the GPIO drives PWRKEY directly).
const (
	// DefaultPowerOnPulse: Quectel requires PWRKEY low for at least
	// 500 ms to turn the module on; 600 ms leaves a margin (the value Arm
	// Mbed OS uses for the EC2x).
	DefaultPowerOnPulse = 600 * time.Millisecond
	// DefaultPowerOffPulse: at least 650 ms turns the module off; 750 ms
	// leaves a margin (Mbed OS's EC2x value).
	DefaultPowerOffPulse = 750 * time.Millisecond
	// MaxPulse bounds a configured pulse: a held key does different
	// things on different modules, so a typo like "600s" is refused.
	MaxPulse = 10 * time.Second
)

// Pulse presses pin (drives it High) for d on clk, then releases it
// (Low). When ctx ends first the pin is released at once and the error
// wraps ctx.Err(): the pulse was cut short and the device's state is
// unknown. An Out error is wrapped in ErrPin; a failed release is
// reported even when the press failed, since a key left pressed is the
// worse fault.
func Pulse(ctx context.Context, clk clock.Clock, pin gpio.PinOut, d time.Duration) error {
	if pin == nil {
		return configErr("pin", "nil")
	}
	if d <= 0 || d > MaxPulse {
		return configErr("pulse", "%v outside (0, %v]", d, MaxPulse)
	}
	if clk == nil {
		clk = clock.System{}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gpio: %s: pulse not started: %w", pin.Name(), err)
	}
	if err := pin.Out(gpio.High); err != nil {
		if rerr := pin.Out(gpio.Low); rerr != nil {
			return fmt.Errorf("%w; %w", pinErr(pin.Name(), "Out(High)", err), pinErr(pin.Name(), "Out(Low) release", rerr))
		}
		return pinErr(pin.Name(), "Out(High)", err)
	}
	var cut error
	select {
	case <-clk.After(d):
	case <-ctx.Done():
		cut = ctx.Err()
	}
	if err := pin.Out(gpio.Low); err != nil {
		return pinErr(pin.Name(), "Out(Low) release", err)
	}
	if cut != nil {
		return fmt.Errorf("gpio: %s: pulse cut short: %w", pin.Name(), cut)
	}
	return nil
}

// PowerKeyOptions configure a PowerKey; zero fields take the defaults.
type PowerKeyOptions struct {
	On    time.Duration // press time to power on; default DefaultPowerOnPulse
	Off   time.Duration // press time to power off; default DefaultPowerOffPulse
	Clock clock.Clock   // nil means the system clock
}

// PowerKey is a modem's power key line. Pulses are serialised: two
// overlapping presses would merge into one long press.
type PowerKey struct {
	pin gpio.PinOut
	opt PowerKeyOptions
	mu  sync.Mutex
}

// NewPowerKey releases pin (drives it Low) so the modem sees no stray
// press, and returns the key.
func NewPowerKey(pin gpio.PinOut, opt PowerKeyOptions) (*PowerKey, error) {
	if pin == nil {
		return nil, configErr("pin", "nil")
	}
	if opt.On == 0 {
		opt.On = DefaultPowerOnPulse
	}
	if opt.Off == 0 {
		opt.Off = DefaultPowerOffPulse
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"On", opt.On}, {"Off", opt.Off}} {
		if f.d < 0 || f.d > MaxPulse {
			return nil, configErr(f.name, "%v outside (0, %v]", f.d, MaxPulse)
		}
	}
	if opt.Clock == nil {
		opt.Clock = clock.System{}
	}
	if err := pin.Out(gpio.Low); err != nil {
		return nil, pinErr(pin.Name(), "Out(Low)", err)
	}
	return &PowerKey{pin: pin, opt: opt}, nil
}

// PowerOn presses the key for the power-on time. The modem toggles on
// each press: call it only when the modem is known to be off (no answer
// on its AT port, or its status line low).
func (k *PowerKey) PowerOn(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return Pulse(ctx, k.opt.Clock, k.pin, k.opt.On)
}

// PowerOff presses the key for the power-off time. Prefer AT+QPOWD on a
// modem that still answers; this is for one that does not.
func (k *PowerKey) PowerOff(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return Pulse(ctx, k.opt.Clock, k.pin, k.opt.Off)
}
