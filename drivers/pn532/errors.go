package pn532

import (
	"errors"
	"fmt"
)

// Link errors: the conversation with the PN532 itself failed. None of them
// says anything about a card.
var (
	// ErrNoACK means the PN532 did not acknowledge a command frame: for an
	// idempotent command (GetFirmwareVersion, SAMConfiguration, InRelease)
	// not even after the configured resends (UM §6.2.3); for a command
	// that is never resent (InListPassiveTarget, InDataExchange) neither
	// the ACK nor the response came before the command's deadline, or the
	// reader answered with a NACK frame. Check wiring, baud rate and power;
	// a hard reset may be needed.
	ErrNoACK = errors.New("pn532: no ACK from the reader")
	// ErrOutcomeUnknown means an InDataExchange frame (an APDU, or a
	// request for the next part of a chained answer) was written to the
	// PN532 but no answer to it was decoded, so the card may or may not
	// have executed the APDU. It always comes with the reason: ErrNoACK
	// (neither ACK nor response before the deadline, or a NACK from the
	// reader), ErrNoResponse (ACK but no response), ErrChecksum or
	// ErrBadFrame (the response stayed damaged after the NACKs),
	// ErrUnexpected, ErrTransport, ErrClosed or the context's error. The
	// driver never sends the APDU again; for a payment, treat the read as
	// failed (ask for another tap) and never assume the command did or
	// did not run. A *StatusError or ErrSyntax is an answer from the chip
	// and does not match it.
	ErrOutcomeUnknown = errors.New("pn532: outcome of the command unknown")
	// ErrNoResponse means the PN532 acknowledged a command but sent no
	// response before the deadline; the command was aborted with an ACK
	// frame. When the context's deadline was the cause the error also
	// matches context.DeadlineExceeded.
	ErrNoResponse = errors.New("pn532: no response from the reader")
	// ErrUnexpected means a well-formed response did not fit the command:
	// a wrong response code (not command+1), a short or inconsistent
	// payload.
	ErrUnexpected = errors.New("pn532: unexpected response")
	// ErrSyntax means the PN532 answered with the syntax error frame
	// (UM §6.2.1.5): it did not accept the command or its parameters.
	ErrSyntax = errors.New("pn532: reader reported a syntax error")
	// ErrTransport wraps a failure of the Transport itself (read or write
	// error, an impossible byte count); the port may be gone.
	ErrTransport = errors.New("pn532: transport failure")
	// ErrClosed means the Device was closed.
	ErrClosed = errors.New("pn532: device closed")
	// ErrInvalid means a caller passed an argument the driver refuses (an
	// empty APDU); the message names it.
	ErrInvalid = errors.New("pn532: invalid argument")
)

// Card errors: what happened on the RF side.
var (
	// ErrNoCard means no card was found before the poll ended
	// (InListPassiveTarget returned no target, or the poll timed out).
	ErrNoCard = errors.New("pn532: no card in the field")
	// ErrMultipleCards means two cards answered the poll. EMV needs exactly
	// one card in the field; both were released.
	ErrMultipleCards = errors.New("pn532: more than one card in the field")
	// ErrNoTarget means Exchange was called with no activated card (before
	// ListTarget, or after Release or a failed poll).
	ErrNoTarget = errors.New("pn532: no activated card")
	// ErrTimeout is matched by status 0x01: the card did not answer in
	// time. The card may still have executed the command.
	ErrTimeout = errors.New("pn532: card did not answer")
	// ErrCardGone is matched by status 0x29, 0x2A and 0x2B: the target was
	// released, exchanged or has disappeared.
	ErrCardGone = errors.New("pn532: card left the field")
	// ErrRF is matched by the RF transmission status codes (CRC, parity,
	// bit count, framing, collision, RF protocol, data format, …): the
	// exchange with the card was corrupted.
	ErrRF = errors.New("pn532: RF transmission error")
	// ErrChip is matched by the remaining status codes: the PN532 refused
	// or could not run the command (buffer, parameter, state, temperature,
	// over-current).
	ErrChip = errors.New("pn532: reader refused the command")
)

// StatusError is a non-zero status byte returned by a PN532 command
// (UM §7.1, error code in the low six bits). errors.Is matches it against
// ErrTimeout, ErrCardGone, ErrRF or ErrChip by code class; errors.As gives
// the exact Code.
type StatusError struct {
	// Cmd is the command code that returned the status.
	Cmd byte
	// Code is the error code: the status byte masked with 0x3F.
	Code byte
}

// Error names the command and the code with the user manual's meaning.
func (e *StatusError) Error() string {
	return fmt.Sprintf("pn532: %s status 0x%02X: %s", commandName(e.Cmd), e.Code, StatusText(e.Code))
}

// Is reports whether target is the sentinel of e's code class.
func (e *StatusError) Is(target error) bool {
	return target == statusClass(e.Code)
}

// statusClass maps an error code to its sentinel.
func statusClass(code byte) error {
	switch code {
	case 0x01:
		return ErrTimeout
	case 0x29, 0x2A, 0x2B:
		return ErrCardGone
	case 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0A, 0x0B, 0x13, 0x23, 0x2C, 0x2E:
		return ErrRF
	}
	return ErrChip
}

// statusTexts holds the UM0701-02 §7.1 error code list, shortened.
var statusTexts = map[byte]string{
	0x01: "time out, the target has not answered",
	0x02: "CRC error detected by the CIU",
	0x03: "parity error detected by the CIU",
	0x04: "erroneous bit count during anti-collision/select",
	0x05: "framing error during MIFARE operation",
	0x06: "abnormal bit-collision during bitwise anti-collision at 106 kbps",
	0x07: "communication buffer size insufficient",
	0x09: "RF buffer overflow detected by the CIU",
	0x0A: "RF field not switched on in time by the counterpart (active mode)",
	0x0B: "RF protocol error",
	0x0D: "overheating: antenna drivers switched off",
	0x0E: "internal buffer overflow",
	0x10: "invalid parameter",
	0x12: "DEP: command received from the initiator not supported (target mode)",
	0x13: "data format does not match the specification (length, PCB/PFB, unexpected frame, NAD/DID)",
	0x14: "MIFARE authentication error",
	0x23: "ISO/IEC 14443-3: UID check byte is wrong",
	0x25: "DEP: invalid device state",
	0x26: "operation not allowed in this configuration",
	0x27: "command not acceptable in the current context (unknown target, wrong state)",
	0x29: "target released by the initiator",
	0x2A: "ISO/IEC 14443-3B: card ID does not match, the card was exchanged",
	0x2B: "ISO/IEC 14443-3B: the activated card has disappeared",
	0x2C: "NFCID3 initiator/target mismatch in DEP 212/424 kbps passive",
	0x2D: "over-current event detected",
	0x2E: "NAD missing in DEP frame",
}

// StatusText returns the user manual's meaning of error code (UM §7.1), or
// "unknown error code" for a code the manual does not list.
func StatusText(code byte) string {
	if s, ok := statusTexts[code]; ok {
		return s
	}
	return "unknown error code"
}

// commandName names the command codes this package uses, for errors and
// logs.
func commandName(cmd byte) string {
	switch cmd {
	case cmdGetFirmwareVersion:
		return "GetFirmwareVersion"
	case cmdSAMConfiguration:
		return "SAMConfiguration"
	case cmdInListPassiveTarget:
		return "InListPassiveTarget"
	case cmdInDataExchange:
		return "InDataExchange"
	case cmdInRelease:
		return "InRelease"
	case cmdRFConfiguration:
		return "RFConfiguration"
	}
	return fmt.Sprintf("command 0x%02X", cmd)
}
