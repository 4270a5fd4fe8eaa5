package scanner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		code string
		want Kind
	}{
		// EAN-13: check digits from GS1 / published examples.
		{"4006381333931", KindEAN13},
		{"5901234123457", KindEAN13},
		{"6901234567892", KindEAN13}, // GS1 China prefix 690
		{"0036000291452", KindEAN13}, // a UPC-A sent as 13 digits is an EAN-13
		{"4006381333932", KindOther}, // wrong check digit
		{"4006381333930", KindOther},
		{"400638133393", KindOther}, // 12 digits, not a valid UPC-A
		{"40063813339311", KindOther},
		{"400638133393A", KindOther},
		// UPC-A.
		{"036000291452", KindUPCA},
		{"012345678905", KindUPCA},
		{"036000291453", KindOther}, // wrong check digit
		{"036000291450", KindOther},
		// UnionPay: exactly 19 digits starting 62.
		{"6200000000000000000", KindUnionPay},
		{"6299999999999999999", KindUnionPay},
		{"620000000000000000", KindOther},   // 18 digits
		{"62000000000000000000", KindOther}, // 20 digits
		{"6100000000000000000", KindOther},  // prefix 61
		{"6300000000000000000", KindOther},  // prefix 63
		{"620000000000000000X", KindOther},
		// WeChat Pay: exactly 18 digits starting 10..15.
		{"100000000000000000", KindWeChatPay},
		{"134567890123456789", KindWeChatPay},
		{"159999999999999999", KindWeChatPay},
		{"090000000000000000", KindOther},  // prefix 09
		{"160000000000000000", KindOther},  // prefix 16
		{"10000000000000000", KindOther},   // 17 digits
		{"1000000000000000000", KindOther}, // 19 digits
		// Alipay: 16..24 digits starting 25..30.
		{"2500000000000000", KindAlipay},         // 16, lowest prefix
		{"300000000000000000000000", KindAlipay}, // 24, highest prefix
		{"286543210987654321", KindAlipay},       // 18
		{"2912345678901234567", KindAlipay},      // 19
		{"250000000000000", KindOther},           // 15 digits
		{"3000000000000000000000000", KindOther}, // 25 digits
		{"2400000000000000", KindOther},          // prefix 24
		{"3100000000000000", KindOther},          // prefix 31
		// Other.
		{"", KindOther},
		{"1", KindOther},
		{"https://qr.alipay.com/bax00000", KindOther},
		{"96385074", KindOther}, // EAN-8 is not classified
		{" 134567890123456789", KindOther},
		{"134567890123456789 ", KindOther},
		{"１34567890123456789", KindOther}, // full-width digit
	}
	for _, tt := range tests {
		if got := Classify(tt.code); got != tt.want {
			t.Errorf("Classify(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestKindPredicates(t *testing.T) {
	for k := KindOther; k <= KindAlipay; k++ {
		pay := k == KindUnionPay || k == KindWeChatPay || k == KindAlipay
		prod := k == KindEAN13 || k == KindUPCA
		if k.IsPayment() != pay || k.IsProduct() != prod {
			t.Errorf("%v: IsPayment %v IsProduct %v", k, k.IsPayment(), k.IsProduct())
		}
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
	if got := Kind(99).String(); got != "kind(99)" {
		t.Errorf("Kind(99) = %q", got)
	}
}

func TestCodeMasked(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		text, masked string
	}{
		{"134567890123456789", "13************6789"},   // WeChat Pay
		{"6212345678901234567", "62*************4567"}, // UnionPay (looks like a PAN)
		{"286543210987654321", "28************4321"},   // Alipay
		{"4006381333931", "4006381333931"},             // EAN-13 shown in full
		{"036000291452", "036000291452"},               // UPC-A shown in full
		{"4006381333932", "40*******3932"},             // bad check digit: not a product
		{"ABC123", "******"},                           // short: all masked
		{"https://x.example/t", "ht*************le/t"}, // long other
		{"", ""},
	}
	for _, tt := range tests {
		c := NewCode(tt.text, at)
		if got := c.Masked(); got != tt.masked {
			t.Errorf("Masked(%q) = %q, want %q", tt.text, got, tt.masked)
		}
		if c.Text() != tt.text || c.Len() != len(tt.text) || c.Kind != Classify(tt.text) || !c.At.Equal(at) {
			t.Errorf("NewCode(%q) = %+v", tt.text, c)
		}
	}
}

// TestCodeNeverPrintsPaymentText checks every way a Code can reach a log
// line, an error or a JSON answer.
func TestCodeNeverPrintsPaymentText(t *testing.T) {
	for _, text := range []string{"134567890123456789", "6212345678901234567", "300000000000000000000000"} {
		c := NewCode(text, time.Unix(0, 0))
		if !c.Kind.IsPayment() {
			t.Fatalf("%s: kind %v", text, c.Kind)
		}
		var logs bytes.Buffer
		lg := slog.New(slog.NewJSONHandler(&logs, nil))
		lg.Info("scan", "code", c)
		lg.Info("scan", slog.Any("code", c))
		j, err := json.Marshal(struct{ C Code }{c})
		if err != nil {
			t.Fatal(err)
		}
		outs := map[string]string{
			"%v":   fmt.Sprintf("%v", c),
			"%+v":  fmt.Sprintf("%+v", c),
			"%#v":  fmt.Sprintf("%#v", c),
			"%q":   fmt.Sprintf("%q", c),
			"nest": fmt.Sprintf("%+v", struct{ C Code }{c}),
			"ptr":  fmt.Sprintf("%v", &c),
			"slog": logs.String(),
			"json": string(j),
		}
		for how, out := range outs {
			if strings.Contains(out, text) || strings.Contains(out, text[2:len(text)-4]) {
				t.Errorf("%s output shows the payment code: %s", how, out)
			}
			if !strings.Contains(out, c.Masked()) {
				t.Errorf("%s output lacks the masked form %q: %s", how, c.Masked(), out)
			}
		}
	}
}

func TestGS1CheckDigitAllPositions(t *testing.T) {
	// Changing any single digit of a valid EAN-13 breaks the check (the
	// mod-10 weights 1 and 3 are both prime to 10).
	valid := "5901234123457"
	for i := range len(valid) {
		for d := byte('0'); d <= '9'; d++ {
			if d == valid[i] {
				continue
			}
			b := []byte(valid)
			b[i] = d
			if Classify(string(b)) == KindEAN13 {
				t.Errorf("%s (digit %d changed) still classified EAN-13", b, i)
			}
		}
	}
}
