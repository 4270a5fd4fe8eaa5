package escpos

import "errors"

// Printer condition errors. Print and Status.Err return one of these
// wrapped (errors.Is works), with the status that caused it in the text.
// core/payment has its own payment.ErrPaperOut; the board wiring
// translates ErrPaperOut into it.
var (
	// ErrPaperOut: the roll paper end sensor reports no paper, or printing
	// stopped because of a paper end. The job must wait for paper.
	ErrPaperOut = errors.New("escpos: paper out")
	// ErrCoverOpen: the printer cover is open.
	ErrCoverOpen = errors.New("escpos: cover open")
	// ErrOffline: the printer reports itself offline for another reason
	// (e.g. waiting for online recovery, paper being fed by the button).
	ErrOffline = errors.New("escpos: printer offline")
	// ErrFault: the printer reports an autocutter, unrecoverable or
	// auto-recoverable error (e.g. head overheat).
	ErrFault = errors.New("escpos: printer error")
)

// Link errors.
var (
	// ErrNoResponse: the printer did not answer a real-time status request
	// within the response timeout (or before the context ended).
	ErrNoResponse = errors.New("escpos: printer not answering")
	// ErrNotStatus: bytes came back that cannot be status bytes (their
	// fixed bits are wrong), more than the driver tolerates as line noise.
	ErrNotStatus = errors.New("escpos: not a status byte")
	// ErrWriteStalled: the transport accepted no bytes several times in a
	// row without reporting an error.
	ErrWriteStalled = errors.New("escpos: transport accepts no bytes")
	// ErrMaybeIncomplete accompanies a condition error found by the status
	// check after a job was sent: the receipt may be partly printed.
	ErrMaybeIncomplete = errors.New("escpos: job sent, receipt may be incomplete")
)

// Input errors.
var (
	// ErrParam: a command parameter is outside the range the ESC/POS
	// reference allows. The error text names the parameter and the range.
	ErrParam = errors.New("escpos: parameter out of range")
	// ErrProfile: a Profile is incomplete or inconsistent.
	ErrProfile = errors.New("escpos: invalid profile")
)
