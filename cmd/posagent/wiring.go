package main

import (
	"context"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

// unavailableJournal stands in for a journal that could not be opened: the
// engine refuses payments with its reason (DESIGN.md invariant 8).
type unavailableJournal struct{ err error }

func (u unavailableJournal) Health() error { return u.err }
func (u unavailableJournal) Create(context.Context, payment.Draft, *txn.Sensitive) (txn.Record, error) {
	return txn.Record{}, u.err
}
func (u unavailableJournal) Transition(context.Context, txn.ID, txn.State, txn.Outcome, string) (txn.Record, error) {
	return txn.Record{}, u.err
}
func (u unavailableJournal) NoteAttempt(context.Context, txn.ID, string) (txn.Record, error) {
	return txn.Record{}, u.err
}
func (u unavailableJournal) Get(context.Context, txn.ID) (txn.Record, error) {
	return txn.Record{}, u.err
}
func (u unavailableJournal) Unseal(context.Context, txn.ID) (txn.Sensitive, error) {
	return txn.Sensitive{}, u.err
}
func (u unavailableJournal) PendingReversals(context.Context) ([]txn.Record, error) {
	return nil, u.err
}
func (u unavailableJournal) Pending(context.Context) ([]txn.Record, error) { return nil, u.err }
func (u unavailableJournal) QueuePrint(context.Context, ...receipt.Receipt) ([]payment.PrintJob, error) {
	return nil, u.err
}
func (u unavailableJournal) PrintQueue(context.Context) ([]payment.PrintJob, error) {
	return nil, u.err
}
func (u unavailableJournal) PrintDone(context.Context, uint64) error { return u.err }

// journalView adapts the store to what the local API reads.
type journalView struct{ j *store.Journal }

func (v journalView) Recent(ctx context.Context, limit int) ([]txn.Record, error) {
	return v.j.List(ctx, store.Filter{Limit: limit, Newest: true})
}
func (v journalView) Get(ctx context.Context, id txn.ID) (txn.Record, error) { return v.j.Get(ctx, id) }
func (v journalView) Stats(ctx context.Context) (any, error)                 { return v.j.Stats(ctx) }
func (v journalView) Verify(ctx context.Context) (any, error)                { return v.j.Check(ctx) }
