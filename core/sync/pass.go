package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// pass is one drain: expiry, reversals, then the stored transactions of
// the snapshot taken at its start.
func (f *Forwarder) pass(ctx context.Context, auto bool) (rep Report, err error) {
	startMono := f.elapsed()
	rep.Started = f.wall()
	f.maxIn.Store(0)
	cur := f.cfg.Currency
	f.updateProgress(func(p *Progress) {
		*p = Progress{Running: true, Phase: "expiry", AmountDone: money.Amount{Currency: cur}, AmountTotal: money.Amount{Currency: cur}}
	}, startMono)
	defer func() {
		rep.Finished = f.wall()
		rep.MaxInFlight = int(f.maxIn.Load())
		switch {
		case err == nil || rep.Stopped != "":
		case errors.Is(err, ErrJournal):
			rep.Stopped = StopJournal
		case ctx.Err() != nil:
			rep.Stopped = StopCanceled
		}
		if err != nil {
			f.noteFailure(err, false)
		}
		f.updateProgress(func(p *Progress) { p.Running, p.Phase = false, "" }, startMono)
	}()

	outbox, err := f.j.Outbox(ctx)
	if err != nil {
		return rep, f.readErr(ctx, "the outbox", err)
	}
	rep.Outbox = len(outbox)
	if outbox, err = f.expire(ctx, outbox, &rep); err != nil {
		return rep, err
	}
	var total int64
	for _, r := range outbox {
		if r.Amount.Currency == cur {
			total += r.Amount.Minor
		}
	}
	f.updateProgress(func(p *Progress) {
		p.Phase, p.Total, p.AmountTotal.Minor = "reversals", len(outbox), total
	}, startMono)

	revs, err := f.j.PendingReversals(ctx)
	if err != nil {
		return rep, f.readErr(ctx, "the reversal queue", err)
	}
	var pending []txn.Record
	for _, r := range revs {
		if r.State == txn.ReversalPending {
			pending = append(pending, r) // ReversalFailed waits for a technician
		}
	}
	if len(pending) == 0 && len(outbox) == 0 {
		return rep, nil
	}
	if auto && f.link != nil && !f.link.Up() {
		rep.Stopped, rep.NotSent = StopLinkDown, len(outbox)
		return rep, fmt.Errorf("%w: %s", ErrLinkDown, f.link.State().Reason)
	}
	if err := f.reversals(ctx, pending, &rep, auto); err != nil {
		rep.NotSent = len(outbox)
		return rep, err
	}
	return rep, f.forward(ctx, outbox, &rep, startMono)
}

// currentReversal re-reads the reversal queue for id: the record as it is
// now, and whether it is still ReversalPending.
func (f *Forwarder) currentReversal(ctx context.Context, id txn.ID) (txn.Record, bool, error) {
	revs, err := f.j.PendingReversals(ctx)
	if err != nil {
		return txn.Record{}, false, f.readErr(ctx, "the reversal queue", err)
	}
	for _, r := range revs {
		if r.ID == id {
			return r, r.State == txn.ReversalPending, nil
		}
	}
	return txn.Record{}, false, nil
}

// readErr wraps a journal read error (or ctx's).
func (f *Forwarder) readErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("sync: reading %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%w: reading %s: %w", ErrJournal, what, err)
}

// reversals sends the pending reversals one at a time, in journal order.
// It returns nil when none is left pending. spaced (Run's own passes)
// leaves a reversal alone until its next attempt is due; a Drain asked
// for by a person (posagent sync) is not held back, like a sale.
func (f *Forwarder) reversals(ctx context.Context, pending []txn.Record, rep *Report, spaced bool) error {
	cctx := context.WithoutCancel(ctx) // results the host gave are recorded even when stopping
	for _, rec := range pending {
		if err := ctx.Err(); err != nil {
			rep.Stopped = StopCanceled
			return err
		}
		// The snapshot may be stale: the engine may have attempted this
		// reversal (or settled it) since the pass began. Decide on the
		// record as it is now.
		fresh, ok, err := f.currentReversal(ctx, rec.ID)
		if err != nil {
			return err
		}
		if !ok {
			continue // reversed or flagged meanwhile
		}
		rec = fresh
		if spaced && !rec.ReversalDue(f.clk.Now(), f.cfg.ReversalSpacing) {
			// Attempted a moment ago (by this forwarder or the engine):
			// the outbox waits behind it until the next attempt is due.
			rep.Stopped = StopReversalPending
			return fmt.Errorf("%w: %s (attempt %d of %d failed; next at %s)", ErrReversalPending, rec.ID, rec.Attempts,
				f.cfg.ReversalRetries, rec.NextReversalAttempt(f.cfg.ReversalSpacing).UTC().Format(time.RFC3339))
		}
		rctx, cancel := withClockTimeout(ctx, f.clk, f.cfg.SendTimeout)
		out, err := f.sender.Reverse(rctx, rec)
		cancel()
		if err == nil {
			f.noteSuccess()
			_, errs, cerr := f.j.TransitionMany(cctx, []Change{{ID: rec.ID, To: txn.Reversed, Outcome: out, Reason: "reversal acknowledged"}})
			rep.Commits++
			if cerr != nil {
				// The host has it; the next pass sends it again (0401)
				// and the host answers the duplicate.
				return fmt.Errorf("%w: recording the reversal of %s: %w", ErrJournal, rec.ID, cerr)
			}
			if errs[0] != nil {
				rep.Rejected++
				f.log.Error("reversal acknowledged but not recorded", "txn", rec.ID, "err", errs[0])
				continue
			}
			rep.Reversed++
			f.log.Info("reversal acknowledged", "txn", rec.ID, "stan", rec.Identity.STAN)
			continue
		}
		if ctx.Err() != nil {
			rep.Stopped = StopCanceled
			return fmt.Errorf("sync: reversal of %s: %w", rec.ID, ctx.Err())
		}
		unsendable := errors.Is(err, ErrUnsendable)
		if errors.Is(err, payment.ErrUnreachable) && !unsendable {
			f.noteFailure(err, true)
			rep.Stopped = StopLinkDown
			return fmt.Errorf("%w: reversal of %s: %w", ErrLinkDown, rec.ID, err)
		}
		f.noteFailure(err, false)
		if errors.Is(err, payment.ErrSharedAttempt) {
			// The engine's request, which it counts.
			rep.Stopped = StopReversalPending
			return fmt.Errorf("%w: %s (attempt shared with the engine): %w", ErrReversalPending, rec.ID, err)
		}
		if !errors.Is(err, payment.ErrNoResponse) && !unsendable && f.link != nil {
			f.link.MarkUp() // the host answered (and refused)
		}
		after, nerr := f.j.NoteAttempt(cctx, rec.ID, "reversal not acknowledged: "+err.Error())
		rep.Commits++
		if nerr != nil {
			return fmt.Errorf("%w: counting a reversal attempt of %s: %w (reversal error: %v)", ErrJournal, rec.ID, nerr, err)
		}
		f.log.Warn("reversal not acknowledged", "txn", rec.ID, "attempts", after.Attempts, "max_attempts", f.cfg.ReversalRetries, "err", err)
		if after.Attempts < f.cfg.ReversalRetries {
			rep.Stopped = StopReversalPending
			return fmt.Errorf("%w: %s (attempt %d of %d): %w", ErrReversalPending, rec.ID, after.Attempts, f.cfg.ReversalRetries, err)
		}
		reason := fmt.Sprintf("reversal not acknowledged after %d attempts: manual handling needed", after.Attempts)
		recs, errs, cerr := f.j.TransitionMany(cctx, []Change{{ID: rec.ID, To: txn.ReversalFailed, Reason: reason}})
		rep.Commits++
		if cerr != nil {
			return fmt.Errorf("%w: flagging the reversal of %s as failed: %w", ErrJournal, rec.ID, cerr)
		}
		if errs[0] != nil {
			rep.Rejected++
			f.log.Error("could not flag a reversal as failed", "txn", rec.ID, "err", errs[0])
			continue
		}
		rep.ReversalsFailed++
		f.log.Error("reversal failed; manual handling needed", "alarm", "reversal_failed",
			"txn", rec.ID, "stan", rec.Identity.STAN, "amount", rec.Amount.String(), "attempts", after.Attempts)
		f.notify(noticeFor(NoticeReversalFailed, recs[0], reason))
	}
	return nil
}

// result is the fate of one advice.
type result struct {
	rec txn.Record
	ans Answer
	err error
}

// stopper records why a pass stops launching advices: the first reason
// wins. The launcher, the senders and the collector all use it.
type stopper struct {
	stopped atomic.Bool
	mu      gosync.Mutex
	reason  string
	err     error
}

func (s *stopper) halt(reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped.Load() {
		s.reason, s.err = reason, err
		s.stopped.Store(true)
	}
}

func (s *stopper) why() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason, s.err
}

// stopsPass reports whether a result means no further advice may leave:
// the host is unreachable, or does not know this terminal.
func stopsPass(ctx context.Context, r result) (string, error) {
	switch {
	case r.err == nil && r.ans.Kind == AnswerNotRegistered:
		return StopNotRegistered, fmt.Errorf("%w: code %s for %s", ErrNotRegistered, r.ans.Outcome.ResponseCode, r.rec.ID)
	case r.err != nil && ctx.Err() == nil && errors.Is(r.err, payment.ErrUnreachable) && !errors.Is(r.err, ErrUnsendable):
		return StopLinkDown, fmt.Errorf("%w: %w", ErrLinkDown, r.err)
	}
	return "", nil
}

// forward sends recs, up to Window at once, and commits their results in
// groups. Before each advice leaves, the reversal queue is checked: a
// sale that timed out meanwhile (the engine) leaves a reversal, and
// nothing new may leave before it (invariant 4).
func (f *Forwarder) forward(ctx context.Context, recs []txn.Record, rep *Report, startMono time.Duration) error {
	if len(recs) == 0 {
		return nil
	}
	f.updateProgress(func(p *Progress) { p.Phase = "forwarding" }, startMono)
	results := make(chan result, f.cfg.Window+f.cfg.GroupSize)
	sem := make(chan struct{}, f.cfg.Window)
	sendCtx, cancelSends := context.WithCancel(ctx)
	defer cancelSends()
	var st stopper
	var launched atomic.Int64
	go func() {
		var wg gosync.WaitGroup
		defer func() {
			wg.Wait()
			close(results)
		}()
		for _, rec := range recs {
			select {
			case sem <- struct{}{}:
			case <-sendCtx.Done():
				return
			}
			if st.stopped.Load() || sendCtx.Err() != nil {
				return
			}
			if id, err := f.reversalPending(sendCtx); err != nil || id != "" {
				if err == nil {
					st.halt(StopReversalPending, fmt.Errorf("%w: %s appeared during the pass", ErrReversalPending, id))
				} else if sendCtx.Err() == nil {
					st.halt(StopJournal, fmt.Errorf("%w: reading the reversal queue: %w", ErrJournal, err))
				}
				return
			}
			launched.Add(1)
			wg.Go(func() {
				ans, err := f.sendOne(sendCtx, rec)
				r := result{rec: rec, ans: ans, err: err}
				if reason, err := stopsPass(sendCtx, r); reason != "" {
					st.halt(reason, err) // before the window slot frees
				}
				results <- r
				<-sem
			})
		}
	}()

	c := collector{f: f, ctx: ctx, rep: rep, stop: &st, startMono: startMono}
	var timer <-chan time.Time // the group's commit deadline
collect:
	for {
		select {
		case r, ok := <-results:
			if !ok {
				break collect
			}
			c.handle(r)
			switch {
			case len(c.group) >= f.cfg.GroupSize:
				c.flush()
				timer = nil
			case len(c.group) > 0 && timer == nil:
				timer = f.clk.After(f.cfg.GroupDelay)
			}
		case <-timer:
			timer = nil
			c.flush()
		}
	}
	c.flush()
	rep.NotSent += len(recs) - int(launched.Load())
	if c.jerr != nil {
		rep.Stopped = StopJournal
		return c.jerr
	}
	if reason, err := st.why(); err != nil {
		rep.Stopped = reason
		return err
	}
	if ctx.Err() != nil {
		rep.Stopped = StopCanceled
		return ctx.Err()
	}
	return nil
}

// reversalPending returns the ID of a ReversalPending record, if any.
func (f *Forwarder) reversalPending(ctx context.Context) (txn.ID, error) {
	revs, err := f.j.PendingReversals(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range revs {
		if r.State == txn.ReversalPending {
			return r.ID, nil
		}
	}
	return "", nil
}

// pendingChange is a result waiting for its group commit.
type pendingChange struct {
	ch  Change
	rec txn.Record
}

// collector turns results into journal changes and commits them.
type collector struct {
	f         *Forwarder
	ctx       context.Context
	rep       *Report
	stop      *stopper
	startMono time.Duration
	group     []pendingChange
	jerr      error // a commit failed: nothing more is recorded
	notReg    bool
}

// handle decides what one result means.
func (c *collector) handle(r result) {
	f, rep := c.f, c.rep
	add := func(ch Change) { c.group = append(c.group, pendingChange{ch: ch, rec: r.rec}) }
	switch {
	case r.err == nil:
		switch r.ans.Kind {
		case AnswerApproved:
			f.noteSuccess()
			add(Change{ID: r.rec.ID, To: txn.ForwardedApproved, Outcome: r.ans.Outcome, Reason: "forwarded: approved"})
		case AnswerDeclined:
			f.noteSuccess()
			add(Change{ID: r.rec.ID, To: txn.ForwardedDeclined, Outcome: r.ans.Outcome,
				Reason: "forwarded: declined, code " + r.ans.Outcome.ResponseCode})
		case AnswerNotRegistered:
			if f.link != nil {
				f.link.MarkUp()
			}
			rep.NotSent++
			_, err := stopsPass(c.ctx, r)
			c.stop.halt(StopNotRegistered, err)
			f.noteFailure(err, false)
			if !c.notReg {
				c.notReg = true
				f.log.Error("host does not know this terminal: forwarding stopped", "alarm", "not_registered", "code", r.ans.Outcome.ResponseCode)
				f.notify(Notice{Kind: NoticeNotRegistered, Code: r.ans.Outcome.ResponseCode,
					Message: "terminal unknown to host: stored sales cannot be forwarded / 终端未登记"})
			}
		default: // AnswerRetry, AnswerReSignIn, anything unknown
			if f.link != nil {
				f.link.MarkUp()
			}
			add(Change{ID: r.rec.ID, Attempt: true,
				Reason: fmt.Sprintf("forward answered %s (code %s): retry later", r.ans.Kind, r.ans.Outcome.ResponseCode)})
		}
	case errors.Is(r.err, ErrUnsendable):
		rep.Skipped++
		f.noteFailure(r.err, false)
		c.progress(0, 1, 0)
		f.mu.Lock()
		first := !f.alarmed[r.rec.ID]
		f.alarmed[r.rec.ID] = true
		f.mu.Unlock()
		if first {
			f.log.Error("stored sale cannot be forwarded: skipped, left in the outbox", "alarm", "offline_unsendable",
				"txn", r.rec.ID, "stan", r.rec.Identity.STAN, "err", r.err)
			f.notify(noticeFor(NoticeUnsendable, r.rec, "stored sale cannot be sent: "+r.err.Error()))
		}
	case c.ctx.Err() != nil && !errors.Is(r.err, payment.ErrNoResponse):
		rep.NotSent++ // stopping: it did not leave
	case errors.Is(r.err, payment.ErrUnreachable):
		rep.NotSent++
		f.noteFailure(r.err, true)
		c.stop.halt(StopLinkDown, fmt.Errorf("%w: %w", ErrLinkDown, r.err))
	default: // payment.ErrNoResponse, or an error that does not say: it may have left
		f.noteFailure(r.err, false)
		add(Change{ID: r.rec.ID, Attempt: true, Reason: "forward not answered: " + r.err.Error()})
	}
}

// flush commits the waiting group in one TransitionMany.
func (c *collector) flush() {
	if len(c.group) == 0 {
		return
	}
	group := c.group
	c.group = nil
	if c.jerr != nil {
		return // the journal failed: the host's answers will be asked again
	}
	f, rep := c.f, c.rep
	changes := make([]Change, len(group))
	for i, g := range group {
		changes[i] = g.ch
	}
	recs, errs, err := f.j.TransitionMany(context.WithoutCancel(c.ctx), changes)
	rep.Commits++
	if err != nil {
		c.jerr = fmt.Errorf("%w: committing %d results: %w", ErrJournal, len(changes), err)
		c.stop.halt(StopJournal, c.jerr)
		f.log.Error("forward results not recorded; they will be sent again", "results", len(changes), "err", err)
		return
	}
	var done, failed int
	var amount int64
	for i, g := range group {
		if errs[i] != nil {
			rep.Rejected++
			f.log.Error("forward result not recorded", "txn", g.ch.ID, "err", errs[i])
			continue
		}
		rec := recs[i]
		switch {
		case g.ch.Attempt:
			rep.Retry++
			failed++
			f.log.Warn("stored sale to be sent again", "txn", rec.ID, "stan", rec.Identity.STAN, "attempts", rec.Attempts, "why", g.ch.Reason)
		case g.ch.To == txn.ForwardedApproved:
			rep.Approved++
			done++
		case g.ch.To == txn.ForwardedDeclined:
			rep.Declined++
			done++
			f.log.Warn("stored sale declined after forwarding", "txn", rec.ID, "stan", rec.Identity.STAN,
				"amount", rec.Amount.String(), "code", rec.Outcome.ResponseCode)
			f.notify(noticeFor(NoticeDeclined, rec, "declined after forwarding: "+rec.Outcome.Message))
		}
		if !g.ch.Attempt && rec.Amount.Currency == f.cfg.Currency {
			amount += rec.Amount.Minor
		}
	}
	c.progress(done, failed, amount)
}

// progress adds to the pass's progress.
func (c *collector) progress(done, failed int, amount int64) {
	c.f.updateProgress(func(p *Progress) {
		p.Done += done
		p.Failed += failed
		p.AmountDone.Minor += amount
	}, c.startMono)
}

// sendOne unseals rec's card data and sends its advice.
func (f *Forwarder) sendOne(ctx context.Context, rec txn.Record) (Answer, error) {
	if err := ctx.Err(); err != nil {
		return Answer{}, err
	}
	s, err := f.j.Unseal(ctx, rec.ID)
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, ctx.Err()
		}
		return Answer{}, fmt.Errorf("%w: %s: card data: %w", ErrUnsendable, rec.ID, err)
	}
	defer clear(s.ICC)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for m := f.maxIn.Load(); n > m && !f.maxIn.CompareAndSwap(m, n); m = f.maxIn.Load() {
	}
	sctx, cancel := withClockTimeout(ctx, f.clk, f.cfg.SendTimeout)
	defer cancel()
	return f.sender.Forward(sctx, rec, s)
}

// withClockTimeout is context.WithTimeout on the injected clock; the
// cause says what timed out.
func withClockTimeout(ctx context.Context, clk clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	return clock.WithTimeoutCause(ctx, clk, d, fmt.Errorf("sync: no answer within %v: %w", d, context.DeadlineExceeded))
}
