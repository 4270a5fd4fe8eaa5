package standin

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// Scheme names used as keys of TestCards (the names card.SchemeByPAN
// gives, plus the QR wallet).
const (
	UnionPay   = "UnionPay"
	Visa       = "Visa"
	Mastercard = "Mastercard"
	WeChatPay  = "WeChat Pay"
)

// TestCards are the stand-in test cards by scheme: contactless UnionPay,
// Visa and Mastercard cards with Luhn-valid PANs, and a WeChat Pay payment
// code for QR entry. Treat the map as read-only; TestCard returns a copy
// that may be changed.
var TestCards = map[string]card.Data{
	UnionPay:   contactless("6212345678901232", "2912", "A000000333010101", "UNIONPAY DEBIT", UnionPay, "7C00", "07010103A00000"),
	Visa:       contactless("4761739001010010", "2812", "A0000000031010", "VISA CREDIT", Visa, "2000", "06011203A00000"),
	Mastercard: contactless("5413330089600010", "2712", "A0000000041010", "MASTERCARD", Mastercard, "1980", "0110A00001220000000000000000000000FF"),
	WeChatPay: {
		Entry:     txn.QR,
		Scheme:    WeChatPay,
		Sensitive: txn.Sensitive{QRCode: "134512345678901234"},
	},
}

// TestCard returns a copy of the test card of scheme.
func TestCard(scheme string) (card.Data, bool) {
	d, ok := TestCards[scheme]
	if !ok {
		return card.Data{}, false
	}
	return clone(d), true
}

func clone(d card.Data) card.Data {
	d.Sensitive.ICC = slices.Clone(d.Sensitive.ICC)
	if d.Sensitive.Reader != nil {
		r := *d.Sensitive.Reader
		r.KSN = slices.Clone(r.KSN)
		r.Ciphertext = slices.Clone(r.Ciphertext)
		d.Sensitive.Reader = &r
	}
	return d
}

// contactless builds a clear-data contactless card. aip and iad are hex.
func contactless(pan, expiry, aid, label, scheme, aip, iad string) card.Data {
	d := card.Data{
		Entry:     txn.Contactless,
		Scheme:    scheme,
		AID:       aid,
		Label:     label,
		MaskedPAN: card.Mask(pan),
		Sensitive: txn.Sensitive{
			PAN:    pan,
			Expiry: expiry,
			Track2: track2(pan, expiry),
			PANSeq: "01",
		},
	}
	d.Sensitive.ICC = icc(d, iccProfile{aip: mustHex(aip), iad: mustHex(iad)}, payment.CardRequest{
		Amount: money.Amount{Currency: money.CNY},
		Type:   txn.Sale,
		Date:   time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}, 1)
	return d
}

// track2 builds the track 2 equivalent data (EMV tag 57) as hex digits:
// PAN, separator D, expiry YYMM, service code 201 (international, chip,
// normal authorisation), discretionary data, padded with F to whole bytes.
func track2(pan, expiry string) string {
	t := pan + "D" + expiry + "201" + "0000000000000"
	if len(t)%2 == 1 {
		t += "F"
	}
	return t
}

// iccProfile is what differs per card application in field 55.
type iccProfile struct {
	aip []byte // tag 82
	iad []byte // tag 9F10
}

// icc builds the field 55 TLV blob of a read: the card's AIP and issuer
// application data, the terminal data of the request, the ATC and a
// stand-in cryptogram (the first 8 bytes of SHA-256 over the PAN, amount,
// unpredictable number and ATC; a real card computes an ARQC with its
// issuer key).
func icc(d card.Data, p iccProfile, req payment.CardRequest, atc uint16) []byte {
	var atcB [2]byte
	binary.BigEndian.PutUint16(atcB[:], atc)
	amt := bcd(fmt.Sprintf("%012d", req.Amount.Minor))
	cur := bcd("0" + req.Amount.Currency.Numeric())
	date := bcd(req.Date.UTC().Format("060102"))
	h := sha256.New()
	h.Write([]byte(d.Sensitive.PAN))
	h.Write(amt)
	h.Write(req.Unpredictable[:])
	h.Write(atcB[:])
	ac := h.Sum(nil)[:8]

	var b []byte
	b = tlv(b, 0x9F26, ac)                      // application cryptogram (stand-in)
	b = tlv(b, 0x9F27, []byte{0x80})            // CID: ARQC
	b = tlv(b, 0x9F10, p.iad)                   // issuer application data
	b = tlv(b, 0x9F37, req.Unpredictable[:])    // unpredictable number
	b = tlv(b, 0x9F36, atcB[:])                 // ATC
	b = tlv(b, 0x95, make([]byte, 5))           // TVR
	b = tlv(b, 0x9A, date)                      // transaction date YYMMDD
	b = tlv(b, 0x9C, []byte{0x00})              // transaction type: goods and services
	b = tlv(b, 0x9F02, amt)                     // amount authorised
	b = tlv(b, 0x5F2A, cur)                     // transaction currency
	b = tlv(b, 0x82, p.aip)                     // AIP
	b = tlv(b, 0x9F1A, []byte{0x01, 0x56})      // terminal country: China
	b = tlv(b, 0x84, mustHex(d.AID))            // dedicated file name (AID)
	b = tlv(b, 0x5F34, bcd(d.Sensitive.PANSeq)) // PAN sequence number
	return b
}

// tlv appends a BER-TLV with a one- or two-byte tag and a short length
// (every value here is under 128 bytes).
func tlv(b []byte, tag uint16, v []byte) []byte {
	if tag > 0xFF {
		b = append(b, byte(tag>>8))
	}
	return append(append(b, byte(tag), byte(len(v))), v...)
}

// tlvValue finds a tag in a blob built by tlv; nil if absent.
func tlvValue(b []byte, tag uint16) []byte {
	for len(b) > 0 {
		var t uint16
		if b[0]&0x1F == 0x1F {
			if len(b) < 2 {
				return nil
			}
			t, b = uint16(b[0])<<8|uint16(b[1]), b[2:]
		} else {
			t, b = uint16(b[0]), b[1:]
		}
		if len(b) < 1 || int(b[0]) > len(b)-1 {
			return nil
		}
		v := b[1 : 1+int(b[0])]
		b = b[1+int(b[0]):]
		if t == tag {
			return slices.Clone(v)
		}
	}
	return nil
}

// bcd packs an even number of decimal digits, two per byte.
func bcd(digits string) []byte {
	if len(digits)%2 == 1 {
		digits = "0" + digits
	}
	out := make([]byte, len(digits)/2)
	for i := range out {
		out[i] = (digits[2*i]-'0')<<4 | (digits[2*i+1] - '0')
	}
	return out
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("standin: bad hex constant " + s)
	}
	return b
}
