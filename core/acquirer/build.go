package acquirer

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// Fixed values of the dialect (docs/dialect.md).
const (
	// Operator is field 63 of sign-in and settlement requests.
	Operator = "001"
	// ProcSale is field 3 of a sale, QR sale and offline sale.
	ProcSale = "000000"
	// ProcVoid is field 3 of a void and a refund.
	ProcVoid = "200000"
	// ConditionNormal is field 25 (POS condition code).
	ConditionNormal = "00"
	// NetNone is 60.3 of financial messages.
	NetNone = "000"
	// Entry modes (field 22).
	EntryContactless = "072"
	EntryKeyed       = "012" // ours: PIN capability digit 2 = none
	EntryQR          = "032" // ours
	// tagCVV and tagQR start field 62 for keyed and QR sales (ours for QR).
	tagCVV = "92CV"
	tagQR  = "92QR"
)

// Reversal reason codes (field 39 of a 0400/0401).
const (
	ReasonNoResponse = "98" // no (valid) answer in time
	ReasonBadMAC     = "A0" // the answer's MAC failed
	ReasonOther      = "06" // the terminal decided to undo
)

// MaxBatchRecords is how many batch-upload records fit in one 0320
// (field 48 n..322 = 2 + 8 × 40 digits).
const MaxBatchRecords = 8

// Original identifies, beyond rec.Original (batch and STAN), the
// transaction a void or refund refers to.
type Original struct {
	RRN      string // field 37 of the original answer (12 characters)
	AuthCode string // field 38 of the original answer (6), if any
	Date     string // MMDD local date of the original; refunds only
}

// OriginalFrom returns the Original of a journaled transaction: its RRN
// and auth code as answered, and its local date (in loc, nil = UTC).
func OriginalFrom(orig txn.Record, loc *time.Location) Original {
	if loc == nil {
		loc = time.UTC
	}
	return Original{RRN: orig.Outcome.RRN, AuthCode: orig.Outcome.AuthCode, Date: orig.Created.In(loc).Format("0102")}
}

func badRequest(field int, format string, args ...any) error {
	return fmt.Errorf("%w: field %d: %s", ErrBadRequest, field, fmt.Sprintf(format, args...))
}

func n6(field int, v uint32, what string) (string, error) {
	if v > 999999 {
		return "", badRequest(field, "%s %d is over 999999", what, v)
	}
	return fmt.Sprintf("%06d", v), nil
}

// setIdentity sets fields 11, 41 and 42 and returns the 6-digit batch.
func setIdentity(m *iso8583.Message, id txn.Identity) (string, error) {
	if id.STAN == 0 {
		return "", badRequest(11, "STAN is 0, want 1..999999")
	}
	stan, err := n6(11, id.STAN, "STAN")
	if err != nil {
		return "", err
	}
	batch, err := n6(60, id.Batch, "batch")
	if err != nil {
		return "", err
	}
	if err := checkANS(41, id.TID, 8, "TID"); err != nil {
		return "", err
	}
	if err := checkANS(42, id.MID, 15, "MID"); err != nil {
		return "", err
	}
	m.Set(11, stan)
	m.Set(41, id.TID)
	m.Set(42, id.MID)
	return batch, nil
}

func checkANS(field int, v string, n int, what string) error {
	if len(v) != n {
		return badRequest(field, "%s is %d characters, want %d", what, len(v), n)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7F {
			return badRequest(field, "%s has a control character at %d", what, i+1)
		}
	}
	return nil
}

// zeroPad right-justifies the digits s in n characters with leading
// zeros (len(s) <= n).
func zeroPad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// setAmount sets fields 4 and 49.
func setAmount(m *iso8583.Message, a money.Amount) error {
	if a.Minor <= 0 || a.Minor > money.MaxMinor {
		return badRequest(4, "amount %d minor units, want 1..%d", a.Minor, money.MaxMinor)
	}
	if a.Currency == 0 || a.Currency > 999 {
		return badRequest(49, "currency %d, want an ISO 4217 numeric code 1..999", a.Currency)
	}
	m.Set(4, fmt.Sprintf("%012d", a.Minor))
	m.Set(49, fmt.Sprintf("%03d", a.Currency))
	return nil
}

func setField60(m *iso8583.Message, f iso8583.Field60) error {
	v, err := f.Encode()
	if err != nil {
		return fmt.Errorf("%w: field 60: %w", ErrBadRequest, err)
	}
	m.Set(60, v)
	return nil
}

// readCap returns 60.4 and 60.5 for an entry mode.
func readCap(e txn.EntryMode) (string, string, error) {
	switch e {
	case txn.Contactless:
		return "6", "0", nil
	case txn.Keyed:
		return "5", "0", nil
	case txn.QR:
		return "0", "0", nil
	}
	return "", "", badRequest(22, "entry mode %q not supported", e)
}

// cardUse says which card fields a message carries.
type cardUse uint8

const (
	useRequest  cardUse = iota // sale, void, refund: card data required, CVV and QR code in 62
	useOffline                 // offline advice: card data required, no 62
	useReversal                // reversal: whatever is available, no 62
)

// normTrack2 turns a track 2 equivalent (hex digits, 'D' or '=' as the
// separator, possibly 'F'-padded as EMV tag 57 is) into the value of
// field 35.
func normTrack2(t string) (string, error) {
	t = strings.ToUpper(strings.TrimRight(t, "Ff"))
	if t == "" {
		return "", badRequest(35, "track 2 is empty")
	}
	if len(t) > 37 {
		return "", badRequest(35, "track 2 is %d characters, at most 37", len(t))
	}
	sep := 0
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
		case c == 'D' || c == '=':
			sep++
		default:
			return "", badRequest(35, "track 2 has a character other than digits and the separator at %d", i+1)
		}
	}
	if sep != 1 {
		return "", badRequest(35, "track 2 has %d separators, want 1", sep)
	}
	return strings.ReplaceAll(t, "=", "D"), nil
}

// setCard sets fields 2, 14, 22, 23, 35, 55 and 62 for the entry mode.
func setCard(m *iso8583.Message, entry txn.EntryMode, s *txn.Sensitive, cvv string, use cardUse) error {
	var sens txn.Sensitive
	if s != nil {
		sens = *s
	}
	if use != useReversal && sens.PAN == "" && sens.Track2 == "" && sens.QRCode == "" && sens.Reader != nil {
		return badRequest(2, "reader-encrypted card data has no field in this dialect")
	}
	setPAN := func(required bool) error {
		if sens.PAN == "" {
			if required {
				return badRequest(2, "no PAN")
			}
			return nil
		}
		if len(sens.PAN) < 12 || len(sens.PAN) > 19 || !isDigits(sens.PAN) {
			return badRequest(2, "PAN is not 12 to 19 digits")
		}
		m.Set(2, sens.PAN)
		return nil
	}
	setExpiry := func() error {
		if sens.Expiry == "" {
			return nil
		}
		if len(sens.Expiry) != 4 || !isDigits(sens.Expiry) {
			return badRequest(14, "expiry is not YYMM")
		}
		m.Set(14, sens.Expiry)
		return nil
	}
	switch entry {
	case txn.Contactless:
		if use != useReversal && sens.PAN == "" && sens.Track2 == "" {
			return badRequest(2, "no clear card data (neither PAN nor track 2)")
		}
		if err := setPAN(false); err != nil {
			return err
		}
		if err := setExpiry(); err != nil {
			return err
		}
		m.Set(22, EntryContactless)
		if sens.PANSeq != "" {
			if len(sens.PANSeq) > 3 || !isDigits(sens.PANSeq) {
				return badRequest(23, "PAN sequence number is not 1 to 3 digits")
			}
			m.Set(23, zeroPad(sens.PANSeq, 3))
		}
		if sens.Track2 != "" {
			t2, err := normTrack2(sens.Track2)
			if err != nil {
				return err
			}
			m.Set(35, t2)
		}
		if len(sens.ICC) > 0 {
			if len(sens.ICC) > 255 {
				return badRequest(55, "ICC data is %d bytes, at most 255", len(sens.ICC))
			}
			m.SetBytes(55, sens.ICC)
		}
	case txn.Keyed:
		if err := setPAN(use != useReversal); err != nil {
			return err
		}
		if err := setExpiry(); err != nil {
			return err
		}
		m.Set(22, EntryKeyed)
		if use == useRequest && cvv != "" {
			if len(cvv) != 3 || !isDigits(cvv) {
				return badRequest(62, "CVV2 is not 3 digits")
			}
			m.SetBytes(62, []byte(tagCVV+"003"+cvv))
		}
	case txn.QR:
		if use == useOffline {
			return badRequest(22, "QR payments are online only")
		}
		m.Set(22, EntryQR)
		if use == useRequest {
			code := sens.QRCode
			if code == "" {
				return badRequest(62, "no payment code")
			}
			if len(code) > 505 { // 512 - len("92QR") - 3
				return badRequest(62, "payment code is %d characters, at most 505", len(code))
			}
			for i := 0; i < len(code); i++ {
				if code[i] < 0x20 || code[i] > 0x7E {
					return badRequest(62, "payment code has a non-printable character at %d", i+1)
				}
			}
			m.SetBytes(62, []byte(tagQR+fmt.Sprintf("%03d", len(code))+code))
		}
	default:
		return badRequest(22, "entry mode %q not supported", entry)
	}
	return nil
}

// financial builds the common part of a sale, void, refund or offline
// sale request: 3, 4, 11, 25, 41, 42, 49, 60 and the card fields.
func financial(mti string, rec txn.Record, s *txn.Sensitive, cvv string, use cardUse, proc, typ60 string) (*iso8583.Message, error) {
	m := iso8583.NewMessage(mti)
	batch, err := setIdentity(m, rec.Identity)
	if err != nil {
		return nil, err
	}
	if err := setAmount(m, rec.Amount); err != nil {
		return nil, err
	}
	m.Set(3, proc)
	m.Set(25, ConditionNormal)
	if err := setCard(m, rec.Entry, s, cvv, use); err != nil {
		return nil, err
	}
	rc, ic, err := readCap(rec.Entry)
	if err != nil {
		return nil, err
	}
	if err := setField60(m, iso8583.Field60{Type: typ60, Batch: batch, NetMgmt: NetNone, ReadCap: rc, ICCCond: ic}); err != nil {
		return nil, err
	}
	return m, nil
}

// SaleRequest builds a sale 0200 (60.1 = 22) for a card (contactless or
// keyed) or a customer-presented payment code (QR), from the journaled
// record and the card data. cvv is used for keyed entry only (field 62
// "92CV003" + CVV2) and may be empty. Field 64 is added when packing.
func SaleRequest(rec txn.Record, s txn.Sensitive, cvv string) (*iso8583.Message, error) {
	if rec.Type != txn.Sale {
		return nil, badRequest(3, "record type %q is not a sale", rec.Type)
	}
	return financial("0200", rec, &s, cvv, useRequest, ProcSale, iso8583.TypeSale)
}

func withOriginal(m *iso8583.Message, rec txn.Record, orig Original, refund bool) error {
	if rec.Original == nil {
		return badRequest(61, "record has no original identity")
	}
	ob, err := n6(61, rec.Original.Batch, "original batch")
	if err != nil {
		return err
	}
	if rec.Original.STAN == 0 {
		return badRequest(61, "original STAN is 0")
	}
	os, err := n6(61, rec.Original.STAN, "original STAN")
	if err != nil {
		return err
	}
	f61 := ob + os
	if refund {
		if len(orig.Date) != 4 || !isDigits(orig.Date) {
			return badRequest(61, "original date is not MMDD")
		}
		f61 += orig.Date
	}
	if len(orig.RRN) != 12 {
		return badRequest(37, "original RRN is %d characters, want 12", len(orig.RRN))
	}
	m.Set(37, orig.RRN)
	if orig.AuthCode != "" {
		if len(orig.AuthCode) != 6 {
			return badRequest(38, "original auth code is %d characters, want 6", len(orig.AuthCode))
		}
		m.Set(38, orig.AuthCode)
	}
	m.Set(61, f61)
	return nil
}

// VoidRequest builds a void 0200 (60.1 = 23, field 3 200000): the card
// data again, field 4 the original amount (rec.Amount), field 11 the
// void's own STAN, 37 and 38 the original's RRN and auth code, 61 the
// original batch and STAN (rec.Original).
func VoidRequest(rec txn.Record, s txn.Sensitive, orig Original) (*iso8583.Message, error) {
	if rec.Type != txn.Void {
		return nil, badRequest(3, "record type %q is not a void", rec.Type)
	}
	m, err := financial("0200", rec, &s, "", useRequest, ProcVoid, iso8583.TypeVoid)
	if err != nil {
		return nil, err
	}
	if err := withOriginal(m, rec, orig, false); err != nil {
		return nil, err
	}
	return m, nil
}

// RefundRequest builds a refund 0220 (60.1 = 25): as a void, with the
// original local date MMDD added to field 61.
func RefundRequest(rec txn.Record, s txn.Sensitive, orig Original) (*iso8583.Message, error) {
	if rec.Type != txn.Refund {
		return nil, badRequest(3, "record type %q is not a refund", rec.Type)
	}
	m, err := financial("0220", rec, &s, "", useRequest, ProcVoid, iso8583.TypeRefund)
	if err != nil {
		return nil, err
	}
	if err := withOriginal(m, rec, orig, true); err != nil {
		return nil, err
	}
	return m, nil
}

// OfflineSaleRequest builds the advice for a sale approved offline: 0220,
// or the repeat 0221 once a forward attempt has been made
// (rec.Attempts > 0), 60.1 = 30, the card fields of a card sale, 12/13 the
// local time and date of the sale (rec.Created in loc; nil = UTC) and 38
// the terminal's offline approval code (rec.Outcome.AuthCode) when it has
// one. QR payments are never offline.
func OfflineSaleRequest(rec txn.Record, s txn.Sensitive, loc *time.Location) (*iso8583.Message, error) {
	if rec.Type != txn.Sale {
		return nil, badRequest(3, "record type %q is not a sale", rec.Type)
	}
	mti := "0220"
	if rec.Attempts > 0 {
		mti = "0221"
	}
	m, err := financial(mti, rec, &s, "", useOffline, ProcSale, iso8583.TypeOffline)
	if err != nil {
		return nil, err
	}
	if rec.Created.IsZero() {
		return nil, badRequest(12, "record has no creation time")
	}
	if loc == nil {
		loc = time.UTC
	}
	local := rec.Created.In(loc)
	m.Set(12, local.Format("150405"))
	m.Set(13, local.Format("0102"))
	if ac := rec.Outcome.AuthCode; ac != "" {
		if len(ac) != 6 {
			return nil, badRequest(38, "offline approval code is %d characters, want 6", len(ac))
		}
		m.Set(38, ac)
	}
	return m, nil
}

// ReversalRequest builds the reversal of the request rec was sent with:
// 0400, or the repeat 0401 once a reversal attempt has been made
// (rec.Attempts > 0). It carries the original's fields 3, 4, 11 (the
// original STAN), 22, 25, 41, 42, 49 and 60, field 38 when an auth code is
// known (rec.Outcome.AuthCode), and field 39 = reason (ReasonNoResponse,
// ReasonBadMAC or ReasonOther). Fields 2, 14, 23, 35 and 55 come from s
// when it is not nil (the unsealed card data), and are omitted otherwise:
// the host matches a reversal by TID + batch + STAN.
func ReversalRequest(rec txn.Record, s *txn.Sensitive, reason string) (*iso8583.Message, error) {
	switch reason {
	case ReasonNoResponse, ReasonBadMAC, ReasonOther:
	default:
		return nil, badRequest(39, "reversal reason %q, want 98, A0 or 06", reason)
	}
	var proc, typ60 string
	switch rec.Type {
	case txn.Sale:
		proc, typ60 = ProcSale, iso8583.TypeSale
	case txn.Void:
		proc, typ60 = ProcVoid, iso8583.TypeVoid
	case txn.Refund:
		proc, typ60 = ProcVoid, iso8583.TypeRefund
	default:
		return nil, badRequest(3, "record type %q cannot be reversed", rec.Type)
	}
	mti := "0400"
	if rec.Attempts > 0 {
		mti = "0401"
	}
	m, err := financial(mti, rec, s, "", useReversal, proc, typ60)
	if err != nil {
		return nil, err
	}
	if ac := rec.Outcome.AuthCode; ac != "" && len(ac) == 6 {
		m.Set(38, ac)
	}
	m.Set(39, reason)
	return m, nil
}

// netMessage builds a network management or settlement-class message:
// 11, 41, 42 and 60 = 00 + batch + code.
func netMessage(mti string, id txn.Identity, code string) (*iso8583.Message, error) {
	m := iso8583.NewMessage(mti)
	batch, err := setIdentity(m, id)
	if err != nil {
		return nil, err
	}
	if err := setField60(m, iso8583.Field60{Type: "00", Batch: batch, NetMgmt: code}); err != nil {
		return nil, err
	}
	return m, nil
}

// SignInRequest builds a sign-in 0800: 11, 41, 42, 60 (00 + batch + 004)
// and 63 = operator 001. id carries the STAN of this message and the
// terminal's current batch. Sign-in has no MAC.
func SignInRequest(id txn.Identity) (*iso8583.Message, error) {
	m, err := netMessage("0800", id, iso8583.NetSignInDoubleTDK)
	if err != nil {
		return nil, err
	}
	m.Set(63, Operator)
	return m, nil
}

// EchoRequest builds an echo test 0820: 11, 41, 42, 60 (00 + batch +
// 301). No MAC.
func EchoRequest(id txn.Identity) (*iso8583.Message, error) {
	return netMessage("0820", id, iso8583.NetEchoTest)
}

// BatchRecord is one transaction in a batch upload (field 48). The
// 40-digit layout is ours (docs/acquirer.md): card organisation n2 (00
// domestic, 01 foreign) + STAN n6 + PAN n20 (right-justified, zero
// filled; all zeros when the PAN is not available, e.g. QR) + amount n12.
type BatchRecord struct {
	Foreign bool
	STAN    uint32
	PAN     string
	Amount  int64 // minor units
}

func (r BatchRecord) digits(i int) (string, error) {
	if r.STAN == 0 || r.STAN > 999999 {
		return "", badRequest(48, "record %d: STAN %d, want 1..999999", i+1, r.STAN)
	}
	if r.PAN != "" && (len(r.PAN) < 12 || len(r.PAN) > 19 || !isDigits(r.PAN)) {
		return "", badRequest(48, "record %d: PAN is not 12 to 19 digits", i+1)
	}
	if r.Amount <= 0 || r.Amount > money.MaxMinor {
		return "", badRequest(48, "record %d: amount %d, want 1..%d", i+1, r.Amount, money.MaxMinor)
	}
	org := "00"
	if r.Foreign {
		org = "01"
	}
	return fmt.Sprintf("%s%06d%s%012d", org, r.STAN, zeroPad(r.PAN, 20), r.Amount), nil
}

// BatchUploadRequest builds a batch upload 0320 (60.3 = 203): field 48 =
// record count n2 + up to MaxBatchRecords 40-digit records.
func BatchUploadRequest(id txn.Identity, recs []BatchRecord) (*iso8583.Message, error) {
	if len(recs) == 0 || len(recs) > MaxBatchRecords {
		return nil, badRequest(48, "%d records, want 1..%d", len(recs), MaxBatchRecords)
	}
	m, err := netMessage("0320", id, iso8583.NetBatchUploadICC)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%02d", len(recs))
	for i, r := range recs {
		d, err := r.digits(i)
		if err != nil {
			return nil, err
		}
		sb.WriteString(d)
	}
	m.Set(48, sb.String())
	return m, nil
}

// BatchEndRequest builds a batch-end 0320: field 48 = total number of
// records uploaded n4, 60.3 = 202, or 207 when the settlement was not
// balanced.
func BatchEndRequest(id txn.Identity, total int, notBalanced bool) (*iso8583.Message, error) {
	if total < 0 || total > 9999 {
		return nil, badRequest(48, "total %d, want 0..9999", total)
	}
	code := iso8583.NetBatchEnd
	if notBalanced {
		code = iso8583.NetBatchEndSettled
	}
	m, err := netMessage("0320", id, code)
	if err != nil {
		return nil, err
	}
	m.Set(48, fmt.Sprintf("%04d", total))
	return m, nil
}

// SettlementRequest builds a settlement 0500: 11, 41, 42, 48 totals, 49
// currency, 60 (00 + batch + 201), 63 = operator 001.
func SettlementRequest(id txn.Identity, t Totals, currency money.Currency) (*iso8583.Message, error) {
	f48, err := t.Field48()
	if err != nil {
		return nil, err
	}
	if currency == 0 || currency > 999 {
		return nil, badRequest(49, "currency %d, want 1..999", currency)
	}
	m, err := netMessage("0500", id, iso8583.NetSettlement)
	if err != nil {
		return nil, err
	}
	m.Set(48, f48)
	m.Set(49, fmt.Sprintf("%03d", currency))
	m.Set(63, Operator)
	return m, nil
}

// stanOf returns field 11 of m as a number (0 when absent or bad).
func stanOf(m *iso8583.Message) uint32 {
	v, _ := m.Get(11)
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}
