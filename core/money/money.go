// Package money holds amounts as integer minor units with an ISO 4217
// numeric currency, and converts them to and from decimal strings exactly.
//
// There are no floats anywhere in this package (DESIGN.md invariant 9):
// "12.34" in CNY is 1234 fen, and 1234 fen formats back to "12.34".
package money

import (
	"errors"
	"fmt"
	"strconv"
)

// Currency is an ISO 4217 numeric currency code, e.g. 156 for CNY.
type Currency uint16

// Currencies the terminal knows the minor-unit exponent of.
const (
	CNY Currency = 156
	HKD Currency = 344
	JPY Currency = 392
	KRW Currency = 410
	MOP Currency = 446
	SGD Currency = 702
	USD Currency = 840
	GBP Currency = 826
	EUR Currency = 978
	BHD Currency = 48
)

// DefaultCurrency is the terminal's currency when the config names none.
const DefaultCurrency = CNY

var exponents = map[Currency]int{
	CNY: 2, HKD: 2, JPY: 0, KRW: 0, MOP: 2, SGD: 2, USD: 2, GBP: 2, EUR: 2, BHD: 3,
}

var alpha = map[Currency]string{
	CNY: "CNY", HKD: "HKD", JPY: "JPY", KRW: "KRW", MOP: "MOP", SGD: "SGD",
	USD: "USD", GBP: "GBP", EUR: "EUR", BHD: "BHD",
}

// ErrUnknownCurrency is returned for a currency code this package has no
// exponent for.
var ErrUnknownCurrency = errors.New("money: unknown currency")

// ErrSyntax is wrapped by every amount parse failure.
var ErrSyntax = errors.New("money: invalid amount")

// ErrRange is returned when an amount does not fit the limits of the field
// it is used in (int64, or the 12 digits of ISO 8583 field 4).
var ErrRange = errors.New("money: amount out of range")

// MaxMinor is the largest amount the terminal handles: 12 decimal digits,
// the width of ISO 8583 field 4.
const MaxMinor int64 = 999_999_999_999

// Exponent returns the number of minor-unit digits of c.
func (c Currency) Exponent() (int, error) {
	e, ok := exponents[c]
	if !ok {
		return 0, fmt.Errorf("%w: %03d", ErrUnknownCurrency, uint16(c))
	}
	return e, nil
}

// Known reports whether c is a currency this package can format.
func (c Currency) Known() bool { _, ok := exponents[c]; return ok }

// String returns the alphabetic code ("CNY"), or the numeric one if unknown.
func (c Currency) String() string {
	if a, ok := alpha[c]; ok {
		return a
	}
	return fmt.Sprintf("%03d", uint16(c))
}

// Numeric returns the three-digit numeric code, "156" for CNY.
func (c Currency) Numeric() string { return fmt.Sprintf("%03d", uint16(c)) }

// Amount is a positive or zero amount in minor units of Currency.
type Amount struct {
	Minor    int64    `json:"minor"`
	Currency Currency `json:"currency"`
}

// String formats the amount as "12.34 CNY".
func (a Amount) String() string {
	s, err := Format(a.Minor, a.Currency)
	if err != nil {
		return fmt.Sprintf("%d minor of %s", a.Minor, a.Currency)
	}
	return s + " " + a.Currency.String()
}

// Parse converts a decimal string to minor units of c, exactly.
//
// It accepts only plain decimals: digits, optionally a point followed by
// between one and Exponent() digits ("12", "12.3", "12.34" for CNY). It
// rejects anything that could be read two ways or that would lose a digit:
// signs, spaces, thousands separators, exponents, a leading or trailing
// point, leading zeros ("012.34"), more fraction digits than the currency
// has, and amounts above MaxMinor.
func Parse(s string, c Currency) (int64, error) {
	exp, err := c.Exponent()
	if err != nil {
		return 0, err
	}
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrSyntax)
	}
	intPart, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac = s[:i], s[i+1:]
			if frac == "" {
				return 0, fmt.Errorf("%w %q: trailing decimal point", ErrSyntax, s)
			}
			break
		}
	}
	if intPart == "" {
		return 0, fmt.Errorf("%w %q: no digit before the decimal point", ErrSyntax, s)
	}
	if !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("%w %q: only digits and one decimal point are allowed", ErrSyntax, s)
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, fmt.Errorf("%w %q: leading zero", ErrSyntax, s)
	}
	if len(frac) > exp {
		if exp == 0 {
			return 0, fmt.Errorf("%w %q: %s has no minor units", ErrSyntax, s, c)
		}
		return 0, fmt.Errorf("%w %q: %s has %d decimal places", ErrSyntax, s, c, exp)
	}
	if len(intPart) > 12 {
		return 0, fmt.Errorf("%w: %q is above the maximum %d minor units", ErrRange, s, MaxMinor)
	}
	for len(frac) < exp {
		frac += "0"
	}
	v, err := strconv.ParseInt(intPart+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	if v > MaxMinor {
		return 0, fmt.Errorf("%w: %q is above the maximum %d minor units", ErrRange, s, MaxMinor)
	}
	return v, nil
}

// Format converts minor units of c to a decimal string with exactly
// Exponent() fraction digits: 1234 CNY is "12.34", 5 CNY is "0.05".
// Negative amounts get a leading "-" (used for refunds in reports).
func Format(minor int64, c Currency) (string, error) {
	exp, err := c.Exponent()
	if err != nil {
		return "", err
	}
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = uint64(-minor) // -MinInt64 wraps to itself, which as uint64 is correct
	}
	digits := strconv.FormatUint(u, 10)
	for len(digits) <= exp {
		digits = "0" + digits
	}
	out := digits
	if exp > 0 {
		out = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if neg {
		out = "-" + out
	}
	return out, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
