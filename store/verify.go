package store

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/txn"
)

// Problem is one thing Verify found wrong.
type Problem struct {
	// Where names the place: "file", "bbolt", "meta/stan",
	// "txns/000000000000002a", "outbox/0000000000000007", ...
	Where string `json:"where"`
	// What says what is wrong, without card data.
	What string `json:"what"`
}

func (p Problem) String() string { return p.Where + ": " + p.What }

// Counts is what a verified journal holds.
type Counts struct {
	Records   int               `json:"records"`
	States    map[txn.State]int `json:"states"`
	Outbox    int               `json:"outbox"`
	Reversals int               `json:"reversals"`
	PrintJobs int               `json:"print_jobs"`
	Batches   int               `json:"batches"`
	Sealed    int               `json:"sealed"` // records still holding sealed data
}

// Report is the result of Verify.
type Report struct {
	Path          string    `json:"path"`
	OK            bool      `json:"ok"`
	FileBytes     int64     `json:"file_bytes"`
	SchemaVersion uint64    `json:"schema_version"`
	TID           string    `json:"tid"`
	MID           string    `json:"mid"`
	KeyChecked    bool      `json:"key_checked"` // sealed data was opened with the given key
	Counts        Counts    `json:"counts"`
	Problems      []Problem `json:"problems"`
	// Unlisted counts problems found beyond the first maxProblems.
	Unlisted int `json:"unlisted,omitempty"`
}

// maxProblems bounds the problems listed in a Report.
const maxProblems = 100

func (r *Report) add(where, format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.Unlisted++
		return
	}
	r.Problems = append(r.Problems, Problem{Where: where, What: fmt.Sprintf(format, args...)})
}

// err summarises a failed report as an error wrapping ErrUntrusted.
func (r *Report) err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	more := ""
	if n := len(r.Problems) + r.Unlisted - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more problems)", n)
	}
	return fmt.Errorf("%w: journal %s: %s%s", ErrUntrusted, r.Path, r.Problems[0], more)
}

// verifyLockTimeout is how long Verify waits for the file lock.
const verifyLockTimeout = 500 * time.Millisecond

// Verify checks the journal file at path without modifying it: it opens the
// file read-only (a shared lock, waiting at most half a second), checks
// bbolt's structure (meta pages, file size, tx.Check) and then the
// journal's invariants (docs/journal.md lists them). With a non-nil key,
// every sealed blob must open with it and match its record's PAN hash, and
// the key must be the one the journal was made with; with a nil key those
// checks are skipped.
//
// The error is nil when the journal is OK; it wraps ErrUntrusted when
// problems were found (the Report lists them), ErrLocked when a writer holds
// the file, and fs.ErrNotExist when there is no file.
func Verify(path string, key []byte) (Report, error) {
	var k *keys
	if key != nil {
		var err error
		if k, err = deriveKeys(key); err != nil {
			return Report{Path: path}, err
		}
	}
	rep, _, err := inspect(path, k, verifyLockTimeout)
	if err != nil {
		return rep, err
	}
	return rep, rep.err()
}

// inspect is Verify with the structural problems split out: a structural
// problem means bbolt itself cannot be trusted with the file.
func inspect(path string, k *keys, lockTimeout time.Duration) (rep Report, structural bool, err error) {
	rep = Report{Path: path, Counts: Counts{States: map[txn.State]int{}}, KeyChecked: k != nil}
	f, err := os.Open(path)
	if err != nil {
		return rep, false, fmt.Errorf("store: verify: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return rep, false, fmt.Errorf("store: verify: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return rep, false, fmt.Errorf("%w: journal %s is not a regular file (%s)", ErrInvalid, path, fi.Mode().Type())
	}
	// Hold a shared lock while we read, so no writer changes pages under
	// the preflight's plain reads.
	unlock, err := lockShared(f, path, lockTimeout)
	if err != nil {
		return rep, false, err
	}
	defer unlock()
	rep.FileBytes = fi.Size()
	if fi.Size() == 0 {
		rep.add("file", "file is empty (0 bytes); posagent never leaves an empty journal, so it was truncated")
		return rep, true, nil
	}
	if probs := preflight(f, fi.Size()); len(probs) > 0 {
		for _, p := range probs {
			rep.add(p.Where, "%s", p.What)
		}
		return rep, true, nil
	}

	var db *bolt.DB
	err = guard("open", func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout, PreLoadFreelist: true})
		return err
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rep, false, fmt.Errorf("store: verify: %w", err)
		}
		if isLockTimeout(err) {
			return rep, false, lockedError(path, err)
		}
		rep.add("bbolt", "open: %v", err)
		return rep, true, nil
	}
	defer db.Close()

	err = guard("verify", func() error {
		return db.View(func(tx *bolt.Tx) error {
			if !checkStructure(tx, &rep) {
				structural = true
				return nil
			}
			structural = checkJournal(tx, k, &rep)
			return nil
		})
	})
	if err != nil {
		rep.add("bbolt", "%v", err)
		structural = true
	}
	rep.OK = len(rep.Problems) == 0 && rep.Unlisted == 0
	return rep, structural, nil
}

// guard runs fn turning a panic, or a memory fault on the file mapping,
// into an error wrapping ErrUntrusted: a damaged file must not crash the
// agent into a restart loop (bbolt panics on pages it cannot parse).
func guard(what string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = &faultError{what: what, cause: r}
		}
	}()
	return fn()
}

// faultError is a panic or memory fault caught by guard. It wraps
// ErrUntrusted.
type faultError struct {
	what  string
	cause any
}

func (e *faultError) Error() string {
	return fmt.Sprintf("store: %s: journal file access failed: %v", e.what, e.cause)
}

func (e *faultError) Unwrap() error { return ErrUntrusted }

// checkStructure walks every bucket and value in this goroutine (under
// guard, so a fault is caught) and then runs bbolt's own consistency check.
// It reports whether the structure is sound.
func checkStructure(tx *bolt.Tx, rep *Report) bool {
	n := len(rep.Problems) + rep.Unlisted
	if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		return walkBucket(b, string(name), 0)
	}); err != nil {
		rep.add("bbolt", "%v", err)
		return false
	}
	// tx.Check runs in its own goroutine and sends every problem; it must
	// be drained to the end before the transaction closes.
	for err := range tx.Check() {
		rep.add("bbolt", "check: %v", err)
	}
	return len(rep.Problems)+rep.Unlisted == n
}

// walkBucket touches the first and last byte of every key and value, so
// that a page outside the file faults here, under guard.
func walkBucket(b *bolt.Bucket, path string, depth int) error {
	if depth > 2 {
		return fmt.Errorf("%s: buckets nested %d deep; the schema has no nested buckets", path, depth)
	}
	var sink byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		sink ^= k[0] ^ k[len(k)-1]
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				if err := walkBucket(nb, path+"/"+fmt.Sprintf("%x", k), depth+1); err != nil {
					return err
				}
			}
			continue
		}
		if len(v) > 0 {
			sink ^= v[0] ^ v[len(v)-1]
		}
	}
	_ = sink
	return nil
}

// checkJournal checks the journal invariants and fills rep's counts. It
// reports whether a problem is structural (buckets missing, schema
// unknown): such a file must not be opened for writing at all.
func checkJournal(tx *bolt.Tx, k *keys, rep *Report) (structural bool) {
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			rep.add(string(name), "bucket is missing")
			structural = true
		}
	}
	_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		known := false
		for _, n := range allBuckets {
			known = known || bytes.Equal(n, name)
		}
		if !known {
			rep.add(fmt.Sprintf("%q", name), "unknown bucket for schema %d", SchemaVersion)
		}
		return nil
	})
	if structural {
		return true
	}
	meta := tx.Bucket(bucketMeta)
	schema, err := getU64(meta, metaSchema)
	if err != nil {
		rep.add("meta/schema", "%v", err)
		return true
	}
	rep.SchemaVersion = schema
	if schema != SchemaVersion {
		rep.add("meta/schema", "schema version %d is unknown to this build (it reads %d)", schema, SchemaVersion)
		return true
	}
	rep.TID, rep.MID = string(meta.Get(metaTID)), string(meta.Get(metaMID))
	if err := checkTID(rep.TID); err != nil {
		rep.add("meta/tid", "%v", err)
	}
	if err := checkMID(rep.MID); err != nil {
		rep.add("meta/mid", "%v", err)
	}
	if _, err := time.Parse(time.RFC3339Nano, string(meta.Get(metaCreated))); err != nil {
		rep.add("meta/created", "not an RFC 3339 time: %v", err)
	}
	if kc := meta.Get(metaKeyCheck); len(kc) != 16 {
		rep.add("meta/key_check", "is %d bytes, want 16", len(kc))
	} else if k != nil && !hmac.Equal(kc, k.check) {
		rep.add("meta/key_check", "the device key does not match the key this journal was created with")
	}
	ctr, ctrErr := readCounters(meta)
	if ctrErr != nil {
		rep.add("meta", "%v", ctrErr)
	}

	// Batches.
	batches := map[uint32]BatchInfo{}
	_ = tx.Bucket(bucketBatches).ForEach(func(key, v []byte) error {
		b, err := decodeBatch(key, v)
		if err != nil {
			rep.add(fmt.Sprintf("batches/%x", key), "%v", err)
			return nil
		}
		batches[b.Number] = b
		return nil
	})
	rep.Counts.Batches = len(batches)
	if ctrErr == nil {
		if b, ok := batches[ctr.Batch]; !ok {
			rep.add("meta/batch", "current batch %06d has no entry in the batches bucket", ctr.Batch)
		} else if b.Closed != nil {
			rep.add("meta/batch", "current batch %06d is marked closed", ctr.Batch)
		}
	}

	// Records.
	txns, outbox, reversals := tx.Bucket(bucketTxns), tx.Bucket(bucketOutbox), tx.Bucket(bucketReversals)
	states := map[uint64]txn.State{}
	identities := map[uint64]uint64{} // batch<<32|STAN -> seq
	var maxSeq uint64
	var newest *txn.Record
	_ = txns.ForEach(func(key, v []byte) error {
		where := fmt.Sprintf("txns/%x", key)
		r, err := decodeRecord(key, v)
		if err != nil {
			rep.add(where, "%v", err)
			return nil
		}
		seq := binary.BigEndian.Uint64(key)
		maxSeq = seq
		newest = &r
		states[seq] = r.State
		rep.Counts.Records++
		rep.Counts.States[r.State]++
		checkRecord(&r, k, rep, where, rep.TID, rep.MID)
		if _, ok := batches[r.Identity.Batch]; !ok {
			rep.add(where, "batch %06d has no entry in the batches bucket", r.Identity.Batch)
		}
		id := uint64(r.Identity.Batch)<<32 | uint64(r.Identity.STAN)
		if other, dup := identities[id]; dup {
			rep.add(where, "batch %06d STAN %06d was already used by record %s", r.Identity.Batch, r.Identity.STAN, idOf(other))
		}
		identities[id] = seq
		if r.Sealed != nil {
			rep.Counts.Sealed++
		}
		if r.State.InOutbox() && outbox.Get(key) == nil {
			rep.add(where, "state %s requires an outbox entry, and there is none", r.State)
		}
		if r.State.NeedsReversal() && reversals.Get(key) == nil {
			rep.add(where, "state %s requires a reversal queue entry, and there is none", r.State)
		}
		return nil
	})

	// Indexes.
	checkIndex := func(b *bolt.Bucket, name string, need func(txn.State) bool, count *int) {
		_ = b.ForEach(func(key, v []byte) error {
			*count++
			where := fmt.Sprintf("%s/%x", name, key)
			if len(key) != 8 {
				rep.add(where, "key is %d bytes, want 8", len(key))
				return nil
			}
			seq := binary.BigEndian.Uint64(key)
			if string(v) != string(idOf(seq)) {
				rep.add(where, "value %q is not the record ID %s", v, idOf(seq))
			}
			st, ok := states[seq]
			switch {
			case !ok && txns.Get(key) == nil:
				rep.add(where, "points at record %s, which does not exist", idOf(seq))
			case !ok: // the record is there but did not decode: reported above
			case !need(st):
				rep.add(where, "record %s is in state %s, which does not belong in the %s", idOf(seq), st, name)
			}
			return nil
		})
	}
	checkIndex(outbox, "outbox", txn.State.InOutbox, &rep.Counts.Outbox)
	checkIndex(reversals, "reversals", txn.State.NeedsReversal, &rep.Counts.Reversals)

	// Print queue.
	pq := tx.Bucket(bucketPrintQ)
	_ = pq.ForEach(func(key, v []byte) error {
		rep.Counts.PrintJobs++
		where := fmt.Sprintf("printq/%x", key)
		j, err := decodePrintJob(key, v)
		if err != nil {
			rep.add(where, "%v", err)
		} else if j.Seq > pq.Sequence() {
			rep.add(where, "job %d is beyond the queue's sequence %d", j.Seq, pq.Sequence())
		}
		return nil
	})

	// Counters are ahead of everything they issued.
	if ctrErr == nil {
		if maxSeq >= ctr.NextSeq {
			rep.add("meta/next_seq", "next sequence %d is not above the newest record %s", ctr.NextSeq, idOf(maxSeq))
		}
		switch {
		case newest != nil:
			if want := advance(newest.Identity.STAN, ctr.STANExtra); ctr.STAN != want {
				rep.add("meta/stan", "last STAN issued is %06d, but the newest record %s has STAN %06d and %d were reserved since (want %06d)",
					ctr.STAN, newest.ID, newest.Identity.STAN, ctr.STANExtra, want)
			}
			if ctr.Invoice != newest.Identity.Invoice {
				rep.add("meta/invoice", "last invoice issued is %06d, but the newest record %s has invoice %06d",
					ctr.Invoice, newest.ID, newest.Identity.Invoice)
			}
			if b := newest.Identity.Batch; b != ctr.Batch && (batches[b].Closed == nil) {
				rep.add("meta/batch", "current batch is %06d, but the newest record %s is in batch %06d, which is not closed",
					ctr.Batch, newest.ID, b)
			}
		case ctr.NextSeq == 1:
			if want := advance(0, ctr.STANExtra); ctr.STAN != want {
				rep.add("meta/stan", "no record was ever made and %d STANs were reserved, but the last STAN is %06d",
					ctr.STANExtra, ctr.STAN)
			}
			if ctr.Invoice != 0 {
				rep.add("meta/invoice", "no record was ever made, but the last invoice is %06d", ctr.Invoice)
			}
		}
	}
	return false
}

// checkRecord checks one decoded record's own invariants.
func checkRecord(r *txn.Record, k *keys, rep *Report, where, tid, mid string) {
	if r.State.KeepsNoCardData() && r.Sealed != nil {
		rep.add(where, "state %s keeps no card data but %d bytes of sealed data were not wiped", r.State, len(r.Sealed))
	}
	// History: starts pending, every step legal, ends in the state.
	h := r.History
	if h[0].To != txn.Pending || h[0].From != "" {
		rep.add(where, "history starts %q -> %q, want \"\" -> pending", h[0].From, h[0].To)
	}
	offline := false
	for i := 1; i < len(h); i++ {
		if h[i].From != h[i-1].To {
			rep.add(where, "history step %d starts in %s but step %d ended in %s", i+1, h[i].From, i, h[i-1].To)
			continue
		}
		if h[i].From == h[i].To {
			continue // an attempt note (NoteAttempt)
		}
		if err := txn.CanTransition(h[i].From, h[i].To); err != nil {
			rep.add(where, "history step %d: %v", i+1, err)
		}
	}
	for _, c := range h {
		offline = offline || c.To == txn.StoredOffline
	}
	if r.Offline != offline {
		rep.add(where, "offline flag is %t but the history %s through stored_offline", r.Offline,
			map[bool]string{true: "passes", false: "does not pass"}[offline])
	}
	if r.Identity.TID != tid || r.Identity.MID != mid {
		rep.add(where, "identity TID/MID %q/%q differ from the journal's %q/%q", r.Identity.TID, r.Identity.MID, tid, mid)
	}
	for _, c := range []struct {
		name string
		v    uint32
	}{{"batch", r.Identity.Batch}, {"STAN", r.Identity.STAN}, {"invoice", r.Identity.Invoice}} {
		if c.v < 1 || c.v > MaxCounter {
			rep.add(where, "%s %d outside 1-%d", c.name, c.v, MaxCounter)
		}
	}
	if !r.Amount.Currency.Known() || r.Amount.Minor < 0 || r.Amount.Minor > MaxAmount {
		rep.add(where, "amount %d of currency %d is outside 0-%d of a known currency", r.Amount.Minor, r.Amount.Currency, MaxAmount)
	}
	if n := digits(r.MaskedPAN); n > maxMaskedDigits {
		rep.add(where, "masked PAN shows %d digits; a masked PAN shows at most %d", n, maxMaskedDigits)
	}
	if k == nil || r.Sealed == nil {
		return
	}
	plain, err := k.open(r.ID, r.Sealed)
	if err != nil {
		rep.add(where, "sealed data: %v", errSealBroken)
		return
	}
	var s txn.Sensitive
	if err := decodeStrict(plain, &s); err != nil {
		rep.add(where, "sealed data opens but is not sensitive-data JSON: %v", err)
		return
	}
	if s.PAN != "" && !hmac.Equal([]byte(r.PANHash), []byte(k.panHash(s.PAN))) {
		rep.add(where, "PAN hash does not match the sealed PAN")
	}
}

// digits counts the decimal digits in s.
func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// maxMaskedDigits is how many digits a masked PAN may show (first 6, last 4).
const maxMaskedDigits = 10

// checkTID and checkMID validate the terminal and merchant IDs (ISO 8583
// fields 41, ans 8, and 42, ans 15).
func checkTID(s string) error { return checkIDField("TID", s, 8) }
func checkMID(s string) error { return checkIDField("MID", s, 15) }

func checkIDField(name, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: %s %q is %d characters, want 1-%d", ErrInvalid, name, s, len(s), max)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }); i >= 0 {
		return fmt.Errorf("%w: %s has a non-printable or non-ASCII character at offset %d", ErrInvalid, name, i)
	}
	return nil
}
