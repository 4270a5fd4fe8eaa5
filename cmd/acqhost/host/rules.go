package host

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/posagent/posagent/core/card"
)

// Response codes the host sends (docs/dialect.md "Response codes").
const (
	RCApproved        = "00"
	RCInvalidMerchant = "03"
	RCDoNotHonour     = "05"
	RCInvalidTxn      = "12"
	RCInvalidAmount   = "13"
	RCInvalidCard     = "14"
	RCOrigNotFound    = "25"
	RCFormatError     = "30"
	RCInsufficient    = "51"
	RCBatchMismatch   = "77"
	RCIssuerDown      = "91"
	RCDuplicate       = "94"
	RCSystemError     = "96"
	RCUnknownTerminal = "97"
	RCBadMAC          = "A0"
)

// ruleCodes are the decline rules keyed by the last two digits of the
// amount (or of a QR payment code): docs/dialect.md "Reference host test
// rules", the same table as core/payment/standin.
var ruleCodes = map[int]string{
	51: RCInsufficient,
	5:  RCDoNotHonour,
	14: RCInvalidCard,
	96: RCSystemError,
	91: RCIssuerDown,
}

// noAnswerDigits are the last two digits that make the host not answer.
const noAnswerDigits = 98

// verdict is what the test rules decide for one request.
type verdict struct {
	code     string // RCApproved or a decline code
	noAnswer bool   // the 98 rule: decided (approved) but never answered
	why      string // which rule fired, for the log and the record note
}

// byLastTwo applies the table to last two digits d. ok is false when no
// rule matches (approve).
func byLastTwo(d int, noAnswer98 bool, what string) (verdict, bool) {
	if d == noAnswerDigits && noAnswer98 {
		return verdict{code: RCApproved, noAnswer: true, why: what + " ends in 98: no answer"}, true
	}
	if c, ok := ruleCodes[d]; ok {
		return verdict{code: c, why: fmt.Sprintf("%s ends in %02d", what, d)}, true
	}
	return verdict{}, false
}

// decide applies the test rules in order: the amount's last two digits,
// then the PAN's Luhn check (when a clear PAN is present), then the QR
// payment code's last two digits (QR sales).
func decide(amount int64, pan, qr string, noAnswer98 bool) verdict {
	if v, ok := byLastTwo(int(amount%100), noAnswer98, "amount"); ok {
		return v
	}
	if pan != "" && !card.Luhn(pan) {
		return verdict{code: RCInvalidCard, why: "PAN fails the Luhn check"}
	}
	if qr != "" {
		if _, ok := walletOf(qr); !ok {
			return verdict{code: RCInvalidCard, why: "payment code not recognised"}
		}
		d, _ := strconv.Atoi(qr[len(qr)-2:])
		if v, ok := byLastTwo(d, noAnswer98, "payment code"); ok {
			return v
		}
	}
	return verdict{code: RCApproved}
}

// Card organisation codes of field 63.
const (
	OrgUnionPay   = "CUP"
	OrgVisa       = "VIS"
	OrgMastercard = "MCC"
	OrgOther      = "OTH" // ours: neither PAN prefix nor AID is known
	WalletUPQR    = "UPQ"
	WalletWeChat  = "WXP"
	WalletAlipay  = "ALP"
)

// AID prefixes (registered application provider identifiers).
const (
	ridUnionPay   = "A000000333"
	ridVisa       = "A000000003"
	ridMastercard = "A000000004"
)

// orgOf names the card organisation: by PAN prefix when a clear PAN is
// known (62 UnionPay, 4 Visa, 51-55 and 2221-2720 Mastercard), else by the
// AID's RID from field 55.
func orgOf(pan, aid string) string {
	if pan != "" {
		switch card.SchemeByPAN(pan) {
		case "UnionPay":
			return OrgUnionPay
		case "Visa":
			return OrgVisa
		case "Mastercard":
			return OrgMastercard
		}
		return OrgOther
	}
	switch {
	case strings.HasPrefix(aid, ridUnionPay):
		return OrgUnionPay
	case strings.HasPrefix(aid, ridVisa):
		return OrgVisa
	case strings.HasPrefix(aid, ridMastercard):
		return OrgMastercard
	}
	return OrgOther
}

// isDomestic decides the settlement half of a card transaction: PAN
// prefix 62 is domestic, any other PAN foreign; without a clear PAN, a
// UnionPay AID is domestic, another AID foreign, no card data at all
// domestic. QR payments are always domestic.
func isDomestic(pan, aid string) bool {
	if pan != "" {
		return strings.HasPrefix(pan, "62")
	}
	if aid != "" {
		return strings.HasPrefix(aid, ridUnionPay)
	}
	return true
}

// walletOf names the wallet of a customer-presented payment code by its
// prefix: 62 UnionPay QR, 10-15 WeChat Pay, 25-30 Alipay. The code must be
// 10 to 32 digits.
func walletOf(code string) (string, bool) {
	if len(code) < 10 || len(code) > 32 {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	p := (int(code[0]-'0'))*10 + int(code[1]-'0')
	switch {
	case p == 62:
		return WalletUPQR, true
	case p >= 10 && p <= 15:
		return WalletWeChat, true
	case p >= 25 && p <= 30:
		return WalletAlipay, true
	}
	return "", false
}

// Errors of the field-62 and field-55 parsers.
var (
	errNotQR = errors.New("field 62 is not a 92QR payment code")
	errBadQR = errors.New("field 62 payment code malformed")
)

// qrPrefix tags a payment code in field 62: "92QR" + 3-digit length +
// code (docs/dialect.md, ours).
const qrPrefix = "92QR"

// parseQR extracts the payment code from field 62.
func parseQR(f62 []byte) (string, error) {
	s := string(f62)
	if !strings.HasPrefix(s, qrPrefix) {
		return "", errNotQR
	}
	if len(s) < len(qrPrefix)+3 {
		return "", fmt.Errorf("%w: %d bytes, shorter than tag and length", errBadQR, len(s))
	}
	ls := s[len(qrPrefix) : len(qrPrefix)+3]
	n, err := strconv.Atoi(ls)
	if err != nil || n < 0 || strings.ContainsAny(ls, "+-") {
		return "", fmt.Errorf("%w: length %q is not 3 digits", errBadQR, ls)
	}
	code := s[len(qrPrefix)+3:]
	if len(code) != n {
		return "", fmt.Errorf("%w: length says %d, %d follow", errBadQR, n, len(code))
	}
	return code, nil
}

// aidOf finds the AID in BER-TLV field 55 data (tag 4F, else 84, else
// 9F06) as upper-case hex; "" when absent or the data does not parse.
func aidOf(icc []byte) string {
	found := map[uint32]string{}
	b := icc
	for len(b) > 0 {
		if b[0] == 0x00 || b[0] == 0xFF { // padding between objects
			b = b[1:]
			continue
		}
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1F == 0x1F {
			for {
				if i >= len(b) || i > 3 {
					return ""
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			return ""
		}
		l := int(b[i])
		i++
		if l&0x80 != 0 {
			nb := l & 0x7F
			if nb == 0 || nb > 2 || i+nb > len(b) {
				return ""
			}
			l = 0
			for _, c := range b[i : i+nb] {
				l = l<<8 | int(c)
			}
			i += nb
		}
		if l > len(b)-i {
			return ""
		}
		v := b[i : i+l]
		b = b[i+l:]
		switch tag {
		case 0x4F, 0x84, 0x9F06:
			if _, ok := found[tag]; !ok {
				found[tag] = fmt.Sprintf("%X", v)
			}
		}
	}
	for _, t := range []uint32{0x4F, 0x84, 0x9F06} {
		if a, ok := found[t]; ok {
			return a
		}
	}
	return ""
}
