package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

const (
	testTID = "12345678"
	testMID = "123456789012345"
)

// testKey is a fixed device key; otherKey a different one.
var (
	testKey  = bytes.Repeat([]byte{0x42}, KeySize)
	otherKey = bytes.Repeat([]byte{0x17}, KeySize)
)

// Test PANs (test card numbers, not real cards).
var testPANs = []string{"6212345678901232", "4761340000000019", "5413330089010442", "6250946000000016"}

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func testOptions(t testing.TB, path string) Options {
	t.Helper()
	return Options{Path: path, Key: testKey, TID: testTID, MID: testMID,
		Clock: clock.NewFake(t0), LockTimeout: 200 * time.Millisecond}
}

// newJournal opens a fresh journal in a temporary directory.
func newJournal(t testing.TB) (*Journal, *clock.Fake) {
	t.Helper()
	o := testOptions(t, filepath.Join(t.TempDir(), "data", "journal.db"))
	j, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j, o.Clock.(*clock.Fake)
}

func sensitive(pan string) *txn.Sensitive {
	return &txn.Sensitive{
		PAN:    pan,
		Expiry: "2712",
		Track2: pan + "D27122011234567890",
		PANSeq: "01",
		ICC: []byte{0x9f, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x9f, 0x27, 0x01, 0x80,
			0x9f, 0x36, 0x02, 0x00, 0x2a, 0x82, 0x02, 0x7c, 0x00},
	}
}

func draft() payment.Draft {
	return payment.Draft{Type: txn.Sale, Entry: txn.Contactless,
		Amount: money.Amount{Minor: 1234, Currency: 156}, Scheme: "UnionPay"}
}

func mustCreate(t testing.TB, j *Journal, pan string) txn.Record {
	t.Helper()
	var s *txn.Sensitive
	if pan != "" {
		s = sensitive(pan)
	}
	r, err := j.Create(context.Background(), draft(), s)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return r
}

func mustTransition(t testing.TB, j *Journal, id txn.ID, to txn.State) txn.Record {
	t.Helper()
	r, err := j.Transition(context.Background(), id, to, txn.Outcome{}, "test")
	if err != nil {
		t.Fatalf("Transition %s -> %s: %v", id, to, err)
	}
	return r
}

// pathTo lists the transitions that take a pending record to each state.
var pathTo = map[txn.State][]txn.State{
	txn.Pending:           nil,
	txn.Approved:          {txn.Approved},
	txn.Declined:          {txn.Declined},
	txn.StoredOffline:     {txn.StoredOffline},
	txn.ReversalPending:   {txn.ReversalPending},
	txn.Reversed:          {txn.ReversalPending, txn.Reversed},
	txn.ReversalFailed:    {txn.ReversalPending, txn.ReversalFailed},
	txn.ForwardedApproved: {txn.StoredOffline, txn.ForwardedApproved},
	txn.ForwardedDeclined: {txn.StoredOffline, txn.ForwardedDeclined},
	txn.Expired:           {txn.StoredOffline, txn.Expired},
	txn.Aborted:           {txn.Aborted},
}

// dump returns every key and value of every bucket (and bucket
// sequences) of the open journal, for before/after comparisons.
func dump(t testing.TB, j *Journal) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out[fmt.Sprintf("%s#seq", name)] = fmt.Sprint(b.Sequence())
			return b.ForEach(func(k, v []byte) error {
				out[fmt.Sprintf("%s/%x", name, k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return out
}

func diffDumps(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "removed "+k)
		} else if w != v {
			d = append(d, "changed "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "; ")
}

// rawUpdate edits a closed journal file directly, to break invariants.
func rawUpdate(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatalf("raw update: %v", err)
	}
}

func fileSum(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func dirList(t testing.TB, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}

// helperCommand re-executes the test binary to run only the named helper
// test. POSAGENT_TEST_EXEC, when set (e.g. "qemu-aarch64-static"), is put
// in front, for test runs under an emulator without binfmt registration.
func helperCommand(t testing.TB, name string, env ...string) *exec.Cmd {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^" + name + "$", "-test.count=1"}
	if w := os.Getenv("POSAGENT_TEST_EXEC"); w != "" {
		args = append(strings.Fields(w), args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// startHelper starts cmd. A test binary built for another architecture and
// run under qemu-user without binfmt registration cannot re-execute itself:
// that skips the test, saying how to run it.
func startHelper(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	err := cmd.Start()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("cannot re-execute the test binary (%v): under an emulator, set POSAGENT_TEST_EXEC=qemu-arm-static (or qemu-aarch64-static) to run this test", err)
	}
	if err != nil {
		t.Fatalf("start helper process: %v", err)
	}
}
