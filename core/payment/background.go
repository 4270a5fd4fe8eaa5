package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

// Run is the background loop: each pass sends the pending reversals (in
// journal order) and drains the durable print queue. It passes once at
// start, again after Kick, after a backoff when a pass failed (RetryInterval
// doubling up to RetryMaxInterval, on the injected clock) and every
// RetryMaxInterval otherwise. It returns nil when ctx is done, and
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
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	backoff := time.Duration(0)
	for {
		if err := e.pass(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			switch {
			case backoff == 0:
				backoff = e.cfg.RetryInterval
			case backoff < e.cfg.RetryMaxInterval:
				backoff = min(2*backoff, e.cfg.RetryMaxInterval)
			}
			e.log.Warn("background pass incomplete, retrying later", "retry_in", backoff, "err", err)
		} else {
			backoff = 0
		}
		wait := backoff
		if wait == 0 {
			wait = e.cfg.RetryMaxInterval
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.kick:
		case <-e.clk.After(wait):
		}
	}
}

// Kick asks Run for a pass now (paper is back, the link is up, an
// operator pressed "retry"). It never blocks; kicks while a pass is due
// are merged.
func (e *Engine) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// pass runs the reversal queue and then the print queue; both are tried
// even if the first fails (a host outage must not hold receipts back).
func (e *Engine) pass(ctx context.Context) error {
	rerr := e.settleReversals(ctx)
	perr := e.drainPrints(ctx)
	e.refresh(ctx)
	return errors.Join(rerr, perr)
}

// settleReversals moves stranded records into the reversal queue and then
// sends every ReversalPending reversal in journal order, stopping at the
// first one the host does not acknowledge. It returns nil when none is
// left pending; errors wrap errJournalOp or errReversalNotSent.
func (e *Engine) settleReversals(ctx context.Context) error {
	if err := acquire(ctx, e.revSem); err != nil {
		return fmt.Errorf("%w: %w", errReversalNotSent, err)
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
		if err := e.reverseOne(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// reverseOne makes one reversal attempt for rec and journals its result.
func (e *Engine) reverseOne(ctx context.Context, rec txn.Record) error {
	rctx, stop := withClockTimeout(ctx, e.clk, e.cfg.AuthTimeout)
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
	if err := acquire(ctx, e.prnSem); err != nil {
		return err
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
// failure.
func (e *Engine) drainPrints(ctx context.Context) error {
	if err := acquire(ctx, e.prnSem); err != nil {
		return err
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
		pctx, stop := withClockTimeout(ctx, e.clk, e.cfg.PrintTimeout)
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
	if err := acquire(ctx, e.prnSem); err != nil {
		return err
	}
	defer release(e.prnSem)
	for _, r := range rs {
		pctx, stop := withClockTimeout(ctx, e.clk, e.cfg.PrintTimeout)
		err := e.prn.Print(pctx, r)
		stop()
		if err != nil {
			return err
		}
	}
	return nil
}
