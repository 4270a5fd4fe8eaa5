package scanner

import "errors"

// Bad scans: one code was lost, the reader goes on. Every error of this
// group wraps ErrBadScan and one of the sentinels below, so a caller can
// tell "beep and ask for a rescan" (errors.Is(err, ErrBadScan)) from "the
// device is gone" (anything else). Their text names the offset, byte or
// limit at fault, never the scanned characters (a payment code is
// sensitive until used).
var (
	// ErrBadScan is wrapped by every per-code error.
	ErrBadScan = errors.New("scanner: bad scan")
	// ErrTooLong: a code ran past Options.MaxLen bytes (or characters for
	// a HID scanner). It was discarded up to the next terminator; nothing
	// of it was kept.
	ErrTooLong = errors.New("code too long")
	// ErrIncomplete: a partial code was followed by silence longer than
	// Options.IdleTimeout with no terminator (half a scan), or input came
	// right after such an interrupted code and was taken as its tail
	// (Options.TailWindow). It was discarded.
	ErrIncomplete = errors.New("incomplete code")
	// ErrBadByte: a serial code held a byte outside printable ASCII
	// (0x20..0x7E): line noise, a wrong baud rate, or a code type the
	// scanner should not transmit. The code was discarded.
	ErrBadByte = errors.New("non-printable byte in code")
	// ErrUnmappedKey: a HID scanner typed a key the fixed US layout has no
	// character for (or a key with Ctrl, Alt or Meta held). The code was
	// discarded.
	ErrUnmappedKey = errors.New("key without a character")
	// ErrDropped: the kernel's evdev buffer overflowed (SYN_DROPPED) while
	// a code was being typed; key events were lost, so the code was
	// discarded.
	ErrDropped = errors.New("key events dropped by the kernel")
)

// Device and usage errors: the reader stops.
var (
	// ErrPort wraps a read failure of the serial port or the input device
	// (unplugged, EIO, ENODEV, EOF). The reader is unusable: close it and
	// open again.
	ErrPort = errors.New("scanner: device read failed")
	// ErrGrab: the input device could not be grabbed (EVIOCGRAB) for
	// exclusive use. EBUSY means another program holds it; ENOTTY or
	// EINVAL means the path is not an evdev device.
	ErrGrab = errors.New("scanner: cannot grab input device")
	// ErrClosed: the reader was closed.
	ErrClosed = errors.New("scanner: closed")
	// ErrBadEvent: bytes that are not a whole number of input_event
	// records were given to DecodeEvents, or the Layout is not valid.
	ErrBadEvent = errors.New("scanner: malformed input events")
	// ErrConfig: an Options field is invalid; the text names it.
	ErrConfig = errors.New("scanner: invalid options")
)
