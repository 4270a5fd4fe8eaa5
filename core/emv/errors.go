package emv

import (
	"errors"
	"fmt"
)

// TLV and DOL decoding errors. A decoder wraps one of them in a
// *ParseError that names the tag and byte offset.
var (
	// ErrTruncated: the data ends inside a tag, a length or a value.
	ErrTruncated = errors.New("emv: truncated TLV")
	// ErrBadLength: a length field is indefinite (0x80), longer than 3
	// bytes, or too large to encode.
	ErrBadLength = errors.New("emv: bad TLV length")
	// ErrBadTag: a tag is longer than 4 bytes or not validly coded.
	ErrBadTag = errors.New("emv: bad TLV tag")
	// ErrTooDeep: constructed objects nest deeper than MaxDepth.
	ErrTooDeep = errors.New("emv: TLV nested too deep")
	// ErrBadStructure: a TLV tree cannot be encoded as given (a primitive
	// tag with children, a constructed tag with a raw value).
	ErrBadStructure = errors.New("emv: bad TLV structure")
)

// Read flow outcomes. Read returns an error wrapping exactly one of these,
// or a context error (context.Canceled, context.DeadlineExceeded).
var (
	// ErrNoApplication: the card offers no application the terminal
	// supports (no PPSE, no matching AID, or every candidate refused
	// selection).
	ErrNoApplication = errors.New("emv: no supported application on the card")
	// ErrCardRemoved: the card left the field during the read. The
	// transport's error (wrapping ErrCardGone) is wrapped too.
	ErrCardRemoved = errors.New("emv: card removed during the read")
	// ErrCommunication: the reader failed to exchange an APDU for a
	// reason other than the card leaving (RF error, reader timeout, I/O
	// error). Asking the customer to tap again is the usual answer.
	ErrCommunication = errors.New("emv: card communication failed")
	// ErrDeclinedByCard: the card refused the transaction (GET
	// PROCESSING OPTIONS answered 6985, or the card produced an AAC).
	ErrDeclinedByCard = errors.New("emv: declined by card")
	// ErrMalformed: the card's answers are unusable: bad TLV, missing
	// AIP/AFL/PAN/cryptogram, an AFL pointing at a missing record,
	// inconsistent data, or a card that needs too many APDUs.
	ErrMalformed = errors.New("emv: malformed card data")
	// ErrTerminal: the Terminal or Options given to Read are invalid
	// (amount out of range, zero date or unpredictable number, ...).
	ErrTerminal = errors.New("emv: bad terminal data")
)

// ErrCardGone is the sentinel a Card implementation wraps when the card
// left the RF field (the PN532 reports a timeout or "target released", a
// test card was pulled). Read turns it into ErrCardRemoved.
var ErrCardGone = errors.New("emv: card gone from the field")

// ErrBadCommand is returned when a command APDU cannot be encoded as a
// short APDU (data longer than 255 bytes, Le out of 0..256).
var ErrBadCommand = errors.New("emv: bad command APDU")

// ParseError is a TLV or DOL decoding error: which tag (if known), at
// which byte offset of the input, and why. It wraps one of ErrTruncated,
// ErrBadLength, ErrBadTag or ErrTooDeep.
type ParseError struct {
	Offset int    // byte offset of the object's first byte in the input
	Tag    Tag    // the object's tag; 0 when the tag itself is bad
	Detail string // human detail, e.g. "length 12, 3 bytes left"
	Err    error  // the sentinel
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Tag == 0 {
		return fmt.Sprintf("%v at offset %d: %s", e.Err, e.Offset, e.Detail)
	}
	return fmt.Sprintf("%v: tag %s at offset %d: %s", e.Err, e.Tag, e.Offset, e.Detail)
}

// Unwrap returns the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

// SWError is a status word other than 9000 returned by the card. It is
// comparable, so errors.Is(err, SWError{SW: 0x6A82}) works.
type SWError struct {
	SW uint16
}

// Error implements error.
func (e SWError) Error() string {
	return fmt.Sprintf("emv: card status %04X (%s)", e.SW, swText(e.SW))
}

// swText describes a status word (ISO/IEC 7816-4 section 5.6, EMV Book 1
// and Book 3 Annex).
func swText(sw uint16) string {
	switch sw {
	case 0x9000:
		return "success"
	case 0x6283:
		return "selected file invalidated (application blocked)"
	case 0x6400:
		return "execution error, state unchanged"
	case 0x6581:
		return "memory failure"
	case 0x6700:
		return "wrong length"
	case 0x6881:
		return "logical channel not supported"
	case 0x6981:
		return "command incompatible with file structure"
	case 0x6982:
		return "security status not satisfied"
	case 0x6983:
		return "authentication method blocked"
	case 0x6984:
		return "referenced data invalidated"
	case 0x6985:
		return "conditions of use not satisfied"
	case 0x6986:
		return "command not allowed"
	case 0x6A80:
		return "incorrect data"
	case 0x6A81:
		return "function not supported (card or application blocked)"
	case 0x6A82:
		return "file or application not found"
	case 0x6A83:
		return "record not found"
	case 0x6A86:
		return "incorrect P1 P2"
	case 0x6A88:
		return "referenced data not found"
	case 0x6B00:
		return "wrong parameters P1 P2"
	case 0x6D00:
		return "instruction not supported"
	case 0x6E00:
		return "class not supported"
	case 0x6F00:
		return "no precise diagnosis"
	}
	switch sw >> 8 {
	case 0x61:
		return fmt.Sprintf("%d more bytes available", int(sw&0xFF))
	case 0x6C:
		return fmt.Sprintf("wrong Le, exact length %d", int(sw&0xFF))
	case 0x63:
		if sw&0xF0 == 0xC0 {
			return fmt.Sprintf("verification failed, %d tries left", int(sw&0x0F))
		}
		return "warning, state changed"
	case 0x62:
		return "warning, state unchanged"
	}
	return "unknown status"
}
