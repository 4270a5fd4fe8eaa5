package payment_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/payment/standin"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

// standinEnv wires the engine to the stand-ins and the in-memory journal.
type standinEnv struct {
	*env
	cards *standin.Cards
	acq   *standin.Acquirer
	prn   *standin.Printer
	ind   *standin.Indicator
	paper *syncBuffer
}

func newStandinEnv(t *testing.T, autoTap time.Duration) *standinEnv {
	b := newBell()
	calls := &callLog{}
	clk := &notifyClock{Fake: clock.NewFake(epoch), bell: b, afters: map[time.Duration]int{}}
	logs := &syncBuffer{bell: b}
	log := slog.New(slog.NewTextHandler(logs, nil))
	se := &standinEnv{
		env:   &env{t: t, bell: b, calls: calls, clk: clk, j: newMemJournal(clk, calls, b), logs: logs},
		cards: standin.NewCards(clk, autoTap),
		acq:   standin.NewAcquirer(clk),
		paper: &syncBuffer{bell: b},
		ind:   standin.NewIndicator(log),
	}
	se.acq.SetLogger(log)
	se.prn = standin.NewPrinter(se.paper)
	e, err := payment.New(payment.Config{Merchant: receipt.Merchant{Name: "测试商户 Test Shop"}, Location: time.UTC},
		payment.Deps{Journal: se.j, Cards: se.cards, Acquirer: se.acq, Printer: se.prn, Indicator: se.ind, Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	se.e = e
	return se
}

// TestFullSaleWithStandins: the happy path end to end, the card presented
// by AutoTap on the fake clock.
func TestFullSaleWithStandins(t *testing.T) {
	se := newStandinEnv(t, 2*time.Second)
	s := se.start(1234)
	past, live, unsub := s.Subscribe()
	defer unsub()

	se.until("auto tap armed", func() bool { return se.clk.armed(2*time.Second) == 1 })
	se.clk.Advance(2 * time.Second)

	evs := past
	for ev := range live {
		evs = append(evs, ev)
	}
	equalSteps(t, evs, payment.StepAmountConfirmed, payment.StepWaitingForCard, payment.StepCardRead,
		payment.StepAuthorising, payment.StepApproved, payment.StepPrinting, payment.StepDone)
	contains(t, "amount_confirmed", evs[0].Message, "12.34 CNY")
	contains(t, "card_read", evs[2].Message, "UnionPay 621234******1232 (contactless)")

	res := s.Result()
	rec := se.j.get(res.Record.ID)
	if rec.State != txn.Approved || rec.Outcome.ResponseCode != "00" || len(rec.Outcome.AuthCode) != 6 || len(rec.Outcome.RRN) != 12 {
		t.Fatalf("record = %+v", rec)
	}
	// The journal got the field 55 data built for this sale.
	if sens := se.j.sens[rec.ID]; len(sens.ICC) == 0 || sens.PANSeq != "01" || !strings.HasPrefix(sens.Track2, testPAN+"D") {
		t.Fatalf("sealed data handed to the journal = %+v", sens)
	}

	paper := se.paper.String()
	for _, want := range []string{"MERCHANT COPY", "CUSTOMER COPY", "621234******1232", "CNY 12.34", rec.Outcome.AuthCode, rec.Outcome.RRN} {
		contains(t, "printed receipts", paper, want)
	}
	if strings.Contains(paper, testPAN) {
		t.Fatal("full PAN printed")
	}
	if se.prn.Printed() != 2 || se.ind.Last() != payment.SignalSuccess {
		t.Fatalf("printed %d, last signal %s", se.prn.Printed(), se.ind.Last())
	}
}

// TestStandinRulesThroughTheEngine drives each host rule through a sale.
func TestStandinRulesThroughTheEngine(t *testing.T) {
	tests := []struct {
		minor   int64
		step    payment.Step
		outcome payment.Step
		state   txn.State
		message string
	}{
		{5000, payment.StepDone, payment.StepApproved, txn.Approved, "approved"},
		{5051, payment.StepDone, payment.StepDeclined, txn.Declined, "51 insufficient funds"},
		{5005, payment.StepDone, payment.StepDeclined, txn.Declined, "05 do not honour"},
		{5014, payment.StepDone, payment.StepDeclined, txn.Declined, "14 invalid card number"},
		{5096, payment.StepDone, payment.StepDeclined, txn.Declined, "96 system malfunction"},
		{5098, payment.StepFailed, payment.StepReversalPending, txn.Reversed, "reversed"},
		{5099, payment.StepFailed, payment.StepFailed, txn.Aborted, "host unreachable"},
	}
	for _, tc := range tests {
		t.Run(cny(tc.minor).String(), func(t *testing.T) {
			se := newStandinEnv(t, 0)
			card, _ := standin.TestCard(standin.Mastercard)
			if err := se.cards.Tap(card); err != nil {
				t.Fatal(err)
			}
			s := se.start(tc.minor)
			if tc.minor%100 == 98 {
				// The stand-in host keeps quiet until AuthTimeout passes.
				se.until("auth timer armed", func() bool { return se.clk.armed(payment.DefaultAuthTimeout) == 1 })
				se.clk.Advance(payment.DefaultAuthTimeout)
			}
			res := se.await(s)
			if res.Step != tc.step || res.Outcome != tc.outcome || res.Record == nil || res.Record.State != tc.state {
				t.Fatalf("result = %+v", res)
			}
			contains(t, "message", res.Message, tc.message)
		})
	}
}

// TestStandinHostDownThenUp: a timed-out sale leaves a reversal while the
// host is down; the next sale is refused before the card; once the host
// is back, Run sends the reversal and sales go through.
func TestStandinHostDownThenUp(t *testing.T) {
	se := newStandinEnv(t, 0)
	card, _ := standin.TestCard(standin.UnionPay)
	_ = se.cards.Tap(card)
	s := se.start(7098)
	se.until("auth timer armed", func() bool { return se.clk.armed(payment.DefaultAuthTimeout) == 1 })
	se.acq.SetDown(true)
	se.clk.Advance(payment.DefaultAuthTimeout)
	res := se.await(s)
	id := res.Record.ID
	if se.j.state(id) != txn.ReversalPending {
		t.Fatalf("state %s", se.j.state(id))
	}

	s2 := se.start(100)
	if res2 := se.await(s2); res2.Message != "reversal pending, host unreachable" {
		t.Fatalf("second sale: %+v", res2)
	}

	se.acq.SetDown(false)
	se.runBackground()
	se.until("reversal sent", func() bool { return se.j.state(id) == txn.Reversed })
	_ = se.cards.Tap(card)
	if res3 := se.await(se.start(100)); res3.Outcome != payment.StepApproved {
		t.Fatalf("third sale: %+v", res3)
	}
	if _, revs := se.acq.Counts(); revs != 1 {
		t.Fatalf("reversals acknowledged: %d", revs)
	}
}
