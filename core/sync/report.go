package sync

import (
	"time"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// Why a pass stopped before the end of its snapshot (Report.Stopped).
const (
	StopLinkDown        = "link_down"
	StopNotRegistered   = "not_registered"
	StopReversalPending = "reversal_pending"
	StopJournal         = "journal"
	StopCanceled        = "canceled"
)

// Report is the result of one pass.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Joined: this Drain call joined a pass that was already running.
	Joined bool `json:"joined,omitempty"`
	// Outbox is the number of stored-offline records in the pass's
	// snapshot (before expiry).
	Outbox int `json:"outbox"`
	// Approved and Declined were forwarded and acknowledged; Expired were
	// moved to txn.Expired.
	Approved int `json:"approved"`
	Declined int `json:"declined"`
	Expired  int `json:"expired"`
	// Retry counts advices answered "retry later" or not answered: an
	// attempt was counted and the next pass sends them again (0221).
	Retry int `json:"retry"`
	// Skipped counts records that cannot be sent (ErrUnsendable); they
	// stay in the outbox, alarmed, until they expire or are fixed.
	Skipped int `json:"skipped"`
	// NotSent counts records of the snapshot not sent because the pass
	// stopped early.
	NotSent int `json:"not_sent"`
	// Rejected counts results the journal refused to record (the record
	// had moved meanwhile); they are logged.
	Rejected int `json:"rejected,omitempty"`
	// Reversed were acknowledged; ReversalsFailed were flagged
	// txn.ReversalFailed in this pass.
	Reversed        int `json:"reversed"`
	ReversalsFailed int `json:"reversals_failed"`
	// Stopped says why the pass ended early ("" when it did not).
	Stopped string `json:"stopped,omitempty"`
	// Commits counts the journal commits of results (TransitionMany and
	// NoteAttempt calls).
	Commits int `json:"commits"`
	// MaxInFlight is the most advices that were in flight at once.
	MaxInFlight int `json:"max_in_flight"`
}

// Progress is a running pass's progress, for `posagent sync --wait`.
type Progress struct {
	Running bool `json:"running"`
	// Phase is "expiry", "reversals" or "forwarding" while running.
	Phase string `json:"phase,omitempty"`
	// Done counts records acknowledged by the host in this pass; Failed
	// those left for later (retry, skipped); Total the stored records to
	// forward in this pass.
	Done   int `json:"done"`
	Failed int `json:"failed"`
	Total  int `json:"total"`
	// AmountDone and AmountTotal sum the records in Config.Currency.
	AmountDone  money.Amount `json:"amount_done"`
	AmountTotal money.Amount `json:"amount_total"`
	// Elapsed is the pass's duration so far; PerMinute the rate of
	// acknowledgements; ETA the estimated time left (0 when unknown).
	Elapsed   time.Duration `json:"elapsed"`
	PerMinute int64         `json:"per_minute"`
	ETA       time.Duration `json:"eta"`
}

// NoticeKind says what a Notice is about.
type NoticeKind string

// Kinds of notice.
const (
	// NoticeDeclined: a stored sale was declined when forwarded. The
	// merchant must be told: the money will not come.
	NoticeDeclined NoticeKind = "forwarded_declined"
	// NoticeExpired: a stored sale could not be forwarded before the hard
	// stop and is now txn.Expired.
	NoticeExpired NoticeKind = "expired"
	// NoticeReversalFailed: a reversal went unacknowledged ReversalRetries
	// times; manual handling is needed.
	NoticeReversalFailed NoticeKind = "reversal_failed"
	// NoticeUnsendable: a stored sale cannot be sent (its request cannot
	// be built); it stays in the outbox.
	NoticeUnsendable NoticeKind = "unsendable"
	// NoticeNotRegistered: the host does not know this terminal; nothing
	// can be forwarded until a technician fixes it.
	NoticeNotRegistered NoticeKind = "not_registered"
)

// Notice tells the merchant (API event, display, printed note) about an
// outcome that needs attention. The journal holds the same fact durably;
// a notice is sent only after it was committed.
type Notice struct {
	Kind NoticeKind `json:"kind"`
	ID   txn.ID     `json:"id,omitempty"`
	// STAN and Invoice identify the sale as its receipt shows it.
	STAN    uint32 `json:"stan,omitempty"`
	Invoice uint32 `json:"invoice,omitempty"`
	// MaskedPAN is first 6 / last 4 at most, as the journal keeps it.
	MaskedPAN string       `json:"masked_pan,omitempty"`
	Amount    money.Amount `json:"amount"`
	// Code is the host's response code, Message the merchant-facing text.
	Code    string    `json:"code,omitempty"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// noticeBuffer is how many notices wait for a reader before new ones are
// dropped (logged; the journal keeps the facts).
const noticeBuffer = 256

// Notices returns the channel notices are delivered on. There is one
// channel for the forwarder; it is never closed. When nobody reads and
// noticeBuffer notices are waiting, new ones are dropped with a log line.
func (f *Forwarder) Notices() <-chan Notice { return f.notices }

// notify sends a notice without blocking.
func (f *Forwarder) notify(n Notice) {
	n.At = f.wall()
	select {
	case f.notices <- n:
	default:
		f.log.Warn("notice dropped: nobody is reading notices (the journal has the outcome)",
			"kind", n.Kind, "txn", n.ID)
	}
}

// noticeFor builds a notice about rec.
func noticeFor(kind NoticeKind, rec txn.Record, msg string) Notice {
	if msg == "" {
		msg = rec.Outcome.Message
	}
	return Notice{Kind: kind, ID: rec.ID, STAN: rec.Identity.STAN, Invoice: rec.Identity.Invoice,
		MaskedPAN: rec.MaskedPAN, Amount: rec.Amount, Code: rec.Outcome.ResponseCode, Message: msg}
}

// Progress returns the current (or last) pass's progress.
func (f *Forwarder) Progress() Progress {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.progress
}

// WatchProgress returns a channel that receives the progress at once and
// after every change (latest value only: a slow reader skips
// intermediate values). cancel ends the subscription.
func (f *Forwarder) WatchProgress() (<-chan Progress, func()) {
	ch := make(chan Progress, 1)
	f.mu.Lock()
	id := f.nextSub
	f.nextSub++
	f.progSubs[id] = ch
	ch <- f.progress
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.progSubs, id)
		f.mu.Unlock()
	}
}

// updateProgress changes the progress under the lock, fills in the rate
// and ETA, and publishes it.
func (f *Forwarder) updateProgress(fn func(p *Progress), startMono time.Duration) {
	el := f.elapsed() - startMono
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &f.progress
	fn(p)
	p.Elapsed = max(el, 0)
	p.PerMinute, p.ETA = 0, 0
	if p.Done > 0 && p.Elapsed > 0 {
		p.PerMinute = int64(p.Done) * int64(time.Minute) / int64(p.Elapsed)
		if left := p.Total - p.Done - p.Failed; left > 0 {
			p.ETA = time.Duration(int64(p.Elapsed) / int64(p.Done) * int64(left))
		}
	}
	for _, ch := range f.progSubs {
		select {
		case ch <- *p:
			continue
		default:
		}
		select {
		case <-ch:
		default:
		}
		select {
		case ch <- *p:
		default:
		}
	}
}
