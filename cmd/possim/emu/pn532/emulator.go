package pn532

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/emv/emvtest"
)

// Defaults for Options fields left zero.
const (
	// DefaultCardTimeout is how long the chip waits for a card that does
	// not answer before it reports status 01 (time out). It is the frame
	// waiting time the emulated cards announce in their ATS (FWI 7:
	// 256·16·2^7 / 13.56 MHz ≈ 38.7 ms), rounded up.
	DefaultCardTimeout = 40 * time.Millisecond
	// DefaultPollPeriod is how long one passive activation attempt takes
	// when RFConfiguration set a finite MxRtyPassiveActivation: the poll
	// answers NbTg 0 after (retries + 1) periods without a card. Our
	// choice; the manual gives no figure.
	DefaultPollPeriod = 5 * time.Millisecond
	// DefaultFrameTimeout is how long a started frame may wait for its
	// next byte before the chip gives it up and looks for a new start
	// code, so that a truncated frame (or one whose LEN was hit by noise)
	// cannot hold the link. Our choice; the manual gives no figure.
	DefaultFrameTimeout = 20 * time.Millisecond
)

// ErrBusy is returned by Serve when the emulator already serves a session:
// one emulated chip has one serial link.
var ErrBusy = errors.New("pn532 emulator: already serving a link")

// Options configure an Emulator. The zero value of every field selects
// its default.
type Options struct {
	// Logger gets debug traces (command names, lengths, status codes; never
	// APDU bytes, which hold card data). Nil discards.
	Logger *slog.Logger
	// Clock measures stalls, card timeouts, polls and receive pacing.
	// Nil is the system clock.
	Clock clock.Clock
	// Baud paces the host → chip direction: a command frame is taken as
	// received only once its bytes would have crossed a UART at this rate
	// (10 bits per byte, 8N1). ptydev paces the other direction; give both
	// the same rate. 0 turns receive pacing off.
	Baud int
	// CardTimeout is the wait before status 01 when the card has left the
	// field (default DefaultCardTimeout).
	CardTimeout time.Duration
	// PollPeriod is one passive activation attempt (default
	// DefaultPollPeriod).
	PollPeriod time.Duration
	// FrameTimeout is the inter-byte gap after which a partial frame is
	// given up (default DefaultFrameTimeout).
	FrameTimeout time.Duration
}

// Fault holds the fault knobs. Counts are consumed as the faults happen;
// Stall stays in force until SetFault changes it.
type Fault struct {
	// NoACK drops the next N ACK frames on the line: the chip received and
	// runs the command, but the host never sees the acknowledgement.
	NoACK int
	// BadChecksum corrupts the DCS of the next N response frames, as line
	// noise would; a host NACK gets the intact frame again.
	BadChecksum int
	// Stall delays every response by this long (after the ACK), like a
	// chip that hangs; the host's abort (ACK frame) cancels it.
	Stall time.Duration
	// Garbage sends N bytes of line noise (never 00, so never a start
	// code) before the next frame.
	Garbage int
	// RemoveDuringExchange pulls the card away during the N-th APDU from
	// now: the card runs it, its answer is lost, and the chip reports
	// status 01 (time out) after CardTimeout. 0 is off.
	RemoveDuringExchange int
}

// Stats counts what happened since New.
type Stats struct {
	// RxBytes and TxBytes are wire bytes received from and sent to the
	// host.
	RxBytes, TxBytes int64
	// Commands counts valid command frames; ACKs the ACK frames sent;
	// DroppedACKs the ones the NoACK fault swallowed.
	Commands, ACKs, DroppedACKs int64
	// NACKs counts host NACK frames answered with the last response.
	NACKs int64
	// Aborts counts commands aborted by a host ACK frame or cut short by a
	// new command.
	Aborts int64
	// BadFrames counts host frames dropped without an ACK (LCS, DCS,
	// length or TFI wrong).
	BadFrames int64
	// SyntaxErrors counts error frames sent.
	SyntaxErrors int64
	// APDUs counts command APDUs passed to cards; APDUBytesIn the bytes of
	// those C-APDUs, APDUBytesOut the bytes of the R-APDUs the cards gave.
	APDUs, APDUBytesIn, APDUBytesOut int64
	// RawFrames counts InCommunicateThru frames sent to the RF interface
	// (libnfc's presence checks, among others).
	RawFrames int64
	// CorruptFrames and GarbageBytes count injected faults.
	CorruptFrames, GarbageBytes int64
}

// fieldCard is a card in the RF field with the UID it chose for this tap
// (EMV cards use random 4-byte UIDs, a new one per power-up).
type fieldCard struct {
	card *emvtest.Card
	uid  [4]byte
	// halted is the ISO/IEC 14443-3 HALT state that InDeselect leaves
	// the card in: it no longer answers the REQA of InListPassiveTarget,
	// only the WUPA of a reselection; power (a new tap, the RF field
	// going off) clears it.
	halted bool
}

// Emulator is an emulated PN532 with an RF field. Its control methods are
// safe for concurrent use with Serve.
type Emulator struct {
	log  *slog.Logger
	clk  clock.Clock
	opts Options

	serving atomic.Bool
	changed chan struct{} // field or faults changed: wake Serve

	mu    sync.Mutex
	field []fieldCard
	gen   uint64 // bumped on every field change
	taps  uint64
	fault Fault
	stats Stats
	// resets counts Reset calls; a session compares it with the count it
	// started from.
	resets uint64
}

var _ ptydev.Handler = (*Emulator)(nil)

// New returns an emulated PN532 with an empty field.
func New(opts Options) *Emulator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.CardTimeout <= 0 {
		opts.CardTimeout = DefaultCardTimeout
	}
	if opts.PollPeriod <= 0 {
		opts.PollPeriod = DefaultPollPeriod
	}
	if opts.FrameTimeout <= 0 {
		opts.FrameTimeout = DefaultFrameTimeout
	}
	return &Emulator{
		log:     opts.Logger,
		clk:     opts.Clock,
		opts:    opts,
		changed: make(chan struct{}, 1),
	}
}

// Tap puts card alone in the field, replacing whatever was there (nil
// empties the field). The card powers up: its selection is reset and it
// picks a new UID.
func (e *Emulator) Tap(card *emvtest.Card) {
	if card == nil {
		e.Remove()
		return
	}
	e.setField(card)
}

// TapTwo puts two cards in the field at once.
func (e *Emulator) TapTwo(a, b *emvtest.Card) {
	e.setField(a, b)
}

// RemoveCard takes the card named name out of the field and leaves any
// other card as it is (activated, or halted by a release): a customer who
// put two cards on the reader takes one away. It reports whether such a
// card was in the field.
func (e *Emulator) RemoveCard(name string) bool {
	e.mu.Lock()
	i := slices.IndexFunc(e.field, func(fc fieldCard) bool { return fc.card.Name == name })
	if i >= 0 {
		e.field = slices.Delete(e.field, i, i+1)
	}
	e.mu.Unlock()
	if i >= 0 {
		e.notify()
	}
	return i >= 0
}

// Remove takes every card out of the field.
func (e *Emulator) Remove() {
	e.setField()
}

func (e *Emulator) setField(cards ...*emvtest.Card) {
	e.mu.Lock()
	e.field = e.field[:0]
	for _, c := range cards {
		if c == nil {
			continue
		}
		e.taps++
		c.Reset()
		e.field = append(e.field, fieldCard{card: c, uid: randomUID(c.Name, e.taps)})
	}
	e.gen++
	e.mu.Unlock()
	e.notify()
}

// Reset power-cycles the chip without touching the serial link, as a
// brown-out or a pulse on RSTPDN does: the running session forgets its
// state (targets, configuration, the command in progress, the last
// response) and sleeps until the host wakes it again. The field is kept.
func (e *Emulator) Reset() {
	e.mu.Lock()
	e.resets++
	e.mu.Unlock()
	e.notify()
}

// Present names the cards in the field: "" for none, the card's name, or
// both names joined by "+".
func (e *Emulator) Present() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, len(e.field))
	for i, fc := range e.field {
		names[i] = fc.card.Name
	}
	return strings.Join(names, "+")
}

// SetFault replaces the fault knobs.
func (e *Emulator) SetFault(f Fault) {
	e.mu.Lock()
	e.fault = f
	e.mu.Unlock()
	e.notify()
}

// Faults returns the fault knobs with what is left of their counts.
func (e *Emulator) Faults() Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fault
}

// Stats returns the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *Emulator) notify() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *Emulator) count(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

// randomUID is a 4-byte random NFCID1 (first byte 08, ISO/IEC 14443-3
// "random ID"), derived from the card and the tap count so runs repeat.
func randomUID(name string, tap uint64) [4]byte {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", name, tap)
	s := h.Sum32()
	return [4]byte{0x08, byte(s >> 16), byte(s >> 8), byte(s)}
}

// Serve runs one power-on session of the chip on rw until ctx ends or rw
// fails: it starts asleep, wakes on 0x55, and answers the host's frames.
// The field and the faults persist across sessions; the chip's own state
// (listed targets, configuration, last response) does not.
func (e *Emulator) Serve(ctx context.Context, rw io.ReadWriter) error {
	if !e.serving.CompareAndSwap(false, true) {
		return ErrBusy
	}
	defer e.serving.Store(false)

	in := make(chan []byte, 16)
	rerr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := rw.Read(buf)
			if n > 0 {
				select {
				case in <- append([]byte(nil), buf[:n]...):
				case <-done:
					return
				}
			}
			if err != nil {
				select {
				case rerr <- err:
				case <-done:
				}
				return
			}
		}
	}()

	s := newSession(ctx, e, rw)
	e.log.Debug("pn532 emulator: power on, asleep until 55")
	for {
		e.mu.Lock()
		reset := e.resets != s.resets
		e.mu.Unlock()
		if reset {
			e.log.Debug("pn532 emulator: reset, asleep until 55")
			s = newSession(ctx, e, rw)
		}
		if err := s.step(); err != nil {
			return err
		}
		var due time.Time
		if s.pend != nil {
			due = s.pend.due
		}
		if len(s.rx) > 0 { // part of a frame: give it up if the line stays quiet
			if giveUp := s.lastRx.Add(e.opts.FrameTimeout); due.IsZero() || giveUp.Before(due) {
				due = giveUp
			}
		}
		var timer <-chan time.Time
		if !due.IsZero() {
			timer = e.clk.After(due.Sub(e.clk.Now()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case chunk := <-in:
			s.feed(chunk)
		case err := <-rerr:
			return fmt.Errorf("pn532 emulator: read: %w", err)
		case <-e.changed:
		case <-timer:
			s.expirePartial()
		}
	}
}
