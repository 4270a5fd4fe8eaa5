package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

var _ payment.OutboxStats = (*Journal)(nil)

// OfflineTotals implements payment.OutboxStats: the transactions in state
// StoredOffline, read through the outbox index in one read transaction.
func (j *Journal) OfflineTotals(ctx context.Context) (payment.OutboxTotals, error) {
	out := payment.OutboxTotals{Amount: map[money.Currency]int64{}}
	err := j.view(ctx, func(tx *bolt.Tx) error {
		txns := tx.Bucket(bucketTxns)
		return tx.Bucket(bucketOutbox).ForEach(func(k, _ []byte) error {
			v := txns.Get(k)
			if v == nil {
				return fmt.Errorf("%w: outbox/%x points at no record", ErrUntrusted, k)
			}
			r, err := decodeRecord(k, v)
			if err != nil {
				return fmt.Errorf("%w: txns/%x: %w", ErrUntrusted, k, err)
			}
			if r.State != txn.StoredOffline {
				return nil
			}
			out.Count++
			out.Amount[r.Amount.Currency] += r.Amount.Minor
			if out.Oldest.IsZero() || r.Created.Before(out.Oldest) {
				out.Oldest = r.Created.UTC()
			}
			return nil
		})
	})
	if err != nil {
		return payment.OutboxTotals{}, fmt.Errorf("store: offline totals: %w", err)
	}
	return out, nil
}

// SalesTotal implements payment.OutboxStats: the sum of sales in currency
// c created in [from, to) that took money or are about to (approved,
// stored offline, forwarded and approved). It scans the records newest
// first and stops at the first one created before from (records are in
// creation order).
func (j *Journal) SalesTotal(ctx context.Context, c money.Currency, from, to time.Time) (int64, error) {
	var sum int64
	err := j.view(ctx, func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketTxns).Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			r, err := decodeRecord(k, v)
			if err != nil {
				return fmt.Errorf("%w: txns/%x: %w", ErrUntrusted, k, err)
			}
			if r.Created.Before(from) {
				// Key order is creation order. (After a wall-clock step
				// back a record may sort after an older-stamped one; the
				// scan then stops early and the total can only come out
				// smaller, never larger.)
				break
			}
			if !r.Created.Before(to) || r.Type != txn.Sale || r.Amount.Currency != c {
				continue
			}
			switch r.State {
			case txn.Approved, txn.StoredOffline, txn.ForwardedApproved:
				sum += r.Amount.Minor
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: sales total: %w", err)
	}
	return sum, nil
}
