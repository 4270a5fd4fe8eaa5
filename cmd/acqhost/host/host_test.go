package host

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/iso8583"
)

var (
	reRRN  = regexp.MustCompile(`^[0-9]{12}$`)
	reAuth = regexp.MustCompile(`^[0-9]{6}$`)
)

func TestSignInKeysDecryptUnderTMK(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	a := c.signIn()

	if got := get(a, 60); got != "00000001004" {
		t.Errorf("F60 %q, want 00 + batch 000001 + 004", got)
	}
	if got := get(a, 12) + "/" + get(a, 13); got != "092653/0314" {
		t.Errorf("F12/F13 %s, want the host clock 092653/0314", got)
	}
	if !reRRN.MatchString(get(a, 37)) {
		t.Errorf("F37 %q is not 12 digits", get(a, 37))
	}
	if a.Has(64) {
		t.Error("sign-in answer carries a MAC")
	}
	// Field 62 by hand: three 16-byte cryptograms, each with its KCV.
	f62, _ := a.GetBytes(62)
	if len(f62) != 60 {
		t.Fatalf("F62 is %d bytes, want 60", len(f62))
	}
	tmk := mustHex(testTMKHex)
	var keys [][]byte
	for i, name := range []string{"PIK", "MAK", "TDK"} {
		enc, kcv := f62[i*20:i*20+16], f62[i*20+16:i*20+20]
		k, err := iso8583.DecryptWorkingKey(tmk, enc, kcv)
		if err != nil {
			t.Fatalf("%s does not decrypt under the TMK with its KCV: %v", name, err)
		}
		want, _ := iso8583.KCV(k)
		if !bytes.Equal(want, kcv) {
			t.Errorf("%s KCV %X, want %X", name, kcv, want)
		}
		keys = append(keys, k)
	}
	if bytes.Equal(keys[0], keys[1]) || bytes.Equal(keys[1], keys[2]) || bytes.Equal(keys[1][:8], keys[1][8:]) {
		t.Error("working keys are not distinct random double-length keys")
	}
	// A second sign-in issues fresh keys.
	old := c.keys.MAK
	c.signIn()
	if bytes.Equal(old, c.keys.MAK) {
		t.Error("second sign-in returned the same MAK")
	}
	// Under the wrong TMK the check values fail.
	if _, err := iso8583.ParseSignInKeys(f62, mustHex(tmk2Hex)); err == nil {
		t.Error("keys decrypt under another terminal's TMK")
	}
}

func TestSaleApprovedWithMAC(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	req := c.sale(1234, panCUP)
	a := c.call(req, true) // call verifies the answer's MAC
	if !a.Has(64) {
		t.Fatal("approved answer has no MAC")
	}
	want := map[int]string{3: "000000", 4: "000000001234", 12: "092653", 13: "0314", 15: "0314",
		25: "00", 32: "12345678", 39: "00", 41: testTID, 42: testMID, 49: "156", 60: get(req, 60), 63: "CUP"}
	for n, v := range want {
		if got := get(a, n); got != v {
			t.Errorf("F%d %q, want %q", n, got, v)
		}
	}
	if !reRRN.MatchString(get(a, 37)) || !reAuth.MatchString(get(a, 38)) {
		t.Errorf("F37 %q / F38 %q: want 12 / 6 digits", get(a, 37), get(a, 38))
	}
	for _, n := range []int{2, 35, 55, 62} {
		if a.Has(n) {
			t.Errorf("answer echoes card data field %d", n)
		}
	}
	tx := txnOf(t, h.s, testTID, get(req, 11), ClassFinancial)
	if tx.State != StateApproved || tx.RC != "00" || tx.MaskedPAN != "621234******1232" || !tx.Domestic ||
		tx.Amount != 1234 || tx.RRN != get(a, 37) || tx.AuthCode != get(a, 38) || tx.Kind != KindSale {
		t.Errorf("recorded %+v", tx)
	}
	// A second sale gets another RRN.
	a2 := c.call(c.sale(100, panCUP), true)
	if get(a2, 37) == get(a, 37) {
		t.Error("two sales share an RRN")
	}
	if strings.Contains(h.logs.String(), panCUP) {
		t.Error("the log holds a full PAN")
	}
}

func TestTestRules(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	cases := []struct {
		name   string
		req    *iso8583.Message
		rc     string
		org    string
		domest bool
	}{
		{"amount 51", c.sale(10051, panCUP), "51", "CUP", true},
		{"amount 05", c.sale(10005, panCUP), "05", "CUP", true},
		{"amount 14", c.sale(10014, panCUP), "14", "CUP", true},
		{"amount 96", c.sale(10096, panCUP), "96", "CUP", true},
		{"amount 91", c.sale(10091, panCUP), "91", "CUP", true},
		{"amount 5 (ends in 05)", c.sale(5, panCUP), "05", "CUP", true},
		{"amount 00", c.sale(10000, panCUP), "00", "CUP", true},
		{"amount 50", c.sale(10050, panCUP), "00", "CUP", true},
		{"Luhn fails", c.sale(10000, panNoLuh), "14", "CUP", true},
		{"Visa", c.sale(2000, panVisa), "00", "VIS", false},
		{"Mastercard", c.sale(2000, panMC), "00", "MCC", false},
		{"QR WeChat", c.qrSale(100, "134512345678901234"), "00", "WXP", true},
		{"QR Alipay ends 05", c.qrSale(100, "281234567890123405"), "05", "ALP", true},
		{"QR UnionPay ends 51", c.qrSale(100, "6212345678901234551"), "51", "UPQ", true},
		{"QR ends 14", c.qrSale(100, "134512345678901214"), "14", "WXP", true},
		{"QR ends 96", c.qrSale(100, "134512345678901296"), "96", "WXP", true},
		{"QR ends 91", c.qrSale(100, "134512345678901291"), "91", "WXP", true},
		{"QR amount rule first", c.qrSale(151, "134512345678901200"), "51", "WXP", true},
		{"QR unknown prefix", c.qrSale(100, "994512345678901200"), "14", "", true},
		{"QR not digits", c.qrSale(100, "13451234567890ABCD"), "14", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := c.call(tc.req, true)
			if got := get(a, 39); got != tc.rc {
				t.Fatalf("F39 %s, want %s", got, tc.rc)
			}
			if got := get(a, 63); got != tc.org {
				t.Errorf("F63 %q, want %q", got, tc.org)
			}
			if (tc.rc == "00") != a.Has(38) {
				t.Errorf("F38 present %v with F39 %s", a.Has(38), tc.rc)
			}
			tx := txnOf(t, h.s, testTID, get(tc.req, 11), ClassFinancial)
			wantState := StateDeclined
			if tc.rc == "00" {
				wantState = StateApproved
			}
			if tx.State != wantState || tx.RC != tc.rc || tx.Domestic != tc.domest {
				t.Errorf("recorded state %s rc %s domestic %v", tx.State, tx.RC, tx.Domestic)
			}
			if tx.Kind == KindQRSale && strings.Contains(tx.MaskedPAN, "5678901") {
				t.Errorf("payment code stored unmasked: %s", tx.MaskedPAN)
			}
		})
	}
}

func TestAmount98NoAnswer(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	silent := c.sale(1298, panCUP)
	c.send(silent, true)
	qr := c.qrSale(100, "134512345678901298")
	c.send(qr, true)
	// The next request is answered, and it is the next frame that comes.
	next := c.sale(1200, panCUP)
	if a := c.call(next, true); get(a, 39) != "00" {
		t.Fatalf("F39 %s", get(a, 39))
	}
	waitFor(t, "two unanswered requests", func() bool { st, _ := h.s.Stats(); return st.NoAnswer == 2 })
	c.expectSilence(100 * time.Millisecond)

	// The host approved and recorded it: the terminal's reversal undoes it.
	tx := txnOf(t, h.s, testTID, get(silent, 11), ClassFinancial)
	if tx.State != StateApproved || !tx.NoAnswer {
		t.Fatalf("98 sale recorded as %s (no answer %v)", tx.State, tx.NoAnswer)
	}
	// A retransmission stays unanswered too.
	c.send(silent, true)
	waitFor(t, "the repeat to be seen", func() bool { st, _ := h.s.Stats(); return st.Repeats == 1 })
	if a := c.call(reversal(silent), true); get(a, 39) != "00" {
		t.Fatalf("reversal F39 %s", get(a, 39))
	}
	if tx := txnOf(t, h.s, testTID, get(silent, 11), ClassFinancial); tx.State != StateReversed {
		t.Errorf("after reversal: %s", tx.State)
	}

	// With the rule off, 98 is an ordinary approval.
	f := h.s.Faults()
	f.NoAnswer98 = false
	h.s.SetFaults(f)
	if a := c.call(c.sale(2298, panCUP), true); get(a, 39) != "00" {
		t.Fatalf("rule off: F39 %s", get(a, 39))
	}
}

// waitFor polls cond (the host works concurrently with the test client).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestBadMACAnsweredA0WithoutMAC(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	writes := h.s.store.writes.Load()

	wrong, _ := iso8583.NewMAC(iso8583.MACUnionPayECB, mustHex("0102030405060708"))
	good := c.mac
	c.mac = wrong
	req := c.sale(1000, panCUP)
	c.send(req, true)
	c.mac = good
	a, err := c.recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if get(a, 39) != "A0" || a.Has(64) || get(a, 11) != get(req, 11) || a.MTI != "0210" {
		t.Fatalf("answer %s F39 %s MAC %v", a.MTI, get(a, 39), a.Has(64))
	}
	// No MAC at all.
	a = c.call(c.sale(1000, panCUP), false)
	if get(a, 39) != "A0" || a.Has(64) {
		t.Fatalf("no-MAC request: F39 %s", get(a, 39))
	}
	// A terminal that never signed in cannot be checked.
	c2 := c.as(tid2, mid2, tmk2Hex)
	c2.mac = good
	if a := c2.call(c2.sale(1000, panCUP), true); get(a, 39) != "A0" {
		t.Fatalf("not signed in: F39 %s", get(a, 39))
	}
	if got := h.s.store.writes.Load(); got != writes {
		t.Errorf("bad MACs wrote to the store (%d commits)", got-writes)
	}
	if ts, _ := h.s.Transactions(""); len(ts) != 0 {
		t.Errorf("%d transactions recorded", len(ts))
	}
	if st, _ := h.s.Stats(); st.BadMAC != 3 {
		t.Errorf("bad MAC count %d, want 3", st.BadMAC)
	}
}

func TestRepeatedSaleAnsweredOnceCountedOnce(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	req := c.sale(1500, panCUP)
	a1 := c.call(req, true)
	a2 := c.call(req, true)
	for _, n := range []int{37, 38, 39, 12, 13, 15} {
		if get(a1, n) != get(a2, n) {
			t.Errorf("F%d: first %q, repeat %q", n, get(a1, n), get(a2, n))
		}
	}
	// Two copies in flight at once: one decision.
	req2 := c.sale(1600, panCUP)
	c.send(req2, true)
	c.send(req2, true)
	b1, err1 := c.recv(5 * time.Second)
	b2, err2 := c.recv(5 * time.Second)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if get(b1, 37) != get(b2, 37) || get(b1, 38) != get(b2, 38) {
		t.Errorf("concurrent copies answered differently: %s/%s", get(b1, 37), get(b2, 37))
	}
	ts, _ := h.s.Transactions(testTID)
	if len(ts) != 2 || ts[0].Repeats != 1 || ts[1].Repeats != 1 {
		t.Fatalf("recorded %d transactions (repeats %v)", len(ts), ts)
	}
	// The STAN reused for a different amount is not a repeat: 94, not recorded.
	other := req.Clone()
	other.Set(4, "000000009999")
	if a := c.call(other, true); get(a, 39) != "94" {
		t.Errorf("reused STAN: F39 %s, want 94", get(a, 39))
	}
	// Settlement counts each once.
	a := c.call(c.settle(Totals{DebitAmount: 3100, DebitCount: 2}, Totals{}), true)
	if d := get(a, 48); d[30] != '1' || d[61] != '1' {
		t.Errorf("settlement F48 %s: not balanced", d)
	}
}

func TestReversalUndoesOnceAnd0401Repeat(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	sale := c.sale(2500, panCUP)
	c.call(sale, true)
	rev := reversal(sale)
	a1 := c.call(rev, true)
	if get(a1, 39) != "00" {
		t.Fatalf("reversal F39 %s", get(a1, 39))
	}
	for _, n := range []int{2, 4, 37, 38} {
		if a1.Has(n) {
			t.Errorf("reversal answer has F%d", n)
		}
	}
	rep := rev.Clone()
	rep.MTI = "0401"
	a2 := c.call(rep, true)
	if a2.MTI != "0410" || get(a2, 39) != "00" {
		t.Fatalf("0401 answered %s F39 %s", a2.MTI, get(a2, 39))
	}
	if tx := txnOf(t, h.s, testTID, get(sale, 11), ClassFinancial); tx.State != StateReversed {
		t.Errorf("sale %s after reversal", tx.State)
	}
	r := txnOf(t, h.s, testTID, get(sale, 11), ClassReversal)
	if r.State != StateReversalApplied || r.Repeats != 1 || r.Amount != 2500 || r.MaskedPAN == "" {
		t.Errorf("reversal recorded %+v", r)
	}
	// A reversal of a declined sale changes nothing.
	dec := c.sale(3051, panCUP)
	c.call(dec, true)
	if a := c.call(reversal(dec), true); get(a, 39) != "00" {
		t.Fatalf("reversal of declined: F39 %s", get(a, 39))
	}
	if r := txnOf(t, h.s, testTID, get(dec, 11), ClassReversal); r.State != StateReversalNoop {
		t.Errorf("reversal of declined: %s", r.State)
	}
	// Nothing left in the batch.
	a := c.call(c.settle(Totals{}, Totals{}), true)
	if d := get(a, 48); d[30] != '1' {
		t.Errorf("settlement after reversal F48 %s", d)
	}
}

func TestReversalOfUnknownRecordedAndLateOriginalRefused(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	sale := c.sale(4000, panCUP) // never sent before its reversal
	if a := c.call(reversal(sale), true); get(a, 39) != "00" {
		t.Fatalf("reversal of unknown: F39 %s", get(a, 39))
	}
	r := txnOf(t, h.s, testTID, get(sale, 11), ClassReversal)
	if r.State != StateReversalUnknown || r.Amount != 4000 {
		t.Errorf("recorded %+v", r)
	}
	// The original, late, must not take money.
	a := c.call(sale, true)
	if get(a, 39) != "12" || a.Has(38) {
		t.Fatalf("late original F39 %s", get(a, 39))
	}
	if tx := txnOf(t, h.s, testTID, get(sale, 11), ClassFinancial); tx.State != StateReversed {
		t.Errorf("late original recorded %s", tx.State)
	}
	a = c.call(c.settle(Totals{}, Totals{}), true)
	if d := get(a, 48); d[30] != '1' {
		t.Errorf("F48 %s", d)
	}
}

func TestOfflineAdviceAndRepeatCountedOnce(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	adv := c.offline(700, panCUP)
	adv.Set(38, "Y1A2B3")
	a1 := c.call(adv, true)
	want := []int{11, 37, 38, 39, 41, 42, 64}
	if got := a1.Numbers(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offline answer fields %v, want %v", got, want)
	}
	if get(a1, 39) != "00" || get(a1, 38) != "Y1A2B3" {
		t.Errorf("F39 %s F38 %s", get(a1, 39), get(a1, 38))
	}
	rep := adv.Clone()
	rep.MTI = "0221"
	a2 := c.call(rep, true)
	if a2.MTI != "0230" || get(a2, 37) != get(a1, 37) {
		t.Errorf("0221 answered %s RRN %s, want 0230 %s", a2.MTI, get(a2, 37), get(a1, 37))
	}
	tx := txnOf(t, h.s, testTID, get(adv, 11), ClassAdvice)
	if tx.State != StateOfflineApproved || tx.Repeats != 1 || tx.MTI != "0220" {
		t.Errorf("recorded %+v", tx)
	}
	// A declined advice (amount rule) is a visible decline.
	if a := c.call(c.offline(751, panCUP), true); get(a, 39) != "51" {
		t.Errorf("offline 51: F39 %s", get(a, 39))
	}
	a := c.call(c.settle(Totals{DebitAmount: 700, DebitCount: 1}, Totals{}), true)
	if d := get(a, 48); d[30] != '1' {
		t.Errorf("settlement F48 %s", d)
	}
}

func TestVoidRefundAndTheirReversals(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	s1 := c.sale(1000, panCUP)
	a1 := c.call(s1, true)
	v := c.void(s1, a1)
	if a := c.call(v, true); get(a, 39) != "00" || get(a, 3) != "200000" {
		t.Fatalf("void F39 %s F3 %s", get(a, 39), get(a, 3))
	}
	if tx := txnOf(t, h.s, testTID, get(s1, 11), ClassFinancial); tx.State != StateVoided {
		t.Errorf("sale after void: %s", tx.State)
	}
	// Voiding again: 12. Voiding nothing: 25.
	if a := c.call(c.void(s1, a1), true); get(a, 39) != "12" {
		t.Errorf("second void F39 %s", get(a, 39))
	}
	ghost := c.sale(1000, panCUP)
	if a := c.call(c.void(ghost, a1), true); get(a, 39) != "25" {
		t.Errorf("void of unknown F39 %s", get(a, 39))
	}
	// Reversing the void gives the sale back.
	if a := c.call(reversal(v), true); get(a, 39) != "00" {
		t.Fatal("reversal of void")
	}
	if tx := txnOf(t, h.s, testTID, get(s1, 11), ClassFinancial); tx.State != StateApproved {
		t.Errorf("sale after void reversed: %s", tx.State)
	}
	// Refunds: partial, then too much.
	s2 := c.sale(2000, panVisa)
	a2 := c.call(s2, true)
	r1 := c.refund(s2, a2, 500)
	if a := c.call(r1, true); get(a, 39) != "00" || a.MTI != "0230" {
		t.Fatalf("refund %s F39 %s", a.MTI, get(a, 39))
	}
	if a := c.call(c.refund(s2, a2, 1600), true); get(a, 39) != "13" {
		t.Errorf("refund over the rest: F39 %s", get(a, 39))
	}
	if tx := txnOf(t, h.s, testTID, get(r1, 11), ClassAdvice); tx.Orig == nil || tx.Orig.Date != "0314" || tx.Domestic {
		t.Errorf("refund recorded %+v", tx)
	}
	// Domestic: s1 1000; foreign: s2 2000 debit, 500 credit.
	a := c.call(c.settle(Totals{DebitAmount: 1000, DebitCount: 1}, Totals{DebitAmount: 2000, DebitCount: 1, CreditAmount: 500, CreditCount: 1}), true)
	if d := get(a, 48); d[30] != '1' || d[61] != '1' {
		t.Errorf("F48 %s", d)
	}
}

func TestSettlementBalancedAndNotBalanced(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	c.call(c.sale(1000, panCUP), true)
	c.call(c.sale(2000, panVisa), true)
	c.call(c.offline(300, panCUP), true)
	s := c.sale(400, panCUP)
	c.call(c.void(s, c.call(s, true)), true)
	c.call(c.sale(551, panCUP), true) // declined: not counted
	dom := Totals{DebitAmount: 1300, DebitCount: 2}
	frn := Totals{DebitAmount: 2000, DebitCount: 1}
	st := c.settle(dom, frn)
	a := c.call(st, true)
	if get(a, 39) != "00" || get(a, 15) != "0314" {
		t.Fatalf("0510 F39 %s F15 %s", get(a, 39), get(a, 15))
	}
	wantF48 := []byte(totals48(dom, frn))
	wantF48[30], wantF48[61] = '1', '1'
	if get(a, 48) != string(wantF48) {
		t.Fatalf("F48\n got %s\nwant %s", get(a, 48), wantF48)
	}
	// The batch is closed; the next one is 000002.
	if a := c.call(c.sale(100, panCUP), true); get(a, 39) != "77" {
		t.Errorf("sale in the closed batch: F39 %s, want 77", get(a, 39))
	}
	if a := c.call(st, true); get(a, 48) != string(wantF48) {
		t.Errorf("repeated 0500 got another answer")
	}
	c.signIn()
	if c.batch != "000002" {
		t.Fatalf("batch after settlement %s, want 000002", c.batch)
	}

	// Batch 2 does not balance: upload, batch end, closed.
	c.call(c.sale(500, panCUP), true)
	a = c.call(c.settle(Totals{DebitAmount: 600, DebitCount: 1}, Totals{}), true)
	if d := get(a, 48); d[30] != '2' || d[61] != '1' {
		t.Fatalf("not balanced F48 %s", d)
	}
	bs, _ := h.s.Batches(testTID)
	if len(bs) != 2 || bs[1].State != BatchSettling || bs[1].Settlement.Balanced {
		t.Fatalf("batches %+v", bs)
	}
	if a := c.call(c.upload(2), true); get(a, 39) != "00" || a.MTI != "0330" {
		t.Fatalf("upload F39 %s", get(a, 39))
	}
	if a := c.call(c.batchEnd(2, "207"), true); get(a, 39) != "00" {
		t.Fatalf("batch end F39 %s", get(a, 39))
	}
	bs, _ = h.s.Batches(testTID)
	if len(bs) != 3 || bs[0].State != BatchClosed || bs[1].State != BatchClosed || bs[2].State != BatchOpen || bs[2].Batch != "000003" {
		t.Fatalf("batches %+v", bs)
	}
	if bs[1].UploadMessages != 1 || bs[1].UploadRecords != 2 || bs[1].EndTotal != 2 || bs[1].EndCode != "207" {
		t.Errorf("batch 2 %+v", bs[1])
	}
	if bs[0].Host.Domestic != dom || bs[0].Host.Foreign != frn || !bs[0].Settlement.Balanced {
		t.Errorf("batch 1 %+v", bs[0])
	}
	c.signIn()
	if c.batch != "000003" {
		t.Errorf("batch after batch end %s", c.batch)
	}
	// Settlement F48 of the wrong size is a format error.
	bad := c.settle(Totals{}, Totals{})
	bad.Set(48, "123")
	if a := c.call(bad, true); get(a, 39) != "30" {
		t.Errorf("short F48: F39 %s", get(a, 39))
	}
}

func TestUnknownTerminal97(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr).as("99999999", testMID, testTMKHex)
	m := iso8583.NewMessage("0800")
	m.Set(11, "000001")
	m.Set(41, c.tid)
	m.Set(42, c.mid)
	m.Set(60, "00000001004")
	a := c.call(m, false)
	if get(a, 39) != "97" || a.Has(62) || a.Has(64) {
		t.Fatalf("sign-in of unknown TID: F39 %s", get(a, 39))
	}
	c.mac, _ = iso8583.NewMAC(iso8583.MACUnionPayECB, mustHex("0102030405060708"))
	if a := c.call(c.sale(100, panCUP), true); get(a, 39) != "97" || a.Has(64) {
		t.Fatalf("sale of unknown TID: F39 %s", get(a, 39))
	}
	if a := c.call(c.echo(), false); get(a, 39) != "97" {
		t.Fatalf("echo of unknown TID: F39 %s", get(a, 39))
	}
	// A known TID with the wrong MID: 03.
	w := dial(t, h.addr)
	w.mid = "000000000000000"
	m = iso8583.NewMessage("0800")
	m.Set(11, "000001")
	m.Set(41, w.tid)
	m.Set(42, w.mid)
	m.Set(60, "00000001004")
	if a := w.call(m, false); get(a, 39) != "03" {
		t.Fatalf("wrong MID: F39 %s", get(a, 39))
	}
	if ts, _ := h.s.Transactions(""); len(ts) != 0 {
		t.Errorf("%d recorded", len(ts))
	}
}

func TestEcho(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	req := c.echo()
	a := c.call(req, false)
	if get(a, 39) != "00" || get(a, 60) != get(req, 60) || a.Has(64) {
		t.Errorf("echo answer %v", a.Numbers())
	}
}

func TestRestartKeepsKeysBatchesAndAnswers(t *testing.T) {
	cfg := testConfig(t.TempDir())
	h1 := startHost(t, cfg)
	c := dial(t, h1.addr)
	c.signIn()
	c.call(c.settle(Totals{}, Totals{}), true) // batch 1 closed, batch 2 open
	c.batch = "000002"
	sale := c.sale(1800, panCUP)
	a1 := c.call(sale, true)
	if err := h1.s.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := startHost(t, cfg)
	c2 := dial(t, h2.addr)
	c2.mac, c2.batch, c2.stan = c.mac, c.batch, c.stan // same keys, no sign-in
	a2 := c2.call(sale, true)
	if get(a2, 37) != get(a1, 37) || get(a2, 38) != get(a1, 38) {
		t.Errorf("repeat after restart answered %s/%s, first %s/%s", get(a2, 37), get(a2, 38), get(a1, 37), get(a1, 38))
	}
	if a := c2.call(c2.sale(900, panCUP), true); get(a, 39) != "00" {
		t.Fatalf("new sale after restart F39 %s", get(a, 39))
	}
	// The RRN sequence carries on.
	if tx := txnOf(t, h2.s, testTID, get(sale, 11), ClassFinancial); tx.Repeats != 1 {
		t.Errorf("repeats %d", tx.Repeats)
	}

	// A TMK changed in the config makes the stored keys unusable.
	h2.s.Close()
	cfg3 := cfg
	cfg3.Terminals = append([]Terminal(nil), cfg.Terminals...)
	cfg3.Terminals[0].TMK = mustHex(tmk2Hex)
	h3 := startHost(t, cfg3)
	c3 := dial(t, h3.addr)
	c3.mac, c3.batch, c3.stan = c.mac, c.batch, 100
	if a := c3.call(c3.sale(100, panCUP), true); get(a, 39) != "A0" {
		t.Errorf("stale keys under a new TMK: F39 %s", get(a, 39))
	}
	if !strings.Contains(h3.logs.String(), "another TMK") {
		t.Error("no log line about the TMK change")
	}
}

func TestManyTerminalsManyInFlightOneConnection(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c1 := dial(t, h.addr)
	c1.signIn()
	c2 := c1.as(tid2, mid2, tmk2Hex)
	c2.signIn()
	ch := c1.reader()
	const n = 60
	var wg sync.WaitGroup
	for _, c := range []*client{c1, c2} {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				c.send(c.sale(int64(1000+i*100), panCUP), true)
			}
		}(c)
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := 0; i < 2*n; i++ {
		a := <-ch
		if a.err != nil {
			t.Fatal(a.err)
		}
		mac := c1.mac
		if get(a.m, 41) == tid2 {
			mac = c2.mac
		}
		verifyWith(t, a, mac)
		key := get(a.m, 41) + "/" + get(a.m, 11)
		if seen[key] || get(a.m, 39) != "00" {
			t.Fatalf("answer %s F39 %s (seen %v)", key, get(a.m, 39), seen[key])
		}
		seen[key] = true
	}
	for _, tid := range []string{testTID, tid2} {
		if ts, _ := h.s.Transactions(tid); len(ts) != n {
			t.Errorf("%s: %d recorded, want %d", tid, len(ts), n)
		}
	}
}

func TestFaultLatency(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Faults.Latency = 60 * time.Millisecond
	h := startHost(t, cfg)
	c := dial(t, h.addr)
	ch := c.reader()
	c.send(c.echo(), false)
	advanced := time.Duration(0)
	for {
		select {
		case a := <-ch:
			if a.err != nil {
				t.Fatal(a.err)
			}
			if advanced < 60*time.Millisecond {
				t.Fatalf("answer after %v of host time, want >= 60ms", advanced)
			}
			if advanced > 200*time.Millisecond {
				t.Fatalf("answer only after %v of host time", advanced)
			}
			return
		case <-time.After(10 * time.Millisecond):
			h.clk.Advance(5 * time.Millisecond)
			advanced += 5 * time.Millisecond
			if advanced > time.Second {
				t.Fatal("no answer after 1s of host time")
			}
		}
	}
}

func TestFaultDropEvery(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	h.s.SetFaults(Faults{DropEvery: 3, NoAnswer98: true})
	for i := 1; i <= 6; i++ {
		req := c.sale(int64(100*i), panCUP)
		if i%3 != 0 {
			if a := c.call(req, true); get(a, 39) != "00" {
				t.Fatalf("sale %d F39 %s", i, get(a, 39))
			}
			continue
		}
		c.send(req, true)
		waitFor(t, "the drop", func() bool { st, _ := h.s.Stats(); return st.Dropped == int64(i/3) })
		// The transaction is recorded even though its answer was dropped.
		if tx := txnOf(t, h.s, testTID, get(req, 11), ClassFinancial); tx.State != StateApproved {
			t.Errorf("dropped sale %d recorded %s", i, tx.State)
		}
	}
	// Every answer read belonged to a non-dropped request (call checks 11),
	// and nothing else is pending.
	c.expectSilence(50 * time.Millisecond)
}

func TestFaultCloseAfter(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	s := dial(t, h.addr)
	s.signIn()
	h.s.SetFaults(Faults{CloseAfter: 3})
	// Messages are counted per connection from its start: the sign-in
	// above was this connection's first.
	s.call(s.sale(100, panCUP), true)
	s.call(s.sale(100, panCUP), true)
	s.expectClosed()
	c := dial(t, h.addr)
	c.mac, c.stan = s.mac, s.stan
	for i := 0; i < 3; i++ {
		c.call(c.sale(100, panCUP), true)
	}
	c.expectClosed()
	// A new connection gets its 3 messages again.
	d := dial(t, h.addr)
	d.mac, d.stan = c.mac, c.stan
	for i := 0; i < 3; i++ {
		d.call(d.echo(), false)
	}
	d.expectClosed()
	if st, _ := h.s.Stats(); st.Connections != 3 {
		t.Errorf("connections %d", st.Connections)
	}

	// Pipelined beyond N: the first N are answered and the connection
	// ends cleanly (no reset wiping them); the rest are never handled.
	p := dial(t, h.addr)
	p.mac, p.stan = c.mac, c.stan
	var sent []*iso8583.Message
	for i := 0; i < 5; i++ {
		m := p.sale(200, panCUP)
		sent = append(sent, m)
		p.send(m, true)
	}
	for i := 0; i < 3; i++ {
		if _, err := p.recv(5 * time.Second); err != nil {
			t.Fatalf("pipelined answer %d: %v", i+1, err)
		}
	}
	p.expectClosed()
	for i, m := range sent {
		ts, _ := h.s.Transactions(testTID)
		found := false
		for _, x := range ts {
			found = found || (x.STAN == get(m, 11) && x.Class == ClassFinancial)
		}
		if found != (i < 3) {
			t.Errorf("pipelined sale %d recorded: %v", i+1, found)
		}
	}
}

func TestX919MAC(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MAC = iso8583.MACX919
	h := startHost(t, cfg)
	c := dial(t, h.addr)
	c.signIn()
	if len(c.keys.MAK) != 16 {
		t.Fatalf("MAK of %d bytes", len(c.keys.MAK))
	}
	ecb := c.mac
	c.mac, _ = iso8583.NewMAC(iso8583.MACX919, c.keys.MAK)
	if a := c.call(c.sale(1000, panCUP), true); get(a, 39) != "00" {
		t.Fatalf("X9.19 sale F39 %s", get(a, 39))
	}
	c.mac = ecb
	c.send(c.sale(1000, panCUP), true)
	a, err := c.recv(5 * time.Second)
	if err != nil || get(a, 39) != "A0" {
		t.Fatalf("UnionPay ECB MAC against an X9.19 host: %v %v", a, err)
	}
}

func TestFormatErrorsAnswered30NotRecorded(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.signIn()
	noAmount := c.sale(100, panCUP)
	noAmount.Unset(4)
	noBatch := c.sale(100, panCUP)
	noBatch.Set(60, "22")
	badQR := c.qrSale(100, "134512345678901234")
	badQR.SetBytes(62, []byte("92QR099123"))
	qrNoCode := c.qrSale(100, "134512345678901234")
	qrNoCode.Unset(62)
	balance := c.sale(100, panCUP)
	balance.Set(60, "01"+c.batch+"000")
	for i, tc := range []struct {
		m  *iso8583.Message
		rc string
	}{{noAmount, "30"}, {noBatch, "30"}, {badQR, "30"}, {qrNoCode, "30"}, {balance, "12"}} {
		if a := c.call(tc.m, true); get(a, 39) != tc.rc || !a.Has(64) {
			t.Errorf("case %d: F39 %s, want %s with MAC", i, get(a, 39), tc.rc)
		}
	}
	// An MTI outside the dialect.
	m := iso8583.NewMessage("0100")
	copyFields(m, c.sale(100, panCUP), 3, 4, 11, 41, 42, 60)
	c.send(m, true)
	a, err := c.recv(5 * time.Second)
	if err != nil || a.MTI != "0110" || get(a, 39) != "12" {
		t.Fatalf("0100: %v %v", a, err)
	}
	if ts, _ := h.s.Transactions(""); len(ts) != 0 {
		t.Errorf("%d recorded", len(ts))
	}
}

func TestMalformedFrameDropsOnlyThatFrame(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	c := dial(t, h.addr)
	c.sendBody([]byte{0x02, 0x00, 0xFF})
	c.sendBody(nil)
	if a := c.call(c.echo(), false); get(a, 39) != "00" {
		t.Fatal("echo after garbage")
	}
	// Frames are handled concurrently: the echo's answer can overtake
	// the count of the second bad frame, so wait for it (bounded).
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := h.s.Stats()
		if st.Malformed == 2 {
			break
		}
		if st.Malformed > 2 || time.Now().After(deadline) {
			t.Fatalf("malformed %d, want 2", st.Malformed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
