package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/posagent/posagent/core/acquirer"
	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

func TestISO8583DecodeMasksCardData(t *testing.T) {
	rec := txn.Record{ID: "1", Type: txn.Sale, Entry: txn.Contactless, Amount: money.Amount{Minor: 1234, Currency: money.CNY},
		Identity: txn.Identity{TID: "12345678", MID: "898310048160001", Batch: 1, STAN: 42, Invoice: 1}}
	s := txn.Sensitive{PAN: "6212345678901232", Expiry: "2812", Track2: "6212345678901232D28122010000000000000", PANSeq: "01",
		ICC: []byte{0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8}}
	m, err := acquirer.SaleRequest(rec, s, "")
	if err != nil {
		t.Fatal(err)
	}
	body, err := iso8583.UnionPay.Pack(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "iso8583", "decode", hex.EncodeToString(body))
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	for _, want := range []string{"0200", "621234******1232", "000000001234", "12345678", "898310048160001"} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "6212345678901232") || strings.Contains(out, "D2812201") {
		t.Errorf("dump shows card data in clear:\n%s", out)
	}
	full, err := runCLI(t, "iso8583", "decode", "--unmasked", hex.EncodeToString(body))
	if err != nil || !strings.Contains(full, "6212345678901232") {
		t.Errorf("--unmasked: %v\n%s", err, full)
	}
	js, err := runCLI(t, "iso8583", "decode", "--json", hex.EncodeToString(body))
	if err != nil || !strings.Contains(js, `"mti"`) && !strings.Contains(js, "0200") {
		t.Errorf("--json: %v\n%s", err, js)
	}
	// Whole frames too.
	frame, err := iso8583.AppendFrame(nil, iso8583.Frame{TPDU: [5]byte{0x60, 0, 0, 0, 0}, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "iso8583", "decode", "--frame", hex.EncodeToString(frame)); err != nil || !strings.Contains(out, "6000000000") {
		t.Errorf("--frame: %v\n%s", err, out)
	}
	// Bad input names where it broke.
	if out, err := runCLI(t, "iso8583", "decode", hex.EncodeToString(body[:20])); err == nil || !strings.Contains(out+err.Error(), "field") {
		t.Errorf("truncated message: %v %s", err, out)
	}
	if _, err := runCLI(t, "iso8583", "decode", "zz"); err == nil {
		t.Error("non-hex accepted")
	}
}

func TestTLVDecode(t *testing.T) {
	out, err := runCLI(t, "tlv", "decode", "5A0862123456789012329F0206000000001234")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "621234******1232") || strings.Contains(out, "6212345678901232") || !strings.Contains(out, "Amount, Authorised") {
		t.Errorf("tlv dump:\n%s", out)
	}
	if _, err := runCLI(t, "tlv", "decode", "5A08621234"); err == nil {
		t.Error("truncated TLV accepted")
	}
}
