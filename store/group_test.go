package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/txn"
)

// countUpdates counts the bbolt Updates TransitionMany begins (one per
// fsync'd commit).
func countUpdates(j *Journal) *int {
	n := new(int)
	j.failpoint = func(op, step string) error {
		if op == opGroup && step == "begin" {
			*n++
		}
		return nil
	}
	return n
}

// storedOffline journals n records and moves them to stored_offline.
func storedOffline(t *testing.T, j *Journal, n int) []txn.Record {
	t.Helper()
	var out []txn.Record
	for i := range n {
		r := mustCreate(t, j, testPANs[i%len(testPANs)])
		out = append(out, mustTransition(t, j, r.ID, txn.StoredOffline))
	}
	return out
}

func TestTransitionManyOneCommit(t *testing.T) {
	j, _ := newJournal(t)
	recs := storedOffline(t, j, 6)
	approved := mustCreate(t, j, testPANs[0])
	mustTransition(t, j, approved.ID, txn.Approved)
	declined := mustCreate(t, j, testPANs[1])
	mustTransition(t, j, declined.ID, txn.Declined)
	updates := countUpdates(j)

	changes := []Change{
		{ID: recs[0].ID, To: txn.ForwardedApproved, Outcome: txn.Outcome{ResponseCode: "00", RRN: "000000000001"}, Reason: "forwarded"},
		{ID: recs[1].ID, To: txn.ForwardedDeclined, Outcome: txn.Outcome{ResponseCode: "51", Message: "insufficient funds"}, Reason: "declined"},
		{ID: recs[2].ID, Attempt: true, Reason: "no answer"},
		{ID: recs[3].ID, To: txn.Expired, Reason: "hard stop"},
		{ID: approved.ID, To: txn.ForwardedApproved},                         // illegal: approved -> forwarded_approved
		{ID: "00000000000000ff", To: txn.ForwardedApproved},                  // no such record
		{ID: recs[4].ID, To: txn.ForwardedApproved, Attempt: true},           // both
		{ID: recs[5].ID, To: "bogus"},                                        // unknown state
		{ID: declined.ID, Attempt: true},                                     // attempt on a final record
		{ID: recs[2].ID, To: txn.ForwardedApproved, Reason: "second change"}, // same record again, after its attempt
	}
	got, errs, err := j.TransitionMany(ctx, changes)
	if err != nil {
		t.Fatalf("TransitionMany: %v", err)
	}
	if *updates != 1 {
		t.Fatalf("%d Updates for %d changes, want 1", *updates, len(changes))
	}
	wantErr := map[int]error{4: txn.ErrIllegalTransition, 5: ErrNotFound, 6: ErrInvalid, 7: ErrInvalid, 8: txn.ErrIllegalTransition}
	for i := range changes {
		if we := wantErr[i]; we != nil {
			if !errors.Is(errs[i], we) || !strings.Contains(errs[i].Error(), fmt.Sprintf("change %d", i)) {
				t.Errorf("change %d: err %v, want %v naming the change", i, errs[i], we)
			}
			if got[i].ID != "" {
				t.Errorf("change %d failed but returned a record", i)
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("change %d: %v", i, errs[i])
		}
	}
	// What was returned is what was stored.
	for i, want := range map[int]txn.State{0: txn.ForwardedApproved, 1: txn.ForwardedDeclined, 3: txn.Expired, 9: txn.ForwardedApproved} {
		r, err := j.Get(ctx, changes[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != want || got[i].State != want {
			t.Errorf("change %d: stored %s, returned %s, want %s", i, r.State, got[i].State, want)
		}
	}
	if got[0].Sealed != nil || got[1].Sealed != nil {
		t.Error("sealed data kept after acknowledgement")
	}
	if got[3].Sealed == nil {
		t.Error("expired record lost its sealed data (it was never acknowledged)")
	}
	if got[2].Attempts != 1 || got[9].Attempts != 1 || got[9].State != txn.ForwardedApproved {
		t.Errorf("attempt then transition of one record: %+v / %+v", got[2], got[9])
	}
	if got[1].Outcome.ResponseCode != "51" || got[0].Outcome.RRN != "000000000001" {
		t.Errorf("outcomes not merged: %+v %+v", got[0].Outcome, got[1].Outcome)
	}
	// The outbox follows the states, in the same commit.
	out, err := j.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []txn.ID
	for _, r := range out {
		ids = append(ids, r.ID)
	}
	if want := []txn.ID{recs[4].ID, recs[5].ID}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("outbox %v, want %v", ids, want)
	}
	path := j.Path()
	j.Close()
	if rep, err := Verify(path, testKey); err != nil {
		t.Errorf("Verify: %v %+v", err, rep.Problems)
	}
}

// TestTransitionManyMatchesTransition: a group commit leaves every record
// exactly as the one-at-a-time calls would (transition.go and write.go
// must not drift apart).
func TestTransitionManyMatchesTransition(t *testing.T) {
	type step struct {
		seq int // record 1..4
		c   Change
	}
	steps := []step{
		{1, Change{To: txn.StoredOffline, Outcome: txn.Outcome{Message: "stored offline", AuthCode: "Y1"}, Reason: "link down"}},
		{2, Change{To: txn.StoredOffline, Reason: "link down"}},
		{3, Change{To: txn.ReversalPending, Reason: "no answer"}},
		{4, Change{To: txn.Approved, Outcome: txn.Outcome{ResponseCode: "00"}}},
		{1, Change{Attempt: true, Reason: "timeout"}},
		{1, Change{Attempt: true, Reason: "timeout again"}}, // collapses into the previous note
		{2, Change{To: txn.ForwardedDeclined, Outcome: txn.Outcome{ResponseCode: "05", Message: "do not honour"}, Reason: "declined"}},
		{3, Change{Attempt: true, Reason: "refused"}},
		{3, Change{To: txn.Reversed, Outcome: txn.Outcome{ResponseCode: "00"}, Reason: strings.Repeat("x", 400)}}, // cut
		{1, Change{To: txn.ForwardedApproved, Outcome: txn.Outcome{ResponseCode: "00", RRN: "123456789012"}}},
		{4, Change{To: txn.ReversalPending, Reason: "receipt failed"}},
	}
	one, clk1 := newJournal(t)
	many, clk2 := newJournal(t)
	for range 4 {
		mustCreate(t, one, testPANs[0])
		mustCreate(t, many, testPANs[0])
	}
	clk1.Advance(time.Minute)
	clk2.Advance(time.Minute)
	var changes []Change
	for _, s := range steps {
		c := s.c
		c.ID = idOf(uint64(s.seq))
		changes = append(changes, c)
		var err error
		if c.Attempt {
			_, err = one.NoteAttempt(ctx, c.ID, c.Reason)
		} else {
			_, err = one.Transition(ctx, c.ID, c.To, c.Outcome, c.Reason)
		}
		if err != nil {
			t.Fatalf("one at a time: %v", err)
		}
	}
	_, errs, err := many.TransitionMany(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("change %d: %v", i, e)
		}
	}
	for seq := uint64(1); seq <= 4; seq++ {
		a, _ := one.Get(ctx, idOf(seq))
		b, _ := many.Get(ctx, idOf(seq))
		a.Sealed, b.Sealed = nonNil(a.Sealed), nonNil(b.Sealed) // sealing is randomised; presence must match
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("record %d differs:\none  %s\nmany %s", seq, ja, jb)
		}
	}
	for _, q := range []func(*Journal) ([]txn.Record, error){
		func(j *Journal) ([]txn.Record, error) { return j.Outbox(ctx) },
		func(j *Journal) ([]txn.Record, error) { return j.PendingReversals(ctx) },
	} {
		a, _ := q(one)
		b, _ := q(many)
		if len(a) != len(b) {
			t.Errorf("queues differ: %d vs %d", len(a), len(b))
		}
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return []byte{1}
}

// TestTransitionManyAllOrNothing: a failure inside the Update (error or
// panic, at each step) applies none of the changes.
func TestTransitionManyAllOrNothing(t *testing.T) {
	for _, step := range []string{"begin", "after-record", "after-index"} {
		for _, panicking := range []bool{false, true} {
			j, _ := newJournal(t)
			recs := storedOffline(t, j, 3)
			before := dump(t, j)
			j.failpoint = func(op, s string) error {
				if op == opGroup && s == step {
					if panicking {
						panic("injected panic")
					}
					return errInjected
				}
				return nil
			}
			got, errs, err := j.TransitionMany(ctx, []Change{
				{ID: recs[0].ID, To: txn.ForwardedApproved},
				{ID: recs[1].ID, Attempt: true, Reason: "x"},
				{ID: recs[2].ID, To: txn.ForwardedDeclined},
			})
			name := fmt.Sprintf("%s panic=%v", step, panicking)
			if err == nil || got != nil || errs != nil {
				t.Errorf("%s: err %v, recs %v, errs %v; want an error and nothing else", name, err, got, errs)
			}
			if !panicking && !errors.Is(err, errInjected) {
				t.Errorf("%s: %v does not wrap the injected error", name, err)
			}
			if panicking && !errors.Is(j.Health(), ErrUntrusted) {
				t.Errorf("%s: a panic inside the write did not degrade the journal", name)
			}
			if diff := diffDumps(before, dump(t, j)); diff != "" {
				t.Errorf("%s: partial write visible: %s", name, diff)
			}
		}
	}
}

func TestTransitionManyRefused(t *testing.T) {
	j, _ := newJournal(t)
	recs := storedOffline(t, j, 1)
	if recs, errs, err := j.TransitionMany(ctx, nil); recs != nil || errs != nil || err != nil {
		t.Errorf("empty call: %v %v %v", recs, errs, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := j.TransitionMany(cctx, []Change{{ID: recs[0].ID, To: txn.Expired}}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ctx: %v", err)
	}
	j.Close()
	if _, _, err := j.TransitionMany(ctx, []Change{{ID: recs[0].ID, To: txn.Expired}}); !errors.Is(err, ErrClosed) {
		t.Errorf("closed: %v", err)
	}
}

// BenchmarkAckOneByOne and BenchmarkAckGrouped compare acknowledging 8
// forwarded sales with 8 Transitions (8 fsyncs) and with one
// TransitionMany (1 fsync).
func BenchmarkAckOneByOne(b *testing.B) { benchAck(b, false) }
func BenchmarkAckGrouped(b *testing.B)  { benchAck(b, true) }

func benchAck(b *testing.B, grouped bool) {
	const group = 8
	j, _ := newJournal(b)
	for b.Loop() {
		b.StopTimer()
		var changes []Change
		for range group {
			r := mustCreate(b, j, testPANs[0])
			mustTransition(b, j, r.ID, txn.StoredOffline)
			changes = append(changes, Change{ID: r.ID, To: txn.ForwardedApproved, Outcome: txn.Outcome{ResponseCode: "00"}})
		}
		b.StartTimer()
		if grouped {
			if _, _, err := j.TransitionMany(ctx, changes); err != nil {
				b.Fatal(err)
			}
			continue
		}
		for _, c := range changes {
			if _, err := j.Transition(ctx, c.ID, c.To, c.Outcome, c.Reason); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*group), "µs/ack")
}
