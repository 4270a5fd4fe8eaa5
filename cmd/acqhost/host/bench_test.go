package host

import (
	"fmt"
	"testing"
)

// BenchmarkSalesLoopback measures approved card sales per second through
// the host over loopback TCP: MAC check, rules, one bbolt commit (fsync)
// per sale, or per group of concurrent sales, and the MACed answer. inflight
// is how many sales the terminal has outstanding at once.
func BenchmarkSalesLoopback(b *testing.B) {
	for _, inflight := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			if b.N > 999_000 {
				b.Skip("STANs are 6 digits: keep -benchtime under 999000x")
			}
			h := startHost(b, testConfig(b.TempDir()))
			c := dial(b, h.addr)
			c.signIn()
			ch := c.reader()
			reqs := make([][]byte, b.N)
			for i := range reqs {
				body, err := testSpecPackMAC(c, c.sale(1000, panCUP))
				if err != nil {
					b.Fatal(err)
				}
				reqs[i] = body
			}
			b.ResetTimer()
			sent := 0
			for done := 0; done < b.N; done++ {
				for sent < b.N && sent-done < inflight {
					c.sendBody(reqs[sent])
					sent++
				}
				a := <-ch
				if a.err != nil || get(a.m, 39) != "00" {
					b.Fatalf("answer %d: %v", done, a.err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sales/s")
		})
	}
}
