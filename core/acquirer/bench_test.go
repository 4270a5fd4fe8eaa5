package acquirer

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/payment"
)

// benchRoundTrips runs b.N approved sales against the scripted host over
// loopback, inflight at a time on the one connection, and reports round
// trips per second. With delay > 0 the host answers each request that
// long after reading it (a stand-in for network and host latency; the
// host still reads the next request meanwhile).
func benchRoundTrips(b *testing.B, inflight int, delay time.Duration) {
	var handle func(x *hostExchange)
	if delay > 0 {
		handle = func(x *hostExchange) {
			go func() {
				time.Sleep(delay)
				x.Reply(x.Answer("00"))
			}()
		}
	}
	f := newFixture(b, handle)
	f.host.mu.Lock()
	f.host.discard = true
	f.host.mu.Unlock()
	ctx := ctxTimeout(b, 10*time.Minute)
	if err := f.acq.SignIn(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := f.acq.Authorize(ctx, sale(999999, 100)); err != nil { // connect
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, inflight)
	b.ReportAllocs()
	b.ResetTimer()
	for w := 0; w < inflight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				req := payment.AuthRequest{Record: testRecord(uint32(i%999998)+1, 1234), Sensitive: testSensitive()}
				resp, err := f.acq.Authorize(ctx, req)
				if err != nil || !resp.Approved {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatalf("round trip failed: %v", err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rt/s")
}

// BenchmarkRoundTrip1 is one request at a time, host answering at once.
func BenchmarkRoundTrip1(b *testing.B) { benchRoundTrips(b, 1, 0) }

// BenchmarkRoundTrip8 keeps eight requests in flight on one connection.
func BenchmarkRoundTrip8(b *testing.B) { benchRoundTrips(b, 8, 0) }

// BenchmarkRoundTrip1Latency2ms: one at a time, host answering after 2 ms.
func BenchmarkRoundTrip1Latency2ms(b *testing.B) { benchRoundTrips(b, 1, 2*time.Millisecond) }

// BenchmarkRoundTrip8Latency2ms: eight in flight, host answering after 2 ms.
func BenchmarkRoundTrip8Latency2ms(b *testing.B) { benchRoundTrips(b, 8, 2*time.Millisecond) }

// BenchmarkBuildAndMAC is the terminal-side cost of one sale request:
// build from the record, pack with its MAC.
func BenchmarkBuildAndMAC(b *testing.B) {
	mac, err := iso8583.NewMAC(iso8583.MACUnionPayECB, goldenMAK)
	if err != nil {
		b.Fatal(err)
	}
	rec, sens := testRecord(123, 12345), testSensitive()
	b.ReportAllocs()
	for b.Loop() {
		m, err := SaleRequest(rec, sens, "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := iso8583.UnionPay.PackMAC(m, mac); err != nil {
			b.Fatal(err)
		}
	}
}
