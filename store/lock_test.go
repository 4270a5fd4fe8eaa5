package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecondOpenInProcessIsLocked(t *testing.T) {
	j, _ := newJournal(t)
	o := testOptions(t, j.Path())
	o.LockTimeout = 100 * time.Millisecond
	_, err := Open(o)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	want := fmt.Sprintf("journal %s is in use by another process (pid lock held", j.Path())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, err := Verify(j.Path(), testKey); !errors.Is(err, ErrLocked) {
		t.Errorf("Verify while open: %v, want ErrLocked", err)
	}
	j.Close()
	j2, err := Open(o)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	j2.Close()
}

const envLockHelper = "POSAGENT_STORE_LOCK_HELPER"

// TestLockHelper is not a test: TestSecondOpenFromSubprocessIsLocked runs
// the test binary again with only this function, to hold the journal's
// lock in another process.
func TestLockHelper(t *testing.T) {
	path := os.Getenv(envLockHelper)
	if path == "" {
		t.Skip("helper process for TestSecondOpenFromSubprocessIsLocked; runs only when re-executed by it")
	}
	o := testOptions(t, path)
	o.LockTimeout = 5 * time.Second
	j, err := Open(o)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	defer j.Close()
	fmt.Println("ready")
	// Hold the lock until the parent closes stdin (or kills us).
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func TestSecondOpenFromSubprocessIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	cmd := helperCommand(t, "TestLockHelper", envLockHelper+"="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	startHelper(t, cmd)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	o := testOptions(t, path)
	o.LockTimeout = 100 * time.Millisecond
	_, err = Open(o)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "is in use by another process") {
		t.Fatalf("Open while the helper holds the lock: %v, want ErrLocked", err)
	}
	if _, ferr := os.Stat("/proc/locks"); ferr == nil {
		if want := fmt.Sprintf("by pid %d", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the holder (%s)", err, want)
		}
	}
	if _, err := Verify(path, testKey); !errors.Is(err, ErrLocked) {
		t.Errorf("Verify while locked: %v, want ErrLocked", err)
	}

	// kill -9 releases the lock: the kernel drops a dead process's flocks.
	_ = stdin.Close()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	j, err := Open(o)
	if err != nil {
		t.Fatalf("Open after the holder died: %v", err)
	}
	j.Close()
}
