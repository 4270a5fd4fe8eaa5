package risk

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// Names of the payment limits, as LimitError.Limit reports them: the config
// keys of the [payment] table.
const (
	LimitPaymentMax = "payment.max_amount"
	LimitDailyMax   = "payment.daily_max"
)

// ModeLimit returns the config key of the per-entry-mode maximum for m:
// "payment.max_contactless", "payment.max_keyed", "payment.max_qr".
func ModeLimit(m txn.EntryMode) string { return "payment.max_" + string(m) }

// ErrLimit is matched (errors.Is) by every *LimitError.
var ErrLimit = errors.New("risk: payment limit")

// LimitError is a payment refused by a limit.
type LimitError struct {
	// Limit is the config key of the limit, e.g. "payment.daily_max".
	Limit string
	// Reason says why, in English then " / " and short Chinese.
	Reason string
}

// Error implements error: "payment.daily_max: <reason>".
func (e *LimitError) Error() string { return e.Limit + ": " + e.Reason }

// Is reports whether target is ErrLimit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// PaymentLimits are the limits that hold online and offline alike (the
// merchant's or the acquirer's settings), in minor units of the terminal
// currency. Zero means no limit.
type PaymentLimits struct {
	// MaxAmount is the per-transaction maximum (payment.max_amount).
	MaxAmount int64
	// DailyMax caps the day's sales: the local day's approved and
	// stored-offline sales plus the new one (payment.daily_max).
	DailyMax int64
	// PerMode is the per-transaction maximum for an entry mode
	// (payment.max_contactless, payment.max_keyed, payment.max_qr); a
	// missing or zero entry means no limit of its own.
	PerMode map[txn.EntryMode]int64
}

// PaymentFromConfig returns the payment limits of a [payment] config table.
func PaymentFromConfig(p config.Payment) PaymentLimits {
	pl := PaymentLimits{MaxAmount: p.MaxAmountMinor, DailyMax: p.DailyMaxMinor, PerMode: map[txn.EntryMode]int64{}}
	for m, v := range map[txn.EntryMode]int64{txn.Contactless: p.MaxContactlessMinor, txn.Keyed: p.MaxKeyedMinor, txn.QR: p.MaxQRMinor} {
		if v != 0 {
			pl.PerMode[m] = v
		}
	}
	return pl
}

// Validate checks that every limit is within 0..money.MaxMinor and every
// PerMode key is an entry mode. Errors wrap ErrInvalidLimits and name the
// field.
func (pl PaymentLimits) Validate() error {
	var errs []error
	check := func(name string, v int64) {
		if v < 0 || v > money.MaxMinor {
			errs = append(errs, fmt.Errorf("%w: %s %d is outside 0..%d minor units", ErrInvalidLimits, name, v, money.MaxMinor))
		}
	}
	check("Limits.MaxAmount", pl.MaxAmount)
	check("Limits.DailyMax", pl.DailyMax)
	for _, m := range slices.Sorted(maps.Keys(pl.PerMode)) {
		if !m.Valid() {
			errs = append(errs, fmt.Errorf("%w: Limits.PerMode[%q] is not an entry mode", ErrInvalidLimits, m))
			continue
		}
		check(fmt.Sprintf("Limits.PerMode[%s]", m), pl.PerMode[m])
	}
	return errors.Join(errs...)
}

// ModeAllows reports whether the per-mode maximum of entry (if any) allows
// amount; the engine uses it to offer only the entry modes a sale could
// pass before the card is read.
func (pl PaymentLimits) ModeAllows(entry txn.EntryMode, amount int64) bool {
	max := pl.PerMode[entry]
	return max <= 0 || amount <= max
}

// CheckPayment checks a sale of amount against pl: the per-transaction
// maximum, then the per-mode maximum of entry (skipped while entry is ""
// because the card has not been read yet), then the daily maximum, where
// todayTotal is the local day's total so far in amount's currency. Each
// limit holds exactly at its value. A refusal is a *LimitError naming the
// limit.
func CheckPayment(pl PaymentLimits, amount money.Amount, entry txn.EntryMode, todayTotal int64) error {
	amt := func(minor int64) string { return money.Amount{Minor: minor, Currency: amount.Currency}.String() }
	if amount.Minor <= 0 {
		return &LimitError{Limit: LimitAmountInvalid, Reason: fmt.Sprintf("%s must be above zero / 金额无效", amt(amount.Minor))}
	}
	if pl.MaxAmount > 0 && amount.Minor > pl.MaxAmount {
		return &LimitError{Limit: LimitPaymentMax,
			Reason: fmt.Sprintf("%s is above the per-transaction maximum of %s / 超过单笔限额", amt(amount.Minor), amt(pl.MaxAmount))}
	}
	if entry != "" && !pl.ModeAllows(entry, amount.Minor) {
		return &LimitError{Limit: ModeLimit(entry),
			Reason: fmt.Sprintf("%s is above the %s maximum of %s / 超过该支付方式单笔限额", amt(amount.Minor), entry, amt(pl.PerMode[entry]))}
	}
	if pl.DailyMax > 0 {
		if todayTotal < 0 || !fits(todayTotal, amount.Minor, pl.DailyMax) {
			return &LimitError{Limit: LimitDailyMax,
				Reason: fmt.Sprintf("today's %s + %s would pass the daily maximum of %s / 超过当日累计限额",
					amt(todayTotal), amt(amount.Minor), amt(pl.DailyMax))}
		}
	}
	return nil
}
