package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	coresync "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/core/txn"
)

// Change is one entry of TransitionMany: a state transition (To), or one
// more counted attempt (Attempt). It is core/sync's type, so the journal
// serves the forwarder directly.
type Change = coresync.Change

var _ coresync.Journal = (*Journal)(nil)

// opGroup names TransitionMany's writes for errors, logs and failpoints.
const opGroup = "transition many"

// TransitionMany applies changes in one bbolt Update, so one fsync
// commits them all: the forwarder's group commit of acknowledgements.
//
// Each change is checked and applied as Transition (or, with Attempt set,
// NoteAttempt) would, in order, against the record as the earlier changes
// of the same call left it. A change that cannot be applied (an ID that
// names no record, an illegal move, an attempt on a final record, To set
// together with Attempt) is reported in errs[i], wrapping ErrNotFound,
// txn.ErrIllegalTransition or ErrInvalid, and the others are applied all
// the same. recs[i] is the record after change i (the zero Record when
// errs[i] is not nil).
//
// err is not nil only when the Update itself failed (the journal is
// degraded or closed, ctx was done before it began, the disk write
// failed); then nothing was applied and recs and errs are nil.
func (j *Journal) TransitionMany(ctx context.Context, changes []Change) (recs []txn.Record, errs []error, err error) {
	if len(changes) == 0 {
		return nil, nil, nil
	}
	now := j.now()
	err = j.update(ctx, opGroup, func(tx *bolt.Tx) error {
		recs = make([]txn.Record, len(changes))
		errs = make([]error, len(changes))
		if err := j.fail(opGroup, "begin"); err != nil {
			return err
		}
		for i, c := range changes {
			rec, cerr := applyChange(tx, c, now)
			if cerr != nil {
				errs[i] = fmt.Errorf("store: change %d (%s): %w", i, c.ID, cerr)
				continue
			}
			recs[i] = rec
			if err := j.fail(opGroup, "after-record"); err != nil {
				return err
			}
		}
		return j.fail(opGroup, "after-index")
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store: %s: %w", opGroup, err)
	}
	for i, c := range changes {
		if errs[i] == nil && !c.Attempt {
			j.log.Debug("transition", "id", c.ID, "to", c.To, "stan", recs[i].Identity.STAN,
				"rc", recs[i].Outcome.ResponseCode, "group", len(changes))
		}
	}
	return recs, errs, nil
}

// applyChange applies one change inside tx: the record, the outbox and
// the reversal queue, as Transition and NoteAttempt do. A returned error
// means nothing of this change was written.
func applyChange(tx *bolt.Tx, c Change, now time.Time) (txn.Record, error) {
	if c.Attempt && c.To != "" {
		return txn.Record{}, fmt.Errorf("%w: Change.To %q set with Change.Attempt", ErrInvalid, c.To)
	}
	if !c.Attempt && !c.To.Valid() {
		return txn.Record{}, fmt.Errorf("%w: Change.To %q is not a known state", ErrInvalid, c.To)
	}
	seq, err := seqOf(c.ID)
	if err != nil {
		return txn.Record{}, err
	}
	key := seqKey(seq)
	r, err := getRecord(tx, key)
	if err != nil {
		return txn.Record{}, err
	}
	if c.Attempt {
		err = noteAttempt(&r, c.Reason, now)
	} else {
		err = transition(&r, c.To, c.Outcome, c.Reason, now)
	}
	if err != nil {
		return txn.Record{}, err
	}
	val, err := encodeRecord(&r)
	if err != nil {
		return txn.Record{}, err
	}
	if err := tx.Bucket(bucketTxns).Put(key, val); err != nil {
		return txn.Record{}, fmt.Errorf("store: put record: %w", err)
	}
	if err := setIndexes(tx, key, r.ID, r.State); err != nil {
		return txn.Record{}, err
	}
	return r, nil
}

// transition is the change a state transition makes to a record, for
// Transition (write.go) and TransitionMany alike.
func transition(r *txn.Record, to txn.State, out txn.Outcome, reason string, now time.Time) error {
	if err := txn.CanTransition(r.State, to); err != nil {
		return err
	}
	r.History = append(r.History, txn.Change{At: now, From: r.State, To: to, Reason: cut(reason)})
	r.State = to
	r.Updated = now
	mergeOutcome(&r.Outcome, out)
	if to == txn.StoredOffline {
		r.Offline = true
	}
	if to.KeepsNoCardData() {
		r.Sealed = nil
	}
	return nil
}

// noteAttempt is the change one more counted attempt makes to a record,
// for NoteAttempt (write.go) and TransitionMany alike.
func noteAttempt(r *txn.Record, note string, now time.Time) error {
	if r.State.Final() {
		return fmt.Errorf("%w: %s is %s, a final state: no attempt to count", txn.ErrIllegalTransition, r.ID, r.State)
	}
	r.Attempts++
	r.Updated = now
	c := txn.Change{At: now, From: r.State, To: r.State, Reason: cut(fmt.Sprintf("%s%d: %s", attemptPrefix, r.Attempts, note))}
	last := &r.History[len(r.History)-1]
	if last.From == r.State && last.To == r.State && strings.HasPrefix(last.Reason, attemptPrefix) {
		*last = c
	} else {
		r.History = append(r.History, c)
	}
	return nil
}
