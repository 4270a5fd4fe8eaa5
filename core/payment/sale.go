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
	"github.com/posagent/posagent/core/txn"
)

// Merchant-facing messages that callers and tests may rely on.
const (
	msgReversalBlocks = "reversal pending, host unreachable"
	msgUnreachable    = "host unreachable"
	msgPaperOut       = "receipt queued: paper out"
	msgCancelled      = "cancelled by merchant"
)

// runSale takes one sale from amount confirmed to its final event.
func (e *Engine) runSale(ctx context.Context, s *Session) {
	res := e.sale(ctx, s)
	if res.Step != StepDone && res.Error == "" {
		res.Error = res.Message
	}
	// Counts first, so Status is current when Done fires; then free the
	// engine before the final event so a caller reacting to it can start
	// the next sale at once.
	e.refresh(ctx)
	e.mu.Lock()
	e.cur = nil
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
// events before the final one are emitted on the way.
func (e *Engine) sale(ctx context.Context, s *Session) Result {
	req := s.req

	// Reversal first (DESIGN.md invariant 4): no new online request while
	// a reversal is pending. Whatever is queued is sent now, before the
	// card is read; if that fails the customer is not asked for a card.
	if err := e.settleReversals(ctx); err != nil {
		e.indicate(ctx, SignalAlert)
		if errors.Is(err, errJournalOp) {
			return failed(StepFailed, nil, "journal error, payments stopped: "+err.Error())
		}
		return failed(StepFailed, nil, msgReversalBlocks)
	}
	if s.cancelled() {
		e.indicate(ctx, SignalIdle)
		return cancelled()
	}

	// Card. The wait is bounded by CardTimeout on the injected clock and
	// cut short by Session.Cancel.
	creq := CardRequest{Amount: req.Amount, Type: txn.Sale, Modes: slices.Clone(req.Modes), Date: e.clk.Now()}
	if _, err := rand.Read(creq.Unpredictable[:]); err != nil {
		return failed(StepFailed, nil, "no random source for the unpredictable number: "+err.Error())
	}
	cardCtx, stopCard := withClockTimeout(s.merchant, e.clk, e.cfg.CardTimeout)
	e.indicate(ctx, SignalReady)
	s.emit(StepWaitingForCard, nil, "tap, insert or show a payment code")
	data, err := e.cards.ReadCard(cardCtx, creq)
	timedOut := errors.Is(cardCtx.Err(), context.DeadlineExceeded)
	stopCard()
	switch {
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
	if !slices.Contains(req.Modes, data.Entry) {
		e.indicate(ctx, SignalAlert)
		return failed(StepFailed, nil, fmt.Sprintf("entry mode %q not accepted for this sale", data.Entry))
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
		e.indicate(ctx, SignalAlert)
		return failed(StepFailed, nil, "journal error, nothing was sent: "+err.Error())
	}
	s.emit(StepAuthorising, masked(rec), "")

	// From here on a cancel no longer counts: the outcome decides.
	authCtx, stopAuth := withClockTimeout(ctx, e.clk, e.cfg.AuthTimeout)
	resp, err := e.acq.Authorize(authCtx, AuthRequest{Record: rec, Sensitive: sens, CVV: data.CVV})
	stopAuth()

	switch {
	case err == nil && resp.Approved:
		return e.approved(ctx, s, rec, resp.Outcome)
	case err == nil:
		return e.declined(ctx, s, rec, resp.Outcome)
	case errors.Is(err, ErrUnreachable):
		return e.unreachable(ctx, s, rec, err)
	default:
		// ErrNoResponse, or any error that does not prove the request
		// stayed here: it may have reached the host, so reverse it.
		return e.noResponse(ctx, s, rec, err)
	}
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
	msg := "declined: " + reason
	s.emit(StepDeclined, masked(after), msg)
	e.indicate(ctx, SignalAlert)
	return e.receipts(ctx, s, after, StepDeclined, msg)
}

func (e *Engine) unreachable(ctx context.Context, s *Session, rec txn.Record, cause error) Result {
	// OFFLINE HOOK (store-and-forward issue): this is where the offline
	// decision goes. The request provably never left, so a card sale may
	// instead be approved offline if every risk limit holds (per-transaction
	// maximum, stored total and count, age of the oldest stored one):
	// Transition(rec.ID, txn.StoredOffline, ...), emit StepStoredOffline,
	// print receipts marked "offline". QR payments stay online only. Until
	// then an unreachable host ends the sale.
	after, err := e.j.Transition(ctx, rec.ID, txn.Aborted, txn.Outcome{Message: msgUnreachable}, "host unreachable, not sent: "+cause.Error())
	if err != nil {
		return e.journalLost(ctx, rec, "not sent (host unreachable)", err)
	}
	e.indicate(ctx, SignalAlert)
	return failed(StepFailed, masked(after), msgUnreachable)
}

func (e *Engine) noResponse(ctx context.Context, s *Session, rec txn.Record, cause error) Result {
	after, err := e.j.Transition(ctx, rec.ID, txn.ReversalPending, txn.Outcome{}, "no valid response: "+cause.Error())
	if err != nil {
		return e.journalLost(ctx, rec, "sent without a valid response", err)
	}
	s.emit(StepReversalPending, masked(after), "no valid answer from the host; reversing")
	e.indicate(ctx, SignalAlert)

	// One attempt right away; Run retries if this one fails.
	rerr := e.settleReversals(ctx)
	final, gerr := e.j.Get(ctx, rec.ID)
	if gerr != nil {
		final = after
	}
	switch {
	case final.State == txn.Reversed:
		return failed(StepReversalPending, masked(final), "no valid answer from the host; the request was reversed, no money is taken")
	case errors.Is(rerr, errJournalOp):
		return failed(StepReversalPending, masked(final), "no valid answer from the host; reversal pending (journal error: "+rerr.Error()+")")
	default:
		return failed(StepReversalPending, masked(final), fmt.Sprintf(
			"no valid answer from the host; reversal pending (attempt %d of %d failed), it will be retried before the next sale",
			final.Attempts, e.cfg.ReversalRetries))
	}
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
		return done
	}
	s.emit(StepPrinting, masked(rec), fmt.Sprintf("printing %d receipts", len(jobs)))
	if err := e.printJobs(ctx, jobs); err != nil {
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
