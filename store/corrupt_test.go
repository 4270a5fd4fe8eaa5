package store

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/txn"
)

// seededJournal makes a closed journal with records in several states and
// returns its path.
func seededJournal(t *testing.T) string {
	t.Helper()
	j, _ := newJournal(t)
	for i := 0; i < 60; i++ {
		r := mustCreate(t, j, testPANs[i%len(testPANs)])
		switch i % 5 {
		case 0:
			mustTransition(t, j, r.ID, txn.StoredOffline)
		case 1:
			mustTransition(t, j, r.ID, txn.ReversalPending)
		case 2:
			mustTransition(t, j, r.ID, txn.Approved)
		case 3:
			mustTransition(t, j, r.ID, txn.StoredOffline)
			mustTransition(t, j, r.ID, txn.ForwardedApproved)
		}
	}
	path := j.Path()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(path, testKey); err != nil {
		t.Fatalf("seeded journal does not verify: %v %+v", err, rep.Problems)
	}
	return path
}

func putRecord(tx *bolt.Tx, seq uint64, edit func(r *txn.Record)) error {
	b := tx.Bucket(bucketTxns)
	var r txn.Record
	if err := json.Unmarshal(b.Get(seqKey(seq)), &r); err != nil {
		return err
	}
	edit(&r)
	v, _ := json.Marshal(r)
	return b.Put(seqKey(seq), v)
}

// TestBrokenInvariantDegrades breaks one journal invariant at a time in a
// bbolt-valid file: Open must give a degraded journal (reads work, writes
// refused), Verify must name the problem, and the file must not change.
func TestBrokenInvariantDegrades(t *testing.T) {
	for _, tc := range []struct {
		name, where, what string
		edit              func(tx *bolt.Tx) error
	}{
		{"outbox entry missing", "txns/0000000000000001", "requires an outbox entry", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketOutbox).Delete(seqKey(1))
		}},
		{"reversal entry missing", "txns/0000000000000002", "requires a reversal queue entry", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketReversals).Delete(seqKey(2))
		}},
		{"outbox entry for an approved record", "outbox/0000000000000003", "does not belong", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketOutbox).Put(seqKey(3), []byte(idOf(3)))
		}},
		{"reversal entry without record", "reversals/00000000000003e8", "does not exist", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketReversals).Put(seqKey(1000), []byte(idOf(1000)))
		}},
		{"acknowledged record with sealed data", "txns/0000000000000003", "not wiped", func(tx *bolt.Tx) error {
			return putRecord(tx, 3, func(r *txn.Record) { r.Sealed = []byte("0123456789abcdef0123456789abcdef") })
		}},
		{"next sequence behind", "meta/next_seq", "not above", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(metaNextSeq, u64(60))
		}},
		{"STAN counter behind", "meta/stan", "newest record", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(metaSTAN, u64(59))
		}},
		{"duplicate STAN", "txns/0000000000000005", "already used", func(tx *bolt.Tx) error {
			return putRecord(tx, 5, func(r *txn.Record) { r.Identity.STAN = 4 })
		}},
		{"history does not end in state", "txns/0000000000000006", "history ends", func(tx *bolt.Tx) error {
			return putRecord(tx, 6, func(r *txn.Record) { r.State = txn.Approved })
		}},
		{"illegal history step", "txns/0000000000000003", "illegal", func(tx *bolt.Tx) error {
			return putRecord(tx, 3, func(r *txn.Record) { r.History[1].From = txn.Declined; r.History[0].To = txn.Declined })
		}},
		{"unknown state", "txns/0000000000000005", "unknown state", func(tx *bolt.Tx) error {
			return putRecord(tx, 5, func(r *txn.Record) { r.State = "lost"; r.History[0].To = "lost" })
		}},
		{"record under the wrong key", "txns/0000000000000007", "record id", func(tx *bolt.Tx) error {
			return putRecord(tx, 7, func(r *txn.Record) { r.ID = idOf(8) })
		}},
		{"full PAN in masked field", "txns/0000000000000009", "masked PAN shows", func(tx *bolt.Tx) error {
			return putRecord(tx, 9, func(r *txn.Record) { r.MaskedPAN = "6212345678901232" })
		}},
		{"garbage value", "txns/000000000000000a", "record JSON", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketTxns).Put(seqKey(10), []byte("{\"id\":"))
		}},
		{"current batch closed", "meta/batch", "closed", func(tx *bolt.Tx) error {
			v, _ := json.Marshal(BatchInfo{Number: 1, Opened: t0, Closed: &t0})
			return tx.Bucket(bucketBatches).Put(batchKey(1), v)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := seededJournal(t)
			rawUpdate(t, path, tc.edit)
			sum := fileSum(t, path)

			j, err := Open(testOptions(t, path))
			if err != nil {
				t.Fatalf("Open: %v; want a degraded journal", err)
			}
			h := j.Health()
			if !errors.Is(h, ErrUntrusted) {
				t.Fatalf("Health = %v, want ErrUntrusted", h)
			}
			if _, err := j.Create(ctx, draft(), nil); !errors.Is(err, ErrUntrusted) {
				t.Errorf("Create on degraded journal: %v", err)
			}
			if _, err := j.Transition(ctx, idOf(1), txn.ForwardedApproved, txn.Outcome{}, ""); !errors.Is(err, ErrUntrusted) {
				t.Errorf("Transition on degraded journal: %v", err)
			}
			if _, err := j.ReserveSTAN(ctx); !errors.Is(err, ErrUntrusted) {
				t.Errorf("ReserveSTAN on degraded journal: %v", err)
			}
			if _, err := j.Counters(ctx); err != nil && tc.where != "meta/next_seq" {
				t.Errorf("Counters on degraded journal: %v", err)
			}
			if _, err := j.Get(ctx, idOf(2)); err != nil {
				t.Errorf("Get on degraded journal: %v", err)
			}
			j.Close()

			rep, err := Verify(path, testKey)
			if !errors.Is(err, ErrUntrusted) || rep.OK {
				t.Fatalf("Verify = %v, OK %t", err, rep.OK)
			}
			if !hasProblem(rep, tc.where, tc.what) {
				t.Errorf("Verify problems %+v lack %s: %s", rep.Problems, tc.where, tc.what)
			}
			if fileSum(t, path) != sum {
				t.Error("Open or Verify changed the file")
			}
		})
	}
}

// TestUnknownSchemaRefused: a schema from a newer build is refused.
func TestUnknownSchemaRefused(t *testing.T) {
	path := seededJournal(t)
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchema, u64(2)) })
	sum := fileSum(t, path)
	if _, err := Open(testOptions(t, path)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("Open of schema 2: %v, want ErrUntrusted", err)
	}
	if fileSum(t, path) != sum {
		t.Error("Open changed the file")
	}
	rep, err := Verify(path, nil)
	if !errors.Is(err, ErrUntrusted) || !hasProblem(rep, "meta/schema", "schema version 2") {
		t.Errorf("Verify: %v %+v", err, rep.Problems)
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketOutbox) })
	sum = fileSum(t, path)
	if _, err := Open(testOptions(t, path)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("Open without outbox bucket: %v, want ErrUntrusted", err)
	}
	if fileSum(t, path) != sum {
		t.Error("Open changed the file")
	}
}

// corruptCase damages a copy of a good journal.
type corruptCase struct {
	name   string
	damage func(t *testing.T, b []byte) []byte
}

func garbage(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestCorruptFileRefused: Open of a damaged file returns an error wrapping
// ErrUntrusted, never deletes, truncates or replaces it (same bytes, same
// directory listing afterwards), and Verify reports the problem.
func TestCorruptFileRefused(t *testing.T) {
	good := seededJournal(t)
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	rng := rand.New(rand.NewPCG(8, 9))
	cases := []corruptCase{
		{"both meta pages garbage", func(t *testing.T, b []byte) []byte {
			copy(b, garbage(rng, 2*ps))
			return b
		}},
		{"all data pages garbage", func(t *testing.T, b []byte) []byte {
			copy(b[2*ps:], garbage(rng, len(b)-2*ps))
			return b
		}},
		{"truncated to half", func(t *testing.T, b []byte) []byte { return b[:len(b)/2] }},
		{"truncated to one page", func(t *testing.T, b []byte) []byte { return b[:ps] }},
		{"truncated to 100 bytes", func(t *testing.T, b []byte) []byte { return b[:100] }},
		{"truncated to 0 bytes", func(t *testing.T, b []byte) []byte { return b[:0] }},
		{"not a bbolt file", func(t *testing.T, b []byte) []byte { return []byte("posagent journal? no, a text file\n") }},
		{"zeroed", func(t *testing.T, b []byte) []byte { clear(b); return b }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "journal.db")
			b := tc.damage(t, append([]byte(nil), goodBytes...))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			sum, list := fileSum(t, path), dirList(t, dir)
			j, err := Open(testOptions(t, path))
			if err == nil {
				j.Close()
				t.Fatal("Open of a damaged journal succeeded")
			}
			if !errors.Is(err, ErrUntrusted) {
				t.Errorf("Open: %v, want ErrUntrusted", err)
			}
			rep, verr := Verify(path, testKey)
			if !errors.Is(verr, ErrUntrusted) || rep.OK || len(rep.Problems) == 0 {
				t.Errorf("Verify: %v, OK %t, problems %+v", verr, rep.OK, rep.Problems)
			}
			if fileSum(t, path) != sum || dirList(t, dir) != list {
				t.Error("Open or Verify changed the file or its directory")
			}
			t.Logf("Open: %v", err)
		})
	}
}

// TestGarbagePageNeverCrashes overwrites one page at a time with random
// bytes (and, separately, flips one byte in each page). Whatever the page
// held, Open and Verify must not crash and must agree: either the file is
// refused as untrusted (and left as it was), or it opens and verifies (the
// page was free).
func TestGarbagePageNeverCrashes(t *testing.T) {
	good := seededJournal(t)
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	rng := rand.New(rand.NewPCG(3, 4))
	pages := len(goodBytes) / ps
	refused := 0
	for mode := 0; mode < 2; mode++ {
		for p := 0; p < pages; p++ {
			b := append([]byte(nil), goodBytes...)
			if mode == 0 {
				copy(b[p*ps:(p+1)*ps], garbage(rng, ps))
			} else {
				b[p*ps+rng.IntN(ps)] ^= byte(1 + rng.IntN(255))
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "journal.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			sum := fileSum(t, path)
			rep, verr := Verify(path, testKey)
			j, oerr := Open(testOptions(t, path))
			switch {
			case oerr != nil:
				refused++
				if !errors.Is(oerr, ErrUntrusted) {
					t.Errorf("mode %d page %d: Open: %v, want ErrUntrusted", mode, p, oerr)
				}
				if verr == nil {
					t.Errorf("mode %d page %d: Open refused (%v) but Verify passed", mode, p, oerr)
				}
				if fileSum(t, path) != sum {
					t.Errorf("mode %d page %d: refused file was changed", mode, p)
				}
			case j.Health() != nil:
				refused++
				if verr == nil {
					t.Errorf("mode %d page %d: degraded (%v) but Verify passed", mode, p, j.Health())
				}
				j.Close()
			default:
				if verr != nil {
					t.Errorf("mode %d page %d: Open healthy but Verify: %v %+v", mode, p, verr, rep.Problems)
				}
				j.Close()
			}
		}
	}
	t.Logf("%d pages x 2 damage modes: %d refused or degraded", pages, refused)
	if refused == 0 {
		t.Error("no damage was detected at all: the test is not reaching the data")
	}
}

// TestDegradedOpenLeavesFileAlone: a damaged record value (bbolt-valid
// file) opens degraded, and opening, reading and closing it does not
// change a byte.
func TestDegradedOpenLeavesFileAlone(t *testing.T) {
	path := seededJournal(t)
	b, _ := os.ReadFile(path)
	i := indexOf(b, []byte(`"state":"stored_offline"`))
	if i < 0 {
		t.Fatal("record JSON not found in the file")
	}
	b[i+9] = 'S' // "Stored_offline": unknown state
	os.WriteFile(path, b, 0o600)
	sum := fileSum(t, path)
	j, err := Open(testOptions(t, path))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !errors.Is(j.Health(), ErrUntrusted) {
		t.Errorf("Health = %v", j.Health())
	}
	if _, err := j.Stats(ctx); err != nil {
		t.Logf("Stats on a damaged record: %v", err)
	}
	j.Close()
	if fileSum(t, path) != sum {
		t.Error("a degraded open changed the file")
	}
}

func indexOf(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}
