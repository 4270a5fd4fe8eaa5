package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/payment/standin"
	"github.com/posagent/posagent/core/txn"
)

// These tests run the real posagent binary as separate processes: the
// daemon on the simulated board with a real bbolt journal and a real unix
// socket, and the CLI against it.

var agentBin, hostBin, simBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posagent-bin")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "posagent")
	out, err := exec.Command("go", "build", "-o", agentBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building posagent: %v\n%s", err, out)
		os.Exit(1)
	}
	hostBin = filepath.Join(dir, "acqhost")
	out, err = exec.Command("go", "build", "-o", hostBin, "../acqhost").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building acqhost: %v\n%s", err, out)
		os.Exit(1)
	}
	simBin = filepath.Join(dir, "possim")
	out, err = exec.Command("go", "build", "-o", simBin, "../possim").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building possim: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type agent struct {
	t      *testing.T
	dir    string
	cfg    string
	sock   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	// bin and env, when set, replace agentBin and add to the environment
	// of the next start (a failpoint build, POSAGENT_FAILPOINT).
	bin string
	env []string
}

func writeConfig(t *testing.T, dir, autotap string) string {
	t.Helper()
	cfg := filepath.Join(dir, "posagent.toml")
	body := fmt.Sprintf(`[terminal]
tid = "12345678"
mid = "898310048160001"
merchant_name = "Test Shop"

[journal]
path = %q
key_file = %q
lock_timeout = "200ms"

[board]
profile = "standin"
sim_dir = %q
sim_autotap = %q

[api]
socket = %q

[payment]
auth_timeout = "2s"
# the shortest spacing (doubled after each attempt), so that a reversal
# that met a cut link is sent again within a test's time
reversal_spacing = "1s"
`, filepath.Join(dir, "journal.db"), filepath.Join(dir, "device.key"), dir, autotap, filepath.Join(dir, "api.sock"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startAgent(t *testing.T, dir string) *agent {
	t.Helper()
	a := &agent{t: t, dir: dir, cfg: writeConfig(t, dir, "300ms"), sock: filepath.Join(dir, "api.sock"), stderr: &bytes.Buffer{}}
	a.start(t)
	return a
}

// start (re)starts the agent process and waits for its API.
func (a *agent) start(t *testing.T) {
	t.Helper()
	bin := agentBin
	if a.bin != "" {
		bin = a.bin
	}
	a.cmd = exec.Command(bin, "run", "--config", a.cfg)
	a.cmd.Env = append(os.Environ(), a.env...)
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := a.cli("status"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not come up:\n%s", a.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill -9s the agent.
func (a *agent) kill() {
	if a.cmd.Process != nil && a.cmd.ProcessState == nil {
		_ = a.cmd.Process.Kill()
		_ = a.cmd.Wait()
	}
}

func (a *agent) stop() {
	if a.cmd.Process == nil || a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}

// cli runs a posagent client command against the agent.
func (a *agent) cli(args ...string) (string, error) {
	cmd := exec.Command(agentBin, args...)
	cmd.Env = append(os.Environ(), "POSAGENT_SOCKET="+a.sock, "POSAGENT_CONFIG="+a.cfg)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPayAppearsInJournalMasked(t *testing.T) {
	a := startAgent(t, t.TempDir())
	out, err := a.cli("pay", "12.34")
	if err != nil {
		t.Fatalf("pay: %v\n%s\nagent:\n%s", err, out, a.stderr)
	}
	for _, want := range []string{"waiting_for_card", "authorising", "approved", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("pay output lacks %q:\n%s", want, out)
		}
	}
	pan := standin.TestCards["UnionPay"].Sensitive.PAN
	masked := pan[:6] + strings.Repeat("*", len(pan)-10) + pan[len(pan)-4:]

	ls, err := a.cli("journal", "ls", "--json")
	if err != nil {
		t.Fatalf("journal ls: %v\n%s", err, ls)
	}
	var recs []txn.Record
	if err := json.Unmarshal([]byte(ls), &recs); err != nil {
		t.Fatalf("journal ls --json: %v\n%s", err, ls)
	}
	if len(recs) != 1 || recs[0].State != txn.Approved || recs[0].Amount.Minor != 1234 || recs[0].MaskedPAN != masked {
		t.Fatalf("journal ls = %+v, want one approved 12.34 sale with PAN %s", recs, masked)
	}
	if len(recs[0].Sealed) != 0 {
		t.Error("acknowledged transaction still has sealed data")
	}
	table, _ := a.cli("journal", "ls")
	if !strings.Contains(table, masked) || strings.Contains(table, pan) {
		t.Errorf("journal ls table:\n%s", table)
	}

	// A declined sale: the reason reaches the merchant and the journal.
	out, err = a.cli("pay", "12.51")
	if err == nil || !strings.Contains(out, "51") {
		t.Errorf("pay 12.51 should be declined with 51: err=%v\n%s", err, out)
	}

	if out, err := a.cli("journal", "verify"); err != nil || !strings.Contains(out, "journal ok") {
		t.Errorf("journal verify via agent: %v\n%s", err, out)
	}

	// The journal file never holds the PAN in clear, nor the track 2 data.
	a.stop()
	raw, err := os.ReadFile(filepath.Join(a.dir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(pan)) {
		t.Fatal("journal file contains the test card's PAN in clear")
	}
	if t2 := standin.TestCards["UnionPay"].Sensitive.Track2; t2 != "" && bytes.Contains(raw, []byte(t2)) {
		t.Fatal("journal file contains track 2 data in clear")
	}
	if strings.Contains(a.stderr.String(), pan) {
		t.Fatal("agent log contains the PAN in clear")
	}
	// With the agent stopped, the CLI reads the file itself.
	out, err = a.cli("journal", "verify")
	if err != nil || !strings.Contains(out, "journal ok") {
		t.Errorf("journal verify on the file: %v\n%s", err, out)
	}
	out, err = a.cli("journal", "ls")
	if err != nil || !strings.Contains(out, masked) {
		t.Errorf("journal ls on the file: %v\n%s", err, out)
	}
}

func TestSecondAgentExitsAtOnce(t *testing.T) {
	a := startAgent(t, t.TempDir())
	cmd := exec.Command(agentBin, "run", "--config", a.cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("second agent: want non-zero exit, got %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("second agent on the same journal did not exit")
	}
	if !strings.Contains(stderr.String(), "already running") {
		t.Errorf("second agent's message is not clear:\n%s", stderr.String())
	}
	// The first agent is unharmed.
	if _, err := a.cli("status"); err != nil {
		t.Errorf("first agent after the second's attempt: %v", err)
	}
}

func TestCorruptJournalRefusesPaymentsButAgentRuns(t *testing.T) {
	dir := t.TempDir()
	garbage := bytes.Repeat([]byte("not a bbolt file "), 512)
	jpath := filepath.Join(dir, "journal.db")
	if err := os.WriteFile(jpath, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, dir)
	st, err := a.cli("status")
	if err != nil || !strings.Contains(st, "UNTRUSTED") {
		t.Errorf("status should say the journal is untrusted: %v\n%s", err, st)
	}
	out, err := a.cli("pay", "1.00")
	if err == nil || !strings.Contains(out, "journal") {
		t.Errorf("pay with a corrupt journal should be refused naming the journal: %v\n%s", err, out)
	}
	a.stop()
	after, _ := os.ReadFile(jpath)
	if !bytes.Equal(after, garbage) {
		t.Fatal("the corrupt journal file was modified; it must be kept as it is for recovery")
	}
}

func TestVersionAndConfigCheck(t *testing.T) {
	out, err := exec.Command(agentBin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "posagent ") {
		t.Fatalf("version: %v %s", err, out)
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "1s")
	if out, err := exec.Command(agentBin, "config", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("config check: %v %s", err, out)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[terminal]\ntid = \"123\"\n"), 0o600)
	out, err = exec.Command(agentBin, "config", "check", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "terminal.tid") {
		t.Fatalf("config check of a bad file: %v %s", err, out)
	}
}
