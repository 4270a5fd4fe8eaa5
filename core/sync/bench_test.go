package sync_test

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	fwd "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/store"
)

var (
	drainN       = flag.Int("drain.n", 200, "stored sales per BenchmarkDrain iteration (issue 5 quotes 10000: -drain.n=10000 -benchtime=1x)")
	drainLatency = flag.Duration("drain.latency", 60*time.Millisecond, "the fake host's answer latency in BenchmarkDrain")
)

// templates holds, per size, a journal file with that many stored sales,
// built once per process and copied for each iteration.
var templates = map[int]string{}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	for _, p := range templates {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

func template(b *testing.B, n int) string {
	b.Helper()
	if p, ok := templates[n]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "posagent-drain-bench-")
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, "journal.db")
	j, err := store.Open(store.Options{Path: p, Key: key, TID: testTID, MID: testMID, Clock: clock.System{}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		storeSale(b, j, int64(1000+(i%50)*10)) // amounts the fake host approves
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	templates[n] = p
	return p
}

func copyFile(b *testing.B, src, dst string) {
	b.Helper()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDrain drains -drain.n stored sales from a real bbolt journal
// through a fake host that answers every advice after -drain.latency
// (60 ms, the proxy latency), windowed (8 in flight, results
// committed 8 per fsync) versus one in flight with one commit per
// message (the jPOS SAF way). It is a model of the drain: the real figure
// comes from the system benchmark through the fault proxy. Metrics:
// sales/s and the extrapolated seconds for 10,000 sales.
func BenchmarkDrain(b *testing.B) {
	for _, c := range []struct{ window, group int }{{1, 1}, {8, 8}} {
		b.Run(fmt.Sprintf("window=%d", c.window), func(b *testing.B) {
			n := *drainN
			tmpl := template(b, n)
			for b.Loop() {
				b.StopTimer()
				path := filepath.Join(b.TempDir(), "journal.db")
				copyFile(b, tmpl, path)
				j, err := store.Open(store.Options{Path: path, Key: key, TID: testTID, MID: testMID, Clock: clock.System{}})
				if err != nil {
					b.Fatal(err)
				}
				h := newHost()
				h.latency = *drainLatency
				f, err := fwd.New(fwd.Config{Window: c.window, GroupSize: c.group}, fwd.Deps{Journal: j, Sender: h})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rep, err := f.Drain(ctx)
				b.StopTimer()
				if err != nil || rep.Approved != n {
					b.Fatalf("drain: %v %+v", err, rep)
				}
				if err := j.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			rate := float64(n*b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "sales/s")
			b.ReportMetric(10000/rate, "s/10k")
		})
	}
}
