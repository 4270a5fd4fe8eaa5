package payment_test

import (
	"context"
	"strings"
	"testing"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// superviseUntil advances the fake clock one supervisor tick at a time,
// each time waiting for the supervisor to have looked (it re-arms its
// timer), until cond holds. It is bounded by a tick count, not by time.
// cond must be something the supervisor itself brings about: the ticks
// come fast, and other goroutines may not get to run between them.
func (en *env) superviseUntil(what string, cond func() bool) {
	en.t.Helper()
	tick := payment.DefaultSuperviseInterval
	en.until("supervisor armed", func() bool { return en.clk.armed(tick) > 0 })
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		n := en.clk.armed(tick)
		en.clk.Advance(tick)
		en.until("supervisor looked", func() bool { return en.clk.armed(tick) > n || cond() })
	}
	en.t.Fatalf("gave up after 1000 supervisor ticks waiting for %s; calls %v", what, en.calls.all())
}

// TestSupervisorResetsWedgedSale: an acquirer that never returns and
// ignores its context (a misbehaving link) wedges a sale in
// "authorising". Past AuthTimeout+StuckMargin the supervisor resets it:
// the record, whose request may have left, is queued for reversal through
// the unrecorded-outcome path and reversed by Run; the engine takes the
// next sale; when the wedged call finally returns it changes nothing.
func TestSupervisorResetsWedgedSale(t *testing.T) {
	en := newEnv(t)
	release := make(chan struct{})
	en.acq.auth = func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
		<-release // ignores ctx
		return approve(ctx, req)
	}
	en.runBackground()
	t.Cleanup(func() { // before Run's cleanup waits for its loops
		select {
		case <-release:
		default:
			close(release)
		}
	})
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	en.until("authorising", en.acq.authorising)
	start := en.clk.Now()

	en.superviseUntil("the sale is reset", func() bool {
		select {
		case <-s.Done():
			return true
		default:
			return false
		}
	})
	// Not before its wait plus the margin had passed.
	if waited := en.clk.Now().Sub(start); waited <= payment.DefaultAuthTimeout+payment.DefaultStuckMargin {
		t.Fatalf("reset after %v, before AuthTimeout+StuckMargin", waited)
	}
	res := s.Result()
	if res.Step != payment.StepFailed || res.Outcome != payment.StepReversalPending || res.Record == nil {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, `sale reset by the supervisor: stuck in "authorising"`)
	contains(t, "message", res.Message, "will be reversed, no money is taken")
	evs := events(s)
	if last := evs[len(evs)-1]; !last.Final || last.Step != payment.StepFailed {
		t.Fatalf("last event = %+v", last)
	}
	contains(t, "log", en.logs.String(), "alarm=sale_wedged")

	id := res.Record.ID
	en.until("the wedged record reversed by Run", func() bool { return en.j.state(id) == txn.Reversed })
	rec := en.j.get(id)
	if rec.History[1].To != txn.ReversalPending || !strings.Contains(rec.History[1].Reason, "the request may have been sent") {
		t.Fatalf("history = %+v", rec.History)
	}
	st := en.e.Status()
	if st.Busy || st.LastOutcome == nil || st.LastOutcome.Outcome != payment.StepReversalPending {
		t.Fatalf("status = %+v", st)
	}

	// The engine is free: the next sale goes through.
	en.acq.mu.Lock()
	en.acq.auth = approve
	en.acq.mu.Unlock()
	s2 := en.start(1234)
	en.cards.taps <- unionPayCard()
	if r := en.await(s2); r.Outcome != payment.StepApproved {
		t.Fatalf("next sale: %+v", r)
	}

	// The wedged call returns "approved": nothing changes, nothing prints.
	prints := en.prn.tries()
	close(release)
	en.until("the wedged sale came back", func() bool {
		return strings.Contains(en.logs.String(), "a sale reset by the supervisor came back")
	})
	if st := en.j.state(id); st != txn.Reversed {
		t.Fatalf("wedged record now %s", st)
	}
	if en.prn.tries() != prints || len(events(s)) != len(evs) {
		t.Fatal("the wedged sale printed or emitted after its reset")
	}
	if st := en.e.Status(); st.LastOutcome.Outcome != payment.StepApproved {
		t.Fatalf("the late sale overwrote the last outcome: %+v", st.LastOutcome)
	}
}

// TestSupervisorWedgedReader: a card reader that ignores its deadline;
// nothing is journaled, the sale ends cancelled and the reader's late
// answer is ignored.
func TestSupervisorWedgedReader(t *testing.T) {
	en := newEnv(t)
	release := make(chan struct{})
	en.cards.wedged = release
	en.runBackground()
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	s := en.start(5000)
	en.until("reader called", func() bool { return en.cards.readCount() == 1 })
	en.superviseUntil("the sale is reset", func() bool {
		select {
		case <-s.Done():
			return true
		default:
			return false
		}
	})
	res := s.Result()
	if res.Step != payment.StepCancelled || res.Record != nil {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, `stuck in "waiting_for_card"`)
	contains(t, "message", res.Message, "nothing was journaled or sent")
	close(release)
	release = make(chan struct{}) // for the cleanup
	en.until("came back", func() bool { return strings.Contains(en.logs.String(), "came back") })
	if en.j.count() != 0 {
		t.Fatal("journaled")
	}
}

// TestSupervisorWedgedPrinter: the outcome is journaled and the printer
// hangs; the sale ends with its outcome, the receipts stay queued, and Run
// is not held up by the printer's semaphore for good.
func TestSupervisorWedgedPrinter(t *testing.T) {
	en := newEnv(t)
	release := make(chan struct{})
	en.prn.wedged = release
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	en.until("printing", func() bool { return en.calls.count("printer.Print") == 1 })
	// Run starts once the sale itself is the one stuck in the printer.
	en.runBackground()
	t.Cleanup(func() { // before Run's cleanup waits for its loops
		select {
		case <-release:
		default:
			close(release)
		}
	})
	en.superviseUntil("the sale is reset", func() bool {
		select {
		case <-s.Done():
			return true
		default:
			return false
		}
	})
	res := s.Result()
	if res.Step != payment.StepDone || res.Outcome != payment.StepApproved || res.Record.State != txn.Approved {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, `stuck in "printing"`)
	if q := en.j.queue(); len(q) != 2 {
		t.Fatalf("queue = %+v, want both receipts kept", q)
	}
	// Run's reversal loop does not depend on the printer: a reversal
	// queued now is sent while the printer still hangs.
	old := en.j.add(txn.ReversalPending, 777)
	en.e.Kick()
	en.until("reversal sent while the printer hangs", func() bool { return en.j.state(old.ID) == txn.Reversed })
	close(release)
	en.until("queue drained after the printer came back", func() bool {
		en.e.Kick()
		return len(en.j.queue()) == 0
	})
}

// TestSupervisorLeavesHealthySalesAlone: a sale waiting for a card within
// its timeout is not touched, however many ticks pass.
func TestSupervisorLeavesHealthySalesAlone(t *testing.T) {
	en := newEnv(t)
	en.runBackground()
	s := en.start(5000)
	en.until("reader waiting", en.cards.isWaiting)
	ticks := 0
	en.superviseUntil("59 ticks", func() bool { ticks++; return ticks > 59 })
	select {
	case <-s.Done():
		t.Fatalf("sale ended: %+v", s.Result())
	default:
	}
	en.cards.taps <- unionPayCard()
	if r := en.await(s); r.Outcome != payment.StepApproved {
		t.Fatalf("result = %+v", r)
	}
	if strings.Contains(en.logs.String(), "sale_wedged") {
		t.Fatal("a healthy sale was reported wedged")
	}
}

// TestSupervisorWedgedJournalCreate: the journal hangs in Create. The
// supervisor ends the sale (nothing was journaled as far as it knows, and
// nothing was sent); when Create finally commits, the late record is
// aborted, never sent.
func TestSupervisorWedgedJournalCreate(t *testing.T) {
	en := newEnv(t)
	gate := make(chan struct{})
	en.j.gateCreate = gate
	en.runBackground()
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	en.until("Create in progress", func() bool { return en.j.blockedIn() == "Create" })
	en.superviseUntil("the sale is reset", func() bool {
		select {
		case <-s.Done():
			return true
		default:
			return false
		}
	})
	res := s.Result()
	if res.Step != payment.StepCancelled {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, `stuck in "card_read"`)
	close(gate)
	en.until("late record aborted", func() bool {
		return en.j.count() == 1 && en.j.state(en.j.get("0000000000000001").ID) == txn.Aborted
	})
	rec := en.j.get("0000000000000001")
	contains(t, "reason", lastReason(rec), "reset by the supervisor")
	if en.calls.count("acquirer.Authorize") != 0 {
		t.Fatal("a record journaled after the reset was sent")
	}
}
