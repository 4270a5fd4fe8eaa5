package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/posagent/posagent/core/acquirer"
	"github.com/posagent/posagent/core/link"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/risk"
	coresync "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/drivers/modem"
	"github.com/posagent/posagent/store"
)

// senderAdapter turns the acquirer link into the forwarder's Sender.
type senderAdapter struct {
	a   *acquirer.Acquirer
	log *slog.Logger
}

func (s senderAdapter) Forward(ctx context.Context, rec txn.Record, sens txn.Sensitive) (coresync.Answer, error) {
	resp, err := s.a.Forward(ctx, rec, sens)
	if err != nil {
		if errors.Is(err, acquirer.ErrBadRequest) {
			return coresync.Answer{}, fmt.Errorf("%w: %w", coresync.ErrUnsendable, err)
		}
		return coresync.Answer{}, err
	}
	out := txn.Outcome{ResponseCode: resp.Outcome.Code, AuthCode: resp.AuthCode, RRN: resp.RRN,
		Message: resp.Outcome.Message, HostTime: resp.HostTime}
	kind := coresync.AnswerDeclined
	switch resp.Outcome.Kind {
	case acquirer.Approved:
		kind = coresync.AnswerApproved
	case acquirer.RetryLater:
		kind = coresync.AnswerRetry
	case acquirer.ReSignIn:
		kind = coresync.AnswerReSignIn
	case acquirer.NotRegistered:
		kind = coresync.AnswerNotRegistered
	}
	if resp.Outcome.Code == "94" {
		// Duplicate transmission: the host holds a different message under
		// this identity. Never call that a decline; retry and alarm.
		s.log.Error("ALARM: host answered 94 (duplicate) to an offline advice; will retry", "txn", rec.ID, "stan", rec.Identity.STAN)
		kind = coresync.AnswerRetry
	}
	return coresync.Answer{Kind: kind, Outcome: out}, nil
}

func (s senderAdapter) Reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	return s.a.Reverse(ctx, rec)
}

// modemAdapter gives the link monitor the modem's view of the radio.
type modemAdapter struct{ m *modem.Modem }

func (m modemAdapter) ModemState(ctx context.Context) (link.ModemState, error) {
	st, err := m.m.Status(ctx)
	if err != nil {
		return link.ModemState{}, err
	}
	return link.ModemState{
		Responsive: st.Responsive, SIMReady: st.SIM == modem.SIMReady,
		Registered: st.Registered, Roaming: st.Roaming,
		SignalDBm: st.Signal.DBm, SignalKnown: st.Signal.Known, Operator: st.Operator,
	}, nil
}

// kickingJournal tells the forwarder at once when a sale is stored offline.
type kickingJournal struct {
	*store.Journal
	kick func()
}

func (k kickingJournal) Transition(ctx context.Context, id txn.ID, to txn.State, out txn.Outcome, reason string) (txn.Record, error) {
	r, err := k.Journal.Transition(ctx, id, to, out, reason)
	if err == nil && (to == txn.StoredOffline || to == txn.ReversalPending) && k.kick != nil {
		k.kick()
	}
	return r, err
}

var _ payment.Journal = kickingJournal{}

// linkInfo reports the last successful sign-in: the live link's, or the
// one the journal recorded (so a terminal booted with the host unreachable
// still knows how fresh its keys are).
func linkInfo(a *acquirer.Acquirer, j *store.Journal) func() risk.Link {
	return func() risk.Link {
		at := a.Status().LastSignIn
		if at.IsZero() && j != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			at, _ = j.LastSignIn(ctx)
		}
		return risk.Link{LastSignIn: at}
	}
}

// printNotices prints a notice receipt for each sale the host declined
// after it was forwarded, so the merchant learns of it (not a silent drop).
func printNotices(ctx context.Context, fwd *coresync.Forwarder, j payment.Journal, merchant receipt.Merchant, loc *time.Location, log *slog.Logger) {
	ch := fwd.Notices()
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-ch:
			if !ok {
				return
			}
			log.Warn("store-and-forward notice", "kind", n.Kind, "txn", n.ID, "message", n.Message)
			if n.Kind != coresync.NoticeDeclined {
				continue
			}
			rec, err := j.Get(ctx, n.ID)
			if err != nil {
				log.Error("notice: cannot read the declined transaction", "txn", n.ID, "err", err)
				continue
			}
			if _, err := j.QueuePrint(ctx, receipt.Build(merchant, rec, receipt.MerchantCopy, loc)); err != nil {
				log.Error("notice: cannot queue the decline notice", "txn", n.ID, "err", err)
			}
		}
	}
}

// reportingAcquirer is the engine's acquirer: the link, with the fate of
// each request reported to the link monitor (an answer: up; the host
// provably unreachable: down; anything else, such as no answer or a
// request that could not be built: neither, it says nothing sure about
// the link).
type reportingAcquirer struct {
	payment.Acquirer
	mon interface {
		MarkUp()
		MarkDown(error)
	}
}

func (r reportingAcquirer) report(err error) {
	switch {
	case err == nil:
		r.mon.MarkUp()
	case errors.Is(err, payment.ErrUnreachable):
		r.mon.MarkDown(err)
	}
}

func (r reportingAcquirer) Authorize(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
	resp, err := r.Acquirer.Authorize(ctx, req)
	r.report(err)
	return resp, err
}

func (r reportingAcquirer) Reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	out, err := r.Acquirer.Reverse(ctx, rec)
	r.report(err)
	return out, err
}

// refreshAfterPasses kicks the engine when a forwarder pass ends, so the
// engine's queue counts (posagent status "reversals N pending") follow
// what the forwarder sent instead of waiting for the engine's next pass.
func refreshAfterPasses(ctx context.Context, fwd *coresync.Forwarder, eng *payment.Engine) {
	// The channel keeps only the latest value, so a short pass may show
	// up as its end alone: kick on every "not running" (kicks merge).
	ch, stop := fwd.WatchProgress()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-ch:
			if !ok {
				return
			}
			if !p.Running {
				eng.Kick()
			}
		}
	}
}
