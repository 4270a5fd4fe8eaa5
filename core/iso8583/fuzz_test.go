package iso8583

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzUnpack: Unpack never panics, and whatever it accepts packs back to
// the same bytes (Unpack accepts canonical encodings only).
func FuzzUnpack(f *testing.F) {
	f.Add(unhex(f, sale0200Hex))
	f.Add(unhex(f, signIn0800Hex))
	f.Add(unhex(f, cnblogsFrameHex)[FramePrefixSize:])
	f.Add([]byte{0x08, 0x10, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{})
	specs := []*Spec{UnionPay, testASCIISpec(f)}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range specs {
			m, err := s.Unpack(b)
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("%s: error is not a *FieldError: %v", s.Name, err)
				}
				continue
			}
			out, err := s.Pack(m)
			if err != nil {
				t.Fatalf("%s: Pack(Unpack(%X)): %v", s.Name, b, err)
			}
			if !bytes.Equal(out, b) {
				t.Fatalf("%s: Pack(Unpack(b)) != b\n b=%X\n   %X", s.Name, b, out)
			}
			_ = s.Dump(m, DumpOptions{})
		}
	})
}

// FuzzReadFrame: ReadFrame never panics; a frame it returns writes back to
// exactly the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	f.Add(unhex(f, cnblogsFrameHex))
	f.Add([]byte{0x00, 0x0B, 0x60, 0, 1, 0, 0, 0x61, 0x31, 0, 0x31, 0x11, 0x08})
	f.Add([]byte{0x00})
	f.Add([]byte{0xFF, 0xFF, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		fr, err := ReadFrame(r, 4096)
		if err != nil {
			if len(b) == 0 && err != io.EOF {
				t.Fatalf("empty input: %v, want io.EOF", err)
			}
			return
		}
		consumed := len(b) - r.Len()
		var w bytes.Buffer
		if err := WriteFrame(&w, fr); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.Bytes(), b[:consumed]) {
			t.Fatalf("WriteFrame(ReadFrame(b)) = %X, consumed %X", w.Bytes(), b[:consumed])
		}
	})
}

// FuzzLoadSpec: LoadSpec never panics; a spec it accepts survives a JSON
// round trip and can pack an empty message.
func FuzzLoadSpec(f *testing.F) {
	f.Add(UnionPayJSON())
	f.Add([]byte(`{"name":"X","mti_encoding":"ascii","bitmap_encoding":"ascii","length_encoding":"binary","fields":{"3":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"ascii"}}}`))
	f.Add([]byte(`{"fields":{"2":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := LoadSpec(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("error does not wrap ErrBadSpec: %v", err)
			}
			return
		}
		j, err := s.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := LoadSpec(bytes.NewReader(j))
		if err != nil {
			t.Fatalf("re-load: %v", err)
		}
		for i := range s.Fields {
			if (s.Fields[i] == nil) != (s2.Fields[i] == nil) || s.Fields[i] != nil && *s.Fields[i] != *s2.Fields[i] {
				t.Fatalf("field %d changed in JSON round trip", i)
			}
		}
		if _, err := s.Pack(NewMessage("0800")); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseField60: never panics; what parses encodes back to itself.
func FuzzParseField60(f *testing.F) {
	f.Add("2200000100060")
	f.Add("00000001004")
	f.Add("22000001000501000")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseField60(s)
		if err != nil {
			return
		}
		back, err := p.Encode()
		if err != nil || back != s {
			t.Fatalf("ParseField60(%q) -> %+v -> %q, %v", s, p, back, err)
		}
	})
}

// FuzzParseSignInKeys: never panics on any field 62 content.
func FuzzParseSignInKeys(f *testing.F) {
	f.Add(make([]byte, 60))
	f.Add(make([]byte, 24))
	tmk := []byte("0123456789abcdef")
	f.Fuzz(func(t *testing.T, b []byte) {
		wk, err := ParseSignInKeys(b, tmk)
		if err == nil && (len(wk.PIK) == 0 || len(wk.MAK) == 0) {
			t.Fatalf("success without keys: %+v", wk)
		}
	})
}
