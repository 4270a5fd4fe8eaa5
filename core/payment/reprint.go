package payment

import (
	"context"
	"errors"
	"fmt"

	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

// ErrNoReceipt is returned by Reprint for a transaction that has no
// receipt to print again (still pending, aborted, or undone by a
// reversal: no sale took place).
var ErrNoReceipt = errors.New("no receipt for this transaction")

// Reprintable reports whether a transaction in state s has a receipt that
// may be printed again: a sale that was decided (approved, declined,
// stored offline, forwarded, expired).
func Reprintable(s txn.State) bool {
	switch s {
	case txn.Approved, txn.Declined, txn.StoredOffline, txn.ForwardedApproved, txn.ForwardedDeclined, txn.Expired:
		return true
	}
	return false
}

// Reprint queues copy c of rec's receipt again, marked as a reprint and
// laid out from the record as it is now (a stored sale since forwarded
// prints as approved), and asks Run to print it. It returns when the job
// is durably queued; paper out or a printer fault leaves it queued.
func (e *Engine) Reprint(ctx context.Context, rec txn.Record, c receipt.Copy) (PrintJob, error) {
	if !Reprintable(rec.State) {
		return PrintJob{}, fmt.Errorf("%w: %s is %s", ErrNoReceipt, rec.ID, rec.State)
	}
	if c != receipt.MerchantCopy && c != receipt.CustomerCopy {
		return PrintJob{}, fmt.Errorf("payment: reprint: copy %q (want %q or %q)", c, receipt.MerchantCopy, receipt.CustomerCopy)
	}
	r := receipt.Build(e.cfg.Merchant, rec, c, e.cfg.Location).AsReprint()
	jobs, err := e.j.QueuePrint(ctx, r)
	if err != nil {
		return PrintJob{}, fmt.Errorf("payment: reprint of %s: %w", rec.ID, err)
	}
	e.log.Info("receipt reprint queued", "txn", rec.ID, "copy", c, "job", jobs[0].Seq)
	e.Kick()
	return jobs[0], nil
}
