package payment

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/receipt"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultCardTimeout      = 60 * time.Second
	DefaultAuthTimeout      = 30 * time.Second
	DefaultPrintTimeout     = 20 * time.Second
	DefaultReversalRetries  = 3 // DESIGN.md invariant 4
	DefaultRetryInterval    = 5 * time.Second
	DefaultRetryMaxInterval = 5 * time.Minute
)

// Config is the engine's configuration. Zero values take the defaults
// named on each field.
type Config struct {
	// Currency is the terminal currency; 0 means money.DefaultCurrency.
	// A sale in any other currency is refused.
	Currency money.Currency
	// CardTimeout bounds the wait for a tap (default 60s).
	CardTimeout time.Duration
	// AuthTimeout bounds the wait for the acquirer's answer to an
	// authorisation, and to each reversal attempt (default 30s).
	AuthTimeout time.Duration
	// PrintTimeout bounds one receipt print (default 20s).
	PrintTimeout time.Duration
	// ReversalRetries is how many reversal attempts may go unacknowledged
	// before the record moves to txn.ReversalFailed and an alarm is logged
	// (default 3, DESIGN.md invariant 4). The attempt made right after a
	// timed-out authorisation counts as the first.
	ReversalRetries int
	// RetryInterval is Run's first backoff after a failed pass (default
	// 5s); it doubles after each further failure up to RetryMaxInterval.
	RetryInterval time.Duration
	// RetryMaxInterval caps the backoff, and is how often an idle Run
	// looks at the queues without being kicked (default 5m).
	RetryMaxInterval time.Duration
	// MaxAmount is the per-transaction maximum in minor units; 0 means no
	// limit below money.MaxMinor. Checked before the card is read.
	MaxAmount int64
	// Merchant is printed on every receipt.
	Merchant receipt.Merchant
	// Location is the receipt time zone; nil means UTC.
	Location *time.Location
}

// Deps are the engine's dependencies. Journal, Cards, Acquirer and Printer
// are required; Indicator may be nil (no lights); a nil Clock means
// clock.System and a nil Log discards.
type Deps struct {
	Journal   Journal
	Cards     CardSource
	Acquirer  Acquirer
	Printer   Printer
	Indicator Indicator
	Clock     clock.Clock
	Log       *slog.Logger
}

// withDefaults validates cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Currency == 0 {
		cfg.Currency = money.DefaultCurrency
	}
	if !cfg.Currency.Known() {
		return cfg, fmt.Errorf("%w: Currency %s has no known minor-unit exponent", ErrConfig, cfg.Currency.Numeric())
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"CardTimeout", &cfg.CardTimeout, DefaultCardTimeout},
		{"AuthTimeout", &cfg.AuthTimeout, DefaultAuthTimeout},
		{"PrintTimeout", &cfg.PrintTimeout, DefaultPrintTimeout},
		{"RetryInterval", &cfg.RetryInterval, DefaultRetryInterval},
		{"RetryMaxInterval", &cfg.RetryMaxInterval, DefaultRetryMaxInterval},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return cfg, fmt.Errorf("%w: %s is negative (%v)", ErrConfig, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.RetryMaxInterval < cfg.RetryInterval {
		return cfg, fmt.Errorf("%w: RetryMaxInterval %v is below RetryInterval %v", ErrConfig, cfg.RetryMaxInterval, cfg.RetryInterval)
	}
	switch {
	case cfg.ReversalRetries < 0:
		return cfg, fmt.Errorf("%w: ReversalRetries is negative (%d)", ErrConfig, cfg.ReversalRetries)
	case cfg.ReversalRetries == 0:
		cfg.ReversalRetries = DefaultReversalRetries
	}
	if cfg.MaxAmount < 0 || cfg.MaxAmount > money.MaxMinor {
		return cfg, fmt.Errorf("%w: MaxAmount %d is outside 0..%d minor units", ErrConfig, cfg.MaxAmount, money.MaxMinor)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	return cfg, nil
}

// check validates d and fills in the optional dependencies.
func (d Deps) check() (Deps, error) {
	var missing []string
	if d.Journal == nil {
		missing = append(missing, "Journal")
	}
	if d.Cards == nil {
		missing = append(missing, "Cards")
	}
	if d.Acquirer == nil {
		missing = append(missing, "Acquirer")
	}
	if d.Printer == nil {
		missing = append(missing, "Printer")
	}
	if len(missing) > 0 {
		return d, fmt.Errorf("%w: missing dependency Deps.%s", ErrConfig, strings.Join(missing, ", Deps."))
	}
	if d.Indicator == nil {
		d.Indicator = noIndicator{}
	}
	if d.Clock == nil {
		d.Clock = clock.System{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// noIndicator stands in for a terminal without lights or buzzer.
type noIndicator struct{}

// Indicate implements Indicator and does nothing.
func (noIndicator) Indicate(context.Context, Signal) {}
