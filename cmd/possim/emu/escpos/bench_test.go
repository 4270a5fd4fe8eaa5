package escpos

import (
	"bytes"
	"context"
	"testing"
)

// benchStream is a typical 80 mm receipt written from the manuals: 18
// lines of Chinese and English text, a bold title, a double-size amount,
// a native QR code and a feed-and-cut.
func benchStream(b *testing.B) []byte {
	var s bytes.Buffer
	s.Write(unhex(b, "1B 40 1B 61 01 1B 45 01"))
	s.WriteString("POS RECEIPT\n")
	s.Write(unhex(b, "1B 45 00 1B 61 00"))
	for range 16 {
		s.Write(unhex(b, "1C 26 C9 CC BB A7 C3 FB B3 C6 1C 2E")) // 商户名称 in GBK
		s.WriteString(" MERCHANT: Test Shop 12345678\n")
	}
	s.Write(unhex(b, "1D 21 11 1C 26 A3 A4 1C 2E"))
	s.WriteString("12.34\n")
	s.Write(unhex(b, "1D 21 00 1B 61 01 1D 28 6B 03 00 31 43 06 1D 28 6B 13 00 31 50 30"))
	s.WriteString("12345678/000001/000042"[:16])
	s.Write(unhex(b, "1D 28 6B 03 00 31 51 30 0A 1D 56 42 00"))
	return s.Bytes()
}

// BenchmarkParseReceipt measures the emulator's parsing and rendering of
// one receipt (text through Unifont, QR code, PNG encoding), unpaced:
// the cost possim pays per receipt, not a printer's speed.
func BenchmarkParseReceipt(b *testing.B) {
	stream := benchStream(b)
	p, err := New(Config{Unpaced: true, Keep: 1})
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(p, context.Background())
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.drain(stream); err != nil {
			b.Fatal(err)
		}
	}
	if r, ok := p.Last(); !ok || len(r.Problems) != 0 {
		b.Fatalf("receipt problems: %v", r.Problems)
	}
}
