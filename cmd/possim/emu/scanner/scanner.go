// Package scanner emulates a serial barcode/QR scanner for possim: codes
// injected through the control API come out of the serial line as
// printable ASCII followed by a terminator (CR, LF or CRLF), with fault
// knobs for what real scanners and cables do wrong: a missing
// terminator, line noise, an overlong code and a pause in mid-code.
//
// The emulator writes whole codes at once; pacing bytes at the baud rate
// is the pseudo-terminal framework's job (possim/emu/ptydev). It never
// reads: what a driver writes to a scanner is ignored.
//
// This package deliberately does not import drivers/scanner: it is the
// other side of the wire, written from the same rules, so a shared bug
// cannot hide in both.
package scanner

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// Terminator is what follows each code.
type Terminator uint8

// Terminators. The zero value is CR, the factory default of most serial
// scanners.
const (
	CR   Terminator = iota // "\r"
	LF                     // "\n"
	CRLF                   // "\r\n"
)

// Bytes returns the terminator's bytes.
func (t Terminator) Bytes() []byte {
	switch t {
	case LF:
		return []byte{'\n'}
	case CRLF:
		return []byte{'\r', '\n'}
	}
	return []byte{'\r'}
}

// String returns "CR", "LF" or "CRLF".
func (t Terminator) String() string {
	switch t {
	case LF:
		return "LF"
	case CRLF:
		return "CRLF"
	}
	return "CR"
}

// ParseTerminator parses "CR", "LF" or "CRLF" (any case), for the control
// API.
func ParseTerminator(s string) (Terminator, error) {
	switch strings.ToUpper(s) {
	case "CR":
		return CR, nil
	case "LF":
		return LF, nil
	case "CRLF":
		return CRLF, nil
	}
	return CR, fmt.Errorf("scanner emulator: terminator %q: want CR, LF or CRLF", s)
}

// Fault is what goes wrong with the codes injected while it is set. The
// zero value is a healthy scanner. Knobs combine; they apply in the order
// overlong, garbage, pause, terminator.
type Fault struct {
	// NoTerminator sends the code without its terminator.
	NoTerminator bool
	// Garbage is inserted into the code at byte offset GarbageAt (clamped
	// to the code's length; 0 puts it in front): line noise, or a burst
	// at the wrong baud rate. Non-printable bytes here make the code bad.
	Garbage   []byte
	GarbageAt int
	// OverlongTo pads the code with '0' up to this many bytes (no effect
	// when the code is already that long).
	OverlongTo int
	// PauseAfter and Pause: after PauseAfter bytes of the (faulted) code
	// the emulator stops for Pause before sending the rest, as a scanner
	// whose buffer stalls. Pause longer than the driver's inter-character
	// timeout cuts the code in two. No effect when Pause is 0 or
	// PauseAfter is not inside the code.
	PauseAfter int
	Pause      time.Duration
}

// item is one queued transmission: the bytes before and after a pause.
type item struct {
	head, tail []byte
	pause      time.Duration
}

// Scanner is an emulated serial scanner. Its zero value is not usable;
// call New. Safe for concurrent use: the control API injects while Serve
// writes.
type Scanner struct {
	clk clock.Clock

	mu    sync.Mutex
	term  Terminator
	fault Fault
	queue []item
	sent  int
	wake  chan struct{} // closed and replaced when the queue grows
}

// New returns a healthy scanner with a CR terminator. clk times the
// mid-code pause; nil means the system clock.
func New(clk clock.Clock) *Scanner {
	if clk == nil {
		clk = clock.System{}
	}
	return &Scanner{clk: clk, wake: make(chan struct{})}
}

// SetTerminator sets the terminator of codes injected from now on.
func (s *Scanner) SetTerminator(t Terminator) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.term = t
}

// SetFault sets the fault applied to codes injected from now on; the zero
// Fault clears it.
func (s *Scanner) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Garbage = append([]byte(nil), f.Garbage...)
	s.fault = f
}

// Inject queues code to be "scanned": Serve writes it with the terminator
// and fault in force now. Codes go out in injection order.
func (s *Scanner) Inject(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, build(code, s.term, s.fault))
	close(s.wake)
	s.wake = make(chan struct{})
}

// build lays out one code's bytes with a fault applied.
func build(code string, t Terminator, f Fault) item {
	b := []byte(code)
	if f.OverlongTo > len(b) {
		b = append(b, make([]byte, f.OverlongTo-len(b))...)
		for i := len(code); i < len(b); i++ {
			b[i] = '0'
		}
	}
	if len(f.Garbage) > 0 {
		at := max(0, min(f.GarbageAt, len(b)))
		b = append(b[:at:at], append(append([]byte(nil), f.Garbage...), b[at:]...)...)
	}
	if !f.NoTerminator {
		b = append(b, t.Bytes()...)
	}
	if f.Pause > 0 && f.PauseAfter > 0 && f.PauseAfter < len(b) {
		return item{head: b[:f.PauseAfter], tail: b[f.PauseAfter:], pause: f.Pause}
	}
	return item{head: b}
}

// Pending returns how many injected codes have not been written yet.
func (s *Scanner) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Sent returns how many codes Serve has written in full.
func (s *Scanner) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Serve writes injected codes to rw until ctx is done (it returns
// ctx.Err()) or a write fails (it returns that error, wrapped). Codes
// still queued stay queued for the next Serve (a replug). A code cut by
// cancellation is not sent again.
func (s *Scanner) Serve(ctx context.Context, rw io.ReadWriter) error {
	for {
		s.mu.Lock()
		var it item
		ok := len(s.queue) > 0
		if ok {
			it = s.queue[0]
			s.queue = s.queue[1:]
		}
		wake := s.wake
		s.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wake:
				continue
			}
		}
		if err := write(rw, it.head); err != nil {
			return err
		}
		if it.pause > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.clk.After(it.pause):
			}
			if err := write(rw, it.tail); err != nil {
				return err
			}
		}
		s.mu.Lock()
		s.sent++
		s.mu.Unlock()
	}
}

func write(w io.Writer, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("scanner emulator: write %d bytes: %w", len(b), err)
	}
	return nil
}
