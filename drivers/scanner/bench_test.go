package scanner

import (
	"strings"
	"testing"
)

// benchStream is a realistic mix: product codes, payment codes of each
// family, a URL, with each terminator.
func benchStream() (stream []byte, codes int) {
	items := []string{
		"4006381333931\r", "036000291452\n", "134567890123456789\r\n",
		"6212345678901234567\r", "286543210987654321\r\n",
		"https://qr.example.com/pay?t=ab12cd34ef56\r",
	}
	var b strings.Builder
	for b.Len() < 64<<10 {
		for _, it := range items {
			b.WriteString(it)
			codes++
		}
	}
	return []byte(b.String()), codes
}

// BenchmarkLineReader: codes per second through framing and
// classification, fed in 256-byte reads like the serial reader does.
func BenchmarkLineReader(b *testing.B) {
	stream, codes := benchStream()
	r := NewLineReader(0)
	rs := make([]Result, 0, 64)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for p := stream; len(p) > 0; {
			n := min(256, len(p))
			rs = r.Feed(rs[:0], p[:n])
			p = p[n:]
		}
	}
	b.ReportMetric(float64(codes)*float64(b.N)/b.Elapsed().Seconds(), "codes/s")
}

// BenchmarkKeyDecoder: codes per second through input_event decoding and
// the US key map, for an 18-digit payment code typed the way a USB
// scanner types it (MSC_SCAN, key, SYN_REPORT for press and release).
func BenchmarkKeyDecoder(b *testing.B) {
	var raw []byte
	for _, e := range seq(tap(k1, k3, k4, k5, 7, k7, k8, k9, k0, k1, k2, k3, k4, k5, 7, k7, k8, k9), tap(KeyEnter)) {
		raw = AppendEvent(raw, e, NativeLayout())
	}
	h := &hidDecoder{layout: NativeLayout(), keys: NewKeyDecoder(0)}
	rs := make([]Result, 0, 4)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		rs = h.Feed(rs[:0], raw)
		if len(rs) != 1 || rs[0].Err != nil {
			b.Fatalf("results %v", rs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
}

func BenchmarkClassify(b *testing.B) {
	codes := []string{"4006381333931", "036000291452", "134567890123456789", "6212345678901234567", "286543210987654321", "hello"}
	for b.Loop() {
		for _, c := range codes {
			Classify(c)
		}
	}
}
