// Package txn is the terminal's transaction model: the record the journal
// keeps, the states a transaction moves through, the one table of legal
// state transitions, and the card data shapes a card source can deliver.
//
// It has no I/O. The store package persists these records; the payment
// package drives them; both validate state changes through CanTransition.
package txn

import (
	"errors"
	"fmt"
	"time"

	"github.com/posagent/posagent/core/money"
)

// Type is what the transaction does to the cardholder's account.
type Type string

// Transaction types.
const (
	Sale   Type = "sale"
	Void   Type = "void"
	Refund Type = "refund"
)

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return t == Sale || t == Void || t == Refund }

// EntryMode is how the card data reached the terminal.
type EntryMode string

// Entry modes.
const (
	Contactless EntryMode = "contactless"
	Keyed       EntryMode = "keyed"
	QR          EntryMode = "qr"
)

// Valid reports whether m is a known entry mode.
func (m EntryMode) Valid() bool { return m == Contactless || m == Keyed || m == QR }

// State is where a journaled transaction stands. The set is closed: only
// the states below exist, and only the moves in transitions are legal.
type State string

// Journal states.
const (
	// Pending: journaled with its identity and sealed card data; a request
	// may be about to leave or be in flight. Its outcome is not known.
	Pending State = "pending"
	// Approved: the acquirer approved it online. Final, acknowledged.
	Approved State = "approved"
	// Declined: the acquirer declined it online. Final, acknowledged.
	Declined State = "declined"
	// StoredOffline: approved by the terminal under the offline risk
	// limits, waiting in the outbox to be forwarded.
	StoredOffline State = "stored_offline"
	// ReversalPending: a request left without a valid answer; a reversal
	// waits in the reversal queue and blocks new online requests.
	ReversalPending State = "reversal_pending"
	// Reversed: the acquirer acknowledged the reversal. Final.
	Reversed State = "reversed"
	// ReversalFailed: the reversal was retried the configured number of
	// times without an answer; flagged for manual handling. Not final:
	// a technician's retry may still move it to Reversed.
	ReversalFailed State = "reversal_failed"
	// ForwardedApproved: a stored-offline transaction that the acquirer
	// approved when it was forwarded. Final, acknowledged.
	ForwardedApproved State = "forwarded_approved"
	// ForwardedDeclined: a stored-offline transaction that the acquirer
	// declined when it was forwarded: the merchant must be told. Final.
	ForwardedDeclined State = "forwarded_declined"
	// Expired: a stored-offline transaction that could not be forwarded
	// within the hard limit. Kept, visible, alarmed. Final.
	Expired State = "expired"
	// Aborted: journaled but provably never sent (the link could not be
	// opened, or offline was refused). Final; nothing to reverse.
	Aborted State = "aborted"
)

// States lists every state, in display order.
var States = []State{Pending, Approved, Declined, StoredOffline, ReversalPending,
	Reversed, ReversalFailed, ForwardedApproved, ForwardedDeclined, Expired, Aborted}

var transitions = map[State][]State{
	Pending:           {Approved, Declined, StoredOffline, ReversalPending, Aborted},
	StoredOffline:     {ForwardedApproved, ForwardedDeclined, Expired},
	ReversalPending:   {Reversed, ReversalFailed},
	ReversalFailed:    {Reversed, ReversalPending}, // a technician's retry puts it back in the queue
	Approved:          {ReversalPending},           // e.g. approval arrived but the card/receipt step failed and the sale is undone
	Declined:          nil,
	Reversed:          nil,
	ForwardedApproved: nil,
	ForwardedDeclined: nil,
	Expired:           nil,
	Aborted:           nil,
}

// ErrIllegalTransition is wrapped by CanTransition's refusals.
var ErrIllegalTransition = errors.New("txn: illegal state transition")

// Valid reports whether s is a known state.
func (s State) Valid() bool { _, ok := transitions[s]; return ok }

// CanTransition is the one place state changes are validated. It returns
// nil if a transaction in from may move to to, and an error naming both
// states otherwise.
func CanTransition(from, to State) error {
	next, ok := transitions[from]
	if !ok {
		return fmt.Errorf("%w: unknown state %q", ErrIllegalTransition, from)
	}
	for _, s := range next {
		if s == to {
			return nil
		}
	}
	return fmt.Errorf("%w: %s -> %s", ErrIllegalTransition, from, to)
}

// Final reports whether no further transition is possible from s.
func (s State) Final() bool { return len(transitions[s]) == 0 && s.Valid() }

// Acknowledged reports whether the acquirer has given its final word on a
// transaction in state s, so the data sealed for forwarding must be gone.
func (s State) Acknowledged() bool {
	switch s {
	case Approved, Declined, Reversed, ForwardedApproved, ForwardedDeclined:
		return true
	}
	return false
}

// KeepsNoCardData reports whether a transaction in s must hold no sealed
// card data: the acquirer has given its final word (Acknowledged), or the
// request provably never left and never will (Aborted). Expired keeps its
// sealed data: the acquirer may still take it by a manual submission, and
// that is a decision for the merchant and the acquirer, not the terminal.
func (s State) KeepsNoCardData() bool { return s.Acknowledged() || s == Aborted }

// DefaultReversalSpacing is the least time between two counted attempts of
// one reversal, doubled after each further unacknowledged attempt
// (ReversalDue). With DESIGN.md's 3 attempts, a reversal is flagged for
// manual handling no sooner than 45 s after its first attempt, however
// many senders (the engine, the forwarder) and kicks there are.
const DefaultReversalSpacing = 15 * time.Second

// ReversalDue reports whether a pending reversal may be attempted at now:
// at once when it was never attempted, otherwise spacing after its last
// counted attempt (Updated), doubled for each attempt after the first.
// A last attempt stamped in the future (the clock went back) does not
// hold it back: an extra attempt is harmless, a reversal stuck behind a
// wrong stamp is not (invariant 10).
func (r Record) ReversalDue(now time.Time, spacing time.Duration) bool {
	next := r.NextReversalAttempt(spacing)
	return next.IsZero() || now.Before(r.Updated) || !now.Before(next)
}

// NextReversalAttempt is when ReversalDue becomes true (the zero time when
// it already is at the last attempt's stamp).
func (r Record) NextReversalAttempt(spacing time.Duration) time.Time {
	if r.Attempts <= 0 || spacing <= 0 {
		return time.Time{}
	}
	return r.Updated.Add(spacing << min(r.Attempts-1, 6))
}

// InOutbox reports whether a transaction in s must be in the outbox
// (stored, waiting to be forwarded).
func (s State) InOutbox() bool { return s == StoredOffline }

// NeedsReversal reports whether a transaction in s must be in the reversal
// queue.
func (s State) NeedsReversal() bool { return s == ReversalPending || s == ReversalFailed }

// ID is a transaction's local identifier, unique on this terminal:
// "<batch>-<invoice>" style strings are not used because they wrap; the
// store assigns a monotonically increasing sequence formatted as
// 16 hex digits.
type ID string

// Identity is what the acquirer knows the transaction by. It is fixed when
// the transaction is journaled, in the same bbolt transaction that advances
// the counters (DESIGN.md invariant 3), and reused for every retransmission.
type Identity struct {
	TID     string `json:"tid"`     // terminal ID, field 41 (8)
	MID     string `json:"mid"`     // merchant ID, field 42 (15)
	Batch   uint32 `json:"batch"`   // batch number 000001-999999 (field 60.2)
	STAN    uint32 `json:"stan"`    // system trace audit number 000001-999999 (field 11)
	Invoice uint32 `json:"invoice"` // invoice/voucher number 000001-999999
}

// Outcome is what the acquirer (or the offline decision) said.
type Outcome struct {
	ResponseCode string `json:"response_code,omitempty"` // field 39, e.g. "00"
	AuthCode     string `json:"auth_code,omitempty"`     // field 38
	RRN          string `json:"rrn,omitempty"`           // field 37, retrieval reference number
	Message      string `json:"message,omitempty"`       // reason shown to the merchant
	HostTime     string `json:"host_time,omitempty"`     // fields 12/13 as sent back, if any
}

// Change is one entry of a transaction's history.
type Change struct {
	At     time.Time `json:"at"` // UTC wall time
	From   State     `json:"from,omitempty"`
	To     State     `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Record is a journaled transaction. It never holds clear card data: the
// data needed to forward it lives in Sealed until the acquirer acknowledges.
type Record struct {
	ID        ID           `json:"id"`
	Type      Type         `json:"type"`
	Entry     EntryMode    `json:"entry"`
	Amount    money.Amount `json:"amount"`
	State     State        `json:"state"`
	Offline   bool         `json:"offline"` // approved offline (deferred authorisation)
	Identity  Identity     `json:"identity"`
	Outcome   Outcome      `json:"outcome"`
	Original  *Identity    `json:"original,omitempty"` // for voids and refunds
	Scheme    string       `json:"scheme,omitempty"`   // "UnionPay", "Visa", "Mastercard", "WeChat Pay", ...
	MaskedPAN string       `json:"masked_pan,omitempty"`
	// PANHash is a keyed hash (HMAC-SHA-256 under a key derived from the
	// device key) of the PAN, hex-encoded: lets reports group by card
	// without the PAN (PCI DSS 3.5.1.1).
	PANHash string `json:"pan_hash,omitempty"`
	// Sealed is the AES-256-GCM sealed Sensitive data; nil once wiped.
	Sealed   []byte    `json:"sealed,omitempty"`
	Created  time.Time `json:"created"` // UTC
	Updated  time.Time `json:"updated"` // UTC
	History  []Change  `json:"history"`
	Attempts int       `json:"attempts,omitempty"` // forward or reversal attempts so far
}

// Sensitive is the card data needed to forward a transaction. It exists in
// clear only in memory; the store seals it before it touches disk. CVV is
// deliberately absent: it is used for one keyed request and never stored.
type Sensitive struct {
	// Clear card data (a reader that hands the terminal the card data).
	PAN    string `json:"pan,omitempty"`
	Expiry string `json:"expiry,omitempty"` // YYMM
	// Track2 is the track 2 equivalent data (EMV tag 57) as hex digits,
	// with "D" as separator.
	Track2 string           `json:"track2,omitempty"`
	PANSeq string           `json:"pan_seq,omitempty"` // tag 5F34, field 23
	ICC    []byte           `json:"icc,omitempty"`     // field 55 TLV bytes
	QRCode string           `json:"qr_code,omitempty"` // customer payment code
	Reader *ReaderEncrypted `json:"reader,omitempty"`
}

// ReaderEncrypted is card data a secure card reader encrypted inside
// itself (SRED/P2PE style): the terminal can forward it but never read it.
type ReaderEncrypted struct {
	KSN        []byte `json:"ksn"`        // key serial number (DUKPT)
	Format     string `json:"format"`     // reader's data format name
	Ciphertext []byte `json:"ciphertext"` // encrypted PAN/track data
}

// Empty reports whether s holds nothing worth sealing.
func (s *Sensitive) Empty() bool {
	return s == nil || (s.PAN == "" && s.Expiry == "" && s.Track2 == "" && s.PANSeq == "" &&
		len(s.ICC) == 0 && s.QRCode == "" && s.Reader == nil)
}
