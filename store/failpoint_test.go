package store

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

var errInjected = errors.New("injected failure")

// failSetup is a journal with record 1 pending and record 2 in the
// reversal queue.
func failSetup(t *testing.T) *Journal {
	t.Helper()
	j, _ := newJournal(t)
	mustCreate(t, j, testPANs[0])
	r := mustCreate(t, j, testPANs[1])
	mustTransition(t, j, r.ID, txn.ReversalPending)
	return j
}

// TestFailureAtEachCommitStep aborts every write at each of its steps
// inside the bbolt Update (before the counters advance, after they did,
// after the record put, after the index update), by an error and by a
// panic, and shows that nothing partial is visible afterwards: the
// journal's every key and value is as before, the file verifies, and after
// an error the retried write gets exactly the identity it would have got.
func TestFailureAtEachCommitStep(t *testing.T) {
	ops := []struct {
		op string
		fn func(j *Journal) error
	}{
		{"create", func(j *Journal) error { _, err := j.Create(ctx, draft(), sensitive(testPANs[2])); return err }},
		{"transition", func(j *Journal) error {
			_, err := j.Transition(ctx, idOf(1), txn.StoredOffline, txn.Outcome{Message: "offline"}, "link down")
			return err
		}},
		{"transition", func(j *Journal) error {
			_, err := j.Transition(ctx, idOf(2), txn.Reversed, txn.Outcome{ResponseCode: "00"}, "reversed")
			return err
		}},
		{"note attempt", func(j *Journal) error { _, err := j.NoteAttempt(ctx, idOf(2), "timeout"); return err }},
		{"queue print", func(j *Journal) error { _, err := j.QueuePrint(ctx, receipt.Receipt{TxnID: idOf(1)}); return err }},
	}
	for _, o := range ops {
		// Which steps does this write pass through, and what does an
		// uninterrupted run leave?
		j := failSetup(t)
		var steps []string
		j.failpoint = func(op, step string) error {
			if op == o.op {
				steps = append(steps, step)
			}
			return nil
		}
		if err := o.fn(j); err != nil {
			t.Fatalf("%s: %v", o.op, err)
		}
		want := dump(t, j)
		wantCounters, _ := j.Counters(ctx)
		if len(steps) < 2 {
			t.Fatalf("%s passed only steps %v", o.op, steps)
		}
		if o.op == "create" && !slices.Equal(steps, []string{"begin", "after-counters", "after-record", "after-index"}) {
			t.Fatalf("create steps = %v", steps)
		}

		for _, step := range steps {
			for _, panicking := range []bool{false, true} {
				j := failSetup(t)
				before := dump(t, j)
				j.failpoint = func(op, s string) error {
					if op == o.op && s == step {
						if panicking {
							panic("injected panic")
						}
						return errInjected
					}
					return nil
				}
				err := o.fn(j)
				name := o.op + " at " + step
				if panicking {
					name += " (panic)"
					if !errors.Is(err, ErrUntrusted) || !errors.Is(j.Health(), ErrUntrusted) {
						t.Errorf("%s: err %v, health %v; want both ErrUntrusted", name, err, j.Health())
					}
				} else if !errors.Is(err, errInjected) {
					t.Errorf("%s: err = %v, want the injected error", name, err)
				}
				if diff := diffDumps(before, dump(t, j)); diff != "" {
					t.Errorf("%s: partial write visible: %s", name, diff)
				}
				if !panicking {
					j.failpoint = nil
					if err := o.fn(j); err != nil {
						t.Fatalf("%s: retry: %v", name, err)
					}
					got := dump(t, j)
					if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
						t.Errorf("%s: retry left other keys than an uninterrupted run: %s", name, diffDumps(want, got))
					}
					if c, _ := j.Counters(ctx); c != wantCounters {
						t.Errorf("%s: retry counters %+v, want %+v (a failed commit consumed a number)", name, c, wantCounters)
					}
				}
				path := j.Path()
				j.Close()
				if rep, err := Verify(path, testKey); err != nil {
					t.Errorf("%s: Verify: %v %+v", name, err, rep.Problems)
				}
			}
		}
	}
}
