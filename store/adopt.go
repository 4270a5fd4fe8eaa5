package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// AdoptBatch makes n the open batch, as the dialect asks when the host's
// sign-in answer names its batch (0810 field 60.2): the current batch is
// closed and n is opened (or reopened). Transactions keep the identity
// they were journaled with. Adopting the current batch is a no-op.
func (j *Journal) AdoptBatch(ctx context.Context, n uint32) error {
	if n < 1 || n > MaxCounter {
		return fmt.Errorf("%w: batch number %d, want 1-%d", ErrInvalid, n, MaxCounter)
	}
	now := j.now()
	changed := false
	err := j.update(ctx, "adopt batch", func(tx *bolt.Tx) error {
		meta, bb := tx.Bucket(bucketMeta), tx.Bucket(bucketBatches)
		c, err := readCounters(meta)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		if c.Batch == n {
			return nil
		}
		cur := BatchInfo{Number: c.Batch, Opened: now}
		if v := bb.Get(batchKey(c.Batch)); v != nil {
			if cur, err = decodeBatch(batchKey(c.Batch), v); err != nil {
				return fmt.Errorf("%w: batches/%06d: %w", ErrUntrusted, c.Batch, err)
			}
		}
		cur.Closed = &now
		next := BatchInfo{Number: n, Opened: now}
		if v := bb.Get(batchKey(n)); v != nil {
			if next, err = decodeBatch(batchKey(n), v); err != nil {
				return fmt.Errorf("%w: batches/%06d: %w", ErrUntrusted, n, err)
			}
			next.Closed = nil
		}
		for _, b := range []BatchInfo{cur, next} {
			val, err := encodeJSON(b)
			if err != nil {
				return err
			}
			if err := bb.Put(batchKey(b.Number), val); err != nil {
				return fmt.Errorf("store: put batch: %w", err)
			}
		}
		c.Batch = n
		changed = true
		return writeCounters(meta, c)
	})
	if err != nil {
		return fmt.Errorf("store: adopt batch %06d: %w", n, err)
	}
	if changed {
		j.log.Info("adopted the host's batch number", "batch", n)
	}
	return nil
}
