package pn532

import (
	"bytes"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/emv/emvtest"
)

// TestGoldenInAutoPoll: nfc-poll's InAutoPoll (20 rounds, period 2 ×
// 150 ms, types 20 10 03 11 12 04 03) finds the tapped card through its
// first type, 20 (ISO/IEC 14443-4 A): NbTg 1, Type 20, the length of the
// target data (0E) and the data of InListPassiveTarget with the ATS.
func TestGoldenInAutoPoll(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.UnionPay())
	h.write(unhex(t, "00 00 FF 0B F5 D4 60 14 02 20 10 03 11 12 04 03 59 00"))
	h.expect(ackFrame)
	d := h.readFrame()
	h.emu.mu.Lock()
	uid := h.emu.field[0].uid
	h.emu.mu.Unlock()
	want := append(append(unhex(t, "61 01 20 0E 01 00 04 20 04"), uid[:]...), ats...)
	if !bytes.Equal(d, want) {
		t.Fatalf("InAutoPoll answered % X, want % X", d, want)
	}
	if st, _ := h.exchange(selectPPSE); st != statusOK {
		t.Fatalf("exchange with the polled target: %02X", st)
	}
}

// TestInAutoPollTypes: type 10 (MIFARE) activates without RATS, type 00
// follows fAutomaticRATS, types for other technologies find nothing, and
// two cards give NbTg 2.
func TestInAutoPollTypes(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.Visa())
	const noATS = 1 + 2 + 9 // NbTg, Type, Length, Tg SENS_RES(2) SEL_RES NFCIDLength UID(4)
	if d := h.command(cmdInAutoPoll, 0x01, 0x01, 0x03, 0x10, 0x20); len(d) != noATS || d[1] != 0x10 || d[2] != 9 {
		t.Fatalf("types 03 10 20: % X, want the card through type 10 without ATS", d)
	}
	if d := h.command(cmdInAutoPoll, 0x01, 0x01, 0x00); len(d) != noATS+len(ats) || d[1] != 0x00 {
		t.Fatalf("type 00 with fAutomaticRATS: % X", d)
	}
	h.command(cmdSetParameters, paramAutoATRRes)
	if d := h.command(cmdInAutoPoll, 0x01, 0x01, 0x00); len(d) != noATS {
		t.Fatalf("type 00 without fAutomaticRATS: % X", d)
	}
	h.command(cmdSetParameters, paramDefault)
	h.emu.TapTwo(emvtest.Visa(), emvtest.Mastercard())
	if d := h.command(cmdInAutoPoll, 0x01, 0x01, 0x20); d[0] != 2 || len(d) != 1+2*(2+14) {
		t.Fatalf("two cards: % X", d)
	}
	for _, p := range [][]byte{{0x00, 0x01, 0x20}, {0x01, 0x00, 0x20}, {0x01, 0x10, 0x20}, {0x01, 0x01}, {0x01, 0x01, 0x05},
		append([]byte{0x01, 0x01}, bytes.Repeat([]byte{0x20}, 16)...)} {
		h.write(hostFrameBytes(cmdInAutoPoll, p...))
		h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	}
}

// TestInAutoPollTimesOut: with no card, PollNr 2 rounds of 3 types at
// period 1 (150 ms) end with NbTg 0 after 2 × 3 × 150 ms = 900 ms, and not
// before (fake clock). An endless poll (PollNr FF) waits for a tap.
func TestInAutoPollTimesOut(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	h := newHarness(t, Options{Clock: clk})
	h.wakeUp()
	h.write(hostFrameBytes(cmdInAutoPoll, 0x02, 0x01, 0x20, 0x03, 0x11))
	h.expect(ackFrame)
	var advanced time.Duration
	first := make([]byte, 1)
	for {
		_ = h.host.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		if n, _ := h.host.Read(first); n == 1 {
			break
		}
		if advanced > 10*time.Second {
			t.Fatal("no answer after 10 s of fake time")
		}
		clk.Advance(10 * time.Millisecond)
		advanced += 10 * time.Millisecond
	}
	if advanced < 900*time.Millisecond {
		t.Fatalf("NbTg 0 after %v, want 900 ms (2 rounds × 3 types × 150 ms)", advanced)
	}
	rest := h.read(len(responseFrame(cmdInAutoPoll+1, []byte{0x00})) - 1)
	if got := append(first, rest...); !bytes.Equal(got, responseFrame(cmdInAutoPoll+1, []byte{0x00})) {
		t.Fatalf("answer % X, want NbTg 0", got)
	}
	h.write(hostFrameBytes(cmdInAutoPoll, 0xFF, 0x01, 0x20))
	h.expect(ackFrame)
	clk.Advance(time.Hour)
	h.quiet(20 * time.Millisecond)
	h.emu.Tap(emvtest.UnionPay())
	if d := h.readFrame(); d[0] != cmdInAutoPoll+1 || d[1] != 1 {
		t.Fatalf("endless poll after a tap: % X", d)
	}
}
