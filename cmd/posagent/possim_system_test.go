package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/payment"
)

// The whole terminal as separate processes: possim (the emulated PN532
// reader, printer, scanner and modem on pseudo-terminals), acqhost (the
// reference acquirer) and posagent on the sim board, opening the real
// drivers on possim's devices.

type simProc struct {
	cmd  *exec.Cmd
	dir  string
	errb *bytes.Buffer
}

// startPossim starts possim with its devices in dir; flags (--link …) go
// to run.
func startPossim(t *testing.T, dir string, flags ...string) *simProc {
	t.Helper()
	s := &simProc{dir: dir, errb: &bytes.Buffer{}}
	s.cmd = exec.Command(simBin, append([]string{"run", "--dir", dir}, flags...)...)
	s.cmd.Stderr = s.errb
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := s.ctl("devices"); err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("possim did not come up:\n%s", s.errb)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *simProc) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func (s *simProc) ctl(args ...string) (string, error) {
	out, err := exec.Command(simBin, append(args, "--dir", s.dir)...).CombinedOutput()
	return string(out), err
}

// startSimAgent starts posagent on the sim board over possim's devices in
// simDir, its acquirer link to primary; extra is appended to its config.
func startSimAgent(t *testing.T, dir, simDir, primary, extra string) *agent {
	t.Helper()
	a := &agent{t: t, dir: dir, cfg: filepath.Join(dir, "posagent.toml"), sock: filepath.Join(dir, "api.sock"), stderr: &bytes.Buffer{}}
	body := fmt.Sprintf(`[terminal]
tid = "12345678"
mid = "898310048160001"
merchant_name = "测试商户 Sim Shop"
[journal]
path = %q
key_file = %q
[board]
profile = "sim"
sim_dir = %q
[api]
socket = %q
[payment]
auth_timeout = "3s"
card_timeout = "20s"
reversal_spacing = "1s"
[acquirer]
primary = %q
connect_timeout = "2s"
`, filepath.Join(dir, "journal.db"), filepath.Join(dir, "device.key"), simDir, a.sock, primary) + extra
	if err := os.WriteFile(a.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "device.key"), bytes.Repeat([]byte{0x33}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := a.cli("keys", "load", "--config", a.cfg, "--component", testTMK); err != nil {
		t.Fatalf("keys load: %v\n%s", err, out)
	}
	a.start(t)
	return a
}

// payWithTap starts a sale and taps card in possim once the agent waits
// for it; it returns the final event.
func payWithTap(t *testing.T, a *agent, s *simProc, amount, cardName string) payment.Event {
	t.Helper()
	cmd := exec.Command(agentBin, "pay", "--json", amount)
	cmd.Env = append(os.Environ(), "POSAGENT_SOCKET="+a.sock)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var last payment.Event
	for sc.Scan() {
		var ev payment.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		last = ev
		if ev.Step == payment.StepWaitingForCard {
			if out, err := s.ctl("tap", cardName); err != nil {
				t.Fatalf("possim tap: %v %s", err, out)
			}
		}
	}
	_ = cmd.Wait()
	return last
}

func TestSaleOverEmulatedDevices(t *testing.T) {
	dir := t.TempDir()
	simDir := filepath.Join(dir, "possim")
	s := startPossim(t, simDir)
	h := startHost(t, dir)
	a := startSimAgent(t, dir, simDir, h.addr, "")

	// A technician's first command after make run: diag before any sale,
	// with the PN532 still asleep in Low VBat mode as it powered up.
	if out, err := a.cli("diag"); err != nil || strings.Contains(out, "MISSING") || strings.Contains(out, "FAULTY") {
		t.Fatalf("diag before the first sale: %v\n%s", err, out)
	}

	for _, c := range []struct{ card, scheme string }{{"unionpay", "UnionPay"}, {"visa", "Visa"}, {"mastercard", "Mastercard"}} {
		ev := payWithTap(t, a, s, "12.34", c.card)
		if ev.Record == nil || ev.Record.State != "approved" || ev.Record.Scheme != c.scheme || !strings.Contains(ev.Record.MaskedPAN, "******") {
			t.Fatalf("%s sale over the emulated PN532: last event %+v\nagent:\n%s", c.card, ev, a.stderr)
		}
		if out, _ := s.ctl("remove"); out == "" {
			t.Fatal("possim remove said nothing")
		}
	}
	// possim printed the receipts: text and PNG.
	var rec string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rec, _ = s.ctl("receipts")
		if strings.Count(rec, "── receipt") >= 6 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"测试商户", "621234", "CUSTOMER COPY", "MERCHANT COPY", "12.34"} {
		if !strings.Contains(rec, want) {
			t.Errorf("printed receipts lack %q:\n%s", want, rec)
		}
	}
	pngs, _ := filepath.Glob(filepath.Join(simDir, "receipts", "*.png"))
	if len(pngs) == 0 {
		t.Fatal("possim wrote no receipt PNG")
	}
	f, err := os.Open(pngs[0])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 384 {
		t.Fatalf("receipt PNG: %v, %v", err, img.Bounds())
	}

	// The self-test sees every emulated device.
	out, err := a.cli("diag")
	if err != nil {
		t.Fatalf("diag: %v\n%s", err, out)
	}
	for _, dev := range []string{"reader", "printer", "scanner", "modem"} {
		if !strings.Contains(out, dev) {
			t.Errorf("diag does not report %s:\n%s", dev, out)
		}
	}
	if strings.Contains(out, "MISSING") || strings.Contains(out, "FAULTY") {
		t.Errorf("diag with every device present:\n%s", out)
	}

	// Unplug the reader: diag names it and fails.
	if o, err := s.ctl("unplug", "pn532"); err != nil {
		t.Fatal(err, o)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		out, err = a.cli("diag")
		if err != nil && strings.Contains(out, "reader") && (strings.Contains(out, "MISSING") || strings.Contains(out, "FAULTY")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("diag after unplugging the reader: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Replug: the agent reopens it without a restart and sells again.
	if o, err := s.ctl("replug", "pn532"); err != nil {
		t.Fatal(err, o)
	}
	ev := payWithTap(t, a, s, "5.00", "unionpay")
	if ev.Record == nil || ev.Record.State != "approved" {
		t.Fatalf("sale after replug: %+v\nagent:\n%s", ev, a.stderr)
	}

	// possim stopped altogether: diag names every device missing.
	s.stop()
	deadline = time.Now().Add(15 * time.Second)
	for {
		out, err = a.cli("diag")
		if err != nil && strings.Count(out, "MISSING")+strings.Count(out, "FAULTY") >= 2 && strings.Contains(out, "printer") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("diag with possim stopped: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
