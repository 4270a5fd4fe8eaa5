// Package payment is the payment spine: the state machine that takes one
// sale from "amount confirmed" to "receipt printed", independent of any
// device or network. It talks to the world only through the small
// interfaces declared in this file; drivers, the ISO 8583 link and the
// bbolt journal implement them, board and cmd wire them together, and
// tests use fakes.
//
// Journal first (DESIGN.md invariant 1) is enforced here: the engine calls
// the Acquirer only after Journal.Create returned (the record is durable),
// and it emits an outcome event or prints only after Journal.Transition
// returned (the outcome is durable).
package payment

import (
	"context"
	"errors"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

// CardRequest is what a card source needs to read a card for a payment
// (the EMV PDOL data comes from it: amount, currency, type, date,
// unpredictable number).
type CardRequest struct {
	Amount        money.Amount
	Type          txn.Type
	Modes         []txn.EntryMode // accepted entry modes
	Date          time.Time
	Unpredictable [4]byte
	// Prompt, when set, is how a source tells the customer what to do
	// while it keeps waiting ("present one card only", "card removed, tap
	// again"); the engine shows it as a waiting_for_card event. It must
	// not block.
	Prompt func(msg string) `json:"-"`
}

// CardSource delivers card data: a contactless reader, a QR scanner, a
// keypad for keyed entry, or several of them merged.
type CardSource interface {
	// ReadCard waits for a card (or payment code) until ctx is done.
	ReadCard(ctx context.Context, req CardRequest) (card.Data, error)
}

// AuthRequest is an authorisation request for a journaled transaction.
type AuthRequest struct {
	Record    txn.Record    // identity, amount, type, entry: fixed at journal time
	Sensitive txn.Sensitive // clear in memory only
	CVV       string        // keyed entry only; never journaled
}

// AuthResponse is the acquirer's answer.
type AuthResponse struct {
	Approved bool
	Outcome  txn.Outcome
}

// Acquirer errors. An Acquirer must wrap one of these so the engine knows
// whether the request may have reached the host.
var (
	// ErrUnreachable: the request provably did not leave the terminal (no
	// connection could be made). Nothing to reverse.
	ErrUnreachable = errors.New("acquirer unreachable")
	// ErrNoResponse: the request was (or may have been) sent and no valid
	// answer came in time, or the answer failed its MAC. A reversal is due.
	ErrNoResponse = errors.New("no valid response from acquirer")
	// ErrCardData: the request cannot be built from this card's data (a
	// missing or malformed field). Wrapped together with ErrUnreachable:
	// nothing left the terminal, so there is nothing to reverse — and the
	// sale must not be stored offline either, since its advice could never
	// be forwarded.
	ErrCardData = errors.New("card data cannot be sent to the acquirer")
	// ErrSharedAttempt is wrapped (with the attempt's own error) by a
	// Reverse that joined a reversal of the same transaction already on
	// the wire for another caller: one request left, and the caller that
	// sent it counts the attempt. The joiner must not count it again.
	ErrSharedAttempt = errors.New("reversal attempt shared with another caller")
)

// Acquirer sends requests to the acquirer host.
type Acquirer interface {
	Authorize(ctx context.Context, req AuthRequest) (AuthResponse, error)
	// Reverse asks the host to undo the request identified by rec. A nil
	// error means the host acknowledged the reversal.
	Reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error)
}

// Printer prints a laid-out receipt. It returns ErrPaperOut (wrapped) when
// the printer has no paper, so the job stays queued.
type Printer interface {
	Print(ctx context.Context, r receipt.Receipt) error
}

// ErrPaperOut is returned (wrapped) by a Printer with no paper.
var ErrPaperOut = errors.New("printer: paper out")

// Signal is what the status lights and buzzer show.
type Signal string

// Signals, after the EMV contactless four-light convention.
const (
	SignalIdle       Signal = "idle"
	SignalReady      Signal = "ready"      // waiting for a card: first light
	SignalProcessing Signal = "processing" // card read: lights 1-3
	SignalSuccess    Signal = "success"    // all four lights, success tone
	SignalAlert      Signal = "alert"      // decline or error, alert tone
)

// Indicator drives lights and buzzer. It must not block for long; errors
// are the indicator's own business (a broken LED never stops a sale).
type Indicator interface {
	Indicate(ctx context.Context, s Signal)
}

// Draft is what the engine journals for a new transaction; the journal
// adds the ID, the identity (counters), the PAN hash and the seal.
type Draft struct {
	Type      txn.Type
	Entry     txn.EntryMode
	Amount    money.Amount
	Scheme    string
	MaskedPAN string
	Original  *txn.Identity
}

// PrintJob is a receipt waiting in the durable print queue.
type PrintJob struct {
	Seq     uint64          `json:"seq"`
	Receipt receipt.Receipt `json:"receipt"`
	Queued  time.Time       `json:"queued"`
}

// Journal is the durable record of transactions. Every method that
// changes something returns only after the change is committed to disk
// (fsync returned), or with an error and no change.
type Journal interface {
	// Create journals a new pending transaction: it assigns the ID and
	// the identity (STAN, batch, invoice) in the same commit that advances
	// the counters, seals s, and stores the masked PAN and keyed PAN hash.
	Create(ctx context.Context, d Draft, s *txn.Sensitive) (txn.Record, error)
	// Transition moves a transaction to a new state, validated by
	// txn.CanTransition, recording the outcome and the reason in its
	// history. Moving into a state that keeps no card data (acknowledged,
	// aborted: txn.State.KeepsNoCardData) wipes the sealed data;
	// the outbox and reversal queue follow the state in the same commit.
	Transition(ctx context.Context, id txn.ID, to txn.State, out txn.Outcome, reason string) (txn.Record, error)
	// NoteAttempt counts one more forward or reversal attempt and stamps
	// Updated with its time (txn.Record.ReversalDue spaces the next
	// attempt from it).
	NoteAttempt(ctx context.Context, id txn.ID, note string) (txn.Record, error)
	// Get returns one record.
	Get(ctx context.Context, id txn.ID) (txn.Record, error)
	// Unseal returns the sensitive data of a transaction that still has it.
	Unseal(ctx context.Context, id txn.ID) (txn.Sensitive, error)
	// PendingReversals returns the reversal queue in journal order.
	PendingReversals(ctx context.Context) ([]txn.Record, error)
	// Pending returns every transaction still in state txn.Pending, in
	// journal order. Outside a sale in progress such a record is one whose
	// outcome was never journaled (a crash, or a journal error after the
	// request left); Engine.Recover moves each one to ReversalPending.
	Pending(ctx context.Context) ([]txn.Record, error)
	// QueuePrint adds receipts to the durable print queue.
	QueuePrint(ctx context.Context, rs ...receipt.Receipt) ([]PrintJob, error)
	// PrintQueue returns the waiting print jobs in order.
	PrintQueue(ctx context.Context) ([]PrintJob, error)
	// PrintDone removes a printed job from the queue.
	PrintDone(ctx context.Context, seq uint64) error
	// Health returns nil if the journal can be trusted, or why not.
	Health() error
}
