package payment_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// A card source's prompt ("present one card only") reaches the sale's
// event stream as a waiting_for_card event, for the customer's screen.
func TestCardSourcePromptBecomesAnEvent(t *testing.T) {
	en := newEnv(t)
	en.cards.prompts = []string{"present one card only"}
	s := en.start(1234)
	en.cards.taps <- unionPayCard()
	if res := en.await(s); res.Outcome != payment.StepApproved {
		t.Fatalf("result %+v", res)
	}
	var waits []string
	for _, ev := range events(s) {
		if ev.Step == payment.StepWaitingForCard {
			waits = append(waits, ev.Message)
		}
	}
	if len(waits) != 2 || waits[1] != "present one card only" {
		t.Fatalf("waiting_for_card messages %q, want the prompt after the first", waits)
	}
}

// A reversal attempt that joined the forwarder's request on the wire
// (payment.ErrSharedAttempt) is not counted again by the engine.
func TestSharedReversalAttemptNotCounted(t *testing.T) {
	en := newEnv(t)
	old := en.j.add(txn.ReversalPending, 777)
	en.acq.reverse = func(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
		return txn.Outcome{}, fmt.Errorf("%w: %w", payment.ErrSharedAttempt, payment.ErrNoResponse)
	}
	en.runBackground()
	en.until("an attempt", func() bool { return en.acq.reversals() >= 1 })
	en.e.Kick()
	en.until("another attempt", func() bool { return en.acq.reversals() >= 2 })
	if rec := en.j.get(old.ID); rec.Attempts != 0 || rec.State != txn.ReversalPending {
		t.Fatalf("attempts %d state %s: a shared attempt was counted", rec.Attempts, rec.State)
	}
}
