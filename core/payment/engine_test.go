package payment_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

func TestNewValidates(t *testing.T) {
	calls, b := &callLog{}, newBell()
	clk := clock.NewFake(epoch)
	full := payment.Deps{
		Journal: newMemJournal(clk, calls, b), Cards: &fakeCards{calls: calls, bell: b},
		Acquirer: &fakeAcquirer{calls: calls, bell: b}, Printer: &fakePrinter{calls: calls, bell: b},
	}
	tests := []struct {
		name string
		cfg  payment.Config
		deps func(d payment.Deps) payment.Deps
		want string // "" = no error
	}{
		{"minimal, no indicator", payment.Config{}, func(d payment.Deps) payment.Deps { return d }, ""},
		{"no journal", payment.Config{}, func(d payment.Deps) payment.Deps { d.Journal = nil; return d }, "Deps.Journal"},
		{"no printer", payment.Config{}, func(d payment.Deps) payment.Deps { d.Printer = nil; return d }, "Deps.Printer"},
		{"no cards or acquirer", payment.Config{}, func(d payment.Deps) payment.Deps { d.Cards, d.Acquirer = nil, nil; return d }, "Deps.Cards, Deps.Acquirer"},
		{"negative card timeout", payment.Config{CardTimeout: -time.Second}, func(d payment.Deps) payment.Deps { return d }, "CardTimeout"},
		{"negative retries", payment.Config{ReversalRetries: -1}, func(d payment.Deps) payment.Deps { return d }, "ReversalRetries"},
		{"negative max", payment.Config{MaxAmount: -5}, func(d payment.Deps) payment.Deps { return d }, "MaxAmount"},
		{"unknown currency", payment.Config{Currency: 999}, func(d payment.Deps) payment.Deps { return d }, "Currency 999"},
		{"backoff inverted", payment.Config{RetryInterval: time.Minute, RetryMaxInterval: time.Second}, func(d payment.Deps) payment.Deps { return d }, "RetryMaxInterval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := payment.New(tc.cfg, tc.deps(full))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				c := e.Config()
				if c.CardTimeout != 60*time.Second || c.AuthTimeout != 30*time.Second || c.ReversalRetries != 3 || c.Currency != money.CNY {
					t.Fatalf("defaults not applied: %+v", c)
				}
				return
			}
			if !errors.Is(err, payment.ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			contains(t, "error", err.Error(), tc.want)
		})
	}
}

func TestStartSaleRejectsBadRequests(t *testing.T) {
	en := newEnv(t, func(c *payment.Config) { c.MaxAmount = 10000 })
	tests := []struct {
		name   string
		req    payment.SaleRequest
		target error
		want   string
	}{
		{"zero", payment.SaleRequest{Amount: cny(0)}, payment.ErrAmount, "above zero"},
		{"negative", payment.SaleRequest{Amount: cny(-100)}, payment.ErrAmount, "above zero"},
		{"over MaxAmount", payment.SaleRequest{Amount: cny(10001)}, payment.ErrAmount, "payment.max_amount: 100.01 CNY is above the per-transaction maximum of 100.00 CNY"},
		{"other currency", payment.SaleRequest{Amount: money.Amount{Minor: 100, Currency: money.USD}}, payment.ErrAmount, "CNY only"},
		{"bad mode", payment.SaleRequest{Amount: cny(100), Modes: []txn.EntryMode{txn.QR, "swipe"}}, payment.ErrEntryMode, `Modes[1] = "swipe"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := en.e.StartSale(context.Background(), tc.req)
			if !errors.Is(err, tc.target) || s != nil {
				t.Fatalf("StartSale = %v, %v; want %v", s, err, tc.target)
			}
			contains(t, "error", err.Error(), tc.want)
		})
	}
	if calls := en.calls.all(); len(calls) != 0 {
		t.Fatalf("a refused request reached the devices: %v", calls)
	}
	if en.e.Status().Busy {
		t.Fatal("engine busy after refusals")
	}

	// Without MaxAmount the 12-digit limit of field 4 still holds.
	en2 := newEnv(t)
	_, err := en2.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(money.MaxMinor + 1)})
	if !errors.Is(err, payment.ErrAmount) {
		t.Fatalf("over MaxMinor: %v", err)
	}
}

func TestStartSaleRefusesUntrustedJournal(t *testing.T) {
	en := newEnv(t)
	corrupt := errors.New("bucket txns: page 42 checksum mismatch")
	en.j.health = corrupt
	_, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(100)})
	if !errors.Is(err, payment.ErrJournal) || !errors.Is(err, corrupt) {
		t.Fatalf("err = %v, want ErrJournal wrapping the health error", err)
	}
	if st := en.e.Status(); st.JournalErr != corrupt.Error() || st.Busy {
		t.Fatalf("status = %+v", st)
	}
}

func TestApprovedSale(t *testing.T) {
	en := newEnv(t)
	s := en.start(1234)
	if s.ID() == "" {
		t.Fatal("empty session id")
	}
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	evs := events(s)

	equalSteps(t, evs, payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
		payment.StepAuthorising, payment.StepApproved, payment.StepPrinting, payment.StepDone)
	for i, ev := range evs {
		if ev.Seq != i+1 {
			t.Errorf("event %d has Seq %d", i, ev.Seq)
		}
		if ev.Final != (i == len(evs)-1) {
			t.Errorf("event %d (%s) Final = %v", i, ev.Step, ev.Final)
		}
		if ev.Record != nil && ev.Record.Sealed != nil {
			t.Errorf("event %d (%s) carries sealed data", i, ev.Step)
		}
		if !ev.At.Equal(epoch) || ev.At.Location() != time.UTC {
			t.Errorf("event %d At = %v, want the injected clock's %v in UTC", i, ev.At, epoch)
		}
	}
	contains(t, "card_read message", evs[2].Message, "UnionPay 621234******1232")
	contains(t, "approved message", evs[4].Message, "654321")
	if evs[4].State != txn.Approved || evs[4].TxnID == "" {
		t.Fatalf("approved event = %+v", evs[4])
	}

	if res.Step != payment.StepDone || res.Outcome != payment.StepApproved || res.Error != "" {
		t.Fatalf("result = %+v", res)
	}
	rec := en.j.get(res.Record.ID)
	if rec.State != txn.Approved || rec.Outcome.AuthCode != "654321" || rec.MaskedPAN != "621234******1232" || rec.Scheme != "UnionPay" {
		t.Fatalf("journaled record = %+v", rec)
	}

	// The card request: the sale's amount, all modes, a fresh unpredictable number.
	cr := en.cards.lastReq
	if cr.Amount != cny(1234) || cr.Type != txn.Sale || !slices.Equal(cr.Modes, []txn.EntryMode{txn.Contactless, txn.Keyed, txn.QR}) || !cr.Date.Equal(epoch) {
		t.Fatalf("card request = %+v", cr)
	}
	// The authorisation carried the journaled identity and the card data.
	reqs := en.acq.requests()
	if len(reqs) != 1 || reqs[0].Record.ID != rec.ID || reqs[0].Record.Identity.STAN != rec.Identity.STAN || reqs[0].Sensitive.PAN != testPAN {
		t.Fatalf("auth requests = %+v", reqs)
	}
	if d := en.j.drafts[0]; d.MaskedPAN != "621234******1232" || d.Type != txn.Sale || d.Amount != cny(1234) {
		t.Fatalf("draft = %+v", d)
	}

	// Two receipts, merchant first, both printed and off the queue.
	got := en.prn.got()
	if len(got) != 2 || got[0].Copy != receipt.MerchantCopy || got[1].Copy != receipt.CustomerCopy || got[0].TxnID != rec.ID {
		t.Fatalf("printed = %+v", got)
	}
	contains(t, "receipt", got[1].Text(32), "654321")
	if q := en.j.queue(); len(q) != 0 {
		t.Fatalf("print queue not drained: %+v", q)
	}
	if sig := en.ind.got(); !slices.Equal(sig, []payment.Signal{payment.SignalReady, payment.SignalProcessing, payment.SignalSuccess}) {
		t.Fatalf("signals = %v", sig)
	}
	st := en.e.Status()
	if st.Busy || st.LastOutcome == nil || st.LastOutcome.Outcome != payment.StepApproved || st.PrintQueue != 0 {
		t.Fatalf("status = %+v", st)
	}
}

// TestJournalFirst holds Create and Transition(Approved) open and checks
// what has (not) happened while each is in progress, then checks the order
// of every call.
func TestJournalFirst(t *testing.T) {
	en := newEnv(t)
	releaseCreate := make(chan struct{})
	releaseApproved := make(chan struct{})
	en.j.gateCreate = releaseCreate
	en.j.gateTransition[txn.Approved] = releaseApproved

	s := en.start(5000)
	en.cards.taps <- unionPayCard()

	en.until("Create in progress", func() bool { return en.j.blockedIn() == "Create" })
	if n := en.calls.count("acquirer.Authorize"); n != 0 {
		t.Fatal("Authorize called before Create returned")
	}
	if hasStep(events(s), payment.StepAuthorising) {
		t.Fatal("authorising shown before the record was durable")
	}
	close(releaseCreate)

	en.until("Transition(approved) in progress", func() bool { return en.j.blockedIn() == "Transition(approved)" })
	if en.calls.count("acquirer.Authorize") != 1 {
		t.Fatal("expected the authorisation to have happened")
	}
	if hasStep(events(s), payment.StepApproved) {
		t.Fatal("approved event before Transition(Approved) returned")
	}
	if en.prn.tries() != 0 || en.calls.index("journal.QueuePrint") >= 0 {
		t.Fatal("receipt queued or printed before the approval was durable")
	}
	if slices.Contains(en.ind.got(), payment.SignalSuccess) {
		t.Fatal("success shown before the approval was durable")
	}
	close(releaseApproved)
	res := en.await(s)
	if res.Outcome != payment.StepApproved {
		t.Fatalf("result = %+v", res)
	}

	order := func(before, after string) {
		t.Helper()
		b, a := en.calls.index(before), en.calls.index(after)
		if b < 0 || a < 0 || b > a {
			t.Errorf("%s (at %d) must come before %s (at %d); calls %v", before, b, after, a, en.calls.all())
		}
	}
	order("cards.ReadCard", "journal.Create")
	order("journal.Create.done", "acquirer.Authorize")
	order("acquirer.Authorize", "journal.Transition(approved)")
	order("journal.Transition(approved).done", "journal.QueuePrint")
	order("journal.QueuePrint", "printer.Print")
}

func TestCreateFailsNothingSent(t *testing.T) {
	en := newEnv(t)
	en.j.createErr = errors.New("disk full")
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	if res.Step != payment.StepFailed {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, "nothing was sent")
	contains(t, "message", res.Message, "disk full")
	if n := en.calls.count("acquirer.Authorize"); n != 0 {
		t.Fatalf("Authorize called %d times after Create failed", n)
	}
	if hasStep(events(s), payment.StepAuthorising) {
		t.Fatal("authorising shown")
	}
}

// TestApprovalNotJournaled: the host approved, but Transition(Approved)
// failed. Nobody may be told "approved", nothing prints, the record stays
// Pending, and recovery turns it into a reversal.
func TestApprovalNotJournaled(t *testing.T) {
	en := newEnv(t)
	en.j.transitionErr = func(id txn.ID, to txn.State) error {
		if to == txn.Approved {
			return errors.New("fsync: input/output error")
		}
		return nil
	}
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	evs := events(s)

	equalSteps(t, evs, payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
		payment.StepAuthorising, payment.StepFailed)
	if res.Step != payment.StepFailed || res.Record == nil || res.Record.State != txn.Pending {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, "will be reversed")
	id := res.Record.ID
	if st := en.j.state(id); st != txn.Pending {
		t.Fatalf("journal state = %s, want pending", st)
	}
	if en.prn.tries() != 0 || en.calls.index("journal.QueuePrint") >= 0 {
		t.Fatal("a receipt was queued or printed for an unjournaled approval")
	}
	if slices.Contains(en.ind.got(), payment.SignalSuccess) {
		t.Fatal("success shown for an unjournaled approval")
	}
	if st := en.e.Status(); st.Unrecorded != 1 {
		t.Fatalf("status = %+v, want one unrecorded outcome", st)
	}
	contains(t, "log", en.logs.String(), "alarm=outcome_not_journaled")

	// After a restart, recovery finds it Pending and queues its reversal.
	if err := en.e.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := en.j.state(id); st != txn.ReversalPending {
		t.Fatalf("after Recover: %s, want reversal_pending", st)
	}
	if st := en.e.Status(); st.Unrecorded != 0 || st.ReversalsPending != 1 {
		t.Fatalf("status after Recover = %+v", st)
	}
}

// TestUnrecordedOutcomeReversedByRun: without a restart, Run moves the
// stranded record into the reversal queue and reverses it once the journal
// works again.
func TestUnrecordedOutcomeReversedByRun(t *testing.T) {
	en := newEnv(t)
	var broken atomic.Bool
	broken.Store(true)
	en.j.transitionErr = func(id txn.ID, to txn.State) error {
		if broken.Load() {
			return errors.New("journal read-only")
		}
		return nil
	}
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	id := res.Record.ID
	broken.Store(false)

	en.runBackground()
	en.until("stranded record reversed", func() bool { return en.j.state(id) == txn.Reversed })
	if en.acq.reversals() != 1 {
		t.Fatalf("reversals = %d", en.acq.reversals())
	}
}

func TestCancelWhileWaitingForCard(t *testing.T) {
	en := newEnv(t)
	s := en.start(5000)
	en.until("reader waiting", en.cards.isWaiting)
	if st := en.e.Status(); !st.Busy || st.Session != s.ID() || st.Step != payment.StepWaitingForCard {
		t.Fatalf("status while waiting = %+v", st)
	}
	s.Cancel()
	res := en.await(s)
	if res.Step != payment.StepCancelled || res.Outcome != payment.StepCancelled || res.Error == "" {
		t.Fatalf("result = %+v", res)
	}
	if n := en.j.count(); n != 0 {
		t.Fatalf("%d records journaled for a cancelled sale", n)
	}
	if en.calls.count("acquirer.Authorize") != 0 {
		t.Fatal("Authorize called")
	}
	if sig := en.ind.got(); sig[len(sig)-1] != payment.SignalIdle {
		t.Fatalf("signals = %v", sig)
	}
	s.Cancel() // idempotent
}

func TestCancelAfterRequestLeftDoesNotUndo(t *testing.T) {
	en := newEnv(t)
	answer := make(chan struct{})
	en.acq.auth = func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
		<-answer
		return approve(ctx, req)
	}
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	en.until("authorising", en.acq.authorising)
	s.Cancel()
	close(answer)
	res := en.await(s)
	if res.Step != payment.StepDone || res.Outcome != payment.StepApproved {
		t.Fatalf("result = %+v; a cancel after the request left must not change the outcome", res)
	}
}

func TestCardTimeout(t *testing.T) {
	en := newEnv(t)
	s := en.start(5000)
	en.until("reader waiting", en.cards.isWaiting)
	if want := epoch.Add(payment.DefaultCardTimeout); !en.cards.deadline.Equal(want) {
		t.Fatalf("card deadline = %v, want %v", en.cards.deadline, want)
	}
	en.clk.Advance(payment.DefaultCardTimeout)
	res := en.await(s)
	if res.Step != payment.StepFailed {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, "no card presented within 1m0s")
	if n := en.j.count(); n != 0 {
		t.Fatalf("%d records journaled", n)
	}
	if sig := en.ind.got(); sig[len(sig)-1] != payment.SignalAlert {
		t.Fatalf("signals = %v", sig)
	}
}

func TestCardReaderErrorAndWrongMode(t *testing.T) {
	t.Run("reader error", func(t *testing.T) {
		en := newEnv(t)
		en.cards.err = errors.New("pn532: no ACK")
		res := en.await(en.start(5000))
		contains(t, "message", res.Message, "card read failed: pn532: no ACK")
		if en.j.count() != 0 {
			t.Fatal("journaled")
		}
	})
	t.Run("mode not accepted", func(t *testing.T) {
		en := newEnv(t)
		s, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(5000), Modes: []txn.EntryMode{txn.QR}})
		if err != nil {
			t.Fatal(err)
		}
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		contains(t, "message", res.Message, `entry mode "contactless" not accepted`)
		if en.j.count() != 0 {
			t.Fatal("journaled")
		}
		if m := en.cards.lastReq.Modes; !slices.Equal(m, []txn.EntryMode{txn.QR}) {
			t.Fatalf("card request modes = %v", m)
		}
	})
}

func TestBusy(t *testing.T) {
	en := newEnv(t)
	s1 := en.start(5000)
	_, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(100)})
	if !errors.Is(err, payment.ErrBusy) {
		t.Fatalf("second sale: %v, want ErrBusy", err)
	}
	contains(t, "error", err.Error(), s1.ID())
	if err := en.e.Recover(context.Background()); !errors.Is(err, payment.ErrBusy) {
		t.Fatalf("Recover during a sale: %v, want ErrBusy", err)
	}
	s1.Cancel()
	en.await(s1)
	s2 := en.start(100) // free again as soon as the first one is done
	s2.Cancel()
	en.await(s2)
}

func TestDeclined(t *testing.T) {
	en := newEnv(t)
	en.acq.auth = func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
		return payment.AuthResponse{Outcome: txn.Outcome{ResponseCode: "51", Message: "insufficient funds"}}, nil
	}
	s := en.start(5051)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	evs := events(s)
	equalSteps(t, evs, payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
		payment.StepAuthorising, payment.StepDeclined, payment.StepPrinting, payment.StepDone)
	contains(t, "declined message", evs[4].Message, "51 insufficient funds")
	if res.Outcome != payment.StepDeclined || res.Step != payment.StepDone {
		t.Fatalf("result = %+v", res)
	}
	rec := en.j.get(res.Record.ID)
	if rec.State != txn.Declined || rec.Outcome.ResponseCode != "51" {
		t.Fatalf("record = %+v", rec)
	}
	got := en.prn.got()
	if len(got) != 2 {
		t.Fatalf("printed %d receipts, want 2", len(got))
	}
	contains(t, "receipt", got[0].Text(32), "DECLINED 51\ninsufficient funds")
	if sig := en.ind.got(); sig[len(sig)-1] != payment.SignalAlert {
		t.Fatalf("signals = %v", sig)
	}
}

func TestNoAnswer(t *testing.T) {
	noResponse := func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
		return payment.AuthResponse{}, fmt.Errorf("link: %w: MAC mismatch", payment.ErrNoResponse)
	}
	other := func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
		return payment.AuthResponse{}, errors.New("connection reset by peer")
	}
	for _, tc := range []struct {
		name string
		auth func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error)
	}{{"ErrNoResponse", noResponse}, {"unclassified error", other}} {
		t.Run(tc.name+" reversed at once", func(t *testing.T) {
			en := newEnv(t)
			en.acq.auth = tc.auth
			s := en.start(5000)
			en.cards.taps <- unionPayCard()
			res := en.await(s)
			equalSteps(t, events(s), payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
				payment.StepAuthorising, payment.StepReversalPending, payment.StepFailed)
			if res.Outcome != payment.StepReversalPending || res.Record.State != txn.Reversed {
				t.Fatalf("result = %+v", res)
			}
			contains(t, "message", res.Message, "reversed")
			if en.acq.reversals() != 1 || en.prn.tries() != 0 {
				t.Fatalf("reversals %d, prints %d", en.acq.reversals(), en.prn.tries())
			}
		})
	}

	t.Run("reversal unanswered, stays pending", func(t *testing.T) {
		en := newEnv(t)
		en.acq.auth = noResponse
		en.acq.reverse = func(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
			return txn.Outcome{}, fmt.Errorf("read: %w", payment.ErrNoResponse)
		}
		s := en.start(5000)
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		rec := en.j.get(res.Record.ID)
		if rec.State != txn.ReversalPending || rec.Attempts != 1 {
			t.Fatalf("record = %+v", rec)
		}
		contains(t, "message", res.Message, "reversal pending (attempt 1 of 3 failed)")
		if st := en.e.Status(); st.ReversalsPending != 1 {
			t.Fatalf("status = %+v", st)
		}
	})
	t.Run("reversal not sent, host unreachable: not an attempt", func(t *testing.T) {
		en := newEnv(t)
		en.acq.auth = noResponse
		en.acq.reverse = func(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
			return txn.Outcome{}, fmt.Errorf("dial: %w", payment.ErrUnreachable)
		}
		s := en.start(5000)
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		rec := en.j.get(res.Record.ID)
		if rec.State != txn.ReversalPending || rec.Attempts != 0 {
			t.Fatalf("record = %+v", rec)
		}
		contains(t, "message", res.Message, "reversal pending (host unreachable, not sent yet)")
	})

	t.Run("AuthTimeout on the injected clock", func(t *testing.T) {
		en := newEnv(t)
		en.acq.auth = func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
			<-ctx.Done()
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return payment.AuthResponse{}, fmt.Errorf("unexpected ctx error %v", ctx.Err())
			}
			return payment.AuthResponse{}, fmt.Errorf("%w: %w", payment.ErrNoResponse, ctx.Err())
		}
		s := en.start(5000)
		en.cards.taps <- unionPayCard()
		en.until("authorising", en.acq.authorising)
		en.clk.Advance(payment.DefaultAuthTimeout)
		res := en.await(s)
		if res.Outcome != payment.StepReversalPending || res.Record.State != txn.Reversed {
			t.Fatalf("result = %+v", res)
		}
	})
}

func TestUnreachable(t *testing.T) {
	en := newEnv(t)
	en.acq.auth = func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
		return payment.AuthResponse{}, fmt.Errorf("dial tcp: %w", payment.ErrUnreachable)
	}
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	equalSteps(t, events(s), payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
		payment.StepAuthorising, payment.StepFailed)
	// Offline is off by default: the refusal names offline.enabled, to the
	// merchant and in the journal.
	if res.Message != "host unreachable; offline refused (offline.enabled): offline sales are not enabled / 未开通离线交易" ||
		res.Record.State != txn.Aborted {
		t.Fatalf("result = %+v", res)
	}
	rec := en.j.get(res.Record.ID)
	contains(t, "journal reason", rec.History[len(rec.History)-1].Reason, "offline refused (offline.enabled)")
	contains(t, "journal outcome", rec.Outcome.Message, "offline.enabled")
	if en.acq.reversals() != 0 {
		t.Fatal("a request that never left was reversed")
	}
}

func TestReversalFirst(t *testing.T) {
	t.Run("host down: sale fails before the card is read", func(t *testing.T) {
		en := newEnv(t)
		old := en.j.add(txn.ReversalPending, 777)
		en.acq.reverse = func(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
			return txn.Outcome{}, fmt.Errorf("dial: %w", payment.ErrUnreachable)
		}
		s := en.start(5000)
		res := en.await(s)
		equalSteps(t, events(s), payment.StepAmountConfirmed, payment.StepFailed)
		if res.Message != "reversal pending, host unreachable" {
			t.Fatalf("message = %q", res.Message)
		}
		if en.cards.readCount() != 0 || en.calls.count("acquirer.Authorize") != 0 {
			t.Fatal("card read or request sent while a reversal was pending")
		}
		// Tried, but a dial failure is not an attempt (nothing was sent).
		if rec := en.j.get(old.ID); rec.State != txn.ReversalPending || rec.Attempts != 0 || en.acq.reversals() != 1 {
			t.Fatalf("pending reversal = %+v, %d tries", rec, en.acq.reversals())
		}
	})
	t.Run("reversal sent, then the sale", func(t *testing.T) {
		en := newEnv(t)
		old := en.j.add(txn.ReversalPending, 777)
		s := en.start(5000)
		en.cards.taps <- unionPayCard()
		res := en.await(s)
		if res.Outcome != payment.StepApproved {
			t.Fatalf("result = %+v", res)
		}
		if st := en.j.state(old.ID); st != txn.Reversed {
			t.Fatalf("old reversal: %s", st)
		}
		if r, c, a := en.calls.index("acquirer.Reverse"), en.calls.index("cards.ReadCard"), en.calls.index("acquirer.Authorize"); !(r < c && c < a) {
			t.Fatalf("order Reverse %d, ReadCard %d, Authorize %d", r, c, a)
		}
	})
}

func TestPaperOutThenPaperBack(t *testing.T) {
	en := newEnv(t)
	en.prn.setPaperOut(true)
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	if res.Step != payment.StepDone || res.Outcome != payment.StepApproved {
		t.Fatalf("result = %+v", res)
	}
	contains(t, "message", res.Message, "receipt queued: paper out")
	q := en.j.queue()
	if len(q) != 2 || q[0].Receipt.Copy != receipt.MerchantCopy {
		t.Fatalf("queue = %+v", q)
	}
	if st := en.e.Status(); st.PrintQueue != 2 {
		t.Fatalf("status = %+v", st)
	}

	tries := en.prn.tries()
	en.runBackground()
	en.until("Run tried the printer", func() bool { return en.prn.tries() > tries })
	if len(en.j.queue()) != 2 {
		t.Fatal("a job left the queue while the paper was out")
	}
	en.prn.setPaperOut(false)
	en.e.Kick() // as the paper sensor would
	en.until("queue drained", func() bool { return len(en.j.queue()) == 0 })
	got := en.prn.got()
	if len(got) != 2 || got[0].Copy != receipt.MerchantCopy || got[1].Copy != receipt.CustomerCopy || got[0].TxnID != res.Record.ID {
		t.Fatalf("printed = %+v", got)
	}
}

func TestQueuePrintFailsStillCompletes(t *testing.T) {
	en := newEnv(t)
	en.j.queuePrintErr = errors.New("bucket full")
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	if res.Step != payment.StepDone || res.Outcome != payment.StepApproved {
		t.Fatalf("result = %+v; an approved, journaled sale must not end failed", res)
	}
	contains(t, "message", res.Message, "receipt not queued")
	if len(en.prn.got()) != 2 {
		t.Fatal("receipts not printed directly")
	}
}

// TestReversalRetries runs Run on the fake clock: attempts 1..3 go
// unanswered, the record moves to ReversalFailed with an alarm, and it is
// not retried again (nor does it block sales).
func TestReversalRetries(t *testing.T) {
	// The backoff of Run is what this test follows; the spacing between
	// attempts of one reversal (TestReversalSpacing) is set out of the way.
	en := newEnv(t, func(c *payment.Config) {
		c.PrintTimeout = 7 * time.Second // distinct from the backoffs
		c.ReversalSpacing = time.Nanosecond
	})
	old := en.j.add(txn.ReversalPending, 777)
	en.acq.reverse = func(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
		return txn.Outcome{}, fmt.Errorf("read: %w", payment.ErrNoResponse)
	}
	en.runBackground()

	// Pass 1 at start; then the backoff doubles: 5s, 10s.
	en.until("attempt 1 and a 5s backoff", func() bool {
		return en.acq.reversals() == 1 && en.clk.armed(5*time.Second) == 1
	})
	if st := en.j.state(old.ID); st != txn.ReversalPending {
		t.Fatalf("after 1 attempt: %s", st)
	}
	en.clk.Advance(5 * time.Second)
	en.until("attempt 2 and a 10s backoff", func() bool {
		return en.acq.reversals() == 2 && en.clk.armed(10*time.Second) == 1
	})
	en.clk.Advance(10 * time.Second)
	en.until("reversal flagged failed", func() bool { return en.j.state(old.ID) == txn.ReversalFailed })
	rec := en.j.get(old.ID)
	if rec.Attempts != 3 || en.acq.reversals() != 3 {
		t.Fatalf("attempts %d, reversals sent %d; want 3", rec.Attempts, en.acq.reversals())
	}
	en.until("alarm logged", func() bool { return strings.Contains(en.logs.String(), "alarm=reversal_failed") })

	// The next pass finds nothing to send and goes idle (both loops, the
	// reversal loop and the print loop, re-arm their idle wait).
	en.until("20s backoff armed", func() bool { return en.clk.armed(20*time.Second) == 1 })
	idle := en.clk.armed(payment.DefaultRetryMaxInterval)
	en.e.Kick()
	en.until("idle wait armed", func() bool { return en.clk.armed(payment.DefaultRetryMaxInterval) >= idle+2 })
	if en.acq.reversals() != 3 {
		t.Fatalf("a failed reversal was retried: %d sends", en.acq.reversals())
	}
	if st := en.e.Status(); st.ReversalsFailed != 1 || st.ReversalsPending != 0 || !st.Running {
		t.Fatalf("status = %+v", st)
	}

	// Flagged for manual handling, it no longer blocks sales.
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	if res := en.await(s); res.Outcome != payment.StepApproved {
		t.Fatalf("sale after a failed reversal: %+v", res)
	}
}

// TestReversalSpacing: Run's retries and kicks do not bring a reversal's
// next attempt forward: it waits ReversalSpacing (doubled after each
// attempt) after the last one, so a link that drops every connection
// cannot use the attempts up at once. A sale's own reversal-first attempt
// is not held back (a customer is waiting), and it counts.
func TestReversalSpacing(t *testing.T) {
	en := newEnv(t, func(c *payment.Config) { c.PrintTimeout = 7 * time.Second })
	old := en.j.add(txn.ReversalPending, 777)
	en.acq.reverse = func(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
		return txn.Outcome{}, fmt.Errorf("read: %w", payment.ErrNoResponse)
	}
	en.runBackground()
	en.until("attempt 1 and a 5s backoff", func() bool {
		return en.acq.reversals() == 1 && en.clk.armed(5*time.Second) == 1
	})
	for range 5 {
		en.e.Kick()
	}
	en.clk.Advance(5 * time.Second)
	en.until("a 10s backoff", func() bool { return en.clk.armed(10*time.Second) == 1 })
	if n := en.acq.reversals(); n != 1 {
		t.Fatalf("%d reversal sends within the spacing, want 1", n)
	}

	// A sale sends the reversal first, spacing or not; it fails, so the
	// sale does not go online (invariant 4).
	s := en.start(5000)
	en.cards.taps <- unionPayCard()
	if res := en.await(s); res.Outcome == payment.StepApproved || len(en.acq.requests()) != 0 {
		t.Fatalf("a sale went online while a reversal was pending: %+v", res)
	}
	second := en.j.get(old.ID)
	if second.Attempts != 2 || en.acq.reversals() != 2 {
		t.Fatalf("the sale's reversal-first attempt: attempts %d, sends %d", second.Attempts, en.acq.reversals())
	}

	// Time goes on in backoff steps; the third attempt comes no sooner
	// than twice the spacing after the second.
	for i := 0; en.acq.reversals() < 3; i++ {
		if i == 40 {
			t.Fatalf("no third attempt after %v", en.clk.Now().Sub(second.Updated))
		}
		en.clk.Advance(5 * time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	en.until("reversal flagged failed", func() bool { return en.j.state(old.ID) == txn.ReversalFailed })
	if third := en.j.get(old.ID); third.Updated.Sub(second.Updated) < 2*txn.DefaultReversalSpacing {
		t.Fatalf("attempt 3 at +%v after attempt 2, want ≥ %v", third.Updated.Sub(second.Updated), 2*txn.DefaultReversalSpacing)
	}
}

func TestRecover(t *testing.T) {
	en := newEnv(t)
	p1 := en.j.add(txn.Pending, 100)
	ok := en.j.add(txn.Approved, 200)
	p2 := en.j.add(txn.Pending, 300)
	if err := en.e.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []txn.ID{p1.ID, p2.ID} {
		rec := en.j.get(id)
		if rec.State != txn.ReversalPending {
			t.Fatalf("%s: %s, want reversal_pending", id, rec.State)
		}
		contains(t, "reason", rec.History[len(rec.History)-1].Reason, "may have been sent")
	}
	if st := en.j.state(ok.ID); st != txn.Approved {
		t.Fatalf("approved record changed to %s", st)
	}
	en.runBackground()
	en.until("both reversed", func() bool {
		return en.j.state(p1.ID) == txn.Reversed && en.j.state(p2.ID) == txn.Reversed
	})

	t.Run("journal error", func(t *testing.T) {
		en := newEnv(t)
		en.j.add(txn.Pending, 100)
		en.j.transitionErr = func(txn.ID, txn.State) error { return errors.New("read-only") }
		err := en.e.Recover(context.Background())
		if !errors.Is(err, payment.ErrJournal) {
			t.Fatalf("err = %v", err)
		}
		contains(t, "error", err.Error(), "read-only")
	})
}

func TestRunOnlyOnce(t *testing.T) {
	en := newEnv(t)
	en.runBackground()
	en.until("Run running", func() bool { return en.e.Status().Running && en.clk.armed(payment.DefaultRetryMaxInterval) > 0 })
	if err := en.e.Run(context.Background()); !errors.Is(err, payment.ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	en := newEnv(t)
	s := en.start(5000)
	en.until("reader waiting", en.cards.isWaiting)
	past, live, unsub := s.Subscribe()
	defer unsub()
	_, live2, unsub2 := s.Subscribe()
	unsub2()
	unsub2() // twice is fine
	if _, ok := <-live2; ok {
		t.Fatal("unsubscribed channel not closed")
	}
	en.cards.taps <- unionPayCard()
	all := past
	for ev := range live {
		all = append(all, ev)
	}
	for i, ev := range all {
		if ev.Seq != i+1 {
			t.Fatalf("gap or repeat between past and live: %v", all)
		}
	}
	if !all[len(all)-1].Final || all[len(all)-1].Step != payment.StepDone {
		t.Fatalf("last event = %+v", all[len(all)-1])
	}
	en.await(s)

	// A late subscriber gets everything, and a closed channel.
	late, ch, unsub3 := s.Subscribe()
	defer unsub3()
	if !slices.EqualFunc(late, all, func(a, b payment.Event) bool { return a.Seq == b.Seq && a.Step == b.Step }) {
		t.Fatalf("late past = %v", steps(late))
	}
	if _, ok := <-ch; ok {
		t.Fatal("late live channel not closed")
	}
}

// TestNoFullPANOutside checks events, results, status and logs for the
// clear PAN and track data (DESIGN.md invariant 5), and that the JSON is
// lower_snake_case.
func TestNoFullPANOutside(t *testing.T) {
	en := newEnv(t)
	s := en.start(5000)
	d := unionPayCard()
	d.MaskedPAN = "" // the engine masks it itself
	en.cards.taps <- d
	res := en.await(s)
	blob, err := json.Marshal(struct {
		E []payment.Event
		R payment.Result
		S payment.Status
	}{events(s), res, en.e.Status()})
	if err != nil {
		t.Fatal(err)
	}
	out := string(blob) + en.logs.String()
	for _, secret := range []string{testPAN, d.Sensitive.Track2, "sealed-card-data", "c2VhbGVk"} {
		if strings.Contains(out, secret) {
			t.Fatalf("%q leaked: %s", secret, out)
		}
	}
	contains(t, "output", out, "621234******1232")

	var m map[string]any
	ev := events(s)[3]
	b, _ := json.Marshal(ev)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "at", "step", "txn_id", "state", "record", "final"} {
		if _, ok := m[k]; !ok {
			t.Errorf("event JSON lacks %q: %s", k, b)
		}
	}
}

func TestKeyedCVVOnlyInRequest(t *testing.T) {
	en := newEnv(t)
	s := en.start(5000)
	d := card.Data{Entry: txn.Keyed, Scheme: "Visa", MaskedPAN: "476173******0010",
		Sensitive: txn.Sensitive{PAN: "4761739001010010", Expiry: "2812"}, CVV: "739"}
	en.cards.taps <- d
	en.await(s)
	reqs := en.acq.requests()
	if len(reqs) != 1 || reqs[0].CVV != "739" {
		t.Fatalf("CVV not passed to the acquirer: %+v", reqs)
	}
	if got := en.j.sens[reqs[0].Record.ID]; got.PAN != d.Sensitive.PAN || got.Expiry != "2812" {
		t.Fatalf("journaled sensitive data = %+v", got)
	}
}

// BenchmarkApprovedSale measures the engine's own overhead for one
// approved sale against in-memory fakes (no I/O).
func BenchmarkApprovedSale(b *testing.B) {
	en := newEnv(b)
	c := unionPayCard()
	b.ReportAllocs()
	for b.Loop() {
		s, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(1234)})
		if err != nil {
			b.Fatal(err)
		}
		en.cards.taps <- c
		<-s.Done()
		if r := s.Result(); r.Outcome != payment.StepApproved {
			b.Fatalf("result %+v", r)
		}
	}
}
