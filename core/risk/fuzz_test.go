package risk_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

// fuzzTime turns a fuzzed int64 into a time: 0 is the zero time (never
// signed in, or an inconsistent outbox), anything else nanoseconds since
// the Unix epoch (years 1678..2262, both signs of a clock jump).
func fuzzTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// FuzzDecideOffline: DecideOffline never panics, and whenever it allows a
// sale every limit holds when checked again here, independently.
func FuzzDecideOffline(f *testing.F) {
	day := int64(24 * time.Hour)
	n := now.UnixNano()
	f.Add(true, int64(30000), int64(500000), int64(200), 1*day, 3*day, 7*day, uint8(3), n, int64(5000), "contactless", int64(3), int64(1000), n-day, n-day)
	f.Add(true, int64(30000), int64(500000), int64(200), 1*day, 3*day, 7*day, uint8(7), n, int64(5000), "qr", int64(0), int64(0), int64(0), n)
	f.Add(true, int64(30000), int64(30000), int64(1), 1*day, 3*day, 7*day, uint8(0), n, int64(30000), "keyed", int64(0), int64(0), int64(0), n-7*day)
	f.Add(true, int64(-1), int64(-1), int64(-1), int64(-1), int64(-1), int64(-1), uint8(255), int64(-1), int64(-1), "", int64(-1), int64(-1), int64(-1), int64(-1))
	f.Add(false, int64(30000), int64(500000), int64(200), 1*day, 3*day, 7*day, uint8(3), n, int64(5000), "contactless", int64(0), int64(0), int64(0), n)
	f.Add(true, money.MaxMinor, money.MaxMinor, int64(1<<31-1), 1*day, 3*day, 7*day, uint8(3), n, money.MaxMinor, "contactless", int64(1), money.MaxMinor, n+day, n+day)

	f.Fuzz(func(t *testing.T, enabled bool, maxAmount, maxTotal, maxCount, fw, hs, signinAge int64, modeBits uint8,
		nowNanos, amount int64, entry string, count, total, oldestNanos, signInNanos int64) {
		var modes []txn.EntryMode
		for i, m := range []txn.EntryMode{txn.Contactless, txn.Keyed, txn.QR, "swipe"} {
			if modeBits&(1<<i) != 0 {
				modes = append(modes, m)
			}
		}
		l := risk.Limits{Enabled: enabled, MaxAmount: maxAmount, MaxTotal: maxTotal, MaxCount: int(int32(maxCount)),
			ForwardWindow: time.Duration(fw), HardStop: time.Duration(hs), MaxSignInAge: time.Duration(signinAge), Modes: modes}
		at := fuzzTime(nowNanos)
		amt := cny(amount)
		em := txn.EntryMode(entry)
		ob := risk.Outbox{Count: int(int32(count)), Total: total, Oldest: fuzzTime(oldestNanos)}
		link := risk.Link{LastSignIn: fuzzTime(signInNanos)}

		d := risk.DecideOffline(l, at, amt, em, ob, link)
		pre := risk.PrecheckOffline(l, at, amt, ob, link)
		if d.Allowed && !pre.Allowed {
			t.Fatalf("DecideOffline allowed what PrecheckOffline refused: %+v vs %+v", d, pre)
		}
		for _, dec := range []risk.Decision{d, pre} {
			if dec.Allowed != (dec.Limit == "") || dec.Allowed != (dec.Reason == "") {
				t.Fatalf("inconsistent decision %+v", dec)
			}
		}
		if !d.Allowed {
			if !strings.HasPrefix(d.Limit, "offline.") && !strings.HasPrefix(d.Limit, "entry mode ") && d.Limit != risk.LimitAmountInvalid {
				t.Fatalf("refusal names no known limit: %+v", d)
			}
			return
		}

		// Allowed: recheck every limit by hand.
		effective := modes
		if len(effective) == 0 {
			effective = risk.DefaultModes
		}
		switch {
		case !enabled:
			t.Fatal("allowed while disabled")
		case em == txn.QR || !slices.Contains(effective, em):
			t.Fatalf("allowed entry mode %q with modes %v", em, modes)
		case amount <= 0 || amount > maxAmount:
			t.Fatalf("allowed amount %d with max %d", amount, maxAmount)
		case link.LastSignIn.IsZero() || risk.Age(at, link.LastSignIn) > l.MaxSignInAge:
			t.Fatalf("allowed with sign-in %v at %v, max age %v", link.LastSignIn, at, l.MaxSignInAge)
		case ob.Count < 0 || ob.Count+1 > l.MaxCount:
			t.Fatalf("allowed with %d stored, max %d", ob.Count, l.MaxCount)
		case total < 0 || total > maxTotal || amount > maxTotal-total:
			t.Fatalf("allowed %d on top of %d, max total %d", amount, total, maxTotal)
		case ob.Count > 0 && risk.Age(at, ob.Oldest) > l.HardStop:
			t.Fatalf("allowed with the oldest %v at %v, hard stop %v", ob.Oldest, at, l.HardStop)
		case ob.Count > 0 && risk.Age(at, ob.Oldest) > l.ForwardWindow && !strings.Contains(d.Warn, risk.LimitForwardWindow):
			t.Fatalf("past the forward window without a warning: %+v", d)
		}
	})
}

// FuzzCheckPayment: CheckPayment never panics, and a nil error means every
// limit holds.
func FuzzCheckPayment(f *testing.F) {
	f.Add(int64(100000), int64(500000), int64(50000), int64(20000), int64(0), int64(5000), "contactless", int64(0))
	f.Add(int64(0), int64(0), int64(0), int64(0), int64(0), money.MaxMinor, "keyed", money.MaxMinor)
	f.Add(int64(-1), int64(-1), int64(-1), int64(-1), int64(-1), int64(-1), "", int64(-1))
	f.Fuzz(func(t *testing.T, maxAmount, daily, mc, mk, mq, amount int64, entry string, today int64) {
		pl := risk.PaymentLimits{MaxAmount: maxAmount, DailyMax: daily,
			PerMode: map[txn.EntryMode]int64{txn.Contactless: mc, txn.Keyed: mk, txn.QR: mq}}
		err := risk.CheckPayment(pl, cny(amount), txn.EntryMode(entry), today)
		if err != nil {
			return
		}
		em := txn.EntryMode(entry)
		switch {
		case amount <= 0:
			t.Fatal("non-positive amount accepted")
		case maxAmount > 0 && amount > maxAmount:
			t.Fatalf("%d accepted over max %d", amount, maxAmount)
		case em != "" && pl.PerMode[em] > 0 && amount > pl.PerMode[em]:
			t.Fatalf("%d accepted over the %s max %d", amount, em, pl.PerMode[em])
		case daily > 0 && (today < 0 || today > daily || amount > daily-today):
			t.Fatalf("%d accepted on top of %d over daily %d", amount, today, daily)
		}
	})
}
