package risk_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// limits are the config defaults, enabled: 300.00 / 5000.00 CNY, 200
// sales, 24 h forward window, 72 h hard stop, 7 days since sign-in.
func limits() risk.Limits {
	o := config.Default().Offline
	o.Enabled = true
	return risk.FromConfig(o)
}

func cny(minor int64) money.Amount { return money.Amount{Minor: minor, Currency: money.CNY} }

var signedIn = risk.Link{LastSignIn: now.Add(-2 * time.Hour)}

func TestFromConfigDefaults(t *testing.T) {
	l := limits()
	want := risk.Limits{Enabled: true, MaxAmount: 30000, MaxTotal: 500000, MaxCount: 200,
		ForwardWindow: 24 * time.Hour, HardStop: 72 * time.Hour, MaxSignInAge: 168 * time.Hour,
		Modes: []txn.EntryMode{txn.Contactless, txn.Keyed}}
	if l.Enabled != want.Enabled || l.MaxAmount != want.MaxAmount || l.MaxTotal != want.MaxTotal || l.MaxCount != want.MaxCount ||
		l.ForwardWindow != want.ForwardWindow || l.HardStop != want.HardStop || l.MaxSignInAge != want.MaxSignInAge ||
		!slices.Equal(l.Modes, want.Modes) {
		t.Fatalf("FromConfig(defaults) = %+v, want %+v", l, want)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	// The modes are a copy: changing them does not change DefaultModes.
	l.Modes[0] = txn.QR
	if risk.DefaultModes[0] != txn.Contactless {
		t.Fatal("FromConfig shares DefaultModes")
	}
}

// TestDecideOffline covers every limit: the sale exactly at the limit is
// allowed, one minor unit (or one nanosecond, or one sale) past it is
// refused and names the limit.
func TestDecideOffline(t *testing.T) {
	l := limits()
	tests := []struct {
		name   string
		l      func(*risk.Limits)
		amount int64
		entry  txn.EntryMode
		ob     risk.Outbox
		link   risk.Link
		limit  string // "" = allowed
		reason string // substring of Reason (refused) or Warn (allowed)
	}{
		{"empty outbox", nil, 5000, txn.Contactless, risk.Outbox{}, signedIn, "", ""},
		{"keyed", nil, 5000, txn.Keyed, risk.Outbox{}, signedIn, "", ""},
		{"disabled", func(l *risk.Limits) { l.Enabled = false }, 5000, txn.Contactless, risk.Outbox{}, signedIn,
			risk.LimitEnabled, "not enabled / 未开通离线交易"},
		{"QR never", nil, 5000, txn.QR, risk.Outbox{}, signedIn, "entry mode qr", "QR payments are online only"},
		{"QR never, even when listed", func(l *risk.Limits) { l.Modes = []txn.EntryMode{txn.QR, txn.Contactless} }, 5000, txn.QR,
			risk.Outbox{}, signedIn, "entry mode qr", "online only"},
		{"keyed not listed", func(l *risk.Limits) { l.Modes = []txn.EntryMode{txn.Contactless} }, 5000, txn.Keyed,
			risk.Outbox{}, signedIn, "entry mode keyed", `"keyed" may not be taken offline`},
		{"unknown mode", nil, 5000, "swipe", risk.Outbox{}, signedIn, "entry mode swipe", "may not be taken offline"},
		{"empty modes mean defaults", func(l *risk.Limits) { l.Modes = nil }, 5000, txn.Keyed, risk.Outbox{}, signedIn, "", ""},
		{"zero amount", nil, 0, txn.Contactless, risk.Outbox{}, signedIn, risk.LimitAmountInvalid, "above zero"},
		{"negative amount", nil, -1, txn.Contactless, risk.Outbox{}, signedIn, risk.LimitAmountInvalid, "above zero"},

		{"never signed in", nil, 5000, txn.Contactless, risk.Outbox{}, risk.Link{}, risk.LimitSignInAge, "never signed in"},
		{"sign-in exactly at max age", nil, 5000, txn.Contactless, risk.Outbox{},
			risk.Link{LastSignIn: now.Add(-168 * time.Hour)}, "", ""},
		{"sign-in 1ns past max age", nil, 5000, txn.Contactless, risk.Outbox{},
			risk.Link{LastSignIn: now.Add(-168*time.Hour - 1)}, risk.LimitSignInAge, "last sign-in 7d ago, offline needs one within 7d"},
		{"sign-in 8 days ago", nil, 5000, txn.Contactless, risk.Outbox{},
			risk.Link{LastSignIn: now.Add(-195 * time.Hour)}, risk.LimitSignInAge, "8d3h ago"},

		{"count one below max", nil, 5000, txn.Contactless, risk.Outbox{Count: 199, Total: 10000, Oldest: now.Add(-time.Hour)}, signedIn, "", ""},
		{"count at max", nil, 5000, txn.Contactless, risk.Outbox{Count: 200, Total: 10000, Oldest: now.Add(-time.Hour)}, signedIn,
			risk.LimitCount, "200 sales already stored offline, the limit is 200"},
		{"negative count", nil, 5000, txn.Contactless, risk.Outbox{Count: -1}, signedIn, risk.LimitCount, "invalid"},

		{"amount at max", nil, 30000, txn.Contactless, risk.Outbox{}, signedIn, "", ""},
		{"amount one fen over", nil, 30001, txn.Contactless, risk.Outbox{}, signedIn,
			risk.LimitAmount, "300.01 CNY is above the offline maximum of 300.00 CNY / 超过离线单笔限额"},

		{"total exactly at max", nil, 30000, txn.Contactless, risk.Outbox{Count: 3, Total: 470000, Oldest: now.Add(-time.Hour)}, signedIn, "", ""},
		{"total one fen over", nil, 30000, txn.Contactless, risk.Outbox{Count: 3, Total: 470001, Oldest: now.Add(-time.Hour)}, signedIn,
			risk.LimitTotal, "stored 4700.01 CNY + 300.00 CNY would pass the offline total of 5000.00 CNY"},
		{"total already past max", nil, 1, txn.Contactless, risk.Outbox{Count: 3, Total: math.MaxInt64, Oldest: now.Add(-time.Hour)}, signedIn,
			risk.LimitTotal, "would pass"},
		{"negative total", nil, 1, txn.Contactless, risk.Outbox{Count: 1, Total: -5, Oldest: now}, signedIn, risk.LimitCount, "invalid"},

		{"oldest exactly at hard stop", nil, 5000, txn.Contactless, risk.Outbox{Count: 1, Total: 100, Oldest: now.Add(-72 * time.Hour)}, signedIn,
			"", "offline.forward_window: the oldest stored sale is 72h old, past the 24h forward window"},
		{"oldest 1ns past hard stop", nil, 5000, txn.Contactless, risk.Outbox{Count: 1, Total: 100, Oldest: now.Add(-72*time.Hour - 1)}, signedIn,
			risk.LimitHardStop, "past the 72h hard stop"},
		{"oldest exactly at forward window: no warning", nil, 5000, txn.Contactless,
			risk.Outbox{Count: 1, Total: 100, Oldest: now.Add(-24 * time.Hour)}, signedIn, "", ""},
		{"oldest past forward window: allowed, warned", nil, 5000, txn.Contactless,
			risk.Outbox{Count: 1, Total: 100, Oldest: now.Add(-30 * time.Hour)}, signedIn, "", "30h old, past the 24h forward window"},
		{"zero oldest with a count is infinitely old", nil, 5000, txn.Contactless, risk.Outbox{Count: 1, Total: 100}, signedIn,
			risk.LimitHardStop, "hard stop"},
		{"oldest ignored when empty", nil, 5000, txn.Contactless, risk.Outbox{Oldest: now.Add(-1000 * time.Hour)}, signedIn, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := l
			lim.Modes = slices.Clone(l.Modes)
			if tc.l != nil {
				tc.l(&lim)
			}
			d := risk.DecideOffline(lim, now, cny(tc.amount), tc.entry, tc.ob, tc.link)
			if tc.limit == "" {
				if !d.Allowed || d.Limit != "" || d.Reason != "" {
					t.Fatalf("decision = %+v, want allowed", d)
				}
				if tc.reason == "" && d.Warn != "" {
					t.Fatalf("unexpected warning %q", d.Warn)
				}
				if !strings.Contains(d.Warn, tc.reason) {
					t.Fatalf("Warn = %q, want it to contain %q", d.Warn, tc.reason)
				}
				if d.Summary == "" {
					t.Fatal("an allowed decision has no summary for the journal")
				}
				return
			}
			if d.Allowed || d.Limit != tc.limit {
				t.Fatalf("decision = %+v, want refused by %s", d, tc.limit)
			}
			if !strings.Contains(d.Reason, tc.reason) || !strings.Contains(d.Reason, " / ") {
				t.Fatalf("Reason = %q, want it to contain %q and a Chinese part", d.Reason, tc.reason)
			}
		})
	}
}

// TestDecideOfflineOrder: with every limit broken at once, the first in
// the documented order is the one named; fixing it reveals the next.
func TestDecideOfflineOrder(t *testing.T) {
	l := limits()
	l.Enabled = false
	l.Modes = []txn.EntryMode{txn.Contactless}
	entry := txn.Keyed
	link := risk.Link{}
	ob := risk.Outbox{Count: 200, Total: 499999, Oldest: now.Add(-100 * time.Hour)}
	amount := cny(30001)
	fixes := []struct {
		limit string
		fix   func()
	}{
		{risk.LimitEnabled, func() { l.Enabled = true }},
		{"entry mode keyed", func() { entry = txn.Contactless }},
		{risk.LimitSignInAge, func() { link = signedIn }},
		{risk.LimitCount, func() { ob.Count = 5 }},
		{risk.LimitAmount, func() { amount = cny(2) }},
		{risk.LimitTotal, func() { ob.Total = 100 }},
		{risk.LimitHardStop, func() { ob.Oldest = now.Add(-time.Hour) }},
	}
	for _, f := range fixes {
		d := risk.DecideOffline(l, now, amount, entry, ob, link)
		if d.Allowed || d.Limit != f.limit {
			t.Fatalf("decision = %+v, want refused by %s", d, f.limit)
		}
		f.fix()
	}
	if d := risk.DecideOffline(l, now, amount, entry, ob, link); !d.Allowed {
		t.Fatalf("all fixed: %+v", d)
	}
}

// TestTimeJumps: a stored time in the future counts as age 0 and warns; a
// far-past one (a forward jump) can only refuse; neither changes anything
// but this one decision.
func TestTimeJumps(t *testing.T) {
	l := limits()
	ob := risk.Outbox{Count: 2, Total: 1000, Oldest: now.Add(-time.Hour)}

	t.Run("clock went back: oldest in the future", func(t *testing.T) {
		back := now.Add(-10 * 24 * time.Hour) // the clock now reads 10 days earlier
		link := risk.Link{LastSignIn: now.Add(-time.Hour)}
		d := risk.DecideOffline(l, back, cny(100), txn.Contactless, ob, link)
		if !d.Allowed {
			t.Fatalf("decision = %+v", d)
		}
		for _, w := range []string{"oldest stored sale is dated 2025-06-01T11:00:00Z, in the future: check the terminal clock",
			"last sign-in 2025-06-01T11:00:00Z is in the future"} {
			if !strings.Contains(d.Warn, w) {
				t.Errorf("Warn = %q, want %q", d.Warn, w)
			}
		}
		if !strings.Contains(d.Summary, "oldest 0s ≤ 72h") || !strings.Contains(d.Summary, "sign-in 0s ago") {
			t.Errorf("Summary = %q: a future time must count as age 0", d.Summary)
		}
	})
	t.Run("clock jumped forward: refused, not latched", func(t *testing.T) {
		ahead := now.Add(5 * 365 * 24 * time.Hour)
		link := risk.Link{LastSignIn: now.Add(-time.Hour)}
		d := risk.DecideOffline(l, ahead, cny(100), txn.Contactless, ob, link)
		if d.Allowed || d.Limit != risk.LimitSignInAge {
			t.Fatalf("decision = %+v, want refused by the sign-in age", d)
		}
		link.LastSignIn = ahead // signed in again after the jump
		d = risk.DecideOffline(l, ahead, cny(100), txn.Contactless, ob, link)
		if d.Allowed || d.Limit != risk.LimitHardStop {
			t.Fatalf("decision = %+v, want refused by the hard stop", d)
		}
		// The clock is corrected: the same inputs are allowed again.
		link.LastSignIn = now.Add(-time.Hour)
		if d := risk.DecideOffline(l, now, cny(100), txn.Contactless, ob, link); !d.Allowed {
			t.Fatalf("after the correction: %+v", d)
		}
	})
	t.Run("extreme times do not overflow", func(t *testing.T) {
		far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		zero := time.Time{}
		for _, tc := range []struct{ now, oldest time.Time }{{far, zero}, {zero, far}, {far, far}, {zero, zero}} {
			d := risk.DecideOffline(l, tc.now, cny(100), txn.Contactless,
				risk.Outbox{Count: 1, Total: 1, Oldest: tc.oldest}, risk.Link{LastSignIn: tc.now})
			if d.Allowed && risk.Age(tc.now, tc.oldest) > l.HardStop {
				t.Fatalf("now %v oldest %v: allowed past the hard stop", tc.now, tc.oldest)
			}
		}
	})
}

func TestAgeAndExpired(t *testing.T) {
	l := limits()
	tests := []struct {
		then    time.Time
		age     time.Duration
		expired bool
	}{
		{now, 0, false},
		{now.Add(time.Hour), 0, false}, // future: age 0, never "younger than new"
		{now.Add(-72 * time.Hour), 72 * time.Hour, false},
		{now.Add(-72*time.Hour - time.Nanosecond), 72*time.Hour + time.Nanosecond, true},
		{time.Time{}, math.MaxInt64, true}, // saturates
	}
	for _, tc := range tests {
		if got := risk.Age(now, tc.then); got != tc.age {
			t.Errorf("Age(now, %v) = %v, want %v", tc.then, got, tc.age)
		}
		if got := risk.Expired(l, now, tc.then); got != tc.expired {
			t.Errorf("Expired(now, %v) = %v, want %v", tc.then, got, tc.expired)
		}
	}
}

func TestPrecheckOffline(t *testing.T) {
	l := limits()
	// The entry mode is not looked at; everything else is.
	if d := risk.PrecheckOffline(l, now, cny(30000), risk.Outbox{}, signedIn); !d.Allowed {
		t.Fatalf("precheck = %+v", d)
	}
	if d := risk.PrecheckOffline(l, now, cny(30001), risk.Outbox{}, signedIn); d.Allowed || d.Limit != risk.LimitAmount {
		t.Fatalf("precheck over max = %+v", d)
	}
	if d := risk.PrecheckOffline(l, now, cny(100), risk.Outbox{}, risk.Link{}); d.Allowed || d.Limit != risk.LimitSignInAge {
		t.Fatalf("precheck never signed in = %+v", d)
	}
}

func TestForwardWarning(t *testing.T) {
	l := limits()
	if w := risk.ForwardWarning(l, risk.Outbox{}, now); w != "" {
		t.Fatalf("empty outbox: %q", w)
	}
	if w := risk.ForwardWarning(l, risk.Outbox{Count: 1, Oldest: now.Add(-24 * time.Hour)}, now); w != "" {
		t.Fatalf("at the window: %q", w)
	}
	w := risk.ForwardWarning(l, risk.Outbox{Count: 1, Oldest: now.Add(-25*time.Hour - 30*time.Minute)}, now)
	if !strings.HasPrefix(w, "offline.forward_window: the oldest stored sale is 25h30m old") || !strings.Contains(w, "expire at 72h") {
		t.Fatalf("warning = %q", w)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		l    func(*risk.Limits)
		want string // "" = valid
	}{
		{"defaults", nil, ""},
		{"disabled zero", func(l *risk.Limits) { *l = risk.Limits{} }, ""},
		{"enabled zero amount", func(l *risk.Limits) { l.MaxAmount = 0 }, "Offline.MaxAmount must be above 0"},
		{"enabled zero count", func(l *risk.Limits) { l.MaxCount = 0 }, "Offline.MaxCount must be at least 1"},
		{"negative count", func(l *risk.Limits) { l.Enabled = false; l.MaxCount = -1 }, "Offline.MaxCount -1 is negative"},
		{"total below amount", func(l *risk.Limits) { l.MaxTotal = 100 }, "Offline.MaxTotal 100 is below Offline.MaxAmount 30000"},
		{"amount above field 4", func(l *risk.Limits) { l.MaxAmount = money.MaxMinor + 1 }, "Offline.MaxAmount 1000000000000 is outside"},
		{"zero hard stop", func(l *risk.Limits) { l.HardStop = 0 }, "Offline.HardStop must be above zero"},
		{"negative sign-in age", func(l *risk.Limits) { l.MaxSignInAge = -1 }, "Offline.MaxSignInAge -1ns is negative"},
		{"window past hard stop", func(l *risk.Limits) { l.ForwardWindow = 73 * time.Hour }, "Offline.ForwardWindow 73h0m0s is longer than Offline.HardStop 72h0m0s"},
		{"QR listed", func(l *risk.Limits) { l.Modes = []txn.EntryMode{txn.Contactless, txn.QR} }, "Offline.Modes[1]: QR payments are online only"},
		{"bad mode", func(l *risk.Limits) { l.Modes = []txn.EntryMode{"swipe"} }, `Offline.Modes[0] "swipe" is not an entry mode`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := limits()
			if tc.l != nil {
				tc.l(&l)
			}
			err := l.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, risk.ErrInvalidLimits) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidLimits with %q", err, tc.want)
			}
		})
	}
}

func TestAllowsMode(t *testing.T) {
	l := limits()
	for m, want := range map[txn.EntryMode]bool{txn.Contactless: true, txn.Keyed: true, txn.QR: false, "": false, "swipe": false} {
		if got := l.AllowsMode(m); got != want {
			t.Errorf("AllowsMode(%q) = %v", m, got)
		}
	}
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                "0s",
		40 * time.Second:                 "40s",
		12*time.Minute + 5*time.Second:   "12m5s",
		time.Hour:                        "1h",
		5*time.Hour + 30*time.Minute:     "5h30m",
		72 * time.Hour:                   "72h",
		168 * time.Hour:                  "7d",
		195*time.Hour + 10*time.Minute:   "8d3h",
		-90 * time.Second:                "-1m30s",
		math.MinInt64:                    "-106751d23h",
		time.Hour + 500*time.Millisecond: "1h",
	} {
		if got := risk.FormatAge(d); got != want {
			t.Errorf("FormatAge(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCheckPayment(t *testing.T) {
	pl := risk.PaymentFromConfig(config.Payment{MaxAmountMinor: 100000, DailyMaxMinor: 500000,
		MaxContactlessMinor: 50000, MaxKeyedMinor: 20000})
	if len(pl.PerMode) != 2 || pl.PerMode[txn.QR] != 0 {
		t.Fatalf("PerMode = %v: a zero maximum is no limit and is left out", pl.PerMode)
	}
	tests := []struct {
		name   string
		amount int64
		entry  txn.EntryMode
		today  int64
		limit  string // "" = allowed
		reason string
	}{
		{"small", 100, txn.Contactless, 0, "", ""},
		{"at max", 100000, txn.QR, 0, "", ""},
		{"one fen over max", 100001, txn.QR, 0, risk.LimitPaymentMax, "1000.01 CNY is above the per-transaction maximum of 1000.00 CNY"},
		{"entry unknown yet: mode skipped", 90000, "", 0, "", ""},
		{"contactless at its max", 50000, txn.Contactless, 0, "", ""},
		{"contactless over its max", 50001, txn.Contactless, 0, "payment.max_contactless", "500.01 CNY is above the contactless maximum of 500.00 CNY"},
		{"keyed over its max", 20001, txn.Keyed, 0, "payment.max_keyed", "keyed maximum of 200.00 CNY"},
		{"qr has no mode max", 90000, txn.QR, 0, "", ""},
		{"daily exactly at max", 100000, txn.QR, 400000, "", ""},
		{"daily one fen over", 100000, txn.QR, 400001, risk.LimitDailyMax, "today's 4000.01 CNY + 1000.00 CNY would pass the daily maximum of 5000.00 CNY"},
		{"daily checked before the read", 100, "", 499950, risk.LimitDailyMax, "daily maximum"},
		{"negative today", 100, "", -1, risk.LimitDailyMax, "daily maximum"},
		{"zero amount", 0, txn.QR, 0, risk.LimitAmountInvalid, "above zero"},
		{"max checked before mode", 100001, txn.Keyed, 0, risk.LimitPaymentMax, "per-transaction"},
		{"mode checked before daily", 20001, txn.Keyed, 499999, "payment.max_keyed", "keyed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := risk.CheckPayment(pl, cny(tc.amount), tc.entry, tc.today)
			if tc.limit == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var le *risk.LimitError
			if !errors.Is(err, risk.ErrLimit) || !errors.As(err, &le) || le.Limit != tc.limit {
				t.Fatalf("err = %v, want a LimitError for %s", err, tc.limit)
			}
			if !strings.Contains(err.Error(), tc.limit+": ") || !strings.Contains(le.Reason, tc.reason) || !strings.Contains(le.Reason, " / ") {
				t.Fatalf("err = %q, want %q", err, tc.reason)
			}
		})
	}
	// No limits at all: anything up to field 4 passes.
	if err := risk.CheckPayment(risk.PaymentLimits{}, cny(money.MaxMinor), txn.Keyed, money.MaxMinor); err != nil {
		t.Fatal(err)
	}
}

func TestPaymentLimitsValidate(t *testing.T) {
	if err := (risk.PaymentLimits{MaxAmount: 1, DailyMax: money.MaxMinor, PerMode: map[txn.EntryMode]int64{txn.QR: 5}}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := risk.PaymentLimits{MaxAmount: -1, DailyMax: money.MaxMinor + 1, PerMode: map[txn.EntryMode]int64{"swipe": 1, txn.Keyed: -2}}.Validate()
	for _, want := range []string{"Limits.MaxAmount -1", "Limits.DailyMax 1000000000000", `Limits.PerMode["swipe"] is not an entry mode`, "Limits.PerMode[keyed] -2"} {
		if !errors.Is(err, risk.ErrInvalidLimits) || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}

func BenchmarkDecideOffline(b *testing.B) {
	l := limits()
	ob := risk.Outbox{Count: 12, Total: 123456, Oldest: now.Add(-30 * time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if d := risk.DecideOffline(l, now, cny(5000), txn.Contactless, ob, signedIn); !d.Allowed {
			b.Fatal(d)
		}
	}
}
