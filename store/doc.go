// Package store is the terminal's crash-safe transaction journal: one
// bbolt file holding every transaction record, the counters that give each
// outbound message its identity (STAN, batch, invoice), the outbox of
// stored-offline sales, the reversal queue and the durable print queue.
//
// It implements payment.Journal. Every change is a single bbolt Update,
// fsync'd before the call returns (DESIGN.md invariant 1); counters advance
// in the same Update as the record that uses them (invariant 3); the outbox
// and reversal queue follow the record's state in the same Update
// (invariants 2 and 4).
//
// Card data never reaches the file in clear (invariant 5): the Sensitive
// part of a transaction is sealed with AES-256-GCM under a key derived from
// the device key, bound to the record ID as additional data, and wiped when
// the acquirer acknowledges the transaction. The PAN is stored only sealed,
// masked (first 6 / last 4) and as a keyed HMAC-SHA-256 hash.
//
// A journal that cannot be trusted is never replaced (invariant 8): Open
// refuses a corrupt file with an error wrapping ErrUntrusted and leaves its
// bytes alone; a file that bbolt can read but whose journal invariants are
// broken opens in a read-only, degraded mode in which Health reports the
// problem and every write is refused. Verify checks a file read-only, for
// `posagent journal verify`.
//
// Layout, sealing and the crash test are described in docs/journal.md.
package store

import "errors"

// Sentinel errors. Every error the package returns for these conditions
// wraps one of them, so errors.Is works.
var (
	// ErrLocked means another process (or another Journal in this process)
	// holds the journal file's lock. The message names the file and, when
	// the kernel says, the holder's pid.
	ErrLocked = errors.New("store: journal is locked")
	// ErrUntrusted means the journal failed to open or verify: the file is
	// corrupt or truncated, its schema is unknown, a journal invariant is
	// broken, or the device key does not match. Payments must stop; the
	// file is kept for recovery.
	ErrUntrusted = errors.New("store: journal cannot be trusted")
	// ErrNotFound means no record (or print job) has the given ID.
	ErrNotFound = errors.New("store: not found")
	// ErrNoSealedData means the record holds no sealed data: it had none,
	// or it was wiped when the acquirer acknowledged the transaction.
	ErrNoSealedData = errors.New("store: no sealed data")
	// ErrClosed means the Journal was closed.
	ErrClosed = errors.New("store: journal closed")
	// ErrIdentity means the terminal or merchant ID given to Open differs
	// from the one the journal was created with.
	ErrIdentity = errors.New("store: terminal identity mismatch")
	// ErrInvalid means an argument is malformed (the message names the
	// field and the limit).
	ErrInvalid = errors.New("store: invalid argument")
)
