package sync_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/payment"
	fwd "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

// TestDrainOrder: pending reversals go first, then the stored sales in
// journal order; acknowledged sales lose their sealed data.
func TestDrainOrder(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	a := storeSale(t, j, 1000)
	rev := pendingReversal(t, j, 2000)
	b := storeSale(t, j, 3000)
	failed := pendingReversal(t, j, 4000)
	if _, err := j.Transition(ctx, failed.ID, txn.ReversalFailed, txn.Outcome{}, "manual"); err != nil {
		t.Fatal(err)
	}
	h := newHost()
	f := newForwarder(t, fwd.Config{Window: 1}, j, h, clk, nil)
	rep, err := f.Drain(ctx)
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	var got []string
	for _, c := range h.snapshot() {
		got = append(got, c.Op+" "+string(c.ID))
	}
	want := []string{"reverse " + string(rev.ID), "forward " + string(a.ID), "forward " + string(b.ID)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests %v, want %v (ReversalFailed is not retried automatically)", got, want)
	}
	if rep.Reversed != 1 || rep.Approved != 2 || rep.Outbox != 2 || rep.Stopped != "" {
		t.Errorf("report %+v", rep)
	}
	for _, id := range []txn.ID{a.ID, b.ID} {
		r := get(t, j, id)
		if r.State != txn.ForwardedApproved || r.Sealed != nil || r.Outcome.ResponseCode != "00" || r.Outcome.AuthCode != "Y1" {
			t.Errorf("%s: state %s sealed %v outcome %+v", id, r.State, r.Sealed != nil, r.Outcome)
		}
	}
	if r := get(t, j, rev.ID); r.State != txn.Reversed {
		t.Errorf("reversal: %s", r.State)
	}
	if c := h.forwards()[0]; c.PAN != testPAN {
		t.Errorf("the advice did not get the unsealed card data")
	}
}

// TestReversalBlocksOutbox: an unacknowledged reversal blocks the stored
// sales; after ReversalRetries it is flagged and stops blocking.
func TestReversalBlocksOutbox(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	rev := pendingReversal(t, j, 2000)
	sale := storeSale(t, j, 1000)
	h := newHost()
	h.reverse = func(c call) error { return fmt.Errorf("%w: timeout", payment.ErrNoResponse) }
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	for i := 1; i <= 2; i++ {
		if i > 1 {
			// Before the spacing has passed, Run's pass sends nothing: the
			// reversal stays pending and still blocks the outbox.
			sent := len(h.snapshot())
			if rep, err := fwd.AutoDrain(ctx, f); !errors.Is(err, fwd.ErrReversalPending) || rep.Stopped != fwd.StopReversalPending || len(h.snapshot()) != sent {
				t.Fatalf("pass %d before the spacing: err %v, report %+v, %d sends", i, err, rep, len(h.snapshot())-sent)
			}
			clk.Advance(txn.DefaultReversalSpacing << (i - 2))
		}
		rep, err := f.Drain(ctx)
		if !errors.Is(err, fwd.ErrReversalPending) || rep.Stopped != fwd.StopReversalPending || rep.NotSent != 1 {
			t.Fatalf("pass %d: err %v, report %+v", i, err, rep)
		}
		if len(h.forwards()) != 0 {
			t.Fatalf("pass %d: a stored sale was sent while a reversal was pending", i)
		}
		if r := get(t, j, rev.ID); r.Attempts != i || r.State != txn.ReversalPending {
			t.Fatalf("pass %d: attempts %d state %s", i, r.Attempts, r.State)
		}
	}
	clk.Advance(2 * txn.DefaultReversalSpacing)
	rep, err := f.Drain(ctx)
	if err != nil || rep.ReversalsFailed != 1 || rep.Approved != 1 {
		t.Fatalf("third pass: err %v report %+v", err, rep)
	}
	if r := get(t, j, rev.ID); r.State != txn.ReversalFailed {
		t.Errorf("reversal state %s, want reversal_failed", r.State)
	}
	if r := get(t, j, sale.ID); r.State != txn.ForwardedApproved {
		t.Errorf("sale state %s", r.State)
	}
	// The repeats carried Attempts > 0 (0401).
	calls := h.snapshot()
	if calls[0].Attempts != 0 || calls[1].Attempts != 1 || calls[2].Attempts != 2 {
		t.Errorf("reversal attempts seen by the host: %+v", calls[:3])
	}
	n := <-f.Notices()
	if n.Kind != fwd.NoticeReversalFailed || n.ID != rev.ID || n.Amount.Minor != 2000 {
		t.Errorf("notice %+v", n)
	}
}

func TestReversalUnreachableCountsNothing(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	rev := pendingReversal(t, j, 2000)
	h := newHost()
	h.reverse = func(c call) error { return fmt.Errorf("%w: connection refused", payment.ErrUnreachable) }
	l := &fakeLink{up: true}
	f := newForwarder(t, fwd.Config{}, j, h, clk, l)
	rep, err := f.Drain(ctx)
	if !errors.Is(err, fwd.ErrLinkDown) || rep.Stopped != fwd.StopLinkDown {
		t.Fatalf("err %v report %+v", err, rep)
	}
	if r := get(t, j, rev.ID); r.Attempts != 0 {
		t.Errorf("a reversal that never left counted an attempt")
	}
	if len(l.downs) != 1 {
		t.Errorf("link not marked down: %v", l.downs)
	}
}

// TestWindow: up to Window advices are in flight at once, never more; a
// window of 1 sends strictly in journal order.
func TestWindow(t *testing.T) {
	for _, window := range []int{1, 3, 8} {
		t.Run(fmt.Sprint("window=", window), func(t *testing.T) {
			clk := newClock()
			j := newJournal(t, clk)
			var ids []txn.ID
			for i := range 20 {
				ids = append(ids, storeSale(t, j, int64(1000+i*100)).ID)
			}
			h := newHost()
			h.gate = make(chan struct{})
			f := newForwarder(t, fwd.Config{Window: window}, j, h, clk, nil)
			done := make(chan fwd.Report)
			go func() {
				rep, err := f.Drain(ctx)
				if err != nil {
					t.Errorf("Drain: %v", err)
				}
				done <- rep
			}()
			// The window fills: this many requests wait at the host at
			// once.
			waitFor(t, "a full window", func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return h.inFlight == window
			})
			close(h.gate)
			rep := <-done
			if h.maxFlight != window || rep.MaxInFlight != window {
				t.Errorf("max in flight: host %d, report %d; want %d", h.maxFlight, rep.MaxInFlight, window)
			}
			if rep.Approved != 20 {
				t.Errorf("report %+v", rep)
			}
			if window == 1 {
				for i, c := range h.forwards() {
					if c.ID != ids[i] {
						t.Fatalf("request %d is %s, want %s: not journal order", i, c.ID, ids[i])
					}
				}
			}
		})
	}
}

// TestGroupCommit: results are committed several per journal commit.
func TestGroupCommit(t *testing.T) {
	for _, c := range []struct {
		window, group, commits int
	}{
		{8, 0, 3},   // 20 results: 8 + 8 + 4
		{8, 20, 1},  // all in one
		{1, 1, 20},  // the jPOS way: one fsync per message
		{4, 16, 2},  // group larger than the window: 16 + 4
		{8, 5, 4},   // 5 + 5 + 5 + 5
		{16, 64, 1}, // window larger than the work
	} {
		t.Run(fmt.Sprintf("window=%d,group=%d", c.window, c.group), func(t *testing.T) {
			clk := newClock()
			sj := newJournal(t, clk)
			for i := range 20 {
				storeSale(t, sj, int64(1000+i*100))
			}
			j := &countingJournal{Journal: sj}
			h := newHost()
			f := newForwarder(t, fwd.Config{Window: c.window, GroupSize: c.group}, j, h, clk, nil)
			rep, err := f.Drain(ctx)
			if err != nil {
				t.Fatal(err)
			}
			many, changes, attempts := j.counts()
			if many != c.commits || rep.Commits != c.commits || changes != 20 || attempts != 0 {
				t.Errorf("commits %d (report %d), changes %d, attempts %d; want %d commits of 20 changes",
					many, rep.Commits, changes, attempts, c.commits)
			}
			if out, _ := sj.Outbox(ctx); len(out) != 0 || rep.Approved != 20 {
				t.Errorf("outbox %d left, report %+v", len(out), rep)
			}
		})
	}
}

// TestGroupDelay: a result does not wait longer than GroupDelay for its
// group to fill.
func TestGroupDelay(t *testing.T) {
	clk := newClock()
	sj := newJournal(t, clk)
	first := storeSale(t, sj, 1000)
	second := storeSale(t, sj, 1100)
	j := &countingJournal{Journal: sj}
	h := newHost()
	h.arrived = make(chan txn.ID, 2)
	block := make(chan struct{})
	h.fail = func(c call) error {
		if c.ID == second.ID {
			<-block
		}
		return nil
	}
	f := newForwarder(t, fwd.Config{Window: 2, GroupSize: 8, GroupDelay: 50 * time.Millisecond}, j, h, clk, nil)
	done := make(chan error)
	go func() { _, err := f.Drain(ctx); done <- err }()
	<-h.arrived
	<-h.arrived
	// The first answer is in; its group waits for the second until the
	// group delay passes on the clock.
	waitFor(t, "the first result committed after the group delay", func() bool {
		clk.Advance(10 * time.Millisecond)
		return get(t, sj, first.ID).State == txn.ForwardedApproved
	})
	if get(t, sj, second.ID).State != txn.StoredOffline {
		t.Fatal("second committed before its answer")
	}
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if many, _, _ := j.counts(); many != 2 {
		t.Errorf("%d commits, want 2", many)
	}
}

// TestDeclinedAfterForward: a decline is recorded and the merchant is
// told, with the masked PAN, never the full one.
func TestDeclinedAfterForward(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	ok := storeSale(t, j, 1000)
	bad := storeSale(t, j, 1251) // ends in 51: insufficient funds
	h := newHost()
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	rep, err := f.Drain(ctx)
	if err != nil || rep.Declined != 1 || rep.Approved != 1 {
		t.Fatalf("err %v report %+v", err, rep)
	}
	r := get(t, j, bad.ID)
	if r.State != txn.ForwardedDeclined || r.Outcome.ResponseCode != "51" || r.Sealed != nil {
		t.Errorf("declined record: state %s outcome %+v sealed %v", r.State, r.Outcome, r.Sealed != nil)
	}
	select {
	case n := <-f.Notices():
		if n.Kind != fwd.NoticeDeclined || n.ID != bad.ID || n.Code != "51" || n.Amount.Minor != 1251 ||
			n.MaskedPAN != "621234******1232" || n.STAN != bad.Identity.STAN || !strings.Contains(n.Message, "declined") {
			t.Errorf("notice %+v", n)
		}
		if strings.Contains(fmt.Sprintf("%+v", n), testPAN) {
			t.Error("notice holds the full PAN")
		}
	default:
		t.Fatal("no notice for the decline")
	}
	select {
	case n := <-f.Notices():
		t.Errorf("unexpected notice %+v (the approved %s needs none)", n, ok.ID)
	default:
	}
}

// TestRetrySameIdentity: "retry later" and "no answer" count an attempt
// and the next pass sends the same identity with Attempts > 0 (the
// acquirer's repeat MTI 0221).
func TestRetrySameIdentity(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(h *host, id txn.ID)
	}{
		{"code 96", func(h *host, id txn.ID) { h.once[id] = fwd.AnswerRetry }},
		{"no answer", func(h *host, id txn.ID) {
			n := 0
			h.fail = func(c call) error {
				if c.ID == id && n == 0 {
					n++
					return fmt.Errorf("%w: no answer within 30s", payment.ErrNoResponse)
				}
				return nil
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			j := newJournal(t, clk)
			rec := storeSale(t, j, 1000)
			other := storeSale(t, j, 1100)
			h := newHost()
			c.set(h, rec.ID)
			f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
			rep, err := f.Drain(ctx)
			if err != nil || rep.Retry != 1 || rep.Approved != 1 {
				t.Fatalf("pass 1: err %v report %+v", err, rep)
			}
			if r := get(t, j, rec.ID); r.State != txn.StoredOffline || r.Attempts != 1 {
				t.Fatalf("after the retry: state %s attempts %d", r.State, r.Attempts)
			}
			if get(t, j, other.ID).State != txn.ForwardedApproved {
				t.Fatal("a retry held the other sale back")
			}
			if _, err := f.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			var seen []call
			for _, c := range h.forwards() {
				if c.ID == rec.ID {
					seen = append(seen, c)
				}
			}
			if len(seen) != 2 || seen[0].Identity != seen[1].Identity || seen[0].Identity != rec.Identity {
				t.Fatalf("identities sent: %+v, want twice %+v", seen, rec.Identity)
			}
			if seen[0].Attempts != 0 || seen[1].Attempts != 1 {
				t.Errorf("attempts sent %d then %d, want 0 then 1 (0220 then 0221)", seen[0].Attempts, seen[1].Attempts)
			}
			if get(t, j, rec.ID).State != txn.ForwardedApproved {
				t.Error("not forwarded on the second pass")
			}
		})
	}
}

// TestUnreachableStopsPass: the link going away stops launching advices;
// those that did not leave count no attempt.
func TestUnreachableStopsPass(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	var recs []txn.Record
	for i := range 5 {
		recs = append(recs, storeSale(t, j, int64(1000+i)))
	}
	h := newHost()
	h.fail = func(c call) error {
		if c.ID >= recs[2].ID {
			return fmt.Errorf("%w: connection refused", payment.ErrUnreachable)
		}
		return nil
	}
	l := &fakeLink{up: true}
	f := newForwarder(t, fwd.Config{Window: 1}, j, h, clk, l)
	rep, err := f.Drain(ctx)
	if !errors.Is(err, fwd.ErrLinkDown) || rep.Stopped != fwd.StopLinkDown {
		t.Fatalf("err %v report %+v", err, rep)
	}
	if rep.Approved != 2 || rep.NotSent != 3 || len(h.forwards()) != 3 {
		t.Errorf("report %+v, %d requests", rep, len(h.forwards()))
	}
	for _, r := range recs[2:] {
		if got := get(t, j, r.ID); got.Attempts != 0 || got.State != txn.StoredOffline {
			t.Errorf("%s: attempts %d state %s", r.ID, got.Attempts, got.State)
		}
	}
	if l.ups != 2 || len(l.downs) != 1 {
		t.Errorf("link told %d ups, %d downs", l.ups, len(l.downs))
	}
	st, err := f.Status(ctx)
	if err != nil || st.LastErr == "" || st.LastError.IsZero() || st.LastSuccess.IsZero() {
		t.Errorf("status %+v %v", st, err)
	}
}

func TestNotRegisteredStops(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	a := storeSale(t, j, 1097)
	b := storeSale(t, j, 1000)
	h := newHost()
	f := newForwarder(t, fwd.Config{Window: 1}, j, h, clk, nil)
	rep, err := f.Drain(ctx)
	if !errors.Is(err, fwd.ErrNotRegistered) || rep.Stopped != fwd.StopNotRegistered || rep.NotSent != 2 {
		t.Fatalf("err %v report %+v", err, rep)
	}
	if get(t, j, a.ID).State != txn.StoredOffline || get(t, j, b.ID).State != txn.StoredOffline || len(h.forwards()) != 1 {
		t.Error("records changed or further requests sent after 'terminal unknown'")
	}
	if n := <-f.Notices(); n.Kind != fwd.NoticeNotRegistered || n.Code != "97" {
		t.Errorf("notice %+v", n)
	}
}

// TestUnsendableSkipped: a record whose request cannot be built does not
// block the others, stays in the outbox and is alarmed once per run.
func TestUnsendableSkipped(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	bad := storeSale(t, j, 1000)
	good := storeSale(t, j, 1100)
	h := newHost()
	h.fail = func(c call) error {
		if c.ID == bad.ID {
			return fmt.Errorf("%w: %w: acquirer: cannot build request: field 35", fwd.ErrUnsendable, payment.ErrUnreachable)
		}
		return nil
	}
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	for pass := 1; pass <= 2; pass++ {
		rep, err := f.Drain(ctx)
		if err != nil || rep.Skipped != 1 {
			t.Fatalf("pass %d: err %v report %+v", pass, err, rep)
		}
	}
	if get(t, j, bad.ID).State != txn.StoredOffline || get(t, j, bad.ID).Attempts != 0 || get(t, j, good.ID).State != txn.ForwardedApproved {
		t.Error("states wrong")
	}
	if n := <-f.Notices(); n.Kind != fwd.NoticeUnsendable || n.ID != bad.ID {
		t.Errorf("notice %+v", n)
	}
	select {
	case n := <-f.Notices():
		t.Errorf("second notice for the same record: %+v", n)
	default:
	}
}

// TestHardStop: a stored sale not forwarded within 72 h is expired,
// alarmed and kept.
func TestHardStop(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	old := storeSale(t, j, 1000)
	clk.Advance(2 * time.Hour)
	young := storeSale(t, j, 1100)
	h := newHost()
	h.fail = func(call) error { return fmt.Errorf("%w: no route", payment.ErrUnreachable) }
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	if _, err := f.Drain(ctx); !errors.Is(err, fwd.ErrLinkDown) {
		t.Fatal(err)
	}
	clk.Advance(70*time.Hour + time.Minute) // old: 72h01m; young: 70h01m
	rep, _ := f.Drain(ctx)
	if rep.Expired != 1 {
		t.Fatalf("report %+v", rep)
	}
	r := get(t, j, old.ID)
	if r.State != txn.Expired || r.Sealed == nil || !strings.Contains(r.History[len(r.History)-1].Reason, "hard stop 72h") {
		t.Errorf("old: state %s sealed %v history %+v", r.State, r.Sealed != nil, r.History)
	}
	if get(t, j, young.ID).State != txn.StoredOffline {
		t.Error("young record expired")
	}
	n := <-f.Notices()
	if n.Kind != fwd.NoticeExpired || n.ID != old.ID || n.Amount.Minor != 1000 {
		t.Errorf("notice %+v", n)
	}
	// Expired is final: the link coming back forwards only the young one.
	before := len(h.forwards())
	h.mu.Lock()
	h.fail = nil
	h.mu.Unlock()
	if rep, err := f.Drain(ctx); err != nil || rep.Approved != 1 {
		t.Fatalf("after the link returned: %v %+v", err, rep)
	}
	for _, c := range h.forwards()[before:] {
		if c.ID == old.ID {
			t.Error("expired record forwarded")
		}
	}
}

// TestClockJumpForwardDoesNotExpire: the wall clock stepping 100 h ahead
// makes records look old; they expire only once 72 h have really passed.
func TestClockJumpForwardDoesNotExpire(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	rec := storeSale(t, j, 1000)
	h := newHost()
	h.fail = func(call) error { return fmt.Errorf("%w: no route", payment.ErrUnreachable) }
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	f.Drain(ctx) // sighted
	clk.Advance(time.Hour)
	clk.Jump(100 * time.Hour)
	rep, _ := f.Drain(ctx)
	if rep.Expired != 0 || get(t, j, rec.ID).State != txn.StoredOffline {
		t.Fatalf("a wall-clock jump expired a record: %+v", rep)
	}
	st, _ := f.Status(ctx)
	if st.Outbox.OldestAge < 100*time.Hour {
		t.Errorf("status oldest age %v: the wall clock says 101h", st.Outbox.OldestAge)
	}
	clk.Advance(70 * time.Hour) // 71 h really passed
	if rep, _ := f.Drain(ctx); rep.Expired != 0 {
		t.Fatalf("expired after 71 h of real time")
	}
	clk.Advance(time.Hour + time.Minute) // 72h01m
	if rep, _ := f.Drain(ctx); rep.Expired != 1 || get(t, j, rec.ID).State != txn.Expired {
		t.Fatalf("not expired after 72 h of real time: %+v", rep)
	}
}

// TestClockJumpBackward: stepping the clock back revives nothing
// (expired is final), and records stamped by a clock that was wrong when
// they were stored are not expired when it is put right.
func TestClockJumpBackward(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	old := storeSale(t, j, 1000)
	h := newHost()
	h.fail = func(call) error { return fmt.Errorf("%w: no route", payment.ErrUnreachable) }
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	f.Drain(ctx)
	clk.Advance(73 * time.Hour)
	if rep, _ := f.Drain(ctx); rep.Expired != 1 {
		t.Fatalf("not expired: %+v", rep)
	}

	// The clock is 50 h ahead when a sale is stored (and the forwarder,
	// kicked by the sale, sees it), then put right.
	clk.Jump(50 * time.Hour)
	ahead := storeSale(t, j, 1100)
	f.Drain(ctx)
	clk.Jump(-50 * time.Hour) // ahead's stamp is now in the future

	// The clock is 100 h behind when another sale is stored, then put
	// right: its stamp says it is 100 h old.
	clk.Jump(-100 * time.Hour)
	behind := storeSale(t, j, 1200)
	f.Drain(ctx)
	clk.Jump(100 * time.Hour)

	// And a step back by 200 h with the link restored.
	clk.Jump(-200 * time.Hour)
	before := len(h.forwards())
	h.mu.Lock()
	h.fail = nil
	h.mu.Unlock()
	rep, err := f.Drain(ctx)
	if err != nil || rep.Expired != 0 || rep.Approved != 2 {
		t.Fatalf("err %v report %+v", err, rep)
	}
	if get(t, j, old.ID).State != txn.Expired {
		t.Error("a backward jump revived an expired record")
	}
	for _, id := range []txn.ID{ahead.ID, behind.ID} {
		if s := get(t, j, id).State; s != txn.ForwardedApproved {
			t.Errorf("%s: %s, want forwarded", id, s)
		}
	}
	for _, c := range h.forwards()[before:] {
		if c.ID == old.ID {
			t.Error("expired record sent")
		}
	}
}

// TestSingleFlight: a Drain while another runs joins it: one pass, each
// record sent once.
func TestSingleFlight(t *testing.T) {
	clk := newClock()
	sj := newJournal(t, clk)
	for i := range 10 {
		storeSale(t, sj, int64(1000+i*10))
	}
	j := &countingJournal{Journal: sj}
	h := newHost()
	h.gate = make(chan struct{})
	h.arrived = make(chan txn.ID, 100)
	f := newForwarder(t, fwd.Config{Window: 2}, j, h, clk, nil)
	var wg gosync.WaitGroup
	reps := make([]fwd.Report, 3)
	wg.Go(func() { reps[0], _ = f.Drain(ctx) })
	<-h.arrived // the first pass is sending
	for i := 1; i < 3; i++ {
		wg.Go(func() { reps[i], _ = f.Drain(ctx) })
	}
	waitFor(t, "two Drain calls to join the pass", func() bool { return fwd.Joiners(f) == 2 })
	close(h.gate)
	wg.Wait()
	if j.outboxes != 1 {
		t.Errorf("%d passes read the outbox, want 1", j.outboxes)
	}
	if n := len(h.forwards()); n != 10 {
		t.Errorf("%d requests for 10 records", n)
	}
	joined := 0
	for _, r := range reps {
		if r.Approved != 10 {
			t.Errorf("report %+v", r)
		}
		if r.Joined {
			joined++
		}
	}
	if joined != 2 {
		t.Errorf("%d joined reports, want 2", joined)
	}
	// Once it is over, the next Drain is a pass of its own.
	if rep, err := f.Drain(ctx); err != nil || rep.Joined || j.outboxes != 2 {
		t.Errorf("next Drain: %v %+v, outbox reads %d", err, rep, j.outboxes)
	}
}

// TestSaleDuringDrain: a sale stored while a pass runs is not touched by
// that pass, and the next pass takes it (stripe-terminal-android#747).
func TestSaleDuringDrain(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	for i := range 4 {
		storeSale(t, j, int64(1000+i))
	}
	h := newHost()
	h.gate = make(chan struct{})
	h.arrived = make(chan txn.ID, 100)
	f := newForwarder(t, fwd.Config{Window: 1}, j, h, clk, nil)
	done := make(chan fwd.Report)
	go func() { rep, _ := f.Drain(ctx); done <- rep }()
	<-h.arrived
	during := storeSale(t, j, 2000)
	close(h.gate)
	rep := <-done
	if rep.Outbox != 4 || rep.Approved != 4 {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range h.forwards() {
		if c.ID == during.ID {
			t.Fatal("the pass forwarded a sale stored after it began")
		}
	}
	if get(t, j, during.ID).State != txn.StoredOffline {
		t.Fatal("sale stored during the pass was touched")
	}
	rep, err := f.Drain(ctx)
	if err != nil || rep.Outbox != 1 || rep.Approved != 1 || get(t, j, during.ID).State != txn.ForwardedApproved {
		t.Fatalf("next pass: %v %+v", err, rep)
	}
	seen := map[txn.ID]int{}
	for _, c := range h.forwards() {
		seen[c.ID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
}

// TestCrashBeforeCommit: the host answered a window of advices but the
// agent died before committing: after a restart the same identities go
// out again and the host's dedupe charges each sale once.
func TestCrashBeforeCommit(t *testing.T) {
	clk := newClock()
	path := t.TempDir() + "/journal.db"
	sj, err := store.Open(store.Options{Path: path, Key: key, TID: testTID, MID: testMID, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	want := map[txn.ID]txn.Identity{}
	var total int64
	for i := range 12 {
		r := storeSale(t, sj, int64(1000+i*10))
		want[r.ID] = r.Identity
		total += r.Amount.Minor
	}
	j := &countingJournal{Journal: sj, failMany: errCrash}
	h := newHost()
	f := newForwarder(t, fwd.Config{Window: 8}, j, h, clk, nil)
	rep, err := f.Drain(ctx)
	if !errors.Is(err, fwd.ErrJournal) || !errors.Is(err, errCrash) || rep.Stopped != fwd.StopJournal {
		t.Fatalf("err %v report %+v", err, rep)
	}
	sentBefore := len(h.forwards())
	if sentBefore < 8 || sentBefore > 12 {
		t.Fatalf("%d advices sent before the crash", sentBefore)
	}
	if err := sj.Close(); err != nil { // the process dies
		t.Fatal(err)
	}

	j2 := openJournal(t, path, clk)
	if out, _ := j2.Outbox(ctx); len(out) != 12 {
		t.Fatalf("outbox after restart: %d, want 12 (nothing was committed)", len(out))
	}
	f2 := newForwarder(t, fwd.Config{Window: 8}, j2, h, clk, nil)
	rep, err = f2.Drain(ctx)
	if err != nil || rep.Approved != 12 {
		t.Fatalf("after restart: %v %+v", err, rep)
	}
	// Every identity the host saw is the journaled one.
	for _, c := range h.forwards() {
		if want[c.ID] != c.Identity {
			t.Errorf("%s sent as %+v, journaled as %+v", c.ID, c.Identity, want[c.ID])
		}
	}
	var charged int64
	for _, v := range h.charged {
		charged += v
	}
	if len(h.charged) != 12 || charged != total || h.repeats != sentBefore {
		t.Errorf("host charged %d sales for %d (want 12 for %d), answered %d repeats (want %d)",
			len(h.charged), charged, total, h.repeats, sentBefore)
	}
	if out, _ := j2.Outbox(ctx); len(out) != 0 {
		t.Errorf("outbox not empty: %d", len(out))
	}
}

// TestRestartMidDrain: the agent stops (ctx canceled) with advices in
// flight; a new forwarder on the same journal finishes the job, each sale
// charged once.
func TestRestartMidDrain(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	for i := range 10 {
		storeSale(t, j, int64(1000+i*10))
	}
	h := newHost()
	h.gate = make(chan struct{})
	h.arrived = make(chan txn.ID, 100)
	f := newForwarder(t, fwd.Config{Window: 4}, j, h, clk, nil)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan fwd.Report)
	go func() { rep, _ := f.Drain(cctx); done <- rep }()
	for range 4 {
		<-h.arrived
	}
	cancel() // shutdown with 4 advices in flight: sent, answers lost
	rep := <-done
	if rep.Stopped != fwd.StopCanceled || rep.Retry != 4 || rep.NotSent != 6 {
		t.Fatalf("report %+v", rep)
	}
	h.mu.Lock()
	h.gate = nil
	h.mu.Unlock()
	f2 := newForwarder(t, fwd.Config{Window: 4}, j, h, clk, nil)
	rep, err := f2.Drain(ctx)
	if err != nil || rep.Approved != 10 {
		t.Fatalf("after restart: %v %+v", err, rep)
	}
	if len(h.charged) != 10 {
		t.Errorf("%d sales charged, want 10", len(h.charged))
	}
	repeats := 0
	for _, c := range h.forwards() {
		if c.Attempts > 0 {
			repeats++
		}
	}
	if repeats != 4 {
		t.Errorf("%d repeats (0221) after the restart, want the 4 that were in flight", repeats)
	}
}

// TestReversalAppearsMidPass: a sale that times out while the forwarder
// drains leaves a reversal; no new advice is launched after the next
// commit, and the next pass sends the reversal first.
func TestReversalAppearsMidPass(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	for i := range 6 {
		storeSale(t, j, int64(1000+i*10))
	}
	h := newHost()
	var once gosync.Once
	h.fail = func(c call) error {
		once.Do(func() { pendingReversal(t, j, 5000) })
		return nil
	}
	f := newForwarder(t, fwd.Config{Window: 1, GroupSize: 2}, j, h, clk, nil)
	rep, err := f.Drain(ctx)
	if !errors.Is(err, fwd.ErrReversalPending) || rep.Stopped != fwd.StopReversalPending {
		t.Fatalf("err %v report %+v", err, rep)
	}
	if rep.Approved+rep.NotSent != 6 || rep.NotSent == 0 || rep.Approved > 3 {
		t.Errorf("report %+v", rep)
	}
	n := len(h.snapshot())
	if _, err := f.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if c := h.snapshot()[n]; c.Op != "reverse" {
		t.Errorf("next pass began with %s, want the reversal", c.Op)
	}
}

func TestProgressAndStatus(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	for i := range 5 {
		storeSale(t, j, 1000)
		clk.Advance(time.Minute)
		_ = i
	}
	pendingReversal(t, j, 99)
	l := &fakeLink{up: true}
	h := newHost()
	f := newForwarder(t, fwd.Config{}, j, h, clk, l)
	st, err := f.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outbox.Depth != 5 || len(st.Outbox.Amounts) != 1 || st.Outbox.Amounts[0].Minor != 5000 ||
		!st.Outbox.Oldest.Equal(t0) || st.Outbox.OldestAge != 5*time.Minute || st.Reversals != 1 ||
		st.Link == nil || !st.Link.Up || st.Draining {
		t.Errorf("status before: %+v", st)
	}
	watch, cancel := f.WatchProgress()
	defer cancel()
	<-watch
	if _, err := f.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	p := f.Progress()
	if p.Running || p.Done != 5 || p.Total != 5 || p.AmountDone.Minor != 5000 || p.AmountTotal.Minor != 5000 || p.AmountDone.Currency != 156 {
		t.Errorf("progress %+v", p)
	}
	if last := <-watch; last.Running {
		t.Errorf("last published progress still running: %+v", last)
	}
	st, _ = f.Status(ctx)
	if st.Outbox.Depth != 0 || st.Reversals != 0 || st.LastPass == nil || st.LastPass.Approved != 5 || st.LastSuccess.IsZero() {
		t.Errorf("status after: %+v", st)
	}
}

// TestRunDrainsWhenLinkComesUp: Run skips the network while the monitor
// says down, and drains the moment it comes up.
func TestRunDrainsWhenLinkComesUp(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	rec := storeSale(t, j, 1000)
	h := newHost()
	l := &fakeLink{}
	f := newForwarder(t, fwd.Config{}, j, h, clk, l)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- f.Run(rctx) }()
	waitFor(t, "the first pass", func() bool { _, ok := f.LastReport(); return ok })
	if rep, _ := f.LastReport(); rep.Stopped != fwd.StopLinkDown || len(h.snapshot()) != 0 {
		t.Fatalf("pass with the link down: %+v, %d requests", rep, len(h.snapshot()))
	}
	l.set(true)
	waitFor(t, "the drain after link up", func() bool { return get(t, j, rec.ID).State == txn.ForwardedApproved })
	// A new sale and a Kick drain at once too.
	next := storeSale(t, j, 1200)
	f.Kick()
	waitFor(t, "the drain after Kick", func() bool { return get(t, j, next.ID).State == txn.ForwardedApproved })
	if err := f.Run(ctx); !errors.Is(err, fwd.ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestRunRetriesWithBackoff: a "retry later" answer is sent again after
// the backoff (RetryMin on the first failure), without a kick and long
// before the idle interval.
func TestRunRetriesWithBackoff(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	rec := storeSale(t, j, 1000)
	h := newHost()
	h.once[rec.ID] = fwd.AnswerRetry
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.Run(rctx)
	waitFor(t, "the first attempt", func() bool { return get(t, j, rec.ID).Attempts == 1 })
	start := clk.Now()
	waitFor(t, "the retry", func() bool {
		if get(t, j, rec.ID).State == txn.ForwardedApproved {
			return true
		}
		clk.Advance(100 * time.Millisecond)
		return false
	})
	// The first backoff step is at most RetryMin (1 s); the test may step
	// the clock a little before Run arms its timer, hence the margin. The
	// point: the retry came from the backoff, not the 60 s idle timer.
	if waited := clk.Now().Sub(start); waited > 10*time.Second {
		t.Errorf("retried after %v of clock time, want about the first backoff step (%v), far below the idle interval", waited, fwd.DefaultRetryMin)
	}
}

func TestConfig(t *testing.T) {
	h := newHost()
	j := newJournal(t, newClock())
	for _, c := range []struct {
		cfg  fwd.Config
		deps fwd.Deps
		want string
	}{
		{fwd.Config{}, fwd.Deps{Sender: h}, "Journal"},
		{fwd.Config{}, fwd.Deps{Journal: j}, "Sender"},
		{fwd.Config{Window: -1}, fwd.Deps{Journal: j, Sender: h}, "Window"},
		{fwd.Config{Window: fwd.MaxWindow + 1}, fwd.Deps{Journal: j, Sender: h}, "Window"},
		{fwd.Config{HardStop: -time.Hour}, fwd.Deps{Journal: j, Sender: h}, "HardStop"},
		{fwd.Config{RetryMin: time.Minute, RetryMax: time.Second}, fwd.Deps{Journal: j, Sender: h}, "RetryMax"},
		{fwd.Config{Currency: 1}, fwd.Deps{Journal: j, Sender: h}, "Currency"},
	} {
		if _, err := fwd.New(c.cfg, c.deps); !errors.Is(err, fwd.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want ErrConfig naming %s", c.cfg, err, c.want)
		}
	}
	f, err := fwd.New(fwd.Config{}, fwd.Deps{Journal: j, Sender: h})
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.Config()
	if cfg.Window != 8 || cfg.GroupSize != 8 || cfg.HardStop != 72*time.Hour || cfg.ReversalRetries != 3 {
		t.Errorf("defaults %+v", cfg)
	}
}

// A Drain a person asked for (posagent sync) sends a pending reversal at
// once, even right after an attempt; Run's passes wait for the spacing.
func TestManualDrainIsNotSpaced(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	rev := pendingReversal(t, j, 2000)
	h := newHost()
	fail := true
	h.reverse = func(c call) error {
		if fail {
			return fmt.Errorf("%w: timeout", payment.ErrNoResponse)
		}
		return nil
	}
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	if _, err := fwd.AutoDrain(ctx, f); !errors.Is(err, fwd.ErrReversalPending) {
		t.Fatalf("first attempt: %v", err)
	}
	fail = false
	if _, err := fwd.AutoDrain(ctx, f); !errors.Is(err, fwd.ErrReversalPending) || len(h.snapshot()) != 1 {
		t.Fatalf("Run's pass within the spacing: %v, %d sends", err, len(h.snapshot()))
	}
	rep, err := f.Drain(ctx)
	if err != nil || rep.Reversed != 1 {
		t.Fatalf("manual drain: %v %+v", err, rep)
	}
	if r := get(t, j, rev.ID); r.State != txn.Reversed {
		t.Fatalf("reversal %s", r.State)
	}
}

// A reversal attempt that joined the engine's request on the wire
// (payment.ErrSharedAttempt) is not counted again by the forwarder.
func TestSharedReversalAttemptNotCountedByForwarder(t *testing.T) {
	clk := newClock()
	j := newJournal(t, clk)
	rev := pendingReversal(t, j, 2000)
	h := newHost()
	h.reverse = func(c call) error {
		return fmt.Errorf("%w: %w", payment.ErrSharedAttempt, payment.ErrNoResponse)
	}
	f := newForwarder(t, fwd.Config{}, j, h, clk, nil)
	for range 3 {
		if _, err := f.Drain(ctx); !errors.Is(err, fwd.ErrReversalPending) {
			t.Fatalf("drain: %v", err)
		}
	}
	if r := get(t, j, rev.ID); r.Attempts != 0 || r.State != txn.ReversalPending {
		t.Fatalf("attempts %d state %s: shared attempts were counted", r.Attempts, r.State)
	}
}
