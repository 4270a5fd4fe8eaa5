package pn532

import (
	"bytes"
	"testing"
	"time"

	"github.com/posagent/posagent/core/emv/emvtest"
)

// TestGoldenCRCA: CRC_A values of ISO/IEC 14443-3 frames that appear in
// every type A trace: HLTA 50 00 → 57 CD, RATS E0 80 → 31 73, and the
// standard's examples 00 00 → A0 1E and 12 34 → 26 CF.
func TestGoldenCRCA(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"50 00", "57 CD"}, {"E0 80", "31 73"}, {"00 00", "A0 1E"}, {"12 34", "26 CF"},
	} {
		if got := crcA(unhex(t, tc.in)); !bytes.Equal(got[:], unhex(t, tc.want)) {
			t.Errorf("CRC_A(%s) = % X, want %s", tc.in, got, tc.want)
		}
	}
}

// thru sends InCommunicateThru and returns Status and DataIn.
func (h *harness) thru(frame ...byte) (byte, []byte) {
	h.t.Helper()
	d := h.command(cmdInCommunicateThru, frame...)
	return d[0], d[1:]
}

// crcOn sets the CIU as libnfc leaves it: type A framing, CRC on both ways.
func (h *harness) crcOn() {
	h.t.Helper()
	h.command(cmdWriteRegister, 0x63, 0x02, 0x80, 0x63, 0x03, 0x80)
}

// TestThruOtherFraming: a type B frame (libnfc's ST SRx probe 06 00)
// reaches no card in this field: status 01.
func TestThruOtherFraming(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.Visa())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.command(cmdWriteRegister, 0x63, 0x02, 0x83, 0x63, 0x03, 0x83)
	if st, d := h.thru(0x06, 0x00); st != statusTimeout || len(d) != 0 {
		t.Fatalf("type B frame: %02X % X, want 01", st, d)
	}
	if st := h.emu.Stats(); st.RawFrames != 1 || st.APDUs != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestThruPresencePing: libnfc's presence check R(NAK) with block number
// 0 (B2). Right after activation the card's block number is 1: it answers
// R(ACK) 1 (A3). After one I-block exchange its number is 0: the same
// R(NAK) makes it send its last I-block again, and R(NAK) 1 gets R(ACK) 0.
// Once the card has left, nothing answers (01).
func TestThruPresencePing(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.UnionPay())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.crcOn()
	if st, d := h.thru(0xB2); st != statusOK || !bytes.Equal(d, []byte{0xA3}) {
		t.Fatalf("R(NAK) 0 after activation: %02X % X, want 00 A3", st, d)
	}
	h.write(hostFrameBytes(cmdInCommunicateThru, 0xB3)) // R(NAK) 1: nothing to send again yet
	h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	st, resp := h.exchange(selectPPSE)
	if st != statusOK {
		t.Fatalf("SELECT: %02X", st)
	}
	if st, d := h.thru(0xB2); st != statusOK || !bytes.Equal(d, append([]byte{0x02}, resp...)) {
		t.Fatalf("R(NAK) 0 after an I-block: %02X % X, want the I-block 02 + R-APDU again", st, d)
	}
	if st, d := h.thru(0xB3); st != statusOK || !bytes.Equal(d, []byte{0xA2}) {
		t.Fatalf("R(NAK) 1: %02X % X, want 00 A2", st, d)
	}
	if st := h.emu.Stats(); st.APDUs != 1 {
		t.Fatalf("the retransmission ran the APDU again: %d APDUs", st.APDUs)
	}
	h.emu.Remove()
	if st, d := h.thru(0xB2); st != statusTimeout || len(d) != 0 {
		t.Fatalf("after removal: %02X % X, want 01", st, d)
	}
}

// TestThruIBlocks: an I-block sent raw carries a C-APDU; the card toggles
// its block number and answers I-blocks; CID 0 is echoed, another CID is
// not for this card; with the CIU's CRC off the host adds and gets CRC_A.
func TestThruIBlocks(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.UnionPay())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.crcOn()
	want := emvtest.UnionPay().Respond(selectPPSE)
	if st, d := h.thru(append([]byte{0x02}, selectPPSE...)...); st != statusOK || !bytes.Equal(d, append([]byte{0x02}, want...)) {
		t.Fatalf("I(0): %02X % X", st, d)
	}
	if st, d := h.thru(append([]byte{0x0B, 0x00}, selectPPSE...)...); st != statusOK || !bytes.Equal(d, append([]byte{0x0B, 0x00}, want...)) {
		t.Fatalf("I(1) with CID 0: %02X % X", st, d)
	}
	if st, _ := h.thru(append([]byte{0x0A, 0x01}, selectPPSE...)...); st != statusTimeout {
		t.Fatalf("I-block for CID 1: %02X, want 01", st)
	}
	// CRC off (power-on value of the register store): CRC_A by the host.
	h.command(cmdWriteRegister, 0x63, 0x02, 0x00, 0x63, 0x03, 0x00)
	frame := append([]byte{0x02}, selectPPSE...)
	c := crcA(frame)
	st, d := h.thru(append(frame, c[:]...)...)
	wantBlock := append([]byte{0x02}, want...)
	wc := crcA(wantBlock)
	if st != statusOK || !bytes.Equal(d, append(wantBlock, wc[:]...)) {
		t.Fatalf("I(0) with host CRC: %02X % X", st, d)
	}
	if st, _ := h.thru(append(frame, c[0], c[1]^1)...); st != statusTimeout {
		t.Fatalf("bad CRC_A: %02X, want 01 (ignored)", st)
	}
	if st := h.emu.Stats(); st.APDUs != 3 {
		t.Fatalf("APDUs %d, want 3", st.APDUs)
	}
}

// TestThruDeselect: a raw S(DESELECT) is answered and halts the card; the
// chip does not know, so its next InDataExchange times out, a poll does
// not find the card, and InSelect (WUPA) brings it back.
func TestThruDeselect(t *testing.T) {
	h := newHarness(t, Options{PollPeriod: time.Millisecond})
	h.wakeUp()
	h.command(cmdRFConfiguration, 0x05, 0xFF, 0x01, 0x00)
	h.emu.Tap(emvtest.Visa())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.crcOn()
	if st, d := h.thru(0xC2); st != statusOK || !bytes.Equal(d, []byte{0xC2}) {
		t.Fatalf("S(DESELECT): %02X % X", st, d)
	}
	if st, _ := h.exchange(selectPPSE); st != statusTimeout {
		t.Fatalf("exchange with a halted card: %02X, want 01", st)
	}
	if d := h.command(cmdDiagnose, 0x06); !bytes.Equal(d, []byte{statusTimeout}) {
		t.Fatalf("presence test of a halted card: % X", d)
	}
	if st, _ := h.thru(0xB2); st != statusTimeout {
		t.Fatalf("R(NAK) to a halted card: %02X, want 01", st)
	}
	h.command(cmdInDeselect, 0x01)
	if d := h.command(cmdInSelect, 0x01); !bytes.Equal(d, []byte{statusOK}) {
		t.Fatalf("InSelect: % X", d)
	}
	if st, _ := h.exchange(selectPPSE); st != statusOK {
		t.Fatalf("exchange after InSelect: %02X", st)
	}
}

// TestThruIgnoredAndRefused: frames a card in the PROTOCOL state ignores
// (invalid blocks, e.g. HLTA) time out; a field without an ISO-DEP card
// ignores whole-byte frames; what is not emulated is refused.
func TestThruIgnoredAndRefused(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.crcOn()
	h.emu.Tap(emvtest.Visa())
	if st, _ := h.thru(0xB2); st != statusTimeout {
		t.Fatalf("no activated card: %02X, want 01", st)
	}
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if st, _ := h.thru(0x50, 0x00); st != statusTimeout {
		t.Fatalf("HLTA in the PROTOCOL state: %02X, want 01", st)
	}
	refused := func(name string, frame ...byte) {
		t.Helper()
		h.write(hostFrameBytes(cmdInCommunicateThru, frame...))
		if got := h.read(len(ackFrame) + len(errorFrame)); !bytes.Equal(got, append(append([]byte{}, ackFrame...), errorFrame...)) {
			t.Fatalf("%s: % X, want the syntax error frame", name, got)
		}
	}
	refused("empty DataOut")
	refused("chained I-block", append([]byte{0x12}, selectPPSE...)...)
	refused("I-block with NAD", append([]byte{0x06, 0x00}, selectPPSE...)...)
	refused("R(ACK) outside chaining", 0xA2)
	h.command(cmdWriteRegister, 0x63, 0x3D, 0x07) // 7-bit short frame
	refused("REQA", 0x26)
	h.command(cmdWriteRegister, 0x63, 0x3D, 0x00, 0x63, 0x0D, 0x10) // parity off
	refused("parity off", 0xB2)
	h.command(cmdWriteRegister, 0x63, 0x0D, 0x00)
	h.command(cmdSetParameters, paramAutoATRRes) // level-3 activation
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	refused("MIFARE-level target", 0xE0, 0x80)
	h.emu.TapTwo(emvtest.Visa(), emvtest.UnionPay())
	h.command(cmdSetParameters, paramDefault)
	h.command(cmdInListPassiveTarget, 0x02, 0x00)
	refused("two ISO-DEP targets", 0xB2)
}
