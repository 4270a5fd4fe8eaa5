package pn532

// This file keeps the RF-side state that the chip's commands leave in the
// cards: the ISO/IEC 14443-3 HALT state after InDeselect, and the loss of
// power when the RF field goes off (RFConfiguration, PowerDown, a chip
// reset).

// setHalted sets or clears the HALT state of the target's card, if that
// card is still in the field as it was activated.
func (s *session) setHalted(t *target, halted bool) {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.gen != e.gen {
		return
	}
	for i := range e.field {
		if e.field[i].card == t.fc.card {
			e.field[i].halted = halted
		}
	}
}

// reselect activates a deselected target again (WUPA, anticollision by
// UID, RATS): the card leaves HALT and starts its ISO/IEC 14443-4 session
// afresh.
func (s *session) reselect(t *target) {
	s.setHalted(t, false)
	t.fc.card.Reset()
	t.active = true
	t.piccBN, t.lastBlock = 1, nil
}

// cardHalted reports whether the target's card is in the field, as it
// was activated, and in HALT.
func (s *session) cardHalted(t *target) bool {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.gen != e.gen {
		return false
	}
	for _, fc := range e.field {
		if fc.card == t.fc.card {
			return fc.halted
		}
	}
	return false
}

// inProtocol reports whether the target's card is in the ISO/IEC 14443-4
// PROTOCOL state: activated with RATS, not deselected, still in the field
// and not halted.
func (s *session) inProtocol(t *target) bool {
	return t.active && t.iso4 && s.present(t) && !s.cardHalted(t)
}

// fieldOff switches the RF field off: every card in it loses power, so it
// forgets its HALT state and its selection, and the chip's activations of
// it are void (their next exchange times out). The cards stay in the
// field.
func (e *Emulator) fieldOff() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fieldOffLocked()
}

func (e *Emulator) fieldOffLocked() {
	for i := range e.field {
		e.field[i].halted = false
		e.field[i].card.Reset()
	}
	e.gen++
}
