package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

func TestAdoptBatch(t *testing.T) {
	ctx := context.Background()
	j, err := Open(Options{Path: filepath.Join(t.TempDir(), "j.db"), Key: bytes.Repeat([]byte{3}, KeySize), TID: "12345678", MID: "123456789012345"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	d := payment.Draft{Type: txn.Sale, Entry: txn.Contactless, Amount: money.Amount{Minor: 100, Currency: money.CNY}}
	r1, err := j.Create(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.AdoptBatch(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := j.AdoptBatch(ctx, 7); err != nil {
		t.Fatal("adopting the current batch again:", err)
	}
	r2, err := j.Create(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Identity.Batch != 1 || r2.Identity.Batch != 7 || r2.Identity.STAN == r1.Identity.STAN {
		t.Fatalf("identities %+v %+v", r1.Identity, r2.Identity)
	}
	// Back to an earlier batch (a host that reset): reopened, STANs still unique.
	if err := j.AdoptBatch(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Create(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	if rep, err := j.Check(ctx); err != nil || !rep.OK {
		t.Fatalf("check after adopting batches: %v %+v", err, rep.Problems)
	}
	if err := j.AdoptBatch(ctx, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("batch 0: %v", err)
	}
}
