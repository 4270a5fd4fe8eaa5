package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/posagent/posagent/core/iso8583"
)

// rejection is an answer the host gives without recording anything: a
// format error (30), an invalid transaction (12), a batch mismatch (77), a
// reused STAN (94). It is an error so parsing and processing can return
// it; why is for the log.
type rejection struct{ rc, why string }

func (r *rejection) Error() string { return "F39 " + r.rc + ": " + r.why }

// Is makes a rejection roll back the store transaction it happens in.
func (r *rejection) Is(target error) bool { return target == errRollback }

func reject(rc, format string, a ...any) *rejection {
	return &rejection{rc: rc, why: fmt.Sprintf(format, a...)}
}

// responseMTI maps a request MTI to its response MTI (request + 10; a
// repeat 0401/0221 is answered 0410/0230). known is false for MTIs outside
// the dialect that still look like a request or advice (answered 12);
// resp is "" for anything else (dropped).
func responseMTI(mti string) (resp string, known bool) {
	switch mti {
	case "0800", "0820", "0200", "0220", "0320", "0400", "0500":
		return mti[:2] + string(mti[2]+1) + "0", true
	case "0221", "0401":
		return mti[:2] + string(mti[2]+1) + "0", true
	}
	if len(mti) == 4 && mti[2] >= '0' && mti[2] <= '8' && (mti[2]-'0')%2 == 0 && (mti[3] == '0' || mti[3] == '1') {
		return mti[:2] + string(mti[2]+1) + "0", false
	}
	return "", false
}

// request is a MAC-verified request, parsed. pan and qr are clear and must
// never be stored, logged or shown.
type request struct {
	m     *iso8583.Message
	resp  string
	class Class
	kind  Kind

	tid, mid, stan, batch string
	f60                   iso8583.Field60

	amount    int64
	hasAmount bool
	currency  string
	pan       string
	aid       string
	qr        string

	orig     *Ref
	origRRN  string
	origAuth string
	reason   string // reversal reason, field 39

	records  int        // batch upload count, batch end total
	terminal TotalsPair // settlement field 48
	f48      string

	fp string // fingerprint: what must not change between repeats
}

// parseRequest checks and extracts the fields the host needs. Failures are
// *rejection (30 format error, 12 invalid transaction).
func parseRequest(m *iso8583.Message, resp string) (*request, error) {
	r := &request{m: m, resp: resp}
	r.tid, _ = m.Get(41)
	r.mid, _ = m.Get(42)
	var ok bool
	if r.stan, ok = m.Get(11); !ok {
		return nil, reject(RCFormatError, "field 11 missing")
	}
	s60, ok := m.Get(60)
	if !ok {
		return nil, reject(RCFormatError, "field 60 missing")
	}
	f60, err := iso8583.ParseField60(s60)
	if err != nil {
		return nil, reject(RCFormatError, "field 60: %v", err)
	}
	if f60.Batch == "" {
		return nil, reject(RCFormatError, "field 60: 60.2 batch missing")
	}
	r.f60, r.batch = f60, f60.Batch

	switch m.MTI {
	case "0200":
		r.class = ClassFinancial
		switch f60.Type {
		case iso8583.TypeSale:
			r.kind = KindSale
		case iso8583.TypeVoid:
			r.kind = KindVoid
		default:
			return nil, reject(RCInvalidTxn, "0200 with 60.1 %q: the host takes 22 (sale) and 23 (void)", f60.Type)
		}
	case "0220", "0221":
		r.class = ClassAdvice
		switch f60.Type {
		case iso8583.TypeRefund:
			r.kind = KindRefund
		case iso8583.TypeOffline:
			r.kind = KindOffline
		default:
			return nil, reject(RCInvalidTxn, "%s with 60.1 %q: the host takes 25 (refund) and 30 (offline sale)", m.MTI, f60.Type)
		}
	case "0400", "0401":
		r.class, r.kind = ClassReversal, KindReversal
	case "0320":
		r.class = ClassBatch
		switch f60.NetMgmt {
		case iso8583.NetSettlement, iso8583.NetBatchUploadICC:
			r.kind = KindBatchUpload
		case iso8583.NetBatchEnd, iso8583.NetBatchEndSettled:
			r.kind = KindBatchEnd
		default:
			return nil, reject(RCInvalidTxn, "0320 with 60.3 %q: want 201/203 (upload) or 202/207 (end)", f60.NetMgmt)
		}
	case "0500":
		r.class, r.kind = ClassSettlement, KindSettlement
		if f60.NetMgmt != iso8583.NetSettlement {
			return nil, reject(RCInvalidTxn, "0500 with 60.3 %q: want 201", f60.NetMgmt)
		}
	default:
		return nil, reject(RCInvalidTxn, "MTI %s is not in the dialect", m.MTI)
	}

	if s, ok := m.Get(4); ok {
		if r.amount, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, reject(RCFormatError, "field 4: %v", err)
		}
		r.hasAmount = true
	}
	switch r.kind {
	case KindSale, KindVoid, KindRefund, KindOffline:
		if !r.hasAmount {
			return nil, reject(RCFormatError, "field 4 (amount) missing")
		}
	}
	r.currency, _ = m.Get(49)
	if p, ok := m.Get(2); ok {
		r.pan = p
	} else if t2, ok := m.Get(35); ok {
		r.pan, _, _ = strings.Cut(t2, "=")
	}
	if icc, ok := m.GetBytes(55); ok {
		r.aid = aidOf(icc)
	}
	if f62, ok := m.GetBytes(62); ok && r.kind == KindSale && strings.HasPrefix(string(f62), qrPrefix) {
		if r.qr, err = parseQR(f62); err != nil {
			return nil, reject(RCFormatError, "field 62: %v", err)
		}
		r.kind = KindQRSale
	}
	if e, _ := m.Get(22); e == "032" && r.kind == KindSale {
		return nil, reject(RCFormatError, "field 22 is 032 (QR) but field 62 has no 92QR payment code")
	}

	switch r.kind {
	case KindVoid, KindRefund:
		s61, ok := m.Get(61)
		if !ok || len(s61) < 12 {
			return nil, reject(RCFormatError, "field 61 (original batch + STAN) missing or shorter than 12 digits")
		}
		r.orig = &Ref{Batch: s61[:6], STAN: s61[6:12]}
		if r.kind == KindRefund && len(s61) >= 16 {
			r.orig.Date = s61[12:16]
		}
		r.origRRN, _ = m.Get(37)
		r.origAuth, _ = m.Get(38)
	case KindReversal:
		r.orig = &Ref{Batch: r.batch, STAN: r.stan}
		r.reason, _ = m.Get(39)
	case KindBatchUpload:
		r.f48, _ = m.Get(48)
		if len(r.f48) < 2 {
			return nil, reject(RCFormatError, "field 48: batch upload needs a 2-digit record count, got %d digits", len(r.f48))
		}
		r.records, _ = strconv.Atoi(r.f48[:2])
	case KindBatchEnd:
		r.f48, _ = m.Get(48)
		if len(r.f48) != 4 {
			return nil, reject(RCFormatError, "field 48: batch end needs a 4-digit total, got %d digits", len(r.f48))
		}
		r.records, _ = strconv.Atoi(r.f48)
	case KindSettlement:
		r.f48, _ = m.Get(48)
		if r.terminal, err = parseTotals(r.f48); err != nil {
			return nil, reject(RCFormatError, "field 48: %v", err)
		}
	}

	h := sha256.New()
	for _, n := range []int{3, 4, 48, 61} {
		v, _ := m.Get(n)
		fmt.Fprintf(h, "%d=%s;", n, v)
	}
	fmt.Fprintf(h, "kind=%s;type=%s;net=%s;qr=%s", r.kind, f60.Type, f60.NetMgmt, r.qr)
	r.fp = hex.EncodeToString(h.Sum(nil)[:12])
	return r, nil
}

// Settlement field 48 layout: per half, debit amount n12, debit count n3,
// credit amount n12, credit count n3, reconciliation digit n1.
const (
	totalsHalf     = 31
	reconDigitSpot = 30
)

// parseTotals reads settlement field 48: the domestic half (31 digits)
// and, optionally, the foreign half (31 more).
func parseTotals(s string) (TotalsPair, error) {
	var p TotalsPair
	if len(s) != totalsHalf && len(s) != 2*totalsHalf {
		return p, fmt.Errorf("settlement totals are %d digits, want 31 or 62", len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return p, fmt.Errorf("settlement totals: character %d is %q, want digits", i+1, s[i])
		}
	}
	half := func(s string, t *Totals) error {
		var err error
		if t.DebitAmount, err = strconv.ParseInt(s[0:12], 10, 64); err != nil {
			return err
		}
		if t.DebitCount, err = strconv.Atoi(s[12:15]); err != nil {
			return err
		}
		if t.CreditAmount, err = strconv.ParseInt(s[15:27], 10, 64); err != nil {
			return err
		}
		t.CreditCount, err = strconv.Atoi(s[27:30])
		return err
	}
	if err := half(s[:totalsHalf], &p.Domestic); err != nil {
		return p, fmt.Errorf("domestic totals: %w", err)
	}
	if len(s) == 2*totalsHalf {
		if err := half(s[totalsHalf:], &p.Foreign); err != nil {
			return p, fmt.Errorf("foreign totals: %w", err)
		}
	}
	return p, nil
}

// withDigits returns settlement field 48 s with its reconciliation digits
// replaced.
func withDigits(s, domestic, foreign string) string {
	b := []byte(s)
	b[reconDigitSpot] = domestic[0]
	if len(b) == 2*totalsHalf {
		b[totalsHalf+reconDigitSpot] = foreign[0]
	}
	return string(b)
}
