package money

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	cases := []struct {
		in   string
		cur  Currency
		want int64
	}{
		{"12.34", CNY, 1234},
		{"12.3", CNY, 1230},
		{"12", CNY, 1200},
		{"0", CNY, 0},
		{"0.05", CNY, 5},
		{"0.5", CNY, 50},
		{"1000.00", CNY, 100000},
		{"999999999999", JPY, 999999999999},
		{"9999999999.99", CNY, 999999999999},
		{"1.234", BHD, 1234},
		{"500", JPY, 500},
	}
	for _, c := range cases {
		got, err := Parse(c.in, c.cur)
		if err != nil {
			t.Errorf("Parse(%q, %s): %v", c.in, c.cur, err)
			continue
		}
		if got != c.want {
			t.Errorf("Parse(%q, %s) = %d, want %d", c.in, c.cur, got, c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		in      string
		cur     Currency
		wantErr error
		mention string
	}{
		{"", CNY, ErrSyntax, "empty"},
		{"-1.00", CNY, ErrSyntax, "only digits"},
		{"+1.00", CNY, ErrSyntax, "only digits"},
		{" 1.00", CNY, ErrSyntax, "only digits"},
		{"1.00 ", CNY, ErrSyntax, "only digits"},
		{"1,000.00", CNY, ErrSyntax, "only digits"},
		{"1e3", CNY, ErrSyntax, "only digits"},
		{"1.", CNY, ErrSyntax, "trailing decimal point"},
		{".5", CNY, ErrSyntax, "no digit before"},
		{"012.34", CNY, ErrSyntax, "leading zero"},
		{"00", CNY, ErrSyntax, "leading zero"},
		{"12.345", CNY, ErrSyntax, "2 decimal places"},
		{"1.5", JPY, ErrSyntax, "no minor units"},
		{"1.2.3", CNY, ErrSyntax, "only digits"},
		{"１２", CNY, ErrSyntax, "only digits"},
		{"10000000000.00", CNY, ErrRange, "maximum"},
		{"1000000000000", JPY, ErrRange, "maximum"},
		{"12.34", Currency(999), ErrUnknownCurrency, "999"},
	}
	for _, c := range cases {
		_, err := Parse(c.in, c.cur)
		if !errors.Is(err, c.wantErr) {
			t.Errorf("Parse(%q, %s) error = %v, want %v", c.in, c.cur, err, c.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), c.mention) {
			t.Errorf("Parse(%q) error %q does not mention %q", c.in, err, c.mention)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := []struct {
		minor int64
		cur   Currency
		want  string
	}{
		{1234, CNY, "12.34"},
		{5, CNY, "0.05"},
		{0, CNY, "0.00"},
		{100000, CNY, "1000.00"},
		{-250, CNY, "-2.50"},
		{500, JPY, "500"},
		{1234, BHD, "1.234"},
		{999999999999, CNY, "9999999999.99"},
	}
	for _, c := range cases {
		got, err := Format(c.minor, c.cur)
		if err != nil || got != c.want {
			t.Errorf("Format(%d, %s) = %q, %v; want %q", c.minor, c.cur, got, err, c.want)
		}
	}
	if _, err := Format(1, Currency(1)); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("Format with unknown currency: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, cur := range []Currency{CNY, JPY, BHD} {
		for _, v := range []int64{0, 1, 9, 10, 99, 100, 101, 123456, MaxMinor} {
			s, err := Format(v, cur)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(s, cur)
			if err != nil || back != v {
				t.Errorf("%s: %d -> %q -> %d, %v", cur, v, s, back, err)
			}
		}
	}
}

func TestCurrencyNames(t *testing.T) {
	if CNY.String() != "CNY" || CNY.Numeric() != "156" || Currency(4).String() != "004" {
		t.Errorf("names: %s %s %s", CNY, CNY.Numeric(), Currency(4))
	}
	if (Amount{Minor: 1234, Currency: CNY}).String() != "12.34 CNY" {
		t.Errorf("Amount.String = %q", Amount{Minor: 1234, Currency: CNY})
	}
}

// FuzzParse checks that Parse never panics, that everything it accepts is
// in range and formats back to exactly the input (no two strings parse to
// one amount, so nothing ambiguous is accepted).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"12.34", "0", "0.05", "1.", ".5", "012", "1e3", "-1", "9999999999.99", "1.234"} {
		f.Add(s, uint16(156))
	}
	f.Add("1.234", uint16(48))
	f.Add("500", uint16(392))
	f.Fuzz(func(t *testing.T, s string, c uint16) {
		cur := Currency(c)
		v, err := Parse(s, cur)
		if err != nil {
			return
		}
		if v < 0 || v > MaxMinor {
			t.Fatalf("Parse(%q) = %d out of range", s, v)
		}
		out, err := Format(v, cur)
		if err != nil {
			t.Fatalf("Format(%d): %v", v, err)
		}
		// Canonical form has all fraction digits; the input may omit
		// trailing ones. Both must denote the same amount.
		back, err := Parse(out, cur)
		if err != nil || back != v {
			t.Fatalf("%q -> %d -> %q -> %d (%v)", s, v, out, back, err)
		}
		if !strings.HasPrefix(out, s) && s != out {
			t.Fatalf("accepted %q formats as %q: not a prefix-equal spelling", s, out)
		}
	})
}
