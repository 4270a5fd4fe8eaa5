// Package sync is the store-and-forward forwarder: it drains the journal's
// outbox to the acquirer when the link is up, exactly once per transaction
// at the host, and keeps what it cannot send visible.
//
// One pass (Forwarder.Drain) works from a snapshot of the journal:
//
//  1. Expiry: a stored-offline record past the hard stop (72 h) moves to
//     txn.Expired, with an alarm and a Notice; it is never deleted. A
//     wall-clock jump alone expires nothing (see docs/forwarder.md).
//  2. Reversals first (DESIGN.md invariant 4): each txn.ReversalPending
//     record is reversed, one at a time, in journal order; a reversal not
//     acknowledged counts an attempt and, after ReversalRetries, becomes
//     txn.ReversalFailed (alarm, Notice). While one is still pending no
//     stored transaction is sent.
//  3. Forwarding: the stored-offline records of the snapshot, in journal
//     order, with up to Window advices (0220, repeat 0221) in flight at
//     once on the acquirer's one connection. Results are committed in
//     groups, several acknowledgements per fsync (Journal.TransitionMany).
//
// Passes are single-flight: a Drain called while one runs joins it. Sales
// stored during a pass are left to the next one. Every retransmission
// reuses the identity the journal fixed (invariant 3), so a crash between
// a send and its commit costs a resend that the host answers from its
// dedupe, never a second charge.
//
// Run is the background loop: it drains when kicked (a new offline sale,
// `posagent sync`), when the link comes back (it subscribes to the link
// monitor, core/link), after a backoff when a pass was incomplete, and on
// an idle interval (expiry sweeps).
//
// docs/forwarder.md describes the rules and the reasons for them.
package sync

import (
	"context"
	"errors"
	"time"

	"github.com/posagent/posagent/core/link"
	"github.com/posagent/posagent/core/txn"
)

// AnswerKind is what the forwarder does with the host's answer to an
// offline advice.
type AnswerKind uint8

// Kinds of answer. cmd maps core/acquirer's Kind onto these (docs/forwarder.md
// has the table).
const (
	// AnswerApproved: response code 00. The record becomes
	// txn.ForwardedApproved and its sealed data is wiped.
	AnswerApproved AnswerKind = iota + 1
	// AnswerDeclined: the host refused the sale after the fact. The record
	// becomes txn.ForwardedDeclined and the merchant is told (Notice).
	AnswerDeclined
	// AnswerRetry: the host answered but could not process it now (91,
	// 96). An attempt is counted; the next pass sends it again.
	AnswerRetry
	// AnswerReSignIn: 77 or A0 even after the acquirer's own sign-in and
	// retry. Treated as AnswerRetry.
	AnswerReSignIn
	// AnswerNotRegistered: 97 or 03, the host does not know this terminal.
	// The pass stops; nothing is changed.
	AnswerNotRegistered
)

// String returns the kind's name.
func (k AnswerKind) String() string {
	switch k {
	case AnswerApproved:
		return "approved"
	case AnswerDeclined:
		return "declined"
	case AnswerRetry:
		return "retry"
	case AnswerReSignIn:
		return "re-sign-in"
	case AnswerNotRegistered:
		return "not-registered"
	}
	return "unknown"
}

// Answer is the host's answer to an offline advice.
type Answer struct {
	Kind AnswerKind
	// Outcome is what the journal records (response code, RRN, auth code,
	// the merchant-facing message).
	Outcome txn.Outcome
}

// Sender sends to the acquirer. cmd adapts core/acquirer's Acquirer to it.
//
// Errors follow core/payment's contract: they wrap payment.ErrUnreachable
// when the request provably did not leave (the pass stops: the link is
// down) and payment.ErrNoResponse when it may have reached the host
// without a valid answer (an attempt is counted and the record is sent
// again later, with the same identity). An error that also wraps
// ErrUnsendable marks a request that can never be built from this record
// (core/acquirer's ErrBadRequest): the record is skipped, alarmed and left
// in the outbox.
type Sender interface {
	// Forward sends the offline advice of rec: 0220, or the repeat 0221
	// when rec.Attempts > 0. A host answer, even a decline, is not an
	// error.
	Forward(ctx context.Context, rec txn.Record, s txn.Sensitive) (Answer, error)
	// Reverse sends the reversal of rec (0400, repeat 0401 when
	// rec.Attempts > 0). A nil error means the host acknowledged it.
	Reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error)
}

// Change is one entry of a group commit: a state transition, or (Attempt)
// one more counted attempt.
type Change struct {
	ID txn.ID
	// To is the new state (checked by txn.CanTransition); empty when
	// Attempt is set.
	To      txn.State
	Outcome txn.Outcome
	// Reason goes into the record's history (the attempt note when
	// Attempt is set).
	Reason string
	// Attempt counts one more forward or reversal attempt, as
	// Journal.NoteAttempt does, instead of moving the record.
	Attempt bool
}

// Journal is what the forwarder needs from the journal; store.Journal
// implements it.
type Journal interface {
	// Outbox returns the stored-offline records in journal order.
	Outbox(ctx context.Context) ([]txn.Record, error)
	// PendingReversals returns the reversal queue (ReversalPending and
	// ReversalFailed records) in journal order.
	PendingReversals(ctx context.Context) ([]txn.Record, error)
	// Unseal returns the card data sealed with a record.
	Unseal(ctx context.Context, id txn.ID) (txn.Sensitive, error)
	// NoteAttempt counts one more attempt, durably.
	NoteAttempt(ctx context.Context, id txn.ID, note string) (txn.Record, error)
	// TransitionMany applies changes in one durable commit (one fsync).
	// Each change is validated on its own: errs[i] reports a change that
	// could not be applied (an illegal move, an unknown record) without
	// failing the others, and recs[i] is the record after change i. err
	// is set only when the commit itself failed, and then nothing was
	// applied.
	TransitionMany(ctx context.Context, changes []Change) (recs []txn.Record, errs []error, err error)
}

// Link is the connectivity monitor as the forwarder uses it;
// *link.Monitor implements it.
type Link interface {
	// Up reports whether the link is believed up.
	Up() bool
	// State returns the link's state, for Status.
	State() link.State
	// Subscribe delivers state changes (latest value first).
	Subscribe() (<-chan link.State, func())
	// MarkUp and MarkDown report each exchange's fate.
	MarkUp()
	MarkDown(err error)
}

var _ Link = (*link.Monitor)(nil)

// Monotonic is implemented by a clock.Clock whose Now readings carry no
// monotonic reading (test clocks): it returns the time elapsed since an
// arbitrary fixed point, unaffected by wall-clock steps. With
// clock.System the forwarder uses Now's own monotonic reading.
type Monotonic interface {
	Monotonic() time.Duration
}

// Errors of the forwarder; Drain's errors wrap them (and the cause).
var (
	// ErrLinkDown: the pass stopped because the host could not be reached
	// (payment.ErrUnreachable), or the link monitor says it is down.
	ErrLinkDown = errors.New("sync: link down")
	// ErrNotRegistered: the host does not know this terminal (97/03).
	ErrNotRegistered = errors.New("sync: terminal unknown to host")
	// ErrReversalPending: a reversal is still unacknowledged, so no stored
	// transaction was sent (DESIGN.md invariant 4).
	ErrReversalPending = errors.New("sync: reversal pending")
	// ErrJournal: the journal could not be read or a commit failed.
	ErrJournal = errors.New("sync: journal")
	// ErrUnsendable: a Sender error for a request that cannot be built
	// from the record (missing or malformed data); retrying cannot help.
	ErrUnsendable = errors.New("sync: request cannot be built from the record")
	// ErrRunning: Run was called while another Run is active.
	ErrRunning = errors.New("sync: forwarder already running")
	// ErrConfig: a Config or Deps value is missing or out of range.
	ErrConfig = errors.New("sync: bad configuration")
)
