package payment

import "errors"

// Errors returned by New and the Engine's methods. Each is wrapped with
// detail (the field, limit or session concerned); test with errors.Is.
var (
	// ErrConfig is wrapped by New when a Config field is out of range or a
	// required dependency is missing; the message names the field.
	ErrConfig = errors.New("payment: invalid configuration")
	// ErrBusy is returned by StartSale and Recover while a sale (or a
	// recovery) is in progress: the engine runs one sale at a time.
	ErrBusy = errors.New("payment: a sale is already in progress")
	// ErrJournal is returned when the journal cannot be trusted
	// (Journal.Health reported an error, or recovery could not write):
	// payments are refused (DESIGN.md invariant 8). It wraps the cause.
	ErrJournal = errors.New("payment: journal cannot be trusted, payments refused")
	// ErrAmount is returned by StartSale for an amount that is zero,
	// negative, in another currency, or above a payment limit (the
	// per-transaction, per-entry-mode or daily maximum); the message names
	// the limit, and a limit's refusal also matches risk.ErrLimit.
	ErrAmount = errors.New("payment: amount not accepted")
	// ErrEntryMode is returned by StartSale for an unknown entry mode.
	ErrEntryMode = errors.New("payment: unknown entry mode")
	// ErrRunning is returned by Run when another Run is already active.
	ErrRunning = errors.New("payment: Run is already running")
)

// Internal classifications used to choose the message a failed sale ends
// with. They never leave the package unwrapped.
var (
	// errJournalOp marks a journal call that failed during a sale or a
	// background pass.
	errJournalOp = errors.New("journal")
	// errReversalNotSent marks a reversal the host did not acknowledge.
	errReversalNotSent = errors.New("reversal not acknowledged")
	// errPrintedNotDequeued marks a receipt that printed but could not be
	// removed from the print queue.
	errPrintedNotDequeued = errors.New("printed but not removed from the queue")
)
