package iso8583

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// LengthType says how a field's length is known.
type LengthType uint8

// Length types.
const (
	// Fixed: the field always has exactly Max units.
	Fixed LengthType = iota + 1
	// LLVAR: a 2-digit length prefix (1 byte in BCD), at most 99 units.
	LLVAR
	// LLLVAR: a 3-digit length prefix (2 bytes in BCD), at most 999 units.
	LLLVAR
)

// Content is the ISO 8583 character class of a field's value.
type Content uint8

// Content classes. Lengths of n and z fields count digits (characters);
// lengths of a, an, ans and b fields count bytes.
const (
	// N: decimal digits 0-9.
	N Content = iota + 1
	// Z: track data, digits 0-9 and the separator '=' (nibble D in BCD).
	// 'D' and 'd' are accepted as the separator when packing.
	Z
	// A: letters A-Z, a-z and space.
	A
	// AN: letters, digits and space. (Hosts space-pad short an values.)
	AN
	// ANS: any byte from 0x20 up, except DEL (0x7F). Bytes >= 0x80 are
	// allowed because CUP hosts send GB2312 text in ans fields (63).
	ANS
	// B: binary, any byte.
	B
)

// Encoding is how a value, length prefix, MTI or bitmap is put on the wire.
type Encoding uint8

// Encodings.
const (
	// BCD: two decimal digits per byte (track separator as nibble D).
	BCD Encoding = iota + 1
	// ASCII: one character per byte (for a bitmap: 16 or 32 upper-case hex
	// characters).
	ASCII
	// Binary: raw bytes (for a length prefix: big-endian, 1 byte for
	// LLVAR, 2 for LLLVAR).
	Binary
)

// Pad says, for a BCD value with an odd number of digits, which side the
// single pad nibble (always 0) goes.
type Pad uint8

// Pad sides.
const (
	// NoPad: the field is not BCD, or always has an even number of digits.
	NoPad Pad = iota
	// PadLeft: pad nibble first, value right-justified: "001" -> 00 01.
	PadLeft
	// PadRight: pad nibble last, value left-justified: "072" -> 07 20.
	PadRight
)

// Mask says how Dump hides a field's value unless DumpOptions.Unmasked.
type Mask uint8

// Mask kinds.
const (
	// MaskNone: shown as is.
	MaskNone Mask = iota
	// MaskPAN: first 6 and last 4 digits kept (card.Mask).
	MaskPAN
	// MaskTrack: track data; the PAN part as MaskPAN, everything after
	// the separator replaced by '*'.
	MaskTrack
	// MaskSecret: replaced entirely (PIN blocks, passwords).
	MaskSecret
	// MaskTLV: BER-TLV ICC data; values of tags that carry cardholder
	// data (5A, 57, 56, 5F20, 9F1F, 9F20, 9F6B) are hidden. Data that does
	// not parse as TLV is hidden entirely.
	MaskTLV
)

// FieldSpec describes one data field.
type FieldSpec struct {
	// Name is a short human name, used by Dump.
	Name string
	// Length is Fixed, LLVAR or LLLVAR.
	Length LengthType
	// Max is the exact length of a Fixed field, the maximum of a variable
	// one, in digits for n/z and bytes for a/an/ans/b.
	Max int
	// Content is the character class.
	Content Content
	// Encoding of the value: BCD or ASCII for n and z, ASCII for a/an/ans,
	// Binary for b.
	Encoding Encoding
	// Pad is required for BCD fields that can have an odd number of digits
	// (variable-length, or fixed with an odd Max), and must be NoPad
	// otherwise.
	Pad Pad
	// Mask says how Dump hides the value.
	Mask Mask
}

// Spec is a dialect: how the MTI, bitmap, length prefixes and each field are
// encoded. Fields[0] and Fields[1] (MTI and bitmap) are always nil; the
// remaining entries are nil for fields the dialect does not use.
//
// A Spec must be valid (LoadSpec validates; a Spec built in Go should be
// checked with Validate) before Pack or Unpack use it, and must not be
// modified while it is in use; Clone it to derive a variant.
type Spec struct {
	Name           string
	MTIEncoding    Encoding // BCD (2 bytes) or ASCII (4 bytes)
	BitmapEncoding Encoding // Binary (8 bytes per bitmap) or ASCII (16 hex chars)
	LengthEncoding Encoding // of LLVAR/LLLVAR prefixes: BCD, ASCII or Binary
	Fields         [129]*FieldSpec
}

// Clone returns a deep copy of s.
func (s *Spec) Clone() *Spec {
	c := *s
	for i, f := range s.Fields {
		if f != nil {
			fc := *f
			c.Fields[i] = &fc
		}
	}
	return &c
}

// Validate checks that the spec is usable: encodings known, every field
// consistent. Errors wrap ErrBadSpec and name the field.
func (s *Spec) Validate() error {
	if s.Name == "" {
		return fmt.Errorf("%w: empty name", ErrBadSpec)
	}
	if s.MTIEncoding != BCD && s.MTIEncoding != ASCII {
		return fmt.Errorf("%w: MTI encoding must be bcd or ascii", ErrBadSpec)
	}
	if s.BitmapEncoding != Binary && s.BitmapEncoding != ASCII {
		return fmt.Errorf("%w: bitmap encoding must be binary or ascii", ErrBadSpec)
	}
	if s.LengthEncoding != BCD && s.LengthEncoding != ASCII && s.LengthEncoding != Binary {
		return fmt.Errorf("%w: length encoding must be bcd, ascii or binary", ErrBadSpec)
	}
	if s.Fields[0] != nil || s.Fields[1] != nil {
		return fmt.Errorf("%w: fields 0 (MTI) and 1 (secondary bitmap) are not data fields", ErrBadSpec)
	}
	n := 0
	for i := 2; i <= 128; i++ {
		f := s.Fields[i]
		if f == nil {
			continue
		}
		n++
		if err := f.validate(); err != nil {
			return fmt.Errorf("%w: field %d: %v", ErrBadSpec, i, err)
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: no fields", ErrBadSpec)
	}
	return nil
}

func (f *FieldSpec) validate() error {
	if f.Name == "" {
		return fmt.Errorf("empty name")
	}
	switch f.Length {
	case Fixed:
		if f.Max < 1 || f.Max > 999 {
			return fmt.Errorf("fixed length %d, want 1..999", f.Max)
		}
	case LLVAR:
		if f.Max < 1 || f.Max > 99 {
			return fmt.Errorf("LLVAR max %d, want 1..99", f.Max)
		}
	case LLLVAR:
		if f.Max < 1 || f.Max > 999 {
			return fmt.Errorf("LLLVAR max %d, want 1..999", f.Max)
		}
	default:
		return fmt.Errorf("unknown length type %d", f.Length)
	}
	switch f.Content {
	case N, Z:
		if f.Encoding != BCD && f.Encoding != ASCII {
			return fmt.Errorf("%s needs bcd or ascii encoding", f.Content)
		}
	case A, AN, ANS:
		if f.Encoding != ASCII {
			return fmt.Errorf("%s needs ascii encoding", f.Content)
		}
	case B:
		if f.Encoding != Binary {
			return fmt.Errorf("b needs binary encoding")
		}
	default:
		return fmt.Errorf("unknown content %d", f.Content)
	}
	oddPossible := f.Encoding == BCD && (f.Length != Fixed || f.Max%2 == 1)
	switch {
	case oddPossible && f.Pad != PadLeft && f.Pad != PadRight:
		return fmt.Errorf("BCD field with odd lengths needs pad left or right")
	case !oddPossible && f.Pad != NoPad:
		return fmt.Errorf("pad only applies to BCD fields with odd lengths")
	}
	if f.Mask > MaskTLV {
		return fmt.Errorf("unknown mask %d", f.Mask)
	}
	return nil
}

// LoadSpec reads a spec from JSON (the format of unionpay.json) and
// validates it. Unknown keys are rejected, so a typo is an error rather than
// a silently different dialect.
func LoadSpec(r io.Reader) (*Spec, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the spec object", ErrBadSpec)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// ---- JSON form ----

type fieldJSON struct {
	Name     string   `json:"name"`
	Length   string   `json:"length"`
	Max      int      `json:"max"`
	Content  string   `json:"content"`
	Encoding string   `json:"encoding"`
	Pad      string   `json:"pad,omitempty"`
	Mask     string   `json:"mask,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

type specJSON struct {
	Name           string                `json:"name"`
	MTIEncoding    string                `json:"mti_encoding"`
	BitmapEncoding string                `json:"bitmap_encoding"`
	LengthEncoding string                `json:"length_encoding"`
	Notes          []string              `json:"notes,omitempty"`
	Fields         map[string]*fieldJSON `json:"fields"`
}

// MarshalJSON implements json.Marshaler (the LoadSpec format).
func (s *Spec) MarshalJSON() ([]byte, error) {
	j := specJSON{
		Name:           s.Name,
		MTIEncoding:    s.MTIEncoding.String(),
		BitmapEncoding: s.BitmapEncoding.String(),
		LengthEncoding: s.LengthEncoding.String(),
		Fields:         map[string]*fieldJSON{},
	}
	for i, f := range s.Fields {
		if f == nil {
			continue
		}
		fj := &fieldJSON{
			Name: f.Name, Length: f.Length.String(), Max: f.Max,
			Content: f.Content.String(), Encoding: f.Encoding.String(),
		}
		if f.Pad != NoPad {
			fj.Pad = f.Pad.String()
		}
		if f.Mask != MaskNone {
			fj.Mask = f.Mask.String()
		}
		j.Fields[strconv.Itoa(i)] = fj
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler. It does not validate; LoadSpec
// does.
func (s *Spec) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j specJSON
	if err := dec.Decode(&j); err != nil {
		return err
	}
	var out Spec
	var err error
	out.Name = j.Name
	if out.MTIEncoding, err = parseEncoding(j.MTIEncoding); err != nil {
		return fmt.Errorf("mti_encoding: %w", err)
	}
	if out.BitmapEncoding, err = parseEncoding(j.BitmapEncoding); err != nil {
		return fmt.Errorf("bitmap_encoding: %w", err)
	}
	if out.LengthEncoding, err = parseEncoding(j.LengthEncoding); err != nil {
		return fmt.Errorf("length_encoding: %w", err)
	}
	for k, fj := range j.Fields {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || n > 128 || strconv.Itoa(n) != k {
			return fmt.Errorf("field key %q: want a field number 2..128", k)
		}
		if fj == nil {
			return fmt.Errorf("field %d: null", n)
		}
		f := &FieldSpec{Name: fj.Name, Max: fj.Max}
		if f.Length, err = parseLengthType(fj.Length); err != nil {
			return fmt.Errorf("field %d: %w", n, err)
		}
		if f.Content, err = parseContent(fj.Content); err != nil {
			return fmt.Errorf("field %d: %w", n, err)
		}
		if f.Encoding, err = parseEncoding(fj.Encoding); err != nil {
			return fmt.Errorf("field %d: %w", n, err)
		}
		if f.Pad, err = parsePad(fj.Pad); err != nil {
			return fmt.Errorf("field %d: %w", n, err)
		}
		if f.Mask, err = parseMask(fj.Mask); err != nil {
			return fmt.Errorf("field %d: %w", n, err)
		}
		out.Fields[n] = f
	}
	*s = out
	return nil
}

// ---- names ----

var (
	lengthNames   = map[LengthType]string{Fixed: "fixed", LLVAR: "llvar", LLLVAR: "lllvar"}
	contentNames  = map[Content]string{N: "n", Z: "z", A: "a", AN: "an", ANS: "ans", B: "b"}
	encodingNames = map[Encoding]string{BCD: "bcd", ASCII: "ascii", Binary: "binary"}
	padNames      = map[Pad]string{NoPad: "", PadLeft: "left", PadRight: "right"}
	maskNames     = map[Mask]string{MaskNone: "", MaskPAN: "pan", MaskTrack: "track", MaskSecret: "secret", MaskTLV: "tlv"}
)

func nameOf[K comparable](m map[K]string, k K) string {
	if s, ok := m[k]; ok {
		return s
	}
	return fmt.Sprintf("?%v", k)
}

func parseName[K comparable](m map[K]string, what, s string) (K, error) {
	for k, v := range m {
		if v == s {
			return k, nil
		}
	}
	var zero K
	return zero, fmt.Errorf("unknown %s %q", what, s)
}

// String returns "fixed", "llvar" or "lllvar".
func (t LengthType) String() string { return nameOf(lengthNames, t) }

// String returns the ISO 8583 class name ("n", "ans", ...).
func (c Content) String() string { return nameOf(contentNames, c) }

// String returns "bcd", "ascii" or "binary".
func (e Encoding) String() string { return nameOf(encodingNames, e) }

// String returns "left", "right" or "" (none).
func (p Pad) String() string { return nameOf(padNames, p) }

// String returns "pan", "track", "secret", "tlv" or "" (none).
func (m Mask) String() string { return nameOf(maskNames, m) }

func parseLengthType(s string) (LengthType, error) { return parseName(lengthNames, "length type", s) }
func parseContent(s string) (Content, error)       { return parseName(contentNames, "content", s) }
func parseEncoding(s string) (Encoding, error)     { return parseName(encodingNames, "encoding", s) }
func parsePad(s string) (Pad, error)               { return parseName(padNames, "pad", s) }
func parseMask(s string) (Mask, error)             { return parseName(maskNames, "mask", s) }

// Format renders the field's format the way specs write it, e.g. "n..19
// LLVAR", "b8", "ans..163 LLLVAR".
func (f *FieldSpec) Format() string {
	switch f.Length {
	case Fixed:
		return fmt.Sprintf("%s%d", f.Content, f.Max)
	case LLVAR:
		return fmt.Sprintf("%s..%d LLVAR", f.Content, f.Max)
	default:
		return fmt.Sprintf("%s..%d LLLVAR", f.Content, f.Max)
	}
}
