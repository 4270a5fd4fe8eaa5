package payment

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// Step is where a sale stands, as shown to the merchant.
type Step string

// Steps of a sale, in the order they can occur. A sale ends with exactly
// one of StepDone, StepFailed or StepCancelled (the event marked Final).
const (
	StepAmountConfirmed Step = "amount_confirmed" // amount accepted, sale started
	StepWaitingForCard  Step = "waiting_for_card" // reader polling, first light on
	StepCardRead        Step = "card_read"        // card data read (masked PAN in the message)
	StepAuthorising     Step = "authorising"      // journaled; request to the acquirer
	StepApproved        Step = "approved"         // approval journaled
	StepDeclined        Step = "declined"         // decline journaled; Message is the reason
	// StepStoredOffline: approved offline under the risk limits and
	// journaled as txn.StoredOffline (deferred authorisation): "stored, not
	// yet authorised". The forwarder sends it when the link is back.
	StepStoredOffline   Step = "stored_offline"
	StepReversalPending Step = "reversal_pending" // no valid answer; a reversal is due
	StepPrinting        Step = "printing"         // receipts queued durably and printing
	StepDone            Step = "done"             // final: sale completed (approved or declined)
	StepFailed          Step = "failed"           // final: sale did not complete; Message says why
	StepCancelled       Step = "cancelled"        // final: cancelled before anything was sent
)

// Final reports whether s ends a sale.
func (s Step) Final() bool { return s == StepDone || s == StepFailed || s == StepCancelled }

// Event is one step of a sale as the local API shows it. Record, when set,
// is the journaled record with its sealed data removed; treat it as
// read-only (subscribers share it).
type Event struct {
	Seq     int         `json:"seq"` // 1, 2, ... within the session
	At      time.Time   `json:"at"`  // UTC
	Step    Step        `json:"step"`
	TxnID   txn.ID      `json:"txn_id,omitempty"`
	State   txn.State   `json:"state,omitempty"`
	Message string      `json:"message,omitempty"`
	Record  *txn.Record `json:"record,omitempty"`
	Final   bool        `json:"final"`
}

// Result is how a sale ended.
type Result struct {
	// Step is the final step (done, failed or cancelled); before the sale
	// ends it is the latest step.
	Step Step `json:"step"`
	// Outcome is the deciding step: approved, declined, reversal_pending,
	// failed or cancelled. Empty before the sale ends.
	Outcome Step `json:"outcome,omitempty"`
	// Record is the journaled record (sealed data removed), if any.
	Record *txn.Record `json:"record,omitempty"`
	// Message is the merchant-facing summary of the final event.
	Message string `json:"message,omitempty"`
	// Error is set when the sale did not complete (failed or cancelled).
	Error string `json:"error,omitempty"`
}

// SaleRequest asks for one sale.
type SaleRequest struct {
	Amount money.Amount
	// Modes are the accepted entry modes; empty means all.
	Modes []txn.EntryMode
}

// liveBuffer is the capacity of a subscriber's channel. A sale emits at
// most ten events, so a subscriber can never fill it; one that somehow
// does is dropped (its channel closed) rather than blocking the sale.
const liveBuffer = 32

// Session is one sale in progress or finished. Its methods are safe for
// concurrent use.
type Session struct {
	id  string
	req SaleRequest
	clk clock.Clock

	// merchant is cancelled by Cancel; the card wait derives from it.
	merchant context.Context
	cancel   context.CancelFunc
	// life is the sale's own context: cancelled when the session ends, so
	// that a sale the supervisor took over stops its remaining waits.
	life    context.Context
	endLife context.CancelFunc
	// today is the local day's sales total when the sale started (only
	// read when a daily maximum is set).
	today int64

	done chan struct{}

	mu     sync.Mutex
	events []Event
	subs   map[chan Event]struct{}
	final  bool
	result Result

	// Supervision, guarded by mu.
	owner    owner
	deadline time.Time   // end of the current bounded wait, plus the margin
	rec      *txn.Record // the journaled record the sale works on, if any
	outcome  Step        // set once rec's outcome is durable
}

// owner says who may end a session.
type owner int

const (
	ownedBySale       owner = iota // the sale goroutine is running it
	ownedByFinish                  // the sale returned and is ending it
	ownedBySupervisor              // the supervisor took it over (wedged)
)

func newSession(id string, req SaleRequest, clk clock.Clock, base context.Context) *Session {
	s := &Session{id: id, req: req, clk: clk, done: make(chan struct{}), subs: map[chan Event]struct{}{}}
	s.merchant, s.cancel = context.WithCancel(base)
	s.life, s.endLife = context.WithCancel(base)
	return s
}

// expect moves the supervision deadline to until if that is later.
func (s *Session) expect(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.After(s.deadline) {
		s.deadline = until
	}
}

// journaled records that the sale now works on rec, whose outcome is not
// durable yet. It returns false if the supervisor has taken the session
// over: the caller must then leave rec to the supervisor's decision.
func (s *Session) journaled(rec txn.Record) bool {
	return s.track(rec, "")
}

// decided records that rec's outcome (step) is durable. It returns false if
// the supervisor has taken the session over.
func (s *Session) decided(rec txn.Record, step Step) bool {
	return s.track(rec, step)
}

func (s *Session) track(rec txn.Record, step Step) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner == ownedBySupervisor {
		return false
	}
	s.rec, s.outcome = masked(rec), step
	return true
}

// abandoned reports whether the supervisor took the session over; the sale
// goroutine then stops without further side effects.
func (s *Session) abandoned() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner == ownedBySupervisor
}

// finishing claims the session's end for the sale goroutine. It returns
// false if the supervisor already took it over.
func (s *Session) finishing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner == ownedBySupervisor {
		return false
	}
	s.owner = ownedByFinish
	return true
}

// wedge is what the supervisor found when it took a session over.
type wedge struct {
	step    Step          // the latest step
	stuck   time.Duration // how long past the deadline's wait start
	rec     *txn.Record
	outcome Step
}

// takeOver hands the session to the supervisor if its deadline has passed
// at now and the sale is not already ending.
func (s *Session) takeOver(now time.Time) (wedge, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner != ownedBySale || s.final || !now.After(s.deadline) {
		return wedge{}, false
	}
	s.owner = ownedBySupervisor
	w := wedge{stuck: now.Sub(s.deadline), rec: s.rec, outcome: s.outcome}
	if n := len(s.events); n > 0 {
		w.step = s.events[n-1].Step
		w.stuck = now.Sub(s.events[n-1].At)
	}
	return w, true
}

// ID returns the session identifier.
func (s *Session) ID() string { return s.id }

// Request returns what was asked for.
func (s *Session) Request() SaleRequest { return s.req }

// Done is closed once the final event has been emitted.
func (s *Session) Done() <-chan struct{} { return s.done }

// Cancel asks the sale to stop. It takes effect while waiting for a card
// (or before): the sale ends cancelled and nothing is journaled. Once the
// card has been read and the transaction journaled the request may leave
// at any moment, and a cancel can no longer undo it: the acquirer's
// outcome decides. Cancel is idempotent.
func (s *Session) Cancel() { s.cancel() }

// cancelled reports whether Cancel was called.
func (s *Session) cancelled() bool { return s.merchant.Err() != nil }

// Result returns how the sale ended; before Done is closed it reports the
// latest step only.
func (s *Session) Result() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final {
		return s.result
	}
	r := Result{}
	if n := len(s.events); n > 0 {
		r.Step = s.events[n-1].Step
		r.Record = s.events[n-1].Record
	}
	return r
}

// step returns the latest step.
func (s *Session) step() Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.events); n > 0 {
		return s.events[n-1].Step
	}
	return ""
}

// Subscribe returns the events so far and a channel of the ones to come,
// with no gap and no repeat between the two. live is closed after the
// final event (at once, if the sale has already ended). unsubscribe stops
// delivery and closes live; it may be called more than once.
func (s *Session) Subscribe() (past []Event, live <-chan Event, unsubscribe func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	past = slices.Clone(s.events)
	ch := make(chan Event, liveBuffer)
	if s.final {
		close(ch)
		return past, ch, func() {}
	}
	s.subs[ch] = struct{}{}
	return past, ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
	}
}

// emit appends an event and hands it to the subscribers. It returns the
// number of subscribers dropped because their channel was full.
func (s *Session) emit(step Step, rec *txn.Record, msg string) (Event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final || s.owner == ownedBySupervisor {
		return Event{}, 0 // a wedged sale that came back: nobody listens any more
	}
	ev := s.newEvent(step, rec, msg)
	return ev, s.publish(ev)
}

// end emits the final event, records the result and closes Done.
func (s *Session) end(res Result) Event {
	s.mu.Lock()
	ev := s.newEvent(res.Step, res.Record, res.Message)
	ev.Final = true
	s.publish(ev)
	for ch := range s.subs {
		close(ch)
	}
	s.subs = nil
	s.final = true
	s.result = res
	s.mu.Unlock()
	s.cancel()  // release the merchant context
	s.endLife() // and stop whatever a taken-over sale still waits for
	close(s.done)
	return ev
}

func (s *Session) newEvent(step Step, rec *txn.Record, msg string) Event {
	ev := Event{Seq: len(s.events) + 1, At: s.clk.Now().UTC(), Step: step, Message: msg, Record: rec}
	if rec != nil {
		ev.TxnID = rec.ID
		ev.State = rec.State
	}
	return ev
}

// publish must be called with s.mu held.
func (s *Session) publish(ev Event) (dropped int) {
	s.events = append(s.events, ev)
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			delete(s.subs, ch)
			close(ch)
			dropped++
		}
	}
	return dropped
}

// masked returns a copy of r fit to leave the engine: the sealed card data
// removed and the history not shared with the journal's copy.
func masked(r txn.Record) *txn.Record {
	r.Sealed = nil
	r.History = slices.Clone(r.History)
	if r.Original != nil {
		o := *r.Original
		r.Original = &o
	}
	return &r
}
