package acquirer

import (
	"fmt"
	"strconv"

	"github.com/posagent/posagent/core/money"
)

// SchemeTotals are the settlement totals of one card group (domestic or
// foreign). "Debit" is sales and offline sales minus voids; "credit" is
// refunds (docs/dialect.md, settlement).
type SchemeTotals struct {
	DebitAmount  int64 // minor units, n12
	DebitCount   int   // n3
	CreditAmount int64 // minor units, n12
	CreditCount  int   // n3
}

// Totals is field 48 of a settlement: domestic cards, then foreign ones.
type Totals struct {
	Domestic SchemeTotals
	Foreign  SchemeTotals
}

// Reconciliation is the reconciliation digit the host sets in its 0510
// for each card group.
type Reconciliation byte

// Reconciliation results.
const (
	Balanced    Reconciliation = '1'
	NotBalanced Reconciliation = '2'
	ReconError  Reconciliation = '3'
)

// String returns "balanced", "not balanced" or "error".
func (r Reconciliation) String() string {
	switch r {
	case Balanced:
		return "balanced"
	case NotBalanced:
		return "not balanced"
	case ReconError:
		return "error"
	}
	return fmt.Sprintf("unknown (%q)", rune(r))
}

// SettleResult is the host's answer to a settlement: its echo of the
// totals and a reconciliation result per card group.
type SettleResult struct {
	Totals   Totals
	Domestic Reconciliation
	Foreign  Reconciliation
	// SettlementDate is field 15 (MMDD), if sent.
	SettlementDate string
}

// Balanced reports whether both card groups reconciled.
func (r SettleResult) Balanced() bool { return r.Domestic == Balanced && r.Foreign == Balanced }

// totalsLen is the length of field 48 in a settlement: 2 × 31 digits.
const totalsLen = 62

func (s SchemeTotals) digits(group string) (string, error) {
	if s.DebitAmount < 0 || s.DebitAmount > money.MaxMinor {
		return "", badRequest(48, "%s debit amount %d, want 0..%d", group, s.DebitAmount, money.MaxMinor)
	}
	if s.CreditAmount < 0 || s.CreditAmount > money.MaxMinor {
		return "", badRequest(48, "%s credit amount %d, want 0..%d", group, s.CreditAmount, money.MaxMinor)
	}
	if s.DebitCount < 0 || s.DebitCount > 999 {
		return "", badRequest(48, "%s debit count %d, want 0..999", group, s.DebitCount)
	}
	if s.CreditCount < 0 || s.CreditCount > 999 {
		return "", badRequest(48, "%s credit count %d, want 0..999", group, s.CreditCount)
	}
	return fmt.Sprintf("%012d%03d%012d%03d0", s.DebitAmount, s.DebitCount, s.CreditAmount, s.CreditCount), nil
}

// Field48 returns the 62 digits of field 48 of a settlement request, with
// both reconciliation digits 0.
func (t Totals) Field48() (string, error) {
	d, err := t.Domestic.digits("domestic")
	if err != nil {
		return "", err
	}
	f, err := t.Foreign.digits("foreign")
	if err != nil {
		return "", err
	}
	return d + f, nil
}

func parseGroup(s string, off int) (SchemeTotals, byte, error) {
	num := func(at, n int, what string) (int64, error) {
		v, err := strconv.ParseInt(s[at:at+n], 10, 64)
		if err != nil || !isDigits(s[at:at+n]) {
			return 0, fmt.Errorf("%w: field 48 offset %d: %s is not %d digits", ErrBadResponse, off+at, what, n)
		}
		return v, nil
	}
	var g SchemeTotals
	var err error
	var c int64
	if g.DebitAmount, err = num(0, 12, "debit amount"); err != nil {
		return g, 0, err
	}
	if c, err = num(12, 3, "debit count"); err != nil {
		return g, 0, err
	}
	g.DebitCount = int(c)
	if g.CreditAmount, err = num(15, 12, "credit amount"); err != nil {
		return g, 0, err
	}
	if c, err = num(27, 3, "credit count"); err != nil {
		return g, 0, err
	}
	g.CreditCount = int(c)
	return g, s[30], nil
}

// ParseTotals splits a settlement field 48 (62 digits) into the totals and
// the two reconciliation digits.
func ParseTotals(f48 string) (Totals, [2]byte, error) {
	var t Totals
	var rd [2]byte
	if len(f48) != totalsLen {
		return t, rd, fmt.Errorf("%w: field 48 is %d digits, want %d", ErrBadResponse, len(f48), totalsLen)
	}
	var err error
	if t.Domestic, rd[0], err = parseGroup(f48[:31], 0); err != nil {
		return t, rd, err
	}
	if t.Foreign, rd[1], err = parseGroup(f48[31:], 31); err != nil {
		return t, rd, err
	}
	return t, rd, nil
}
