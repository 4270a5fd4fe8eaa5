package store

import (
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/txn"
)

// benchSales runs b.N sales of Create + Transition(to), each its own
// fsync'd bbolt Update, and reports sales per second and journal bytes per
// transaction, measured two ways:
//
//	file-B/txn   growth of the bbolt file over the run, divided by the
//	             sales (bbolt grows the file in steps, so this is coarse)
//	value-B/txn  the stored record values (txns bucket) divided by the
//	             records: the JSON size of one record in its final state
func benchSales(b *testing.B, to txn.State) {
	j, _ := newJournal(b)
	s := sensitive(testPANs[0])
	d := draft()
	out := txn.Outcome{ResponseCode: "00", AuthCode: "123456", RRN: "000000000001"}
	size0 := fileSize(b, j.Path())
	n := 0
	for b.Loop() {
		r, err := j.Create(ctx, d, s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := j.Transition(ctx, r.ID, to, out, "bench"); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "sales/s")
	b.ReportMetric(float64(fileSize(b, j.Path())-size0)/float64(n), "file-B/txn")
	var values, records int
	if err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTxns).ForEach(func(_, v []byte) error {
			values += len(v)
			records++
			return nil
		})
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(values)/float64(records), "value-B/txn")
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkDurableSale: an online sale, Create then Transition to
// approved (the sealed data is wiped by the second commit).
func BenchmarkDurableSale(b *testing.B) { benchSales(b, txn.Approved) }

// BenchmarkDurableOfflineSale: an offline sale, Create then Transition to
// stored_offline (the record keeps its sealed data and joins the outbox).
func BenchmarkDurableOfflineSale(b *testing.B) { benchSales(b, txn.StoredOffline) }

// BenchmarkOpen1000 measures Open of a journal with 1000 records, which
// includes the full start-up check (page walk, tx.Check, every record
// decoded and its sealed data opened): the boot cost per 1000 records.
func BenchmarkOpen1000(b *testing.B) {
	j, _ := newJournal(b)
	fillSales(b, j, 1000)
	path := j.Path()
	j.Close()
	o := testOptions(b, path)
	for b.Loop() {
		j, err := Open(o)
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Health(); err != nil {
			b.Fatal(err)
		}
		j.Close()
	}
}

// BenchmarkFreelist compares bbolt's freelist options on the journal's
// own work (user-issues §7: "benchmark the freelist options"): the array
// freelist (bbolt's default) against the hashmap one, and the freelist
// written at every commit (default) against NoFreelistSync, where it is
// not written and Open rebuilds it by scanning every page. The journal is
// first filled with 2,000 sales, whose wiped sealed data leaves freed
// pages, as after days of trading. "sale" is a durable Create + Transition;
// "open" is Open with its full start-up check.
func BenchmarkFreelist(b *testing.B) {
	variants := []struct {
		name string
		tune func(*bolt.Options)
	}{
		{"array-synced", nil},
		{"map-synced", func(o *bolt.Options) { o.FreelistType = bolt.FreelistMapType }},
		{"array-unsynced", func(o *bolt.Options) { o.NoFreelistSync = true }},
	}
	for _, v := range variants {
		b.Run(v.name+"/sale", func(b *testing.B) {
			tuneBolt = v.tune
			defer func() { tuneBolt = nil }()
			j, _ := newJournal(b)
			fillSales(b, j, 2000)
			s, d := sensitive(testPANs[0]), draft()
			size0 := fileSize(b, j.Path())
			n := 0
			for b.Loop() {
				r, err := j.Create(ctx, d, s)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := j.Transition(ctx, r.ID, txn.Approved, txn.Outcome{ResponseCode: "00"}, "bench"); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "sales/s")
			b.ReportMetric(float64(fileSize(b, j.Path())-size0)/float64(n), "file-B/txn")
		})
		b.Run(v.name+"/open", func(b *testing.B) {
			tuneBolt = v.tune
			defer func() { tuneBolt = nil }()
			j, _ := newJournal(b)
			fillSales(b, j, 2000)
			path := j.Path()
			j.Close()
			o := testOptions(b, path)
			for b.Loop() {
				j, err := Open(o)
				if err != nil {
					b.Fatal(err)
				}
				j.Close()
			}
		})
	}
}

// fillSales records n sales, one in four stored offline (keeping its
// sealed data), the others approved (sealed data wiped).
func fillSales(b *testing.B, j *Journal, n int) {
	b.Helper()
	for i := range n {
		r := mustCreate(b, j, testPANs[i%len(testPANs)])
		to := txn.Approved
		if i%4 == 0 {
			to = txn.StoredOffline
		}
		mustTransition(b, j, r.ID, to)
	}
}
