package store

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/core/txn"
)

// assertNoClearCardData fails if any test PAN or track 2 string appears in
// b, as ASCII digits or as hex.
func assertNoClearCardData(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, pan := range testPANs {
		s := sensitive(pan)
		for _, needle := range []string{pan, s.Track2, hex.EncodeToString([]byte(pan)), pan[:12]} {
			if bytes.Contains(b, []byte(needle)) {
				t.Errorf("%s contains card data %s...", what, needle[:4])
			}
		}
	}
}

// TestJournalFileHasNoClearPAN writes transactions with test PANs and
// reads the raw file bytes: no PAN, no track 2, no PAN middle digits.
func TestJournalFileHasNoClearPAN(t *testing.T) {
	j, _ := newJournal(t)
	path := j.Path()
	var ids []txn.ID
	for i := 0; i < 40; i++ {
		r := mustCreate(t, j, testPANs[i%len(testPANs)])
		ids = append(ids, r.ID)
		switch i % 4 {
		case 0:
			mustTransition(t, j, r.ID, txn.StoredOffline)
		case 1:
			mustTransition(t, j, r.ID, txn.ReversalPending)
		case 2:
			mustTransition(t, j, r.ID, txn.Approved)
		}
	}
	j.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("621234******1232")) {
		t.Fatal("masked PAN not found in the file: the test is not reading the journal")
	}
	assertNoClearCardData(t, "journal file", raw)

	// After every record is acknowledged and wiped, still nothing.
	j, err = Open(testOptions(t, path))
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		switch i % 4 {
		case 0:
			mustTransition(t, j, id, txn.ForwardedApproved)
		case 1:
			mustTransition(t, j, id, txn.Reversed)
		case 3:
			mustTransition(t, j, id, txn.Declined)
		}
	}
	rep, err := j.Check(ctx)
	if err != nil || rep.Counts.Sealed != 0 {
		t.Fatalf("Check: %v, sealed %d", err, rep.Counts.Sealed)
	}
	j.Close()
	raw, _ = os.ReadFile(path)
	assertNoClearCardData(t, "journal file after wipe", raw)
}

func TestExport(t *testing.T) {
	j, _ := newJournal(t)
	n := exportChunk + 44 // more than one read transaction's worth
	for i := 0; i < n; i++ {
		r := mustCreate(t, j, testPANs[i%len(testPANs)])
		if i%3 == 0 {
			mustTransition(t, j, r.ID, txn.StoredOffline)
		}
	}
	d := draft()
	d.Scheme = "=HYPERLINK(\"x\")"
	if _, err := j.Create(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	n++

	var js bytes.Buffer
	if err := j.Export(ctx, &js, "json"); err != nil {
		t.Fatal(err)
	}
	assertNoClearCardData(t, "JSON export", js.Bytes())
	var recs []map[string]any
	if err := json.Unmarshal(js.Bytes(), &recs); err != nil {
		t.Fatalf("JSON export is not one array: %v", err)
	}
	if len(recs) != n {
		t.Fatalf("JSON export has %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if _, ok := r["sealed"]; ok {
			t.Fatalf("record %d exports sealed bytes", i)
		}
		if r["id"] != string(idOf(uint64(i+1))) {
			t.Fatalf("record %d has id %v: not journal order", i, r["id"])
		}
	}
	if recs[0]["sealed_present"] != true || recs[0]["masked_pan"] != "621234******1232" {
		t.Errorf("first record: %v", recs[0])
	}

	var cs bytes.Buffer
	if err := j.Export(ctx, &cs, "csv"); err != nil {
		t.Fatal(err)
	}
	assertNoClearCardData(t, "CSV export", cs.Bytes())
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n+1 || strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
		t.Fatalf("CSV: %d rows, header %v", len(rows), rows[0])
	}
	first := map[string]string{}
	for i, h := range rows[0] {
		first[h] = rows[1][i]
	}
	if first["amount"] != "12.34" || first["currency"] != "156" || first["stan"] != "000001" || first["state"] != "stored_offline" {
		t.Errorf("CSV first row: %v", first)
	}
	if last := rows[len(rows)-1][15]; !strings.HasPrefix(last, "'=") {
		t.Errorf("formula-like scheme exported as %q", last)
	}

	var empty bytes.Buffer
	j2, _ := newJournal(t)
	if err := j2.Export(ctx, &empty, "json"); err != nil || strings.TrimSpace(empty.String()) != "[]" {
		t.Errorf("empty export = %q, %v", empty.String(), err)
	}
	if err := j.Export(ctx, &empty, "xml"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Export xml: %v", err)
	}
}

func TestLoadDeviceKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "device.key")
	if _, err := LoadDeviceKey(path, false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key without create: %v", err)
	}
	k, err := LoadDeviceKey(path, true)
	if err != nil || len(k) != KeySize {
		t.Fatalf("create: %d bytes, %v", len(k), err)
	}
	if bytes.Equal(k, make([]byte, KeySize)) {
		t.Error("key is all zero")
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v, want 0700", di.Mode().Perm())
	}
	k2, err := LoadDeviceKey(path, true)
	if err != nil || !bytes.Equal(k, k2) {
		t.Errorf("second load with create=true must read the same key: %v", err)
	}

	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("0123456789"), 0o600)
	if _, err := LoadDeviceKey(short, true); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), short) || !strings.Contains(err.Error(), "10 bytes") {
		t.Errorf("10-byte key: %v; want an error naming file and size", err)
	}
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, k, 0o600)
	os.Chmod(open, 0o644)
	if _, err := LoadDeviceKey(open, false); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "0644") {
		t.Errorf("0644 key: %v", err)
	}
	// A short key file is never replaced.
	if b, _ := os.ReadFile(short); string(b) != "0123456789" {
		t.Error("LoadDeviceKey changed a bad key file")
	}
}
