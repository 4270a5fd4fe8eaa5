package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// Get returns one record (payment.Journal); an unknown ID is an error
// wrapping ErrNotFound.
func (j *Journal) Get(ctx context.Context, id txn.ID) (txn.Record, error) {
	seq, err := seqOf(id)
	if err != nil {
		return txn.Record{}, fmt.Errorf("store: get: %w", err)
	}
	var rec txn.Record
	err = j.view(ctx, func(tx *bolt.Tx) error {
		rec, err = getRecord(tx, seqKey(seq))
		return err
	})
	if err != nil {
		return txn.Record{}, fmt.Errorf("store: get: %w", err)
	}
	return rec, nil
}

// Unseal returns the sensitive data of a record that still has it
// (payment.Journal). A record without sealed data (none given, or wiped on
// acknowledgement) is an error wrapping ErrNoSealedData; a blob that does
// not open with the device key, one wrapping ErrUntrusted.
func (j *Journal) Unseal(ctx context.Context, id txn.ID) (txn.Sensitive, error) {
	rec, err := j.Get(ctx, id)
	if err != nil {
		return txn.Sensitive{}, fmt.Errorf("store: unseal: %w", err)
	}
	if rec.Sealed == nil {
		return txn.Sensitive{}, fmt.Errorf("store: unseal %s (state %s): %w", id, rec.State, ErrNoSealedData)
	}
	plain, err := j.keys.open(rec.ID, rec.Sealed)
	if err != nil {
		return txn.Sensitive{}, fmt.Errorf("store: unseal: %w", err)
	}
	defer clear(plain)
	var s txn.Sensitive
	if err := decodeStrict(plain, &s); err != nil {
		return txn.Sensitive{}, fmt.Errorf("%w: unseal %s: sealed data is not sensitive-data JSON: %w", ErrUntrusted, id, err)
	}
	return s, nil
}

// PANHash returns the keyed hash the journal stores for pan, to find the
// records of one card without storing its number.
func (j *Journal) PANHash(pan string) string { return j.keys.panHash(pan) }

// Filter selects records for List.
type Filter struct {
	State  txn.State // only this state; "" = every state
	Batch  uint32    // only this batch number; 0 = every batch
	Limit  int       // at most this many; 0 = no limit
	Newest bool      // newest first (default: journal order, oldest first)
}

// List returns the records f selects.
func (j *Journal) List(ctx context.Context, f Filter) ([]txn.Record, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, fmt.Errorf("%w: Filter.State %q is not a known state", ErrInvalid, f.State)
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("%w: Filter.Limit %d is negative", ErrInvalid, f.Limit)
	}
	var out []txn.Record
	err := j.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTxns).Cursor()
		first, next := c.First, c.Next
		if f.Newest {
			first, next = c.Last, c.Prev
		}
		for k, v := first(); k != nil; k, v = next() {
			r, err := decodeRecord(k, v)
			if err != nil {
				return fmt.Errorf("%w: txns/%x: %w", ErrUntrusted, k, err)
			}
			if (f.State != "" && r.State != f.State) || (f.Batch != 0 && r.Identity.Batch != f.Batch) {
				continue
			}
			out = append(out, r)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	return out, nil
}

// indexed returns the records an index bucket points at, in journal order.
func (j *Journal) indexed(ctx context.Context, bucket []byte) ([]txn.Record, error) {
	var out []txn.Record
	err := j.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
			r, err := getRecord(tx, k)
			if err != nil {
				return fmt.Errorf("%s/%x: %w", bucket, k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", bucket, err)
	}
	return out, nil
}

// Outbox returns the stored-offline records waiting to be forwarded, in
// journal order.
func (j *Journal) Outbox(ctx context.Context) ([]txn.Record, error) {
	return j.indexed(ctx, bucketOutbox)
}

// PendingReversals returns the reversal queue in journal order
// (payment.Journal).
func (j *Journal) PendingReversals(ctx context.Context) ([]txn.Record, error) {
	return j.indexed(ctx, bucketReversals)
}

// PrintQueue returns the waiting print jobs in order (payment.Journal).
func (j *Journal) PrintQueue(ctx context.Context) ([]payment.PrintJob, error) {
	var out []payment.PrintJob
	err := j.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPrintQ).ForEach(func(k, v []byte) error {
			job, err := decodePrintJob(k, v)
			if err != nil {
				return fmt.Errorf("%w: printq/%x: %w", ErrUntrusted, k, err)
			}
			out = append(out, job)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: print queue: %w", err)
	}
	return out, nil
}

// Counters are the journal's identity counters.
type Counters struct {
	STAN          uint32 `json:"stan"`     // last STAN issued (000001-999999), 0 = none yet
	Batch         uint32 `json:"batch"`    // current, open batch number (000001-999999)
	Invoice       uint32 `json:"invoice"`  // last invoice number issued, 0 = none yet
	NextSeq       uint64 `json:"next_seq"` // sequence of the next record
	SchemaVersion uint64 `json:"schema_version"`
	TID           string `json:"tid"`
	MID           string `json:"mid"`
}

func readPublicCounters(tx *bolt.Tx) (Counters, error) {
	meta := tx.Bucket(bucketMeta)
	c, err := readCounters(meta)
	if err != nil {
		return Counters{}, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	schema, err := getU64(meta, metaSchema)
	if err != nil {
		return Counters{}, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	return Counters{STAN: c.STAN, Batch: c.Batch, Invoice: c.Invoice, NextSeq: c.NextSeq,
		SchemaVersion: schema, TID: string(meta.Get(metaTID)), MID: string(meta.Get(metaMID))}, nil
}

// Counters returns the counters.
func (j *Journal) Counters(ctx context.Context) (Counters, error) {
	var c Counters
	err := j.view(ctx, func(tx *bolt.Tx) (err error) {
		c, err = readPublicCounters(tx)
		return err
	})
	if err != nil {
		return Counters{}, fmt.Errorf("store: counters: %w", err)
	}
	return c, nil
}

// Stats summarises the journal.
type Stats struct {
	Records      int                      `json:"records"`
	States       map[txn.State]int        `json:"states"`
	Outbox       int                      `json:"outbox"`        // stored-offline records waiting
	OutboxAmount map[money.Currency]int64 `json:"outbox_amount"` // their total, minor units per currency
	OutboxOldest time.Time                `json:"outbox_oldest"` // Created of the oldest one; zero when empty
	Reversals    int                      `json:"reversals"`     // pending reversals
	PrintQueue   int                      `json:"print_queue"`
	Counters     Counters                 `json:"counters"`
}

// Stats counts records per state (a scan of every record: O(records)),
// sums the outbox (only the outbox's records are read for that) and reads
// the queues and counters, in one read transaction.
func (j *Journal) Stats(ctx context.Context) (Stats, error) {
	st := Stats{States: map[txn.State]int{}, OutboxAmount: map[money.Currency]int64{}}
	err := j.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if st.Counters, err = readPublicCounters(tx); err != nil {
			return err
		}
		var only struct {
			State txn.State `json:"state"`
		}
		if err := tx.Bucket(bucketTxns).ForEach(func(k, v []byte) error {
			only.State = ""
			if err := json.Unmarshal(v, &only); err != nil {
				return fmt.Errorf("%w: txns/%x: %w", ErrUntrusted, k, err)
			}
			st.Records++
			st.States[only.State]++
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketOutbox).ForEach(func(k, _ []byte) error {
			r, err := getRecord(tx, k)
			if err != nil {
				return err
			}
			st.Outbox++
			sum := st.OutboxAmount[r.Amount.Currency] + r.Amount.Minor
			if sum < 0 {
				return fmt.Errorf("%w: outbox total of currency %d overflows", ErrUntrusted, r.Amount.Currency)
			}
			st.OutboxAmount[r.Amount.Currency] = sum
			if st.OutboxOldest.IsZero() || r.Created.Before(st.OutboxOldest) {
				st.OutboxOldest = r.Created
			}
			return nil
		}); err != nil {
			return err
		}
		st.Reversals = tx.Bucket(bucketReversals).Stats().KeyN
		st.PrintQueue = tx.Bucket(bucketPrintQ).Stats().KeyN
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// Batches returns every batch, in batch-number order.
func (j *Journal) Batches(ctx context.Context) ([]BatchInfo, error) {
	var out []BatchInfo
	err := j.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBatches).ForEach(func(k, v []byte) error {
			b, err := decodeBatch(k, v)
			if err != nil {
				return fmt.Errorf("%w: batches/%x: %w", ErrUntrusted, k, err)
			}
			out = append(out, b)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: batches: %w", err)
	}
	return out, nil
}

// Check runs Verify's journal checks (not bbolt's page check) on the open
// journal, in one read transaction, with the journal's key. Problems found
// degrade the journal (Health reports them).
func (j *Journal) Check(ctx context.Context) (Report, error) {
	rep := Report{Path: j.path, Counts: Counts{States: map[txn.State]int{}}, KeyChecked: true}
	err := j.view(ctx, func(tx *bolt.Tx) error {
		rep.FileBytes = tx.Size()
		checkJournal(tx, j.keys, &rep)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("store: check: %w", err)
	}
	rep.OK = len(rep.Problems) == 0 && rep.Unlisted == 0
	if err := rep.err(); err != nil {
		j.degrade(err)
		return rep, err
	}
	return rep, nil
}

// Pending returns every record still in state pending, in journal order
// (payment.Journal). It scans the records (there is no pending index): it
// is meant for recovery at start, not for every sale.
func (j *Journal) Pending(ctx context.Context) ([]txn.Record, error) {
	return j.List(ctx, Filter{State: txn.Pending})
}
