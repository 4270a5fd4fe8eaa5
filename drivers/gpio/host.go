package gpio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"
)

// charDevDriver is the name of periph's GPIO character-device driver.
const charDevDriver = "ioctl-gpio"

// Test seams: the host initialiser and the chip:line resolver.
var (
	hostInit = host.Init
	chipLine = chipLineIoctl
)

// hostState is what the one host.Init call produced.
var hostState struct {
	mu    sync.Mutex
	done  chan struct{} // closed when init finished; nil before Init
	state *driverreg.State
	err   error
}

// Init initialises periph's host drivers, once per process. Later calls
// return the first call's result. host.Init has no context of its own, so
// it runs in a goroutine: when ctx ends first, Init returns ctx's error
// and the initialisation goes on in the background (a later Init waits
// for it).
//
// On a machine without GPIO chips host.Init succeeds and skips its
// drivers; Init then returns nil and Lookup reports each missing pin. Use
// CheckCharDev to require the character-device driver.
func Init(ctx context.Context) error {
	hostState.mu.Lock()
	if hostState.done == nil {
		done := make(chan struct{})
		hostState.done = done
		go func() {
			st, err := hostInit()
			hostState.mu.Lock()
			hostState.state, hostState.err = st, err
			hostState.mu.Unlock()
			close(done)
		}()
	}
	done := hostState.done
	hostState.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("gpio: init: %w", ctx.Err())
	}
	hostState.mu.Lock()
	defer hostState.mu.Unlock()
	if hostState.err != nil {
		return fmt.Errorf("%w: %w", ErrInit, hostState.err)
	}
	return nil
}

// initResult returns the finished host state, or ok=false before Init
// completed.
func initResult() (st *driverreg.State, ok bool) {
	hostState.mu.Lock()
	defer hostState.mu.Unlock()
	if hostState.done == nil {
		return nil, false
	}
	select {
	case <-hostState.done:
		return hostState.state, true
	default:
		return nil, false
	}
}

// Drivers lists periph's host drivers by outcome after Init: loaded,
// skipped (irrelevant here, with the reason) and failed (with the error).
// All three are empty before Init completed.
func Drivers() (loaded, skipped, failed []string) {
	st, ok := initResult()
	if !ok || st == nil {
		return nil, nil, nil
	}
	for _, d := range st.Loaded {
		loaded = append(loaded, d.String())
	}
	for _, f := range st.Skipped {
		skipped = append(skipped, f.String())
	}
	for _, f := range st.Failed {
		failed = append(failed, f.String())
	}
	return loaded, skipped, failed
}

// CheckCharDev returns nil when periph's GPIO character-device driver
// loaded, and otherwise an error wrapping ErrNoCharDev that says why
// (no chips, permission, old kernel). Call it after Init on boards whose
// profile names GPIO lines: a board without it has no usable GPIO
// (periph host v3.8.5 makes the sysfs driver depend on it).
func CheckCharDev() error {
	st, ok := initResult()
	if !ok {
		return fmt.Errorf("%w: gpio.Init has not completed", ErrNoCharDev)
	}
	if st == nil {
		return fmt.Errorf("%w: periph host init returned no state", ErrNoCharDev)
	}
	if charDevLoaded(st) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNoCharDev, charDevReason(st))
}

// charDevLoaded reports whether ioctl-gpio is among the loaded drivers.
func charDevLoaded(st *driverreg.State) bool {
	return slices.ContainsFunc(st.Loaded, func(d driver.Impl) bool { return d.String() == charDevDriver })
}

// charDevReason explains why ioctl-gpio did not load, adding what a look
// at /dev/gpiochip* tells (open only, no ioctl).
func charDevReason(st *driverreg.State) string {
	why := "driver " + charDevDriver + " not registered"
	for i, list := range [][]driverreg.DriverFailure{st.Failed, st.Skipped} {
		for _, f := range list {
			if f.D.String() != charDevDriver {
				continue
			}
			why = "periph failed to load " + charDevDriver
			if i == 1 {
				why = "periph skipped " + charDevDriver
			}
			if f.Err != nil {
				why += ": " + f.Err.Error()
			}
		}
	}
	chips, _ := filepath.Glob("/dev/gpiochip*")
	if len(chips) == 0 {
		return why + "; no /dev/gpiochip* on this machine"
	}
	f, err := os.Open(chips[0])
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return why + "; " + chips[0] + ": permission denied: install the udev rule " + udevRule + " and put the agent's user in group gpio"
		}
		return why + "; " + err.Error()
	}
	_ = f.Close()
	return why + "; " + chips[0] + " opens, so the kernel probably lacks the GPIO v2 uAPI (Linux 5.10 or later is needed)"
}

// Lookup returns the pin periph registered under name (a line name or an
// alias). periph returns nil for an unknown name; Lookup turns that into
// an error wrapping ErrNoPin that names the pin. Call Init first.
func Lookup(name string) (gpio.PinIO, error) {
	if p := gpioreg.ByName(name); p != nil {
		return p, nil
	}
	return nil, noPin(name, "")
}

// Open resolves a pin spec from the board profile for role ("tamper",
// "light1", "buzzer", …): it parses spec (ParseSpec), finds the line by
// name or by chip and offset, and wraps it with ActiveLow when the spec
// says so. The returned Spec carries the pull to request for an input.
//
// A missing line is a start-up error wrapping ErrNoPin, worded for the
// technician: "pin GPIO27 named in board profile for tamper does not
// exist on this board".
func Open(role, spec string) (gpio.PinIO, Spec, error) {
	sp, err := ParseSpec(spec)
	if err != nil {
		return nil, Spec{}, fmt.Errorf("gpio: board profile pin for %s: %w", role, err)
	}
	var p gpio.PinIO
	if sp.Chip != "" {
		p = chipLine(sp.Chip, sp.Line)
	} else {
		p = gpioreg.ByName(sp.Name)
	}
	if p == nil {
		return nil, Spec{}, noPin(sp.target(), role)
	}
	if sp.ActiveLow {
		p = ActiveLow(p)
	}
	return p, sp, nil
}

// noPin builds the ErrNoPin error with what can be said about why.
func noPin(name, role string) error {
	msg := "pin " + name
	if role != "" {
		msg += " named in board profile for " + role
	}
	msg += " does not exist on this board"
	st, ok := initResult()
	switch {
	case !ok:
		msg += " (gpio.Init was not called, so no host driver registered any pin)"
	case st != nil && !charDevLoaded(st):
		msg += " (" + charDevReason(st) + ")"
	default:
		msg += " (" + knownPins() + ")"
	}
	return fmt.Errorf("gpio: %s: %w", msg, ErrNoPin)
}

// knownPins lists up to ten registered pin names for the error message.
func knownPins() string {
	all := gpioreg.All()
	if len(all) == 0 {
		return "no pins are registered"
	}
	var names []string
	for i, p := range all {
		if i == 10 {
			names = append(names, "…")
			break
		}
		names = append(names, p.Name())
	}
	return fmt.Sprintf("%d registered, e.g. %s; gpioinfo lists the lines, gpiochipN:offset names an unnamed one", len(all), strings.Join(names, ", "))
}

// chipLineIoctl finds line offset on the character-device chip whose
// name, label or path is chip.
func chipLineIoctl(chip string, line int) gpio.PinIO {
	for _, c := range gpioioctl.Chips {
		if c.Name() != chip && c.Label() != chip && c.Path() != chip {
			continue
		}
		if line < 0 || line >= c.LineCount() {
			return nil
		}
		if l := c.ByNumber(line); l != nil {
			return l
		}
		return nil
	}
	return nil
}
