package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

// goodRecordJSON is a real stored record value (key 1).
func goodRecordJSON(t testing.TB) []byte {
	j, _ := newJournal(t)
	r := mustCreate(t, j, testPANs[0])
	mustTransition(t, j, r.ID, txn.StoredOffline)
	mustTransition(t, j, r.ID, txn.ForwardedDeclined)
	d := dump(t, j)
	return []byte(d["txns/"+"0000000000000001"])
}

// FuzzDecodeRecord: any bytes as a txns value (and any key) give a record
// or an error, never a panic; a decoded record round-trips.
func FuzzDecodeRecord(f *testing.F) {
	good := goodRecordJSON(f)
	f.Add(seqKey(1), good)
	f.Add(seqKey(2), good)
	f.Add(seqKey(1), good[:len(good)/2])
	f.Add(seqKey(1), []byte(`{"id":"0000000000000001","state":"pending","history":[]}`))
	f.Add(seqKey(1), append(append([]byte{}, good...), []byte(` {}`)...))
	f.Add(seqKey(1), bytes.Replace(good, []byte(`"type"`), []byte(`"kind"`), 1))
	f.Add([]byte{1}, []byte(`null`))
	f.Add(seqKey(1), []byte(`{"id":"0000000000000001","amount":{"minor":1e400}}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r, err := decodeRecord(key, value)
		if err != nil {
			return
		}
		b, err := encodeRecord(&r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		r2, err := decodeRecord(key, b)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", r, r2)
		}
	})
}

// FuzzDecodePrintJob: any bytes as a printq value give a job or an error.
func FuzzDecodePrintJob(f *testing.F) {
	good, _ := json.Marshal(payment.PrintJob{Seq: 1, Receipt: receipt.Receipt{TxnID: "0000000000000001",
		Lines: []receipt.Line{{Text: "商户 TEST", Bold: true}}, QR: "ref"}, Queued: t0})
	f.Add(seqKey(1), good)
	f.Add(seqKey(2), good)
	f.Add(seqKey(1), good[:10])
	f.Add(seqKey(1), []byte(`{"seq":1,"receipt":{"lines":[{"align":300}]}}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		j, err := decodePrintJob(key, value)
		if err != nil {
			return
		}
		b, _ := json.Marshal(j)
		if _, err := decodePrintJob(key, b); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzDecodeBatch: any bytes as a batches value give a batch or an error.
func FuzzDecodeBatch(f *testing.F) {
	good, _ := json.Marshal(BatchInfo{Number: 1, Opened: t0, Closed: &t0})
	f.Add(batchKey(1), good)
	f.Add(batchKey(0), []byte(`{"number":0,"opened":"2025-03-01T10:00:00Z"}`))
	f.Add(batchKey(1), []byte(`{"number":1,"opened":"yesterday"}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		b, err := decodeBatch(key, value)
		if err != nil {
			return
		}
		if b.Number < 1 || b.Number > MaxCounter {
			t.Fatalf("accepted batch number %d", b.Number)
		}
	})
}

// FuzzOpenSealed: any bytes as a sealed blob fail to open (or, with a
// negligible chance, open) and never panic; a real blob still opens.
func FuzzOpenSealed(f *testing.F) {
	k, err := deriveKeys(testKey)
	if err != nil {
		f.Fatal(err)
	}
	blob, err := k.seal("0000000000000001", []byte(`{"pan":"6212345678901232"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add(blob[:20])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := k.open("0000000000000001", b)
		if err != nil {
			if !errors.Is(err, ErrUntrusted) {
				t.Fatalf("error does not wrap ErrUntrusted: %v", err)
			}
			return
		}
		var s txn.Sensitive
		_ = decodeStrict(plain, &s)
	})
}

// FuzzVerifyFile: any bytes as a journal file make Verify and Open return,
// never crash, and never change the file when they refuse it.
//
// The seed journal uses 1 KiB pages (bbolt allows any power of two) so the
// inputs stay small enough for the fuzzer to mutate and minimise.
func FuzzVerifyFile(f *testing.F) {
	newPageSize = 1024
	j, _ := newJournal(f)
	newPageSize = 0
	for i := 0; i < 5; i++ {
		r := mustCreate(f, j, testPANs[i%len(testPANs)])
		mustTransition(f, j, r.ID, txn.StoredOffline)
	}
	path := j.Path()
	j.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:8192])
	f.Add([]byte("not a journal"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "journal.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		before := fileSum(t, p)
		rep, err := Verify(p, testKey)

		if err == nil && !rep.OK {
			t.Fatal("Verify returned no error for a report that is not OK")
		}
		j, oerr := Open(testOptions(t, p))
		if oerr == nil {
			_ = j.Close()
			return
		}
		if fileSum(t, p) != before {
			t.Fatalf("refused file was changed (%v)", oerr)
		}
	})
}
