package serialio

import (
	"errors"
	"strings"
)

// Conditions of a port. Every error this package returns is an *Error
// wrapping one of these (errors.Is works), usually together with the
// operating-system cause (errors.Is(err, syscall.EIO) works too).
var (
	// ErrTimeout: a Read saw no byte within the read timeout, or a Write
	// could not hand over a single byte within the write timeout. go.bug.st/serial
	// reports a read timeout as (0, nil); this package never does.
	ErrTimeout = errors.New("timed out")
	// ErrGone: the device went away under an open port (unplugged, hung up,
	// EOF, EIO, ENXIO, ENODEV, or any other I/O failure). The port is dead:
	// close it and open again (Reopener does this by itself).
	ErrGone = errors.New("device gone")
	// ErrClosed: the port was closed by its owner (Close was called).
	ErrClosed = errors.New("port closed")
)

// Reasons an open fails.
var (
	// ErrBusy: another open port (in this process or another) holds the
	// device's flock, or a non-root owner holds it with TIOCEXCL. The error
	// text names the path and, when /proc/locks tells, the holder's pid.
	ErrBusy = errors.New("port busy")
	// ErrMissing: the path (or the by-id link) does not exist, the device
	// node has no device behind it (ENXIO, ENODEV, EIO on open), or no
	// serial port has the configured USB id.
	ErrMissing = errors.New("device missing")
	// ErrAmbiguous: more than one serial port has the configured USB id
	// (a Quectel modem exposes four); configure a /dev/serial/by-id path or
	// add the USB serial number.
	ErrAmbiguous = errors.New("USB id matches more than one port")
	// ErrPermission: the device node cannot be opened by this user (add it
	// to the dialout group, or ship a udev rule).
	ErrPermission = errors.New("permission denied")
	// ErrNotSerial: the path exists but is not a terminal device.
	ErrNotSerial = errors.New("not a serial device")
	// ErrConfig: a Config field is invalid; the text names the field.
	ErrConfig = errors.New("invalid config")
)

// Error is the error type of this package: an operation on a port, the
// port as configured, the device node it resolved to, and the cause.
type Error struct {
	// Op is the operation: "open", "read", "write", "set read timeout",
	// "close", "set DTR", "set RTS", "modem status".
	Op string
	// Port is the port as configured: a path, or "usb:VVVV:PPPP[:SERIAL]".
	Port string
	// Dev is the device node Port resolved to, when known.
	Dev string
	// Err is the cause; it wraps one of the package's sentinel errors.
	Err error
}

// Error formats as "serialio: OP PORT (DEV): CAUSE".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("serialio: ")
	b.WriteString(e.Op)
	if e.Port != "" {
		b.WriteByte(' ')
		b.WriteString(e.Port)
	}
	if e.Dev != "" && e.Dev != e.Port {
		b.WriteString(" (")
		b.WriteString(e.Dev)
		b.WriteByte(')')
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the error is a timeout (ErrTimeout), for code
// that checks errors the net.Error way.
func (e *Error) Timeout() bool { return errors.Is(e.Err, ErrTimeout) }

// Status is a device status string as shown by `posagent status` and diag.
type Status string

// Device statuses.
const (
	// StatusOK: the port is open and usable.
	StatusOK Status = "ok"
	// StatusGone: the device went away (or failed) and is being reopened.
	StatusGone Status = "gone"
	// StatusBusy: another owner holds the port.
	StatusBusy Status = "busy"
	// StatusMissing: the configured device is not there (no such path, no
	// USB port with that id, more than one, or not a serial device).
	StatusMissing Status = "missing"
	// StatusDenied: the device is there but this user may not open it.
	StatusDenied Status = "denied"
)

// StatusOf maps an error from Open, Read or Write to a device status:
// nil is StatusOK; ErrBusy, ErrMissing/ErrAmbiguous/ErrNotSerial and
// ErrPermission have their own status; anything else is StatusGone.
func StatusOf(err error) Status {
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrBusy):
		return StatusBusy
	case errors.Is(err, ErrPermission):
		return StatusDenied
	case errors.Is(err, ErrMissing), errors.Is(err, ErrAmbiguous), errors.Is(err, ErrNotSerial):
		return StatusMissing
	default:
		return StatusGone
	}
}
