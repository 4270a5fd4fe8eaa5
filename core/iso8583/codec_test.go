package iso8583

import (
	"bytes"
	"errors"
	"testing"
)

func TestPackSale0200Golden(t *testing.T) {
	want := unhex(t, sale0200Hex)
	got, err := UnionPay.Pack(sale0200())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Pack 0200:\n got %X\nwant %X", got, want)
	}
	m, err := UnionPay.Unpack(want)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Equal(sale0200()) {
		t.Fatalf("Unpack 0200 = %+v", m)
	}
	if v, _ := m.Get(35); v != "6212349876543210123=28122010000123456" {
		t.Errorf("track 2 = %q", v)
	}
}

func TestPackSignIn0800Golden(t *testing.T) {
	want := unhex(t, signIn0800Hex)
	got, err := UnionPay.Pack(signIn0800())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Pack 0800:\n got %X\nwant %X", got, want)
	}
	m, err := UnionPay.Unpack(want)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Equal(signIn0800()) {
		t.Fatalf("Unpack 0800 = %+v", m)
	}
	f60, _ := m.Get(60)
	p, err := ParseField60(f60)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != "00" || p.Batch != "000001" || p.NetMgmt != NetSignInDoubleTDK {
		t.Errorf("field 60 = %+v", p)
	}
}

func TestAppendPack(t *testing.T) {
	prefix := []byte{0xAA, 0xBB}
	got, err := UnionPay.AppendPack(prefix, signIn0800())
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0xAA, 0xBB}, unhex(t, signIn0800Hex)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendPack = %X", got)
	}
}

// TestTrackSeparatorAlias: 'D' packs as the separator and unpacks as '='.
func TestTrackSeparatorAlias(t *testing.T) {
	m := NewMessage("0200")
	m.Set(35, "6212D2812")
	b, err := UnionPay.Pack(m)
	if err != nil {
		t.Fatal(err)
	}
	m.Set(35, "6212=2812")
	b2, _ := UnionPay.Pack(m)
	if !bytes.Equal(b, b2) {
		t.Fatalf("'D' packs as %X, '=' as %X", b, b2)
	}
	u, err := UnionPay.Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := u.Get(35); v != "6212=2812" {
		t.Fatalf("track = %q", v)
	}
	// Tail of the body: prefix 09, then 62 12 D2 81 20.
	if tail := b[len(b)-6:]; !bytes.Equal(tail, []byte{0x09, 0x62, 0x12, 0xD2, 0x81, 0x20}) {
		t.Fatalf("F35 bytes %X", tail)
	}
}

func TestSecondaryBitmap(t *testing.T) {
	s := testASCIISpec(t)
	m := NewMessage("0200")
	m.Set(3, "000000")
	m.Set(70, "301")
	m.SetBytes(128, []byte("ABCDEFGH"))
	b, err := s.Pack(m)
	if err != nil {
		t.Fatal(err)
	}
	// MTI "0200"; bitmap hex: bit 1 and 3 -> A0..., secondary: 70 -> byte 0 0x04, 128 -> 0x01
	want := "0200" + "A000000000000000" + "0400000000000001" + "000000" + "301" + "ABCDEFGH"
	if string(b) != want {
		t.Fatalf("Pack = %q, want %q", b, want)
	}
	u, err := s.Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Equal(m) {
		t.Fatalf("Unpack = %+v", u)
	}
}

func TestPackErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m *Message)
		field int
		err   error
	}{
		{"non-digit amount", func(m *Message) { m.Set(4, "00000001234A") }, 4, ErrBadDigit},
		{"short amount", func(m *Message) { m.Set(4, "1234") }, 4, ErrTooShort},
		{"long STAN", func(m *Message) { m.Set(11, "1234567") }, 11, ErrTooLong},
		{"PAN too long", func(m *Message) { m.Set(2, "62123498765432101234") }, 2, ErrTooLong},
		{"track with letter", func(m *Message) { m.Set(35, "6212=28X") }, 35, ErrBadDigit},
		{"control char in ans", func(m *Message) { m.Set(63, "a\nb") }, 63, ErrBadChar},
		{"punctuation in an", func(m *Message) { m.Set(39, "0!") }, 39, ErrBadChar},
		{"field not in spec", func(m *Message) { m.Set(7, "0101123456") }, 7, ErrUnknownField},
		{"field 1", func(m *Message) { m.Set(1, "x") }, 1, ErrUnknownField},
		{"field 129", func(m *Message) { m.Set(129, "x") }, 129, ErrUnknownField},
		{"MAC too short", func(m *Message) { m.SetBytes(64, []byte{1, 2, 3}) }, 64, ErrTooShort},
		{"bad MTI", func(m *Message) { m.MTI = "02A0" }, 0, ErrBadMTI},
		{"short MTI", func(m *Message) { m.MTI = "200" }, 0, ErrBadMTI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sale0200()
			tt.edit(m)
			_, err := UnionPay.Pack(m)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want FieldError wrapping %v", err, tt.err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %d, want %d (%v)", fe.Field, tt.field, err)
			}
		})
	}
}

// TestPackErrorOffset: the offset in a pack error is where the field would
// start in the output.
func TestPackErrorOffset(t *testing.T) {
	m := sale0200()
	m.Set(11, "12345X")
	_, err := UnionPay.Pack(m)
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatal(err)
	}
	// MTI 2 + bitmap 8 + F2 1+10 + F3 3 + F4 6 = 30
	if fe.Offset != 30 {
		t.Errorf("offset = %d, want 30 (%v)", fe.Offset, err)
	}
}

func TestUnpackErrors(t *testing.T) {
	golden := unhex(t, sale0200Hex)
	edit := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(golden))
	}
	tests := []struct {
		name   string
		in     []byte
		field  int
		offset int
		err    error
	}{
		{"empty", nil, 0, 0, ErrTruncated},
		{"MTI not BCD", edit(func(b []byte) []byte { b[1] = 0x0A; return b }), 0, 1, ErrBadMTI},
		{"bitmap truncated", golden[:5], 1, 2, ErrTruncated},
		{"PAN prefix not BCD", edit(func(b []byte) []byte { b[10] = 0x1A; return b }), 2, 10, ErrBadLength},
		{"PAN prefix over max", edit(func(b []byte) []byte { b[10] = 0x20; return b }), 2, 10, ErrTooLong},
		{"PAN digit A", edit(func(b []byte) []byte { b[12] = 0x1A; return b }), 2, 12, ErrBadDigit},
		{"PAN pad nibble", edit(func(b []byte) []byte { b[20] = 0x3F; return b }), 2, 20, ErrBadPad},
		{"F22 pad nibble", edit(func(b []byte) []byte { b[36] = 0x21; return b }), 22, 36, ErrBadPad},
		{"F23 pad nibble", edit(func(b []byte) []byte { b[37] = 0x10; return b }), 23, 37, ErrBadPad},
		{"F35 nibble E", edit(func(b []byte) []byte { b[50] = 0x3E; return b }), 35, 50, ErrBadDigit},
		{"F49 control char", edit(func(b []byte) []byte { b[84] = 0x01; return b }), 49, 84, ErrBadChar},
		{"F55 prefix over max", edit(func(b []byte) []byte { b[86], b[87] = 0x02, 0x56; return b }), 55, 86, ErrTooLong},
		{"F55 prefix 4th digit", edit(func(b []byte) []byte { b[86] = 0x10; return b }), 55, 86, ErrTooLong},
		{"unknown field in bitmap", edit(func(b []byte) []byte { b[2] |= 0x02; return b }), 7, 30, ErrUnknownField},
		{"trailing byte", append(bytes.Clone(golden), 0x00), 64, len(golden), ErrTrailingData},
		{"MAC truncated", golden[:len(golden)-1], 64, len(golden) - 8, ErrTruncated},
		{"secondary bitmap empty", append([]byte{0x02, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 8)...), 1, 10, ErrBadBitmap},
		{"secondary field not in spec", append([]byte{0x02, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}, 0x40, 0, 0, 0, 0, 0, 0, 0), 66, 18, ErrUnknownField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := UnionPay.Unpack(tt.in)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, tt.err) {
				t.Fatalf("err = %v (msg %v), want FieldError wrapping %v", err, m, tt.err)
			}
			if fe.Field != tt.field || fe.Offset != tt.offset {
				t.Errorf("field %d offset %d, want field %d offset %d (%v)", fe.Field, fe.Offset, tt.field, tt.offset, err)
			}
		})
	}
}

// TestUnpackEveryTruncation: every strict prefix of a valid message fails
// with ErrTruncated, never a panic or a silent success.
func TestUnpackEveryTruncation(t *testing.T) {
	for _, golden := range [][]byte{unhex(t, sale0200Hex), unhex(t, signIn0800Hex)} {
		for n := 0; n < len(golden); n++ {
			_, err := UnionPay.Unpack(golden[:n])
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("prefix of %d bytes: err = %v, want ErrTruncated", n, err)
			}
		}
	}
}

func TestFieldErrorMessage(t *testing.T) {
	_, err := UnionPay.Unpack(append(unhex(t, signIn0800Hex), 0xFF, 0xFF))
	want := "iso8583: offset 49 (after field 63): trailing data after last field: 2 bytes"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	m := signIn0800()
	m.Set(11, "00000A")
	_, err = UnionPay.Pack(m)
	want = "iso8583: field 11 at offset 10: bad digit: character 6 is 0x41, not allowed in n"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// TestUnpackValuesIndependent: values returned by Unpack do not alias each
// other or the input.
func TestUnpackValuesIndependent(t *testing.T) {
	in := unhex(t, sale0200Hex)
	m, err := UnionPay.Unpack(in)
	if err != nil {
		t.Fatal(err)
	}
	v41, _ := m.GetBytes(41)
	_ = append(v41, 'X', 'X', 'X') // must not overwrite field 42
	if v, _ := m.Get(42); v != "123456789012345" {
		t.Fatalf("field 42 changed to %q", v)
	}
	for i := range in {
		in[i] = 0
	}
	if v, _ := m.Get(41); v != "12345678" {
		t.Fatalf("field 41 aliases input: %q", v)
	}
}

// Offsets in sale0200Hex, for reading the tests above:
// 0 MTI, 2 bitmap, 10 F2 prefix, 11 F2, 21 F3, 24 F4, 30 F11, 33 F14,
// 35 F22, 37 F23, 39 F25, 40 F35 prefix, 41 F35, 60 F41, 68 F42, 83 F49,
// 86 F55 prefix, 88 F55, 103 F60 prefix, 105 F60, 112 F64, 120 end.

func TestASCIISpecEdges(t *testing.T) {
	s := testASCIISpec(t)
	// 'D' in an ASCII track packs as '='.
	m := NewMessage("0200")
	m.Set(35, "4761D2512")
	b, err := s.Pack(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0200" + "0000000020000000" + "09" + "4761=2512"; string(b) != want {
		t.Fatalf("Pack = %q, want %q", b, want)
	}
	tests := []struct {
		name   string
		in     string
		field  int
		offset int
		err    error
	}{
		{"lower-case bitmap", "0200" + "000000002000000a" + "09" + "4761=2512", 1, 19, ErrBadBitmap},
		{"bitmap not hex", "0200" + "00000000200000G0", 1, 18, ErrBadBitmap},
		{"MTI letter", "02X0", 0, 2, ErrBadMTI},
		{"prefix letter", "0200" + "0000000020000000" + "0x" + "4761=2512", 35, 21, ErrBadLength},
		{"D in ASCII track", "0200" + "0000000020000000" + "09" + "4761D2512", 35, 26, ErrBadDigit},
		{"a field digit", "0200" + "0000000000200000" + "ABCDE12345", 43, 25, ErrBadChar},
		{"secondary bitmap truncated", "0200" + "8000000000000000" + "04000000", 1, 20, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Unpack([]byte(tt.in))
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if fe.Field != tt.field || fe.Offset != tt.offset {
				t.Errorf("field %d offset %d, want %d %d (%v)", fe.Field, fe.Offset, tt.field, tt.offset, err)
			}
		})
	}
}
