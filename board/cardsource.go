package board

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/emv"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/drivers/pn532"
)

// Prompts a PN532Source hands to CardSourceOptions.OnPrompt: what the
// customer should do while the source keeps waiting for a good tap.
const (
	// PromptOneCard: two cards answered the poll.
	PromptOneCard = "present one card only"
	// PromptTapAgain: the card left the field during the read.
	PromptTapAgain = "card removed, tap again"
	// PromptReadFailed: the read failed on the RF side (a damaged
	// exchange, a card that stopped answering); the same card may be
	// tapped again.
	PromptReadFailed = "card read failed, tap again"
	// PromptReaderAway: the reader's port is gone (unplugged, or
	// re-enumerating); the sale keeps waiting for it until the card
	// timeout (DESIGN.md invariant 7).
	PromptReaderAway = "card reader unavailable, reconnecting"
)

// DefaultPollInterval is the pause between two polls that found no card
// (or two cards), when CardSourceOptions.PollInterval is zero. A poll
// itself waits up to the driver's PollTimeout for a card.
const DefaultPollInterval = 50 * time.Millisecond

// releaseTimeout bounds the InRelease sent after every read, whatever
// happened to the caller's context.
const releaseTimeout = time.Second

// Errors of PN532Source.ReadCard. Each wraps the underlying emv or pn532
// error too, so errors.Is works on both levels.
var (
	// ErrEntryMode: the request does not accept contactless cards.
	ErrEntryMode = errors.New("board: the request does not accept contactless cards")
	// ErrReader: the card reader itself failed (link, wake-up, a refused
	// command); the card was not the problem.
	ErrReader = errors.New("board: card reader failed")
	// ErrCardUnsupported: the card has no application the terminal
	// supports, or is not an ISO/IEC 14443-4 (EMV) card.
	ErrCardUnsupported = errors.New("board: card not supported")
	// ErrCardDeclined: the card declined the transaction (GPO 6985 or an
	// AAC). Nothing was sent to the acquirer.
	ErrCardDeclined = errors.New("board: declined by the card")
	// ErrCardUnreadable: the card's data is malformed or incomplete.
	ErrCardUnreadable = errors.New("board: card data unreadable")
	// ErrPINRequired: the card asks for an online PIN, which this terminal
	// has no PIN pad for.
	ErrPINRequired = errors.New("board: the card requires an online PIN, which this terminal cannot take")
)

// CardSourceOptions configure a PN532Source. The zero value of every
// field selects its default.
type CardSourceOptions struct {
	// Terminal is the terminal's EMV data: CVMLimit (minor units),
	// TerminalType, Capabilities, IFDSerial, TTQ, Extra and so on. Country
	// and Currency default to 156 (China, CNY). Amount, Type, Date and
	// Unpredictable are taken from each request and ignored here.
	Terminal emv.Terminal
	// Applications lists the supported applications; nil means
	// emv.DefaultApplications().
	Applications []emv.Application
	// Clock paces the polls and dates requests that carry no date. Nil is
	// the system clock.
	Clock clock.Clock
	// Logger gets the read's progress: scheme, masked PAN, outcomes. Nil
	// discards.
	Logger *slog.Logger
	// PollInterval is the pause between polls that found no card or two
	// cards (default DefaultPollInterval).
	PollInterval time.Duration
	// OnPrompt, when set, is told what the customer should do (one of the
	// Prompt constants) while the source keeps waiting. The same prompt is
	// not repeated until another one came between. It must not block.
	OnPrompt func(string)
}

// PN532Source is the contactless card source of a board with a PN532
// reader: it implements payment.CardSource over a drivers/pn532 Device and
// the core/emv read flow. It hands over clear card data (a developer rig
// or a kiosk reading the card itself); a certified secure reader would be
// another CardSource producing reader-encrypted data.
//
// ReadCard calls are serialised: one card read at a time on one reader.
type PN532Source struct {
	dev  *pn532.Device
	opts CardSourceOptions
	clk  clock.Clock
	log  *slog.Logger
	sem  chan struct{} // holds the reader; also guards awake
	// awake is true once WakeUp succeeded, until a reader error.
	awake bool
}

var _ payment.CardSource = (*PN532Source)(nil)

// NewPN532Source returns a card source reading through dev, which must not
// be nil. It does not talk to the reader until the first ReadCard.
func NewPN532Source(dev *pn532.Device, opts CardSourceOptions) *PN532Source {
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Terminal.Country == 0 {
		opts.Terminal.Country = 156
	}
	if opts.Terminal.Currency == 0 {
		opts.Terminal.Currency = 156
	}
	return &PN532Source{dev: dev, opts: opts, clk: opts.Clock, log: opts.Logger, sem: make(chan struct{}, 1)}
}

// ReadCard waits for a contactless card until ctx is done and reads it:
// it wakes the reader if needed, polls for one card, runs the EMV read for
// req's amount, and releases the card.
//
//   - No card yet, or two cards (prompt PromptOneCard): it keeps polling.
//   - The card left the field during the read (PromptTapAgain) or the RF
//     exchange failed (PromptReadFailed): it waits for the next tap.
//   - ctx done: its error (context.DeadlineExceeded or Canceled), wrapped.
//   - Otherwise the outcome is final: the card data, or an error wrapping
//     ErrCardUnsupported, ErrCardDeclined, ErrCardUnreadable,
//     ErrPINRequired, ErrReader, ErrEntryMode or emv.ErrTerminal.
//
// Nothing here talks to the acquirer, so no outcome needs a reversal.
func (s *PN532Source) ReadCard(ctx context.Context, req payment.CardRequest) (card.Data, error) {
	if len(req.Modes) > 0 && !slices.Contains(req.Modes, txn.Contactless) {
		return card.Data{}, fmt.Errorf("%w: request accepts %v", ErrEntryMode, req.Modes)
	}
	term, err := s.terminal(req)
	if err != nil {
		return card.Data{}, err
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return card.Data{}, fmt.Errorf("board: waiting for the card reader: %w", ctx.Err())
	}
	defer func() { <-s.sem }()

	p := prompter{fns: []func(string){s.opts.OnPrompt, req.Prompt}}
	rewoken := false
	for {
		if !s.awake {
			if err := s.wake(ctx); err != nil {
				if !errors.Is(err, pn532.ErrTransport) {
					return card.Data{}, err
				}
				// The port is away: wait for the reopener to bring it
				// back, until the sale's own deadline.
				p.say(PromptReaderAway)
				if err := s.pause(ctx); err != nil {
					return card.Data{}, err
				}
				continue
			}
		}
		tgt, err := s.dev.ListTarget(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return card.Data{}, fmt.Errorf("board: no card: %w", ctx.Err())
		case errors.Is(err, pn532.ErrTransport):
			s.awake = false
			p.say(PromptReaderAway)
			s.log.Warn("board: card reader port failed; waiting for it to come back", "err", err)
			if err := s.pause(ctx); err != nil {
				return card.Data{}, err
			}
			continue
		case errors.Is(err, pn532.ErrNoACK) && !rewoken:
			// The chip does not answer: it may have been power-cycled or
			// replugged and be asleep again. Wake it once, then poll on.
			s.log.Warn("board: card reader does not acknowledge, waking it", "err", err)
			rewoken = true
			if err := s.wake(ctx); err != nil {
				return card.Data{}, err
			}
			continue
		case errors.Is(err, pn532.ErrNoCard):
			if err := s.pause(ctx); err != nil {
				return card.Data{}, err
			}
			continue
		case errors.Is(err, pn532.ErrMultipleCards):
			// Both cards were released, and so halted: the one the
			// customer leaves on the reader answers no poll until its
			// power goes. The field reset does that.
			p.say(PromptOneCard)
			if err := s.resetField(ctx); err != nil {
				return card.Data{}, err
			}
			continue
		default:
			s.awake = false
			return card.Data{}, fmt.Errorf("%w: poll: %w", ErrReader, err)
		}

		data, retry, err := s.read(ctx, tgt, term)
		switch {
		case err == nil:
			return data, nil
		case !retry:
			return card.Data{}, err
		}
		if errors.Is(err, emv.ErrCardRemoved) {
			p.say(PromptTapAgain)
		} else {
			p.say(PromptReadFailed)
		}
		s.log.Info("board: card read interrupted, waiting for another tap", "err", err)
		// The card was released (halted): a customer who leaves it on
		// the reader is read again after the field reset.
		if err := s.resetField(ctx); err != nil {
			return card.Data{}, err
		}
	}
}

// resetField switches the RF field off for PollInterval and on again, so
// that a card halted by a release (a read that failed, two cards on the
// reader) loses power and answers the next poll like a new tap. ISO/IEC
// 14443-3 asks for at least 5 ms off; PollInterval is more. A reader that
// refuses is logged and the polls go on (the customer can still lift the
// card and tap again); only ctx's end stops it.
func (s *PN532Source) resetField(ctx context.Context) error {
	set := func(on bool) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := s.dev.SetField(fctx, on); err != nil {
			s.log.Warn("board: switching the RF field failed", "on", on, "err", err)
			if errors.Is(err, pn532.ErrTransport) || errors.Is(err, pn532.ErrClosed) {
				s.awake = false
			}
		}
	}
	set(false)
	if err := s.pause(ctx); err != nil {
		return err
	}
	set(true)
	return nil
}

// wake brings the reader up (WakeUp: abort, HSU wake-up, SAMConfiguration).
func (s *PN532Source) wake(ctx context.Context) error {
	s.awake = false
	if err := s.dev.WakeUp(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("board: waking the card reader: %w", ctx.Err())
		}
		return fmt.Errorf("%w: wake-up: %w", ErrReader, err)
	}
	s.awake = true
	return nil
}

// read runs the EMV flow on an activated card and releases it. retry says
// whether the customer may simply tap again.
func (s *PN532Source) read(ctx context.Context, tgt pn532.Target, term emv.Terminal) (card.Data, bool, error) {
	defer s.release(ctx)
	if !tgt.ISODEP() {
		return card.Data{}, false, fmt.Errorf("%w: not an ISO/IEC 14443-4 card (SAK %02X)", ErrCardUnsupported, tgt.SelRes)
	}
	res, err := emv.Read(ctx, pn532Card{s.dev}, term, emv.Options{Applications: s.opts.Applications, Logger: s.log})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return card.Data{}, false, fmt.Errorf("board: card read: %w", ctx.Err())
	case errors.Is(err, pn532.ErrTransport), errors.Is(err, pn532.ErrClosed):
		s.awake = false
		return card.Data{}, false, fmt.Errorf("%w: %w", ErrReader, err)
	case errors.Is(err, emv.ErrCardRemoved), errors.Is(err, emv.ErrCommunication):
		return card.Data{}, true, err
	case errors.Is(err, emv.ErrNoApplication):
		return card.Data{}, false, fmt.Errorf("%w: %w", ErrCardUnsupported, err)
	case errors.Is(err, emv.ErrDeclinedByCard):
		s.log.Info("board: declined by the card", "card", res)
		return card.Data{}, false, fmt.Errorf("%w: %w", ErrCardDeclined, err)
	case errors.Is(err, emv.ErrMalformed):
		return card.Data{}, false, fmt.Errorf("%w: %w", ErrCardUnreadable, err)
	default: // emv.ErrTerminal: our own configuration
		return card.Data{}, false, fmt.Errorf("board: card read: %w", err)
	}
	if res.CVM == emv.CVMOnlinePIN {
		return card.Data{}, false, fmt.Errorf("%w (%s)", ErrPINRequired, res.Scheme)
	}
	s.log.Info("board: card read", "card", res)
	return res.CardData(), false, nil
}

// release deactivates the card within its own timeout, even when ctx is
// done, so the next poll starts clean.
func (s *PN532Source) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := s.dev.Release(rctx); err != nil {
		s.log.Warn("board: releasing the card failed", "err", err)
		if errors.Is(err, pn532.ErrTransport) || errors.Is(err, pn532.ErrClosed) {
			s.awake = false
		}
	}
}

// pause waits PollInterval on the clock, or returns ctx's error.
func (s *PN532Source) pause(ctx context.Context) error {
	select {
	case <-s.clk.After(s.opts.PollInterval):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("board: no card: %w", ctx.Err())
	}
}

// terminal builds the EMV terminal data for req.
func (s *PN532Source) terminal(req payment.CardRequest) (emv.Terminal, error) {
	t := s.opts.Terminal
	t.Amount = req.Amount.Minor
	if req.Amount.Currency != 0 {
		t.Currency = uint16(req.Amount.Currency)
	}
	switch req.Type {
	case txn.Sale, "":
		t.Type = emv.TypeSale
	case txn.Refund, txn.Void:
		// 9C carries the first two digits of the ISO 8583 processing code;
		// the UnionPay dialect uses 20 for both void and refund.
		t.Type = emv.TypeRefund
	default:
		return emv.Terminal{}, fmt.Errorf("board: card request type %q: %w", req.Type, emv.ErrTerminal)
	}
	t.Date = req.Date
	if t.Date.IsZero() {
		t.Date = s.clk.Now()
	}
	t.Unpredictable = req.Unpredictable
	if t.Unpredictable == [4]byte{} {
		if _, err := rand.Read(t.Unpredictable[:]); err != nil {
			return emv.Terminal{}, fmt.Errorf("board: unpredictable number: %w", err)
		}
	}
	return t, nil
}

// pn532Card adapts the driver to emv.Card. Once ListTarget has activated
// the card, a card that stops answering (status 01, time out: the PN532
// has already retried the ISO-DEP block) or is reported released or gone
// (29-2B) has left the field for every practical purpose: both become
// emv.ErrCardGone, so emv.Read reports ErrCardRemoved and the customer is
// asked to tap again. Nothing has gone to the acquirer during a read, so
// treating a timeout as a removal never hides a request that needs a
// reversal.
type pn532Card struct{ dev *pn532.Device }

func (c pn532Card) Transceive(ctx context.Context, apdu []byte) ([]byte, error) {
	resp, err := c.dev.Transceive(ctx, apdu)
	if err != nil {
		return nil, mapCardErr(err)
	}
	return resp, nil
}

// mapCardErr wraps emv.ErrCardGone around the driver's "card did not
// answer" and "card gone" status errors; other errors pass unchanged.
func mapCardErr(err error) error {
	if errors.Is(err, pn532.ErrCardGone) || errors.Is(err, pn532.ErrTimeout) {
		return fmt.Errorf("%w: %w", emv.ErrCardGone, err)
	}
	return err
}

// prompter passes prompts on, without repeating the last one.
// prompter hands a prompt to the source's OnPrompt (the log) and to the
// sale's CardRequest.Prompt (the customer's screen), once per change.
type prompter struct {
	fns  []func(string)
	last string
}

func (p *prompter) say(msg string) {
	if msg == p.last {
		return
	}
	p.last = msg
	for _, fn := range p.fns {
		if fn != nil {
			fn(msg)
		}
	}
}
