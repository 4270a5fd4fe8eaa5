package standin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/payment"
)

// Errors of the stand-in card source.
var (
	// ErrCardPresent is returned by Tap when a card is already waiting on
	// the reader.
	ErrCardPresent = errors.New("standin: a card is already on the reader")
	// ErrModeNotAccepted is returned by ReadCard when the presented card's
	// entry mode is not among the request's modes.
	ErrModeNotAccepted = errors.New("standin: entry mode not accepted")
)

// Cards is the stand-in card source, replaced by the PN532 driver (and the
// scanner and keypad for QR and keyed entry). A card handed to Tap stays
// "on the reader" until a ReadCard takes it, whether ReadCard was already
// waiting or comes later. Safe for concurrent use.
type Cards struct {
	clk     clock.Clock
	autoTap time.Duration
	taps    chan card.Data

	mu  sync.Mutex
	def card.Data
	atc uint16
}

// NewCards returns a card source on clk. With autoTap > 0 every ReadCard
// that has not been handed a card presents the default card (the UnionPay
// test card, see SetDefault) after autoTap has passed on clk.
func NewCards(clk clock.Clock, autoTap time.Duration) *Cards {
	if clk == nil {
		clk = clock.System{}
	}
	def, _ := TestCard(UnionPay)
	return &Cards{clk: clk, autoTap: autoTap, taps: make(chan card.Data, 1), def: def}
}

// SetDefault sets the card presented by AutoTap.
func (c *Cards) SetDefault(d card.Data) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.def = clone(d)
}

// Tap puts a card on the reader. It returns ErrCardPresent if the previous
// one has not been read yet.
func (c *Cards) Tap(d card.Data) error {
	select {
	case c.taps <- clone(d):
		return nil
	default:
		return ErrCardPresent
	}
}

// Clear takes a card that was tapped but not read off the reader. It
// reports whether there was one.
func (c *Cards) Clear() bool {
	select {
	case <-c.taps:
		return true
	default:
		return false
	}
}

// ReadCard implements payment.CardSource. It returns the tapped (or, with
// AutoTap, the default) card with its field 55 data rebuilt for req, or
// ctx's error when ctx is done first.
func (c *Cards) ReadCard(ctx context.Context, req payment.CardRequest) (card.Data, error) {
	var auto <-chan time.Time
	if c.autoTap > 0 {
		auto = c.clk.After(c.autoTap)
	}
	var d card.Data
	select {
	case d = <-c.taps:
	case <-auto:
		c.mu.Lock()
		d = clone(c.def)
		c.mu.Unlock()
	case <-ctx.Done():
		return card.Data{}, fmt.Errorf("standin: no card: %w", ctx.Err())
	}
	if len(req.Modes) > 0 && !slices.Contains(req.Modes, d.Entry) {
		return card.Data{}, fmt.Errorf("%w: card is %q, request accepts %v", ErrModeNotAccepted, d.Entry, req.Modes)
	}
	if len(d.Sensitive.ICC) > 0 {
		c.mu.Lock()
		c.atc++
		atc := c.atc
		c.mu.Unlock()
		p := iccProfile{aip: tlvValue(d.Sensitive.ICC, 0x82), iad: tlvValue(d.Sensitive.ICC, 0x9F10)}
		d.Sensitive.ICC = icc(d, p, req, atc)
	}
	if d.MaskedPAN == "" && d.Sensitive.PAN != "" {
		d.MaskedPAN = card.Mask(d.Sensitive.PAN)
	}
	return d, nil
}

var _ payment.CardSource = (*Cards)(nil)
