package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// More store-and-forward proof: the whole terminal (posagent, possim,
// acqhost) as real processes with the 4G data path cut by the emulated
// modem and by the fault proxy; and a crash at the exact moment the
// forwarder commits a group of acknowledgements.

var (
	fpOnce sync.Once
	fpBin  string
	fpErr  error
)

// failpointAgentBin builds posagent with -tags failpoints (once per test
// binary): the same program, plus store's POSAGENT_FAILPOINT hook that
// SIGKILLs the process inside a chosen journal write.
func failpointAgentBin(t *testing.T) string {
	t.Helper()
	fpOnce.Do(func() {
		fpBin = filepath.Join(filepath.Dir(agentBin), "posagent-failpoints")
		out, err := exec.Command("go", "build", "-tags", "failpoints", "-o", fpBin, ".").CombinedOutput()
		if err != nil {
			fpErr = fmt.Errorf("building posagent -tags failpoints: %v\n%s", err, out)
		}
	})
	if fpErr != nil {
		t.Fatal(fpErr)
	}
	return fpBin
}

// waitExit waits for an agent process that is expected to end by itself.
func (a *agent) waitExit(t *testing.T, within time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("agent still running after %v\n%s", within, a.stderr)
	}
}

// The host has answered a group of stored sales; the agent dies (SIGKILL)
// inside the bbolt Update that records those answers, before it commits.
// The restarted agent still holds them as stored, resends them with the
// repeat MTI and the same identity, and the host answers from its dedupe:
// each sale is at the host once, never twice.
func TestKillDuringAckCommitResendsWithoutDoubleCharge(t *testing.T) {
	dir := t.TempDir()
	h := startHost(t, dir)
	px := newFaultProxy(t, h.addr)
	a := startOfflineAgent(t, dir, px.addr())
	if out, err := a.cli("pay", "1.00"); err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("online sale: %v\n%s\n%s", err, out, a.stderr)
	}
	px.cut()
	amounts := []string{"2.00", "3.00", "4.00", "5.00"}
	for _, amt := range amounts {
		if out, err := a.cli("pay", amt); err != nil || !strings.Contains(out, "stored_offline") {
			t.Fatalf("pay %s with the link cut: %v\n%s\nagent:\n%s", amt, err, out, a.stderr)
		}
	}

	// Restart as the failpoint build: the first group commit of the
	// forwarder kills the process before it commits.
	a.stop()
	a.bin = failpointAgentBin(t)
	a.env = []string{"POSAGENT_FAILPOINT=transition many:after-index:1"}
	a.start(t)
	px.restore(t)
	_, _ = a.cli("sync")
	a.waitExit(t, 60*time.Second)
	if !strings.Contains(a.stderr.String(), "failpoint transition many:after-index:1: SIGKILL") {
		t.Fatalf("the agent ended, but not at the failpoint:\n%s", a.stderr)
	}

	// The host answered at least one of them; the journal, read from the
	// file of the dead agent, still holds every one as stored.
	answered := 0
	for _, tx := range h.transactions(t) {
		if tx.Kind != "reversal" && tx.State == "offline-approved" {
			answered++
		}
	}
	if answered == 0 {
		t.Fatal("the host has none of the stored sales: the kill came before any answer")
	}
	stored := 0
	for _, r := range a.journal(t) {
		if r.State == txn.StoredOffline {
			stored++
		}
	}
	if stored != len(amounts) {
		t.Fatalf("after the kill the journal holds %d stored sales, want %d (the group commit must not have happened)", stored, len(amounts))
	}

	// The normal build again: the drain resends, the host dedupes.
	a.bin, a.env = "", nil
	a.start(t)
	checkExactlyOnce(t, a, h)
	repeats := 0
	for _, tx := range h.transactions(t) {
		repeats += tx.Repeats
	}
	if repeats == 0 {
		t.Errorf("the host saw no repeated message: the resend after the kill did not happen\n%s", a.stderr)
	}
}

// The whole terminal: posagent reads the cards over possim's emulated
// PN532, and reaches acqhost through possim's simulated 4G data path and
// a toxiproxy fault proxy. The link is lost twice, once by the modem
// (possim modem detach) and once by the proxy; the sales taken meanwhile
// are stored, and reach the host exactly once when it returns.
func TestOfflineOverEmulatedDevicesModemAndProxy(t *testing.T) {
	dir := t.TempDir()
	simDir := filepath.Join(dir, "possim")
	h := startHost(t, dir)
	px := newFaultProxy(t, h.addr)
	link := freePort(t)
	s := startPossim(t, simDir, "--link", link+"="+px.addr())
	a := startSimAgent(t, dir, simDir, link, `
[offline]
enabled = true
max_amount = "300.00"
`)
	tap := func(amount, card string, want txn.State) {
		t.Helper()
		ev := payWithTap(t, a, s, amount, card)
		if ev.Record == nil || ev.Record.State != want {
			t.Fatalf("pay %s with %s: last event %+v, want %s\nagent:\n%s", amount, card, ev, want, a.stderr)
		}
		if ev.Step != payment.StepDone {
			t.Fatalf("pay %s ended at %s", amount, ev.Step)
		}
		_, _ = s.ctl("remove")
	}
	tap("10.00", "unionpay", txn.Approved)

	// The modem loses the network: possim cuts its data path.
	if out, err := s.ctl("modem", "detach"); err != nil {
		t.Fatalf("possim modem detach: %v\n%s", err, out)
	}
	tap("11.00", "visa", txn.StoredOffline)
	tap("12.00", "mastercard", txn.StoredOffline)
	if st := a.statusJSON(t); st.Sync == nil || st.Sync.Outbox.Depth != 2 {
		t.Errorf("status with the modem detached: %+v", st.Sync)
	}
	if out, err := s.ctl("modem", "attach"); err != nil {
		t.Fatalf("possim modem attach: %v\n%s", err, out)
	}
	checkExactlyOnce(t, a, h)

	// The proxy cuts the link behind a registered modem.
	px.cut()
	tap("13.00", "unionpay", txn.StoredOffline)
	px.restore(t)
	checkExactlyOnce(t, a, h)

	// The host holds the three stored sales as offline advices.
	advices := 0
	for _, tx := range h.transactions(t) {
		if tx.State == "offline-approved" {
			advices++
		}
	}
	if advices != 3 {
		t.Errorf("host holds %d offline advices, want 3", advices)
	}
}

// The agent restarts while the host is unreachable (a power cut in a shop
// whose 4G is down): from the sign-in and keys cached in its journal it
// takes sales offline from boot, and forwards them once the link returns.
func TestOfflineFromBoot(t *testing.T) {
	dir := t.TempDir()
	h := startHost(t, dir)
	px := newFaultProxy(t, h.addr)
	a := startOfflineAgent(t, dir, px.addr())
	if out, err := a.cli("pay", "1.00"); err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("online sale (signs in): %v\n%s\n%s", err, out, a.stderr)
	}
	a.stop()
	px.cut()
	a.start(t)
	if st := a.statusJSON(t); !st.Engine.Offline.Armed {
		t.Fatalf("offline not armed at boot with the host unreachable: %+v", st.Engine.Offline)
	}
	for _, amt := range []string{"2.00", "3.00"} {
		if out, err := a.cli("pay", amt); err != nil || !strings.Contains(out, "stored_offline") {
			t.Fatalf("pay %s after booting offline: %v\n%s\nagent:\n%s", amt, err, out, a.stderr)
		}
	}
	px.restore(t)
	checkExactlyOnce(t, a, h)
}
