package pn532

import (
	"context"
	"testing"
)

// The benchmarks measure the codec on the size that matters for EMV, a
// 250-byte R-APDU (a long READ RECORD or an FCI), and the bytes a whole
// APDU round trip puts on the wire: at 115200 8N1 the line carries
// 11,520 bytes/s, so wire-B/op / 11.52 is the serial time in ms.

// rapdu250 is a 250-byte response APDU: 248 data bytes and 90 00.
func rapdu250() []byte {
	r := make([]byte, 250)
	for i := range r[:248] {
		r[i] = byte(i * 31)
	}
	r[248], r[249] = 0x90, 0x00
	return r
}

// BenchmarkEncodeResponse250 encodes the PN532's InDataExchange response
// frame for a 250-byte R-APDU (what possim does for every APDU).
func BenchmarkEncodeResponse250(b *testing.B) {
	data := append([]byte{0x00}, rapdu250()...) // status byte + R-APDU
	fr, _ := EncodeResponse(0x41, data)
	b.SetBytes(int64(len(fr)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeResponse(0x41, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFrame250 decodes that frame.
func BenchmarkDecodeFrame250(b *testing.B) {
	fr, _ := EncodeResponse(0x41, append([]byte{0x00}, rapdu250()...))
	b.SetBytes(int64(len(fr)))
	b.ReportAllocs()
	for b.Loop() {
		f, n, err := DecodeFrame(fr)
		if err != nil || n != len(fr) || len(f.Data) != 252 {
			b.Fatal(err)
		}
	}
}

// BenchmarkExchangeRoundTrip runs Exchange of a READ RECORD (5-byte
// C-APDU) answered with a 250-byte R-APDU against the in-memory PN532, and
// reports the bytes on the wire per APDU (command frame, ACK, response
// frame) and the serial time they take at 115200 baud.
func BenchmarkExchangeRoundTrip(b *testing.B) {
	r := rapdu250()
	fake := newFake(b, chip(b, func([]byte) []byte { return r }))
	d := New(fake, Options{Clock: fake.clk})
	ctx := context.Background()
	if err := d.WakeUp(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := d.ListTarget(ctx); err != nil {
		b.Fatal(err)
	}
	apdu := []byte{0x00, 0xB2, 0x01, 0x0C, 0x00}
	before := d.Stats()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		out, err := d.Exchange(ctx, apdu)
		if err != nil || len(out) != len(r) {
			b.Fatal(err)
		}
		n++
	}
	after := d.Stats()
	wire := float64(after.TxBytes-before.TxBytes+after.RxBytes-before.RxBytes) / float64(n)
	b.ReportMetric(wire, "wire-B/op")
	b.ReportMetric(wire/11520*1000, "serial-ms/op")
}
