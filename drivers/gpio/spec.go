package gpio

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// Spec is a parsed pin spec: which line, and how it is wired.
//
// Grammar (no spaces):
//
//	spec   = target *( "," flag )
//	target = name | chip ":" line
//	flag   = "active-low" | "pull-up" | "pull-down" | "float"
//
// name is a line name as periph registers it ("GPIO17", "PA7", an alias);
// chip is a character-device chip name or label ("gpiochip0",
// "pinctrl-bcm2711") and line its decimal offset, for boards whose device
// tree leaves lines unnamed. Names are 1 to 31 printable ASCII characters
// other than ',', ':' and space (the kernel's line and chip names hold 31
// bytes plus a NUL); a line offset is 0 to 65535 without sign or leading
// zeros (the kernel's gpio_chip.ngpio is a u16). At most one pull flag;
// no flag twice.
type Spec struct {
	// Name is the registry name; empty when Chip is set.
	Name string
	// Chip and Line select a line by chip and offset; Chip is empty when
	// Name is set.
	Chip string
	Line int
	// ActiveLow inverts the line: logical High drives or reads the
	// physical low level.
	ActiveLow bool
	// Pull is the bias to request for an input (PullNoChange when no
	// flag was given).
	Pull gpio.Pull
}

// Limits of the spec grammar.
const (
	// MaxNameLen is the longest line or chip name accepted (the kernel's
	// GPIO_MAX_NAME_SIZE of 32 bytes includes the NUL).
	MaxNameLen = 31
	// MaxLine is the highest line offset accepted (gpio_chip.ngpio is a
	// u16 in the kernel).
	MaxLine = 65535
	// MaxSpecLen bounds the whole spec string.
	MaxSpecLen = 128
)

// SpecError says where a pin spec is malformed. It matches ErrSpec.
type SpecError struct {
	Spec   string // the input (truncated to MaxSpecLen)
	Offset int    // byte offset of the problem
	Reason string
}

// Error implements error.
func (e *SpecError) Error() string {
	return fmt.Sprintf("gpio: pin spec %q: offset %d: %s", e.Spec, e.Offset, e.Reason)
}

// Unwrap lets errors.Is(err, ErrSpec) match.
func (e *SpecError) Unwrap() error { return ErrSpec }

// ParseSpec parses a pin spec such as "GPIO17", "gpiochip0:17" or
// "GPIO27,active-low,pull-up".
func ParseSpec(s string) (Spec, error) {
	fail := func(off int, format string, args ...any) (Spec, error) {
		shown := s
		if len(shown) > MaxSpecLen {
			shown = shown[:MaxSpecLen]
		}
		return Spec{}, &SpecError{Spec: shown, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail(0, "empty")
	}
	if len(s) > MaxSpecLen {
		return fail(MaxSpecLen, "longer than %d bytes", MaxSpecLen)
	}
	var sp Spec
	target, _, _ := strings.Cut(s, ",")
	if chip, line, ok := strings.Cut(target, ":"); ok {
		if off, why := checkName(chip); why != "" {
			return fail(off, "chip %s", why)
		}
		base := len(chip) + 1
		if line == "" {
			return fail(base, "missing line offset after ':'")
		}
		for i := 0; i < len(line); i++ {
			if line[i] < '0' || line[i] > '9' {
				return fail(base+i, "line offset must be decimal digits, got %q", line[i])
			}
		}
		if len(line) > 1 && line[0] == '0' {
			return fail(base, "line offset %q has a leading zero", line)
		}
		n, err := strconv.Atoi(line)
		if err != nil || n > MaxLine {
			return fail(base, "line offset %s above %d", line, MaxLine)
		}
		sp.Chip, sp.Line = chip, n
	} else {
		if off, why := checkName(target); why != "" {
			return fail(off, "name %s", why)
		}
		sp.Name = target
	}
	// Flags: rest is "" or ",flag[,flag...]"; off tracks the byte offset.
	rest, off := s[len(target):], len(target)
	seenPull := false
	for rest != "" {
		rest, off = rest[1:], off+1 // the ','
		f, _, _ := strings.Cut(rest, ",")
		switch f {
		case "active-low":
			if sp.ActiveLow {
				return fail(off, "flag active-low given twice")
			}
			sp.ActiveLow = true
		case "pull-up", "pull-down", "float":
			if seenPull {
				return fail(off, "second pull flag %q", f)
			}
			seenPull = true
			sp.Pull = map[string]gpio.Pull{"pull-up": gpio.PullUp, "pull-down": gpio.PullDown, "float": gpio.Float}[f]
		case "":
			return fail(off, "empty flag")
		default:
			return fail(off, "unknown flag %q (known: active-low, pull-up, pull-down, float)", truncate(f, 32))
		}
		rest, off = rest[len(f):], off+len(f)
	}
	return sp, nil
}

// checkName validates a line or chip name; it returns the offset of the
// problem and why, or "" when the name is fine.
func checkName(n string) (int, string) {
	if n == "" {
		return 0, "is empty"
	}
	if len(n) > MaxNameLen {
		return MaxNameLen, fmt.Sprintf("longer than %d bytes", MaxNameLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c > '~' || c == ',' || c == ':' {
			return i, fmt.Sprintf("has byte 0x%02x, not a printable ASCII character other than ',' ':' and space", c)
		}
	}
	return 0, ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// String returns the canonical spec text; ParseSpec(s.String()) == s for
// every Spec ParseSpec returns.
func (s Spec) String() string {
	var b strings.Builder
	if s.Chip != "" {
		b.WriteString(s.Chip)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(s.Line))
	} else {
		b.WriteString(s.Name)
	}
	if s.ActiveLow {
		b.WriteString(",active-low")
	}
	switch s.Pull {
	case gpio.PullUp:
		b.WriteString(",pull-up")
	case gpio.PullDown:
		b.WriteString(",pull-down")
	case gpio.Float:
		b.WriteString(",float")
	}
	return b.String()
}

// target is the part of the spec that names the line.
func (s Spec) target() string {
	if s.Chip != "" {
		return s.Chip + ":" + strconv.Itoa(s.Line)
	}
	return s.Name
}

// ActiveLow wraps p so that logical High is the physical low level: Out,
// Read and PWM duty are inverted and rising/falling edge requests are
// swapped. Pull requests pass through unchanged (they are physical).
func ActiveLow(p gpio.PinIO) gpio.PinIO { return &activeLow{PinIO: p} }

type activeLow struct{ gpio.PinIO }

// String implements conn.Resource.
func (a *activeLow) String() string { return a.PinIO.String() + "(active-low)" }

// Real implements gpio.RealPin.
func (a *activeLow) Real() gpio.PinIO { return a.PinIO }

// In implements gpio.PinIn.
func (a *activeLow) In(pull gpio.Pull, edge gpio.Edge) error {
	switch edge {
	case gpio.RisingEdge:
		edge = gpio.FallingEdge
	case gpio.FallingEdge:
		edge = gpio.RisingEdge
	}
	return a.PinIO.In(pull, edge)
}

// Read implements gpio.PinIn.
func (a *activeLow) Read() gpio.Level { return !a.PinIO.Read() }

// WaitForEdge implements gpio.PinIn.
func (a *activeLow) WaitForEdge(timeout time.Duration) bool { return a.PinIO.WaitForEdge(timeout) }

// Out implements gpio.PinOut.
func (a *activeLow) Out(l gpio.Level) error { return a.PinIO.Out(!l) }

// PWM implements gpio.PinOut.
func (a *activeLow) PWM(duty gpio.Duty, f physic.Frequency) error {
	return a.PinIO.PWM(gpio.DutyMax-duty, f)
}

var (
	_ gpio.PinIO   = (*activeLow)(nil)
	_ gpio.RealPin = (*activeLow)(nil)
)
