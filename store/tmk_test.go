package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTMKSealedAndPersisted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j.db")
	key := bytes.Repeat([]byte{9}, KeySize)
	j, err := Open(Options{Path: path, Key: key, TID: "12345678", MID: "123456789012345"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := j.TMK(ctx); !errors.Is(err, ErrNoTMK) {
		t.Fatalf("TMK before load: %v", err)
	}
	tmk := []byte("\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x01")
	if err := j.SaveTMK(ctx, tmk); err != nil {
		t.Fatal(err)
	}
	if err := j.SaveTMK(ctx, []byte{1, 2, 3}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short TMK: %v", err)
	}
	at := time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC)
	if err := j.SetLastSignIn(ctx, at); err != nil {
		t.Fatal(err)
	}
	j.Close()

	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, tmk) {
		t.Fatal("the journal file holds the TMK in clear")
	}
	j, err = Open(Options{Path: path, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got, err := j.TMK(ctx)
	if err != nil || !bytes.Equal(got, tmk) {
		t.Fatalf("TMK after reopen = %x, %v", got, err)
	}
	if got, err := j.LastSignIn(ctx); err != nil || !got.Equal(at) {
		t.Fatalf("LastSignIn = %v, %v", got, err)
	}
	if rep, err := j.Check(ctx); err != nil || !rep.OK {
		t.Fatalf("check with TMK stored: %v %+v", err, rep.Problems)
	}
}
