package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A receipt printed again on request, through the durable print queue:
// the stand-in printer's file gets a third receipt marked REPRINT.
func TestReprintLastReceipt(t *testing.T) {
	a := startAgent(t, t.TempDir())
	if out, err := a.cli("reprint"); err == nil || !strings.Contains(out, "no recent transaction") {
		t.Errorf("reprint with an empty journal: %v\n%s", err, out)
	}
	out, err := a.cli("pay", "12.34")
	if err != nil {
		t.Fatalf("pay: %v\n%s", err, out)
	}
	printed := filepath.Join(a.dir, "receipts.txt")
	before := waitFileCount(t, printed, "POS RECEIPT", 2)
	if strings.Contains(before, "REPRINT") {
		t.Fatalf("the sale's receipts are marked as reprints:\n%s", before)
	}
	out, err = a.cli("reprint")
	if err != nil || !strings.Contains(out, "customer copy") {
		t.Fatalf("reprint: %v\n%s", err, out)
	}
	after := waitFileCount(t, printed, "POS RECEIPT", 3)
	third := after[strings.LastIndex(after, "POS RECEIPT"):]
	for _, want := range []string{"重打印 REPRINT", "CUSTOMER COPY", "CNY 12.34"} {
		if !strings.Contains(third, want) {
			t.Errorf("reprinted receipt lacks %q:\n%s", want, third)
		}
	}
	if out, err := a.cli("reprint", "0000000000000999"); err == nil || !strings.Contains(out, "0000000000000999") {
		t.Errorf("reprint of an unknown ID: %v\n%s", err, out)
	}
}

// waitFileCount waits until file contains n occurrences of marker and
// returns its text.
func waitFileCount(t *testing.T, file, marker string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		if strings.Count(string(b), marker) >= n {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d × %q, want %d:\n%s", file, strings.Count(string(b), marker), marker, n, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
