// Package card describes the card data a card source hands to the payment
// flow, in either of the two shapes DESIGN.md requires (clear, or
// encrypted inside a secure reader), and the PAN helpers every layer
// shares: Luhn check, masking to first 6 / last 4, and scheme by BIN.
package card

import (
	"errors"
	"fmt"
	"strings"

	"github.com/posagent/posagent/core/txn"
)

// Data is what a card source delivers for one payment.
type Data struct {
	Entry     txn.EntryMode `json:"entry"`
	Scheme    string        `json:"scheme"`               // "UnionPay", "Visa", "Mastercard", "WeChat Pay", "Alipay", ...
	AID       string        `json:"aid,omitempty"`        // hex, for chip cards
	Label     string        `json:"label,omitempty"`      // application label (tag 50)
	MaskedPAN string        `json:"masked_pan,omitempty"` // first 6 / last 4
	// CVMRequired is set when the card or the amount asks for a
	// cardholder verification the terminal must capture (a signature).
	CVMRequired bool `json:"cvm_required,omitempty"`
	// Sensitive holds the clear or reader-encrypted data. It is sealed by
	// the store and never logged or shown.
	Sensitive txn.Sensitive `json:"-"`
	// CVV is only ever set for a keyed entry, used for that one request,
	// and never journaled.
	CVV string `json:"-"`
}

// ErrPAN is wrapped by PAN validation failures.
var ErrPAN = errors.New("card: invalid PAN")

// ValidPAN checks length (12-19 digits) and the Luhn check digit.
func ValidPAN(pan string) error {
	if len(pan) < 12 || len(pan) > 19 {
		return fmt.Errorf("%w: length %d, want 12-19 digits", ErrPAN, len(pan))
	}
	for i := 0; i < len(pan); i++ {
		if pan[i] < '0' || pan[i] > '9' {
			return fmt.Errorf("%w: non-digit at position %d", ErrPAN, i+1)
		}
	}
	if !Luhn(pan) {
		return fmt.Errorf("%w: check digit does not match (Luhn)", ErrPAN)
	}
	return nil
}

// Luhn reports whether the digit string s passes the Luhn (mod 10) check.
// Non-digit input returns false.
func Luhn(s string) bool {
	if len(s) < 2 {
		return false
	}
	sum := 0
	double := false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// Mask returns the PAN with all but the first 6 and last 4 digits replaced
// by '*' (PCI DSS 3.4.1). PANs shorter than 13 digits keep only the last 4.
func Mask(pan string) string {
	n := len(pan)
	switch {
	case n == 0:
		return ""
	case n < 13:
		if n <= 4 {
			return strings.Repeat("*", n)
		}
		return strings.Repeat("*", n-4) + pan[n-4:]
	}
	return pan[:6] + strings.Repeat("*", n-10) + pan[n-4:]
}

// SchemeByPAN names the card scheme from the PAN's leading digits. It is a
// display hint only: chip cards name their scheme by AID.
func SchemeByPAN(pan string) string {
	switch {
	case strings.HasPrefix(pan, "62"):
		return "UnionPay"
	case strings.HasPrefix(pan, "4"):
		return "Visa"
	case len(pan) >= 2 && pan[0] == '5' && pan[1] >= '1' && pan[1] <= '5':
		return "Mastercard"
	case len(pan) >= 4 && pan[:2] == "22" && pan[:4] >= "2221" && pan[:4] <= "2720":
		return "Mastercard"
	}
	return "Unknown"
}
