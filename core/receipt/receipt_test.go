package receipt

import (
	"strings"
	"testing"
	"time"

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
	if !strings.Contains(dec, "DECLINED 51 insufficient funds") {
		t.Errorf("declined receipt:\n%s", dec)
	}
}
