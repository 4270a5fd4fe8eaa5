package payment_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

// offlineOn turns offline on with the config defaults: 300.00 per sale,
// 5000.00 stored, 200 sales, 24 h forward window, 72 h hard stop, 7 days
// since the last sign-in.
func offlineOn(c *payment.Config) {
	o := config.Default().Offline
	o.Enabled = true
	c.Offline = risk.FromConfig(o)
}

func unreachable(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
	return payment.AuthResponse{}, fmt.Errorf("dial tcp 10.0.0.1:5000: %w", payment.ErrUnreachable)
}

func noAnswer(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
	return payment.AuthResponse{}, fmt.Errorf("link: %w: read timeout", payment.ErrNoResponse)
}

func reversalUnreachable(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	return txn.Outcome{}, fmt.Errorf("dial: %w", payment.ErrUnreachable)
}

func lastReason(r txn.Record) string { return r.History[len(r.History)-1].Reason }

// TestOfflineApproval: the host cannot be reached, the limits hold: the
// sale is stored offline, journal first, then the event, the lights and
// receipts marked offline; stored sales already queued are not touched.
func TestOfflineApproval(t *testing.T) {
	en := newEnv(t, offlineOn)
	en.acq.auth = unreachable
	queued := en.j.add(txn.StoredOffline, 1000) // an earlier offline sale, waiting
	releaseStore := make(chan struct{})
	en.j.gateTransition[txn.StoredOffline] = releaseStore

	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	en.until("Transition(stored_offline) in progress", func() bool { return en.j.blockedIn() == "Transition(stored_offline)" })
	if hasStep(events(s), payment.StepStoredOffline) || en.calls.index("journal.QueuePrint") >= 0 ||
		slices.Contains(en.ind.got(), payment.SignalSuccess) {
		t.Fatal("the customer was told before the offline approval was durable")
	}
	close(releaseStore)
	res := en.await(s)
	evs := events(s)

	equalSteps(t, evs, payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
		payment.StepAuthorising, payment.StepStoredOffline, payment.StepPrinting, payment.StepDone)
	if evs[4].Message != "stored, not yet authorised / 离线交易，待上送" || evs[4].State != txn.StoredOffline {
		t.Fatalf("stored_offline event = %+v", evs[4])
	}
	if res.Step != payment.StepDone || res.Outcome != payment.StepStoredOffline || res.Error != "" {
		t.Fatalf("result = %+v", res)
	}
	rec := en.j.get(res.Record.ID)
	if rec.State != txn.StoredOffline || !rec.Offline || rec.Sealed == nil {
		t.Fatalf("journaled record = %+v; want stored offline with its sealed data kept for forwarding", rec)
	}
	reason := lastReason(rec)
	for _, want := range []string{"offline approval (host unreachable, not sent: dial tcp 10.0.0.1:5000: acquirer unreachable)",
		"entry contactless", "count 1+1 ≤ 200", "amount 50.00 CNY ≤ 300.00 CNY", "total 10.00 CNY+50.00 CNY ≤ 5000.00 CNY",
		"sign-in 2h ago ≤ 7d", "oldest 0s ≤ 72h"} {
		contains(t, "journal reason", reason, want)
	}
	if en.j.sens[rec.ID].PAN != testPAN {
		t.Fatal("the card data to forward was not sealed with the record")
	}
	if n := en.calls.count("acquirer.Authorize"); n != 1 || en.acq.reversals() != 0 {
		t.Fatalf("authorize %d, reversals %d: an unsent request must not be reversed", n, en.acq.reversals())
	}
	got := en.prn.got()
	if len(got) != 2 {
		t.Fatalf("printed %d receipts", len(got))
	}
	for _, r := range got {
		contains(t, "receipt", r.Text(32), "OFFLINE\nstored, not yet authorised")
	}
	if sig := en.ind.got(); sig[len(sig)-1] != payment.SignalSuccess {
		t.Fatalf("signals = %v", sig)
	}
	order := func(before, after string) {
		t.Helper()
		if b, a := en.calls.index(before), en.calls.index(after); b < 0 || a < 0 || b > a {
			t.Errorf("%s must come before %s: %v", before, after, en.calls.all())
		}
	}
	order("journal.Create.done", "acquirer.Authorize")
	order("acquirer.Authorize", "journal.OfflineTotals")
	order("journal.OfflineTotals", "journal.Transition(stored_offline)")
	order("journal.Transition(stored_offline).done", "journal.QueuePrint")

	// The queued sale is untouched (a new sale never touches the outbox's
	// entries, user-issues §1.1).
	if q := en.j.get(queued.ID); q.State != txn.StoredOffline || len(q.History) != 1 {
		t.Fatalf("queued offline sale changed: %+v", q)
	}
	st := en.e.Status().Offline
	if !st.Enabled || !st.Armed || st.Outbox != 2 || st.OutboxAmount != cny(6000) || !st.OutboxOldest.Equal(epoch) || st.Warn != "" {
		t.Fatalf("status.offline = %+v", st)
	}
}

// TestOfflineRefusals: every limit, when it stops a sale, is named to the
// merchant and in the journal, and the record is aborted (nothing sent,
// nothing to reverse).
func TestOfflineRefusals(t *testing.T) {
	keyed := card.Data{Entry: txn.Keyed, Scheme: "Visa", MaskedPAN: "476173******0010",
		Sensitive: txn.Sensitive{PAN: "4761739001010010", Expiry: "2812"}, CVV: "739"}
	qr := card.Data{Entry: txn.QR, Scheme: "WeChat Pay", Sensitive: txn.Sensitive{QRCode: "134567890123456789"}}
	tests := []struct {
		name   string
		cfg    func(*payment.Config)
		setup  func(en *env)
		card   card.Data
		amount int64
		limit  string
		reason string
	}{
		{"QR is online only", offlineOn, nil, qr, 5000, "entry mode qr", "QR payments are online only"},
		{"keyed not in the offline modes", func(c *payment.Config) {
			offlineOn(c)
			c.Offline.Modes = []txn.EntryMode{txn.Contactless}
		}, nil, keyed, 5000, "entry mode keyed", "may not be taken offline"},
		{"one fen over the offline maximum", offlineOn, nil, unionPayCard(), 30001, risk.LimitAmount,
			"300.01 CNY is above the offline maximum of 300.00 CNY"},
		{"count full", func(c *payment.Config) { offlineOn(c); c.Offline.MaxCount = 2 }, func(en *env) {
			en.j.add(txn.StoredOffline, 100)
			en.j.add(txn.StoredOffline, 100)
		}, unionPayCard(), 5000, risk.LimitCount, "2 sales already stored offline, the limit is 2"},
		{"total one fen over", offlineOn, func(en *env) {
			en.j.add(txn.StoredOffline, 300000)
			en.j.add(txn.StoredOffline, 195001)
		}, unionPayCard(), 5000, risk.LimitTotal, "stored 4950.01 CNY + 50.00 CNY would pass the offline total of 5000.00 CNY"},
		{"oldest past the hard stop", offlineOn, func(en *env) {
			en.j.add(txn.StoredOffline, 100)
			en.clk.Advance(72*time.Hour + time.Second)
			en.link.set(en.clk.Now())
		}, unionPayCard(), 5000, risk.LimitHardStop, "the oldest stored sale is 72h old, past the 72h hard stop"},
		{"sign-in too old", offlineOn, func(en *env) { en.link.set(epoch.Add(-169 * time.Hour)) },
			unionPayCard(), 5000, risk.LimitSignInAge, "last sign-in 7d1h ago, offline needs one within 7d"},
		{"never signed in", offlineOn, func(en *env) { en.link.set(time.Time{}) },
			unionPayCard(), 5000, risk.LimitSignInAge, "never signed in"},
		{"outbox totals unreadable", offlineOn, func(en *env) { en.j.totalsErr = errors.New("bucket outbox: read error") },
			unionPayCard(), 5000, payment.LimitOutboxTotals, "bucket outbox: read error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t, tc.cfg)
			en.acq.auth = unreachable
			if tc.setup != nil {
				tc.setup(en)
			}
			before := en.j.count()
			s := en.start(tc.amount)
			en.cards.taps <- tc.card
			res := en.await(s)
			if res.Step != payment.StepFailed || res.Record == nil || res.Record.State != txn.Aborted {
				t.Fatalf("result = %+v", res)
			}
			want := "host unreachable; offline refused (" + tc.limit + "): "
			contains(t, "message", res.Message, want)
			contains(t, "message", res.Message, tc.reason)
			rec := en.j.get(res.Record.ID)
			contains(t, "journal reason", lastReason(rec), "offline refused ("+tc.limit+")")
			contains(t, "journal outcome", rec.Outcome.Message, tc.limit)
			if rec.Offline || en.j.count() != before+1 || en.acq.reversals() != 0 || en.prn.tries() != 0 {
				t.Fatalf("record %+v, %d records, %d reversals, %d prints", rec, en.j.count(), en.acq.reversals(), en.prn.tries())
			}
			contains(t, "log", en.logs.String(), "offline refused")
			// Armed says whether the smallest card sale would be stored
			// now: the refusals that depend on this sale's mode or amount
			// (4950.01 of 5000.00 stored leaves room for 0.01) leave it armed.
			perSale := map[string]bool{"entry mode qr": true, "entry mode keyed": true, risk.LimitAmount: true, risk.LimitTotal: true}
			if st := en.e.Status().Offline; st.Armed != perSale[tc.limit] || (!st.Armed && st.Reason == "") {
				t.Fatalf("status.offline = %+v", st)
			}
		})
	}

	t.Run("no outbox statistics wired", func(t *testing.T) {
		en := newEnv(t)
		cfg := payment.Config{Location: time.UTC}
		offlineOn(&cfg)
		e, err := payment.New(cfg, payment.Deps{
			Journal: en.j, Cards: en.cards, Acquirer: en.acq, Printer: en.prn, Clock: en.clk, LinkInfo: en.link.info})
		if err != nil {
			t.Fatal(err)
		}
		en.acq.auth = unreachable
		s, err := e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(100)})
		if err != nil {
			t.Fatal(err)
		}
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		contains(t, "message", res.Message, "offline refused (journal outbox totals)")
		if st := e.Status().Offline; st.Armed || !strings.Contains(st.Reason, "no outbox statistics") {
			t.Fatalf("status.offline = %+v", st)
		}
	})
}

// TestOfflineAtTheLimits: exactly at each limit the sale is stored.
func TestOfflineAtTheLimits(t *testing.T) {
	en := newEnv(t, func(c *payment.Config) { offlineOn(c); c.Offline.MaxCount = 3 })
	en.acq.auth = unreachable
	en.j.add(txn.StoredOffline, 300000)
	en.j.add(txn.StoredOffline, 170000)
	en.clk.Advance(72 * time.Hour) // the oldest is exactly at the hard stop
	en.link.set(en.clk.Now().Add(-168 * time.Hour))
	s := en.start(30000) // the offline maximum, the total reaches 5000.00, the count 3
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	if res.Outcome != payment.StepStoredOffline {
		t.Fatalf("result = %+v", res)
	}
	// Past the forward window: stored, but the merchant is warned.
	contains(t, "message", res.Message, "offline.forward_window: the oldest stored sale is 72h old, past the 24h forward window")
	contains(t, "journal reason", lastReason(en.j.get(res.Record.ID)), "warning: offline.forward_window")
	st := en.e.Status().Offline
	if st.Armed || !strings.Contains(st.Reason, risk.LimitCount) || !strings.Contains(st.Warn, "past the 24h forward window") {
		t.Fatalf("status.offline = %+v; the outbox is full and old", st)
	}
}

// TestNoResponseThenOffline: a request that may have reached the host is
// never approved offline itself; its reversal is queued first, and the
// customer's sale is retaken offline as a new record.
func TestNoResponseThenOffline(t *testing.T) {
	en := newEnv(t, offlineOn)
	en.acq.auth = noAnswer
	en.acq.reverse = reversalUnreachable
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	evs := events(s)

	equalSteps(t, evs, payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
		payment.StepAuthorising, payment.StepReversalPending, payment.StepStoredOffline, payment.StepPrinting, payment.StepDone)
	first, second := evs[3].TxnID, evs[5].TxnID
	if first == "" || second == "" || first == second {
		t.Fatalf("records: online %q, offline %q", first, second)
	}
	if res.Outcome != payment.StepStoredOffline || res.Record.ID != second {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, "stored, not yet authorised")
	contains(t, "message", res.Message, "the unanswered online attempt (STAN 000001) is being reversed")

	online, offline := en.j.get(first), en.j.get(second)
	if online.State != txn.ReversalPending || online.Offline || en.acq.reversals() != 1 {
		t.Fatalf("unanswered record = %+v", online)
	}
	if offline.State != txn.StoredOffline || !offline.Offline || offline.Identity.STAN == online.Identity.STAN {
		t.Fatalf("offline record = %+v", offline)
	}
	contains(t, "offline reason", lastReason(offline), "no valid answer to "+string(first)+" (STAN 000001), which is being reversed")
	if d0, d1 := en.j.drafts[0], en.j.drafts[1]; d0 != d1 {
		t.Fatalf("drafts differ: %+v vs %+v", d0, d1)
	}
	if en.j.sens[second].PAN != testPAN || en.j.sens[second].Track2 != en.j.sens[first].Track2 {
		t.Fatal("the offline record does not carry the card data")
	}
	if n := en.calls.count("acquirer.Authorize"); n != 1 {
		t.Fatalf("Authorize called %d times", n)
	}
	// The reversal is durable before the second record exists.
	calls := en.calls.all()
	rp := slices.Index(calls, "journal.Transition(reversal_pending).done")
	second2 := slices.Index(calls[rp+1:], "journal.Create")
	if rp < 0 || second2 < 0 {
		t.Fatalf("calls = %v", calls)
	}
	if st := en.e.Status(); st.ReversalsPending != 1 || st.Offline.Outbox != 1 {
		t.Fatalf("status = %+v", st)
	}

	t.Run("reversal acknowledged: the host answers, no offline", func(t *testing.T) {
		en := newEnv(t, offlineOn)
		en.acq.auth = noAnswer
		s := en.start(5000)
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		if res.Step != payment.StepFailed || res.Record.State != txn.Reversed || en.j.count() != 1 {
			t.Fatalf("result = %+v, %d records", res, en.j.count())
		}
	})
	t.Run("offline refused: only the reversal", func(t *testing.T) {
		en := newEnv(t, offlineOn)
		en.acq.auth = noAnswer
		en.acq.reverse = reversalUnreachable
		s := en.start(30001)
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		if res.Step != payment.StepFailed || res.Outcome != payment.StepReversalPending || en.j.count() != 1 {
			t.Fatalf("result = %+v, %d records", res, en.j.count())
		}
		contains(t, "message", res.Message, "reversal pending (host unreachable, not sent yet)")
		contains(t, "message", res.Message, "offline refused (offline.max_amount)")
	})
	t.Run("offline off: as before", func(t *testing.T) {
		en := newEnv(t)
		en.acq.auth = noAnswer
		en.acq.reverse = reversalUnreachable
		s := en.start(5000)
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		if res.Outcome != payment.StepReversalPending || en.j.count() != 1 || strings.Contains(res.Message, "offline") {
			t.Fatalf("result = %+v", res)
		}
	})
}

// TestReversalPendingOfflineOnly: a reversal is pending and cannot be
// sent. With offline on and the limits holding, the sale goes straight to
// an offline approval: no online request at all (invariant 4), QR not
// offered. Without offline, or over a limit, it fails before the card.
func TestReversalPendingOfflineOnly(t *testing.T) {
	en := newEnv(t, offlineOn)
	old := en.j.add(txn.ReversalPending, 777)
	en.acq.reverse = reversalUnreachable
	en.acq.auth = func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
		t.Error("Authorize called while a reversal is pending")
		return approve(ctx, req)
	}
	s := en.start(5000)
	en.until("reader waiting", en.cards.isWaiting)
	if m := en.cards.lastReq.Modes; !slices.Equal(m, []txn.EntryMode{txn.Contactless, txn.Keyed}) {
		t.Fatalf("modes offered = %v, want the offline ones only", m)
	}
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	evs := events(s)
	equalSteps(t, evs, payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
		payment.StepStoredOffline, payment.StepPrinting, payment.StepDone)
	contains(t, "waiting message", evs[1].Message, "offline only, a reversal is pending")
	if res.Outcome != payment.StepStoredOffline || en.calls.count("acquirer.Authorize") != 0 {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "journal reason", lastReason(en.j.get(res.Record.ID)), "not sent online: a reversal is pending")
	if r := en.j.get(old.ID); r.State != txn.ReversalPending || en.acq.reversals() != 1 {
		t.Fatalf("pending reversal = %+v, %d tries", r, en.acq.reversals())
	}
	if en.calls.index("acquirer.Reverse") > en.calls.index("cards.ReadCard") {
		t.Fatal("the reversal was not tried before the card was read")
	}

	t.Run("over the offline maximum: fails before the card", func(t *testing.T) {
		en := newEnv(t, offlineOn)
		en.j.add(txn.ReversalPending, 777)
		en.acq.reverse = reversalUnreachable
		res := en.await(en.start(30001))
		if res.Step != payment.StepFailed || en.cards.readCount() != 0 || en.j.count() != 1 {
			t.Fatalf("result = %+v", res)
		}
		if res.Message != "reversal pending, host unreachable; offline refused (offline.max_amount): 300.01 CNY is above the offline maximum of 300.00 CNY / 超过离线单笔限额" {
			t.Fatalf("message = %q", res.Message)
		}
	})
	t.Run("QR only: fails before the card", func(t *testing.T) {
		en := newEnv(t, offlineOn)
		en.j.add(txn.ReversalPending, 777)
		en.acq.reverse = reversalUnreachable
		s, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(100), Modes: []txn.EntryMode{txn.QR}})
		if err != nil {
			t.Fatal(err)
		}
		res := en.await(s)
		contains(t, "message", res.Message, "offline refused (entry mode): none of [qr] may be taken offline")
		if en.cards.readCount() != 0 {
			t.Fatal("card read")
		}
	})
	t.Run("card source delivers QR anyway", func(t *testing.T) {
		en := newEnv(t, offlineOn)
		en.j.add(txn.ReversalPending, 777)
		en.acq.reverse = reversalUnreachable
		s := en.start(100)
		en.cards.taps <- card.Data{Entry: txn.QR, Scheme: "Alipay", Sensitive: txn.Sensitive{QRCode: "28123"}}
		res := en.await(s)
		contains(t, "message", res.Message, `entry mode "qr" not accepted for this sale (offline only: offline refused (entry mode qr)`)
		if en.j.count() != 1 {
			t.Fatal("journaled")
		}
	})
}

// TestBootOffline: the host is unreachable from boot (no sign-in is
// possible); with the last sign-in cached within MaxSignInAge the engine
// starts, recovers, runs and takes offline sales. Past that age it says so
// in its status and refuses offline sales naming the limit.
func TestBootOffline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		signedIn time.Duration // before boot
		armed    bool
	}{
		{"signed in 3 days ago", 72 * time.Hour, true},
		{"signed in 8 days ago", 192 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := newEnv(t, offlineOn)
			en.link.set(epoch.Add(-tc.signedIn))
			en.acq.auth = unreachable
			en.acq.reverse = reversalUnreachable
			pending := en.j.add(txn.Pending, 999) // a crash left one in flight
			if err := en.e.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			en.runBackground()
			en.until("Run's first pass", func() bool { return en.acq.reversals() >= 1 })

			st := en.e.Status()
			if st.Offline.Armed != tc.armed || !st.Offline.LastSignIn.Equal(epoch.Add(-tc.signedIn)) {
				t.Fatalf("status = %+v", st)
			}
			if !tc.armed {
				contains(t, "status reason", st.Offline.Reason, "offline.max_signin_age: last sign-in 8d ago, offline needs one within 7d")
			}
			s := en.start(5000)
			en.cards.taps <- unionPayCard()
			res := en.await(s)
			if tc.armed {
				if res.Outcome != payment.StepStoredOffline || en.calls.count("acquirer.Authorize") != 0 {
					t.Fatalf("result = %+v", res)
				}
			} else {
				if res.Step != payment.StepFailed {
					t.Fatalf("result = %+v", res)
				}
				contains(t, "message", res.Message, "offline refused (offline.max_signin_age)")
			}
			// Still waiting for its reversal (flagged for manual handling
			// once ReversalRetries attempts failed), never lost.
			if r := en.j.get(pending.ID); !r.State.NeedsReversal() {
				t.Fatalf("recovered record = %+v", r)
			}
		})
	}
}

// TestNoStickyOffline (user-issues §1.5): online sale, the link drops, ten
// minutes pass, an offline sale, the link returns, an online sale. Each
// decision is made per sale; nothing is latched.
func TestNoStickyOffline(t *testing.T) {
	en := newEnv(t, offlineOn)
	sale := func(minor int64) payment.Result {
		t.Helper()
		s := en.start(minor)
		en.cards.taps <- unionPayCard()
		return en.await(s)
	}
	if r := sale(1000); r.Outcome != payment.StepApproved {
		t.Fatalf("first: %+v", r)
	}
	en.acq.mu.Lock()
	en.acq.auth = unreachable
	en.acq.mu.Unlock()
	en.clk.Advance(10 * time.Minute)
	if r := sale(2000); r.Outcome != payment.StepStoredOffline {
		t.Fatalf("offline: %+v", r)
	}
	en.acq.mu.Lock()
	en.acq.auth = approve
	en.acq.mu.Unlock()
	if r := sale(3000); r.Outcome != payment.StepApproved {
		t.Fatalf("back online: %+v", r)
	}
	if st := en.e.Status(); st.Offline.Outbox != 1 || st.LastOutcome.Outcome != payment.StepApproved {
		t.Fatalf("status = %+v", st)
	}
}

// TestClockJumps: a backward jump puts the stored sale in the future (age
// 0, warned, not revived into anything); a forward jump past the hard stop
// refuses new offline sales without changing the stored one, and the
// refusal lifts when the clock is corrected.
func TestClockJumps(t *testing.T) {
	en := newEnv(t, offlineOn)
	en.acq.auth = unreachable
	stored := en.j.add(txn.StoredOffline, 1000)
	sale := func() payment.Result {
		t.Helper()
		s := en.start(100)
		en.cards.taps <- unionPayCard()
		return en.await(s)
	}

	en.clk.Set(epoch.Add(-48 * time.Hour)) // back two days
	en.link.set(en.clk.Now())
	r := sale()
	if r.Outcome != payment.StepStoredOffline {
		t.Fatalf("after a backward jump: %+v", r)
	}
	contains(t, "message", r.Message, "in the future: check the terminal clock")

	en.clk.Set(epoch.Add(100 * 24 * time.Hour)) // forward 100 days
	en.link.set(en.clk.Now())
	r = sale()
	if r.Step != payment.StepFailed || !strings.Contains(r.Message, "offline refused (offline.hard_stop)") {
		t.Fatalf("after a forward jump: %+v", r)
	}
	if s := en.j.get(stored.ID); s.State != txn.StoredOffline || len(s.History) != 1 {
		t.Fatalf("the stored sale changed on a clock jump: %+v", s)
	}

	en.clk.Set(epoch.Add(time.Hour)) // corrected
	en.link.set(en.clk.Now())
	if r := sale(); r.Outcome != payment.StepStoredOffline {
		t.Fatalf("after the correction: %+v", r)
	}
}

// TestPaymentLimits: per-transaction, per-mode and daily maxima hold
// online; per-mode maxima narrow the modes offered before the card read
// and are checked again after it, before anything is journaled.
func TestPaymentLimits(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	limits := func(c *payment.Config) {
		c.Location = shanghai
		c.Limits = risk.PaymentLimits{MaxAmount: 100000, DailyMax: 200000,
			PerMode: map[txn.EntryMode]int64{txn.Contactless: 50000, txn.QR: 80000}}
	}

	t.Run("per mode narrows the modes offered", func(t *testing.T) {
		en := newEnv(t, limits)
		s := en.start(60000)
		en.until("reader waiting", en.cards.isWaiting)
		if m := en.cards.lastReq.Modes; !slices.Equal(m, []txn.EntryMode{txn.Keyed, txn.QR}) {
			t.Fatalf("modes offered = %v", m)
		}
		// A card source that delivers contactless anyway is refused by the
		// limit, before anything is journaled or sent.
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		contains(t, "message", res.Message,
			"declined by the terminal, nothing was sent: payment.max_contactless: 600.00 CNY is above the contactless maximum of 500.00 CNY")
		if en.j.count() != 0 || en.calls.count("acquirer.Authorize") != 0 {
			t.Fatal("journaled or sent")
		}
		if evs := events(s); evs[len(evs)-1].Step != payment.StepFailed || hasStep(evs, payment.StepCardRead) {
			t.Fatalf("events = %v", messages(evs))
		}
	})
	t.Run("no mode allows it", func(t *testing.T) {
		en := newEnv(t, limits)
		_, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(60000), Modes: []txn.EntryMode{txn.Contactless}})
		if !errors.Is(err, payment.ErrAmount) || !errors.Is(err, risk.ErrLimit) {
			t.Fatalf("err = %v", err)
		}
		contains(t, "error", err.Error(), "payment.max_contactless")
	})
	t.Run("per transaction", func(t *testing.T) {
		en := newEnv(t, limits)
		_, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(100001)})
		if !errors.Is(err, payment.ErrAmount) || !errors.Is(err, risk.ErrLimit) {
			t.Fatalf("err = %v", err)
		}
		contains(t, "error", err.Error(), "payment.max_amount")
	})
	t.Run("daily, in the terminal's time zone", func(t *testing.T) {
		en := newEnv(t, limits)
		// epoch is 10:03 in Shanghai; 01:00 local (17:00 UTC the day before)
		// is today there, 23:59 local the day before is not.
		add := func(st txn.State, minor int64, created time.Time) {
			r := en.j.add(st, minor)
			en.j.mu.Lock()
			en.j.byID[r.ID].Created = created.UTC()
			en.j.mu.Unlock()
		}
		add(txn.Approved, 100000, time.Date(2025, 6, 1, 1, 0, 0, 0, shanghai))
		add(txn.StoredOffline, 50000, time.Date(2025, 6, 1, 9, 0, 0, 0, shanghai))
		add(txn.ForwardedApproved, 20000, time.Date(2025, 6, 1, 9, 30, 0, 0, shanghai))
		add(txn.Approved, 900000, time.Date(2025, 5, 31, 23, 59, 0, 0, shanghai)) // yesterday
		add(txn.Declined, 900000, time.Date(2025, 6, 1, 8, 0, 0, 0, shanghai))    // no money taken
		add(txn.Reversed, 900000, time.Date(2025, 6, 1, 8, 0, 0, 0, shanghai))
		// Today: 1700.00; the daily maximum is 2000.00.
		_, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(30001)})
		if !errors.Is(err, payment.ErrAmount) || !errors.Is(err, risk.ErrLimit) {
			t.Fatalf("err = %v", err)
		}
		contains(t, "error", err.Error(), "payment.daily_max: today's 1700.00 CNY + 300.01 CNY would pass the daily maximum of 2000.00 CNY")
		s := en.start(30000) // exactly at the daily maximum
		en.cards.taps <- unionPayCard()
		if r := en.await(s); r.Outcome != payment.StepApproved {
			t.Fatalf("at the daily maximum: %+v", r)
		}
		en.j.totalsErr = errors.New("disk read error")
		if _, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(1)}); !errors.Is(err, payment.ErrJournal) {
			t.Fatalf("daily total unreadable: %v", err)
		}
	})
	t.Run("daily needs the outbox", func(t *testing.T) {
		en := newEnv(t)
		_, err := payment.New(payment.Config{Limits: risk.PaymentLimits{DailyMax: 1}}, payment.Deps{
			Journal: en.j, Cards: en.cards, Acquirer: en.acq, Printer: en.prn})
		if !errors.Is(err, payment.ErrConfig) {
			t.Fatalf("err = %v", err)
		}
		contains(t, "error", err.Error(), "Deps.Outbox")
	})
}

func TestNewValidatesLimits(t *testing.T) {
	en := newEnv(t)
	deps := payment.Deps{Journal: en.j, Cards: en.cards, Acquirer: en.acq, Printer: en.prn, Outbox: en.j}
	enabled := payment.Config{}
	offlineOn(&enabled)
	for _, tc := range []struct {
		name string
		cfg  payment.Config
		want string
	}{
		{"max amounts disagree", payment.Config{MaxAmount: 5, Limits: risk.PaymentLimits{MaxAmount: 6}}, "MaxAmount 5 and Limits.MaxAmount 6 disagree"},
		{"bad per-mode key", payment.Config{Limits: risk.PaymentLimits{PerMode: map[txn.EntryMode]int64{"swipe": 1}}}, `Limits.PerMode["swipe"]`},
		{"offline QR", func() payment.Config { c := enabled; c.Offline.Modes = []txn.EntryMode{txn.QR}; return c }(), "QR payments are online only"},
		{"offline without a count", func() payment.Config { c := enabled; c.Offline.MaxCount = 0; return c }(), "Offline.MaxCount must be at least 1"},
		{"negative margin", payment.Config{StuckMargin: -time.Second}, "StuckMargin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := payment.New(tc.cfg, deps)
			if !errors.Is(err, payment.ErrConfig) {
				t.Fatalf("err = %v", err)
			}
			contains(t, "error", err.Error(), tc.want)
		})
	}
	// Either spelling of the per-transaction maximum sets both.
	e, err := payment.New(payment.Config{Limits: risk.PaymentLimits{MaxAmount: 700}}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.Config(); c.MaxAmount != 700 || c.Limits.MaxAmount != 700 {
		t.Fatalf("config = %+v", c)
	}
}

// A request that cannot be built from the card's data never left: nothing
// to reverse, and it must not be stored offline either (its advice could
// never be forwarded, so the money would be lost at expiry).
func TestUnsendableCardDataIsNotStoredOffline(t *testing.T) {
	en := newEnv(t, offlineOn)
	en.acq.auth = func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
		return payment.AuthResponse{}, fmt.Errorf("%w: %w: field 35: track 2 is 38 characters", payment.ErrUnreachable, payment.ErrCardData)
	}
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	if res.Step != payment.StepFailed || res.Record == nil {
		t.Fatalf("result = %+v", res)
	}
	rec := en.j.get(res.Record.ID)
	if rec.State != txn.Aborted {
		t.Fatalf("record %s, want aborted (not stored offline)", rec.State)
	}
	if en.acq.reversals() != 0 {
		t.Fatal("an unsent request was reversed")
	}
	contains(t, "message", res.Message, "card data cannot be used")
}
