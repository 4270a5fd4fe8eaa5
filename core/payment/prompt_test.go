package payment_test

import (
	"testing"

	"github.com/posagent/posagent/core/payment"
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
