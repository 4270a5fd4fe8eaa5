package iso8583

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameGolden(t *testing.T) {
	tpdu, err := ParseTPDU("6000030000")
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := ParseHeader("613100311108") // yangyongzhen/go8583 easy8583 example header
	if err != nil {
		t.Fatal(err)
	}
	body := unhex(t, signIn0800Hex)
	var w bytes.Buffer
	if err := WriteFrame(&w, Frame{TPDU: tpdu, Header: hdr, Body: body}); err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
		00 3C             // length 60 = 5 + 6 + 49
		60 00 03 00 00    // TPDU
		61 31 00 31 11 08 // header
	`)
	want = append(want, body...)
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("WriteFrame =\n %X\nwant %X", w.Bytes(), want)
	}
	f, err := ReadFrame(bytes.NewReader(want), 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.TPDU != tpdu || f.Header != hdr || !bytes.Equal(f.Body, body) {
		t.Fatalf("ReadFrame = %v", f)
	}
	if s := f.String(); s != "TPDU 6000030000 header 613100311108 body 49 bytes" {
		t.Errorf("String = %q", s)
	}
}

func TestReadFrameSequenceAndEOF(t *testing.T) {
	var w bytes.Buffer
	for i := range 3 {
		if err := WriteFrame(&w, Frame{Body: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	r := bytes.NewReader(w.Bytes())
	for i := range 3 {
		f, err := ReadFrame(r, 100)
		if err != nil || len(f.Body) != 1 || f.Body[0] != byte(i) {
			t.Fatalf("frame %d: %v %v", i, f, err)
		}
	}
	if _, err := ReadFrame(r, 100); err != io.EOF {
		t.Fatalf("after last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		err  error
	}{
		{"half length", []byte{0x00}, 0, ErrTruncated},
		{"body short", []byte{0x00, 0x0C, 0x60, 0, 0, 0, 0, 1, 2, 3}, 0, ErrTruncated},
		{"too short for header", []byte{0x00, 0x05, 1, 2, 3, 4, 5}, 0, ErrFrameTooShort},
		{"over limit", []byte{0x10, 0x00}, 4095, ErrFrameTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in), tt.max)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
	_, err := ReadFrame(bytes.NewReader([]byte{0x10, 0x00}), 4095)
	if err == nil || err.Error() != "iso8583: frame too long: length 4096 exceeds limit 4095" {
		t.Errorf("limit not named: %v", err)
	}
	// A read error other than EOF is passed through, wrapped.
	boom := errors.New("boom")
	if _, err := ReadFrame(errReader{boom}, 0); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestWriteFrameLimits(t *testing.T) {
	if err := WriteFrame(io.Discard, Frame{Body: make([]byte, MaxFrameLength-10)}); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("oversized frame: %v", err)
	}
	if err := WriteFrame(io.Discard, Frame{Body: make([]byte, MaxFrameLength-11)}); err != nil {
		t.Fatalf("largest frame: %v", err)
	}
	boom := errors.New("boom")
	if err := WriteFrame(errWriter{boom}, Frame{}); !errors.Is(err, boom) {
		t.Fatalf("write error: %v", err)
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

func TestSwapTPDU(t *testing.T) {
	req := [5]byte{0x60, 0x00, 0x03, 0x80, 0x01}
	if got := SwapTPDU(req); got != [5]byte{0x60, 0x80, 0x01, 0x00, 0x03} {
		t.Fatalf("SwapTPDU = %X", got)
	}
	if SwapTPDU(SwapTPDU(req)) != req {
		t.Fatal("swap twice is not identity")
	}
	f := Frame{TPDU: req, Header: [6]byte{1, 2, 3, 4, 5, 6}}
	r := f.Reply([]byte{9})
	if r.TPDU != SwapTPDU(req) || r.Header != f.Header || r.Body[0] != 9 {
		t.Fatalf("Reply = %v", r)
	}
}

func TestParseFrame(t *testing.T) {
	wire := unhex(t, cnblogsFrameHex)
	f, err := ParseFrame(wire)
	if err != nil {
		t.Fatal(err)
	}
	if f.TPDU != [5]byte{0x60, 0, 0x03, 0, 0} || f.Header != [6]byte{0x60, 0x32, 0x10, 0x32, 0x00, 0x72} {
		t.Fatalf("ParseFrame = %v", f)
	}
	if _, err := ParseFrame(wire[:len(wire)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("short: %v", err)
	}
	if _, err := ParseFrame(append(bytes.Clone(wire), 0)); !errors.Is(err, ErrTrailingData) {
		t.Errorf("long: %v", err)
	}
	if _, err := ParseFrame([]byte{0}); !errors.Is(err, ErrTruncated) {
		t.Errorf("1 byte: %v", err)
	}
	if _, err := ParseFrame([]byte{0, 1, 0}); !errors.Is(err, ErrFrameTooShort) {
		t.Errorf("length 1: %v", err)
	}
	if _, err := MACInput([]byte{0, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}); !errors.Is(err, ErrTruncated) {
		t.Errorf("MACInput of an empty body: %v", err)
	}
}

func TestParseTPDUHeaderErrors(t *testing.T) {
	for _, s := range []string{"", "600003000", "60000300000", "60000300ZZ"} {
		if _, err := ParseTPDU(s); err == nil {
			t.Errorf("ParseTPDU(%q) accepted", s)
		}
	}
	if _, err := ParseHeader("6131003111"); err == nil {
		t.Error("ParseHeader accepted 10 digits")
	}
}
