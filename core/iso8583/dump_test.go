package iso8583

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDumpMasked(t *testing.T) {
	m := sale0200()
	m.SetBytes(52, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	// ICC data holding a PAN (5A) inside a constructed template (70), and
	// a track 2 equivalent (57).
	m.SetBytes(55, unhex(t, `
		9F02 06 000000012345
		70 0C 5A 0A 6212349876543210123F
		57 05 6212349876
		00                  // padding byte
	`))
	got := UnionPay.Dump(m, DumpOptions{})
	want := `UnionPay MTI 0200
    2 PAN                        n..19 LLVAR        19  621234*********0123 (masked)
    3 Processing code            n6                  6  000000
    4 Amount                     n12                12  000000012345
   11 STAN                       n6                  6  000123
   14 Expiry date                n4                  4  2812
   22 POS entry mode             n3                  3  072
   23 Card sequence number       n3                  3  001
   25 POS condition code         n2                  2  00
   35 Track 2                    z..37 LLVAR        37  621234*********0123=***************** (masked)
   41 Terminal ID                ans8                8  "12345678"
   42 Merchant ID                ans15              15  "123456789012345"
   49 Currency code              an3                 3  "156"
   52 PIN block                  b8                  8  **************** (masked)
   55 ICC data                   b..255 LLLVAR      31  9F0206000000012345700C5A0A********************5705**********00 (masked)
   60 Reserved private (60)      n..17 LLLVAR       13  2200000100060
   64 MAC                        b8                  8  DEADBEEF00112233
`
	if got != want {
		t.Fatalf("Dump:\n%s\nwant:\n%s", got, want)
	}
	for _, secret := range []string{"6212349876", "28122010000123456", "0102030405060708"} {
		if strings.Contains(got, secret) {
			t.Errorf("dump leaks %s", secret)
		}
	}
	j, err := UnionPay.DumpJSON(m, DumpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"6212349876", "28122010000123456", "0102030405060708"} {
		if strings.Contains(string(j), secret) {
			t.Errorf("JSON dump leaks %s: %s", secret, j)
		}
	}
	var d DumpMessage
	if err := json.Unmarshal(j, &d); err != nil {
		t.Fatal(err)
	}
	if d.MTI != "0200" || len(d.Fields) != 16 || d.Fields[0].Value != "621234*********0123" || !d.Fields[0].Masked {
		t.Errorf("JSON dump = %+v", d)
	}
}

func TestDumpUnmasked(t *testing.T) {
	got := UnionPay.Dump(sale0200(), DumpOptions{Unmasked: true})
	for _, s := range []string{"6212349876543210123", "6212349876543210123=28122010000123456", "9F260801020304050607089F270180"} {
		if !strings.Contains(got, s) {
			t.Errorf("unmasked dump lacks %s:\n%s", s, got)
		}
	}
}

func TestDumpBadTLVMaskedEntirely(t *testing.T) {
	m := NewMessage("0200")
	m.SetBytes(55, []byte{0x5A, 0x08, 0x62, 0x12}) // length runs past the end
	got := UnionPay.Dump(m, DumpOptions{})
	if !strings.Contains(got, "******** (masked)") || strings.Contains(got, "6212") {
		t.Fatalf("Dump = %s", got)
	}
}

func TestDumpUnknownFieldAndQuoting(t *testing.T) {
	m := NewMessage("0810")
	m.Set(39, "00")
	m.Set(63, "CUP\x1b[2J") // an escape sequence must not reach the terminal raw
	m.SetBytes(7, []byte{0xAB})
	got := UnionPay.Dump(m, DumpOptions{})
	if !strings.Contains(got, `"CUP\x1b[2J"`) {
		t.Errorf("control bytes not escaped:\n%s", got)
	}
	if !strings.Contains(got, "unknown") || !strings.Contains(got, "AB") {
		t.Errorf("unknown field not shown:\n%s", got)
	}
}

func TestMaskTrack(t *testing.T) {
	tests := map[string]string{
		"6212349876543210123=2812201": "621234*********0123=*******",
		"6212349876543210123":         "*******************",
		"":                            "",
	}
	for in, want := range tests {
		if got := maskTrack(in); got != want {
			t.Errorf("maskTrack(%q) = %q, want %q", in, got, want)
		}
	}
}
