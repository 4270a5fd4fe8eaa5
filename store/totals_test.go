package store

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

func TestOfflineAndSalesTotals(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	j, err := Open(Options{Path: filepath.Join(t.TempDir(), "j.db"), Key: bytes.Repeat([]byte{4}, KeySize),
		TID: "12345678", MID: "123456789012345", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	sale := func(minor int64, to txn.State) txn.Record {
		t.Helper()
		r, err := j.Create(ctx, payment.Draft{Type: txn.Sale, Entry: txn.Contactless, Amount: money.Amount{Minor: minor, Currency: money.CNY}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r, err = j.Transition(ctx, r.ID, to, txn.Outcome{}, "test"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		return r
	}
	first := sale(100, txn.StoredOffline)
	sale(200, txn.StoredOffline)
	sale(400, txn.Approved)
	sale(800, txn.Declined)
	fwd := sale(1600, txn.StoredOffline)
	if _, err := j.Transition(ctx, fwd.ID, txn.ForwardedApproved, txn.Outcome{}, "forwarded"); err != nil {
		t.Fatal(err)
	}
	tot, err := j.OfflineTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot.Count != 2 || tot.Amount[money.CNY] != 300 || !tot.Oldest.Equal(first.Created) {
		t.Fatalf("offline totals %+v", tot)
	}
	day, err := j.SalesTotal(ctx, money.CNY, start, start.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if day != 100+200+400+1600 {
		t.Fatalf("sales total %d, want %d (declined excluded)", day, 100+200+400+1600)
	}
	if later, _ := j.SalesTotal(ctx, money.CNY, start.Add(3*time.Minute), start.Add(24*time.Hour)); later != 1600 {
		t.Fatalf("sales total from the 4th minute %d, want 1600", later)
	}
}
