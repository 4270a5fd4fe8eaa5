package pn532

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The tests in this file cover the ACK policy: InDataExchange and
// InListPassiveTarget are written once and never resent, idempotent
// commands are resent (after an abort frame) and their duplicate answers
// drained, and stale input is drained before a command. The fake's lag
// delivers the chip's bytes later than AckTimeout, on the fake clock, so
// every run takes the same path.

// echoCard answers each APDU with its INS and P1 and 90 00, so that an
// answer shows which APDU it belongs to.
func echoCard(apdu []byte) []byte { return []byte{apdu[1], apdu[2], 0x90, 0x00} }

func apduN(n byte) []byte { return []byte{0x00, 0xB2, n, 0x0C, 0x00} }

// exchangeInStep runs Exchange with apduN(n) and checks the answer is its
// own.
func exchangeInStep(t *testing.T, d *Device, n byte) {
	t.Helper()
	got, err := d.Exchange(context.Background(), apduN(n))
	if err != nil {
		t.Fatalf("Exchange %d: %v", n, err)
	}
	if want := echoCard(apduN(n)); !bytes.Equal(got, want) {
		t.Fatalf("Exchange %d got % X, the answer to another APDU (want % X)", n, got, want)
	}
}

// The defect the emulator found: with ACKs later than AckTimeout, a
// resent InDataExchange was run twice and its second answer taken for the
// next APDU's. Now every APDU is written once and gets its own answer.
func TestLateACKExchangeNotResent(t *testing.T) {
	fake := newFake(t, chip(t, echoCard))
	fake.lag = 40 * time.Millisecond // AckTimeout is 30 ms
	d := newDevice(fake, Options{})
	ready(t, d)
	for n := byte(1); n <= 4; n++ {
		exchangeInStep(t, d, n)
	}
	if got := fake.count(cmdInDataExchange); got != 4 {
		t.Errorf("InDataExchange written %d times for 4 APDUs", got)
	}
	if got := fake.count(cmdInListPassiveTarget); got != 1 {
		t.Errorf("InListPassiveTarget written %d times, want 1", got)
	}
	st := d.Stats()
	// Late: the poll and the four APDUs. SAMConfiguration (idempotent) was
	// resent once, and its duplicate ACK and answer drained.
	if st.LateACKs != 5 || st.Resends != 1 || st.Stale != 2 {
		t.Errorf("stats %+v, want LateACKs 5, Resends 1, Stale 2", st)
	}
	if n := fake.pending(); n != 0 {
		t.Errorf("%d bytes still on the line", n)
	}
}

// An idempotent command over the slow link is resent, after an abort
// frame; its duplicate ACK and answer are drained before it returns, so
// the next APDU still gets its own answer.
func TestLateACKIdempotentDrainsDuplicate(t *testing.T) {
	fake := newFake(t, chip(t, echoCard))
	d := newDevice(fake, Options{})
	ready(t, d)
	fake.lag = 40 * time.Millisecond
	before := d.Stats()
	mark := len(fake.written)
	fw, err := d.FirmwareVersion(context.Background())
	if err != nil || fw.IC != 0x32 {
		t.Fatalf("FirmwareVersion: %+v %v", fw, err)
	}
	gfv := hx(t, "00 00 FF 02 FE D4 02 2A 00")
	want := append(append(append([]byte{}, gfv...), ACK...), gfv...)
	if got := fake.written[mark:]; !bytes.Equal(got, want) {
		t.Errorf("wrote % X\nwant % X (command, abort, command)", got, want)
	}
	st := d.Stats()
	if st.Resends-before.Resends != 1 || st.Stale-before.Stale != 2 {
		t.Errorf("resends %d, stale %d; want 1 and 2 (the duplicate ACK and answer)",
			st.Resends-before.Resends, st.Stale-before.Stale)
	}
	if n := fake.pending(); n != 0 {
		t.Fatalf("%d bytes of the duplicate left on the line", n)
	}
	exchangeInStep(t, d, 7)
}

// UM §6.2.3's resend is still used for idempotent commands when the chip
// really lost the frame: the retry is preceded by an abort frame.
func TestResendAbortsFirst(t *testing.T) {
	healthy := chip(t, okCard)
	lost := 0
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdGetFirmwareVersion && lost < 2 {
			lost++
			return reply{noACK: true}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{})
	if _, err := d.FirmwareVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fake.count(cmdGetFirmwareVersion) != 3 || fake.aborts != 2 {
		t.Errorf("sent %d times with %d aborts, want 3 and 2", fake.count(cmdGetFirmwareVersion), fake.aborts)
	}
}

// The ACK is lost on the line but the response comes: it is taken, and
// the APDU is not sent again.
func TestExchangeLostACKTakesResponse(t *testing.T) {
	healthy := chip(t, echoCard)
	lose := false
	fake := newFake(t, func(cmd byte, params []byte) reply {
		r := healthy(cmd, params)
		if cmd == cmdInDataExchange && lose {
			lose = false
			r.lostACK = true
		}
		return r
	})
	d := newDevice(fake, Options{})
	ready(t, d)
	lose = true
	exchangeInStep(t, d, 1)
	exchangeInStep(t, d, 2)
	if got := fake.count(cmdInDataExchange); got != 2 {
		t.Errorf("InDataExchange written %d times for 2 APDUs", got)
	}
	if st := d.Stats(); st.LateACKs != 1 || st.Resends != 0 || st.Aborts != 0 {
		t.Errorf("stats %+v, want one late ACK, no resend, no abort", st)
	}
}

// Neither ACK nor response: the APDU is not resent, the command is
// aborted at its deadline, and the error says the outcome is unknown.
func TestExchangeNoACKOutcomeUnknown(t *testing.T) {
	healthy := chip(t, echoCard)
	silent := false
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if silent {
			return reply{noACK: true}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{ExchangeTimeout: 2 * time.Second})
	ready(t, d)
	silent = true
	start := fake.clk.Now()
	_, err := d.Exchange(context.Background(), apduN(1))
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrNoACK) || errors.Is(err, ErrNoResponse) {
		t.Fatalf("err %v, want ErrOutcomeUnknown and ErrNoACK", err)
	}
	if !strings.Contains(err.Error(), "InDataExchange") || !strings.Contains(err.Error(), "not resent") {
		t.Errorf("message %q should name the command and say it was not resent", err)
	}
	if got := fake.count(cmdInDataExchange); got != 1 {
		t.Errorf("InDataExchange written %d times", got)
	}
	if fake.aborts != 2 { // WakeUp's and this one
		t.Errorf("%d aborts, want 2", fake.aborts)
	}
	if waited := fake.clk.Now().Sub(start); waited < 2*time.Second || waited > 2*time.Second+DefaultReadSlice {
		t.Errorf("driver waited %v of its clock, want the 2s ExchangeTimeout", waited)
	}
	silent = false
	exchangeInStep(t, d, 2)

	// The context's deadline ends the wait the same way.
	silent = true
	fake.blocking = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err = guard(t, func() error { _, err := d.Exchange(ctx, apduN(3)); return err })
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx deadline: %v, want ErrOutcomeUnknown and context.DeadlineExceeded", err)
	}
}

// Which Exchange errors mean "the card may have run the APDU".
func TestExchangeOutcomeUnknownClasses(t *testing.T) {
	healthy := chip(t, echoCard)
	var mode string
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd != cmdInDataExchange {
			return healthy(cmd, params)
		}
		switch mode {
		case "nack":
			return reply{nack: true}
		case "stall":
			return reply{}
		case "status":
			return reply{resp: resp(t, 0x41, 0x01)}
		case "syntax":
			return reply{resp: ErrorFrame}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{ExchangeTimeout: time.Second})
	ready(t, d)
	for _, c := range []struct {
		mode    string
		reason  error
		unknown bool
	}{
		{"nack", ErrNoACK, true},
		{"stall", ErrNoResponse, true},
		{"status", ErrTimeout, false},
		{"syntax", ErrSyntax, false},
	} {
		mode = c.mode
		sent := fake.count(cmdInDataExchange)
		_, err := d.Exchange(context.Background(), apduN(1))
		if !errors.Is(err, c.reason) || errors.Is(err, ErrOutcomeUnknown) != c.unknown {
			t.Errorf("%s: %v, want %v with ErrOutcomeUnknown %v", c.mode, err, c.reason, c.unknown)
		}
		if n := fake.count(cmdInDataExchange) - sent; n != 1 {
			t.Errorf("%s: InDataExchange written %d times", c.mode, n)
		}
	}
	mode = ""
	exchangeInStep(t, d, 9)
}

// A poll the chip does not acknowledge is not resent (a second poll would
// forget the first one's targets): ErrNoACK at the poll's deadline, which
// the card source answers by waking the chip.
func TestListTargetNoACKNotResent(t *testing.T) {
	healthy := chip(t, okCard)
	fake := newFake(t, func(cmd byte, params []byte) reply {
		if cmd == cmdInListPassiveTarget {
			return reply{noACK: true}
		}
		return healthy(cmd, params)
	})
	d := newDevice(fake, Options{PollTimeout: 300 * time.Millisecond})
	if err := d.WakeUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := d.ListTarget(context.Background())
	if !errors.Is(err, ErrNoACK) || errors.Is(err, ErrNoCard) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v, want ErrNoACK only", err)
	}
	if n := fake.count(cmdInListPassiveTarget); n != 1 {
		t.Errorf("InListPassiveTarget written %d times", n)
	}
}

// An APDU is given up (ExchangeTimeout) just as the card's answer is sent:
// the answer is already on the line when the abort reaches the chip, and
// arrives late. The next APDU must not take it, even when it comes after
// the drain (SettleTime shorter than the line's delay): after a
// disturbance an answer before the ACK is not trusted.
func TestLateAnswerAfterAbortNotTaken(t *testing.T) {
	for _, settle := range []time.Duration{0, 10 * time.Millisecond} {
		t.Run("settle="+settle.String(), func(t *testing.T) {
			healthy := chip(t, echoCard)
			slow := false
			fake := newFake(t, func(cmd byte, params []byte) reply {
				r := healthy(cmd, params)
				if cmd == cmdInDataExchange && slow {
					slow = false
					r.delay = time.Second - 5*time.Millisecond
				}
				return r
			})
			d := newDevice(fake, Options{ExchangeTimeout: time.Second, SettleTime: settle, AckTimeout: 100 * time.Millisecond})
			ready(t, d)
			fake.lag = 50 * time.Millisecond
			slow = true
			_, err := d.Exchange(context.Background(), apduN(1))
			if !errors.Is(err, ErrNoResponse) || !errors.Is(err, ErrOutcomeUnknown) {
				t.Fatalf("slow card: %v, want ErrNoResponse and ErrOutcomeUnknown", err)
			}
			exchangeInStep(t, d, 2)
			exchangeInStep(t, d, 3)
			if st := d.Stats(); st.Stale != 1 {
				t.Errorf("stale frames %d, want 1 (the late answer)", st.Stale)
			}
		})
	}
}

// Stale frames already buffered are discarded before the next command;
// on a settled line the drain is one short read, not a settle period.
func TestDrainBeforeCommand(t *testing.T) {
	fake := newFake(t, chip(t, echoCard))
	d := newDevice(fake, Options{})
	ready(t, d)
	start := fake.clk.Now()
	exchangeInStep(t, d, 1)
	if took := fake.clk.Now().Sub(start); took > drainPeek {
		t.Errorf("a clean exchange took %v of driver time, want at most the %v peek", took, drainPeek)
	}
	// Leftovers of an exchange the driver does not know about: an ACK and
	// an answer with the same response code as the next command's.
	fake.mu.Lock()
	fake.send(fake.clk.Now(), ACK)
	fake.send(fake.clk.Now(), resp(t, 0x41, 0x00, 0xEE, 0x90, 0x00))
	fake.mu.Unlock()
	exchangeInStep(t, d, 2)
	if st := d.Stats(); st.Stale != 2 {
		t.Errorf("stale %d, want 2", st.Stale)
	}
	exchangeInStep(t, d, 3)
}
