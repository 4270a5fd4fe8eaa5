package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/payment"
)

// Options configure Open.
type Options struct {
	// Path is the bbolt file. Its directory is created with mode 0700 when
	// missing; the file itself is 0600.
	Path string
	// Key is the 32-byte device key (see LoadDeviceKey). The sealing key,
	// the PAN hash key and a key check value are derived from it with
	// HKDF-SHA-256 under distinct labels.
	Key []byte
	// TID and MID are the terminal and merchant IDs (ISO 8583 fields 41
	// and 42). They are written into a new journal and must match an
	// existing one's; empty means "whatever the journal has" (an existing
	// journal only).
	TID, MID string
	// Clock stamps records; nil means clock.System{}.
	Clock clock.Clock
	// LockTimeout bounds the wait for the file lock; 0 means 1 s.
	LockTimeout time.Duration
	// Logger gets open, degraded-mode and write events (never card
	// data); nil discards them.
	Logger *slog.Logger
}

// DefaultLockTimeout is the lock wait when Options.LockTimeout is 0.
const DefaultLockTimeout = time.Second

// Journal is an open journal file. It is safe for concurrent use; bbolt
// serialises the writes.
type Journal struct {
	path  string
	keys  *keys
	clock clock.Clock
	log   *slog.Logger
	tid   string
	mid   string

	mu sync.RWMutex // guards db against Close
	db *bolt.DB     // nil once closed

	hmu    sync.Mutex
	health error // nil while the journal can be trusted

	// failpoint, when set by a test, is called at each step of a write
	// inside its bbolt Update; an error (or a panic) aborts the Update.
	failpoint func(op, step string) error
}

var _ payment.Journal = (*Journal)(nil)

// Open opens the journal at o.Path, creating it when the file does not
// exist. It never deletes, truncates or replaces an existing file
// (DESIGN.md invariant 8).
//
// Open first checks the file read-only (as Verify does, including the
// sealed data against o.Key). A file whose bbolt structure is damaged, or
// whose schema is unknown, is refused with an error wrapping ErrUntrusted.
// A file whose journal invariants are broken opens degraded: reads work,
// Health returns the problem and every write is refused. A file locked by
// another process gives ErrLocked after o.LockTimeout; a TID or MID that
// differs from the journal's gives ErrIdentity.
func Open(o Options) (*Journal, error) {
	if o.Path == "" {
		return nil, fmt.Errorf("%w: Options.Path is empty", ErrInvalid)
	}
	k, err := deriveKeys(o.Key)
	if err != nil {
		return nil, fmt.Errorf("store: Options.Key: %w", err)
	}
	if o.TID != "" {
		if err := checkTID(o.TID); err != nil {
			return nil, fmt.Errorf("store: Options.TID: %w", err)
		}
	}
	if o.MID != "" {
		if err := checkMID(o.MID); err != nil {
			return nil, fmt.Errorf("store: Options.MID: %w", err)
		}
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	log := o.Logger.With("journal", o.Path)

	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("store: journal directory: %w", err)
	}
	if _, err := os.Lstat(o.Path); errors.Is(err, fs.ErrNotExist) {
		if o.TID == "" || o.MID == "" {
			return nil, fmt.Errorf("%w: Options.TID and Options.MID are required to create journal %s", ErrInvalid, o.Path)
		}
		if err := create(o, k); err != nil {
			return nil, err
		}
		log.Info("journal created", "tid", o.TID, "mid", o.MID, "schema", SchemaVersion)
	} else if err != nil {
		return nil, fmt.Errorf("store: journal: %w", err)
	}

	rep, structural, err := inspect(o.Path, k, o.LockTimeout)
	if err != nil {
		return nil, err
	}
	if structural {
		err := rep.err()
		log.Error("journal refused: it cannot be trusted; the file is kept for recovery", "err", err)
		return nil, err
	}
	if (o.TID != "" && o.TID != rep.TID) || (o.MID != "" && o.MID != rep.MID) {
		return nil, fmt.Errorf("%w: journal %s belongs to TID %q MID %q, but the configuration says TID %q MID %q",
			ErrIdentity, o.Path, rep.TID, rep.MID, o.TID, o.MID)
	}

	var db *bolt.DB
	err = guard("open", func() error {
		var err error
		bo := &bolt.Options{Timeout: o.LockTimeout}
		if tuneBolt != nil {
			tuneBolt(bo)
		}
		db, err = bolt.Open(o.Path, 0o600, bo)
		return err
	})
	if err != nil {
		if isLockTimeout(err) {
			return nil, lockedError(o.Path, err)
		}
		return nil, fmt.Errorf("%w: open %s: %w", ErrUntrusted, o.Path, err)
	}
	j := &Journal{path: o.Path, keys: k, clock: o.Clock, log: log, tid: rep.TID, mid: rep.MID, db: db, failpoint: processFailpoint()}
	if !rep.OK {
		j.health = rep.err()
		log.Error("journal opened DEGRADED: payments are refused until it is repaired",
			"problems", len(rep.Problems)+rep.Unlisted, "err", j.health)
	} else {
		log.Info("journal opened", "records", rep.Counts.Records, "outbox", rep.Counts.Outbox,
			"reversals", rep.Counts.Reversals, "bytes", rep.FileBytes)
	}
	return j, nil
}

// tuneBolt, when a benchmark sets it, adjusts the bbolt options Open uses
// (freelist type, freelist sync: BenchmarkFreelist). nil in every real use:
// the journal runs on bbolt's defaults (docs/journal.md says why).
var tuneBolt func(*bolt.Options)

// newPageSize is the bbolt page size of new journals; 0 means the OS page
// size. Tests lower it to keep fuzz inputs small.
var newPageSize int

// create makes a new journal at o.Path: it builds the file under a
// temporary name, fsyncs it, and links it into place, so the path never
// names a half-initialised (or empty) journal. An existing file at the
// path wins; it is never overwritten.
func create(o Options, k *keys) error {
	tmp := fmt.Sprintf("%s.new-%d", o.Path, os.Getpid())
	_ = os.Remove(tmp) // our own leftover from an earlier crash
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: o.LockTimeout, PageSize: newPageSize})
	if err != nil {
		return fmt.Errorf("store: create journal: %w", err)
	}
	now := o.Clock.Now().UTC()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		for _, kv := range []struct{ k, v []byte }{
			{metaSchema, u64(SchemaVersion)},
			{metaTID, []byte(o.TID)},
			{metaMID, []byte(o.MID)},
			{metaCreated, []byte(now.Format(time.RFC3339Nano))},
			{metaKeyCheck, k.check},
		} {
			if err := meta.Put(kv.k, kv.v); err != nil {
				return err
			}
		}
		if err := writeCounters(meta, counters{Batch: 1, NextSeq: 1}); err != nil {
			return err
		}
		b, err := encodeJSON(BatchInfo{Number: 1, Opened: now})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketBatches).Put(batchKey(1), b)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: create journal %s: %w", o.Path, err)
	}
	err = os.Link(tmp, o.Path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// No hard links on this file system: rename, after one more check
		// that nothing appeared at the path.
		if _, serr := os.Lstat(o.Path); errors.Is(serr, fs.ErrNotExist) {
			err = os.Rename(tmp, o.Path)
		}
	}
	_ = os.Remove(tmp)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store: create journal %s: %w", o.Path, err)
	}
	return syncDir(filepath.Dir(o.Path))
}

// Close closes the journal file and releases its lock. It waits for
// calls in progress. A second Close returns ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.db == nil {
		return ErrClosed
	}
	err := j.db.Close()
	j.db = nil
	if err != nil {
		return fmt.Errorf("store: close %s: %w", j.path, err)
	}
	return nil
}

// Path returns the journal file's path.
func (j *Journal) Path() string { return j.path }

// Health returns nil while the journal can be trusted. Otherwise it returns
// why not, wrapping ErrUntrusted (or ErrClosed after Close); payments must
// be refused while it is not nil.
func (j *Journal) Health() error {
	j.mu.RLock()
	closed := j.db == nil
	j.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	j.hmu.Lock()
	defer j.hmu.Unlock()
	return j.health
}

// degrade records err as the reason the journal cannot be trusted (the
// first reason stays).
func (j *Journal) degrade(err error) {
	j.hmu.Lock()
	defer j.hmu.Unlock()
	if j.health == nil {
		j.health = err
		j.log.Error("journal DEGRADED: payments are refused", "err", err)
	}
}

// view runs fn in a read transaction.
func (j *Journal) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.db == nil {
		return ErrClosed
	}
	return j.protect("read", func() error { return j.db.View(fn) })
}

// update runs fn in one fsync'd write transaction, refusing while the
// journal is degraded.
func (j *Journal) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.db == nil {
		return ErrClosed
	}
	j.hmu.Lock()
	h := j.health
	j.hmu.Unlock()
	if h != nil {
		return fmt.Errorf("store: %s refused: %w", op, h)
	}
	return j.protect(op, func() error { return j.db.Update(fn) })
}

// protect runs fn under guard; a panic or fault degrades the journal.
func (j *Journal) protect(what string, fn func() error) error {
	err := guard(what, fn)
	var fe *faultError
	if errors.As(err, &fe) {
		j.degrade(err)
	}
	return err
}

// fail calls the test failpoint, if any.
func (j *Journal) fail(op, step string) error {
	if j.failpoint == nil {
		return nil
	}
	return j.failpoint(op, step)
}
