package txn

import (
	"errors"
	"testing"
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
