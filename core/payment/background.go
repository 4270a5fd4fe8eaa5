package payment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

// Run is the background work, in two independent loops so that a device
// or link that hangs in one cannot hold up the other: the reversal loop
// sends the pending reversals (in journal order), the print loop drains
// the durable print queue. Each loop passes once at start, again after
// Kick, after a backoff when a pass failed (RetryInterval doubling up to
// RetryMaxInterval, on the injected clock) and every RetryMaxInterval
// otherwise. A third goroutine supervises the sale in progress (below).
// Run returns nil when ctx is done (after its goroutines stopped), and
// ErrRunning if another Run is active.
//
// Reversals: each unacknowledged attempt is counted in the journal
// (NoteAttempt); after ReversalRetries of them the record moves to
// txn.ReversalFailed and an alarm is logged (attribute alarm=
// "reversal_failed"). ReversalFailed records wait for a technician; they
// are not retried here and do not block new sales.
//
// Printing: a job leaves the queue only after it printed. On ErrPaperOut
// (or any printer error) the pass stops, the jobs stay queued in order,
// and the next pass retries; the paper sensor should call Kick when paper
// returns.
//
// Supervisor: every SuperviseInterval Run looks at the sale in progress.
// Each device or network wait of a sale has its timeout, and a sale that
// runs past the end of its current wait by more than StuckMargin (a
// driver or link that ignores its deadline, a journal call that hangs)
// is taken over and reset to a journaled, recoverable state, so that no
// error state sticks (user-issues §1.5, §1.8):
//
//   - nothing journaled yet: the sale ends cancelled;
//   - a record journaled whose outcome is not (it may have been sent):
//     the record is queued for reversal through the same path as an
//     unrecorded outcome (the next reversal pass moves it from Pending to
//     ReversalPending, as Recover would) and the sale ends failed;
//   - the outcome journaled (stuck printing): the sale ends with that
//     outcome; its receipts stay in the durable print queue.
//
// The session ends with a final event saying where it was stuck, the
// alarm "sale_wedged" is logged, and the engine takes the next sale. The
// stuck goroutine is left to return on its own; when it does, it makes no
// further change (a record it journals after the reset is aborted), and
// the semaphores it may hold are waited for by Run's loops with a bound.
// A device call that ignores its deadline inside one of Run's own loops
// stalls that loop only, until the call returns.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	var wg sync.WaitGroup
	for _, f := range []func(){
		func() { e.supervise(ctx) },
		func() {
			e.loop(ctx, "print queue", e.printKick, func(ctx context.Context) error {
				err := e.drainPrints(ctx, 2*e.cfg.PrintTimeout+e.cfg.StuckMargin)
				e.refresh(ctx)
				return err
			})
		},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	e.loop(ctx, "reversals", e.kick, func(ctx context.Context) error {
		err := e.settleReversals(ctx, e.cfg.AuthTimeout+e.cfg.StuckMargin, true)
		e.refresh(ctx)
		return err
	})
	wg.Wait()
	return nil
}

// loop runs pass at once, after each kick, after a backoff when it failed
// and every RetryMaxInterval, until ctx is done. Its semaphore waits are
// bounded (see Run).
func (e *Engine) loop(ctx context.Context, name string, kick <-chan struct{}, pass func(context.Context) error) {
	backoff := time.Duration(0)
	for {
		if err := pass(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			switch {
			case backoff == 0:
				backoff = e.cfg.RetryInterval
			case backoff < e.cfg.RetryMaxInterval:
				backoff = min(2*backoff, e.cfg.RetryMaxInterval)
			}
			e.log.Warn("background pass incomplete, retrying later", "loop", name, "retry_in", backoff, "err", err)
		} else {
			backoff = 0
		}
		wait := backoff
		if wait == 0 {
			wait = e.cfg.RetryMaxInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-e.clk.After(wait):
		}
	}
}

// Kick asks Run for a pass of both loops now (paper is back, the link is
// up, an operator pressed "retry"). It never blocks; kicks while a pass
// is due are merged.
func (e *Engine) Kick() {
	for _, ch := range []chan struct{}{e.kick, e.printKick} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// supervise looks at the sale in progress every SuperviseInterval until
// ctx is done, and resets it when it is stuck (see Run).
func (e *Engine) supervise(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.clk.After(e.cfg.SuperviseInterval):
		}
		e.checkStuck()
	}
}

// checkStuck takes over the sale in progress if it has run past its
// deadline, and ends it in a journaled, recoverable state. It makes no
// journal call itself (the journal may be what is stuck): a record to
// reverse is stranded, and the reversal pass moves it.
func (e *Engine) checkStuck() {
	e.mu.Lock()
	s := e.cur
	e.mu.Unlock()
	if s == nil {
		return
	}
	w, ok := s.takeOver(e.clk.Now())
	if !ok {
		return
	}
	where := fmt.Sprintf("sale reset by the supervisor: stuck in %q for %v", w.step, w.stuck)
	var res Result
	switch {
	case w.rec == nil:
		res = Result{Step: StepCancelled, Outcome: StepCancelled, Message: where + "; nothing was journaled or sent"}
	case w.outcome == "":
		e.strand(w.rec.ID, where+": the request may have been sent")
		res = failed(StepReversalPending, w.rec, where+"; the transaction will be reversed, no money is taken")
	case w.outcome == StepReversalPending || w.outcome == StepFailed:
		res = failed(w.outcome, w.rec, where+"; the transaction was not completed ("+string(w.rec.State)+")")
	default:
		res = Result{Step: StepDone, Outcome: w.outcome, Record: w.rec,
			Message: where + "; " + string(w.outcome) + " and journaled, the receipts stay queued"}
	}
	if res.Step != StepDone {
		res.Error = res.Message
	}
	attrs := []any{"alarm", "sale_wedged", "session", s.id, "step", w.step, "stuck", w.stuck, "outcome", res.Outcome}
	if w.rec != nil {
		attrs = append(attrs, "txn", w.rec.ID, "stan", w.rec.Identity.STAN)
	}
	e.log.Error("sale stuck past its deadline; reset by the supervisor", attrs...)
	e.mu.Lock()
	if e.cur == s {
		e.cur = nil
	}
	e.last = &res
	e.mu.Unlock()
	s.end(res)
	e.Kick()
}

// settleReversals moves stranded records into the reversal queue and then
// sends every ReversalPending reversal in journal order, stopping at the
// first one the host does not acknowledge. It returns nil when none is
// left pending; errors wrap errJournalOp or errReversalNotSent. semWait
// bounds the wait for another reversal pass to finish (0: ctx only).
//
// spaced (Run's retries) leaves a reversal alone until its next attempt is
// due (txn.Record.ReversalDue): background retries and kicks must not use
// the attempts up in a moment. A sale's own attempts (before a new online
// request, right after an unanswered one) are not spaced: a merchant and a
// customer are waiting, and sales come at the pace of people.
func (e *Engine) settleReversals(ctx context.Context, semWait time.Duration, spaced bool) error {
	if err := e.acquireWithin(ctx, e.revSem, semWait); err != nil {
		return fmt.Errorf("%w: waiting for another reversal pass: %w", errReversalNotSent, err)
	}
	defer release(e.revSem)

	for _, id := range e.strandedIDs() {
		e.mu.Lock()
		reason := e.stranded[id]
		e.mu.Unlock()
		if _, err := e.j.Transition(ctx, id, txn.ReversalPending, txn.Outcome{}, reason); err != nil {
			if rec, gerr := e.j.Get(ctx, id); gerr == nil && rec.State != txn.Pending {
				e.unstrand(id) // moved meanwhile (by Recover)
				continue
			}
			return fmt.Errorf("%w: moving %s to the reversal queue: %w", errJournalOp, id, err)
		}
		e.unstrand(id)
		e.log.Warn("unrecorded outcome moved to the reversal queue", "txn", id)
	}

	recs, err := e.j.PendingReversals(ctx)
	if err != nil {
		return fmt.Errorf("%w: reading the reversal queue: %w", errJournalOp, err)
	}
	for _, rec := range recs {
		if rec.State != txn.ReversalPending {
			continue // ReversalFailed: manual handling
		}
		if now := e.clk.Now(); spaced && !rec.ReversalDue(now, e.cfg.ReversalSpacing) {
			// Attempted a moment ago (by this loop or by the forwarder):
			// it stays pending, and blocks new online requests, until its
			// next attempt is due.
			return fmt.Errorf("%w: %s: attempt %d of %d failed; next at %s", errReversalNotSent, rec.ID,
				rec.Attempts, e.cfg.ReversalRetries, rec.NextReversalAttempt(e.cfg.ReversalSpacing).UTC().Format(time.RFC3339))
		}
		if err := e.reverseOne(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// reverseOne makes one reversal attempt for rec and journals its result.
func (e *Engine) reverseOne(ctx context.Context, rec txn.Record) error {
	rctx, stop := e.bounded(ctx, e.cfg.AuthTimeout)
	out, err := e.acq.Reverse(rctx, rec)
	stop()
	if err == nil {
		if _, jerr := e.j.Transition(ctx, rec.ID, txn.Reversed, out, "reversal acknowledged"); jerr != nil {
			// The host has it; the next pass sends it again and the host
			// answers the duplicate (same identity, invariant 3).
			return fmt.Errorf("%w: recording the reversal of %s: %w", errJournalOp, rec.ID, jerr)
		}
		e.log.Info("reversal acknowledged", "txn", rec.ID, "stan", rec.Identity.STAN)
		return nil
	}
	if errors.Is(err, ErrUnreachable) {
		// Provably not sent (the link is down): not an attempt. A long
		// outage must not use up the retries and flag the reversal for
		// manual handling before it was ever tried (invariant 4 counts
		// unanswered sends, not dial failures).
		e.log.Info("reversal not sent: host unreachable; will retry", "txn", rec.ID, "err", err)
		return fmt.Errorf("%w: %s: %w", errReversalNotSent, rec.ID, err)
	}
	if errors.Is(err, ErrSharedAttempt) {
		// The forwarder's request, which it counts.
		e.log.Info("reversal attempt shared with the forwarder; counted there", "txn", rec.ID, "err", err)
		return fmt.Errorf("%w: %s: %w", errReversalNotSent, rec.ID, err)
	}
	after, jerr := e.j.NoteAttempt(ctx, rec.ID, "reversal not acknowledged: "+err.Error())
	if jerr != nil {
		return fmt.Errorf("%w: counting a reversal attempt of %s: %w (reversal error: %v)", errJournalOp, rec.ID, jerr, err)
	}
	e.log.Warn("reversal not acknowledged", "txn", rec.ID, "attempts", after.Attempts, "max_attempts", e.cfg.ReversalRetries, "err", err)
	if after.Attempts >= e.cfg.ReversalRetries {
		reason := fmt.Sprintf("reversal not acknowledged after %d attempts: manual handling needed", after.Attempts)
		if _, terr := e.j.Transition(ctx, rec.ID, txn.ReversalFailed, txn.Outcome{}, reason); terr != nil {
			return fmt.Errorf("%w: flagging the reversal of %s as failed: %w", errJournalOp, rec.ID, terr)
		}
		e.log.Error("reversal failed; manual handling needed", "alarm", "reversal_failed",
			"txn", rec.ID, "stan", rec.Identity.STAN, "amount", rec.Amount.String(), "attempts", after.Attempts)
	}
	return fmt.Errorf("%w: %s: %w", errReversalNotSent, rec.ID, err)
}

// printJobs prints the given jobs, those still queued, in order. A sale
// uses it for its own receipts; older queued jobs are left to Run, so the
// customer in front of the terminal gets their receipt first.
func (e *Engine) printJobs(ctx context.Context, jobs []PrintJob) error {
	if err := e.acquireWithin(ctx, e.prnSem, 2*e.cfg.PrintTimeout); err != nil {
		return fmt.Errorf("waiting for the printer: %w", err)
	}
	defer release(e.prnSem)
	queue, err := e.j.PrintQueue(ctx)
	if err != nil {
		return fmt.Errorf("%w: reading the print queue: %w", errJournalOp, err)
	}
	queued := make(map[uint64]bool, len(queue))
	for _, q := range queue {
		queued[q.Seq] = true
	}
	for _, job := range jobs {
		if !queued[job.Seq] {
			continue // printed by Run meanwhile
		}
		if err := e.printOne(ctx, job); err != nil {
			return err
		}
	}
	return nil
}

// drainPrints prints the whole queue in order, stopping at the first
// failure. semWait bounds the wait for the printer (0: ctx only).
func (e *Engine) drainPrints(ctx context.Context, semWait time.Duration) error {
	if err := e.acquireWithin(ctx, e.prnSem, semWait); err != nil {
		return fmt.Errorf("waiting for the printer: %w", err)
	}
	defer release(e.prnSem)
	queue, err := e.j.PrintQueue(ctx)
	if err != nil {
		return fmt.Errorf("%w: reading the print queue: %w", errJournalOp, err)
	}
	for _, job := range queue {
		if err := e.printOne(ctx, job); err != nil {
			return err
		}
	}
	return nil
}

// printOne prints a job and removes it from the queue. Callers hold prnSem.
func (e *Engine) printOne(ctx context.Context, job PrintJob) error {
	e.mu.Lock()
	already := e.printed[job.Seq]
	e.mu.Unlock()
	if !already {
		pctx, stop := e.bounded(ctx, e.cfg.PrintTimeout)
		err := e.prn.Print(pctx, job.Receipt)
		stop()
		if err != nil {
			return fmt.Errorf("printing job %d (txn %s, %s copy): %w", job.Seq, job.Receipt.TxnID, job.Receipt.Copy, err)
		}
	}
	if err := e.j.PrintDone(ctx, job.Seq); err != nil {
		e.mu.Lock()
		e.printed[job.Seq] = true
		e.mu.Unlock()
		e.log.Error("receipt printed but still queued", "job", job.Seq, "txn", job.Receipt.TxnID, "err", err)
		return fmt.Errorf("%w: %w: job %d: %w", errJournalOp, errPrintedNotDequeued, job.Seq, err)
	}
	e.mu.Lock()
	delete(e.printed, job.Seq)
	e.mu.Unlock()
	return nil
}

// printDirect prints receipts that could not be queued.
func (e *Engine) printDirect(ctx context.Context, rs []receipt.Receipt) error {
	if err := e.acquireWithin(ctx, e.prnSem, 2*e.cfg.PrintTimeout); err != nil {
		return fmt.Errorf("waiting for the printer: %w", err)
	}
	defer release(e.prnSem)
	for _, r := range rs {
		pctx, stop := e.bounded(ctx, e.cfg.PrintTimeout)
		err := e.prn.Print(pctx, r)
		stop()
		if err != nil {
			return err
		}
	}
	return nil
}
