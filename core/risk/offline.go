package risk

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// Names of the offline limits, as Decision.Limit reports them: the config
// keys of the [offline] table, plus the entry-mode check.
const (
	LimitEnabled       = "offline.enabled"
	LimitSignInAge     = "offline.max_signin_age"
	LimitCount         = "offline.max_count"
	LimitAmount        = "offline.max_amount"
	LimitTotal         = "offline.max_total"
	LimitHardStop      = "offline.hard_stop"
	LimitForwardWindow = "offline.forward_window" // a warning, never a refusal
	// LimitEntryMode is followed by a space and the mode: "entry mode qr".
	LimitEntryMode = "entry mode"
	// LimitAmountInvalid refuses an amount that is zero or negative.
	LimitAmountInvalid = "amount"
)

// DefaultModes are the entry modes that may be taken offline when
// Limits.Modes is empty: contactless and keyed card entry. QR payments are
// online only (DESIGN.md, "Offline: store-and-forward") and are refused
// even when listed.
var DefaultModes = []txn.EntryMode{txn.Contactless, txn.Keyed}

// ErrInvalidLimits is wrapped by Limits.Validate and PaymentLimits.Validate;
// the message names the field.
var ErrInvalidLimits = errors.New("risk: invalid limits")

// Limits are the offline (store-and-forward) risk limits, from the
// [offline] config table. A zero limit allows nothing: with MaxCount 0 no
// sale can be stored, with MaxSignInAge 0 only a sign-in at this very
// instant would do. Validate reports such settings when Enabled is set.
type Limits struct {
	// Enabled turns offline sales on; off by default (user-issues §2.2:
	// the merchant bears the risk and must opt in).
	Enabled bool
	// MaxAmount is the largest single offline sale, in minor units.
	MaxAmount int64
	// MaxTotal caps the stored (not yet forwarded) total plus the new
	// sale, in minor units of the terminal currency.
	MaxTotal int64
	// MaxCount caps the number of stored sales, the new one included.
	MaxCount int
	// ForwardWindow: once the oldest stored sale is older, new offline
	// sales are still taken but Decision.Warn asks for a forward.
	ForwardWindow time.Duration
	// HardStop: once the oldest stored sale is older, new offline sales
	// are refused, and stored sales that old expire (the forwarder's job).
	HardStop time.Duration
	// MaxSignInAge: offline sales need a successful sign-in (working keys)
	// at most this old.
	MaxSignInAge time.Duration
	// Modes are the entry modes that may go offline; empty means
	// DefaultModes. QR is never allowed.
	Modes []txn.EntryMode
}

// FromConfig returns the limits of an [offline] config table, with
// DefaultModes (the table has no modes key).
func FromConfig(o config.Offline) Limits {
	return Limits{
		Enabled:       o.Enabled,
		MaxAmount:     o.MaxAmountMinor,
		MaxTotal:      o.MaxTotalMinor,
		MaxCount:      o.MaxCount,
		ForwardWindow: o.ForwardWindow,
		HardStop:      o.HardStop,
		MaxSignInAge:  o.MaxSignInAge,
		Modes:         slices.Clone(DefaultModes),
	}
}

// modes returns the entry modes allowed offline, QR never among them.
func (l Limits) modes() []txn.EntryMode {
	m := l.Modes
	if len(m) == 0 {
		m = DefaultModes
	}
	return m
}

// AllowsMode reports whether entry may be taken offline under l: listed
// (or in DefaultModes when l.Modes is empty) and not QR.
func (l Limits) AllowsMode(entry txn.EntryMode) bool {
	return entry != txn.QR && entry.Valid() && slices.Contains(l.modes(), entry)
}

// Validate checks l. Disabled limits are not checked beyond their signs;
// enabled ones need every limit above zero, MaxTotal ≥ MaxAmount,
// ForwardWindow ≤ HardStop and valid, non-QR modes. Errors wrap
// ErrInvalidLimits and name the field.
func (l Limits) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidLimits}, args...)...))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"MaxAmount", l.MaxAmount}, {"MaxTotal", l.MaxTotal}} {
		if f.v < 0 || f.v > money.MaxMinor {
			bad("Offline.%s %d is outside 0..%d minor units", f.name, f.v, money.MaxMinor)
		}
	}
	if l.MaxCount < 0 {
		bad("Offline.MaxCount %d is negative", l.MaxCount)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"ForwardWindow", l.ForwardWindow}, {"HardStop", l.HardStop}, {"MaxSignInAge", l.MaxSignInAge}} {
		if f.v < 0 {
			bad("Offline.%s %v is negative", f.name, f.v)
		}
	}
	for i, m := range l.Modes {
		switch {
		case !m.Valid():
			bad("Offline.Modes[%d] %q is not an entry mode", i, m)
		case m == txn.QR:
			bad("Offline.Modes[%d]: QR payments are online only", i)
		}
	}
	if !l.Enabled {
		return errors.Join(errs...)
	}
	if l.MaxAmount == 0 {
		bad("Offline.MaxAmount must be above 0 when offline is enabled")
	}
	if l.MaxCount == 0 {
		bad("Offline.MaxCount must be at least 1 when offline is enabled")
	}
	if l.MaxTotal < l.MaxAmount {
		bad("Offline.MaxTotal %d is below Offline.MaxAmount %d", l.MaxTotal, l.MaxAmount)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"ForwardWindow", l.ForwardWindow}, {"HardStop", l.HardStop}, {"MaxSignInAge", l.MaxSignInAge}} {
		if f.v == 0 {
			bad("Offline.%s must be above zero when offline is enabled", f.name)
		}
	}
	if l.ForwardWindow > l.HardStop {
		bad("Offline.ForwardWindow %v is longer than Offline.HardStop %v", l.ForwardWindow, l.HardStop)
	}
	return errors.Join(errs...)
}

// Outbox is what the journal holds stored offline and not yet forwarded.
type Outbox struct {
	// Count of stored sales (all currencies: the terminal has one).
	Count int
	// Total of the stored sales in the sale's currency, minor units.
	Total int64
	// Oldest is the Created time (UTC) of the oldest stored sale; it is
	// ignored when Count is 0, and a zero Oldest with Count above 0 counts
	// as infinitely old.
	Oldest time.Time
}

// Link is what the decision needs to know about the acquirer link.
type Link struct {
	// LastSignIn is when the terminal last signed in successfully (got
	// working keys); zero means never.
	LastSignIn time.Time
}

// Decision is the outcome of an offline decision.
type Decision struct {
	// Allowed: the sale may be approved offline.
	Allowed bool `json:"allowed"`
	// Limit names the limit that refused it (see the Limit constants);
	// empty when allowed.
	Limit string `json:"limit,omitempty"`
	// Reason says why, for the merchant: English, then " / " and short
	// Chinese. Empty when allowed.
	Reason string `json:"reason,omitempty"`
	// Warn is set, allowed or not, when something needs attention without
	// refusing: the oldest stored sale is past the forward window, or a
	// stored time lies in the future (the clock went back).
	Warn string `json:"warn,omitempty"`
	// Summary lists the checks that held, for the journal's history
	// ("amount 50.00 CNY ≤ 300.00 CNY; ...").
	Summary string `json:"summary,omitempty"`
}

// Age is how long ago then was at now: now.Sub(then), or 0 when then lies
// in the future (a backward clock jump never makes anything younger than
// new). Both the offline decision and the forwarder's expiry measure ages
// with it, so they agree on every edge.
func Age(now, then time.Time) time.Duration {
	d := now.Sub(then)
	if d < 0 {
		return 0
	}
	return d
}

// Expired reports whether a stored sale created at created is past the
// hard stop at now: Age(now, created) > l.HardStop. Exactly at the hard
// stop it is not expired yet. The forwarder uses it to move stored sales
// to txn.Expired.
func Expired(l Limits, now, created time.Time) bool {
	return Age(now, created) > l.HardStop
}

// DecideOffline decides whether a card sale of amount, read with entry,
// may be approved offline under l, given what is stored (ob, in amount's
// currency) and the link's last sign-in. now comes from the injected
// clock. The checks and their order are in the package doc.
func DecideOffline(l Limits, now time.Time, amount money.Amount, entry txn.EntryMode, ob Outbox, link Link) Decision {
	return decide(l, now, amount, entry, true, ob, link)
}

// PrecheckOffline is DecideOffline without the entry-mode check, for use
// before the card is read (the entry mode is not known yet). A sale it
// allows must still pass DecideOffline once the card is read.
func PrecheckOffline(l Limits, now time.Time, amount money.Amount, ob Outbox, link Link) Decision {
	return decide(l, now, amount, "", false, ob, link)
}

func decide(l Limits, now time.Time, amount money.Amount, entry txn.EntryMode, checkEntry bool, ob Outbox, link Link) Decision {
	var sum []string
	var warn []string
	refuse := func(limit, reason string) Decision {
		return Decision{Limit: limit, Reason: reason, Warn: strings.Join(warn, "; "), Summary: strings.Join(sum, "; ")}
	}
	cur := amount.Currency
	amt := func(minor int64) string { return money.Amount{Minor: minor, Currency: cur}.String() }

	if !l.Enabled {
		return refuse(LimitEnabled, "offline sales are not enabled / 未开通离线交易")
	}
	if amount.Minor <= 0 {
		return refuse(LimitAmountInvalid, fmt.Sprintf("amount %s must be above zero / 金额无效", amt(amount.Minor)))
	}
	if checkEntry {
		switch {
		case entry == txn.QR:
			return refuse(LimitEntryMode+" "+string(entry), "QR payments are online only / 扫码支付仅限联机")
		case !l.AllowsMode(entry):
			return refuse(LimitEntryMode+" "+string(entry),
				fmt.Sprintf("entry mode %q may not be taken offline / 该输入方式不支持离线", entry))
		}
		sum = append(sum, "entry "+string(entry))
	}

	// Sign-in: working keys recent enough.
	if link.LastSignIn.IsZero() {
		return refuse(LimitSignInAge, "never signed in to the acquirer / 未签到，不能离线交易")
	}
	if link.LastSignIn.After(now) {
		warn = append(warn, fmt.Sprintf("last sign-in %s is in the future: check the terminal clock / 时钟异常",
			link.LastSignIn.UTC().Format(time.RFC3339)))
	}
	signIn := Age(now, link.LastSignIn)
	if signIn > l.MaxSignInAge {
		return refuse(LimitSignInAge, fmt.Sprintf("last sign-in %s ago, offline needs one within %s / 签到已过期，不能离线交易",
			FormatAge(signIn), FormatAge(l.MaxSignInAge)))
	}
	sum = append(sum, fmt.Sprintf("sign-in %s ago ≤ %s", FormatAge(signIn), FormatAge(l.MaxSignInAge)))

	// Count, amount, total.
	if ob.Count < 0 || ob.Total < 0 {
		return refuse(LimitCount, fmt.Sprintf("outbox totals are invalid (count %d, total %d) / 离线统计异常", ob.Count, ob.Total))
	}
	if ob.Count >= l.MaxCount {
		return refuse(LimitCount, fmt.Sprintf("%d sales already stored offline, the limit is %d / 离线笔数已满", ob.Count, l.MaxCount))
	}
	sum = append(sum, fmt.Sprintf("count %d+1 ≤ %d", ob.Count, l.MaxCount))
	if amount.Minor > l.MaxAmount {
		return refuse(LimitAmount, fmt.Sprintf("%s is above the offline maximum of %s / 超过离线单笔限额",
			amt(amount.Minor), amt(l.MaxAmount)))
	}
	sum = append(sum, fmt.Sprintf("amount %s ≤ %s", amt(amount.Minor), amt(l.MaxAmount)))
	if !fits(ob.Total, amount.Minor, l.MaxTotal) {
		return refuse(LimitTotal, fmt.Sprintf("stored %s + %s would pass the offline total of %s / 超过离线累计限额",
			amt(ob.Total), amt(amount.Minor), amt(l.MaxTotal)))
	}
	sum = append(sum, fmt.Sprintf("total %s+%s ≤ %s", amt(ob.Total), amt(amount.Minor), amt(l.MaxTotal)))

	// Age of the oldest stored sale.
	if ob.Count > 0 {
		if ob.Oldest.After(now) {
			warn = append(warn, fmt.Sprintf("oldest stored sale is dated %s, in the future: check the terminal clock / 时钟异常",
				ob.Oldest.UTC().Format(time.RFC3339)))
		}
		age := Age(now, ob.Oldest)
		if age > l.HardStop {
			return refuse(LimitHardStop, fmt.Sprintf("the oldest stored sale is %s old, past the %s hard stop: forward the stored sales first / 离线交易超期，请先联机上送",
				FormatAge(age), FormatAge(l.HardStop)))
		}
		sum = append(sum, fmt.Sprintf("oldest %s ≤ %s", FormatAge(age), FormatAge(l.HardStop)))
		if w := forwardWarning(l, age); w != "" {
			warn = append(warn, w)
		}
	}
	return Decision{Allowed: true, Warn: strings.Join(warn, "; "), Summary: strings.Join(sum, "; ")}
}

// ForwardWarning returns the forward-window warning for an outbox whose
// oldest stored sale is age old, or "" when it is within the window.
func ForwardWarning(l Limits, ob Outbox, now time.Time) string {
	if ob.Count <= 0 {
		return ""
	}
	return forwardWarning(l, Age(now, ob.Oldest))
}

func forwardWarning(l Limits, age time.Duration) string {
	if age <= l.ForwardWindow {
		return ""
	}
	return fmt.Sprintf("%s: the oldest stored sale is %s old, past the %s forward window; stored sales expire at %s / 离线交易请尽快上送",
		LimitForwardWindow, FormatAge(age), FormatAge(l.ForwardWindow), FormatAge(l.HardStop))
}

// fits reports whether existing + add ≤ max without overflow, for
// non-negative existing and add.
func fits(existing, add, max int64) bool {
	return existing >= 0 && add >= 0 && existing <= max && add <= max-existing
}

// FormatAge formats a duration for a merchant, in the units the config
// uses: days and hours from seven days up ("8d3h"), hours and minutes
// below that ("72h", "5h30m"), minutes and seconds below an hour ("12m",
// "40s"), dropping zero parts and anything below the second.
func FormatAge(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign = "-"
		if d == math.MinInt64 {
			d = math.MaxInt64
		} else {
			d = -d
		}
	}
	const day = 24 * time.Hour
	days := d / day
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	s := (d % time.Minute) / time.Second
	var b strings.Builder
	b.WriteString(sign)
	switch {
	case days >= 7:
		fmt.Fprintf(&b, "%dd", days)
		if h := (d % day) / time.Hour; h > 0 {
			fmt.Fprintf(&b, "%dh", h)
		}
	case h > 0:
		fmt.Fprintf(&b, "%dh", h)
		if m > 0 {
			fmt.Fprintf(&b, "%dm", m)
		}
	case m > 0:
		fmt.Fprintf(&b, "%dm", m)
		if s > 0 {
			fmt.Fprintf(&b, "%ds", s)
		}
	default:
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
