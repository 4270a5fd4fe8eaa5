package pn532

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/posagent/posagent/core/emv/emvtest"
)

// Tests of the commands libnfc's pn532_uart driver needs (Diagnose,
// ReadRegister, WriteRegister, SetParameters, PowerDown,
// InCommunicateThru) and of the HALT state InDeselect leaves. Golden
// frames follow §6.2.1's checksum rules (checked by hand: e.g. D5 01 00
// "libnfc" sums to 0x344, DCS BC); the host frames are the ones libnfc 1.8
// sends.

// TestGoldenDiagnoseCommLine: libnfc's open check, Diagnose NumTst 00 with
// "libnfc", is echoed back whole (§7.2.1).
func TestGoldenDiagnoseCommLine(t *testing.T) {
	h := newHarness(t, Options{})
	h.write(wake)
	h.write(unhex(t, "00 00 FF 09 F7 D4 00 00 6C 69 62 6E 66 63 BE 00"))
	h.expect(unhex(t, "00 00 FF 00 FF 00  00 00 FF 09 F7 D5 01 00 6C 69 62 6E 66 63 BC 00"))
}

func TestDiagnoseTests(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	for _, tc := range []struct {
		name   string
		params []byte
		want   []byte
	}{
		{"ROM", []byte{0x01}, []byte{0x00}},
		{"RAM", []byte{0x02}, []byte{0x00}},
		{"antenna", []byte{0x07, 0x20}, []byte{0x00}},
		{"presence without target", []byte{0x06}, []byte{statusNotAllowed}},
		{"empty echo", []byte{0x00}, []byte{0x00}},
	} {
		if got := h.command(cmdDiagnose, tc.params...); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: answered % X, want % X", tc.name, got, tc.want)
		}
	}
	h.emu.Tap(emvtest.UnionPay())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if got := h.command(cmdDiagnose, 0x06); !bytes.Equal(got, []byte{statusOK}) {
		t.Fatalf("presence with the card there: % X", got)
	}
	h.emu.Remove()
	if got := h.command(cmdDiagnose, 0x06); !bytes.Equal(got, []byte{statusTimeout}) {
		t.Fatalf("presence after removal: % X", got)
	}
	// Not emulated (FeliCa polling, echo back), bad lengths, no NumTst.
	for _, p := range [][]byte{{0x04, 0x01}, {0x05, 0x00, 0x00, 0x00}, {0x01, 0x00}, {0x07}, {}} {
		h.write(hostFrameBytes(cmdDiagnose, p...))
		h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	}
	// The longest echo fits one (extended) response frame.
	long := append([]byte{0x00}, bytes.Repeat([]byte{0xA5}, maxDiagEcho)...)
	if got := h.command(cmdDiagnose, long...); !bytes.Equal(got, long) {
		t.Fatalf("echo of %d bytes came back as %d", len(long), len(got))
	}
}

// TestGoldenWriteReadRegister: libnfc's first register accesses, byte for
// byte; values read back are the ones written (§7.2.4, §7.2.5), 00 before.
func TestGoldenWriteReadRegister(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	// ReadRegister CIU TxMode, RxMode, ManualRCV, Status2, BitFraming.
	h.write(unhex(t, "00 00 FF 0C F4 D4 06 63 02 63 03 63 0D 63 38 63 3D B0 00"))
	h.expect(unhex(t, "00 00 FF 00 FF 00  00 00 FF 07 F9 D5 07 00 00 00 00 00 24 00"))
	// WriteRegister TxMode 80, RxMode 80.
	h.write(unhex(t, "00 00 FF 08 F8 D4 08 63 02 80 63 03 80 59 00"))
	h.expect(unhex(t, "00 00 FF 00 FF 00  00 00 FF 02 FE D5 09 22 00"))
	if got := h.command(cmdReadRegister, 0x63, 0x03, 0x63, 0x02, 0xFF, 0xB0); !bytes.Equal(got, []byte{0x80, 0x80, 0x00}) {
		t.Fatalf("read back % X", got)
	}
	for _, tc := range []struct {
		cmd byte
		p   []byte
	}{
		{cmdReadRegister, nil}, {cmdReadRegister, []byte{0x63}},
		{cmdWriteRegister, nil}, {cmdWriteRegister, []byte{0x63, 0x02}},
	} {
		h.write(hostFrameBytes(tc.cmd, tc.p...))
		h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	}
}

// TestSetParametersAutoRATS: libnfc's SetParameters 14 (§7.2.9) is
// accepted; without fAutomaticRATS the card is activated at ISO/IEC
// 14443-3 only: no ATS in the target data, and an APDU gets no answer.
func TestSetParametersAutoRATS(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.write(unhex(t, "00 00 FF 03 FD D4 12 14 06 00"))
	h.expect(unhex(t, "00 00 FF 00 FF 00  00 00 FF 02 FE D5 13 18 00"))
	h.emu.Tap(emvtest.UnionPay())
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); len(d) != 1+9+len(ats) {
		t.Fatalf("with automatic RATS: % X", d)
	}
	h.command(cmdSetParameters, paramAutoATRRes)
	d := h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if len(d) != 1+9 || d[0] != 1 || d[4] != selResISO14443_4 {
		t.Fatalf("without automatic RATS: % X, want NbTg 1 and no ATS", d)
	}
	if st, data := h.exchange(selectPPSE); st != statusTimeout || len(data) != 0 {
		t.Fatalf("APDU to a level-3 target: status %02X % X, want 01", st, data)
	}
	if st := h.emu.Stats(); st.APDUs != 0 {
		t.Fatalf("the card ran %d APDUs", st.APDUs)
	}
	for _, p := range [][]byte{{}, {0x80}, {0x08}, {0x14, 0x00}} {
		h.write(hostFrameBytes(cmdSetParameters, p...))
		h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	}
}

// TestGoldenPowerDown: libnfc closes the device with PowerDown F0 (wake-up
// by I2C, GPIO, SPI, HSU). The chip answers status 00 and sleeps: frames
// are ignored until a 55 wakes it; the RF field went off, so the targets
// are gone, but the configuration in RAM is kept (§7.2.11).
func TestGoldenPowerDown(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.Visa())
	h.command(cmdSetParameters, paramAutoATRRes) // no automatic RATS
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.write(unhex(t, "00 00 FF 03 FD D4 16 F0 26 00"))
	h.expect(unhex(t, "00 00 FF 00 FF 00  00 00 FF 03 FD D5 17 00 14 00"))
	h.write(hostFrameBytes(cmdGetFirmwareVersion))
	h.quiet(30 * time.Millisecond)
	h.write(wake)
	if st, _ := h.exchange(selectPPSE); st != statusNotAllowed {
		t.Fatalf("exchange after power down: status %02X, want 27 (no target)", st)
	}
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); len(d) != 1+9 {
		t.Fatalf("SetParameters was not kept over power down: % X", d)
	}
}

// TestPowerDownWithoutHSUWakeUp: when WakeUpEnable leaves out HSU, the
// serial line cannot wake the chip; only a reset does.
func TestPowerDownWithoutHSUWakeUp(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	if d := h.command(cmdPowerDown, 0x20, 0x01); !bytes.Equal(d, []byte{statusOK}) {
		t.Fatalf("PowerDown SPI only: % X", d)
	}
	h.write(append(append([]byte{}, wake...), hostFrameBytes(cmdGetFirmwareVersion)...))
	h.quiet(30 * time.Millisecond)
	h.emu.Reset()
	h.wakeUp()
	for _, p := range [][]byte{{}, {0x14}, {0x10, 0x02}, {0x10, 0x00, 0x00}} {
		h.write(hostFrameBytes(cmdPowerDown, p...))
		h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	}
}

// TestInDeselectHaltsCard: InDeselect puts the card in HALT; the next
// poll's REQA finds the other card, then none; InSelect or an exchange
// (WUPA) wakes a halted card, and so does the RF field going off.
func TestInDeselectHaltsCard(t *testing.T) {
	h := newHarness(t, Options{PollPeriod: time.Millisecond})
	h.wakeUp()
	h.command(cmdRFConfiguration, 0x05, 0xFF, 0x01, 0x02) // finite polls
	h.emu.TapTwo(emvtest.UnionPay(), emvtest.Visa())
	const uidAt = 6 // NbTg Tg SENS_RES(2) SEL_RES NFCIDLength, then the UID
	first := h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.command(cmdInDeselect, 0x00)
	second := h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if second[0] != 1 || bytes.Equal(first[uidAt:uidAt+4], second[uidAt:uidAt+4]) {
		t.Fatalf("after deselecting % X the poll found % X, want the other card", first[uidAt:uidAt+4], second)
	}
	h.command(cmdInDeselect, 0x00)
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); !bytes.Equal(d, []byte{0x00}) {
		t.Fatalf("both cards halted, the poll found % X", d)
	}
	h.command(cmdRFConfiguration, 0x01, 0x00) // field off: HALT ends
	if d := h.command(cmdInListPassiveTarget, 0x02, 0x00); d[0] != 2 {
		t.Fatalf("after the field went off: NbTg %d, want 2", d[0])
	}
	// Deselect target 1, then reselect it: it answers polls again.
	h.command(cmdInDeselect, 0x01)
	if d := h.command(cmdInSelect, 0x01); !bytes.Equal(d, []byte{statusOK}) {
		t.Fatalf("InSelect % X", d)
	}
	if d := h.command(cmdInListPassiveTarget, 0x02, 0x00); d[0] != 2 {
		t.Fatalf("after InSelect: NbTg %d, want 2", d[0])
	}
	h.command(cmdInDeselect, 0x02)
	if st, _ := h.exchange(selectPPSE); st != statusOK { // target 1 is still selected
		t.Fatalf("exchange with target 1: %02X", st)
	}
	h.write(hostFrameBytes(cmdInDataExchange, append([]byte{0x02}, selectPPSE...)...)) // reselects target 2
	h.expect(ackFrame)
	if d := h.readFrame(); d[1] != statusOK {
		t.Fatalf("exchange with deselected target 2: % X", d)
	}
	if d := h.command(cmdInListPassiveTarget, 0x02, 0x00); d[0] != 2 {
		t.Fatalf("after reselection by exchange: NbTg %d, want 2", d[0])
	}
	// A new tap is a new power-up: no HALT.
	h.command(cmdInDeselect, 0x00)
	h.emu.Tap(emvtest.Mastercard())
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); d[0] != 1 {
		t.Fatalf("fresh tap after deselect: % X", d)
	}
}

// TestFieldOffVoidsTarget: switching the RF field off powers the card
// down: its activation is void and the next APDU times out (status 01).
func TestFieldOffVoidsTarget(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.UnionPay())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.command(cmdRFConfiguration, 0x01, 0x01) // on: no change
	if st, _ := h.exchange(selectPPSE); st != statusOK {
		t.Fatalf("field on: status %02X", st)
	}
	h.command(cmdRFConfiguration, 0x01, 0x00)
	if st, _ := h.exchange(selectPPSE); st != statusTimeout {
		t.Fatalf("after field off: status %02X, want 01", st)
	}
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if st, _ := h.exchange(selectPPSE); st != statusOK {
		t.Fatalf("after a new activation: status %02X", st)
	}
}

// FuzzExecute: whatever command code and parameters the host sends (with
// the CIU's CRC on or off for raw frames), the
// chip never panics and answers with the syntax error frame or one
// well-formed response frame (TFI D5, response code = command + 1,
// checksums right), or nothing yet (a poll or a delayed answer pending).
func FuzzExecute(f *testing.F) {
	f.Add(cmdDiagnose, []byte{0x00, 'l', 'i', 'b', 'n', 'f', 'c'}, false)
	f.Add(cmdDiagnose, []byte{0x06}, false)
	f.Add(cmdReadRegister, []byte{0x63, 0x02, 0x63, 0x03}, false)
	f.Add(cmdWriteRegister, []byte{0x63, 0x02, 0x83}, false)
	f.Add(cmdSetParameters, []byte{0x14}, false)
	f.Add(cmdPowerDown, []byte{0xF0}, false)
	f.Add(cmdPowerDown, []byte{0x10, 0x01}, false)
	f.Add(cmdInCommunicateThru, []byte{0x06, 0x00}, false)
	f.Add(cmdInCommunicateThru, []byte{0xB2}, true)
	f.Add(cmdInCommunicateThru, []byte{0x0A, 0x00, 0x00, 0xA4, 0x04, 0x00}, true)
	f.Add(cmdInListPassiveTarget, []byte{0x01, 0x00}, false)
	f.Add(cmdInDataExchange, []byte{0x01, 0x00, 0xA4, 0x04, 0x00}, false)
	f.Add(cmdInDeselect, []byte{0x00}, false)
	f.Add(cmdRFConfiguration, []byte{0x01, 0x00}, false)
	f.Fuzz(func(t *testing.T, cmd byte, p []byte, crc bool) {
		if len(p) > maxLength-2 {
			return // the frame layer refuses it before execute
		}
		e := New(Options{})
		e.Tap(emvtest.UnionPay())
		var out bytes.Buffer
		s := newSession(context.Background(), e, &out)
		s.asleep = false
		if crc { // the CIU as libnfc leaves it: CRC on both ways
			s.regs = map[uint16]byte{regCIUTxMode: crcEnable, regCIURxMode: crcEnable}
		}
		// A listed target, so that target commands have one to act on.
		if err := s.execute(cmdInListPassiveTarget, []byte{0x01, 0x00}); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := s.execute(cmd, p); err != nil {
			t.Fatalf("execute: %v", err)
		}
		b := out.Bytes()
		if len(b) == 0 || bytes.Equal(b, errorFrame) {
			return
		}
		if len(b) < 9 || !bytes.Equal(b[:3], []byte{0x00, 0x00, 0xFF}) {
			t.Fatalf("not a frame: % X", b)
		}
		n, body := int(b[3]), 5
		if b[3] == 0xFF && b[4] == 0xFF {
			n, body = int(b[5])<<8|int(b[6]), 8
			if b[5]+b[6]+b[7] != 0 {
				t.Fatalf("extended LCS: % X", b[:8])
			}
		} else if b[3]+b[4] != 0 {
			t.Fatalf("LCS: % X", b[:5])
		}
		if len(b) != body+n+2 || n > maxLength || b[len(b)-1] != 0x00 {
			t.Fatalf("length %d in a %d-byte frame", n, len(b))
		}
		var sum byte
		for _, c := range b[body : body+n+1] {
			sum += c
		}
		if sum != 0 || b[body] != tfiDevice || b[body+1] != cmd+1 {
			t.Fatalf("bad response to %02X: % X", cmd, b)
		}
	})
}

// TestInReleaseHaltsCard: InRelease deselects an active card first
// (S(DESELECT)), so it is halted like after InDeselect: the next poll does
// not find it while it stays in the field; a new tap does.
func TestInReleaseHaltsCard(t *testing.T) {
	h := newHarness(t, Options{PollPeriod: time.Millisecond})
	h.wakeUp()
	h.command(cmdRFConfiguration, 0x05, 0xFF, 0x01, 0x02) // finite polls
	h.emu.Tap(emvtest.UnionPay())
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); d[0] != 1 {
		t.Fatalf("first poll: % X", d)
	}
	if st, _ := h.exchange(selectPPSE); st != statusOK {
		t.Fatalf("exchange: %02X", st)
	}
	if d := h.command(cmdInRelease, 0x01); !bytes.Equal(d, []byte{statusOK}) {
		t.Fatalf("InRelease % X", d)
	}
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); !bytes.Equal(d, []byte{0x00}) {
		t.Fatalf("the released card answered the next poll: % X", d)
	}
	h.emu.Tap(emvtest.UnionPay()) // presented again
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); d[0] != 1 {
		t.Fatalf("poll after a new tap: % X", d)
	}
}

// TestRemoveCardLeavesTheOtherHalted: of two released cards one is taken
// away; the other stays in HALT (no poll finds it) until the RF field
// goes off, then answers like a new tap.
func TestRemoveCardLeavesTheOtherHalted(t *testing.T) {
	h := newHarness(t, Options{PollPeriod: time.Millisecond})
	h.wakeUp()
	h.command(cmdRFConfiguration, 0x05, 0xFF, 0x01, 0x02) // finite polls
	up, visa := emvtest.UnionPay(), emvtest.Visa()
	h.emu.TapTwo(up, visa)
	if d := h.command(cmdInListPassiveTarget, 0x02, 0x00); d[0] != 2 {
		t.Fatalf("two cards: % X", d)
	}
	h.command(cmdInRelease, 0x00)
	if !h.emu.RemoveCard(visa.Name) || h.emu.RemoveCard(visa.Name) {
		t.Fatal("RemoveCard: want true once, then false")
	}
	if got := h.emu.Present(); got != up.Name {
		t.Fatalf("present %q, want %q", got, up.Name)
	}
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); !bytes.Equal(d, []byte{0x00}) {
		t.Fatalf("the halted card answered: % X", d)
	}
	h.command(cmdRFConfiguration, 0x01, 0x00) // field off: power lost, HALT ends
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); d[0] != 1 {
		t.Fatalf("after the field reset: % X", d)
	}
	if st, _ := h.exchange(selectPPSE); st != statusOK {
		t.Fatalf("exchange with the remaining card: %02X", st)
	}
}
