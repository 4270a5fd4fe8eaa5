package txn

import (
	"errors"
	"testing"
	"time"
)

func TestTransitionsTable(t *testing.T) {
	legal := map[[2]State]bool{
		{Pending, Approved}: true, {Pending, Declined}: true, {Pending, StoredOffline}: true,
		{Pending, ReversalPending}: true, {Pending, Aborted}: true,
		{StoredOffline, ForwardedApproved}: true, {StoredOffline, ForwardedDeclined}: true,
		{StoredOffline, Expired}:    true,
		{ReversalPending, Reversed}: true, {ReversalPending, ReversalFailed}: true,
		{ReversalFailed, Reversed}: true, {ReversalFailed, ReversalPending}: true, {Approved, ReversalPending}: true,
	}
	for _, from := range States {
		for _, to := range States {
			err := CanTransition(from, to)
			if legal[[2]State{from, to}] {
				if err != nil {
					t.Errorf("%s -> %s should be legal: %v", from, to, err)
				}
				continue
			}
			if !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("%s -> %s should be illegal, got %v", from, to, err)
			}
		}
	}
	if err := CanTransition("bogus", Approved); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("unknown from state: %v", err)
	}
}

func TestStateProperties(t *testing.T) {
	for _, s := range States {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		if s.Acknowledged() && s.InOutbox() {
			t.Errorf("%s both acknowledged and in outbox", s)
		}
		if s.Acknowledged() && s.NeedsReversal() {
			t.Errorf("%s both acknowledged and needing reversal", s)
		}
	}
	if State("x").Valid() || State("x").Final() {
		t.Error("unknown state reported valid/final")
	}
	if !Declined.Final() || Pending.Final() || !StoredOffline.InOutbox() || !ReversalFailed.NeedsReversal() {
		t.Error("state properties wrong")
	}
}

func TestSensitiveEmpty(t *testing.T) {
	var nilS *Sensitive
	if !nilS.Empty() || !(&Sensitive{}).Empty() || (&Sensitive{ICC: []byte{1}}).Empty() ||
		(&Sensitive{Reader: &ReaderEncrypted{}}).Empty() {
		t.Error("Empty wrong")
	}
}

func TestKeepsNoCardData(t *testing.T) {
	for _, s := range States {
		want := s.Acknowledged() || s == Aborted
		if s.KeepsNoCardData() != want {
			t.Errorf("%s: KeepsNoCardData = %t, want %t", s, s.KeepsNoCardData(), want)
		}
		// Whatever may still be sent (stored, reversal queue) keeps its data.
		if s.KeepsNoCardData() && (s.InOutbox() || s.NeedsReversal()) {
			t.Errorf("%s keeps no card data but must still be sent", s)
		}
	}
	if Expired.KeepsNoCardData() {
		t.Error("expired sales keep their sealed data for a manual submission")
	}
}

func TestReversalDue(t *testing.T) {
	at := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	sp := DefaultReversalSpacing
	cases := []struct {
		attempts int
		after    time.Duration
		want     bool
	}{
		{0, 0, true},                 // never tried: at once
		{1, sp - time.Second, false}, // one failed a moment ago
		{1, sp, true},
		{2, 2*sp - time.Second, false}, // doubled after each further attempt
		{2, 2 * sp, true},
		{3, 4 * sp, true},
		{1, -time.Hour, true}, // stamped in the future (clock went back): not held back
	}
	for _, c := range cases {
		r := Record{Attempts: c.attempts, Updated: at}
		if got := r.ReversalDue(at.Add(c.after), sp); got != c.want {
			t.Errorf("attempts %d, %v after: due %t, want %t", c.attempts, c.after, got, c.want)
		}
		if c.attempts > 0 && c.after >= 0 {
			next := r.NextReversalAttempt(sp)
			if r.ReversalDue(next.Add(-time.Nanosecond), sp) || !r.ReversalDue(next, sp) {
				t.Errorf("attempts %d: NextReversalAttempt %v is not where ReversalDue turns true", c.attempts, next)
			}
		}
	}
	if !(Record{Attempts: 60, Updated: at}).ReversalDue(at.Add(64*sp), sp) {
		t.Error("the doubling is capped (64 × spacing at most)")
	}
}
