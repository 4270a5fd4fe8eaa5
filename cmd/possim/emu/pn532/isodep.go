package pn532

// This file is InCommunicateThru (UM0701-02 §7.3.9): DataOut goes to the
// RF interface as a raw frame, framed as the CIU registers say, and the
// chip answers Status and whatever came back. The cards of this field are
// ISO/IEC 14443 A cards speaking APDUs; below the APDU level the emulator
// models what a card in the ISO/IEC 14443-4 PROTOCOL state does with the
// blocks it receives, which is what libnfc sends raw: its presence check
// for a type A ISO-DEP target (nfc_initiator_target_is_present, used by
// nfc-poll) is an R(NAK) block.

// cmdInCommunicateThru is InCommunicateThru (§7.3.9).
const cmdInCommunicateThru byte = 0x42

// CIU registers (PN532 data sheet; libnfc uses the same addresses) and the
// bits the raw path reads. TxMode and RxMode bit 7 enable the CRC the CIU
// appends and checks; TxMode bits 1-0 are the framing (00 ISO/IEC 14443 A,
// 01 active NFC, 10 FeliCa, 11 ISO/IEC 14443 B); ManualRCV bit 4 turns the
// parity off; BitFraming bits 2-0 are the valid bits of the last byte sent
// (0: whole bytes).
const (
	regCIUTxMode     uint16 = 0x6302
	regCIURxMode     uint16 = 0x6303
	regCIUManualRCV  uint16 = 0x630D
	regCIUBitFraming uint16 = 0x633D

	crcEnable       byte = 0x80
	txFramingMask   byte = 0x03
	txFramingTypeA  byte = 0x00
	parityDisable   byte = 0x10
	txLastBitsMask  byte = 0x07
	maxThruDataSize      = maxDataIn
)

// ISO/IEC 14443-4 block coding (§7.1.1 of that standard): the PCB of an
// I-block is 000x xx1x (bit 4 chaining, bit 3 CID follows, bit 2 NAD
// follows), of an R-block 101x x01x (bit 4: NAK), of an S-block 11xx x010
// (bits 5-4: 00 DESELECT, 11 WTX); bit 0 is the block number.
const (
	pcbI        byte = 0x02
	pcbRACK     byte = 0xA2
	pcbCID      byte = 0x08
	pcbNAD      byte = 0x04
	pcbChaining byte = 0x10
	pcbRNAK     byte = 0x10
	pcbDeselect byte = 0xC2
)

// crcA is the CRC_A of ISO/IEC 14443-3 (initial value 6363, polynomial
// x^16 + x^12 + x^5 + 1 processed LSB first), sent low byte first.
func crcA(b []byte) [2]byte {
	crc := uint16(0x6363)
	for _, c := range b {
		x := c ^ byte(crc)
		x ^= x << 4
		crc = crc>>8 ^ uint16(x)<<8 ^ uint16(x)<<3 ^ uint16(x)>>4
	}
	return [2]byte{byte(crc), byte(crc >> 8)}
}

// inCommunicateThru sends one raw frame and answers what a card of this
// field would send back:
//
//   - a frame in another framing than type A (type B, FeliCa, active:
//     libnfc's probes for B', ST SRx, ASK CTx and iClass tags) reaches no
//     card: status 01 (time out) after the card timeout;
//   - a type A frame of whole bytes, parity on: with the CIU's Tx CRC off
//     the frame must end in its own valid CRC_A (else the card ignores
//     it). The card in the PROTOCOL state (activated with RATS, not
//     deselected) handles it as an ISO/IEC 14443-4 block (iso4Block); with
//     none, the cards (IDLE or HALT) ignore a frame of whole bytes: status
//     01. The answer carries a CRC_A when the CIU's Rx CRC is off.
//
// Refused with the syntax error frame, as not emulated rather than
// answered with an invented result: short and bit-oriented frames (REQA,
// WUPA, anticollision), frames with the parity off, frames when a card is
// activated at ISO/IEC 14443-3 only (MIFARE commands, RATS by hand) or two
// ISO-DEP cards are active, and an empty DataOut.
func (s *session) inCommunicateThru(p []byte) error {
	const cmd = cmdInCommunicateThru
	timeout := func() error { return s.respond(cmd, []byte{statusTimeout}, s.e.opts.CardTimeout) }
	if len(p) == 0 || len(p) > maxThruDataSize {
		return s.syntaxError(cmd, "DataOut length")
	}
	s.e.count(func(st *Stats) { st.RawFrames++ })
	if s.regs[regCIUTxMode]&txFramingMask != txFramingTypeA {
		return timeout()
	}
	switch {
	case s.regs[regCIUBitFraming]&txLastBitsMask != 0:
		return s.syntaxError(cmd, "short or bit-oriented type A frames are not emulated")
	case s.regs[regCIUManualRCV]&parityDisable != 0:
		return s.syntaxError(cmd, "frames without parity are not emulated")
	}
	var inProtocol []*target
	for _, t := range s.targets {
		if s.inProtocol(t) {
			inProtocol = append(inProtocol, t)
		} else if t.active && !t.iso4 && s.present(t) {
			return s.syntaxError(cmd, "raw frames to an ISO/IEC 14443-3 target are not emulated")
		}
	}
	frame := p
	if s.regs[regCIUTxMode]&crcEnable == 0 {
		if len(frame) < 3 || crcA(frame[:len(frame)-2]) != [2]byte(frame[len(frame)-2:]) {
			return timeout() // a frame with a bad CRC_A is ignored
		}
		frame = frame[:len(frame)-2]
	}
	switch len(inProtocol) {
	case 0:
		return timeout()
	case 1:
	default:
		return s.syntaxError(cmd, "raw frames with two ISO-DEP targets are not emulated")
	}
	answer, ok, err := s.iso4Block(inProtocol[0], frame)
	if err != nil || !ok {
		if err != nil {
			return s.syntaxError(cmd, err.Error())
		}
		return timeout()
	}
	if s.regs[regCIURxMode]&crcEnable == 0 {
		c := crcA(answer)
		answer = append(answer, c[0], c[1])
	}
	if len(answer) > maxThruDataSize {
		return s.syntaxError(cmd, "answer longer than one frame")
	}
	return s.respond(cmd, append([]byte{statusOK}, answer...), 0)
}

// errNotEmulated says which ISO-DEP block the emulator does not model.
type errNotEmulated string

func (e errNotEmulated) Error() string { return string(e) + " is not emulated" }

// iso4Block is the card's side of ISO/IEC 14443-4 (§7.5.4 block handling
// rules of that standard) for one block received in the PROTOCOL state.
// It returns the block the card sends back, or ok false when the card
// ignores the block (an invalid block, a CID that is not its own), or an
// error for what is not emulated.
//
//   - I-block: the INF field is a C-APDU; the card toggles its block
//     number and answers an I-block with the R-APDU.
//   - R(ACK) or R(NAK) with the card's block number: the card sends its
//     last I-block again.
//   - R(NAK) with the other block number: the card answers R(ACK) with its
//     block number (the presence check libnfc sends).
//   - S(DESELECT): the card answers S(DESELECT) and goes to HALT.
//
// The card was activated with CID 0 (or none): a block may carry CID 0,
// which the answer repeats.
func (s *session) iso4Block(t *target, b []byte) (answer []byte, ok bool, err error) {
	pcb := b[0]
	body := b[1:]
	var cid []byte
	if pcb&0xC0 != 0x40 && pcb&pcbCID != 0 { // every block type but the RFU 01xx xxxx
		if len(body) == 0 {
			return nil, false, nil
		}
		if body[0]&0x0F != 0 {
			return nil, false, nil // another card's CID: not for this one
		}
		cid, body = body[:1], body[1:]
	}
	reply := func(pcb byte, inf []byte) []byte {
		if cid != nil {
			pcb |= pcbCID
		}
		return append(append([]byte{pcb}, cid...), inf...)
	}
	switch {
	case pcb&0xE2 == pcbI: // 000x xx1x
		if pcb&pcbChaining != 0 {
			return nil, false, errNotEmulated("a chained I-block")
		}
		if pcb&pcbNAD != 0 {
			return nil, false, errNotEmulated("an I-block with NAD")
		}
		resp := t.fc.card.Respond(body)
		s.e.count(func(st *Stats) {
			st.APDUs++
			st.APDUBytesIn += int64(len(body))
			st.APDUBytesOut += int64(len(resp))
		})
		t.piccBN ^= 1
		t.lastBlock = append([]byte{pcbI | t.piccBN}, resp...)
		return reply(t.lastBlock[0], t.lastBlock[1:]), true, nil
	case pcb&0xE6 == pcbRACK && len(body) == 0: // 101x x01x
		switch {
		case pcb&0x01 == t.piccBN:
			if t.lastBlock == nil {
				return nil, false, errNotEmulated("an R-block before the first I-block")
			}
			return reply(t.lastBlock[0], t.lastBlock[1:]), true, nil
		case pcb&pcbRNAK != 0:
			return reply(pcbRACK|t.piccBN, nil), true, nil
		}
		return nil, false, errNotEmulated("an R(ACK) outside chaining")
	case pcb&0xF7 == pcbDeselect && len(body) == 0: // 1100 x010
		s.setHalted(t, true)
		return reply(pcbDeselect, nil), true, nil
	}
	return nil, false, nil // an invalid block: the card ignores it
}
