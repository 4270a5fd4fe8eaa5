package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

const (
	envCrashPath = "POSAGENT_STORE_CRASH_JOURNAL"
	envCrashSeed = "POSAGENT_STORE_CRASH_SEED"
)

// crashPaths are the state sequences the writer drives records through.
var crashPaths = [][]txn.State{
	{txn.Approved},
	{txn.Declined},
	{txn.StoredOffline, txn.ForwardedApproved},
	{txn.StoredOffline},
	{txn.ReversalPending, txn.Reversed},
	{txn.ReversalPending, txn.ReversalFailed},
	{txn.Aborted},
	{},
}

// TestCrashHelper is not a test: TestCrashKill9 re-executes the test binary
// with only this function and the journal path in the environment. It
// loops Create + Transition forever and, after each call returned (so the
// commit is durable), writes one line to stdout:
//
//	C <id> <stan>      a record was created
//	T <id> <state>     a record reached state
//	S <stan>           a STAN was reserved
//	P <seq>            a print job was queued
//
// The parent kills it with SIGKILL at a random moment.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(envCrashPath)
	if path == "" {
		t.Skip("helper process for TestCrashKill9; runs only when re-executed by it")
	}
	seed, _ := strconv.ParseUint(os.Getenv(envCrashSeed), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 1))
	o := Options{Path: path, Key: testKey, TID: testTID, MID: testMID, Clock: clock.System{}, LockTimeout: 10 * time.Second}
	j, err := Open(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash helper: open:", err)
		os.Exit(3)
	}
	say := func(format string, args ...any) {
		// One write(2) per line, unbuffered: the parent sees exactly the
		// lines written before the kill.
		if _, err := os.Stdout.WriteString(fmt.Sprintf(format, args...) + "\n"); err != nil {
			os.Exit(4)
		}
	}
	die := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "crash helper: %s: %v\n", what, err)
		os.Exit(5)
	}
	c := context.Background()
	for i := 0; i < 20000; i++ {
		r, err := j.Create(c, draft(), sensitive(testPANs[rng.IntN(len(testPANs))]))
		if err != nil {
			die("create", err)
		}
		say("C %s %d", r.ID, r.Identity.STAN)
		for _, s := range crashPaths[rng.IntN(len(crashPaths))] {
			if _, err := j.Transition(c, r.ID, s, txn.Outcome{ResponseCode: "00"}, "crash test"); err != nil {
				die("transition", err)
			}
			say("T %s %s", r.ID, s)
		}
		switch rng.IntN(8) {
		case 0:
			s, err := j.ReserveSTAN(c)
			if err != nil {
				die("reserve", err)
			}
			say("S %d", s)
		case 1:
			jobs, err := j.QueuePrint(c, receipt.Receipt{TxnID: r.ID})
			if err != nil {
				die("print", err)
			}
			say("P %d", jobs[0].Seq)
		}
	}
	_ = j.Close()
}

// reported is what the writer said it committed for one record.
type reported struct {
	stan   uint32
	states []txn.State
	run    int
}

// TestCrashKill9 kills a writer process with SIGKILL at random moments and
// checks after each kill that the journal verifies, that everything the
// writer reported as committed is there (at least in the reported state),
// and that no sequence, STAN or print job number is ever issued twice.
// 30 kills by default; 300 with POSAGENT_SOAK=1.
func TestCrashKill9(t *testing.T) {
	runs := 30
	if os.Getenv("POSAGENT_SOAK") == "1" {
		runs = 300
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.db")
	rng := rand.New(rand.NewPCG(20250301, 9))

	records := map[txn.ID]*reported{}
	stans := map[uint32]string{} // STAN -> who got it
	prints := map[uint64]bool{}
	var lastSeq uint64
	total := 0
	for run := 0; run < runs; run++ {
		cmd := helperCommand(t, "TestCrashHelper", envCrashPath+"="+path, fmt.Sprintf("%s=%d", envCrashSeed, run))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		startHelper(t, cmd)
		var mu sync.Mutex
		var got []string
		first := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			br := bufio.NewReader(stdout)
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					// A partial last line (no newline) is not a report.
					if err != io.EOF {
						t.Errorf("read writer output: %v", err)
					}
					return
				}
				mu.Lock()
				got = append(got, strings.TrimSuffix(l, "\n"))
				if len(got) == 1 {
					close(first)
				}
				mu.Unlock()
			}
		}()
		// Kill at a random moment: usually some commits in, sometimes
		// during start-up (Open, or the journal's creation on run 0).
		if rng.IntN(5) == 0 {
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		} else {
			select {
			case <-first:
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("writer printed nothing in 30 s")
			}
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill: %v", err)
		}
		<-done
		werr := cmd.Wait()
		if cmd.ProcessState.ExitCode() > 0 {
			t.Fatalf("run %d: writer failed by itself (%v): %s", run, werr, stderr.String())
		}
		total += len(got)

		// Account for what the writer reported.
		for _, l := range got {
			f := strings.Fields(l)
			switch f[0] {
			case "C":
				id := txn.ID(f[1])
				seq, err := seqOf(id)
				if err != nil {
					t.Fatalf("run %d: bad id in %q", run, l)
				}
				if _, dup := records[id]; dup || seq <= lastSeq {
					t.Fatalf("run %d: sequence %d reused or not increasing (last %d)", run, seq, lastSeq)
				}
				lastSeq = seq
				stan, _ := strconv.ParseUint(f[2], 10, 32)
				if who, dup := stans[uint32(stan)]; dup {
					t.Fatalf("run %d: STAN %d issued to %s and again to %s", run, stan, who, id)
				}
				stans[uint32(stan)] = string(id)
				records[id] = &reported{stan: uint32(stan), states: []txn.State{txn.Pending}, run: run}
			case "T":
				r := records[txn.ID(f[1])]
				if r == nil {
					t.Fatalf("run %d: transition of unreported record: %q", run, l)
				}
				r.states = append(r.states, txn.State(f[2]))
			case "S":
				stan, _ := strconv.ParseUint(f[1], 10, 32)
				if who, dup := stans[uint32(stan)]; dup {
					t.Fatalf("run %d: reserved STAN %d was already issued to %s", run, stan, who)
				}
				stans[uint32(stan)] = "reservation"
			case "P":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				if prints[seq] {
					t.Fatalf("run %d: print job %d issued twice", run, seq)
				}
				prints[seq] = true
			default:
				t.Fatalf("run %d: unexpected writer output %q", run, l)
			}
		}

		if _, err := os.Stat(path); os.IsNotExist(err) {
			if len(records) > 0 {
				t.Fatalf("run %d: journal file vanished", run)
			}
			continue // killed before the journal was created
		}
		rep, err := Verify(path, testKey)
		if err != nil {
			t.Fatalf("run %d: Verify after kill -9: %v\n%+v", run, err, rep.Problems)
		}
		checkReported(t, run, path, records)
	}

	// Fresh numbers after the last crash.
	j, err := Open(testOptions(t, path))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r := mustCreate(t, j, testPANs[0])
	seq, _ := seqOf(r.ID)
	if seq <= lastSeq {
		t.Errorf("after the crashes, new record got sequence %d, not above %d", seq, lastSeq)
	}
	if who, dup := stans[r.Identity.STAN]; dup {
		t.Errorf("after the crashes, new record got STAN %d, already issued to %s", r.Identity.STAN, who)
	}
	c, _ := j.Counters(ctx)
	t.Logf("%d kills, %d committed calls reported, %d records reported, journal has %d records", runs, total, len(records), c.NextSeq-2)
	if len(records) < runs/2 {
		t.Errorf("only %d records were reported over %d runs: the writer is not getting to work", len(records), runs)
	}
}

// checkReported opens the journal and compares it with the reports.
func checkReported(t *testing.T, run int, path string, records map[txn.ID]*reported) {
	t.Helper()
	o := testOptions(t, path)
	j, err := Open(o)
	if err != nil {
		t.Fatalf("run %d: Open after kill -9: %v", run, err)
	}
	defer j.Close()
	if h := j.Health(); h != nil {
		t.Fatalf("run %d: Health after kill -9: %v", run, h)
	}
	for id, want := range records {
		r, err := j.Get(ctx, id)
		if err != nil {
			t.Fatalf("run %d: record %s (reported committed in run %d) is missing: %v", run, id, want.run, err)
		}
		if r.Identity.STAN != want.stan {
			t.Fatalf("run %d: record %s has STAN %d, reported %d", run, id, r.Identity.STAN, want.stan)
		}
		last := want.states[len(want.states)-1]
		var hist []txn.State
		for _, c := range r.History {
			hist = append(hist, c.To)
		}
		if !slices.Contains(hist, last) {
			t.Fatalf("run %d: record %s reported in state %s, but its history is %v", run, id, last, hist)
		}
		if len(hist) < len(want.states) {
			t.Fatalf("run %d: record %s lost committed transitions: history %v, reported %v", run, id, hist, want.states)
		}
	}
}
