package store

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

var ctx = context.Background()

func TestCreateAssignsIdentityInOrder(t *testing.T) {
	j, clk := newJournal(t)
	for i := 1; i <= 3; i++ {
		clk.Advance(time.Minute)
		r := mustCreate(t, j, testPANs[0])
		if want := txn.ID(fmt.Sprintf("%016x", i)); r.ID != want {
			t.Errorf("ID = %q, want %q", r.ID, want)
		}
		want := txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: uint32(i), Invoice: uint32(i)}
		if r.Identity != want {
			t.Errorf("Identity = %+v, want %+v", r.Identity, want)
		}
		if r.State != txn.Pending || len(r.History) != 1 || r.History[0].To != txn.Pending || r.History[0].From != "" {
			t.Errorf("state %s history %+v, want pending with one change", r.State, r.History)
		}
		now := t0.Add(time.Duration(i) * time.Minute)
		if !r.Created.Equal(now) || !r.Updated.Equal(now) || r.Created.Location() != time.UTC {
			t.Errorf("Created/Updated = %v/%v, want %v UTC", r.Created, r.Updated, now)
		}
		got, err := j.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("Get = %+v\nwant %+v", got, r)
		}
	}
	c, err := j.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{STAN: 3, Batch: 1, Invoice: 3, NextSeq: 4, SchemaVersion: 1, TID: testTID, MID: testMID}
	if c != want {
		t.Errorf("Counters = %+v, want %+v", c, want)
	}
}

func TestCreateSealsAndHashes(t *testing.T) {
	j, _ := newJournal(t)
	pan := testPANs[0]
	r := mustCreate(t, j, pan)
	if r.MaskedPAN != "621234******1232" {
		t.Errorf("MaskedPAN = %q", r.MaskedPAN)
	}
	// PAN hash: HMAC-SHA-256 under the HKDF key with the documented label.
	hk, err := hkdf.Key(sha256.New, testKey, nil, "posagent/store/v1 PAN HMAC-SHA-256", 32)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, hk)
	m.Write([]byte(pan))
	if want := hex.EncodeToString(m.Sum(nil)); r.PANHash != want || j.PANHash(pan) != want {
		t.Errorf("PANHash = %q, want %q", r.PANHash, want)
	}
	// Sealed: nonce(12) || AES-256-GCM ciphertext, additional data = ID.
	sk, err := hkdf.Key(sha256.New, testKey, nil, "posagent/store/v1 seal AES-256-GCM", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(sk)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, r.Sealed[:12], r.Sealed[12:], []byte(r.ID))
	if err != nil {
		t.Fatalf("sealed blob does not open as nonce||GCM(AD=id): %v", err)
	}
	var s txn.Sensitive
	if err := json.Unmarshal(plain, &s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&s, sensitive(pan)) {
		t.Errorf("sealed = %+v", s)
	}
	if _, err := gcm.Open(nil, r.Sealed[:12], r.Sealed[12:], []byte("0000000000000002")); err == nil {
		t.Error("sealed blob opens with another record's ID as additional data")
	}
	got, err := j.Unseal(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, sensitive(pan)) {
		t.Errorf("Unseal = %+v", got)
	}
	// Same PAN, new record: new nonce, different blob, same hash.
	r2 := mustCreate(t, j, pan)
	if bytes.Equal(r2.Sealed[:12], r.Sealed[:12]) || r2.PANHash != r.PANHash {
		t.Error("second seal reused the nonce, or the PAN hash differs")
	}
}

func TestSealedBlobMovedToAnotherRecordFails(t *testing.T) {
	j, _ := newJournal(t)
	r1 := mustCreate(t, j, testPANs[0])
	r2 := mustCreate(t, j, testPANs[1])
	path := j.Path()
	j.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTxns)
		r1.Sealed = r2.Sealed
		v, _ := json.Marshal(r1)
		return b.Put(seqKey(1), v)
	})
	rep, err := Verify(path, testKey)
	if !errors.Is(err, ErrUntrusted) || !hasProblem(rep, "txns/0000000000000001", "sealed data") {
		t.Fatalf("Verify = %v, %+v; want a sealed-data problem on record 1", err, rep.Problems)
	}
	j2, err := Open(testOptions(t, path))
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if _, err := j2.Unseal(ctx, r1.ID); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Unseal of moved blob: %v, want ErrUntrusted", err)
	}
	if err := j2.Health(); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Health = %v, want ErrUntrusted", err)
	}
}

func hasProblem(rep Report, where, what string) bool {
	for _, p := range rep.Problems {
		if strings.HasPrefix(p.Where, where) && strings.Contains(p.What, what) {
			return true
		}
	}
	return false
}

func TestCreateWithoutSensitiveData(t *testing.T) {
	j, _ := newJournal(t)
	for _, s := range []*txn.Sensitive{nil, {}} {
		d := draft()
		d.Entry = txn.QR
		r, err := j.Create(ctx, d, s)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sealed != nil || r.PANHash != "" || r.MaskedPAN != "" {
			t.Errorf("record %+v has sealed data, hash or masked PAN", r)
		}
		if _, err := j.Unseal(ctx, r.ID); !errors.Is(err, ErrNoSealedData) {
			t.Errorf("Unseal = %v, want ErrNoSealedData", err)
		}
	}
	// Reader-encrypted data: sealed, but no PAN, so no hash.
	d := draft()
	d.MaskedPAN = "621234******1232"
	s := &txn.Sensitive{Reader: &txn.ReaderEncrypted{KSN: []byte{1, 2, 3}, Format: "test", Ciphertext: []byte{9, 9}}}
	r, err := j.Create(ctx, d, s)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sealed == nil || r.PANHash != "" || r.MaskedPAN != d.MaskedPAN {
		t.Errorf("reader-encrypted record: sealed %d bytes, hash %q, masked %q", len(r.Sealed), r.PANHash, r.MaskedPAN)
	}
	got, err := j.Unseal(ctx, r.ID)
	if err != nil || !reflect.DeepEqual(got.Reader, s.Reader) {
		t.Errorf("Unseal = %+v, %v", got, err)
	}
}

func TestCreateRejectsBadDraft(t *testing.T) {
	j, _ := newJournal(t)
	before := dump(t, j)
	for _, tc := range []struct {
		name  string
		edit  func(d *payment.Draft)
		field string
	}{
		{"type", func(d *payment.Draft) { d.Type = "purchase" }, "Draft.Type"},
		{"entry", func(d *payment.Draft) { d.Entry = "swipe" }, "Draft.Entry"},
		{"currency", func(d *payment.Draft) { d.Amount.Currency = 999 }, "Draft.Amount.Currency"},
		{"negative", func(d *payment.Draft) { d.Amount.Minor = -1 }, "Draft.Amount.Minor"},
		{"too large", func(d *payment.Draft) { d.Amount.Minor = MaxAmount + 1 }, "Draft.Amount.Minor"},
		{"full PAN as masked", func(d *payment.Draft) { d.MaskedPAN = testPANs[0] }, "Draft.MaskedPAN"},
		{"scheme", func(d *payment.Draft) { d.Scheme = strings.Repeat("x", 65) }, "Draft.Scheme"},
	} {
		d := draft()
		tc.edit(&d)
		_, err := j.Create(ctx, d, sensitive(testPANs[0]))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want ErrInvalid naming %s", tc.name, err, tc.field)
		}
		if strings.Contains(fmt.Sprint(err), testPANs[0]) {
			t.Errorf("%s: error shows the PAN", tc.name)
		}
	}
	// A PAN smuggled into another field is caught before it is written.
	d := draft()
	d.Scheme = "UnionPay " + testPANs[0]
	if _, err := j.Create(ctx, d, sensitive(testPANs[0])); !errors.Is(err, ErrInvalid) {
		t.Errorf("PAN in Scheme: err = %v, want ErrInvalid", err)
	}
	if diff := diffDumps(before, dump(t, j)); diff != "" {
		t.Errorf("refused Creates changed the journal: %s", diff)
	}
}

// TestTransitionsFollowTheTable tries every (from, to) pair of states.
func TestTransitionsFollowTheTable(t *testing.T) {
	j, clk := newJournal(t)
	for _, from := range txn.States {
		for _, to := range txn.States {
			r := mustCreate(t, j, testPANs[1])
			for _, s := range pathTo[from] {
				r = mustTransition(t, j, r.ID, s)
			}
			before := dump(t, j)
			clk.Advance(time.Second)
			got, err := j.Transition(ctx, r.ID, to, txn.Outcome{ResponseCode: "00", RRN: "123456789012"}, "because")
			if legal := txn.CanTransition(from, to); legal != nil {
				if !errors.Is(err, txn.ErrIllegalTransition) {
					t.Errorf("%s -> %s: err = %v, want ErrIllegalTransition", from, to, err)
				}
				if diff := diffDumps(before, dump(t, j)); diff != "" {
					t.Errorf("%s -> %s refused but the journal changed: %s", from, to, diff)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s -> %s: %v", from, to, err)
				continue
			}
			last := got.History[len(got.History)-1]
			if got.State != to || last.From != from || last.To != to || last.Reason != "because" || !last.At.Equal(clk.Now()) {
				t.Errorf("%s -> %s: state %s, last change %+v", from, to, got.State, last)
			}
			if got.Outcome.ResponseCode != "00" || got.Outcome.RRN != "123456789012" {
				t.Errorf("%s -> %s: outcome %+v", from, to, got.Outcome)
			}
			// Wiped on reaching a state that keeps no card data
			// (acknowledged, aborted), and never back.
			wiped := to.KeepsNoCardData() || slices.ContainsFunc(pathTo[from], txn.State.KeepsNoCardData)
			if wiped != (got.Sealed == nil) {
				t.Errorf("%s -> %s: sealed %d bytes, want wiped %t", from, to, len(got.Sealed), wiped)
			}
			if !wiped && !bytes.Equal(got.Sealed, r.Sealed) {
				t.Errorf("%s -> %s: sealed data changed", from, to)
			}
			if got.Offline != (to == txn.StoredOffline || slices.Contains(pathTo[from], txn.StoredOffline)) {
				t.Errorf("%s -> %s: offline = %t", from, to, got.Offline)
			}
			stored, _ := j.Get(ctx, r.ID)
			if !reflect.DeepEqual(stored, got) {
				t.Errorf("%s -> %s: stored record differs from the returned one", from, to)
			}
			out, _ := j.Outbox(ctx)
			rev, _ := j.PendingReversals(ctx)
			inOut := slices.ContainsFunc(out, func(x txn.Record) bool { return x.ID == r.ID })
			inRev := slices.ContainsFunc(rev, func(x txn.Record) bool { return x.ID == r.ID })
			if inOut != to.InOutbox() || inRev != to.NeedsReversal() {
				t.Errorf("%s -> %s: in outbox %t, in reversals %t", from, to, inOut, inRev)
			}
		}
	}
	if rep, err := j.Check(ctx); err != nil {
		t.Fatalf("Check after all transitions: %v %+v", err, rep.Problems)
	}
}

func TestWipeOnAcknowledgement(t *testing.T) {
	j, _ := newJournal(t)
	r := mustCreate(t, j, testPANs[0])
	r = mustTransition(t, j, r.ID, txn.StoredOffline)
	if r.Sealed == nil {
		t.Fatal("stored-offline record lost its sealed data")
	}
	if _, err := j.Unseal(ctx, r.ID); err != nil {
		t.Fatalf("Unseal while stored: %v", err)
	}
	r = mustTransition(t, j, r.ID, txn.ForwardedApproved)
	if r.Sealed != nil {
		t.Fatal("acknowledged record kept its sealed data")
	}
	if _, err := j.Unseal(ctx, r.ID); !errors.Is(err, ErrNoSealedData) {
		t.Fatalf("Unseal after acknowledgement: %v, want ErrNoSealedData", err)
	}
	if r.PANHash == "" || r.MaskedPAN == "" {
		t.Error("masked PAN and hash must stay after the wipe")
	}
}

func TestOutcomeMerges(t *testing.T) {
	j, _ := newJournal(t)
	r := mustCreate(t, j, testPANs[0])
	if _, err := j.Transition(ctx, r.ID, txn.Approved, txn.Outcome{ResponseCode: "00", AuthCode: "A1B2C3", RRN: "000000000042"}, "host approved"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("长", 200) // 600 bytes of UTF-8
	r, err := j.Transition(ctx, r.ID, txn.ReversalPending, txn.Outcome{Message: long}, "printer jam")
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome.ResponseCode != "00" || r.Outcome.AuthCode != "A1B2C3" || r.Outcome.RRN != "000000000042" {
		t.Errorf("outcome fields lost: %+v", r.Outcome)
	}
	if len(r.Outcome.Message) > maxText || !strings.HasPrefix(long, r.Outcome.Message) || r.Outcome.Message == "" {
		t.Errorf("long message kept as %d bytes", len(r.Outcome.Message))
	}
}

func TestNoteAttempt(t *testing.T) {
	j, _ := newJournal(t)
	r := mustCreate(t, j, testPANs[0])
	r = mustTransition(t, j, r.ID, txn.ReversalPending)
	for i := 1; i <= 3; i++ {
		var err error
		if r, err = j.NoteAttempt(ctx, r.ID, fmt.Sprintf("timeout %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if r.Attempts != 3 || len(r.History) != 3 || r.History[2].Reason != "attempt 3: timeout 3" {
		t.Errorf("attempts %d, history %+v", r.Attempts, r.History)
	}
	r = mustTransition(t, j, r.ID, txn.ReversalFailed)
	if r, _ = j.NoteAttempt(ctx, r.ID, "manual"); len(r.History) != 5 || r.Attempts != 4 {
		t.Errorf("after a transition the note must be a new entry: %+v", r.History)
	}
	r = mustTransition(t, j, r.ID, txn.Reversed)
	before := dump(t, j)
	if _, err := j.NoteAttempt(ctx, r.ID, "late"); !errors.Is(err, txn.ErrIllegalTransition) {
		t.Errorf("NoteAttempt on a final record: %v", err)
	}
	if diff := diffDumps(before, dump(t, j)); diff != "" {
		t.Errorf("refused NoteAttempt changed the journal: %s", diff)
	}
	if rep, err := j.Check(ctx); err != nil {
		t.Fatalf("Check: %v %+v", err, rep.Problems)
	}
}

func TestUnknownIDs(t *testing.T) {
	j, _ := newJournal(t)
	mustCreate(t, j, "")
	for _, id := range []txn.ID{"0000000000000002", "1", "000000000000000G", "000000000000000A", ""} {
		if _, err := j.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := j.Transition(ctx, id, txn.Approved, txn.Outcome{}, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("Transition(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := j.NoteAttempt(ctx, id, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("NoteAttempt(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := j.Unseal(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Unseal(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestPrintQueue(t *testing.T) {
	j, clk := newJournal(t)
	r := mustTransition(t, j, mustCreate(t, j, testPANs[0]).ID, txn.Approved)
	m := receipt.Merchant{Name: "Test shop"}
	jobs, err := j.QueuePrint(ctx, receipt.Build(m, r, receipt.Copy("merchant"), time.UTC), receipt.Build(m, r, receipt.Copy("customer"), time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].Seq != 1 || jobs[1].Seq != 2 || !jobs[0].Queued.Equal(clk.Now()) {
		t.Fatalf("jobs = %+v", jobs)
	}
	if empty, err := j.QueuePrint(ctx); err != nil || empty != nil {
		t.Errorf("QueuePrint() = %v, %v", empty, err)
	}
	if err := j.PrintDone(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := j.PrintDone(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("second PrintDone = %v, want ErrNotFound", err)
	}
	path := j.Path()
	j.Close()
	j2, err := Open(testOptions(t, path))
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	q, err := j2.PrintQueue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Seq != 2 || !reflect.DeepEqual(q[0].Receipt, jobs[1].Receipt) {
		t.Fatalf("queue after reopen = %+v", q)
	}
	more, err := j2.QueuePrint(ctx, jobs[0].Receipt)
	if err != nil || more[0].Seq != 3 {
		t.Fatalf("print seq after reopen = %+v, %v; want 3 (never reused)", more, err)
	}
}

func TestListOutboxReversalsPending(t *testing.T) {
	j, _ := newJournal(t)
	var ids []txn.ID
	states := []txn.State{txn.StoredOffline, txn.Approved, txn.ReversalPending, txn.StoredOffline, txn.Pending, txn.ReversalFailed}
	for _, s := range states {
		r := mustCreate(t, j, testPANs[2])
		for _, p := range pathTo[s] {
			mustTransition(t, j, r.ID, p)
		}
		ids = append(ids, r.ID)
	}
	idsOf := func(rs []txn.Record) []txn.ID {
		var out []txn.ID
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	check := func(name string, rs []txn.Record, err error, want ...txn.ID) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := idsOf(rs); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	rs, err := j.Outbox(ctx)
	check("Outbox", rs, err, ids[0], ids[3])
	rs, err = j.PendingReversals(ctx)
	check("PendingReversals", rs, err, ids[2], ids[5])
	rs, err = j.Pending(ctx)
	check("Pending", rs, err, ids[4])
	rs, err = j.List(ctx, Filter{})
	check("List all", rs, err, ids...)
	rs, err = j.List(ctx, Filter{Newest: true, Limit: 2})
	check("List newest 2", rs, err, ids[5], ids[4])
	rs, err = j.List(ctx, Filter{State: txn.StoredOffline, Limit: 1})
	check("List stored 1", rs, err, ids[0])
	rs, err = j.List(ctx, Filter{Batch: 2})
	check("List batch 2", rs, err)
	if _, err := j.List(ctx, Filter{State: "lost"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("List bad state: %v", err)
	}
}

func TestStats(t *testing.T) {
	j, clk := newJournal(t)
	mk := func(minor int64, cur money.Currency, to ...txn.State) {
		d := draft()
		d.Amount = money.Amount{Minor: minor, Currency: cur}
		r, err := j.Create(ctx, d, sensitive(testPANs[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range to {
			mustTransition(t, j, r.ID, s)
		}
		clk.Advance(time.Hour)
	}
	mk(100, 156, txn.StoredOffline)
	mk(250, 156, txn.StoredOffline)
	mk(999, 840, txn.StoredOffline)
	mk(5, 156, txn.Approved)
	mk(7, 156, txn.ReversalPending)
	mk(7, 156)
	mk(1, 156, txn.StoredOffline, txn.ForwardedApproved)
	if _, err := j.QueuePrint(ctx, receipt.Receipt{TxnID: "x"}); err != nil {
		t.Fatal(err)
	}
	st, err := j.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		Records:      7,
		States:       map[txn.State]int{txn.StoredOffline: 3, txn.Approved: 1, txn.ReversalPending: 1, txn.Pending: 1, txn.ForwardedApproved: 1},
		Outbox:       3,
		OutboxAmount: map[money.Currency]int64{156: 350, 840: 999},
		OutboxOldest: t0,
		Reversals:    1,
		PrintQueue:   1,
		Counters:     Counters{STAN: 7, Batch: 1, Invoice: 7, NextSeq: 8, SchemaVersion: 1, TID: testTID, MID: testMID},
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("Stats =\n%+v\nwant\n%+v", st, want)
	}
}

// setCounters writes counters straight into meta (to reach the wrap).
func setCounters(t *testing.T, j *Journal, edit func(c *counters)) {
	t.Helper()
	err := j.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		c, err := readCounters(meta)
		if err != nil {
			return err
		}
		edit(&c)
		return writeCounters(meta, c)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAdvanceWraps(t *testing.T) {
	for _, tc := range []struct {
		last uint32
		n    uint64
		want uint32
	}{{0, 0, 0}, {0, 1, 1}, {1, 1, 2}, {999998, 1, 999999}, {999999, 1, 1}, {999999, 2, 2}, {5, 999999, 5}, {0, 999999, 999999}, {0, 1000000, 1}} {
		if got := advance(tc.last, tc.n); got != tc.want {
			t.Errorf("advance(%d, %d) = %d, want %d", tc.last, tc.n, got, tc.want)
		}
	}
}

func TestSTANAndInvoiceWrapAt999999(t *testing.T) {
	j, _ := newJournal(t)
	mustCreate(t, j, "")
	// A new batch, so the wrapped STAN 000001 is not a duplicate of the
	// first record's in the same batch (Verify checks that).
	if _, _, err := j.CloseBatch(ctx); err != nil {
		t.Fatal(err)
	}
	setCounters(t, j, func(c *counters) { c.STAN, c.Invoice = 999998, 999999 })
	// The hand edit broke "last STAN = newest record's STAN"; the next
	// Create restores it.
	a := mustCreate(t, j, testPANs[0])
	b := mustCreate(t, j, testPANs[0])
	if a.Identity.STAN != 999999 || a.Identity.Invoice != 1 || b.Identity.STAN != 1 || b.Identity.Invoice != 2 {
		t.Fatalf("after wrap: STAN %06d then %06d, invoice %06d then %06d", a.Identity.STAN, b.Identity.STAN, a.Identity.Invoice, b.Identity.Invoice)
	}
	if rep, err := j.Check(ctx); err != nil {
		t.Fatalf("Check after wrap: %v %+v", err, rep.Problems)
	}
}

func TestReserveSTAN(t *testing.T) {
	j, _ := newJournal(t)
	if s, err := j.ReserveSTAN(ctx); err != nil || s != 1 {
		t.Fatalf("ReserveSTAN before any record = %d, %v", s, err)
	}
	if rep, err := j.Check(ctx); err != nil {
		t.Fatalf("Check: %v %+v", err, rep.Problems)
	}
	r := mustCreate(t, j, "")
	if r.Identity.STAN != 2 {
		t.Errorf("record STAN = %d, want 2", r.Identity.STAN)
	}
	s1, _ := j.ReserveSTAN(ctx)
	s2, _ := j.ReserveSTAN(ctx)
	if s1 != 3 || s2 != 4 {
		t.Errorf("reserved %d, %d; want 3, 4", s1, s2)
	}
	if rep, err := j.Check(ctx); err != nil {
		t.Fatalf("Check with reservations: %v %+v", err, rep.Problems)
	}
	if r := mustCreate(t, j, ""); r.Identity.STAN != 5 {
		t.Errorf("record STAN = %d, want 5", r.Identity.STAN)
	}
}

func TestCloseBatch(t *testing.T) {
	j, clk := newJournal(t)
	a := mustCreate(t, j, "")
	clk.Advance(time.Hour)
	closed, opened, err := j.CloseBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if closed.Number != 1 || closed.Closed == nil || !closed.Closed.Equal(clk.Now()) || opened.Number != 2 || opened.Closed != nil {
		t.Fatalf("CloseBatch = %+v, %+v", closed, opened)
	}
	b := mustCreate(t, j, "")
	if a.Identity.Batch != 1 || b.Identity.Batch != 2 || b.Identity.STAN != 2 {
		t.Errorf("batches %d, %d; STAN %d", a.Identity.Batch, b.Identity.Batch, b.Identity.STAN)
	}
	if bs, err := j.Batches(ctx); err != nil || len(bs) != 2 {
		t.Errorf("Batches = %+v, %v", bs, err)
	}
	if rep, err := j.Check(ctx); err != nil {
		t.Fatalf("Check: %v %+v", err, rep.Problems)
	}
	setCounters(t, j, func(c *counters) { c.Batch = 999999 })
	if err := j.db.Update(func(tx *bolt.Tx) error {
		v, _ := encodeJSON(BatchInfo{Number: 999999, Opened: t0})
		return tx.Bucket(bucketBatches).Put(batchKey(999999), v)
	}); err != nil {
		t.Fatal(err)
	}
	if _, opened, err := j.CloseBatch(ctx); err != nil || opened.Number != 1 {
		t.Errorf("batch after 999999 = %d, %v; want 1", opened.Number, err)
	}
}

func TestReopenAndIdentity(t *testing.T) {
	j, _ := newJournal(t)
	path := j.Path()
	r := mustCreate(t, j, testPANs[0])
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, path)
	o.TID = "87654321"
	_, err := Open(o)
	if !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), testTID) || !strings.Contains(err.Error(), "87654321") {
		t.Errorf("Open with another TID: %v; want ErrIdentity naming both", err)
	}
	o = testOptions(t, path)
	o.TID, o.MID = "", ""
	j2, err := Open(o)
	if err != nil {
		t.Fatalf("Open without identity: %v", err)
	}
	got, err := j2.Get(ctx, r.ID)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("after reopen Get = %+v, %v", got, err)
	}
	if r2 := mustCreate(t, j2, ""); r2.Identity.TID != testTID || r2.Identity.STAN != 2 || r2.ID != "0000000000000002" {
		t.Errorf("after reopen Create = %+v", r2.Identity)
	}
	j2.Close()

	o = testOptions(t, filepath.Join(t.TempDir(), "new.db"))
	o.MID = ""
	if _, err := Open(o); !errors.Is(err, ErrInvalid) {
		t.Errorf("creating without MID: %v, want ErrInvalid", err)
	}
	o.MID, o.TID = testMID, "123456789"
	if _, err := Open(o); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "TID") {
		t.Errorf("9-character TID: %v, want ErrInvalid naming TID", err)
	}
	o.TID, o.Key = testTID, testKey[:16]
	if _, err := Open(o); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "16 bytes") {
		t.Errorf("16-byte key: %v", err)
	}
}

func TestWrongKeyDegrades(t *testing.T) {
	j, _ := newJournal(t)
	path := j.Path()
	r := mustCreate(t, j, testPANs[0])
	mustTransition(t, j, r.ID, txn.StoredOffline)
	j.Close()
	o := testOptions(t, path)
	o.Key = otherKey
	j2, err := Open(o)
	if err != nil {
		t.Fatalf("Open with another key: %v", err)
	}
	defer j2.Close()
	h := j2.Health()
	if !errors.Is(h, ErrUntrusted) || !strings.Contains(h.Error(), "device key") {
		t.Fatalf("Health = %v, want ErrUntrusted about the device key", h)
	}
	if _, err := j2.Create(ctx, draft(), nil); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Create on degraded journal: %v", err)
	}
	if _, err := j2.Transition(ctx, r.ID, txn.ForwardedApproved, txn.Outcome{}, ""); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Transition on degraded journal: %v", err)
	}
	if rs, err := j2.List(ctx, Filter{}); err != nil || len(rs) != 1 {
		t.Errorf("List on degraded journal: %d, %v", len(rs), err)
	}
	var buf bytes.Buffer
	if err := j2.Export(ctx, &buf, "json"); err != nil {
		t.Errorf("Export on degraded journal: %v", err)
	}
	j2.Close()
	rep, err := Verify(path, otherKey)
	if !errors.Is(err, ErrUntrusted) || !hasProblem(rep, "meta/key_check", "device key") || !hasProblem(rep, "txns/", "sealed") {
		t.Errorf("Verify with the other key: %v %+v", err, rep.Problems)
	}
	if rep, err := Verify(path, nil); err != nil || !rep.OK || rep.KeyChecked {
		t.Errorf("Verify without key: %v %+v", err, rep)
	}
	if rep, err := Verify(path, testKey); err != nil || !rep.OK || rep.Counts.Sealed != 1 || rep.Counts.Outbox != 1 {
		t.Errorf("Verify with the right key: %v %+v", err, rep)
	}
}

func TestClosedJournal(t *testing.T) {
	j, _ := newJournal(t)
	r := mustCreate(t, j, "")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if err := j.Health(); !errors.Is(err, ErrClosed) {
		t.Errorf("Health = %v", err)
	}
	_, err1 := j.Create(ctx, draft(), nil)
	_, err2 := j.Get(ctx, r.ID)
	_, err3 := j.Transition(ctx, r.ID, txn.Approved, txn.Outcome{}, "")
	_, err4 := j.Stats(ctx)
	err5 := j.PrintDone(ctx, 1)
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call %d after Close: %v", i+1, err)
		}
	}
}

func TestCanceledContextWritesNothing(t *testing.T) {
	j, _ := newJournal(t)
	r := mustCreate(t, j, "")
	before := dump(t, j)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := j.Create(c, draft(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Create: %v", err)
	}
	if _, err := j.Transition(c, r.ID, txn.Approved, txn.Outcome{}, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Transition: %v", err)
	}
	if _, err := j.Get(c, r.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: %v", err)
	}
	if diff := diffDumps(before, dump(t, j)); diff != "" {
		t.Errorf("canceled calls changed the journal: %s", diff)
	}
}

func TestCutKeepsValidText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ok", "ok"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{strings.Repeat("a", 255) + "长", strings.Repeat("a", 255)},
		{strings.Repeat("a", 253) + "长", strings.Repeat("a", 253) + "长"},
		{"\xff" + strings.Repeat("b", 300), "\uFFFD" + strings.Repeat("b", 253)},
	} {
		if got := cut(tc.in); got != tc.want {
			t.Errorf("cut(%q...) = %q (%d bytes), want %d bytes", tc.in[:4], got, len(got), len(tc.want))
		}
	}
}

func TestConcurrentWritersGetDistinctIdentities(t *testing.T) {
	j, _ := newJournal(t)
	const workers, each = 8, 15
	type got struct {
		id   txn.ID
		stan uint32
	}
	results := make(chan got, workers*each)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				r, err := j.Create(ctx, draft(), sensitive(testPANs[w%len(testPANs)]))
				if err != nil {
					errs <- err
					return
				}
				if _, err := j.Transition(ctx, r.ID, txn.StoredOffline, txn.Outcome{}, ""); err != nil {
					errs <- err
					return
				}
				results <- got{r.ID, r.Identity.STAN}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(results)
	ids, stans := map[txn.ID]bool{}, map[uint32]bool{}
	for g := range results {
		if ids[g.id] || stans[g.stan] {
			t.Fatalf("identity issued twice: %+v", g)
		}
		ids[g.id], stans[g.stan] = true, true
	}
	if len(ids) != workers*each {
		t.Fatalf("%d records, want %d", len(ids), workers*each)
	}
	if rep, err := j.Check(ctx); err != nil || rep.Counts.Outbox != workers*each {
		t.Fatalf("Check: %v, outbox %d", err, rep.Counts.Outbox)
	}
}
