package pn532

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// newDevice returns a Device on fake with the fake's clock.
func newDevice(fake *fakePN532, opts Options) *Device {
	opts.Clock = fake.clk
	return New(fake, opts)
}

// ready wakes the device and activates the card.
func ready(t *testing.T, d *Device) {
	t.Helper()
	ctx := context.Background()
	if err := d.WakeUp(ctx); err != nil {
		t.Fatalf("WakeUp: %v", err)
	}
	if _, err := d.ListTarget(ctx); err != nil {
		t.Fatalf("ListTarget: %v", err)
	}
}

// guard fails the test if fn does not return within a generous bound: it
// catches a driver that ignores its context and would hang the suite. It
// asserts nothing about speed.
func guard(t *testing.T, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("call did not return: context or Close not honoured")
		return nil
	}
}

var selectPPSE = hx(&testing.T{}, "00 A4 04 00 0E 32 50 41 59 2E 53 59 53 2E 44 44 46 30 31 00")

func TestHappyPath(t *testing.T) {
	fci := hx(t, "6F 10 84 0E 32 50 41 59 2E 53 59 53 2E 44 44 46 30 31 90 00")
	fake := newFake(t, chip(t, func(apdu []byte) []byte {
		if !bytes.Equal(apdu, selectPPSE) {
			return []byte{0x6A, 0x82}
		}
		return fci
	}))
	d := newDevice(fake, Options{})
	ctx := context.Background()

	if err := d.WakeUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Abort, wake-up preamble, then the minimal SAMConfiguration.
	wantWake := append(append(append([]byte{}, ACK...), wakeUpPreamble...), hx(t, "00 00 FF 03 FD D4 14 01 17 00")...)
	if !bytes.Equal(fake.written, wantWake) {
		t.Fatalf("wake-up wrote % X\nwant % X", fake.written, wantWake)
	}

	fw, err := d.FirmwareVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fw != (FirmwareVersion{IC: 0x32, Ver: 1, Rev: 6, Support: 7}) || fw.String() != "PN532 v1.6" {
		t.Errorf("firmware %+v %q", fw, fw)
	}

	mark := len(fake.written)
	tg, err := d.ListTarget(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// MaxTg 2, BrTy 106 kbps type A.
	if got := fake.written[mark:]; !bytes.Equal(got, hx(t, "00 00 FF 04 FC D4 4A 02 00 E0 00")) {
		t.Errorf("InListPassiveTarget frame % X", got)
	}
	if tg.Tg != 1 || tg.SensRes != [2]byte{0x00, 0x04} || tg.SelRes != 0x20 || !tg.ISODEP() ||
		!bytes.Equal(tg.UID, cardUID) || !bytes.Equal(tg.ATS, cardATS) {
		t.Errorf("target %+v", tg)
	}

	got, err := d.Exchange(ctx, selectPPSE)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, fci) {
		t.Errorf("Exchange = % X", got)
	}
	last := fake.params[len(fake.params)-1]
	if last[0] != 1 || !bytes.Equal(last[1:], selectPPSE) {
		t.Errorf("InDataExchange params % X, want Tg 01 then the APDU", last)
	}
	got, err = d.Transceive(ctx, hx(t, "00 B2 01 0C 00"))
	if err != nil || !bytes.Equal(got, []byte{0x6A, 0x82}) {
		t.Errorf("Transceive = % X, %v", got, err)
	}

	if err := d.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if p := fake.params[len(fake.params)-1]; fake.cmds[len(fake.cmds)-1] != cmdInRelease || !bytes.Equal(p, []byte{0}) {
		t.Errorf("InRelease params % X, want 00 (all targets)", p)
	}
	if _, err := d.Exchange(ctx, selectPPSE); !errors.Is(err, ErrNoTarget) {
		t.Errorf("Exchange after Release: %v", err)
	}

	st := d.Stats()
	if st.Resends != 0 || st.NACKs != 0 || st.Aborts != 0 || st.BadFrames != 0 || st.Skipped != 0 {
		t.Errorf("clean run has stats %+v", st)
	}
	if st.TxBytes != int64(len(fake.written)) || st.RxBytes == 0 {
		t.Errorf("byte counters %+v, fake saw %d written", st, len(fake.written))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.FirmwareVersion(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// libnfc PR #429 / UM §6.2.3: a missing ACK resends the same command.
func TestMissingACKThenRetry(t *testing.T) {
	var fake *fakePN532
	healthy := chip(t, okCard)
	dropped := 0
	fake = newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdSAMConfiguration && dropped < 2 {
			dropped++
			return reply{noACK: true}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{})
	if err := d.WakeUp(context.Background()); err != nil {
		t.Fatalf("WakeUp after two lost ACKs: %v", err)
	}
	if n := fake.count(cmdSAMConfiguration); n != 3 {
		t.Errorf("SAMConfiguration sent %d times, want 3", n)
	}
	if st := d.Stats(); st.Resends != 2 {
		t.Errorf("resends %d, want 2", st.Resends)
	}
}

func TestMissingACKForever(t *testing.T) {
	fake := newFake(t, func(byte, []byte) reply { return reply{noACK: true} })
	d := newDevice(fake, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := fake.clk.Now()

	err := d.WakeUp(ctx)
	if !errors.Is(err, ErrNoACK) {
		t.Fatalf("err %v, want ErrNoACK", err)
	}
	if ctx.Err() != nil {
		t.Fatal("ErrNoACK came only after the context's deadline")
	}
	if !strings.Contains(err.Error(), "SAMConfiguration") || !strings.Contains(err.Error(), "4 attempts") {
		t.Errorf("error %q should name the command and the attempts", err)
	}
	if n := fake.count(cmdSAMConfiguration); n != 1+DefaultRetries {
		t.Errorf("sent %d times, want %d", n, 1+DefaultRetries)
	}
	if waited := fake.clk.Now().Sub(start); waited < time.Duration(1+DefaultRetries)*DefaultAckTimeout {
		t.Errorf("gave up after %v of driver time, before %d ACK timeouts", waited, 1+DefaultRetries)
	}

	// Retries < 0 means a single attempt.
	fake2 := newFake(t, func(byte, []byte) reply { return reply{noACK: true} })
	d2 := newDevice(fake2, Options{Retries: -1})
	if err := d2.SAMConfig(ctx); !errors.Is(err, ErrNoACK) || fake2.count(cmdSAMConfiguration) != 1 {
		t.Errorf("Retries -1: %v after %d sends", err, fake2.count(cmdSAMConfiguration))
	}
}

// nfcpy#203 / libnfc#167: a chip wedged by a crashed client answers only
// after a hard reset.
func TestWakeUpHardReset(t *testing.T) {
	dead := true
	healthy := chip(t, okCard)
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if dead {
			return reply{noACK: true}
		}
		return healthy(cmd, params)
	})
	resets := 0
	d := newDevice(fake, Options{ResetPin: func(context.Context) error {
		resets++
		dead = false
		return nil
	}})
	if err := d.WakeUp(context.Background()); err != nil {
		t.Fatalf("WakeUp with reset: %v", err)
	}
	if resets != 1 {
		t.Errorf("%d resets", resets)
	}

	// A failing reset is reported with the original cause.
	dead = true
	d2 := newDevice(fake, Options{ResetPin: func(context.Context) error { return errors.New("gpio busy") }})
	err := d2.WakeUp(context.Background())
	if !errors.Is(err, ErrNoACK) || !strings.Contains(err.Error(), "gpio busy") {
		t.Errorf("failed reset: %v", err)
	}
}

func TestNACKFromDeviceResends(t *testing.T) {
	healthy := chip(t, okCard)
	nacked := false
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdGetFirmwareVersion && !nacked {
			nacked = true
			return reply{nack: true}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{})
	if _, err := d.FirmwareVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fake.count(cmdGetFirmwareVersion) != 2 || d.Stats().Resends != 1 {
		t.Errorf("sent %d times, resends %d", fake.count(cmdGetFirmwareVersion), d.Stats().Resends)
	}
}

// Adafruit CircuitPython PN532#13, node-pn532#9: noise on the line must
// not wedge the driver; it resynchronises on the start code.
func TestGarbageBeforeFrames(t *testing.T) {
	healthy := chip(t, okCard)
	noise := hx(t, "55 13 00 FF 10 10 FF FF 00 FF 03 7A 00 00 FF FF FF 01 09 F7")
	fake := newFake(t, func(cmd byte, params []byte) reply {
		r := healthy(cmd, params)
		r.pre = noise
		r.resp = append(append([]byte{}, noise...), r.resp...)
		return r
	})
	fake.chunk = 1 // one byte per read: frames arrive in pieces
	d := newDevice(fake, Options{})
	ready(t, d)
	fw, err := d.FirmwareVersion(context.Background())
	if err != nil || fw.IC != 0x32 {
		t.Fatalf("FirmwareVersion through noise: %+v %v", fw, err)
	}
	if out, err := d.Exchange(context.Background(), selectPPSE); err != nil || !bytes.Equal(out, []byte{0x90, 0x00}) {
		t.Fatalf("Exchange through noise: % X %v", out, err)
	}
	st := d.Stats()
	if st.Skipped == 0 || st.BadFrames == 0 {
		t.Errorf("noise not accounted: %+v", st)
	}
	if st.NACKs != 0 {
		t.Errorf("noise before the ACK must not cost NACKs: %+v", st)
	}
}

// A corrupt response is asked for again with a NACK (UM §6.2.1.4).
func TestBadChecksumNACKRecovers(t *testing.T) {
	healthy := chip(t, okCard)
	fake := newFake(t, func(cmd byte, params []byte) reply {
		r := healthy(cmd, params)
		if cmd == cmdGetFirmwareVersion {
			good := r.resp
			bad := append([]byte{}, good...)
			bad[len(bad)-2] ^= 0x01 // DCS
			r.resp, r.resend = bad, good
		}
		return r
	})
	d := newDevice(fake, Options{})
	fw, err := d.FirmwareVersion(context.Background())
	if err != nil || fw.IC != 0x32 {
		t.Fatalf("%+v %v", fw, err)
	}
	if fake.nacks != 1 || fake.count(cmdGetFirmwareVersion) != 1 {
		t.Errorf("%d NACKs, command sent %d times; want 1 and 1 (no resend of the command)", fake.nacks, fake.count(cmdGetFirmwareVersion))
	}
}

func TestBadChecksumThenNextCommandWorks(t *testing.T) {
	healthy := chip(t, okCard)
	corrupt := true
	fake := newFake(t, func(cmd byte, params []byte) reply {
		r := healthy(cmd, params)
		if cmd == cmdGetFirmwareVersion && corrupt {
			r.resp = append([]byte{}, r.resp...)
			r.resp[8] ^= 0x40 // a data byte: DCS fails on every retransmission
		}
		return r
	})
	d := newDevice(fake, Options{})
	ctx := context.Background()
	_, err := d.FirmwareVersion(ctx)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("err %v, want ErrChecksum", err)
	}
	if fake.nacks != DefaultRetries {
		t.Errorf("%d NACKs, want %d", fake.nacks, DefaultRetries)
	}
	if fake.aborts != 1 {
		t.Errorf("%d aborts after giving up, want 1", fake.aborts)
	}
	corrupt = false
	if fw, err := d.FirmwareVersion(ctx); err != nil || fw.IC != 0x32 {
		t.Fatalf("next command after a bad frame: %+v %v", fw, err)
	}
}

func TestErrorFrame(t *testing.T) {
	fake := newFake(t, func(byte, []byte) reply { return reply{resp: ErrorFrame} })
	d := newDevice(fake, Options{})
	_, err := d.FirmwareVersion(context.Background())
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "GetFirmwareVersion") {
		t.Fatalf("err %v, want ErrSyntax naming the command", err)
	}
	// Some chips send the error frame instead of the ACK.
	fake2 := newFake(t, func(byte, []byte) reply { return reply{noACK: true, pre: ErrorFrame} })
	d2 := newDevice(fake2, Options{})
	if err := d2.SAMConfig(context.Background()); !errors.Is(err, ErrSyntax) || fake2.count(cmdSAMConfiguration) != 1 {
		t.Errorf("error frame before ACK: %v, %d sends", err, fake2.count(cmdSAMConfiguration))
	}
}

// libnfc#481/#550: the chip's status codes must reach the caller, classed
// so it can tell "tap again" from "card gone".
func TestStatusErrors(t *testing.T) {
	tests := []struct {
		code  byte
		class error
		text  string
	}{
		{0x01, ErrTimeout, "time out"},
		{0x02, ErrRF, "CRC"},
		{0x03, ErrRF, "parity"},
		{0x0B, ErrRF, "RF protocol"},
		{0x13, ErrRF, "data format"},
		{0x29, ErrCardGone, "released"},
		{0x2A, ErrCardGone, "exchanged"},
		{0x2B, ErrCardGone, "disappeared"},
		{0x27, ErrChip, "not acceptable"},
		{0x0D, ErrChip, "overheating"},
		{0x3E, ErrChip, "unknown error code"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("0x%02X", tt.code), func(t *testing.T) {
			healthy := chip(t, okCard)
			fake := newFake(t, func(cmd byte, params []byte) reply {
				if cmd == cmdInDataExchange {
					// MI and NAD bits must not hide the code.
					return reply{resp: resp(t, 0x41, tt.code|0x40)}
				}
				return healthy(cmd, params)
			})
			d := newDevice(fake, Options{})
			ready(t, d)
			_, err := d.Exchange(context.Background(), selectPPSE)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.code || se.Cmd != cmdInDataExchange {
				t.Fatalf("err %v, want StatusError code 0x%02X", err, tt.code)
			}
			if !errors.Is(err, tt.class) {
				t.Errorf("%v does not match %v", err, tt.class)
			}
			for _, other := range []error{ErrTimeout, ErrRF, ErrCardGone, ErrChip} {
				if other != tt.class && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), "InDataExchange") {
				t.Errorf("message %q lacks %q", err, tt.text)
			}
			// The APDU is not resent on a status error.
			if n := fake.count(cmdInDataExchange); n != 1 {
				t.Errorf("InDataExchange sent %d times", n)
			}
		})
	}
}

// UM §7.3.8: with MI set the PN532 holds more of the response; the host
// sends InDataExchange with the target number only to get the next part.
func TestMIChaining(t *testing.T) {
	part := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i)
		}
		return b
	}
	p1, p2, p3 := part(240, 0x10), part(240, 0x80), append(part(40, 0x33), 0x90, 0x00)
	healthy := chip(t, okCard)
	next := 0
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd != cmdInDataExchange {
			return healthy(cmd, params)
		}
		next++
		switch next {
		case 1:
			return reply{resp: resp(t, 0x41, append([]byte{statusMI}, p1...)...)}
		case 2:
			return reply{resp: resp(t, 0x41, append([]byte{statusMI}, p2...)...)}
		default:
			return reply{resp: resp(t, 0x41, append([]byte{0x00}, p3...)...)}
		}
	})
	d := newDevice(fake, Options{})
	ready(t, d)
	got, err := d.Exchange(context.Background(), hx(t, "00 B2 01 14 00"))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, p1...), p2...), p3...)
	if !bytes.Equal(got, want) {
		t.Fatalf("assembled %d bytes, want %d", len(got), len(want))
	}
	var ex [][]byte
	for i, c := range fake.cmds {
		if c == cmdInDataExchange {
			ex = append(ex, fake.params[i])
		}
	}
	if len(ex) != 3 || !bytes.Equal(ex[1], []byte{1}) || !bytes.Equal(ex[2], []byte{1}) {
		t.Errorf("continuations % X, want Tg 01 only", ex)
	}

	// A status error in a later part names the part.
	next = 0
	fake.handle = func(cmd byte, params []byte) reply {
		next++
		if next == 1 {
			return reply{resp: resp(t, 0x41, statusMI, 0x01, 0x02)}
		}
		return reply{resp: resp(t, 0x41, 0x01)}
	}
	_, err = d.Exchange(context.Background(), hx(t, "00 B2 01 14 00"))
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "part 2") {
		t.Errorf("error in part 2: %v", err)
	}

	// A device that never clears MI cannot keep the driver looping.
	fake.handle = func(byte, []byte) reply { return reply{resp: resp(t, 0x41, statusMI, 0xAB)} }
	_, err = d.Exchange(context.Background(), hx(t, "00 B2 01 14 00"))
	if !errors.Is(err, ErrUnexpected) {
		t.Errorf("endless MI: %v", err)
	}
}

// libnfc#158, Adafruit PR #39: long responses come in extended frames.
func TestExtendedFrameResponse(t *testing.T) {
	long := make([]byte, 262) // status + 262 = 263 data bytes after the code: LENGTH 265
	for i := range long {
		long[i] = byte(i)
	}
	long[260], long[261] = 0x90, 0x00
	healthy := chip(t, okCard)
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdInDataExchange {
			fr := resp(t, 0x41, append([]byte{0x00}, long...)...)
			if fr[3] != 0xFF || fr[4] != 0xFF {
				t.Fatalf("test frame is not extended")
			}
			return reply{resp: fr}
		}
		return healthy(cmd, params)
	})
	fake.chunk = 64
	d := newDevice(fake, Options{})
	ready(t, d)
	apdu := make([]byte, MaxAPDU) // also an extended command frame
	apdu[0], apdu[1] = 0x80, 0xCA
	got, err := d.Exchange(context.Background(), apdu)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, long) {
		t.Errorf("got %d bytes, want %d", len(got), len(long))
	}
	if p := fake.params[len(fake.params)-1]; !bytes.Equal(p[1:], apdu) {
		t.Errorf("the fake decoded a %d-byte APDU, want %d", len(p)-1, len(apdu))
	}
}

func TestExchangeInputs(t *testing.T) {
	fake := newFake(t, chip(t, okCard))
	d := newDevice(fake, Options{})
	ctx := context.Background()
	if _, err := d.Exchange(ctx, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty APDU: %v", err)
	}
	if _, err := d.Exchange(ctx, make([]byte, MaxAPDU+1)); !errors.Is(err, ErrTooLong) ||
		!strings.Contains(err.Error(), "263 bytes") || !strings.Contains(err.Error(), "limit 262") {
		t.Errorf("long APDU: %v", err)
	}
	if _, err := d.Exchange(ctx, selectPPSE); !errors.Is(err, ErrNoTarget) {
		t.Errorf("no target: %v", err)
	}
	if len(fake.cmds) != 0 {
		t.Errorf("refused calls reached the chip: % X", fake.cmds)
	}
}

func TestWrongResponseCode(t *testing.T) {
	fake := newFake(t, func(byte, []byte) reply { return reply{resp: resp(t, 0x4B, 0x00)} })
	d := newDevice(fake, Options{})
	_, err := d.FirmwareVersion(context.Background())
	if !errors.Is(err, ErrUnexpected) || !strings.Contains(err.Error(), "0x4B, want 0x03") {
		t.Fatalf("err %v", err)
	}
}

// A response left over from an aborted command arrives before the next
// command's ACK: it is skipped, not taken as the answer.
func TestStaleResponseBeforeACK(t *testing.T) {
	healthy := chip(t, okCard)
	fake := newFake(t, func(cmd byte, params []byte) reply {
		r := healthy(cmd, params)
		// Late answers to aborted commands: an InListPassiveTarget and a
		// GetFirmwareVersion with other content than the fresh one.
		r.pre = append(resp(t, 0x4B, 0x00), resp(t, 0x03, 0x33, 0x02, 0x07, 0x00)...)
		return r
	})
	d := newDevice(fake, Options{})
	if fw, err := d.FirmwareVersion(context.Background()); err != nil || fw.IC != 0x32 || fw.Ver != 1 {
		t.Fatalf("%+v %v", fw, err)
	}
}

// The chip ACKs but never answers: the driver's own timeout ends the wait
// and aborts the command.
func TestNoResponseAborts(t *testing.T) {
	healthy := chip(t, okCard)
	stall := false
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if stall {
			return reply{}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{ExchangeTimeout: 2 * time.Second})
	ready(t, d)
	stall = true
	start := fake.clk.Now()
	_, err := d.Exchange(context.Background(), selectPPSE)
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err %v, want ErrNoResponse", err)
	}
	if fake.aborts != 2 { // one from WakeUp, one now
		t.Errorf("%d aborts", fake.aborts)
	}
	if waited := fake.clk.Now().Sub(start); waited < 2*time.Second || waited > 2*time.Second+DefaultReadSlice {
		t.Errorf("driver waited %v of its clock, want the 2s ExchangeTimeout", waited)
	}
}

func TestCtxCancelWhileWaiting(t *testing.T) {
	healthy := chip(t, okCard)
	stall := false
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if stall {
			return reply{} // ACK, then silence: a slow card
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{ExchangeTimeout: time.Hour})
	ready(t, d)
	stall = true
	ctx, cancel := context.WithCancel(context.Background())
	cancelledAt := -1
	fake.onEmpty = func(n int) {
		if n == 5 {
			cancel()
			cancelledAt = n
		}
	}
	_, err := d.Exchange(ctx, selectPPSE)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrNoResponse) {
		t.Errorf("a cancel is not a missing response: %v", err)
	}
	if extra := fake.emptyReads - cancelledAt; extra > 0 {
		t.Errorf("%d more reads after the cancel", extra)
	}
	if fake.aborts != 2 {
		t.Errorf("the pending command was not aborted (%d aborts)", fake.aborts)
	}
	// The device is usable afterwards.
	stall = false
	if _, err := d.Exchange(context.Background(), selectPPSE); err != nil {
		t.Errorf("after cancel: %v", err)
	}
}

// A silent device with a real context deadline: the deadline alone (the
// fake clock does not move) must end the call.
func TestCtxDeadlineSilentDevice(t *testing.T) {
	fake := newFake(t, func(byte, []byte) reply { return reply{noACK: true} })
	fake.blocking = true
	d := newDevice(fake, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := guard(t, func() error { return d.WakeUp(ctx) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
}

func TestListTargetNoCard(t *testing.T) {
	healthy := chip(t, okCard)
	mode := "none"
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdInListPassiveTarget {
			switch mode {
			case "none":
				return reply{resp: resp(t, 0x4B, 0x00)}
			case "stall":
				return reply{} // infinite MxRtyPassiveActivation: the chip keeps polling
			}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{PollTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	if err := d.WakeUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ListTarget(ctx); !errors.Is(err, ErrNoCard) {
		t.Errorf("NbTg 0: %v", err)
	}
	mode = "stall"
	aborts := fake.aborts
	_, err := d.ListTarget(ctx)
	if !errors.Is(err, ErrNoCard) || !errors.Is(err, ErrNoResponse) {
		t.Errorf("poll timeout: %v", err)
	}
	if fake.aborts != aborts+1 {
		t.Error("the endless poll was not aborted")
	}

	// The context's deadline ends the poll the same way.
	fake.blocking = true
	dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	d.opts.PollTimeout = time.Hour
	err = guard(t, func() error { _, err := d.ListTarget(dctx); return err })
	if !errors.Is(err, ErrNoCard) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx deadline: %v", err)
	}

	// A cancelled context is not "no card".
	fake.blocking = false
	cctx, ccancel := context.WithCancel(ctx)
	fake.onEmpty = func(n int) { ccancel() }
	_, err = d.ListTarget(cctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoCard) {
		t.Errorf("cancel: %v", err)
	}
}

func TestListTargetTwoCards(t *testing.T) {
	healthy := chip(t, okCard)
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdInListPassiveTarget {
			two := hx(t, "02 01 00 04 20 04 01 02 03 04 05 78 80 70 02 02 00 04 20 04 0A 0B 0C 0D 05 78 80 70 02")
			return reply{resp: resp(t, 0x4B, two...)}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{})
	if err := d.WakeUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := d.ListTarget(ctx); !errors.Is(err, ErrMultipleCards) {
		t.Fatalf("err %v, want ErrMultipleCards", err)
	}
	cancel()
	if fake.cmds[len(fake.cmds)-1] != cmdInRelease || !bytes.Equal(fake.params[len(fake.params)-1], []byte{0}) {
		t.Error("both cards were not released with InRelease Tg 0")
	}
	if _, err := d.Exchange(context.Background(), selectPPSE); !errors.Is(err, ErrNoTarget) {
		t.Errorf("after two cards: %v", err)
	}
}

func TestReleaseStatus(t *testing.T) {
	healthy := chip(t, okCard)
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdInRelease {
			return reply{resp: resp(t, 0x53, 0x27)}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{})
	ready(t, d)
	var se *StatusError
	if err := d.Release(context.Background()); !errors.As(err, &se) || se.Cmd != cmdInRelease || se.Code != 0x27 {
		t.Errorf("InRelease status: %v", err)
	}
	if _, err := d.Exchange(context.Background(), selectPPSE); !errors.Is(err, ErrNoTarget) {
		t.Errorf("a failed Release still forgets the card: %v", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	healthy := chip(t, okCard)
	stall := false
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if stall {
			return reply{}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{ExchangeTimeout: time.Hour, ReadSlice: time.Hour})
	ready(t, d)
	stall = true
	fake.blocking = true // an empty read now blocks for an hour unless closed
	before := fake.emptyReads
	go func() {
		// Close once the driver is parked in a read after the ACK.
		for {
			fake.mu.Lock()
			parked := fake.emptyReads > before && fake.cmds[len(fake.cmds)-1] == cmdInDataExchange
			fake.mu.Unlock()
			if parked {
				time.Sleep(5 * time.Millisecond) // let the read start blocking
				_ = d.Close()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	err := guard(t, func() error { _, err := d.Exchange(context.Background(), selectPPSE); return err })
	if !errors.Is(err, ErrClosed) {
		t.Errorf("err %v, want ErrClosed", err)
	}
}

func TestTransportErrors(t *testing.T) {
	fake := newFake(t, chip(t, okCard))
	d := newDevice(fake, Options{})
	ctx := context.Background()

	fake.readErr = errors.New("device not configured")
	if err := d.SAMConfig(ctx); !errors.Is(err, ErrTransport) || !strings.Contains(err.Error(), "device not configured") {
		t.Errorf("read error: %v", err)
	}
	fake.readErr, fake.readN = errors.New("bogus"), -1 // go-serial#55: n = -1
	if err := d.SAMConfig(ctx); !errors.Is(err, ErrTransport) {
		t.Errorf("negative count: %v", err)
	}
	// A read timeout reported as an error (drivers/serialio, os deadline)
	// is not a failure.
	fake.readErr, fake.readN = &timeoutErr{}, 0
	if err := d.SAMConfig(ctx); err != nil {
		t.Errorf("Timeout() error from Read: %v", err)
	}
	fake.readErr = fmt.Errorf("read: %w", os.ErrDeadlineExceeded)
	if err := d.SAMConfig(ctx); err != nil {
		t.Errorf("os.ErrDeadlineExceeded from Read: %v", err)
	}
	fake.writeErr = errors.New("EIO")
	if err := d.SAMConfig(ctx); !errors.Is(err, ErrTransport) {
		t.Errorf("write error: %v", err)
	}
	fake.writeErr = nil
	if err := d.SAMConfig(ctx); err != nil {
		t.Errorf("after transient errors: %v", err)
	}
}

// The codec-level rules for the InListPassiveTarget payload.
func TestParseListResponse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		uid  string
		ats  string
		err  string
	}{
		{"none", "00", 0, "", "", ""},
		{"MIFARE Classic, UM example", "01 01 00 04 08 04 DE AD BE EF", 1, "DE AD BE EF", "", ""},
		{"EMV card with ATS", "01 01 00 04 20 07 04 11 22 33 44 55 66 05 78 80 70 02", 1, "04 11 22 33 44 55 66", "05 78 80 70 02", ""},
		{"two", "02 01 00 04 20 04 01 02 03 04", 2, "", "", ""},
		{"empty", "", 0, "", "", "no NbTg"},
		{"three targets", "03", 0, "", "", "NbTg 3"},
		{"short target data", "01 01 00 04", 0, "", "", "at least 5"},
		{"Tg zero", "01 00 00 04 08 04 01 02 03 04", 0, "", "", "target number 0"},
		{"UID overruns", "01 01 00 04 08 07 01 02 03", 0, "", "", "NFCIDLength 7"},
		{"UID length zero", "01 01 00 04 08 00", 0, "", "", "NFCIDLength 0"},
		{"ATS length wrong", "01 01 00 04 20 04 01 02 03 04 06 78 80", 0, "", "", "ATS length byte 6"},
		{"ATS length zero", "01 01 00 04 20 04 01 02 03 04 00", 0, "", "", "ATS length byte 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, tg, err := parseListResponse(hx(t, tt.in))
			if tt.err != "" {
				if !errors.Is(err, ErrUnexpected) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want ErrUnexpected with %q", err, tt.err)
				}
				return
			}
			if err != nil || n != tt.n {
				t.Fatalf("n %d err %v", n, err)
			}
			if !bytes.Equal(tg.UID, hx(t, tt.uid)) || !bytes.Equal(tg.ATS, hx(t, tt.ats)) {
				t.Errorf("UID % X ATS % X", tg.UID, tg.ATS)
			}
		})
	}
}

func FuzzParseListResponse(f *testing.F) {
	for _, s := range []string{"00", "01 01 00 04 08 04 DE AD BE EF", "01 01 00 04 20 07 04 11 22 33 44 55 66 05 78 80 70 02", "02", "01 01 00 04 20 FF"} {
		f.Add(hx(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, tg, err := parseListResponse(b)
		if err != nil {
			if !errors.Is(err, ErrUnexpected) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if n == 1 && (tg.Tg == 0 || len(tg.UID) == 0 || 6+len(tg.UID)+len(tg.ATS) != len(b)) {
			t.Fatalf("accepted inconsistent target %+v from % X", tg, b)
		}
	})
}

func TestStatusText(t *testing.T) {
	for code := 0; code < 0x40; code++ {
		se := &StatusError{Cmd: cmdInDataExchange, Code: byte(code)}
		if se.Error() == "" || StatusText(byte(code)) == "" {
			t.Fatalf("code 0x%02X has no text", code)
		}
	}
	if !strings.Contains(StatusText(0x29), "released") || StatusText(0x08) != "unknown error code" {
		t.Error("status table")
	}
	if commandName(0x99) != "command 0x99" {
		t.Error(commandName(0x99))
	}
}

// timeoutErr is a read timeout reported the net.Error way, as
// drivers/serialio does.
type timeoutErr struct{}

func (*timeoutErr) Error() string { return "serialio: read: timed out" }
func (*timeoutErr) Timeout() bool { return true }

func TestExchangeOddStatus(t *testing.T) {
	healthy := chip(t, okCard)
	var answer []byte
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdInDataExchange {
			return reply{resp: resp(t, 0x41, answer...)}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{})
	ready(t, d)
	answer = nil // no status byte
	if _, err := d.Exchange(context.Background(), selectPPSE); !errors.Is(err, ErrUnexpected) {
		t.Errorf("no status byte: %v", err)
	}
	answer = []byte{statusNAD, 0x12, 0x90, 0x00}
	if _, err := d.Exchange(context.Background(), selectPPSE); !errors.Is(err, ErrUnexpected) ||
		!strings.Contains(err.Error(), "NAD") {
		t.Errorf("NAD bit: %v", err)
	}
	answer = []byte{0x00, 0x90, 0x00}
	if out, err := d.Exchange(context.Background(), selectPPSE); err != nil || !bytes.Equal(out, []byte{0x90, 0x00}) {
		t.Errorf("plain: % X %v", out, err)
	}
}
