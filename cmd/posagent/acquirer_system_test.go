package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/core/payment"
)

// These tests run posagent against the reference acquirer host, both as
// real processes talking ISO 8583 over loopback TCP.

const testTMK = "0123456789ABCDEFFEDCBA9876543210"

type acqProc struct {
	cmd   *exec.Cmd
	admin string
	addr  string
	errb  *bytes.Buffer
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startHost starts acqhost with its own config and bbolt file in dir;
// flags (the fault flags: --drop-every, --latency …) go to serve.
func startHost(t *testing.T, dir string, flags ...string) *acqProc {
	t.Helper()
	h := &acqProc{addr: freePort(t), admin: freePort(t), errb: &bytes.Buffer{}}
	cfg := filepath.Join(dir, "acqhost.toml")
	body := fmt.Sprintf(`listen = %q
admin = %q
db = "acqhost.db"
[[terminals]]
tid = "12345678"
mid = "898310048160001"
tmk = %q
name = "system test"
`, h.addr, h.admin, testTMK)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command(hostBin, append([]string{"serve", "--config", cfg}, flags...)...)
	h.cmd.Stderr = h.errb
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGCONT)
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + h.admin + "/stats"); err == nil {
			resp.Body.Close()
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("acqhost did not come up:\n%s", h.errb)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hostTxn is the part of acqhost's /transactions rows the tests read.
type hostTxn struct {
	STAN    string `json:"stan"`
	MTI     string `json:"mti"`
	Kind    string `json:"type"`
	Amount  int64  `json:"amount"`
	RC      string `json:"rc"`
	State   string `json:"state"`
	Repeats int    `json:"repeats"`
	PAN     string `json:"masked_pan"`
}

// dropped is the number of answers the host left unsent on purpose
// (--drop-every), from its /stats.
func (h *acqProc) dropped(t *testing.T) int64 {
	t.Helper()
	resp, err := http.Get("http://" + h.admin + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Dropped int64 `json:"dropped"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Dropped
}

func (h *acqProc) transactions(t *testing.T) []hostTxn {
	t.Helper()
	resp, err := http.Get("http://" + h.admin + "/transactions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []hostTxn
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// startLinkedAgent starts posagent on the sim board with the real ISO 8583
// link to the host, after loading the TMK as a technician would.
func startLinkedAgent(t *testing.T, dir string, h *acqProc) *agent {
	t.Helper()
	a := &agent{t: t, dir: dir, cfg: writeConfig(t, dir, "300ms"), sock: filepath.Join(dir, "api.sock"), stderr: &bytes.Buffer{}}
	f, err := os.OpenFile(a.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[acquirer]\nprimary = %q\nconnect_timeout = \"2s\"\n", h.addr)
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "device.key"), bytes.Repeat([]byte{0x5a}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := a.cli("keys", "load", "--config", a.cfg, "--component", testTMK); err != nil || !strings.Contains(out, "08D7B4FB") {
		t.Fatalf("keys load: %v\n%s", err, out)
	}
	a.start(t)
	return a
}

func TestOnlineSalesThroughReferenceHost(t *testing.T) {
	dir := t.TempDir()
	h := startHost(t, dir)
	a := startLinkedAgent(t, dir, h)

	out, err := a.cli("pay", "12.34")
	if err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("pay 12.34: %v\n%s\nagent:\n%s", err, out, a.stderr)
	}
	out, err = a.cli("pay", "12.51")
	if err == nil || !strings.Contains(out, "51 insufficient funds") {
		t.Fatalf("pay 12.51 should be declined with the reason shown: %v\n%s", err, out)
	}
	ls, _ := a.cli("journal", "ls")
	if !strings.Contains(ls, "declined") || !strings.Contains(ls, "approved") {
		t.Errorf("journal ls:\n%s", ls)
	}
	show, _ := a.cli("journal", "ls", "--json")
	if !strings.Contains(show, `"response_code": "51"`) {
		t.Errorf("the decline's code is not in the journal:\n%s", show)
	}
	txns := h.transactions(t)
	if len(txns) != 2 {
		t.Fatalf("host holds %d transactions, want 2: %+v", len(txns), txns)
	}
	for _, tx := range txns {
		if tx.Amount == 1234 && (tx.State != "approved" || tx.RC != "00") {
			t.Errorf("host: 12.34 is %+v", tx)
		}
		if tx.Amount == 1251 && tx.RC != "51" {
			t.Errorf("host: 12.51 is %+v", tx)
		}
		if strings.Contains(tx.PAN, "23456789") {
			t.Errorf("host shows an unmasked PAN %q", tx.PAN)
		}
	}
}

// A host that does not answer: posagent times out, journals a reversal,
// and sends it before the next sale; the host holds the original
// reversed, once.
func TestNoAnswerReversedBeforeNextSale(t *testing.T) {
	dir := t.TempDir()
	h := startHost(t, dir)
	a := startLinkedAgent(t, dir, h)

	// Pay 12.98 (the host's "no answer" amount) and freeze the host while
	// the terminal waits, so the immediate reversal attempt cannot get
	// through either.
	cmd := exec.Command(agentBin, "pay", "--json", "12.98")
	cmd.Env = append(os.Environ(), "POSAGENT_SOCKET="+a.sock)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var last payment.Event
	stopped := false
	for sc.Scan() {
		var ev payment.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		last = ev
		if ev.Step == payment.StepAuthorising && !stopped {
			if err := h.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stopped = true
		}
	}
	_ = cmd.Wait()
	if !stopped || last.Record == nil || last.Record.State != "reversal_pending" {
		t.Fatalf("after the unanswered sale: last event %+v; want the record reversal_pending", last)
	}
	st, _ := a.cli("status", "--json")
	if !strings.Contains(st, `"reversals_pending": 1`) {
		t.Errorf("status does not show the pending reversal:\n%s", st)
	}

	// The host comes back. The next sale sends the reversal first.
	if err := h.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	out, err := a.cli("pay", "3.00")
	if err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("next sale: %v\n%s\nagent:\n%s", err, out, a.stderr)
	}
	ls, _ := a.cli("journal", "ls")
	if !strings.Contains(ls, "reversed") {
		t.Errorf("journal does not show the reversal done:\n%s", ls)
	}
	var sale, reversals int
	for _, tx := range h.transactions(t) {
		switch {
		case tx.Amount == 1298 && tx.Kind == "sale":
			sale++
			if !strings.HasPrefix(tx.State, "reversed") {
				t.Errorf("host: original is %q, want reversed", tx.State)
			}
		case tx.Amount == 1298 && tx.Kind == "reversal":
			reversals++
		}
	}
	if sale != 1 || reversals != 1 {
		t.Errorf("host holds %d originals and %d reversals of 12.98, want one each:\n%+v", sale, reversals, h.transactions(t))
	}
	if out, err := a.cli("journal", "verify"); err != nil {
		t.Errorf("journal verify: %v\n%s", err, out)
	}
}
