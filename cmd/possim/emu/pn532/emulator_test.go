package pn532

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/emv/emvtest"
)

// These tests speak raw bytes to the emulator over an in-memory pipe, with
// frames written out by hand from the user manual, so that they check the
// emulator on its own; drivers/pn532's pty tests check it against the real
// driver.

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// hostFrameBytes builds a host command frame by the rules of §6.2.1: a
// normal frame for LEN ≤ 255, else an extended one.
func hostFrameBytes(cmd byte, params ...byte) []byte {
	body := append([]byte{0xD4, cmd}, params...)
	out := []byte{0x00, 0x00, 0xFF}
	if n := len(body); n <= 255 {
		out = append(out, byte(n), byte(0x100-n))
	} else {
		m, l := byte(n>>8), byte(n)
		out = append(out, 0xFF, 0xFF, m, l, byte(0x100-int(m+l)&0xFF))
	}
	var sum int
	for _, b := range body {
		sum += int(b)
	}
	out = append(out, body...)
	return append(out, byte(-sum&0xFF), 0x00)
}

var wake = []byte{0x55, 0x55, 0x00, 0x00, 0x00}

type harness struct {
	t    *testing.T
	emu  *Emulator
	host net.Conn
	done chan error
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	if opts.CardTimeout == 0 {
		opts.CardTimeout = 5 * time.Millisecond
	}
	host, dev := net.Pipe()
	h := &harness{t: t, emu: New(opts), host: host, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- h.emu.Serve(ctx, dev) }()
	t.Cleanup(func() {
		cancel()
		host.Close()
		dev.Close()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return h
}

func (h *harness) write(b []byte) {
	h.t.Helper()
	_ = h.host.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := h.host.Write(b); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

// read reads exactly n bytes (5 s bound against a hang).
func (h *harness) read(n int) []byte {
	h.t.Helper()
	buf := make([]byte, n)
	_ = h.host.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := 0
	for got < n {
		k, err := h.host.Read(buf[got:])
		if err != nil {
			h.t.Fatalf("read after %d of %d bytes (% X): %v", got, n, buf[:got], err)
		}
		got += k
	}
	return buf
}

// expect reads len(want) bytes and compares.
func (h *harness) expect(want []byte) {
	h.t.Helper()
	if got := h.read(len(want)); !bytes.Equal(got, want) {
		h.t.Fatalf("got  % X\nwant % X", got, want)
	}
}

// quiet asserts that nothing arrives for a while (the emulator must stay
// silent, e.g. on a damaged frame or a pending poll).
func (h *harness) quiet(d time.Duration) {
	h.t.Helper()
	_ = h.host.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 64)
	n, err := h.host.Read(buf)
	if n > 0 {
		h.t.Fatalf("unexpected bytes % X", buf[:n])
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		h.t.Fatalf("read: %v", err)
	}
}

// readFrame reads one PN532 → host information frame, checking LCS, DCS,
// TFI and postamble, and returns its packet data (response code first).
func (h *harness) readFrame() []byte {
	h.t.Helper()
	hd := h.read(5)
	if !bytes.Equal(hd[:3], []byte{0x00, 0x00, 0xFF}) {
		h.t.Fatalf("bad preamble/start code % X", hd)
	}
	var n int
	if hd[3] == 0xFF && hd[4] == 0xFF {
		x := h.read(3)
		if byte(x[0]+x[1]+x[2]) != 0 {
			h.t.Fatalf("extended LCS wrong: % X", x)
		}
		n = int(x[0])<<8 | int(x[1])
	} else {
		if byte(hd[3]+hd[4]) != 0 {
			h.t.Fatalf("LCS wrong: % X", hd)
		}
		n = int(hd[3])
	}
	body := h.read(n + 2)
	var sum byte
	for _, b := range body[:n+1] {
		sum += b
	}
	if sum != 0 {
		h.t.Fatalf("DCS wrong in % X", body)
	}
	if body[0] != 0xD5 || body[n+1] != 0x00 {
		h.t.Fatalf("TFI/postamble wrong in % X", body)
	}
	return body[1:n]
}

// command sends a command and expects its ACK and a response with code
// cmd+1; it returns the response data.
func (h *harness) command(cmd byte, params ...byte) []byte {
	h.t.Helper()
	h.write(hostFrameBytes(cmd, params...))
	h.expect(ackFrame)
	d := h.readFrame()
	if d[0] != cmd+1 {
		h.t.Fatalf("response code %02X, want %02X", d[0], cmd+1)
	}
	return d[1:]
}

func (h *harness) wakeUp() {
	h.t.Helper()
	h.write(wake)
	if got := h.command(cmdSAMConfiguration, 0x01); len(got) != 0 {
		h.t.Fatalf("SAMConfiguration answered % X", got)
	}
}

// TestGoldenFirmwareVersion checks the byte-exact exchange of §7.2.2 as a
// real PN532 V1.6 answers it (the same bytes appear in debug logs of real
// boards, e.g. Adafruit_Python_PN532#14).
func TestGoldenFirmwareVersion(t *testing.T) {
	h := newHarness(t, Options{})
	h.write(wake)
	h.write(unhex(t, "00 00 FF 02 FE D4 02 2A 00"))
	h.expect(unhex(t, "00 00 FF 00 FF 00  00 00 FF 06 FA D5 03 32 01 06 07 E8 00"))
}

// TestSAMConfigurationForms: the 5-byte form (mode, timeout, IRQ) and the
// minimal 3-byte form both answer D5 15 (real board log: 00 00 FF 02 FE D5
// 15 16 00); a mode outside 01-04 or too many bytes is a syntax error.
func TestSAMConfigurationForms(t *testing.T) {
	h := newHarness(t, Options{})
	h.write(wake)
	h.write(unhex(t, "00 00 FF 05 FB D4 14 01 14 01 02 00"))
	h.expect(unhex(t, "00 00 FF 00 FF 00  00 00 FF 02 FE D5 15 16 00"))
	h.write(unhex(t, "00 00 FF 03 FD D4 14 01 17 00"))
	h.expect(unhex(t, "00 00 FF 00 FF 00  00 00 FF 02 FE D5 15 16 00"))
	for _, bad := range [][]byte{{}, {0x00}, {0x05}, {0x01, 0x14, 0x01, 0x00}} {
		h.write(hostFrameBytes(cmdSAMConfiguration, bad...))
		h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	}
}

// TestAsleepUntilWake: after power-on the chip drops everything until the
// 55 wake-up bytes; a frame sent to the sleeping chip is lost.
func TestAsleepUntilWake(t *testing.T) {
	h := newHarness(t, Options{})
	fw := hostFrameBytes(cmdGetFirmwareVersion)
	h.write(fw)
	h.quiet(30 * time.Millisecond)
	h.write(append(append(append([]byte{}, ackFrame...), wake...), fw...)) // as drivers do: abort, wake, command
	h.expect(ackFrame)
	if d := h.readFrame(); !bytes.Equal(d, []byte{0x03, 0x32, 0x01, 0x06, 0x07}) {
		t.Fatalf("firmware answer % X", d)
	}
	h.quiet(20 * time.Millisecond) // exactly one answer: the lost frame stayed lost
}

func TestUnknownCommandErrorFrame(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.write(hostFrameBytes(0x04)) // GetGeneralStatus: not emulated
	h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	h.write(hostFrameBytes(0x4A, 0x03, 0x00)) // MaxTg 3
	h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
	if st := h.emu.Stats(); st.SyntaxErrors != 2 {
		t.Fatalf("SyntaxErrors = %d, want 2", st.SyntaxErrors)
	}
}

// TestBadHostFramesIgnored: a frame with a wrong LCS, a wrong DCS or a
// wrong TFI gets no ACK and no error frame; the good frame after them is
// answered as the first thing on the line.
func TestBadHostFramesIgnored(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	good := hostFrameBytes(cmdGetFirmwareVersion)
	badLCS := append([]byte{}, good...)
	badLCS[4] ^= 0x01
	badDCS := append([]byte{}, good...)
	badDCS[len(badDCS)-2] ^= 0x01
	badTFI := unhex(t, "00 00 FF 02 FE D5 02 29 00") // a response frame sent to the chip
	var stream []byte
	for _, f := range [][]byte{badLCS, badDCS, badTFI, {0x00, 0xFF, 0x00}, good} {
		stream = append(stream, f...)
	}
	h.write(stream)
	h.expect(ackFrame)
	if d := h.readFrame(); d[0] != 0x03 {
		t.Fatalf("answer % X", d)
	}
	h.quiet(20 * time.Millisecond)
	// Four: the stray start code 00 FF 00 counts as a bad frame too.
	if st := h.emu.Stats(); st.BadFrames != 4 || st.Commands != 2 {
		t.Fatalf("BadFrames %d Commands %d, want 4 and 2", st.BadFrames, st.Commands)
	}
}

// TestFrameSplitAcrossWrites: a frame may arrive a byte at a time.
func TestFrameSplitAcrossWrites(t *testing.T) {
	h := newHarness(t, Options{})
	h.write(wake)
	for _, b := range hostFrameBytes(cmdGetFirmwareVersion) {
		h.write([]byte{b})
	}
	h.expect(ackFrame)
	h.readFrame()
}

func TestNACKResendsLastResponse(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.write(hostFrameBytes(cmdGetFirmwareVersion))
	h.expect(ackFrame)
	first := h.read(13)
	h.write(unhex(t, "00 00 FF FF 00 00"))
	h.expect(first)
	h.write(unhex(t, "00 00 FF FF 00 00"))
	h.expect(first)
}

// TestPollPendingUntilTap: with no card the poll stays open (§7.3.5); a
// tap answers it with the card's target data.
func TestPollPendingUntilTap(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.write(unhex(t, "00 00 FF 04 FC D4 4A 01 00 E1 00")) // golden: MaxTg 1, 106 kbps A
	h.expect(ackFrame)
	h.quiet(30 * time.Millisecond)
	h.emu.Tap(emvtest.UnionPay())
	d := h.readFrame()
	// D5 4B NbTg=1 Tg=1 SENS_RES=00 04 SEL_RES=20 NFCIDLength=4 UID(4) ATS(5)
	if len(d) != 1+1+1+2+1+1+4+5 || d[0] != 0x4B || d[1] != 1 || d[2] != 1 ||
		!bytes.Equal(d[3:5], []byte{0x00, 0x04}) || d[5] != 0x20 || d[6] != 4 || d[7] != 0x08 ||
		!bytes.Equal(d[11:], []byte{0x05, 0x78, 0x80, 0x70, 0x02}) {
		t.Fatalf("target data % X", d)
	}
	if h.emu.Present() != emvtest.NameUnionPay {
		t.Fatalf("Present = %q", h.emu.Present())
	}
}

// TestHostACKAbortsPoll: the host's ACK frame ends the pending poll, so a
// later tap does not answer it.
func TestHostACKAbortsPoll(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.write(hostFrameBytes(cmdInListPassiveTarget, 0x02, 0x00))
	h.expect(ackFrame)
	h.write(ackFrame)
	h.quiet(20 * time.Millisecond)
	h.emu.Tap(emvtest.Visa())
	h.quiet(30 * time.Millisecond)
	if fw := h.command(cmdGetFirmwareVersion); len(fw) != 4 {
		t.Fatalf("firmware % X", fw)
	}
	if st := h.emu.Stats(); st.Aborts != 1 {
		t.Fatalf("Aborts = %d", st.Aborts)
	}
}

// TestNewCommandSupersedesPoll: a new command frame ends a pending one.
func TestNewCommandSupersedesPoll(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.write(hostFrameBytes(cmdInListPassiveTarget, 0x01, 0x00))
	h.expect(ackFrame)
	if fw := h.command(cmdGetFirmwareVersion); len(fw) != 4 {
		t.Fatalf("firmware % X", fw)
	}
	h.emu.Tap(emvtest.Visa())
	h.quiet(30 * time.Millisecond)
}

func TestTwoCards(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.TapTwo(emvtest.Visa(), emvtest.Mastercard())
	if p := h.emu.Present(); p != "visa-qvsdc+mastercard-mchip" {
		t.Fatalf("Present = %q", p)
	}
	// Per target: Tg, SENS_RES (2), SEL_RES, NFCIDLength, UID (4), ATS (5).
	const per = 14
	d := h.command(cmdInListPassiveTarget, 0x02, 0x00)
	if d[0] != 2 || d[1] != 1 || d[1+per] != 2 || len(d) != 1+2*per {
		t.Fatalf("two targets: % X", d)
	}
	d = h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if d[0] != 1 || len(d) != 1+per {
		t.Fatalf("MaxTg 1 with two cards: % X", d)
	}
	// InitiatorData selects the card by UID.
	d2 := h.command(cmdInListPassiveTarget, 0x02, 0x00)
	uid2 := d2[1+per+5 : 1+per+9]
	d = h.command(cmdInListPassiveTarget, append([]byte{0x01, 0x00}, uid2...)...)
	if d[0] != 1 || !bytes.Equal(d[6:10], uid2) {
		t.Fatalf("select by UID % X: % X", uid2, d)
	}
}

// exchange sends one APDU to Tg 1 and returns status and data.
func (h *harness) exchange(apdu []byte) (byte, []byte) {
	h.t.Helper()
	d := h.command(cmdInDataExchange, append([]byte{0x01}, apdu...)...)
	return d[0], d[1:]
}

var selectPPSE = []byte{0x00, 0xA4, 0x04, 0x00, 0x0E, '2', 'P', 'A', 'Y', '.', 'S', 'Y', 'S', '.', 'D', 'D', 'F', '0', '1', 0x00}

func selectAID(aid string) []byte {
	b, _ := hex.DecodeString(aid)
	return append(append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(b))}, b...), 0x00)
}

// TestExtendedResponseFrame: the Mastercard card's 256-byte certificate
// record plus SW and the status byte need an extended frame (LEN 261).
func TestExtendedResponseFrame(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	card := emvtest.Mastercard()
	h.emu.Tap(card)
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	ref := emvtest.Mastercard()
	readRec := []byte{0x00, 0xB2, 0x02, 3<<3 | 4, 0x00}
	for _, apdu := range [][]byte{selectPPSE, selectAID(emvtest.AIDMastercard)} {
		if st, got := h.exchange(apdu); st != 0 || !bytes.Equal(got, ref.Respond(apdu)) {
			t.Fatalf("status %02X resp % X", st, got)
		}
	}
	want := ref.Respond(readRec)
	if len(want) != 258 {
		t.Fatalf("test card changed: record is %d bytes, want 258", len(want))
	}
	h.write(hostFrameBytes(cmdInDataExchange, append([]byte{0x01}, readRec...)...))
	h.expect(ackFrame)
	raw := h.read(8) // 00 00 FF FF FF LENM LENL LCS
	if !bytes.Equal(raw[:5], []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF}) {
		t.Fatalf("not an extended frame: % X", raw)
	}
	if n := int(raw[5])<<8 | int(raw[6]); n != 1+1+1+258 || byte(raw[5]+raw[6]+raw[7]) != 0 {
		t.Fatalf("LENGTH %d / LCS in % X", n, raw)
	}
	body := h.read(261 + 2)
	if body[0] != 0xD5 || body[1] != 0x41 || body[2] != 0x00 || !bytes.Equal(body[3:261], want) {
		t.Fatalf("body % X", body[:8])
	}
	st := h.emu.Stats()
	if st.APDUs != 3 || st.APDUBytesOut < 258 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMIChaining: an answer longer than 262 bytes comes in parts with the
// MI bit (0x40) in the status byte; the host asks for each next part with
// InDataExchange carrying only Tg.
func TestMIChaining(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	card := emvtest.Visa()
	long := make([]byte, 600)
	for i := range long {
		long[i] = byte(i)
	}
	long = append(long, 0x90, 0x00)
	probe := []byte{0x80, 0xCA, 0x9F, 0x7F, 0x00}
	card.Script = append([]emvtest.Exchange{{Command: probe, Response: long}}, card.Script...)
	h.emu.Tap(card)
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	st, got := h.exchange(probe)
	if st != 0x40 || len(got) != 262 {
		t.Fatalf("part 1: status %02X, %d bytes", st, len(got))
	}
	d := h.command(cmdInDataExchange, 0x01)
	if d[0] != 0x40 || len(d[1:]) != 262 {
		t.Fatalf("part 2: status %02X, %d bytes", d[0], len(d)-1)
	}
	got = append(got, d[1:]...)
	d = h.command(cmdInDataExchange, 0x01)
	if d[0] != 0x00 || len(d[1:]) != 602-524 {
		t.Fatalf("part 3: status %02X, %d bytes", d[0], len(d)-1)
	}
	got = append(got, d[1:]...)
	if !bytes.Equal(got, long) {
		t.Fatal("reassembled answer differs")
	}
	if st := h.emu.Stats(); st.APDUs != 1 {
		t.Fatalf("APDUs = %d: continuations must not reach the card", st.APDUs)
	}
}

// TestHostMIChaining: a C-APDU sent in two parts (MI in Tg) reaches the
// card whole.
func TestHostMIChaining(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.UnionPay())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	d := h.command(cmdInDataExchange, append([]byte{0x41}, selectPPSE[:7]...)...)
	if !bytes.Equal(d, []byte{0x00}) {
		t.Fatalf("first part answered % X", d)
	}
	d = h.command(cmdInDataExchange, append([]byte{0x01}, selectPPSE[7:]...)...)
	if d[0] != 0 || !bytes.Equal(d[1:], emvtest.UnionPay().Respond(selectPPSE)) {
		t.Fatalf("chained SELECT answered % X", d)
	}
}

func TestCardRemovedTimeoutStatus(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	card := emvtest.UnionPay()
	h.emu.Tap(card)
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if st, _ := h.exchange(selectPPSE); st != 0 {
		t.Fatalf("status %02X", st)
	}
	h.emu.Remove()
	if st, data := h.exchange(selectPPSE); st != 0x01 || len(data) != 0 {
		t.Fatalf("after removal: status %02X data % X, want 01", st, data)
	}
	// Tapping again is a new power-up: the old activation is gone.
	h.emu.Tap(card)
	if st, _ := h.exchange(selectPPSE); st != 0x01 {
		t.Fatalf("re-tapped but not re-activated: status %02X, want 01", st)
	}
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if st, _ := h.exchange(selectPPSE); st != 0 {
		t.Fatalf("after re-activation: status %02X", st)
	}
}

func TestFaultRemoveDuringExchange(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.UnionPay())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.emu.SetFault(Fault{RemoveDuringExchange: 2})
	if st, _ := h.exchange(selectPPSE); st != 0 {
		t.Fatalf("APDU 1: status %02X", st)
	}
	if st, _ := h.exchange(selectAID(emvtest.AIDUnionPayDebit)); st != 0x01 {
		t.Fatalf("APDU 2: status %02X, want 01", st)
	}
	if p := h.emu.Present(); p != "" {
		t.Fatalf("card still present: %q", p)
	}
	if st := h.emu.Stats(); st.APDUs != 2 {
		t.Fatalf("APDUs %d: the card ran the lost APDU too", st.APDUs)
	}
}

func TestFaultNoACK(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.SetFault(Fault{NoACK: 1})
	h.write(hostFrameBytes(cmdGetFirmwareVersion))
	if d := h.readFrame(); d[0] != 0x03 {
		t.Fatalf("answer % X", d)
	}
	h.command(cmdGetFirmwareVersion) // the next one has its ACK again
	if st := h.emu.Stats(); st.DroppedACKs != 1 {
		t.Fatalf("DroppedACKs = %d", st.DroppedACKs)
	}
}

func TestFaultBadChecksumThenNACK(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.SetFault(Fault{BadChecksum: 1})
	h.write(hostFrameBytes(cmdGetFirmwareVersion))
	h.expect(ackFrame)
	bad := h.read(13)
	good := unhex(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
	if bytes.Equal(bad, good) || !bytes.Equal(bad[:11], good[:11]) {
		t.Fatalf("corrupted frame % X", bad)
	}
	h.write(unhex(t, "00 00 FF FF 00 00"))
	h.expect(good)
}

func TestFaultGarbage(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.SetFault(Fault{Garbage: 7})
	h.write(hostFrameBytes(cmdGetFirmwareVersion))
	noise := h.read(7)
	if bytes.IndexByte(noise, 0x00) >= 0 {
		t.Fatalf("garbage has a 00 byte: % X", noise)
	}
	h.expect(ackFrame)
	h.readFrame()
}

// TestFaultStallAbort: a stalled response is dropped when the host aborts;
// the next command is answered without leftovers.
func TestFaultStallAbort(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.SetFault(Fault{Stall: time.Hour})
	h.write(hostFrameBytes(cmdGetFirmwareVersion))
	h.expect(ackFrame)
	h.quiet(30 * time.Millisecond)
	h.write(ackFrame)
	h.emu.SetFault(Fault{})
	h.command(cmdGetFirmwareVersion)
	h.quiet(20 * time.Millisecond)
}

// TestFiniteActivationRetries: RFConfiguration MaxRetries with a finite
// MxRtyPassiveActivation makes a poll without card answer NbTg 0.
func TestFiniteActivationRetries(t *testing.T) {
	h := newHarness(t, Options{PollPeriod: time.Millisecond})
	h.wakeUp()
	if d := h.command(cmdRFConfiguration, 0x05, 0xFF, 0x01, 0x02); len(d) != 0 {
		t.Fatalf("RFConfiguration answered % X", d)
	}
	if d := h.command(cmdInListPassiveTarget, 0x01, 0x00); !bytes.Equal(d, []byte{0x00}) {
		t.Fatalf("poll answered % X, want NbTg 0", d)
	}
	h.command(cmdRFConfiguration, 0x01, 0x00) // RF field off: accepted
	h.write(hostFrameBytes(cmdRFConfiguration, 0x05, 0xFF))
	h.expect(append(append([]byte{}, ackFrame...), errorFrame...))
}

func TestReleaseDeselectSelect(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.Visa())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	if d := h.command(cmdInDeselect, 0x01); !bytes.Equal(d, []byte{0x00}) {
		t.Fatalf("InDeselect % X", d)
	}
	if st, _ := h.exchange(selectPPSE); st != 0 {
		t.Fatalf("exchange with a deselected target: status %02X, want 00 (reselected)", st)
	}
	if d := h.command(cmdInSelect, 0x01); !bytes.Equal(d, []byte{0x00}) {
		t.Fatalf("InSelect % X", d)
	}
	if d := h.command(cmdInRelease, 0x00); !bytes.Equal(d, []byte{0x00}) {
		t.Fatalf("InRelease % X", d)
	}
	if st, _ := h.exchange(selectPPSE); st != 0x27 {
		t.Fatalf("exchange after release: status %02X, want 27", st)
	}
	if d := h.command(cmdInRelease, 0x02); !bytes.Equal(d, []byte{0x27}) {
		t.Fatalf("InRelease of an unknown target % X", d)
	}
}

func TestServeBusyAndReadError(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp() // Serve is running
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := h.emu.Serve(context.Background(), b); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Serve: %v, want ErrBusy", err)
	}
	h.host.Close() // the link goes away: Serve ends with the read error
	select {
	case err := <-h.done:
		if err == nil {
			t.Fatal("Serve returned nil after the link closed")
		}
		h.done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not notice the closed link")
	}
}

// TestTruncatedFrameGivenUp: a frame whose LEN promises more than ever
// comes is given up after the frame timeout, and the next good frame is
// answered.
func TestTruncatedFrameGivenUp(t *testing.T) {
	h := newHarness(t, Options{FrameTimeout: 5 * time.Millisecond})
	h.wakeUp()
	h.write(unhex(t, "00 00 FF 40 C0 D4 40 01"))
	h.write(hostFrameBytes(cmdGetFirmwareVersion))
	h.expect(ackFrame)
	if d := h.readFrame(); d[0] != 0x03 {
		t.Fatalf("answer % X", d)
	}
	if st := h.emu.Stats(); st.BadFrames != 1 {
		t.Fatalf("BadFrames = %d", st.BadFrames)
	}
}

// TestReceivePacing: with Baud set, a command is acted on only once its
// bytes would have crossed the wire (10 bits a byte). On a fake clock:
// 14 bytes at 10000 baud take 14 ms, and no ACK may come before.
func TestReceivePacing(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	h := newHarness(t, Options{Baud: 10000, Clock: clk})
	h.write(append(append([]byte{}, wake...), hostFrameBytes(cmdGetFirmwareVersion)...)) // 5 + 9 bytes
	var advanced time.Duration
	first := make([]byte, 1)
	for {
		_ = h.host.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		if n, _ := h.host.Read(first); n == 1 {
			break
		}
		if advanced > time.Second {
			t.Fatal("no ACK after 1 s of fake time")
		}
		clk.Advance(time.Millisecond)
		advanced += time.Millisecond
	}
	if advanced < 14*time.Millisecond {
		t.Fatalf("ACK after %v of wire time, want at least 14 ms (14 bytes at 10000 baud)", advanced)
	}
	h.expect(ackFrame[1:])
	h.readFrame()
}

// TestReset: a power-cycled chip sleeps again, forgets its targets, and
// answers once woken.
func TestReset(t *testing.T) {
	h := newHarness(t, Options{})
	h.wakeUp()
	h.emu.Tap(emvtest.Visa())
	h.command(cmdInListPassiveTarget, 0x01, 0x00)
	h.emu.Reset()
	h.write(hostFrameBytes(cmdGetFirmwareVersion))
	h.quiet(30 * time.Millisecond) // asleep: no ACK
	h.wakeUp()
	if st, _ := h.exchange(selectPPSE); st != 0x27 {
		t.Fatalf("exchange after reset: status %02X, want 27 (no target listed)", st)
	}
	if h.emu.Present() != emvtest.NameVisa {
		t.Fatal("the field must survive a chip reset")
	}
}
