package scanner

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Kind is what a scanned code looks like.
type Kind uint8

// Kinds of code. Classify decides; the payment kinds are decided by
// prefix and length only, the wallet's host decides whether the code is
// real (docs/scanner.md has the rules and their sources).
const (
	// KindOther is anything not listed below (URLs, Code 128 text, EAN-8,
	// an EAN-13 with a wrong check digit, ...).
	KindOther Kind = iota
	// KindEAN13 is 13 digits whose last digit is the GS1 check digit.
	KindEAN13
	// KindUPCA is 12 digits whose last digit is the GS1 check digit.
	KindUPCA
	// KindUnionPay is a UnionPay QR payment code: 19 digits starting "62".
	KindUnionPay
	// KindWeChatPay is a WeChat Pay payment code: 18 digits starting 10
	// to 15.
	KindWeChatPay
	// KindAlipay is an Alipay payment code: 16 to 24 digits starting 25 to
	// 30.
	KindAlipay
)

var kindNames = [...]string{
	KindOther:     "other",
	KindEAN13:     "ean13",
	KindUPCA:      "upca",
	KindUnionPay:  "unionpay",
	KindWeChatPay: "wechatpay",
	KindAlipay:    "alipay",
}

// String names the kind ("ean13", "wechatpay", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// IsPayment reports whether k is a customer-presented payment code: a
// one-time token that must go online at once and must not be logged.
func (k Kind) IsPayment() bool {
	return k == KindUnionPay || k == KindWeChatPay || k == KindAlipay
}

// IsProduct reports whether k is a retail product number (EAN-13, UPC-A).
func (k Kind) IsProduct() bool { return k == KindEAN13 || k == KindUPCA }

// Classify tells what code is. It does not log, allocate or keep code.
//
// Payment codes (all digits):
//   - UnionPay: 19 digits starting "62";
//   - WeChat Pay: 18 digits starting "10".."15";
//   - Alipay: 16 to 24 digits starting "25".."30".
//
// Product codes: 13 digits (EAN-13) or 12 digits (UPC-A) with a correct
// GS1 mod-10 check digit. A wrong check digit is KindOther. Everything
// else is KindOther. The families do not overlap: lengths 12 and 13 are
// products only, and the payment prefixes are disjoint.
func Classify(code string) Kind {
	n := len(code)
	if n < 12 || n > 24 || !allDigits(code) {
		return KindOther
	}
	p := int(code[0]-'0')*10 + int(code[1]-'0')
	switch {
	case n == 12:
		if gs1CheckOK(code) {
			return KindUPCA
		}
	case n == 13:
		if gs1CheckOK(code) {
			return KindEAN13
		}
	case n == 19 && p == 62:
		return KindUnionPay
	case n == 18 && p >= 10 && p <= 15:
		return KindWeChatPay
	case n >= 16 && p >= 25 && p <= 30:
		return KindAlipay
	}
	return KindOther
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// gs1CheckOK verifies the GS1 mod-10 check digit of an all-digit string
// (GS1 General Specifications §7.9.1): counting from the rightmost data
// digit, digits are weighted 3, 1, 3, ...; the check digit brings the sum
// to a multiple of 10.
func gs1CheckOK(s string) bool {
	n := len(s)
	sum := 0
	for i := n - 2; i >= 0; i-- {
		d := int(s[i] - '0')
		if (n-2-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return (10-sum%10)%10 == int(s[n-1]-'0')
}

// Code is one scan: the characters between two terminators, what they
// look like and when the terminator arrived.
//
// The text is kept out of fmt, slog and encoding/json on purpose: a
// payment code is a one-time bearer token until the host has used it, and
// a UnionPay one looks exactly like a PAN. String, GoString, LogValue and
// MarshalJSON show a masked form; only Text returns the characters.
type Code struct {
	text string
	// Kind is Classify(Text()).
	Kind Kind
	// At is when the code's terminator was read (the reader's clock).
	At time.Time
}

// NewCode returns a Code for text, classified, stamped at.
func NewCode(text string, at time.Time) Code {
	return Code{text: text, Kind: Classify(text), At: at}
}

// Text returns the scanned characters in full. Hand them to the code's
// consumer only; never log them.
func (c Code) Text() string { return c.text }

// Len returns the number of characters.
func (c Code) Len() int { return len(c.text) }

// Masked returns the text fit for logs and screens: product codes
// (EAN-13, UPC-A) in full; any other code of 10 characters or more with
// all but the first 2 and last 4 replaced by '*'; shorter ones all '*'.
func (c Code) Masked() string {
	if c.Kind.IsProduct() {
		return c.text
	}
	n := len(c.text)
	if n < 10 {
		return strings.Repeat("*", n)
	}
	return c.text[:2] + strings.Repeat("*", n-6) + c.text[n-4:]
}

// String returns the kind and the masked text, e.g.
// "wechatpay:13************5678".
func (c Code) String() string { return c.Kind.String() + ":" + c.Masked() }

// GoString is String, so %#v does not print the text either.
func (c Code) GoString() string { return "scanner.Code(" + c.String() + ")" }

// LogValue implements slog.LogValuer: kind, length and the masked text.
func (c Code) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", c.Kind.String()),
		slog.Int("len", len(c.text)),
		slog.String("code", c.Masked()),
	)
}

// MarshalJSON encodes the kind, length, masked text and time, never the
// text itself.
func (c Code) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kind   string    `json:"kind"`
		Len    int       `json:"len"`
		Masked string    `json:"masked"`
		At     time.Time `json:"at"`
	}{c.Kind.String(), len(c.text), c.Masked(), c.At})
}

var _ slog.LogValuer = Code{}
var _ json.Marshaler = Code{}
