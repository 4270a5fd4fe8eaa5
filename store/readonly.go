package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/txn"
)

// ErrReadOnly is returned by writes on a journal opened with OpenReadOnly.
var ErrReadOnly = errors.New("store: journal opened read-only")

// OpenReadOnly opens an existing journal for reading only: the technician's
// view of a stopped agent's journal (posagent journal ls/show/export). It
// never creates, repairs or writes the file; it fails with ErrLocked while
// an agent holds the journal. key may be nil (Unseal then fails).
func OpenReadOnly(path string, key []byte) (*Journal, error) {
	var k *keys
	if key != nil {
		var err error
		if k, err = deriveKeys(key); err != nil {
			return nil, fmt.Errorf("store: key: %w", err)
		}
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: journal %s does not exist", path)
	} else if err != nil {
		return nil, fmt.Errorf("store: journal: %w", err)
	}
	rep, structural, err := inspect(path, k, DefaultLockTimeout)
	if err != nil {
		return nil, err
	}
	if structural {
		return nil, rep.err()
	}
	var db *bolt.DB
	err = guard("open", func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: DefaultLockTimeout, ReadOnly: true})
		return err
	})
	if err != nil {
		if isLockTimeout(err) {
			return nil, lockedError(path, err)
		}
		return nil, fmt.Errorf("%w: open %s: %w", ErrUntrusted, path, err)
	}
	j := &Journal{path: path, keys: k, clock: clock.System{}, log: slog.New(slog.DiscardHandler),
		tid: rep.TID, mid: rep.MID, db: db}
	// Every write goes through update, which refuses while health is set.
	j.health = ErrReadOnly
	if !rep.OK {
		j.health = fmt.Errorf("%w (and %w)", ErrReadOnly, rep.err())
	}
	return j, nil
}

// WriteCSV writes records as CSV with the same columns and masking as
// Export (used when the records come through the agent's API).
func WriteCSV(w io.Writer, recs []txn.Record) error {
	enc := &csvExporter{w: csvWriter(w)}
	if err := enc.begin(); err != nil {
		return err
	}
	for i := range recs {
		e := ExportRecord{Record: recs[i], SealedPresent: recs[i].Sealed != nil}
		e.Sealed = nil
		if err := enc.record(&e); err != nil {
			return err
		}
	}
	return enc.end()
}
