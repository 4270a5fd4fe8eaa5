package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store errors.
var (
	// ErrLocked: another process (a running `acqhost serve`) holds the
	// bbolt file; read it through the admin API instead.
	ErrLocked = errors.New("acqhost: database is locked by another process (is acqhost serve running? use --admin URL)")
	// ErrStore wraps every other database failure.
	ErrStore = errors.New("acqhost: database")
	// ErrSchema: the file is not an acqhost database of a known version.
	ErrSchema = errors.New("acqhost: unknown database schema")
)

// schemaVersion is written to meta/schema.
const schemaVersion = "1"

// lockTimeout bounds the wait for bbolt's file lock.
const lockTimeout = time.Second

var (
	bktMeta      = []byte("meta")
	bktTerminals = []byte("terminals")
	bktTxns      = []byte("txns")
	bktBatches   = []byte("batches")
	keySchema    = []byte("schema")
)

// Store is the host's bbolt file: terminals (current batch, working keys
// encrypted under the TMK), transactions with their answers, batches.
//
// Layout (all values JSON):
//
//	meta/schema                       "1"; meta's sequence numbers RRNs
//	terminals/<TID>                   termRecord
//	txns/<TID 8><batch 6><STAN 6><class letter F|A|R|B|S>   storedTxn
//	batches/<TID 8><batch 6>          Batch
type Store struct {
	db *bolt.DB
	// writes counts committed write transactions (tests check that bad
	// input never writes).
	writes atomic.Int64
	// pending counts write transactions waiting or running.
	pending atomic.Int64
}

// OpenStore opens (creating it unless readOnly) the bbolt file at path.
// bbolt locks the file: while `acqhost serve` runs, a second open fails
// with ErrLocked after a second.
func OpenStore(path string, readOnly bool) (*Store, error) {
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStore, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %w", ErrStore, path, err)
	}
	// Concurrent requests share a commit (one fsync) and wait at most
	// this long for more company (see update).
	db.MaxBatchDelay = time.Millisecond
	s := &Store{db: db}
	if readOnly {
		err = db.View(func(tx *bolt.Tx) error { return checkSchema(tx) })
	} else {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bktMeta, bktTerminals, bktTxns, bktBatches} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			m := tx.Bucket(bktMeta)
			if m.Get(keySchema) == nil {
				return m.Put(keySchema, []byte(schemaVersion))
			}
			return checkSchema(tx)
		})
	}
	if err != nil {
		db.Close()
		if errors.Is(err, ErrSchema) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrStore, path, err)
	}
	return s, nil
}

func checkSchema(tx *bolt.Tx) error {
	m := tx.Bucket(bktMeta)
	if m == nil {
		return fmt.Errorf("%w: no meta bucket", ErrSchema)
	}
	if v := m.Get(keySchema); string(v) != schemaVersion {
		return fmt.Errorf("%w: schema %q, this acqhost reads %q", ErrSchema, v, schemaVersion)
	}
	for _, b := range [][]byte{bktTerminals, bktTxns, bktBatches} {
		if tx.Bucket(b) == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrSchema, b)
		}
	}
	return nil
}

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("%w: close: %w", ErrStore, err)
	}
	return nil
}

// errRollback ends a write transaction without committing: the request
// was answered without anything to record (format error, batch mismatch,
// reused STAN).
var errRollback = errors.New("rollback")

// update runs fn in a (possibly shared, see bbolt DB.Batch) write
// transaction; fn may run more than once and must only communicate
// through the transaction and variables it overwrites. An error of fn
// that is errRollback (a *rejection) is returned as is.
func (s *Store) update(fn func(t *stx) error) error {
	// Alone: commit at once. With company: share a commit (bbolt Batch,
	// at most MaxBatchDelay of waiting for more).
	var err error
	if s.pending.Add(1) == 1 {
		err = s.db.Update(func(tx *bolt.Tx) error { return fn(&stx{tx}) })
	} else {
		err = s.db.Batch(func(tx *bolt.Tx) error { return fn(&stx{tx}) })
	}
	s.pending.Add(-1)
	switch {
	case err == nil:
		s.writes.Add(1)
		return nil
	case errors.Is(err, errRollback):
		return err
	}
	return fmt.Errorf("%w: %w", ErrStore, err)
}

func (s *Store) view(fn func(t *stx) error) error {
	if err := s.db.View(func(tx *bolt.Tx) error { return fn(&stx{tx}) }); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	return nil
}

// stx wraps a bbolt transaction with the host's record accessors.
type stx struct{ tx *bolt.Tx }

// termRecord is a terminal's state at the host.
type termRecord struct {
	TID string `json:"tid"`
	// Batch is the terminal's open batch at the host (60.2 of sign-in
	// answers; financial requests must carry it).
	Batch    string      `json:"batch"`
	Keys     *storedKeys `json:"keys,omitempty"`
	SignedIn time.Time   `json:"signed_in,omitzero"`
	SignIns  int         `json:"sign_ins"`
}

// storedKeys are the working keys as field 62 carries them: each the
// cryptogram under the TMK followed by its check value, hex. The file
// alone does not reveal them; the configured TMK does.
type storedKeys struct {
	PIK    string `json:"pik"`
	MAK    string `json:"mak"`
	TDK    string `json:"tdk"`
	TMKKCV string `json:"tmk_kcv"`
}

func txnKey(tid, batch, stan string, c Class) []byte {
	k := make([]byte, 0, 21)
	k = append(k, tid...)
	k = append(k, batch...)
	k = append(k, stan...)
	return append(k, c.letter())
}

func batchKey(tid, batch string) []byte { return []byte(tid + batch) }

func getJSON[T any](b *bolt.Bucket, key []byte) (*T, error) {
	v := b.Get(key)
	if v == nil {
		return nil, nil
	}
	var out T
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, fmt.Errorf("record %q: %w", key, err)
	}
	return &out, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func (t *stx) txn(key []byte) (*storedTxn, error) {
	return getJSON[storedTxn](t.tx.Bucket(bktTxns), key)
}

func (t *stx) putTxn(key []byte, r *storedTxn) error {
	return putJSON(t.tx.Bucket(bktTxns), key, r)
}

func (t *stx) terminal(tid string) (*termRecord, error) {
	return getJSON[termRecord](t.tx.Bucket(bktTerminals), []byte(tid))
}

func (t *stx) putTerminal(r *termRecord) error {
	return putJSON(t.tx.Bucket(bktTerminals), []byte(r.TID), r)
}

func (t *stx) batch(tid, batch string) (*Batch, error) {
	return getJSON[Batch](t.tx.Bucket(bktBatches), batchKey(tid, batch))
}

func (t *stx) putBatch(b *Batch) error {
	return putJSON(t.tx.Bucket(bktBatches), batchKey(b.TID, b.Batch), b)
}

// openTerminal returns tid's record, creating it (batch 000001, open)
// when the host has never seen the terminal.
func (t *stx) openTerminal(tid string, now time.Time) (*termRecord, error) {
	r, err := t.terminal(tid)
	if err != nil || r != nil {
		return r, err
	}
	r = &termRecord{TID: tid, Batch: firstBatch}
	if err := t.putTerminal(r); err != nil {
		return nil, err
	}
	return r, t.putBatch(&Batch{TID: tid, Batch: firstBatch, State: BatchOpen, Opened: now})
}

// firstBatch is a new terminal's batch number.
const firstBatch = "000001"

// nextBatch is b + 1, wrapping 999999 to 000001.
func nextBatch(b string) string {
	var n int
	fmt.Sscanf(b, "%d", &n)
	n++
	if n > 999999 {
		n = 1
	}
	return fmt.Sprintf("%06d", n)
}

// nextRRN returns a fresh 12-digit retrieval reference number, unique in
// this file.
func (t *stx) nextRRN() (string, error) {
	n, err := t.tx.Bucket(bktMeta).NextSequence()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%012d", n%1_000_000_000_000), nil
}

// original finds the financial or advice transaction TID + batch + STAN,
// preferring the one whose kind matches want (when two exist, which only a
// terminal reusing a STAN across classes causes).
func (t *stx) original(tid, batch, stan string, want ...Kind) (*storedTxn, []byte, error) {
	var first *storedTxn
	var firstKey []byte
	for _, c := range []Class{ClassFinancial, ClassAdvice} {
		k := txnKey(tid, batch, stan, c)
		r, err := t.txn(k)
		if err != nil {
			return nil, nil, err
		}
		if r == nil {
			continue
		}
		for _, w := range want {
			if r.Kind == w {
				return r, k, nil
			}
		}
		if first == nil {
			first, firstKey = r, k
		}
	}
	return first, firstKey, nil
}

// eachTxn calls fn for every transaction whose key starts with prefix.
func (t *stx) eachTxn(prefix []byte, fn func(key []byte, r *storedTxn) error) error {
	c := t.tx.Bucket(bktTxns).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var r storedTxn
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		if err := fn(k, &r); err != nil {
			return err
		}
	}
	return nil
}

// totals computes what the host holds for TID + batch: debit = approved
// sales (including those later voided) + accepted offline sales − approved
// voids; credit = approved refunds. Reversed and declined transactions do
// not count.
func (t *stx) totals(tid, batch string) (TotalsPair, error) {
	var p TotalsPair
	err := t.eachTxn(batchKey(tid, batch), func(_ []byte, r *storedTxn) error {
		addTotals(&p, &r.Txn)
		return nil
	})
	return p, err
}

func addTotals(p *TotalsPair, r *Txn) {
	h := &p.Foreign
	if r.Domestic {
		h = &p.Domestic
	}
	switch r.Kind {
	case KindSale, KindQRSale:
		if r.State == StateApproved || r.State == StateVoided {
			h.DebitAmount += r.Amount
			h.DebitCount++
		}
	case KindOffline:
		if r.State == StateOfflineApproved {
			h.DebitAmount += r.Amount
			h.DebitCount++
		}
	case KindVoid:
		if r.State == StateApproved {
			h.DebitAmount -= r.Amount
			h.DebitCount--
		}
	case KindRefund:
		if r.State == StateApproved {
			h.CreditAmount += r.Amount
			h.CreditCount++
		}
	}
}

// Transactions returns the recorded messages, of one terminal when tid is
// not empty, oldest first.
func (s *Store) Transactions(tid string) ([]Txn, error) {
	var out []Txn
	err := s.view(func(t *stx) error {
		return t.eachTxn([]byte(tid), func(_ []byte, r *storedTxn) error {
			out = append(out, r.Txn)
			return nil
		})
	})
	sortTxns(out)
	return out, err
}

func sortTxns(ts []Txn) {
	sort.SliceStable(ts, func(i, j int) bool {
		if !ts[i].Time.Equal(ts[j].Time) {
			return ts[i].Time.Before(ts[j].Time)
		}
		a, b := ts[i], ts[j]
		return a.TID+a.Batch+a.STAN+string(a.Class) < b.TID+b.Batch+b.STAN+string(b.Class)
	})
}

// Batches returns every batch (of one terminal when tid is not empty) with
// the host's current totals, by TID then batch number.
func (s *Store) Batches(tid string) ([]Batch, error) {
	var out []Batch
	err := s.view(func(t *stx) error {
		c := t.tx.Bucket(bktBatches).Cursor()
		p := []byte(tid)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var b Batch
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("batch %q: %w", k, err)
			}
			tot, err := t.totals(b.TID, b.Batch)
			if err != nil {
				return err
			}
			b.Host = tot
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

// counts returns the number of recorded messages by "kind/state".
func (s *Store) counts() (map[string]int, error) {
	out := map[string]int{}
	err := s.view(func(t *stx) error {
		return t.eachTxn(nil, func(_ []byte, r *storedTxn) error {
			out[string(r.Kind)+"/"+string(r.State)]++
			return nil
		})
	})
	return out, err
}
