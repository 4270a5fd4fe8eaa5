// Package emvtest provides virtual contactless EMV cards: scripted
// command/response tables for a UnionPay qPBOC card, a Visa qVSDC card, a
// Mastercard M/Chip card, a dual-application card and a card with only an
// unsupported application. The emv package tests, the possim PN532
// emulator and the PN532 driver tests share them.
//
// A Card answers raw APDUs with Respond (data + SW1 SW2) and implements
// the emv.Card interface with Transceive. It remembers the selected
// application like a real card, so two applications may use the same
// record numbers. This package does not import emv, so emv's own tests can
// use it.
//
// The card data is made up: Luhn-valid PANs in ranges no issuer uses for
// live cards, random cryptograms, certificates of random bytes. Nothing
// here verifies a cryptogram.
package emvtest

import (
	"bytes"
	"context"
	"sync"
)

// Exchange is one scripted command and the card's answer.
type Exchange struct {
	// Command is the command APDU, or its first bytes when Prefix is set
	// (GET PROCESSING OPTIONS and GENERATE AC carry terminal data that
	// changes per transaction, so they match on CLA INS P1 P2 Lc).
	Command []byte
	Prefix  bool
	// Response is the full answer: data followed by SW1 SW2.
	Response []byte
}

// App is one application on a card: its SELECT answer and the commands
// it answers while selected.
type App struct {
	AID    []byte
	FCI    []byte // the answer to SELECT AID, SW included
	Script []Exchange
}

// Card is a virtual contactless card. Exported fields may be changed to
// build fault cases (prepend to Script to override an answer). A Card is
// safe for concurrent use; the selection state is per Card.
type Card struct {
	Name    string // e.g. "unionpay-qpboc"
	Scheme  string // scheme of the application a terminal should pick
	AID     string // hex AID of that application
	Label   string // its application label
	PAN     string // its PAN (test expectations only)
	Expiry  string // YYMM
	PANSeq  string // two digits, or "" when the card has no 5F34
	Product string // "debit", "credit", ... or ""
	// Script is matched before anything else, whatever is selected:
	// SELECT PPSE lives here, and tests prepend overrides here.
	Script []Exchange
	Apps   []App

	mu       sync.Mutex
	selected int // index in Apps, -1 when none
}

// Respond answers one command APDU with data + SW1 SW2. It never returns
// nil. Unscripted commands get the status a real card would give: 6A82
// for SELECT of an unknown name, 6A83 for READ RECORD of a missing
// record, 6700 for GET PROCESSING OPTIONS or GENERATE AC with data of the
// wrong length, 6985 for GET RESPONSE with nothing pending, 6D00 for an
// unknown instruction and 6700 for an APDU shorter than 4 bytes.
func (c *Card) Respond(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(apdu) < 4 {
		return sw(0x6700)
	}
	if r, ok := match(c.Script, apdu); ok {
		return r
	}
	if apdu[0] == 0x00 && apdu[1] == 0xA4 && apdu[2] == 0x04 {
		c.selected = -1
		if len(apdu) >= 5 && len(apdu) >= 5+int(apdu[4]) {
			name := apdu[5 : 5+int(apdu[4])]
			for i, a := range c.Apps {
				if bytes.Equal(a.AID, name) {
					c.selected = i
					return append([]byte(nil), a.FCI...)
				}
			}
		}
		return sw(0x6A82)
	}
	if c.selected >= 0 && c.selected < len(c.Apps) {
		if r, ok := match(c.Apps[c.selected].Script, apdu); ok {
			return r
		}
	}
	switch {
	case apdu[0] == 0x00 && apdu[1] == 0xB2:
		return sw(0x6A83)
	case apdu[0] == 0x80 && (apdu[1] == 0xA8 || apdu[1] == 0xAE):
		if c.selected < 0 {
			return sw(0x6985)
		}
		return sw(0x6700)
	case apdu[0] == 0x00 && apdu[1] == 0xC0:
		return sw(0x6985)
	case apdu[0] != 0x00 && apdu[0] != 0x80:
		return sw(0x6E00)
	}
	return sw(0x6D00)
}

// Transceive implements emv.Card: it returns ctx's error if ctx is done,
// else Respond(apdu).
func (c *Card) Transceive(ctx context.Context, apdu []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.Respond(apdu), nil
}

// Reset forgets the selected application, as taking the card out of the
// field and tapping again would.
func (c *Card) Reset() {
	c.mu.Lock()
	c.selected = -1
	c.mu.Unlock()
}

func match(script []Exchange, apdu []byte) ([]byte, bool) {
	for _, e := range script {
		if !e.Prefix && bytes.Equal(apdu, e.Command) {
			return append([]byte(nil), e.Response...), true
		}
	}
	for _, e := range script {
		if e.Prefix && bytes.HasPrefix(apdu, e.Command) {
			return append([]byte(nil), e.Response...), true
		}
	}
	return nil, false
}

// Cards returns fresh copies of every virtual card, in a fixed order.
func Cards() []*Card {
	return []*Card{UnionPay(), Visa(), Mastercard(), Dual(), JCBOnly()}
}

// Lookup returns a fresh copy of the card with the given name, or nil.
func Lookup(name string) *Card {
	for _, c := range Cards() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
