package emv

import (
	"fmt"
	"time"
)

// DefaultTTQ is the Terminal Transaction Qualifiers (9F66) sent when
// Terminal.TTQ is zero, for an online-capable, contactless-only terminal
// that can capture a signature but has no PIN pad (EMV Book C-3 Annex A,
// the same layout for qPBOC in JR/T 0025.12):
//
//	byte 1 = 22: b6 EMV mode (qVSDC/qPBOC) supported, b2 signature
//	             supported; no mag-stripe mode (b8), no contact chip (b5),
//	             not offline-only (b4), no online PIN (b3), no offline data
//	             authentication for online authorisations (b1: we hold no
//	             CA public keys)
//	byte 2 = 80: b8 online cryptogram required, so the card answers with
//	             an ARQC that the acquirer (or, when stored offline, the
//	             later forward) can verify. b7 "CVM required" is added per
//	             transaction when the amount is above Terminal.CVMLimit.
//	byte 3 = 40: b7 consumer device CVM supported (phones and watches
//	             verify the holder themselves); no issuer update (b8), the
//	             card is gone before any script could be sent
//	byte 4 = 00: RFU
var DefaultTTQ = [4]byte{0x22, 0x80, 0x40, 0x00}

// ttqCVMRequired is TTQ byte 2 bit 7.
const ttqCVMRequired = 0x40

// DefaultCapabilities is Terminal Capabilities (9F33) when
// Terminal.Capabilities is zero (EMV Book 4 Annex A2): manual key entry
// (byte 1 b8; no magnetic stripe, no contact chip), signature and no CVM
// (byte 2 b6, b4), no offline data authentication (byte 3 zero).
var DefaultCapabilities = [3]byte{0x80, 0x28, 0x00}

// DefaultAddCapabilities is Additional Terminal Capabilities (9F40) when
// Terminal.AddCapabilities is zero (EMV Book 4 Annex A3): goods and
// services; numeric, alphabetic, command and function keys; print and
// display for attendant and cardholder; code table 1.
var DefaultAddCapabilities = [5]byte{0x60, 0x00, 0xF0, 0xF0, 0x01}

// DefaultTerminalType is Terminal Type (9F35) when Terminal.TerminalType
// is zero: 22, attended, merchant-operated, online with offline
// capability (store-and-forward).
const DefaultTerminalType byte = 0x22

// Transaction types for Terminal.Type (9C, BCD-coded; ISO 8583:1987
// processing code positions 1-2).
const (
	TypeSale    byte = 0x00
	TypeCash    byte = 0x01
	TypeRefund  byte = 0x20
	TypeBalance byte = 0x31
)

// maxAmount is the largest amount n12 can carry.
const maxAmount = 999_999_999_999

// Terminal is the terminal's data for one transaction: what the card may
// ask for in its PDOL and CDOL1, and what goes into field 55.
type Terminal struct {
	Amount      int64  // 9F02, minor units (fen/cents), 0..999999999999
	AmountOther int64  // 9F03, cashback; usually 0
	Currency    uint16 // 5F2A, ISO 4217 numeric, e.g. 156 (CNY)
	Country     uint16 // 9F1A, ISO 3166 numeric, e.g. 156 (China)
	Type        byte   // 9C, BCD: TypeSale (00), TypeRefund (20), ...
	// Date is the local transaction date and time (9A, 9F21), from the
	// injected clock. Must not be zero.
	Date time.Time
	// Unpredictable is 9F37, fresh random bytes per transaction. An
	// all-zero value is refused: it would make cryptograms replayable.
	Unpredictable [4]byte
	// TTQ is 9F66; zero means DefaultTTQ. The CVM-required bit is set on
	// top when Amount > CVMLimit.
	TTQ [4]byte
	TVR [5]byte // 95; usually zero for a contactless online transaction
	// CVMLimit is the amount above which a cardholder verification is
	// required (QuickPass "no PIN, no signature" limit, default 100000 =
	// 1000.00 CNY in config). 0 means never.
	CVMLimit int64
	// TerminalType is 9F35; zero means DefaultTerminalType.
	TerminalType byte
	// Capabilities is 9F33; zero means DefaultCapabilities.
	Capabilities [3]byte
	// AddCapabilities is 9F40; zero means DefaultAddCapabilities.
	AddCapabilities [5]byte
	// IFDSerial is 9F1E, the reader's serial number (8 characters,
	// padded with spaces or cut). Empty leaves 9F1E out.
	IFDSerial string
	// TSC is 9F41, the transaction sequence counter (n8, at most
	// 99999999); 0 leaves it out.
	TSC uint32
	// Extra holds more terminal data objects (9F1C terminal ID, 9F4E
	// merchant name, ...). They override the values above.
	Extra map[Tag][]byte
}

// CVMRequired reports whether the amount is above the CVM limit.
func (t Terminal) CVMRequired() bool {
	return t.CVMLimit > 0 && t.Amount > t.CVMLimit
}

// Values validates t and returns its data objects by tag: 9F02, 9F03,
// 5F2A, 9F1A, 9C, 9A, 9F21, 9F37, 9F66, 95, 9F35, 9F33, 9F40, and 9F1E,
// 9F41 when set, then Extra. Invalid fields give an error wrapping
// ErrTerminal that names the field.
func (t Terminal) Values() (map[Tag][]byte, error) {
	if t.Amount < 0 || t.Amount > maxAmount {
		return nil, fmt.Errorf("%w: Terminal.Amount %d outside 0..%d", ErrTerminal, t.Amount, int64(maxAmount))
	}
	if t.AmountOther < 0 || t.AmountOther > maxAmount {
		return nil, fmt.Errorf("%w: Terminal.AmountOther %d outside 0..%d", ErrTerminal, t.AmountOther, int64(maxAmount))
	}
	if t.Currency == 0 || t.Currency > 999 {
		return nil, fmt.Errorf("%w: Terminal.Currency %d outside 1..999", ErrTerminal, t.Currency)
	}
	if t.Country == 0 || t.Country > 999 {
		return nil, fmt.Errorf("%w: Terminal.Country %d outside 1..999", ErrTerminal, t.Country)
	}
	if t.Type>>4 > 9 || t.Type&0x0F > 9 {
		return nil, fmt.Errorf("%w: Terminal.Type %02X is not BCD", ErrTerminal, t.Type)
	}
	if t.Date.IsZero() {
		return nil, fmt.Errorf("%w: Terminal.Date is zero", ErrTerminal)
	}
	if y := t.Date.Year(); y < 2000 || y > 2099 {
		return nil, fmt.Errorf("%w: Terminal.Date year %d outside 2000..2099", ErrTerminal, y)
	}
	if t.Unpredictable == [4]byte{} {
		return nil, fmt.Errorf("%w: Terminal.Unpredictable is all zero; use fresh random bytes", ErrTerminal)
	}
	if t.TSC > 99_999_999 {
		return nil, fmt.Errorf("%w: Terminal.TSC %d outside 0..99999999 (n8)", ErrTerminal, t.TSC)
	}
	ttq := t.TTQ
	if ttq == [4]byte{} {
		ttq = DefaultTTQ
	}
	if t.CVMRequired() {
		ttq[1] |= ttqCVMRequired
	}
	tt := t.TerminalType
	if tt == 0 {
		tt = DefaultTerminalType
	}
	caps := t.Capabilities
	if caps == [3]byte{} {
		caps = DefaultCapabilities
	}
	add := t.AddCapabilities
	if add == [5]byte{} {
		add = DefaultAddCapabilities
	}
	v := map[Tag][]byte{
		TagAmount:        bcd(uint64(t.Amount), 6),
		TagAmountOther:   bcd(uint64(t.AmountOther), 6),
		TagCurrency:      bcd(uint64(t.Currency), 2),
		TagCountry:       bcd(uint64(t.Country), 2),
		TagTxnType:       {t.Type},
		TagDate:          bcd(uint64(t.Date.Year()%100*10000+int(t.Date.Month())*100+t.Date.Day()), 3),
		TagTime:          bcd(uint64(t.Date.Hour()*10000+t.Date.Minute()*100+t.Date.Second()), 3),
		TagUnpredictable: append([]byte(nil), t.Unpredictable[:]...),
		TagTTQ:           ttq[:],
		TagTVR:           append([]byte(nil), t.TVR[:]...),
		TagTerminalType:  {tt},
		TagCapabilities:  caps[:],
		TagAddCaps:       add[:],
	}
	if t.IFDSerial != "" {
		s := []byte(fmt.Sprintf("%-8.8s", t.IFDSerial))
		v[TagIFDSerial] = s
	}
	if t.TSC != 0 {
		v[TagTSC] = bcd(uint64(t.TSC), 4)
	}
	for tag, val := range t.Extra {
		v[tag] = append([]byte(nil), val...)
	}
	return v, nil
}

// bcd encodes n as packed BCD in exactly size bytes, keeping the low
// digits if n is too large.
func bcd(n uint64, size int) []byte {
	b := make([]byte, size)
	for i := size - 1; i >= 0; i-- {
		lo := n % 10
		n /= 10
		hi := n % 10
		n /= 10
		b[i] = byte(hi<<4 | lo)
	}
	return b
}
