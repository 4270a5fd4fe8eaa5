package pn532

import "time"

// cmdInAutoPoll is InAutoPoll (§7.3.13), which libnfc's
// nfc_initiator_poll_target (nfc-poll) sends to a PN532.
const cmdInAutoPoll byte = 0x60

// Target types of InAutoPoll (§7.3.13) that a card of this field (106 kbps
// type A, SEL_RES 20: ISO/IEC 14443-4, not NFC-DEP) answers: generic
// passive 106 kbps (activated by its SEL_RES, so with RATS when
// fAutomaticRATS is set), MIFARE (activated at ISO/IEC 14443-3, no RATS)
// and passive 106 kbps ISO/IEC 14443-4 A (with RATS).
const (
	autoGeneric106 byte = 0x00
	autoMifare     byte = 0x10
	autoISO4A      byte = 0x20
)

// autoTypes are the target types the manual lists; a type outside it is a
// syntax error. Only the three above can find one of our cards: the others
// (FeliCa 01 02 11 12, type B 03 23, Jewel 04, DEP 40-42 80-82) need cards
// this field never holds.
var autoTypes = map[byte]bool{
	0x00: true, 0x01: true, 0x02: true, 0x03: true, 0x04: true,
	0x10: true, 0x11: true, 0x12: true, 0x20: true, 0x23: true,
	0x40: true, 0x41: true, 0x42: true, 0x80: true, 0x81: true, 0x82: true,
}

// autoPeriod is InAutoPoll's Period unit (§7.3.13).
const autoPeriod = 150 * time.Millisecond

// inAutoPoll starts a poll over up to 15 target types: PollNr rounds (FF:
// until a target comes or the host aborts), each polling every type once,
// Period × 150 ms a type. The answer comes as soon as a type finds
// targets (up to two, as InListPassiveTarget with MaxTg 2): NbTg, then per
// target its Type, the length of its data and the data of §7.3.5. After
// the last round without a target the answer is NbTg 0.
func (s *session) inAutoPoll(p []byte) error {
	const cmd = cmdInAutoPoll
	if len(p) < 3 || len(p) > 2+15 || p[0] == 0x00 || p[1] < 0x01 || p[1] > 0x0F {
		return s.syntaxError(cmd, "PollNr/Period/types")
	}
	for _, ty := range p[2:] {
		if !autoTypes[ty] {
			return s.syntaxError(cmd, "target type")
		}
	}
	s.targets, s.hostChain = nil, nil
	req := &pollReq{maxTg: 2, auto: append([]byte(nil), p[2:]...)}
	s.pend = &pending{name: commandName(cmd), poll: req}
	if p[0] != 0xFF {
		rounds := time.Duration(p[0]) * time.Duration(len(req.auto))
		s.pend.due = s.e.clk.Now().Add(rounds * time.Duration(p[1]) * autoPeriod)
	}
	return s.progress()
}

// progressAutoPoll answers a pending InAutoPoll once a type finds a card,
// or with NbTg 0 when its rounds are over.
func (s *session) progressAutoPoll(pd *pending) error {
	for _, ty := range pd.poll.auto {
		req := &pollReq{maxTg: pd.poll.maxTg}
		switch ty {
		case autoGeneric106:
			req.rats = s.params&paramAutoRATS != 0
		case autoISO4A:
			req.rats = true
		case autoMifare:
		default:
			continue // no card of this technology in the field
		}
		found := s.activate(req)
		if len(found) == 0 {
			continue
		}
		s.pend = nil
		s.targets = found
		out := []byte{byte(len(found))}
		for _, t := range found {
			d := t.targetData()
			out = append(append(out, ty, byte(len(d))), d...)
		}
		return s.respond(cmdInAutoPoll, out, 0)
	}
	if pd.due.IsZero() || s.e.clk.Now().Before(pd.due) {
		return nil
	}
	s.pend = nil
	return s.respond(cmdInAutoPoll, []byte{0x00}, 0)
}
