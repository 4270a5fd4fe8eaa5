package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

// OutboxTotals is what the journal holds stored offline and not yet
// forwarded: the transactions in state txn.StoredOffline.
type OutboxTotals struct {
	Count  int                      // how many
	Amount map[money.Currency]int64 // their total per currency, minor units
	Oldest time.Time                // Created of the oldest one (UTC); zero when Count is 0
}

// OutboxStats gives the engine the journal's real totals for the offline
// decision and the daily limit (user-issues §1.9: limits are enforced
// against the journal, not an in-memory count). The store implements it;
// cmd wires it in Deps.Outbox. Both methods only read.
type OutboxStats interface {
	// OfflineTotals returns the outbox: every transaction in state
	// txn.StoredOffline (and only those: expired, forwarded and other
	// states are not counted), their count, their amounts summed per
	// currency, and the Created time of the oldest. It is read at the
	// moment of each offline decision, so it must reflect every committed
	// change, including the forwarder's acknowledgements.
	OfflineTotals(ctx context.Context) (OutboxTotals, error)
	// SalesTotal returns the sum of Amount.Minor over the transactions of
	// type txn.Sale in currency c whose Created time t satisfies
	// from <= t < to and whose state is txn.Approved, txn.StoredOffline or
	// txn.ForwardedApproved (money taken or about to be). Declined,
	// aborted, reversed, reversal-pending, expired and forwarded-declined
	// sales are not counted; voids and refunds are not subtracted. The
	// engine passes the bounds of the terminal's local day.
	SalesTotal(ctx context.Context, c money.Currency, from, to time.Time) (int64, error)
}

// LimitOutboxTotals is the Limit of an offline refusal when the outbox
// totals could not be read (or Deps.Outbox is not wired): without the
// journal's real totals no limit can be checked, so offline is refused.
const LimitOutboxTotals = "journal outbox totals"

// Merchant-facing offline messages.
const (
	msgStoredOffline = "stored, not yet authorised / 离线交易，待上送"
	msgOfflineOnly   = "tap or key in a card: offline only, a reversal is pending and the host cannot be reached"
)

// OfflineStatus is the offline part of Status.
type OfflineStatus struct {
	// Enabled: the merchant's config turns offline sales on.
	Enabled bool `json:"enabled"`
	// Armed: an offline sale of the smallest amount would be allowed now
	// (enabled, signed in recently enough, outbox below its count and
	// total limits, nothing past the hard stop). The entry mode and the
	// amount are checked per sale.
	Armed bool `json:"armed"`
	// Reason says why offline is not armed; empty when armed.
	Reason string `json:"reason,omitempty"`
	// Outbox counts the stored sales waiting to be forwarded.
	Outbox int `json:"outbox"`
	// OutboxAmount is their total in the terminal currency.
	OutboxAmount money.Amount `json:"outbox_amount"`
	// OutboxOldest is the Created time of the oldest stored sale.
	OutboxOldest time.Time `json:"outbox_oldest,omitzero"`
	// LastSignIn is the link's last successful sign-in (zero: never).
	LastSignIn time.Time `json:"last_sign_in,omitzero"`
	// Warn is set when the oldest stored sale is past the forward window
	// (or a stored time lies in the future: the clock went back).
	Warn string `json:"warn,omitempty"`
}

// outboxCache is the last outbox read, for Status.
type outboxCache struct {
	ok  bool
	err string
	ob  OutboxTotals
}

// link returns the link state, or "never signed in" without LinkInfo.
func (e *Engine) link() risk.Link {
	if e.linkInfo == nil {
		return risk.Link{}
	}
	return e.linkInfo()
}

// readOutbox reads the journal's outbox totals and caches them for Status.
func (e *Engine) readOutbox(ctx context.Context) (OutboxTotals, error) {
	if e.ob == nil {
		return OutboxTotals{}, fmt.Errorf("no outbox statistics wired (Deps.Outbox)")
	}
	tot, err := e.ob.OfflineTotals(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		// Keep the last good totals for display, but not as "armed".
		e.outbox.ok, e.outbox.err = false, err.Error()
		return OutboxTotals{}, err
	}
	e.outbox = outboxCache{ok: true, ob: tot}
	return tot, nil
}

func (e *Engine) riskOutbox(tot OutboxTotals) risk.Outbox {
	return risk.Outbox{Count: tot.Count, Total: tot.Amount[e.cfg.Currency], Oldest: tot.Oldest}
}

// decideOffline makes the offline decision for a sale of amount read with
// entry, against the journal's totals read now. With precheck set the
// entry mode is not known yet and not checked.
func (e *Engine) decideOffline(ctx context.Context, amount money.Amount, entry txn.EntryMode, precheck bool) risk.Decision {
	l := e.cfg.Offline
	now := e.clk.Now()
	link := e.link()
	ob := risk.Outbox{}
	if l.Enabled {
		tot, err := e.readOutbox(ctx)
		if err != nil {
			return risk.Decision{Limit: LimitOutboxTotals,
				Reason: "the journal's outbox totals could not be read (" + err.Error() + "), so no offline limit can be checked / 无法读取离线统计"}
		}
		ob = e.riskOutbox(tot)
	}
	if precheck {
		return risk.PrecheckOffline(l, now, amount, ob, link)
	}
	return risk.DecideOffline(l, now, amount, entry, ob, link)
}

// refusal is how an offline refusal reads in messages: "offline refused
// (offline.max_amount): <reason>".
func refusal(d risk.Decision) string {
	return "offline refused (" + d.Limit + "): " + d.Reason
}

// offlineModes returns the modes of a sale that may be taken offline.
func (e *Engine) offlineModes(modes []txn.EntryMode) []txn.EntryMode {
	var out []txn.EntryMode
	for _, m := range modes {
		if e.cfg.Offline.AllowsMode(m) {
			out = append(out, m)
		}
	}
	return out
}

// offline makes the offline decision for a journaled sale whose request
// provably did not leave (the host was unreachable, or a pending reversal
// forbids online requests) and either stores it offline or aborts it.
// short is the merchant's summary of why it did not go online ("host
// unreachable"); why is the longer version for the journal's history.
func (e *Engine) offline(ctx context.Context, s *Session, rec txn.Record, short, why string) Result {
	d := e.decideOffline(ctx, rec.Amount, rec.Entry, false)
	if s.abandoned() {
		return abandonedResult
	}
	if d.Allowed {
		return e.storeOffline(ctx, s, rec, d, why)
	}
	e.log.Warn("offline refused", "txn", rec.ID, "limit", d.Limit, "reason", d.Reason)
	msg := short + "; " + refusal(d)
	after, err := e.j.Transition(ctx, rec.ID, txn.Aborted, txn.Outcome{Message: msg}, why+"; "+refusal(d))
	if err != nil {
		return e.journalLost(ctx, rec, "not sent ("+why+")", err)
	}
	if !s.decided(after, StepFailed) {
		return abandonedResult
	}
	e.indicate(ctx, SignalAlert)
	return failed(StepFailed, masked(after), msg)
}

// storeOffline moves a journaled, unsent sale to txn.StoredOffline under
// an allowing decision d: the journal first (invariant 1), then the event,
// the lights and the receipts (marked offline by receipt.Build).
func (e *Engine) storeOffline(ctx context.Context, s *Session, rec txn.Record, d risk.Decision, why string) Result {
	reason := "offline approval (" + why + "): " + d.Summary
	if d.Warn != "" {
		reason += "; warning: " + d.Warn
	}
	after, err := e.j.Transition(ctx, rec.ID, txn.StoredOffline, txn.Outcome{Message: "stored offline"}, reason)
	if err != nil {
		return e.journalLost(ctx, rec, "approved offline", err)
	}
	if !s.decided(after, StepStoredOffline) {
		e.log.Error("sale stored offline after the supervisor reset it; it will be forwarded",
			"alarm", "late_outcome", "txn", after.ID, "stan", after.Identity.STAN, "amount", after.Amount.String())
		return abandonedResult
	}
	e.log.Info("stored offline", "txn", after.ID, "stan", after.Identity.STAN, "amount", after.Amount.String(),
		"checks", d.Summary, "warn", d.Warn)
	msg := msgStoredOffline
	if d.Warn != "" {
		msg += "; " + d.Warn
	}
	s.emit(StepStoredOffline, masked(after), msg)
	e.indicate(ctx, SignalSuccess)
	return e.receipts(ctx, s, after, StepStoredOffline, msg)
}

// offlineStatus builds Status.Offline from the cached outbox totals.
func (e *Engine) offlineStatus(c outboxCache) OfflineStatus {
	l := e.cfg.Offline
	now := e.clk.Now()
	link := e.link()
	st := OfflineStatus{
		Enabled:      l.Enabled,
		Outbox:       c.ob.Count,
		OutboxAmount: money.Amount{Minor: c.ob.Amount[e.cfg.Currency], Currency: e.cfg.Currency},
		OutboxOldest: c.ob.Oldest,
		LastSignIn:   link.LastSignIn,
	}
	ob := e.riskOutbox(c.ob)
	st.Warn = risk.ForwardWarning(l, ob, now)
	switch {
	case !l.Enabled:
		st.Reason = "offline sales are not enabled (offline.enabled)"
	case e.ob == nil:
		st.Reason = "no outbox statistics wired: offline sales are refused"
	case !c.ok && c.err != "":
		st.Reason = "the outbox totals could not be read: " + c.err
	case !c.ok:
		st.Reason = "the outbox totals have not been read yet"
	default:
		d := risk.PrecheckOffline(l, now, money.Amount{Minor: 1, Currency: e.cfg.Currency}, ob, link)
		st.Armed, st.Reason = d.Allowed, refusalOrEmpty(d)
		if d.Warn != "" {
			st.Warn = d.Warn // the forward window and any clock warning
		}
	}
	return st
}

func refusalOrEmpty(d risk.Decision) string {
	if d.Allowed {
		return ""
	}
	return d.Limit + ": " + d.Reason
}

// dayBounds returns the start of the local day of now in the terminal's
// time zone and the start of the next one (23 or 25 hours later on a
// daylight-saving change), both in UTC.
func (e *Engine) dayBounds(now time.Time) (from, to time.Time) {
	t := now.In(e.cfg.Location)
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, e.cfg.Location)
	return start.UTC(), start.AddDate(0, 0, 1).UTC()
}
