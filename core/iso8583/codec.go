package iso8583

import (
	"fmt"
)

const hexUpper = "0123456789ABCDEF"

// bitmap holds the primary (bytes 0-7) and secondary (8-15) bitmaps.
type bitmap [16]byte

func (bm *bitmap) set(n int)           { bm[(n-1)/8] |= 0x80 >> uint((n-1)%8) }
func (bm *bitmap) has(n int) bool      { return bm[(n-1)/8]&(0x80>>uint((n-1)%8)) != 0 }
func (bm *bitmap) secondary() bool     { return bm.has(1) }
func (bm *bitmap) secondaryZero() bool { return [8]byte(bm[8:16]) == [8]byte{} }

func (s *Spec) mtiSize() int {
	if s.MTIEncoding == BCD {
		return 2
	}
	return 4
}

func (s *Spec) bitmapSize(secondary bool) int {
	n := 8
	if s.BitmapEncoding == ASCII {
		n = 16
	}
	if secondary {
		n *= 2
	}
	return n
}

func (s *Spec) prefixSize(t LengthType) int {
	switch t {
	case LLVAR:
		if s.LengthEncoding == ASCII {
			return 2
		}
		return 1
	case LLLVAR:
		if s.LengthEncoding == ASCII {
			return 3
		}
		return 2
	}
	return 0
}

func dataSize(f *FieldSpec, units int) int {
	if f.Encoding == BCD {
		return (units + 1) / 2
	}
	return units
}

// Pack encodes m: MTI, bitmap(s), then each present field in ascending
// order. It returns the ISO 8583 body (what goes in Frame.Body).
func (s *Spec) Pack(m *Message) ([]byte, error) {
	return s.AppendPack(nil, m)
}

// AppendPack is Pack appending to dst.
func (s *Spec) AppendPack(dst []byte, m *Message) ([]byte, error) {
	if err := checkMTI(m.MTI); err != nil {
		return dst, err
	}
	mtiLen := s.mtiSize()
	var bm bitmap
	var vals [129][]byte // one map walk; the passes below index this
	bad := 0
	for k, v := range m.Fields {
		if k < 2 || k > 128 || s.Fields[k] == nil {
			if bad == 0 || k < bad {
				bad = k
			}
			continue
		}
		bm.set(k)
		vals[k] = v
	}
	if bad != 0 {
		return dst, fieldErr(bad, mtiLen, fmt.Errorf("%w: spec %s has no field %d", ErrUnknownField, s.Name, bad))
	}
	last := 64
	if !bm.secondaryZero() {
		bm.set(1)
		last = 128
	}
	// Size and validation pass.
	size := mtiLen + s.bitmapSize(bm.secondary())
	for i := 2; i <= last; i++ {
		if !bm.has(i) {
			continue
		}
		f := s.Fields[i]
		v := vals[i]
		if err := checkValue(f, v); err != nil {
			return dst, fieldErr(i, size, err)
		}
		size += s.prefixSize(f.Length) + dataSize(f, len(v))
	}
	// Encode pass.
	start := len(dst)
	if cap(dst)-start < size {
		nd := make([]byte, start, start+size)
		copy(nd, dst)
		dst = nd
	}
	out := dst[start : start+size]
	off := 0
	if s.MTIEncoding == BCD {
		putBCD(out[0:2], []byte(m.MTI), NoPad)
	} else {
		copy(out[0:4], m.MTI)
	}
	off += mtiLen
	nb := 8
	if bm.secondary() {
		nb = 16
	}
	if s.BitmapEncoding == Binary {
		off += copy(out[off:], bm[:nb])
	} else {
		for _, c := range bm[:nb] {
			out[off] = hexUpper[c>>4]
			out[off+1] = hexUpper[c&0x0F]
			off += 2
		}
	}
	for i := 2; i <= last; i++ {
		if !bm.has(i) {
			continue
		}
		f := s.Fields[i]
		v := vals[i]
		off += s.putPrefix(out[off:], f.Length, len(v))
		switch {
		case f.Encoding == BCD:
			off += putBCD(out[off:], v, f.Pad)
		case f.Content == Z:
			for _, c := range v {
				if c == 'D' || c == 'd' {
					c = '='
				}
				out[off] = c
				off++
			}
		default:
			off += copy(out[off:], v)
		}
	}
	return dst[:start+size], nil
}

func checkMTI(mti string) error {
	if len(mti) != 4 {
		return fieldErr(0, 0, fmt.Errorf("%w: %q is not 4 digits", ErrBadMTI, mti))
	}
	for i := 0; i < 4; i++ {
		if mti[i] < '0' || mti[i] > '9' {
			return fieldErr(0, 0, fmt.Errorf("%w: %q is not 4 digits", ErrBadMTI, mti))
		}
	}
	return nil
}

// checkValue validates a value against its field: length and characters.
func checkValue(f *FieldSpec, v []byte) error {
	n := len(v)
	switch {
	case f.Length == Fixed && n > f.Max:
		return fmt.Errorf("%w: length %d, fixed %d", ErrTooLong, n, f.Max)
	case f.Length == Fixed && n < f.Max:
		return fmt.Errorf("%w: length %d, fixed %d", ErrTooShort, n, f.Max)
	case n > f.Max:
		return fmt.Errorf("%w: length %d, max %d", ErrTooLong, n, f.Max)
	}
	for i, c := range v {
		if !validChar(f.Content, c) {
			err := ErrBadChar
			if f.Content == N || f.Content == Z {
				err = ErrBadDigit
			}
			return fmt.Errorf("%w: character %d is 0x%02X, not allowed in %s", err, i+1, c, f.Content)
		}
	}
	return nil
}

func validChar(c Content, b byte) bool {
	switch c {
	case N:
		return b >= '0' && b <= '9'
	case Z:
		return b >= '0' && b <= '9' || b == '=' || b == 'D' || b == 'd'
	case A:
		return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b == ' '
	case AN:
		return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == ' '
	case ANS:
		return b >= 0x20 && b != 0x7F
	}
	return true // B
}

func (s *Spec) putPrefix(out []byte, t LengthType, n int) int {
	switch t {
	case LLVAR:
		switch s.LengthEncoding {
		case BCD:
			out[0] = byte(n/10)<<4 | byte(n%10)
			return 1
		case ASCII:
			out[0] = '0' + byte(n/10)
			out[1] = '0' + byte(n%10)
			return 2
		default:
			out[0] = byte(n)
			return 1
		}
	case LLLVAR:
		switch s.LengthEncoding {
		case BCD:
			out[0] = byte(n / 100)
			out[1] = byte(n/10%10)<<4 | byte(n%10)
			return 2
		case ASCII:
			out[0] = '0' + byte(n/100)
			out[1] = '0' + byte(n/10%10)
			out[2] = '0' + byte(n%10)
			return 3
		default:
			out[0] = byte(n >> 8)
			out[1] = byte(n)
			return 2
		}
	}
	return 0
}

func nibbleOf(c byte) byte {
	if c >= '0' && c <= '9' {
		return c - '0'
	}
	return 0x0D // '=', 'D', 'd' (validated before)
}

// putBCD packs the digit string v into out and returns the bytes written.
func putBCD(out []byte, v []byte, pad Pad) int {
	n := len(v)
	nb := (n + 1) / 2
	i := 0 // index into v
	j := 0 // index into out
	if n%2 == 1 && pad == PadLeft {
		out[0] = nibbleOf(v[0])
		i, j = 1, 1
	}
	for ; i+1 < n; i, j = i+2, j+1 {
		out[j] = nibbleOf(v[i])<<4 | nibbleOf(v[i+1])
	}
	if i < n { // odd, PadRight
		out[j] = nibbleOf(v[i]) << 4
	}
	return nb
}

// Unpack decodes an ISO 8583 body (MTI, bitmap, fields). It rejects
// anything that Pack would not produce: bad digits or pad nibbles, values
// longer than their field, a bitmap naming a field the spec lacks, an empty
// secondary bitmap, truncated input and trailing bytes.
func (s *Spec) Unpack(b []byte) (*Message, error) {
	d := decoder{s: s, b: b}
	return d.unpack()
}

type decoder struct {
	s   *Spec
	b   []byte
	off int
	buf []byte // backing store for decoded values
}

func (d *decoder) need(field, n int) error {
	if len(d.b)-d.off < n {
		return fieldErr(field, d.off, fmt.Errorf("%w: need %d bytes, have %d", ErrTruncated, n, len(d.b)-d.off))
	}
	return nil
}

func (d *decoder) unpack() (*Message, error) {
	s := d.s
	// MTI
	mtiLen := s.mtiSize()
	if err := d.need(0, mtiLen); err != nil {
		return nil, err
	}
	var mti [4]byte
	if s.MTIEncoding == BCD {
		for i, c := range d.b[:2] {
			if c>>4 > 9 || c&0x0F > 9 {
				return nil, fieldErr(0, i, fmt.Errorf("%w: byte 0x%02X is not BCD", ErrBadMTI, c))
			}
			mti[2*i] = '0' + c>>4
			mti[2*i+1] = '0' + c&0x0F
		}
	} else {
		for i, c := range d.b[:4] {
			if c < '0' || c > '9' {
				return nil, fieldErr(0, i, fmt.Errorf("%w: byte 0x%02X is not a digit", ErrBadMTI, c))
			}
			mti[i] = c
		}
	}
	d.off = mtiLen
	// Bitmap(s)
	var bm bitmap
	if err := d.readBitmap(bm[0:8]); err != nil {
		return nil, err
	}
	last := 64
	if bm.secondary() {
		at := d.off
		if err := d.readBitmap(bm[8:16]); err != nil {
			return nil, err
		}
		if bm.secondaryZero() {
			return nil, fieldErr(1, at, fmt.Errorf("%w: secondary bitmap flagged but empty", ErrBadBitmap))
		}
		last = 128
	}
	count := 0
	for i := 2; i <= last; i++ {
		if bm.has(i) {
			count++
		}
	}
	m := &Message{MTI: string(mti[:]), Fields: make(map[int][]byte, count)}
	// Decoded values never exceed twice the remaining input.
	d.buf = make([]byte, 0, 2*(len(d.b)-d.off))
	lastField := 1
	for i := 2; i <= last; i++ {
		if !bm.has(i) {
			continue
		}
		f := s.Fields[i]
		if f == nil {
			return nil, fieldErr(i, d.off, fmt.Errorf("%w: bitmap names field %d, spec %s has none", ErrUnknownField, i, s.Name))
		}
		v, err := d.field(i, f)
		if err != nil {
			return nil, err
		}
		m.Fields[i] = v
		lastField = i
	}
	if d.off != len(d.b) {
		return nil, fieldErr(lastField, d.off, fmt.Errorf("%w: %d bytes", ErrTrailingData, len(d.b)-d.off))
	}
	return m, nil
}

func (d *decoder) readBitmap(dst []byte) error {
	if d.s.BitmapEncoding == Binary {
		if err := d.need(1, 8); err != nil {
			return err
		}
		copy(dst, d.b[d.off:d.off+8])
		d.off += 8
		return nil
	}
	if err := d.need(1, 16); err != nil {
		return err
	}
	for i := range 8 {
		hi, ok1 := unhexUpper(d.b[d.off+2*i])
		lo, ok2 := unhexUpper(d.b[d.off+2*i+1])
		if !ok1 || !ok2 {
			at := d.off + 2*i
			if ok1 {
				at++
			}
			return fieldErr(1, at, fmt.Errorf("%w: byte 0x%02X is not an upper-case hex digit", ErrBadBitmap, d.b[at]))
		}
		dst[i] = hi<<4 | lo
	}
	d.off += 16
	return nil
}

func unhexUpper(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// field decodes one field at d.off.
func (d *decoder) field(num int, f *FieldSpec) ([]byte, error) {
	units := f.Max
	if f.Length != Fixed {
		n, err := d.prefix(num, f)
		if err != nil {
			return nil, err
		}
		units = n
	}
	size := dataSize(f, units)
	if err := d.need(num, size); err != nil {
		return nil, err
	}
	raw := d.b[d.off : d.off+size]
	var v []byte
	switch f.Encoding {
	case BCD:
		var err error
		v, err = d.unBCD(num, f, raw, units)
		if err != nil {
			return nil, err
		}
	default:
		for i, c := range raw {
			if !validChar(f.Content, c) || (f.Content == Z && (c == 'D' || c == 'd')) {
				err := ErrBadChar
				if f.Content == N || f.Content == Z {
					err = ErrBadDigit
				}
				return nil, fieldErr(num, d.off+i, fmt.Errorf("%w: byte 0x%02X not allowed in %s", err, c, f.Content))
			}
		}
		v = d.take(raw)
	}
	d.off += size
	return v, nil
}

// take copies p into the shared value buffer and returns a capacity-capped
// slice of it.
func (d *decoder) take(p []byte) []byte {
	at := len(d.buf)
	d.buf = append(d.buf, p...)
	return d.buf[at:len(d.buf):len(d.buf)]
}

func (d *decoder) prefix(num int, f *FieldSpec) (int, error) {
	s := d.s
	ps := s.prefixSize(f.Length)
	if err := d.need(num, ps); err != nil {
		return 0, err
	}
	p := d.b[d.off : d.off+ps]
	n := 0
	switch s.LengthEncoding {
	case BCD:
		for i, c := range p {
			if c>>4 > 9 || c&0x0F > 9 {
				return 0, fieldErr(num, d.off+i, fmt.Errorf("%w: byte 0x%02X is not BCD", ErrBadLength, c))
			}
			n = n*100 + int(c>>4)*10 + int(c&0x0F)
		}
	case ASCII:
		for i, c := range p {
			if c < '0' || c > '9' {
				return 0, fieldErr(num, d.off+i, fmt.Errorf("%w: byte 0x%02X is not a digit", ErrBadLength, c))
			}
			n = n*10 + int(c-'0')
		}
	default:
		for _, c := range p {
			n = n<<8 | int(c)
		}
	}
	if n > f.Max {
		return 0, fieldErr(num, d.off, fmt.Errorf("%w: length prefix %d, max %d", ErrTooLong, n, f.Max))
	}
	d.off += ps
	return n, nil
}

func (d *decoder) unBCD(num int, f *FieldSpec, raw []byte, digits int) ([]byte, error) {
	at := len(d.buf)
	odd := digits%2 == 1
	bad := func(i int, c byte, what string) error {
		return fieldErr(num, d.off+i, fmt.Errorf("%w: byte 0x%02X: %s", ErrBadDigit, c, what))
	}
	digit := func(nib byte) (byte, bool) {
		if nib <= 9 {
			return '0' + nib, true
		}
		if nib == 0x0D && f.Content == Z {
			return '=', true
		}
		return 0, false
	}
	for i, c := range raw {
		hi, lo := c>>4, c&0x0F
		first := i == 0
		lastByte := i == len(raw)-1
		if odd && first && f.Pad == PadLeft {
			if hi != 0 {
				return nil, fieldErr(num, d.off+i, fmt.Errorf("%w: byte 0x%02X, want leading nibble 0", ErrBadPad, c))
			}
		} else {
			ch, ok := digit(hi)
			if !ok {
				return nil, bad(i, c, "high nibble not a digit")
			}
			d.buf = append(d.buf, ch)
		}
		if odd && lastByte && f.Pad == PadRight {
			if lo != 0 {
				return nil, fieldErr(num, d.off+i, fmt.Errorf("%w: byte 0x%02X, want trailing nibble 0", ErrBadPad, c))
			}
		} else {
			ch, ok := digit(lo)
			if !ok {
				return nil, bad(i, c, "low nibble not a digit")
			}
			d.buf = append(d.buf, ch)
		}
	}
	return d.buf[at:len(d.buf):len(d.buf)], nil
}
