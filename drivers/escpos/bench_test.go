package escpos

import (
	"testing"
)

// BenchmarkRender renders a typical customer receipt (receipt.Build of an
// approved contactless sale: 18 lines, Chinese and English, QR code) for
// each profile. Besides time, it reports the job size ("job-bytes") and
// the time the job takes on the profile's serial line at 8N1
// ("ms-on-wire" = bytes × 10 / baud), which bounds how fast the receipt
// can print.
func BenchmarkRender(b *testing.B) {
	r := sampleReceipt()
	for _, p := range Profiles() {
		b.Run(p.Name, func(b *testing.B) {
			var n int
			b.ReportAllocs()
			for b.Loop() {
				out, probs, err := Render(p, r)
				if err != nil || len(probs) != 0 {
					b.Fatal(err, probs)
				}
				n = len(out)
			}
			b.ReportMetric(float64(n), "job-bytes")
			b.ReportMetric(float64(p.TransferTime(n).Microseconds())/1000, "ms-on-wire")
		})
	}
}

// BenchmarkParseStatus measures decoding one set of DLE EOT replies.
func BenchmarkParseStatus(b *testing.B) {
	replies := []byte{0x1A, 0x32, 0x12, 0x7E}
	for b.Loop() {
		if _, err := ParseStatus(replies); err != nil {
			b.Fatal(err)
		}
	}
}
