package receipt

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

func sample(state txn.State) txn.Record {
	return txn.Record{
		ID: "0000000000000001", Type: txn.Sale, Entry: txn.Contactless,
		Amount:    money.Amount{Minor: 1234, Currency: money.CNY},
		State:     state,
		Identity:  txn.Identity{TID: "12345678", MID: "123456789012345", Batch: 1, STAN: 42, Invoice: 7},
		Outcome:   txn.Outcome{ResponseCode: "00", AuthCode: "123456", RRN: "000000000042"},
		Scheme:    "UnionPay",
		MaskedPAN: "621234******1232",
		Created:   time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC),
	}
}

func TestBuildApproved(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	r := Build(Merchant{Name: "测试商户"}, sample(txn.Approved), CustomerCopy, loc)
	text := r.Text(32)
	for _, want := range []string{"CUSTOMER COPY", "测试商户", "TID: 12345678", "BATCH: 000001", "STAN: 000042",
		"621234******1232", "CNY 12.34", "2026-11-29 12:00:00", "AUTH: 123456", "REF: 000000000042", "[QR 12345678/000001/000042]"} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "OFFLINE") {
		t.Error("online receipt marked offline")
	}
}

func TestBuildOfflineAndDeclined(t *testing.T) {
	off := Build(Merchant{Name: "x"}, sample(txn.StoredOffline), MerchantCopy, nil).Text(32)
	if !strings.Contains(off, "stored, not yet authorised") {
		t.Errorf("offline receipt lacks marker:\n%s", off)
	}
	rec := sample(txn.Declined)
	rec.Outcome = txn.Outcome{ResponseCode: "51", Message: "insufficient funds"}
	dec := Build(Merchant{Name: "x"}, rec, MerchantCopy, nil).Text(32)
	if !strings.Contains(dec, "DECLINED 51\ninsufficient funds") {
		t.Errorf("declined receipt:\n%s", dec)
	}
}

// Every line of a receipt fits on 58 mm paper (Columns), with the longest
// values a record can carry: a 19-digit PAN, a long merchant name, a long
// decline message, a large amount on a double-size line.
func TestEveryLineFitsTheNarrowestPaper(t *testing.T) {
	long := sample(txn.ForwardedDeclined)
	long.MaskedPAN = "621234*********1232"
	long.Scheme = "Mastercard"
	long.Amount = money.Amount{Minor: 9_999_999_999, Currency: money.CNY}
	long.Outcome = txn.Outcome{ResponseCode: "05", Message: "do not honour, call the issuer on its published number before retrying", AuthCode: "ABC123", RRN: "123456789012"}
	names := []string{"测试商户", "测试商户 Demo Shop", "上海市浦东新区张江高科技园区某某便利店有限公司第一分店", "A Very Long Merchant Name Limited Company Branch 42"}
	for _, name := range names {
		for _, rec := range []txn.Record{sample(txn.Approved), sample(txn.StoredOffline), long} {
			for _, c := range []Copy{MerchantCopy, CustomerCopy} {
				r := Build(Merchant{Name: name}, rec, c, nil)
				for _, l := range r.Lines {
					w := displayWidth(l.Text)
					if l.Double {
						w *= 2
					}
					if w > Columns {
						t.Errorf("merchant %q, %s: line %q is %d columns (> %d)", name, rec.State, l.Text, w, Columns)
					}
				}
			}
		}
	}
	// The name is all there, across lines.
	r := Build(Merchant{Name: names[2]}, sample(txn.Approved), CustomerCopy, nil)
	if text := strings.ReplaceAll(r.Text(Columns), "\n", ""); !strings.Contains(text, names[2]) {
		t.Errorf("long merchant name lost:\n%s", r.Text(Columns))
	}
}

func TestLabelAndValueShareALineWhenTheyFit(t *testing.T) {
	text := Build(Merchant{Name: "测试商户 Demo Shop"}, sample(txn.Approved), MerchantCopy, time.FixedZone("CST", 8*3600)).Text(Columns)
	for _, want := range []string{"\nTID: 12345678", "商户编号 MID: 123456789012345\n", "批次号 BATCH: 000001\n", "凭证号 INV: 000007\n",
		"卡号 CARD: 621234******1232\n", "商户名称 MERCHANT:\n测试商户 Demo Shop\n", "日期时间 DATE:\n2026-11-29 12:00:00\n",
		"金额 AMOUNT:\nCNY 12.34\n"} {
		if !strings.Contains(strings.ReplaceAll(text, "终端编号 ", "\n"), want) {
			t.Errorf("receipt lacks %q:\n%s", want, text)
		}
	}
}

func FuzzWrap(f *testing.F) {
	f.Add("测试商户 Demo Shop", 32)
	f.Add("a  b", 1)
	f.Add("上海市浦东新区张江高科技园区某某便利店有限公司", 7)
	f.Fuzz(func(t *testing.T, s string, cols int) {
		if cols < 2 || cols > 64 || !utf8.ValidString(s) || strings.ContainsAny(s, "\n\t") {
			return
		}
		lines := wrap(s, cols)
		for _, l := range lines {
			if displayWidth(l) > cols {
				t.Fatalf("wrap(%q, %d): line %q is %d columns", s, cols, l, displayWidth(l))
			}
		}
		// Nothing but spaces is lost.
		strip := func(x string) string { return strings.ReplaceAll(x, " ", "") }
		if got := strip(strings.Join(lines, "")); got != strip(s) {
			t.Fatalf("wrap(%q, %d) = %q: text lost", s, cols, lines)
		}
	})
}

func TestAsReprint(t *testing.T) {
	orig := Build(Merchant{Name: "x"}, sample(txn.Approved), CustomerCopy, nil)
	n := len(orig.Lines)
	r := orig.AsReprint()
	if len(orig.Lines) != n {
		t.Fatal("AsReprint changed the original")
	}
	if len(r.Lines) != n+1 || r.Lines[2].Text != ReprintLine || !r.Lines[2].Bold || r.Lines[1].Text != orig.Lines[1].Text || r.QR != orig.QR {
		t.Fatalf("reprint lines: %+v", r.Lines[:4])
	}
}
