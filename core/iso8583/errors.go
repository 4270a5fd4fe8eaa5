package iso8583

import (
	"errors"
	"fmt"
)

// Codec errors. A decode or encode failure is a *FieldError wrapping one of
// these (possibly with detail), so callers test with errors.Is.
var (
	// ErrTooLong: a value is longer than its field allows.
	ErrTooLong = errors.New("value too long")
	// ErrTooShort: a fixed-length value is shorter than its field.
	ErrTooShort = errors.New("value too short")
	// ErrTruncated: the input ended inside a field, length prefix, bitmap,
	// MTI or frame.
	ErrTruncated = errors.New("truncated")
	// ErrBadDigit: a numeric (n) or track (z) value holds something other
	// than its allowed digits, or a BCD nibble is out of range.
	ErrBadDigit = errors.New("bad digit")
	// ErrBadChar: an a/an/ans value holds a character outside its class.
	ErrBadChar = errors.New("bad character")
	// ErrBadPad: the pad nibble of an odd-length BCD value is not 0.
	ErrBadPad = errors.New("bad pad nibble")
	// ErrBadLength: a length prefix is not a valid number.
	ErrBadLength = errors.New("bad length prefix")
	// ErrUnknownField: the message or the bitmap names a field the spec
	// does not define (or field 1, which is the secondary bitmap itself).
	ErrUnknownField = errors.New("field not in spec")
	// ErrTrailingData: bytes follow the last field named by the bitmap.
	ErrTrailingData = errors.New("trailing data after last field")
	// ErrBadMTI: the message type indicator is not four digits.
	ErrBadMTI = errors.New("bad MTI")
	// ErrBadBitmap: a bitmap is malformed (bad hex, or a secondary bitmap
	// flagged but empty, which is not canonical).
	ErrBadBitmap = errors.New("bad bitmap")
)

// Spec errors.
var (
	// ErrBadSpec wraps every problem found by Spec.Validate and LoadSpec.
	ErrBadSpec = errors.New("iso8583: invalid spec")
)

// Frame errors.
var (
	// ErrFrameTooLong: a frame's length exceeds the limit given to
	// ReadFrame, or 65535 when writing. After a ReadFrame error of this
	// kind the stream position is unknown to the peer: close the link.
	ErrFrameTooLong = errors.New("iso8583: frame too long")
	// ErrFrameTooShort: a frame is shorter than TPDU + header (11 bytes).
	ErrFrameTooShort = errors.New("iso8583: frame too short")
)

// MAC and key errors.
var (
	// ErrBadMAC: the MAC in a received message does not match.
	ErrBadMAC = errors.New("iso8583: MAC mismatch")
	// ErrNoMAC: the message has no MAC field (64, or 128 with a secondary
	// bitmap) as its last field.
	ErrNoMAC = errors.New("iso8583: no MAC field")
	// ErrKeyLength: a key or cryptogram has a length the algorithm does
	// not accept.
	ErrKeyLength = errors.New("iso8583: bad key length")
	// ErrKeyCheck: a decrypted working key does not match its check value.
	ErrKeyCheck = errors.New("iso8583: key check value mismatch")
	// ErrKeyLayout: field 62 of a sign-in response has a length that
	// matches none of the known key layouts.
	ErrKeyLayout = errors.New("iso8583: unknown sign-in key layout")
	// ErrUnknownAlgorithm: a MAC algorithm name is not recognised.
	ErrUnknownAlgorithm = errors.New("iso8583: unknown MAC algorithm")
)

// ErrBadField60 wraps every problem found while building or parsing the
// UnionPay field 60 sub-fields.
var ErrBadField60 = errors.New("iso8583: bad field 60")

// FieldError locates a codec error: the field number (0 = MTI, 1 = bitmap,
// 2..128 = data fields) and the byte offset in the packed ISO 8583 body
// (starting at the MTI) where the problem was found.
type FieldError struct {
	Field  int
	Offset int
	Err    error
}

// Error implements error.
func (e *FieldError) Error() string {
	var what string
	switch {
	case errors.Is(e.Err, ErrTrailingData):
		return fmt.Sprintf("iso8583: offset %d (after field %d): %v", e.Offset, e.Field, e.Err)
	case e.Field == 0:
		what = "MTI"
	case e.Field == 1:
		what = "bitmap"
	default:
		what = fmt.Sprintf("field %d", e.Field)
	}
	return fmt.Sprintf("iso8583: %s at offset %d: %v", what, e.Offset, e.Err)
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, offset int, err error) *FieldError {
	return &FieldError{Field: field, Offset: offset, Err: err}
}

// KeyError names the working key (PIK, MAK, TDK) that failed to decrypt or
// check.
type KeyError struct {
	Key string
	Err error
}

// Error implements error.
func (e *KeyError) Error() string { return fmt.Sprintf("iso8583: %s: %v", e.Key, e.Err) }

// Unwrap returns the underlying error.
func (e *KeyError) Unwrap() error { return e.Err }
