package acquirer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/txn"
)

// Response is a host answer, decoded.
type Response struct {
	MTI     string
	Outcome Outcome // from field 39
	// AuthCode (38), RRN (37) and Org (63, card organisation or wallet)
	// with the host's space padding removed.
	AuthCode string
	RRN      string
	Org      string
	// HostTime is fields 12 (hhmmss) and 13 (MMDD) as sent back, joined.
	HostTime string
	// SettlementDate is field 15 (MMDD).
	SettlementDate string
	// Amount is field 4 (12 digits) if present.
	Amount string
}

// Txn returns the outcome as the journal records it.
func (r Response) Txn() txn.Outcome {
	return txn.Outcome{
		ResponseCode: r.Outcome.Code,
		AuthCode:     r.AuthCode,
		RRN:          r.RRN,
		Message:      r.Outcome.Message,
		HostTime:     r.HostTime,
	}
}

func trimmed(m *iso8583.Message, n int) string {
	v, _ := m.Get(n)
	return strings.TrimRight(v, " ")
}

// isResponseMTI reports whether mti is four digits naming a response
// (third digit odd: 0210, 0230, 0410, ...).
func isResponseMTI(mti string) bool {
	return len(mti) == 4 && isDigits(mti) && (mti[2]-'0')%2 == 1
}

// ParseResponse decodes the fields the terminal uses from an answer. It
// requires a response MTI and field 39.
func ParseResponse(m *iso8583.Message) (Response, error) {
	if m == nil {
		return Response{}, fmt.Errorf("%w: no message", ErrBadResponse)
	}
	if !isResponseMTI(m.MTI) {
		return Response{}, fmt.Errorf("%w: MTI %q is not a response", ErrBadResponse, m.MTI)
	}
	rc, ok := m.Get(39)
	if !ok {
		return Response{}, fmt.Errorf("%w: %s has no field 39 (response code)", ErrBadResponse, m.MTI)
	}
	t12, _ := m.Get(12)
	t13, _ := m.Get(13)
	amt, _ := m.Get(4)
	sd, _ := m.Get(15)
	return Response{
		MTI:            m.MTI,
		Outcome:        Classify(rc),
		AuthCode:       trimmed(m, 38),
		RRN:            trimmed(m, 37),
		Org:            trimmed(m, 63),
		HostTime:       t12 + t13,
		SettlementDate: sd,
		Amount:         amt,
	}, nil
}

// SignInResult is a successful sign-in answer.
type SignInResult struct {
	Keys iso8583.WorkingKeys
	// HostBatch is 60.2 of the 0810, the batch the host expects; valid
	// only when HasBatch.
	HostBatch uint32
	HasBatch  bool
	HostTime  string
}

// ParseSignInResponse checks a sign-in answer (0810, code 00) and
// decrypts its working keys (field 62) under tmk, checking each against
// its check value. A key that fails its check is an error wrapping
// ErrSignIn and an *iso8583.KeyError naming it; codes 97 and 03 wrap
// ErrNotRegistered.
func ParseSignInResponse(m *iso8583.Message, tmk []byte) (SignInResult, error) {
	var res SignInResult
	r, err := ParseResponse(m)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrSignIn, err)
	}
	if m.MTI != "0810" {
		return res, fmt.Errorf("%w: %w: MTI %s, want 0810", ErrSignIn, ErrBadResponse, m.MTI)
	}
	res.HostTime = r.HostTime
	switch r.Outcome.Kind {
	case Approved:
	case NotRegistered:
		return res, fmt.Errorf("%w: %w: response code %s", ErrSignIn, ErrNotRegistered, r.Outcome.Code)
	default:
		return res, fmt.Errorf("%w: host answered %s (%s)", ErrSignIn, r.Outcome.Code, r.Outcome.Message)
	}
	f62, ok := m.GetBytes(62)
	if !ok {
		return res, fmt.Errorf("%w: %w: 0810 has no field 62 (working keys)", ErrSignIn, ErrBadResponse)
	}
	if v, ok := m.Get(60); ok {
		f, err := iso8583.ParseField60(v)
		if err != nil {
			return res, fmt.Errorf("%w: %w: field 60: %w", ErrSignIn, ErrBadResponse, err)
		}
		if f.Batch != "" {
			b, _ := strconv.ParseUint(f.Batch, 10, 32) // 6 digits, checked by ParseField60
			res.HostBatch, res.HasBatch = uint32(b), true
		}
	}
	wk, err := iso8583.ParseSignInKeys(f62, tmk)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrSignIn, err)
	}
	res.Keys = wk
	return res, nil
}

// ParseSettlementResponse decodes a settlement answer (0510): its
// response code must be 00 and field 48 must hold the totals with the
// host's reconciliation digits.
func ParseSettlementResponse(m *iso8583.Message) (SettleResult, error) {
	var res SettleResult
	r, err := ParseResponse(m)
	if err != nil {
		return res, err
	}
	if m.MTI != "0510" {
		return res, fmt.Errorf("%w: MTI %s, want 0510", ErrBadResponse, m.MTI)
	}
	if r.Outcome.Kind != Approved {
		return res, fmt.Errorf("%w: settlement answered %s (%s)", ErrRefused, r.Outcome.Code, r.Outcome.Message)
	}
	f48, ok := m.Get(48)
	if !ok {
		return res, fmt.Errorf("%w: 0510 has no field 48", ErrBadResponse)
	}
	t, rd, err := ParseTotals(f48)
	if err != nil {
		return res, err
	}
	for i, d := range rd {
		switch Reconciliation(d) {
		case Balanced, NotBalanced, ReconError:
		default:
			return res, fmt.Errorf("%w: field 48 offset %d: reconciliation digit %q, want 1, 2 or 3", ErrBadResponse, 30+31*i, rune(d))
		}
	}
	res.Totals, res.Domestic, res.Foreign, res.SettlementDate = t, Reconciliation(rd[0]), Reconciliation(rd[1]), r.SettlementDate
	return res, nil
}
