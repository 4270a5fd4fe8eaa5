package emv

import (
	"fmt"
)

// MaxDepth is how deeply constructed objects may nest before Parse gives
// up with ErrTooDeep. Real EMV data nests at most 4 deep (6F/A5/BF0C/61);
// the limit guards against recursion bombs.
const MaxDepth = 16

// maxLength is the largest length a 3-byte long form (83 xx xx xx) can
// carry; longer length fields are rejected.
const maxLength = 0xFFFFFF

// TLV is one BER-TLV data object. A primitive object has Value; a
// constructed object (Tag.Constructed) has Children and a nil Value.
type TLV struct {
	Tag      Tag
	Value    []byte
	Children []TLV
}

// Parse decodes a sequence of BER-TLV objects, constructed ones into a
// tree. Bytes 00 and FF between objects are skipped as EMV padding (EMV
// 4.3 Book 3 Annex B). Lengths may be short (00-7F) or long form with 1 to
// 3 length bytes (81, 82, 83); the indefinite form 80 and longer forms are
// rejected. Values alias b: copy b first if it will be reused.
//
// Errors are *ParseError values naming the tag and the byte offset,
// wrapping ErrTruncated, ErrBadLength, ErrBadTag or ErrTooDeep.
func Parse(b []byte) ([]TLV, error) {
	return parseAt(b, 0, 0)
}

func parseAt(b []byte, base, depth int) ([]TLV, error) {
	if depth > MaxDepth {
		return nil, &ParseError{Offset: base, Err: ErrTooDeep,
			Detail: fmt.Sprintf("more than %d levels of constructed objects", MaxDepth)}
	}
	var out []TLV
	i := 0
	for i < len(b) {
		if b[i] == 0x00 || b[i] == 0xFF {
			i++
			continue
		}
		start := i
		tag, n, err := readTag(b[i:], base+i)
		if err != nil {
			return nil, err
		}
		i += n
		length, n, err := readLength(b[i:], base+start, tag)
		if err != nil {
			return nil, err
		}
		i += n
		if length > len(b)-i {
			return nil, &ParseError{Offset: base + start, Tag: tag, Err: ErrTruncated,
				Detail: fmt.Sprintf("length %d, only %d bytes left", length, len(b)-i)}
		}
		val := b[i : i+length]
		obj := TLV{Tag: tag}
		if tag.Constructed() {
			children, err := parseAt(val, base+i, depth+1)
			if err != nil {
				return nil, err
			}
			obj.Children = children
		} else {
			obj.Value = val
		}
		i += length
		out = append(out, obj)
	}
	return out, nil
}

// readTag reads a tag of 1 to 4 bytes from the start of b. off is b's
// offset in the whole input, for errors.
func readTag(b []byte, off int) (Tag, int, error) {
	t := Tag(b[0])
	if b[0]&0x1F != 0x1F {
		return t, 1, nil
	}
	for i := 1; ; i++ {
		if i >= 4 {
			return 0, 0, &ParseError{Offset: off, Err: ErrBadTag,
				Detail: fmt.Sprintf("tag starting %02X is longer than 4 bytes", b[0])}
		}
		if i >= len(b) {
			return 0, 0, &ParseError{Offset: off, Err: ErrTruncated,
				Detail: fmt.Sprintf("multi-byte tag starting %02X ends after %d bytes", b[0], i)}
		}
		t = t<<8 | Tag(b[i])
		if b[i]&0x80 == 0 {
			return t, i + 1, nil
		}
	}
}

// readLength reads a BER length from the start of b. off and tag name the
// object for errors.
func readLength(b []byte, off int, tag Tag) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, &ParseError{Offset: off, Tag: tag, Err: ErrTruncated, Detail: "no length byte"}
	}
	first := b[0]
	if first < 0x80 {
		return int(first), 1, nil
	}
	if first == 0x80 {
		return 0, 0, &ParseError{Offset: off, Tag: tag, Err: ErrBadLength,
			Detail: "indefinite length (80) is not allowed"}
	}
	n := int(first & 0x7F)
	if n > 3 {
		return 0, 0, &ParseError{Offset: off, Tag: tag, Err: ErrBadLength,
			Detail: fmt.Sprintf("length field %02X uses %d bytes, at most 3 allowed", first, n)}
	}
	if len(b) < 1+n {
		return 0, 0, &ParseError{Offset: off, Tag: tag, Err: ErrTruncated,
			Detail: fmt.Sprintf("length field %02X needs %d more bytes, %d left", first, n, len(b)-1)}
	}
	length := 0
	for _, c := range b[1 : 1+n] {
		length = length<<8 | int(c)
	}
	return length, 1 + n, nil
}

// Encode encodes TLV objects. Lengths use the shortest form. A
// constructed object is encoded from its Children; setting Value on a
// constructed object or Children on a primitive one is an error
// (ErrBadStructure), as are invalid tags (ErrBadTag), values longer than
// 16 MiB-1 (ErrBadLength) and trees deeper than MaxDepth (ErrTooDeep).
func Encode(tlvs ...TLV) ([]byte, error) {
	return appendTLVs(nil, tlvs, 0)
}

func appendTLVs(dst []byte, tlvs []TLV, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: encoding more than %d levels", ErrTooDeep, MaxDepth)
	}
	for _, t := range tlvs {
		tb := t.Tag.Bytes()
		if tb == nil {
			return nil, fmt.Errorf("%w: cannot encode tag %s", ErrBadTag, t.Tag)
		}
		var content []byte
		if t.Tag.Constructed() {
			if len(t.Value) > 0 {
				return nil, fmt.Errorf("%w: constructed tag %s has a raw Value; set Children", ErrBadStructure, t.Tag)
			}
			var err error
			content, err = appendTLVs(nil, t.Children, depth+1)
			if err != nil {
				return nil, err
			}
		} else {
			if len(t.Children) > 0 {
				return nil, fmt.Errorf("%w: primitive tag %s has Children", ErrBadStructure, t.Tag)
			}
			content = t.Value
		}
		if len(content) > maxLength {
			return nil, fmt.Errorf("%w: tag %s value is %d bytes, max %d", ErrBadLength, t.Tag, len(content), maxLength)
		}
		dst = append(dst, tb...)
		dst = appendLength(dst, len(content))
		dst = append(dst, content...)
	}
	return dst, nil
}

// appendLength appends the shortest BER length encoding of n (n <= maxLength).
func appendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	default:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// Find returns the first object with the given tag, searching the tree
// depth first in order.
func Find(tlvs []TLV, tag Tag) (TLV, bool) {
	for _, t := range tlvs {
		if t.Tag == tag {
			return t, true
		}
		if found, ok := Find(t.Children, tag); ok {
			return found, true
		}
	}
	return TLV{}, false
}

// FindAll returns every object with the given tag, depth first in order.
// The children of a match are not searched.
func FindAll(tlvs []TLV, tag Tag) []TLV {
	var out []TLV
	var walk func([]TLV)
	walk = func(ts []TLV) {
		for _, t := range ts {
			if t.Tag == tag {
				out = append(out, t)
				continue
			}
			walk(t.Children)
		}
	}
	walk(tlvs)
	return out
}

// walkPrimitive calls fn for every primitive object in the tree, depth
// first.
func walkPrimitive(tlvs []TLV, fn func(TLV)) {
	for _, t := range tlvs {
		if t.Tag.Constructed() {
			walkPrimitive(t.Children, fn)
			continue
		}
		fn(t)
	}
}
