package gpio

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (or a context error), so callers can branch with errors.Is.
var (
	// ErrNoPin means a pin named in the board profile does not exist on
	// this board (periph's registry has no such name, or the chip or line
	// is absent). The message names the pin and the role it was meant for.
	ErrNoPin = errors.New("gpio: no such pin")
	// ErrInit means periph's host drivers failed to initialise.
	ErrInit = errors.New("gpio: host init failed")
	// ErrNoCharDev means periph's GPIO character-device driver
	// (ioctl-gpio, /dev/gpiochip*) did not load: no chips, no permission,
	// or a kernel without the GPIO v2 uAPI (Linux < 5.10).
	ErrNoCharDev = errors.New("gpio: GPIO character device not available")
	// ErrSpec means a pin spec string is malformed; the *SpecError says
	// where.
	ErrSpec = errors.New("gpio: bad pin spec")
	// ErrConfig means an option is out of range; the message names the
	// field and the limit.
	ErrConfig = errors.New("gpio: bad configuration")
	// ErrPin means periph refused an operation on a line (In, Out, PWM):
	// the line may be busy (owned by another process or exported through
	// sysfs), inaccessible (permissions) or not capable of it.
	ErrPin = errors.New("gpio: pin operation failed")
	// ErrCaseOpen is returned by Tamper.Clear while the case still reads
	// open: the latch cannot be cleared until the case is closed.
	ErrCaseOpen = errors.New("gpio: tamper switch still reads open")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("gpio: closed")
)

// udevRule is the rule that gives the gpio group access to the chips.
const udevRule = `SUBSYSTEM=="gpio", GROUP="gpio", MODE="0660"`

// pinErr wraps a failed periph call on pin name as ErrPin, with a hint for
// the two failures technicians meet: a busy line and missing permission.
// periph's gpioioctl turns errno values into plain strings, so the errno
// is recognised by its text as well as by errors.Is.
func pinErr(name, op string, err error) error {
	return fmt.Errorf("%w: %s: %s: %w%s", ErrPin, name, op, err, hint(err))
}

func hint(err error) string {
	has := func(e syscall.Errno) bool {
		return errors.Is(err, e) || strings.Contains(err.Error(), e.Error())
	}
	switch {
	case has(syscall.EBUSY):
		return " (line busy: another process, a kernel driver or a sysfs export owns it; see gpioinfo)"
	case has(syscall.EACCES), has(syscall.EPERM):
		return " (permission denied: install the udev rule " + udevRule + " and put the agent's user in group gpio)"
	}
	return ""
}

func configErr(field string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}
