package payment

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

// Merchant-facing messages that callers and tests may rely on.
const (
	msgReversalBlocks = "reversal pending, host unreachable"
	msgUnreachable    = "host unreachable"
	msgCardData       = "card data cannot be used: try another card / 卡片数据无法使用，请换卡"
	msgPaperOut       = "receipt queued: paper out"
	msgCancelled      = "cancelled by merchant"
)

// abandonedResult is what a sale returns once the supervisor has taken it
// over: runSale discards it (the supervisor already ended the session).
var abandonedResult = Result{Step: StepFailed, Message: "taken over by the supervisor"}

// runSale takes one sale from amount confirmed to its final event.
func (e *Engine) runSale(ctx context.Context, s *Session) {
	res := e.sale(ctx, s)
	if !s.finishing() {
		// The supervisor reset this sale while it was stuck; it already
		// ended the session and freed the engine (which may be running
		// another sale by now). Nothing more to do here.
		attrs := []any{"session", s.id, "step", res.Step, "outcome", res.Outcome, "message", res.Message}
		if res.Record != nil {
			attrs = append(attrs, "txn", res.Record.ID, "state", res.Record.State)
		}
		e.log.Warn("a sale reset by the supervisor came back", attrs...)
		return
	}
	if res.Step != StepDone && res.Error == "" {
		res.Error = res.Message
	}
	// Counts first, so Status is current when Done fires; then free the
	// engine before the final event so a caller reacting to it can start
	// the next sale at once.
	e.refresh(ctx)
	e.mu.Lock()
	if e.cur == s {
		e.cur = nil
	}
	e.last = &res
	e.mu.Unlock()
	s.end(res)
	attrs := []any{"session", s.id, "step", res.Step, "outcome", res.Outcome, "message", res.Message}
	if res.Record != nil {
		attrs = append(attrs, "txn", res.Record.ID, "state", res.Record.State)
	}
	e.log.Info("sale ended", attrs...)
}

func failed(outcome Step, rec *txn.Record, msg string) Result {
	return Result{Step: StepFailed, Outcome: outcome, Record: rec, Message: msg}
}

func cancelled() Result {
	return Result{Step: StepCancelled, Outcome: StepCancelled, Message: msgCancelled}
}

// sale is the state machine proper. It returns the final result; the
// events before the final one are emitted on the way. After every call
// that may block it checks whether the supervisor took the sale over, and
// if so returns abandonedResult without further side effects.
func (e *Engine) sale(ctx context.Context, s *Session) Result {
	req := s.req
	modes := slices.Clone(req.Modes)

	// Reversal first (DESIGN.md invariant 4): no new online request while
	// a reversal is pending. Whatever is queued is sent now, before the
	// card is read. If that fails, the sale may still be taken offline (no
	// online request at all) when the offline limits hold for the amount;
	// otherwise the customer is not asked for a card.
	offlineOnly := false
	if err := e.settleReversals(ctx, e.cfg.AuthTimeout, false); err != nil {
		if s.abandoned() {
			return abandonedResult
		}
		if errors.Is(err, errJournalOp) {
			e.indicate(ctx, SignalAlert)
			return failed(StepFailed, nil, "journal error, payments stopped: "+err.Error())
		}
		if !e.cfg.Offline.Enabled {
			e.indicate(ctx, SignalAlert)
			return failed(StepFailed, nil, msgReversalBlocks)
		}
		pre := e.decideOffline(ctx, req.Amount, "", true)
		om := e.offlineModes(modes)
		switch {
		case s.abandoned():
			return abandonedResult
		case !pre.Allowed:
			e.indicate(ctx, SignalAlert)
			return failed(StepFailed, nil, msgReversalBlocks+"; "+refusal(pre))
		case len(om) == 0:
			e.indicate(ctx, SignalAlert)
			return failed(StepFailed, nil, fmt.Sprintf("%s; offline refused (entry mode): none of %v may be taken offline", msgReversalBlocks, modes))
		}
		offlineOnly, modes = true, om
		e.log.Info("reversal pending and not sent: this sale can only be taken offline", "session", s.id, "modes", modes)
	}
	if s.cancelled() {
		e.indicate(ctx, SignalIdle)
		return cancelled()
	}

	// Card. The wait is bounded by CardTimeout on the injected clock and
	// cut short by Session.Cancel.
	creq := CardRequest{Amount: req.Amount, Type: txn.Sale, Modes: slices.Clone(modes), Date: e.clk.Now()}
	if _, err := rand.Read(creq.Unpredictable[:]); err != nil {
		return failed(StepFailed, nil, "no random source for the unpredictable number: "+err.Error())
	}
	cardCtx, stopCard := e.bounded(s.merchant, e.cfg.CardTimeout)
	e.indicate(ctx, SignalReady)
	waitMsg := "tap, insert or show a payment code"
	if offlineOnly {
		waitMsg = msgOfflineOnly
	}
	s.emit(StepWaitingForCard, nil, waitMsg)
	creq.Prompt = func(msg string) { s.emit(StepWaitingForCard, nil, msg) }
	data, err := e.cards.ReadCard(cardCtx, creq)
	timedOut := errors.Is(cardCtx.Err(), context.DeadlineExceeded)
	stopCard()
	switch {
	case s.abandoned():
		return abandonedResult
	case s.cancelled():
		e.indicate(ctx, SignalIdle)
		return cancelled()
	case err != nil && timedOut:
		e.indicate(ctx, SignalAlert)
		return failed(StepFailed, nil, fmt.Sprintf("no card presented within %v", e.cfg.CardTimeout))
	case err != nil:
		e.indicate(ctx, SignalAlert)
		return failed(StepFailed, nil, "card read failed: "+err.Error())
	}
	// The payment limits again, now that the entry mode is known: the
	// modes offered were narrowed to those whose maximum allows the
	// amount, but a card source may deliver another one. Refused before
	// anything is journaled or sent.
	if err := risk.CheckPayment(e.cfg.Limits, req.Amount, data.Entry, s.today); err != nil {
		e.indicate(ctx, SignalAlert)
		return failed(StepFailed, nil, "declined by the terminal, nothing was sent: "+err.Error())
	}
	if !slices.Contains(modes, data.Entry) {
		e.indicate(ctx, SignalAlert)
		msg := fmt.Sprintf("entry mode %q not accepted for this sale", data.Entry)
		if offlineOnly && slices.Contains(req.Modes, data.Entry) {
			msg += " (offline only: " + refusal(risk.DecideOffline(e.cfg.Offline, e.clk.Now(), req.Amount, data.Entry, risk.Outbox{}, e.link())) + ")"
		}
		return failed(StepFailed, nil, msg)
	}
	maskedPAN := safeMask(data)
	s.emit(StepCardRead, nil, describeCard(data.Scheme, maskedPAN, data.Entry))
	e.indicate(ctx, SignalProcessing)
	if s.cancelled() { // last point where nothing has been journaled
		e.indicate(ctx, SignalIdle)
		return cancelled()
	}

	// Journal first (invariant 1): the request leaves only after Create
	// returned, i.e. the record, its identity and the sealed card data are
	// on disk.
	sens := data.Sensitive
	draft := Draft{Type: txn.Sale, Entry: data.Entry, Amount: req.Amount, Scheme: data.Scheme, MaskedPAN: maskedPAN}
	rec, err := e.j.Create(ctx, draft, &sens)
	if err != nil {
		if s.abandoned() {
			return abandonedResult
		}
		e.indicate(ctx, SignalAlert)
		return failed(StepFailed, nil, "journal error, nothing was sent: "+err.Error())
	}
	if !s.journaled(rec) {
		return e.abortUnsent(ctx, rec)
	}

	if offlineOnly {
		// Invariant 4: nothing goes online while a reversal is pending.
		return e.offline(ctx, s, rec, msgReversalBlocks,
			"not sent online: a reversal is pending and could not be sent (DESIGN.md invariant 4)")
	}
	s.emit(StepAuthorising, masked(rec), "")

	// From here on a cancel no longer counts: the outcome decides.
	authCtx, stopAuth := e.bounded(ctx, e.cfg.AuthTimeout)
	resp, err := e.acq.Authorize(authCtx, AuthRequest{Record: rec, Sensitive: sens, CVV: data.CVV})
	stopAuth()
	if s.abandoned() {
		// The supervisor queued rec for reversal; whatever the host said
		// is undone by it.
		return abandonedResult
	}

	switch {
	case err == nil && resp.Approved:
		return e.approved(ctx, s, rec, resp.Outcome)
	case err == nil:
		return e.declined(ctx, s, rec, resp.Outcome)
	case errors.Is(err, ErrCardData):
		return e.unsendable(ctx, s, rec, err)
	case errors.Is(err, ErrUnreachable):
		return e.offline(ctx, s, rec, msgUnreachable, "host unreachable, not sent: "+err.Error())
	default:
		// ErrNoResponse, or any error that does not prove the request
		// stayed here: it may have reached the host, so reverse it.
		return e.noResponse(ctx, s, rec, draft, sens, err)
	}
}

// unsendable ends a sale whose request cannot be built from the card's
// data: nothing was sent (nothing to reverse), and it is not stored
// offline, since its advice could never be forwarded either.
func (e *Engine) unsendable(ctx context.Context, s *Session, rec txn.Record, cause error) Result {
	after, err := e.j.Transition(ctx, rec.ID, txn.Aborted, txn.Outcome{Message: msgCardData}, "not sent, request cannot be built: "+cause.Error())
	if err != nil {
		return e.journalLost(ctx, rec, "not sent (card data unusable)", err)
	}
	e.log.Warn("card data cannot be sent to the acquirer; sale aborted", "txn", rec.ID, "err", cause)
	e.indicate(ctx, SignalAlert)
	return failed(StepFailed, masked(after), msgCardData)
}

// abortUnsent closes a record that a sale taken over by the supervisor
// journaled but never sent: nothing to reverse, so it is aborted. The
// sale's context is already cancelled; the journal call keeps its values
// only.
func (e *Engine) abortUnsent(ctx context.Context, rec txn.Record) Result {
	ctx = context.WithoutCancel(ctx)
	if _, err := e.j.Transition(ctx, rec.ID, txn.Aborted, txn.Outcome{Message: "sale reset by the supervisor"},
		"not sent: the sale was reset by the supervisor while this record was being journaled"); err != nil {
		e.strand(rec.ID, "journaled by a sale the supervisor reset; its abort could not be journaled: "+err.Error())
		e.Kick()
	}
	return abandonedResult
}

// journalLost ends a sale whose outcome could not be journaled after the
// request left. The journal then still holds the record as Pending, with
// its identity and sealed data: nothing is lost, but the outcome is not
// recorded, so the customer is not told "approved" and nothing prints.
// The engine notes the record as stranded; the next reversal pass (Run,
// or the next sale's reversal-first step) moves it to ReversalPending
// once the journal works again, and after a crash Recover does the same
// for every Pending record. Either way the host's approval, if any, is
// reversed.
func (e *Engine) journalLost(ctx context.Context, rec txn.Record, what string, err error) Result {
	reason := fmt.Sprintf("%s, but the outcome could not be journaled: %v", what, err)
	e.strand(rec.ID, reason)
	e.log.Error("outcome not journaled; transaction will be reversed",
		"alarm", "outcome_not_journaled", "txn", rec.ID, "stan", rec.Identity.STAN, "what", what, "err", err)
	e.indicate(ctx, SignalAlert)
	e.Kick()
	return failed(StepFailed, masked(rec),
		"journal error: the outcome could not be recorded; the transaction will be reversed, no money is taken: "+err.Error())
}

func (e *Engine) approved(ctx context.Context, s *Session, rec txn.Record, out txn.Outcome) Result {
	// Outcome durable before the customer is told (invariant 1).
	after, err := e.j.Transition(ctx, rec.ID, txn.Approved, out, "approved online")
	if err != nil {
		return e.journalLost(ctx, rec, "approved by the host", err)
	}
	if !s.decided(after, StepApproved) {
		return abandonedResult // the supervisor queued it for reversal
	}
	msg := "approved"
	if out.AuthCode != "" {
		msg += ", auth code " + out.AuthCode
	}
	s.emit(StepApproved, masked(after), msg)
	e.indicate(ctx, SignalSuccess)
	return e.receipts(ctx, s, after, StepApproved, msg)
}

func (e *Engine) declined(ctx context.Context, s *Session, rec txn.Record, out txn.Outcome) Result {
	reason := out.Message
	if reason == "" {
		reason = "declined by the card issuer"
	}
	if out.ResponseCode != "" {
		reason = out.ResponseCode + " " + reason
	}
	if out.Message == "" {
		out.Message = reason
	}
	after, err := e.j.Transition(ctx, rec.ID, txn.Declined, out, "declined: "+reason)
	if err != nil {
		return e.journalLost(ctx, rec, "declined by the host", err)
	}
	if !s.decided(after, StepDeclined) {
		return abandonedResult
	}
	msg := "declined: " + reason
	s.emit(StepDeclined, masked(after), msg)
	e.indicate(ctx, SignalAlert)
	return e.receipts(ctx, s, after, StepDeclined, msg)
}

// noResponse handles a request that may have reached the host without a
// valid answer. The record goes to ReversalPending (never offline: the
// host may have approved it), and one reversal attempt is made at once.
//
// If that attempt is not acknowledged either (the host is still not
// answering) and the offline limits hold, the customer's sale is completed
// offline as a new record for the same card: journaled (with its own
// identity), stored offline, and forwarded after the reversal of the
// unanswered attempt (the forwarder sends reversals first, invariant 4).
// If the host acknowledged the reversal it is answering again, so the
// sale ends and the merchant retries it online.
func (e *Engine) noResponse(ctx context.Context, s *Session, rec txn.Record, draft Draft, sens txn.Sensitive, cause error) Result {
	after, err := e.j.Transition(ctx, rec.ID, txn.ReversalPending, txn.Outcome{}, "no valid response: "+cause.Error())
	if err != nil {
		return e.journalLost(ctx, rec, "sent without a valid response", err)
	}
	if !s.decided(after, StepReversalPending) {
		return abandonedResult
	}
	s.emit(StepReversalPending, masked(after), "no valid answer from the host; reversing")
	e.indicate(ctx, SignalAlert)

	// One attempt right away; Run retries if this one fails.
	rerr := e.settleReversals(ctx, e.cfg.AuthTimeout, false)
	if s.abandoned() {
		return abandonedResult
	}
	final, gerr := e.j.Get(ctx, rec.ID)
	if gerr != nil {
		final = after
	}
	switch {
	case final.State == txn.Reversed:
		return failed(StepReversalPending, masked(final), "no valid answer from the host; the request was reversed, no money is taken")
	case errors.Is(rerr, errJournalOp):
		return failed(StepReversalPending, masked(final), "no valid answer from the host; reversal pending (journal error: "+rerr.Error()+")")
	}
	pending := fmt.Sprintf("no valid answer from the host; reversal pending (attempt %d of %d failed), it will be retried before the next sale",
		final.Attempts, e.cfg.ReversalRetries)
	if errors.Is(rerr, ErrUnreachable) {
		pending = "no valid answer from the host; reversal pending (host unreachable, not sent yet), it will be retried before the next sale"
	}
	if !e.cfg.Offline.Enabled {
		return failed(StepReversalPending, masked(final), pending)
	}

	// Offline, as a new record: the unanswered one stays in the reversal
	// queue whatever happens here.
	d := e.decideOffline(ctx, rec.Amount, rec.Entry, false)
	if s.abandoned() {
		return abandonedResult
	}
	if !d.Allowed {
		e.log.Warn("offline refused after an unanswered request", "txn", rec.ID, "limit", d.Limit, "reason", d.Reason)
		return failed(StepReversalPending, masked(final), pending+"; "+refusal(d))
	}
	rec2, err := e.j.Create(ctx, draft, &sens)
	if err != nil {
		if s.abandoned() {
			return abandonedResult
		}
		return failed(StepReversalPending, masked(final), pending+"; not stored offline, journal error (nothing was sent): "+err.Error())
	}
	if !s.journaled(rec2) {
		return e.abortUnsent(ctx, rec2)
	}
	e.log.Info("unanswered sale retaken offline", "reversing", rec.ID, "offline", rec2.ID)
	res := e.storeOffline(ctx, s, rec2, d, fmt.Sprintf("no valid answer to %s (STAN %06d), which is being reversed", rec.ID, rec.Identity.STAN))
	if res.Outcome == StepStoredOffline {
		res.Message += fmt.Sprintf("; the unanswered online attempt (STAN %06d) is being reversed", rec.Identity.STAN)
	}
	return res
}

// receipts queues the merchant and customer copies durably, then prints
// them. A printer problem leaves them queued for Run; the sale completes.
func (e *Engine) receipts(ctx context.Context, s *Session, rec txn.Record, outcome Step, msg string) Result {
	rs := []receipt.Receipt{
		receipt.Build(e.cfg.Merchant, rec, receipt.MerchantCopy, e.cfg.Location),
		receipt.Build(e.cfg.Merchant, rec, receipt.CustomerCopy, e.cfg.Location),
	}
	done := Result{Step: StepDone, Outcome: outcome, Record: masked(rec), Message: msg}
	jobs, err := e.j.QueuePrint(ctx, rs...)
	if s.abandoned() {
		return abandonedResult
	}
	if err != nil {
		// The outcome is journaled and the customer has been told; a
		// failing queue must not turn it into a "failed" sale that the
		// merchant would charge again. Print without the queue instead.
		e.log.Error("receipts not queued", "txn", rec.ID, "err", err)
		s.emit(StepPrinting, masked(rec), fmt.Sprintf("printing %d receipts (not queued: journal error)", len(rs)))
		done.Message += "; receipt not queued (journal error: " + err.Error() + ")"
		if perr := e.printDirect(ctx, rs); perr != nil {
			done.Message += "; receipt not printed: " + perr.Error()
		}
		if s.abandoned() {
			return abandonedResult
		}
		return done
	}
	s.emit(StepPrinting, masked(rec), fmt.Sprintf("printing %d receipts", len(jobs)))
	err = e.printJobs(ctx, jobs)
	if s.abandoned() {
		return abandonedResult
	}
	if err != nil {
		e.Kick() // Run owns the retry from here
		switch {
		case errors.Is(err, ErrPaperOut):
			done.Message += "; " + msgPaperOut
		case errors.Is(err, errPrintedNotDequeued):
			done.Message += "; receipt printed, print queue not updated: " + err.Error()
		default:
			done.Message += "; receipt queued: " + err.Error()
		}
	}
	return done
}

// safeMask returns the masked PAN to journal and show: the card source's,
// unless it is missing or not masked, in which case it is derived here. A
// full PAN never leaves this function.
func safeMask(d card.Data) string {
	m := d.MaskedPAN
	if m != "" && strings.ContainsAny(m, "*Xx") {
		return m
	}
	if d.Sensitive.PAN != "" {
		return card.Mask(d.Sensitive.PAN)
	}
	return card.Mask(m) // a source that put a clear PAN in MaskedPAN
}

func describeCard(scheme, maskedPAN string, entry txn.EntryMode) string {
	parts := []string{}
	if scheme != "" {
		parts = append(parts, scheme)
	}
	if maskedPAN != "" {
		parts = append(parts, maskedPAN)
	}
	parts = append(parts, "("+string(entry)+")")
	return strings.Join(parts, " ")
}
