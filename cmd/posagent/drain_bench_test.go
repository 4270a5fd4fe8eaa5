package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/cmd/acqhost/host"
	"github.com/posagent/posagent/core/acquirer"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	coresync "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

var proxyDrainN = flag.Int("proxydrain.n", 1000, "stored sales per BenchmarkDrainThroughProxy run (issue 5 quotes 10000)")

// BenchmarkDrainThroughProxy drains stored offline sales from a real bbolt
// journal through the real acquirer link, a toxiproxy with 60 ms added
// latency, to the reference host (in-process, its own bbolt file): windowed
// (8 in flight) against one at a time, the jPOS SAF way.
//
//	go test -run '^$' -bench DrainThroughProxy -benchtime=1x -proxydrain.n=10000 ./cmd/posagent/
func BenchmarkDrainThroughProxy(b *testing.B) {
	for _, window := range []int{1, 8} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				hcfg, err := host.ParseConfig([]byte(fmt.Sprintf(`listen = "127.0.0.1:0"
db = %q
[faults]
no_answer_98 = false
[[terminals]]
tid = "12345678"
mid = "898310048160001"
tmk = %q
`, filepath.Join(dir, "host.db"), testTMK)), dir)
				if err != nil {
					b.Fatal(err)
				}
				hs, err := host.New(hcfg, host.Options{})
				if err != nil {
					b.Fatal(err)
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				go hs.Serve(ln)
				t := &testing.T{}
				px := newFaultProxy(t, ln.Addr().String())
				px.latency(t, 60)

				j, err := store.Open(store.Options{Path: filepath.Join(dir, "j.db"), Key: bytes.Repeat([]byte{9}, 32), TID: "12345678", MID: "898310048160001"})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				tmk, _ := hexKey(testTMK)
				if err := j.SaveTMK(ctx, tmk); err != nil {
					b.Fatal(err)
				}
				sens := &txn.Sensitive{PAN: "6212345678901232", Expiry: "2812", Track2: "6212345678901232D28122010000000000000", PANSeq: "01",
					ICC: []byte{0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x9F, 0x27, 0x01, 0x80}}
				var changes []coresync.Change
				for k := 0; k < *proxyDrainN; k++ {
					r, err := j.Create(ctx, payment.Draft{Type: txn.Sale, Entry: txn.Contactless, Scheme: "UnionPay",
						Amount: money.Amount{Minor: int64(1000 + (k%7)*10), Currency: money.CNY}}, sens) // no amount the host declines by rule
					if err != nil {
						b.Fatal(err)
					}
					changes = append(changes, coresync.Change{ID: r.ID, To: txn.StoredOffline, Reason: "bench"})
				}
				for len(changes) > 0 {
					n := min(len(changes), 500)
					if _, _, err := j.TransitionMany(ctx, changes[:n]); err != nil {
						b.Fatal(err)
					}
					changes = changes[n:]
				}
				link, err := openBenchLink(j, px.addr())
				if err != nil {
					b.Fatal(err)
				}
				fwd, err := coresync.New(coresync.Config{Window: window}, coresync.Deps{Journal: j, Sender: senderAdapter{a: link}})
				if err != nil {
					b.Fatal(err)
				}
				if err := link.SignIn(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				rep, err := fwd.Drain(ctx)
				elapsed := time.Since(start)
				b.StopTimer()
				if err != nil || rep.Approved != *proxyDrainN {
					b.Fatalf("drain: %v, report %+v", err, rep)
				}
				b.ReportMetric(float64(*proxyDrainN)/elapsed.Seconds(), "sales/s")
				b.ReportMetric(elapsed.Seconds()*10000/float64(*proxyDrainN), "s/10k")
				link.Close()
				j.Close()
				px.cut()
				hs.Close()
			}
		})
	}
}

func openBenchLink(j *store.Journal, addr string) (*acquirer.Acquirer, error) {
	return acquirer.New(acquirer.Config{Primary: addr, TID: "12345678", MID: "898310048160001", ResponseTimeout: 10 * time.Second},
		acquirer.Deps{Keys: journalKeys{j}, BatchSource: func(ctx context.Context) (uint32, error) {
			c, err := j.Counters(ctx)
			return c.Batch, err
		}, NetSTAN: j.ReserveSTAN})
}

func hexKey(s string) ([]byte, error) {
	var out []byte
	_, err := fmt.Sscanf(s, "%x", &out)
	return out, err
}
