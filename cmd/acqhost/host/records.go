package host

import "time"

// Class is the dedupe class of a request: together with TID, batch and
// STAN it identifies a message exactly once (docs/dialect.md "Identity").
type Class string

// Classes. The dialect names financial, advice, reversal and settlement;
// batch (0320) is ours, since batch upload messages carry their own STANs.
const (
	ClassFinancial  Class = "financial"  // 0200 (sale, QR sale, void)
	ClassAdvice     Class = "advice"     // 0220/0221 (refund, offline sale)
	ClassReversal   Class = "reversal"   // 0400/0401
	ClassBatch      Class = "batch"      // 0320 (batch upload, batch end)
	ClassSettlement Class = "settlement" // 0500
)

// letter is the one-byte tag of c in store keys.
func (c Class) letter() byte {
	switch c {
	case ClassFinancial:
		return 'F'
	case ClassAdvice:
		return 'A'
	case ClassReversal:
		return 'R'
	case ClassBatch:
		return 'B'
	case ClassSettlement:
		return 'S'
	}
	return '?'
}

// Kind is what a recorded message was.
type Kind string

// Kinds of recorded messages.
const (
	KindSale        Kind = "sale"         // 0200, 60.1 = 22, card
	KindQRSale      Kind = "qr-sale"      // 0200, 60.1 = 22, payment code in 62
	KindVoid        Kind = "void"         // 0200, 60.1 = 23
	KindRefund      Kind = "refund"       // 0220, 60.1 = 25
	KindOffline     Kind = "offline-sale" // 0220/0221, 60.1 = 30
	KindReversal    Kind = "reversal"     // 0400/0401
	KindBatchUpload Kind = "batch-upload" // 0320, 60.3 = 201/203
	KindBatchEnd    Kind = "batch-end"    // 0320, 60.3 = 202/207
	KindSettlement  Kind = "settlement"   // 0500
)

// State is where a recorded message stands at the host.
type State string

// States.
const (
	// StateApproved: an online sale, QR sale, void or refund the host
	// approved (F39 00).
	StateApproved State = "approved"
	// StateDeclined: answered with a decline code.
	StateDeclined State = "declined"
	// StateOfflineApproved: an offline sale advice the host accepted.
	StateOfflineApproved State = "offline-approved"
	// StateVoided: an approved sale a later approved void cancelled.
	StateVoided State = "voided"
	// StateReversed: undone by a reversal (or arrived after its
	// reversal).
	StateReversed State = "reversed"
	// StateReversalApplied: a reversal that undid its original.
	StateReversalApplied State = "reversal-applied"
	// StateReversalUnknown: a reversal for a transaction the host never
	// saw; answered 00 and kept, so a late original is not approved.
	StateReversalUnknown State = "reversal-of-unknown"
	// StateReversalNoop: a reversal of a declined (or already undone)
	// transaction; answered 00, nothing changed.
	StateReversalNoop State = "reversal-no-op"
	// StateRecorded: a batch upload or batch end message, kept.
	StateRecorded State = "recorded"
	// StateBalanced and StateNotBalanced: the result of a settlement.
	StateBalanced    State = "balanced"
	StateNotBalanced State = "not-balanced"
)

// Ref names another transaction of the same terminal: the original of a
// void, refund or reversal.
type Ref struct {
	Batch string `json:"batch"`
	STAN  string `json:"stan"`
	// Date is the original's date MMDD, as a refund's field 61 gives it.
	Date string `json:"date,omitempty"`
}

// Txn is one message the host received and answered (or deliberately did
// not answer), as shown by `acqhost ls` and the admin API. It never holds
// a full PAN or payment code: MaskedPAN is first 6 / last 4.
type Txn struct {
	// Time is when the host first received it (UTC, host clock).
	Time     time.Time `json:"time"`
	Updated  time.Time `json:"updated"`
	TID      string    `json:"tid"`
	MID      string    `json:"mid"`
	Batch    string    `json:"batch"`
	STAN     string    `json:"stan"`
	MTI      string    `json:"mti"` // of the first request received
	Class    Class     `json:"class"`
	Kind     Kind      `json:"type"`
	Amount   int64     `json:"amount"` // minor units, field 4
	Currency string    `json:"currency,omitempty"`
	// MaskedPAN is the masked card number, or the masked payment code of
	// a QR sale.
	MaskedPAN string `json:"masked_pan,omitempty"`
	// Org is the card organisation or wallet sent in field 63.
	Org      string `json:"org,omitempty"`
	Domestic bool   `json:"domestic"`
	RC       string `json:"rc"`
	AuthCode string `json:"auth_code,omitempty"`
	RRN      string `json:"rrn,omitempty"`
	State    State  `json:"state"`
	Orig     *Ref   `json:"orig,omitempty"`
	// Refunded is the sum of approved refunds against this sale.
	Refunded int64 `json:"refunded,omitempty"`
	// Records is the record count of a batch upload (48, n2) or the total
	// a batch end announced (48, n4).
	Records int `json:"records,omitempty"`
	// Repeats counts retransmissions answered from the store.
	Repeats int `json:"repeats"`
	// NoAnswer is set when the amount-98 rule suppressed the answer.
	NoAnswer bool   `json:"no_answer,omitempty"`
	Note     string `json:"note,omitempty"`
}

// storedTxn is a Txn with the answer it was given (packed body without
// MAC) and the fingerprint that tells a true repeat from a reused STAN.
type storedTxn struct {
	Txn
	Answer      []byte `json:"answer,omitempty"`
	Fingerprint string `json:"fp"`
}

// Totals are one half of settlement field 48: debit (sales and offline
// sales minus voids) and credit (refunds), amounts in minor units.
type Totals struct {
	DebitAmount  int64 `json:"debit_amount"`
	DebitCount   int   `json:"debit_count"`
	CreditAmount int64 `json:"credit_amount"`
	CreditCount  int   `json:"credit_count"`
}

// TotalsPair are the domestic and foreign totals of a batch.
type TotalsPair struct {
	Domestic Totals `json:"domestic"`
	Foreign  Totals `json:"foreign"`
}

// Settlement is the outcome of one 0500 for a batch.
type Settlement struct {
	Time     time.Time  `json:"time"`
	STAN     string     `json:"stan"`
	Terminal TotalsPair `json:"terminal"`
	Host     TotalsPair `json:"host"`
	// DomesticDigit and ForeignDigit are the reconciliation digits sent
	// back in field 48: "1" balanced, "2" not balanced.
	DomesticDigit string `json:"domestic_digit"`
	ForeignDigit  string `json:"foreign_digit"`
	Balanced      bool   `json:"balanced"`
}

// BatchState is where a terminal's batch stands.
type BatchState string

// Batch states.
const (
	BatchOpen BatchState = "open"
	// BatchSettling: a settlement did not balance; the host waits for
	// batch upload and batch end.
	BatchSettling BatchState = "settling"
	BatchClosed   BatchState = "closed"
)

// Batch is one batch of one terminal.
type Batch struct {
	TID    string     `json:"tid"`
	Batch  string     `json:"batch"`
	State  BatchState `json:"state"`
	Opened time.Time  `json:"opened"`
	Closed time.Time  `json:"closed,omitzero"`
	// Settlement is the last settlement (0500) for the batch.
	Settlement *Settlement `json:"settlement,omitempty"`
	// UploadMessages and UploadRecords count batch upload messages and
	// the records they announced (48, n2).
	UploadMessages int `json:"upload_messages"`
	UploadRecords  int `json:"upload_records"`
	// EndTotal is the total a batch end announced (48, n4); EndCode its
	// 60.3 (202, or 207 after an unbalanced settlement).
	EndTotal int    `json:"end_total,omitempty"`
	EndCode  string `json:"end_code,omitempty"`
	// Host is what the host holds for the batch now, computed when
	// listed.
	Host TotalsPair `json:"host"`
}
