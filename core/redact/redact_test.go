package redact

import (
	"strings"
	"testing"

	"github.com/posagent/posagent/core/card"
)

// withCheckDigit appends the Luhn check digit to a digit string.
func withCheckDigit(body string) string {
	for d := byte('0'); d <= '9'; d++ {
		if card.Luhn(body + string(d)) {
			return body + string(d)
		}
	}
	panic("no check digit for " + body)
}

// badCheckDigit changes the last digit so the Luhn check fails.
func badCheckDigit(pan string) string {
	last := pan[len(pan)-1]
	return pan[:len(pan)-1] + string('0'+(last-'0'+1)%10)
}

var (
	pan16 = "6212345678901232" // UnionPay-shaped, Luhn-valid
	visa  = "4111111111111111"
	mc    = "5555555555554444"
	amex  = "378282246310005" // 15 digits
	pan13 = "4222222222222"   // 13 digits
	pan19 = withCheckDigit("621234567890123456")
)

func TestTestData(t *testing.T) {
	for _, p := range []string{pan16, visa, mc, amex, pan13, pan19} {
		if err := card.ValidPAN(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if len(pan19) != 19 {
		t.Errorf("pan19 %q", pan19)
	}
	if card.Luhn(badCheckDigit(pan16)) {
		t.Error("badCheckDigit passes Luhn")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"no digits", "payment approved", "payment approved"},
		{"PAN alone", pan16, "621234******1232"},
		{"PAN in text", "card " + pan16 + " approved", "card 621234******1232 approved"},
		{"PAN in key=value", "pan=" + visa + ",stan=000123", "pan=411111******1111,stan=000123"},
		{"PAN in JSON", `{"pan":"` + mc + `"}`, `{"pan":"555555******4444"}`},
		{"spaced PAN", "6212 3456 7890 1232", "6212 34** **** 1232"},
		{"dashed PAN", "6212-3456-7890-1232", "6212-34**-****-1232"},
		{"mixed separators", "6212-3456 7890-1232", "6212-34** ****-1232"},
		{"amex grouping", "3782 822463 10005", "3782 82**** *0005"},
		{"13 digits", "x " + pan13 + " y", "x 422222***2222 y"},
		{"19 digits", pan19, pan19[:6] + "*********" + pan19[15:]},
		{"15 digits", amex, "378282*****0005"},
		{"two PANs", "from " + visa + " to " + mc, "from 411111******1111 to 555555******4444"},
		{"two spaced PANs", "4111 1111 1111 1111 and 5555 5555 5555 4444",
			"4111 11** **** 1111 and 5555 55** **** 4444"},
		// Back to back, the window "1111 1111 1111 5555" passes Luhn as
		// well and is masked too: overlapping windows over-mask, never
		// under-mask.
		{"two spaced PANs back to back", "4111 1111 1111 1111 5555 5555 5555 4444",
			"4111 11** **** **** 5555 55** **** 4444"},
		{"PAN glued to letters", "pan" + pan16 + "x", "pan621234******1232x"},
		{"track 2 equivalent", pan16 + "D25121011234567890", "621234******1232D25121011234567890"},
		{"PAN after a date", "2024-01-15 6212 3456 7890 1232", "2024-01-15 6212 34** **** 1232"},
		{"PAN after a time", "10:20:30 " + pan16, "10:20:30 621234******1232"},
		{"12 digits untouched", "rrn 240115123456", "rrn 240115123456"},
		{"12-digit amount untouched", "amount=000000001234", "amount=000000001234"},
		{"20 digits untouched", "id " + pan16 + "0000", "id " + pan16 + "0000"},
		{"20-digit run holding a PAN untouched", "x" + "1" + pan19 + "x", "x1" + pan19 + "x"},
		{"non-Luhn 16 untouched", badCheckDigit(pan16), badCheckDigit(pan16)},
		{"non-Luhn spaced untouched", "6212 3456 7890 1233", "6212 3456 7890 1233"},
		{"timestamp untouched", "20240115120000123", "20240115120000123"},
		{"double space breaks groups", "6212  3456 7890 1232", "6212  3456 7890 1232"},
		{"space and dash break groups", "6212 -3456 7890 1232", "6212 -3456 7890 1232"},
		{"dot is no separator", "6212.3456.7890.1232", "6212.3456.7890.1232"},
		{"negative number", "-" + pan16, "-621234******1232"},
		{"non-ASCII around", "卡号" + pan16 + "。", "卡号621234******1232。"},
		{"invalid UTF-8 kept", "\xff" + pan16 + "\xfe", "\xff621234******1232\xfe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := String(tc.in)
			if got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if len(got) != len(tc.in) {
				t.Errorf("length %d, input %d", len(got), len(tc.in))
			}
		})
	}
}

func TestStringReturnsInputUnchanged(t *testing.T) {
	in := "stan=000123 rrn=240115123456 ts=20240115120000123"
	out := String(in)
	if out != in {
		t.Fatalf("String changed %q to %q", in, out)
	}
	if n := testing.AllocsPerRun(100, func() { _ = String(in) }); n != 0 {
		t.Errorf("String allocates %v times on a line without a PAN", n)
	}
}

// candidates is a slow reference: every run of whole digit groups (joined
// by single ' ' or '-') of 13-19 digits, not starting with 0, that passes Luhn, as the list of
// byte positions of its digits. Maximal digit runs longer than 19 take
// part in nothing.
func candidates(s string) [][]int {
	var groups [][2]int
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		groups = append(groups, [2]int{i, j})
		i = j
	}
	var out [][]int
	for a := range groups {
		var pos []int
		digits := ""
		for b := a; b < len(groups); b++ {
			g := groups[b]
			if g[1]-g[0] > 19 {
				break
			}
			if b > a {
				prev := groups[b-1]
				if g[0] != prev[1]+1 || (s[prev[1]] != ' ' && s[prev[1]] != '-') {
					break
				}
			}
			for p := g[0]; p < g[1]; p++ {
				pos = append(pos, p)
			}
			digits += s[g[0]:g[1]]
			if len(digits) >= 13 && len(digits) <= 19 && digits[0] != '0' && card.Luhn(digits) {
				out = append(out, append([]int(nil), pos...))
			}
		}
	}
	return out
}

func FuzzString(f *testing.F) {
	for _, s := range []string{
		"", pan16, "card " + visa + " ok", "6212 3456 7890 1232", "2024-01-15 6212-3456-7890-1232",
		pan16 + "0000", "4111 1111 1111 1111 5555 5555 5555 4444", "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5",
		"pan" + pan19 + "D2512", "\xff" + amex, strings.Repeat("42 ", 30),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o := String(s)
		if len(o) != len(s) {
			t.Fatalf("length %d -> %d", len(s), len(o))
		}
		for i := 0; i < len(s); i++ {
			if o[i] != s[i] && !(o[i] == '*' && isDigit(s[i])) {
				t.Fatalf("byte %d changed from %q to %q", i, s[i], o[i])
			}
		}
		// No maximal digit run of PAN length in the output passes Luhn.
		for i := 0; i < len(o); {
			if !isDigit(o[i]) {
				i++
				continue
			}
			j := i
			for j < len(o) && isDigit(o[j]) {
				j++
			}
			if n := j - i; n >= 13 && n <= 19 && o[i] != '0' && card.Luhn(o[i:j]) {
				t.Fatalf("output %q holds Luhn-valid run %q", o, o[i:j])
			}
			i = j
		}
		// Every candidate the reference finds shows at most its first 6
		// and last 4 digits; with no candidate the input is unchanged.
		cs := candidates(s)
		if len(cs) == 0 && o != s {
			t.Fatalf("no candidate in %q, but output %q", s, o)
		}
		for _, pos := range cs {
			for k, p := range pos {
				if k >= 6 && k < len(pos)-4 && o[p] != '*' {
					t.Fatalf("in %q the candidate at %v kept digit %d: %q", s, pos, k, o)
				}
			}
		}
		// Masking is only ever done for a candidate.
		masked := map[int]bool{}
		for _, pos := range cs {
			for k, p := range pos {
				if k >= 6 && k < len(pos)-4 {
					masked[p] = true
				}
			}
		}
		for i := range o {
			if (o[i] == '*' && s[i] != '*') != masked[i] {
				t.Fatalf("byte %d of %q masked=%v, reference says %v (%q)", i, s, o[i] == '*', masked[i], o)
			}
		}
	})
}

var sink string

func BenchmarkString(b *testing.B) {
	lines := []struct{ name, line string }{
		{"clean", `time=2024-01-15T10:20:30.123Z level=INFO msg="payment approved" tid=12345678 stan=000123 rrn=240115123456 amount=12.34 currency=156 took=1.234s`},
		{"PAN", `time=2024-01-15T10:20:30.123Z level=INFO msg="payment approved" tid=12345678 stan=000123 rrn=240115123456 pan=6212345678901232 amount=12.34`},
		{"spaced PAN", `time=2024-01-15T10:20:30.123Z level=WARN msg="keyed entry" card="6212 3456 7890 1232" stan=000124 amount=1000.00`},
	}
	for _, l := range lines {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(l.line)))
			for b.Loop() {
				sink = String(l.line)
			}
		})
	}
}

func TestZeroLeadingRunsAreNotPANs(t *testing.T) {
	// Transaction IDs are zero-padded hex; "000000000000000f" holds a
	// Luhn-valid run of zeros that is not a card number.
	in := "txn=000000000000000f stan=000012"
	if got := String(in); got != in {
		t.Errorf("String(%q) = %q", in, got)
	}
	if got := String("pan 4111111111111111"); got != "pan 411111******1111" {
		t.Errorf("a real PAN is still masked: %q", got)
	}
}
