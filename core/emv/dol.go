package emv

import (
	"fmt"
)

// DOLEntry is one entry of a data object list: the tag the card wants and
// how many bytes of it.
type DOLEntry struct {
	Tag Tag
	Len int
}

// DOL is a data object list (PDOL 9F38, CDOL1 8C, CDOL2 8D, DDOL 9F49):
// tags and lengths without values (EMV 4.3 Book 3 section 5.4).
type DOL []DOLEntry

// ParseDOL decodes a DOL: a sequence of tag + one length byte. Errors are
// *ParseError values naming the tag and offset (ErrTruncated, ErrBadTag).
func ParseDOL(b []byte) (DOL, error) {
	var d DOL
	i := 0
	for i < len(b) {
		start := i
		if b[i] == 0x00 || b[i] == 0xFF {
			return nil, &ParseError{Offset: start, Err: ErrBadTag,
				Detail: fmt.Sprintf("byte %02X cannot start a tag in a DOL", b[i])}
		}
		tag, n, err := readTag(b[i:], i)
		if err != nil {
			return nil, err
		}
		i += n
		if i >= len(b) {
			return nil, &ParseError{Offset: start, Tag: tag, Err: ErrTruncated, Detail: "DOL entry has no length byte"}
		}
		d = append(d, DOLEntry{Tag: tag, Len: int(b[i])})
		i++
	}
	return d, nil
}

// Len is the number of data bytes the DOL asks for.
func (d DOL) Len() int {
	n := 0
	for _, e := range d {
		n += e.Len
	}
	return n
}

// Bytes encodes the DOL again (tag + length byte per entry). Entries with
// invalid tags or lengths outside 0..255 are skipped.
func (d DOL) Bytes() []byte {
	var out []byte
	for _, e := range d {
		tb := e.Tag.Bytes()
		if tb == nil || e.Len < 0 || e.Len > 255 {
			continue
		}
		out = append(out, tb...)
		out = append(out, byte(e.Len))
	}
	return out
}

// Build concatenates the values for the DOL's entries from values, fitted
// to each entry's length by the rules of EMV 4.3 Book 3 section 5.4:
//
//   - a tag with no value (unknown to the terminal), or a constructed tag,
//     is filled with zeros;
//   - a numeric (n) value that is too long loses its leftmost bytes, any
//     other value its rightmost bytes;
//   - a numeric (n) value that is too short is padded with leading zeros,
//     compressed numeric (cn) with trailing FF, anything else with
//     trailing zeros.
//
// The format comes from the tag dictionary; tags not in it are binary.
// The result is always exactly d.Len() bytes.
func (d DOL) Build(values map[Tag][]byte) []byte {
	out := make([]byte, 0, d.Len())
	for _, e := range d {
		if e.Len <= 0 {
			continue
		}
		v, ok := values[e.Tag]
		if !ok || e.Tag.Constructed() {
			out = append(out, make([]byte, e.Len)...)
			continue
		}
		out = append(out, fit(v, e.Len, formatOf(e.Tag))...)
	}
	return out
}

// fit pads or truncates v to n bytes for format f (see DOL.Build).
func fit(v []byte, n int, f Format) []byte {
	out := make([]byte, n)
	switch {
	case len(v) == n:
		copy(out, v)
	case len(v) > n:
		if f == FormatN {
			copy(out, v[len(v)-n:])
		} else {
			copy(out, v[:n])
		}
	default: // shorter
		switch f {
		case FormatN:
			copy(out[n-len(v):], v)
		case FormatCN:
			copy(out, v)
			for i := len(v); i < n; i++ {
				out[i] = 0xFF
			}
		default:
			copy(out, v)
		}
	}
	return out
}

func formatOf(t Tag) Format {
	if info, ok := LookupTag(t); ok {
		return info.Format
	}
	return FormatB
}
