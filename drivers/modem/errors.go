package modem

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Link errors: the conversation with the modem failed.
var (
	// ErrTimeout means a command got no final result code (OK, ERROR,
	// +CME ERROR, +CMS ERROR) before its deadline, or a recovery step or
	// boot wait ran out of time. The client stays usable; a late answer to
	// the timed-out command is discarded before the next command is sent.
	// Errors of this kind are *TimeoutError values naming the command.
	ErrTimeout = errors.New("modem: timed out")
	// ErrGone means the port failed under the driver (read or write error:
	// the USB device dropped off, as after AT+CFUN=1,1 or a power cycle).
	// Every command fails with it until the owner hands over a new port
	// with Reattach; PortLost tells when that is needed.
	ErrGone = errors.New("modem: port lost")
	// ErrClosed means the Modem was closed.
	ErrClosed = errors.New("modem: closed")
	// ErrInvalid means a caller passed an argument the driver refuses (a
	// command with a line break, an interval ≤ 0); the message names it.
	ErrInvalid = errors.New("modem: invalid argument")
)

// Answer errors: the modem answered, but not with what was asked for.
var (
	// ErrCommand is matched by every failed command: a plain ERROR final
	// result, and every *CMEError (+CME ERROR / +CMS ERROR).
	ErrCommand = errors.New("modem: command failed")
	// ErrSyntax means a response line did not have the documented layout.
	// The *SyntaxError says which response, field and value.
	ErrSyntax = errors.New("modem: malformed response")
	// ErrUnsupported means a well-formed response has a layout this driver
	// does not decode (AT+QENG="servingcell" for GSM, for example).
	ErrUnsupported = errors.New("modem: unsupported response layout")
)

// Conditions, matched by *CMEError codes so callers need not know them.
var (
	// ErrSIMNotInserted is matched by +CME ERROR: 10 (and +CMS ERROR: 310).
	ErrSIMNotInserted = errors.New("modem: SIM not inserted")
	// ErrSIM is matched by the other SIM codes: +CME ERROR 11..18 (PIN or
	// PUK required, failure, busy, wrong, bad password) and +CMS ERROR
	// 311..318.
	ErrSIM = errors.New("modem: SIM not usable")
	// ErrNoNetwork is matched by +CME ERROR 30 (no network service), 31
	// (network timeout) and 32 (emergency calls only), and +CMS ERROR 331
	// and 332.
	ErrNoNetwork = errors.New("modem: no network service")
	// ErrNoFix is matched by +CME ERROR: 516, Quectel's "Not fixed now"
	// answer to AT+QGPSLOC while the GNSS receiver has no position yet.
	ErrNoFix = errors.New("modem: GNSS has no position fix")
)

// Recovery errors.
var (
	// ErrNotRecovered is returned by Recover when no step of the ladder
	// brought the AT channel back.
	ErrNotRecovered = errors.New("modem: recovery failed")
	// ErrNoPowerKey means the power-key step was needed but the board
	// wiring gave no PowerKey hook.
	ErrNoPowerKey = errors.New("modem: no power key wired")
)

// TimeoutError is a command that got no final result code in time.
// errors.Is matches it against ErrTimeout, and against
// context.DeadlineExceeded or context.Canceled when the caller's context
// ended first.
type TimeoutError struct {
	// Cmd is the command line as sent, without the trailing CR.
	Cmd string
	// Waited is how long the driver waited, settling included.
	Waited time.Duration
	// Cause is the context error when the caller's context ended the
	// wait; nil when the driver's own command timeout expired.
	Cause error
}

// Error names the command and the wait.
func (e *TimeoutError) Error() string {
	s := fmt.Sprintf("modem: %s: no final result code after %v", e.Cmd, e.Waited.Round(time.Millisecond))
	if e.Cause != nil {
		s += " (" + e.Cause.Error() + ")"
	}
	return s
}

// Unwrap returns ErrTimeout and the cause.
func (e *TimeoutError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrTimeout, e.Cause}
	}
	return []error{ErrTimeout}
}

// CMEError is a +CME ERROR (3GPP TS 27.007 §9.2) or +CMS ERROR (3GPP TS
// 27.005 §3.2.5) final result code. With AT+CMEE=1 the modem sends the
// number; with AT+CMEE=2 it sends the text, which the driver maps back to
// the number through its table (CMEText). errors.Is matches it against
// ErrCommand, and by code against ErrSIMNotInserted, ErrSIM, ErrNoNetwork
// and ErrNoFix.
type CMEError struct {
	// Cmd is the command that failed.
	Cmd string
	// CMS is true for +CMS ERROR (message service), false for +CME ERROR.
	CMS bool
	// Code is the error number, or -1 when the modem sent a text the
	// table does not know.
	Code int
	// Text is the text the modem sent (CMEE=2), or the table's text for
	// Code (CMEE=1); empty when neither is known.
	Text string
}

// Error formats as "modem: AT+QCCID: +CME ERROR: 10 (SIM not inserted)".
func (e *CMEError) Error() string {
	kind := "+CME ERROR"
	if e.CMS {
		kind = "+CMS ERROR"
	}
	s := "modem: "
	if e.Cmd != "" {
		s += e.Cmd + ": "
	}
	s += kind + ":"
	if e.Code >= 0 {
		s += " " + strconv.Itoa(e.Code)
		if e.Text != "" {
			s += " (" + e.Text + ")"
		}
		return s
	}
	return s + " " + strconv.Quote(e.Text)
}

// Is matches ErrCommand and the condition sentinel of e's code.
func (e *CMEError) Is(target error) bool {
	if target == ErrCommand {
		return true
	}
	c := e.Code
	if e.CMS {
		switch {
		case c == 310:
			return target == ErrSIMNotInserted
		case c >= 311 && c <= 318:
			return target == ErrSIM
		case c == 331 || c == 332:
			return target == ErrNoNetwork
		}
		return false
	}
	switch {
	case c == 10:
		return target == ErrSIMNotInserted
	case c >= 11 && c <= 18:
		return target == ErrSIM
	case c >= 30 && c <= 32:
		return target == ErrNoNetwork
	case c == 516:
		return target == ErrNoFix
	}
	return false
}

// SyntaxError is a response line that does not have the documented
// layout. It matches ErrSyntax (or ErrUnsupported for a known but
// undecoded layout).
type SyntaxError struct {
	// Resp is the response being decoded: "+CSQ", "+QENG", "ATI", …
	Resp string
	// Field is the field that failed, in the manual's notation ("<rssi>"),
	// or "line" for the line as a whole.
	Field string
	// Value is the offending text (shortened to 40 bytes).
	Value string
	// Reason says what was wrong with it.
	Reason string
	// Err is ErrSyntax or ErrUnsupported.
	Err error
}

// Error formats as `modem: +CSQ <rssi> "x": not a number`.
func (e *SyntaxError) Error() string {
	v := e.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return fmt.Sprintf("modem: %s %s %q: %s", e.Resp, e.Field, v, e.Reason)
}

// Unwrap returns ErrSyntax or ErrUnsupported.
func (e *SyntaxError) Unwrap() error {
	if e.Err == nil {
		return ErrSyntax
	}
	return e.Err
}

func syntaxErr(resp, field, value, reason string) error {
	return &SyntaxError{Resp: resp, Field: field, Value: value, Reason: reason, Err: ErrSyntax}
}
