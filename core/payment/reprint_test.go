package payment_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

func TestReprintQueuesAMarkedCopy(t *testing.T) {
	en := newEnv(t)
	s := en.start(1234)
	en.cards.taps <- unionPayCard()
	res := en.await(s)
	rec := en.j.get(res.Record.ID)
	printed := len(en.prn.got())

	// Paper out: the reprint stays queued, durably, until Run prints it.
	en.prn.setPaperOut(true)
	job, err := en.e.Reprint(context.Background(), rec, receipt.CustomerCopy)
	if err != nil {
		t.Fatal(err)
	}
	if q := en.j.queue(); len(q) != 1 || q[0].Seq != job.Seq || q[0].Receipt.Copy != receipt.CustomerCopy {
		t.Fatalf("queue = %+v", q)
	}
	en.runBackground()
	en.prn.setPaperOut(false)
	en.e.Kick()
	en.until("the reprint printed", func() bool { return len(en.j.queue()) == 0 })
	got := en.prn.got()
	if len(got) != printed+1 {
		t.Fatalf("printed %d receipts, want %d", len(got), printed+1)
	}
	text := got[len(got)-1].Text(receipt.Columns)
	for _, want := range []string{receipt.ReprintLine, "CUSTOMER COPY", "654321", "621234******1232"} {
		if !strings.Contains(text, want) {
			t.Errorf("reprint lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(got[printed-1].Text(receipt.Columns), receipt.ReprintLine) {
		t.Error("the sale's own receipt is marked as a reprint")
	}
}

func TestReprintRefusesWhatHasNoReceipt(t *testing.T) {
	en := newEnv(t)
	for _, st := range []txn.State{txn.Pending, txn.Aborted, txn.ReversalPending, txn.Reversed, txn.ReversalFailed} {
		_, err := en.e.Reprint(context.Background(), txn.Record{ID: "0000000000000009", State: st}, receipt.CustomerCopy)
		if !errors.Is(err, payment.ErrNoReceipt) || !strings.Contains(err.Error(), string(st)) {
			t.Errorf("%s: %v", st, err)
		}
	}
	_, err := en.e.Reprint(context.Background(), txn.Record{ID: "0000000000000009", State: txn.Approved}, receipt.Copy("both"))
	if err == nil || !strings.Contains(err.Error(), `"both"`) {
		t.Errorf("bad copy: %v", err)
	}
	if q := en.j.queue(); len(q) != 0 {
		t.Fatalf("refused reprints queued %+v", q)
	}
	for _, st := range txn.States {
		if payment.Reprintable(st) && (st == txn.Pending || st == txn.Aborted || st.NeedsReversal() || st == txn.Reversed) {
			t.Errorf("%s is reprintable", st)
		}
	}
}
