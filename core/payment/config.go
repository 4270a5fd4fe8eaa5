package payment

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultCardTimeout      = 60 * time.Second
	DefaultAuthTimeout      = 30 * time.Second
	DefaultPrintTimeout     = 20 * time.Second
	DefaultReversalRetries  = 3 // DESIGN.md invariant 4
	DefaultRetryInterval    = 5 * time.Second
	DefaultRetryMaxInterval = 5 * time.Minute
	// DefaultStuckMargin is how far past the end of its current bounded
	// wait a sale may run before the supervisor resets it.
	DefaultStuckMargin = 30 * time.Second
	// DefaultSuperviseInterval is how often Run's supervisor looks at the
	// sale in progress.
	DefaultSuperviseInterval = time.Second
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
	// ReversalSpacing is the least time between two counted attempts of
	// one reversal made by Run's background retries, doubled after each
	// (default txn.DefaultReversalSpacing): a link that takes the
	// connection and drops it must not use up the attempts in a second.
	// The forwarder applies the same rule. A sale's own attempt (before a
	// new online request) is not held back.
	ReversalSpacing time.Duration
	// RetryInterval is Run's first backoff after a failed pass (default
	// 5s); it doubles after each further failure up to RetryMaxInterval.
	RetryInterval time.Duration
	// RetryMaxInterval caps the backoff, and is how often an idle Run
	// looks at the queues without being kicked (default 5m).
	RetryMaxInterval time.Duration
	// MaxAmount is the per-transaction maximum in minor units; 0 means no
	// limit below money.MaxMinor. Checked before the card is read. It is
	// the same limit as Limits.MaxAmount: set either one (when both are
	// set they must be equal); New copies it into the other.
	MaxAmount int64
	// Limits are the payment limits that hold online and offline
	// (payment.max_amount, payment.daily_max, payment.max_<mode>): the
	// per-transaction and daily maxima are checked by StartSale, before
	// the card is read; only the entry modes whose maximum allows the
	// amount are offered to the card source, and the mode read is checked
	// again before anything is journaled. A daily maximum needs
	// Deps.Outbox (the day's total comes from the journal).
	Limits risk.PaymentLimits
	// Offline are the offline (store-and-forward) risk limits; the zero
	// value is disabled. See core/risk and docs/offline.md.
	Offline risk.Limits
	// StuckMargin is how far past the end of its current bounded wait (a
	// card, the acquirer, a printer) a sale may run before Run's
	// supervisor takes it over and resets it to a journaled, recoverable
	// state (default 30s). See Run.
	StuckMargin time.Duration
	// SuperviseInterval is how often the supervisor looks (default 1s).
	SuperviseInterval time.Duration
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
	// Outbox gives the journal's real outbox and daily totals. Optional:
	// nil means no offline sale is ever allowed (there is nothing to check
	// the limits against) and Config.Limits.DailyMax must be 0.
	Outbox OutboxStats
	// LinkInfo reports the acquirer link's state (the last successful
	// sign-in). Optional: nil means "never signed in", so no offline sale
	// is allowed.
	LinkInfo func() risk.Link
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
		{"ReversalSpacing", &cfg.ReversalSpacing, txn.DefaultReversalSpacing},
		{"RetryMaxInterval", &cfg.RetryMaxInterval, DefaultRetryMaxInterval},
		{"StuckMargin", &cfg.StuckMargin, DefaultStuckMargin},
		{"SuperviseInterval", &cfg.SuperviseInterval, DefaultSuperviseInterval},
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
	switch {
	case cfg.Limits.MaxAmount == 0:
		cfg.Limits.MaxAmount = cfg.MaxAmount
	case cfg.MaxAmount == 0:
		cfg.MaxAmount = cfg.Limits.MaxAmount
	case cfg.MaxAmount != cfg.Limits.MaxAmount:
		return cfg, fmt.Errorf("%w: MaxAmount %d and Limits.MaxAmount %d disagree (they are the same limit: set one)",
			ErrConfig, cfg.MaxAmount, cfg.Limits.MaxAmount)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.Limits.PerMode = maps.Clone(cfg.Limits.PerMode)
	if err := cfg.Offline.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.Offline.Modes = slices.Clone(cfg.Offline.Modes)
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	return cfg, nil
}

// check validates d against cfg and fills in the optional dependencies.
func (d Deps) check(cfg Config) (Deps, error) {
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
	if d.Outbox == nil && cfg.Limits.DailyMax > 0 {
		return d, fmt.Errorf("%w: Limits.DailyMax is set but Deps.Outbox is missing (the day's total comes from the journal)", ErrConfig)
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
