package host

import (
	"strings"
	"testing"
)

func TestDecideOrder(t *testing.T) {
	cases := []struct {
		amount   int64
		pan, qr  string
		code     string
		noAnswer bool
	}{
		{1234, panCUP, "", "00", false},
		{1298, panCUP, "", "00", true},
		{1298, panNoLuh, "", "00", true}, // the amount rule comes first
		{1251, panNoLuh, "", "51", false},
		{1200, panNoLuh, "", "14", false},
		{1200, "", "", "00", false}, // no clear PAN: no Luhn check
		{1200, "", "134512345678901298", "00", true},
		{1205, "", "134512345678901251", "05", false},
		{1200, "", "1345", "14", false},
	}
	for _, c := range cases {
		v := decide(c.amount, c.pan, c.qr, true)
		if v.code != c.code || v.noAnswer != c.noAnswer {
			t.Errorf("decide(%d, %q, %q) = %+v, want %s noAnswer %v", c.amount, short6(c.pan), c.qr, v, c.code, c.noAnswer)
		}
	}
	if v := decide(1298, panCUP, "", false); v.noAnswer || v.code != "00" {
		t.Errorf("rule off: %+v", v)
	}
}

func short6(pan string) string {
	if len(pan) > 10 {
		return pan[:6] + "…"
	}
	return pan
}

func TestOrgAndDomestic(t *testing.T) {
	cases := []struct {
		pan, aid, org string
		domestic      bool
	}{
		{panCUP, "", "CUP", true},
		{panVisa, "", "VIS", false},
		{panMC, "", "MCC", false},
		{"2223000048400011", "", "MCC", false},
		{"3530111333300000", "", "OTH", false},
		{"", "A000000333010102", "CUP", true},
		{"", "A0000000031010", "VIS", false},
		{"", "A0000000041010", "MCC", false},
		{"", "", "OTH", true},
		{panVisa, "A000000333010101", "VIS", false}, // the PAN decides
	}
	for _, c := range cases {
		if got := orgOf(c.pan, c.aid); got != c.org {
			t.Errorf("orgOf(%s, %s) = %s, want %s", short6(c.pan), c.aid, got, c.org)
		}
		if got := isDomestic(c.pan, c.aid); got != c.domestic {
			t.Errorf("isDomestic(%s, %s) = %v", short6(c.pan), c.aid, got)
		}
	}
}

func TestWalletOf(t *testing.T) {
	cases := map[string]string{
		"134512345678901234":    WalletWeChat,
		"101234567890":          WalletWeChat,
		"151234567890":          WalletWeChat,
		"281234567890123405":    WalletAlipay,
		"301234567890":          WalletAlipay,
		"6212345678901234551":   WalletUPQR,
		"161234567890":          "",
		"991234567890":          "",
		"12345":                 "",
		"13451234567890ABCD":    "",
		strings.Repeat("1", 33): "",
	}
	for code, want := range cases {
		got, ok := walletOf(code)
		if got != want || ok != (want != "") {
			t.Errorf("walletOf(%q) = %q %v, want %q", code, got, ok, want)
		}
	}
}

func TestParseQR(t *testing.T) {
	if c, err := parseQR([]byte("92QR018134512345678901234")); err != nil || c != "134512345678901234" {
		t.Errorf("parseQR = %q, %v", c, err)
	}
	for _, bad := range []string{"92CV003123", "92QR", "92QR01", "92QR0181345", "92QR-01X", "92QR+1A"} {
		if _, err := parseQR([]byte(bad)); err == nil {
			t.Errorf("parseQR(%q) accepted", bad)
		}
	}
}

func TestAIDOf(t *testing.T) {
	cases := map[string]string{
		"9F2608010203040506070882027C0084 07A0000003330101": "A0000003330101",
		"4F07A0000000031010 8407A0000000041010":             "A0000000031010", // 4F wins over 84
		"9F0607A0000003330101":                              "A0000003330101",
		"00 00 8407A0000000041010":                          "A0000000041010", // padding
		"9F10 81 03 010203 84 02 A000":                      "A000",           // long-form length
		"84 08 A0000000":                                    "",               // truncated value
		"9F":                                                "",
		"5F2A02015682027C00":                                "",
		"DF 81 81 81 01 00":                                 "", // tag too long
		"9F26 82 0100":                                      "", // length beyond the data
	}
	for in, want := range cases {
		if got := aidOf(mustHex(strings.ReplaceAll(in, " ", ""))); got != want {
			t.Errorf("aidOf(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTotals(t *testing.T) {
	p, err := parseTotals(totals48(Totals{123, 4, 56, 7}, Totals{8, 9, 10, 11}))
	if err != nil || p.Domestic != (Totals{123, 4, 56, 7}) || p.Foreign != (Totals{8, 9, 10, 11}) {
		t.Errorf("parseTotals = %+v, %v", p, err)
	}
	p, err = parseTotals(totals48(Totals{1, 1, 0, 0}, Totals{})[:31])
	if err != nil || p.Domestic.DebitAmount != 1 || p.Foreign != (Totals{}) {
		t.Errorf("domestic only = %+v, %v", p, err)
	}
	for _, n := range []int{0, 30, 32, 61, 63} {
		if _, err := parseTotals(strings.Repeat("0", n)); err == nil {
			t.Errorf("%d digits accepted", n)
		}
	}
	if got := withDigits(strings.Repeat("0", 62), "1", "2"); got[30] != '1' || got[61] != '2' || strings.Count(got, "0") != 60 {
		t.Errorf("withDigits = %s", got)
	}
}

func TestResponseMTI(t *testing.T) {
	cases := map[string][2]string{
		"0800": {"0810", "known"}, "0820": {"0830", "known"}, "0200": {"0210", "known"}, "0220": {"0230", "known"},
		"0221": {"0230", "known"}, "0400": {"0410", "known"}, "0401": {"0410", "known"}, "0320": {"0330", "known"},
		"0500": {"0510", "known"}, "0100": {"0110", ""}, "0600": {"0610", ""}, "0210": {"", ""}, "0900": {"0910", ""}, "0231": {"", ""},
		"0402": {"", ""},
	}
	for in, want := range cases {
		resp, known := responseMTI(in)
		if resp != want[0] || known != (want[1] == "known") {
			t.Errorf("responseMTI(%s) = %s %v, want %s %s", in, resp, known, want[0], want[1])
		}
	}
}

func TestNextBatch(t *testing.T) {
	for in, want := range map[string]string{"000001": "000002", "000099": "000100", "999999": "000001"} {
		if got := nextBatch(in); got != want {
			t.Errorf("nextBatch(%s) = %s, want %s", in, got, want)
		}
	}
}

func FuzzAIDOf(f *testing.F) {
	f.Add(mustHex("9F2608010203040506070882027C008407A0000003330101"))
	f.Add(mustHex("9F108103010203"))
	f.Add([]byte{0x9F})
	f.Fuzz(func(t *testing.T, b []byte) {
		a := aidOf(b)
		if len(a)%2 != 0 || strings.Trim(a, "0123456789ABCDEF") != "" {
			t.Fatalf("aidOf = %q: not upper-case hex bytes", a)
		}
	})
}

func FuzzParseQR(f *testing.F) {
	f.Add([]byte("92QR018134512345678901234"))
	f.Add([]byte("92QR-01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, err := parseQR(b)
		if err == nil && string(b) != "92QR"+pad3(len(code))+code {
			t.Fatalf("parseQR(%q) = %q: does not rebuild the field", b, code)
		}
	})
}

func pad3(n int) string {
	return string([]byte{byte('0' + n/100%10), byte('0' + n/10%10), byte('0' + n%10)})
}

func FuzzParseTotals(f *testing.F) {
	f.Add(totals48(Totals{123, 4, 56, 7}, Totals{8, 9, 10, 11}))
	f.Add(strings.Repeat("9", 31))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseTotals(s)
		if err != nil {
			return
		}
		if len(s) == 62 && totals48(p.Domestic, p.Foreign)[:30] != s[:30] {
			t.Fatalf("parseTotals(%s) = %+v does not rebuild", s, p)
		}
	})
}
