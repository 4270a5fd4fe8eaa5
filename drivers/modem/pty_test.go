//go:build linux

package modem

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.bug.st/serial"
	"golang.org/x/sys/unix"

	emu "github.com/posagent/posagent/cmd/possim/emu/modem"
)

// openPTY opens a pseudo-terminal: the master side for the emulator and
// the slave opened through go.bug.st/serial, the code path the board
// wiring uses (no modem lines: a pty refuses those ioctls).
//
// creack/pty leaves the master in blocking mode, where Close does not
// interrupt a pending read; the master is re-made non-blocking so that
// closing it releases the emulator and hangs up the slave, as an
// unplugged USB device does.
func openPTY(t testing.TB) (*os.File, serial.Port) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal available here: %v", err)
	}
	fd, err := unix.Dup(int(ptmx.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	ptmx.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	master := os.NewFile(uintptr(fd), "ptmx")
	name := tty.Name()
	tty.Close()
	port, err := serial.Open(name, &serial.Mode{BaudRate: 115200})
	if err != nil {
		master.Close()
		t.Fatalf("serial.Open(%s): %v", name, err)
	}
	return master, port
}

// rig is a driver talking to the emulator over a pseudo-terminal.
type rig struct {
	t      testing.TB
	emu    *emu.Modem
	m      *Modem
	mu     sync.Mutex
	master *os.File
	served chan error // results of Serve, one per session
	ctx    context.Context
}

// testOptions keep the failure tests short.
func testOptions() Options {
	return Options{
		CommandTimeout:  time.Second,
		CFUNTimeout:     time.Second,
		LivenessTimeout: 300 * time.Millisecond,
		BootTimeout:     3 * time.Second,
	}
}

func newRig(t testing.TB, st emu.State, o Options) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, emu: emu.New(st), served: make(chan error, 4), ctx: ctx}
	master, port := openPTY(t)
	r.m = New(port, o)
	r.serve(master)
	t.Cleanup(func() {
		r.m.Close()
		cancel()
		r.mu.Lock()
		r.master.Close()
		r.mu.Unlock()
	})
	return r
}

// serve runs the emulator on master.
func (r *rig) serve(master *os.File) {
	r.mu.Lock()
	r.master = master
	r.mu.Unlock()
	go func() { r.served <- r.emu.Serve(r.ctx, master) }()
}

func (r *rig) init(ctx context.Context) {
	r.t.Helper()
	if err := r.m.Init(ctx); err != nil {
		r.t.Fatalf("Init: %v", err)
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// nextURC waits for a URC.
func nextURC(t *testing.T, m *Modem) URC {
	t.Helper()
	select {
	case u := <-m.URCs():
		return u
	case <-time.After(2 * time.Second):
		t.Fatal("no URC")
	}
	return URC{}
}

func TestInitAndReadsOverPTY(t *testing.T) {
	r := newRig(t, emu.Default(), testOptions())
	ctx := ctxT(t, 10*time.Second)
	r.init(ctx)
	// The module starts with ATE1: the echo of the first commands was
	// dropped, and Init turned it off and chose verbose errors.
	if r.emu.Echo() || r.emu.CMEE() != 2 {
		t.Fatalf("after Init echo=%v CMEE=%d", r.emu.Echo(), r.emu.CMEE())
	}
	if st := r.m.Stats(); st.Echoes == 0 {
		t.Errorf("no echo was dropped: %+v", st)
	}
	got := r.emu.Received()
	for _, want := range []string{"AT", "ATE0", "AT+CMEE=2", "AT+QSCLK=0", "AT+CREG=2", "AT+CEREG=2"} {
		if !slices.Contains(got, want) {
			t.Errorf("Init did not send %s (sent %q)", want, got)
		}
	}

	id, err := r.m.Identity(ctx)
	if err != nil || id != (Identity{Manufacturer: "Quectel", Model: "EC25", Revision: "EC25EFAR06A03M4G"}) {
		t.Errorf("Identity = %+v, %v", id, err)
	}
	info, err := r.m.Info(ctx)
	if err != nil || info.ICCID != "89860012345678901234" || info.Model != "EC25" {
		t.Errorf("Info = %+v, %v", info, err)
	}
	if sim, err := r.m.SIM(ctx); err != nil || sim != SIMReady {
		t.Errorf("SIM = %q, %v", sim, err)
	}
	if s, err := r.m.Signal(ctx); err != nil || s != (Signal{CSQ: 20, BER: 99, DBm: -73, Known: true}) {
		t.Errorf("Signal = %+v, %v", s, err)
	}
	wantReg := Registration{N: 2, Stat: RegHome, Area: "4E2F", CellID: "1A2B3C4", AcT: 7}
	if reg, err := r.m.CREG(ctx); err != nil || reg != withResp(wantReg, "+CREG") {
		t.Errorf("CREG = %+v, %v", reg, err)
	}
	if reg, err := r.m.CEREG(ctx); err != nil || reg != withResp(wantReg, "+CEREG") {
		t.Errorf("CEREG = %+v, %v", reg, err)
	}
	if op, err := r.m.Operator(ctx); err != nil || op != (Operator{Mode: 0, Format: 0, Name: "CHN-UNICOM", AcT: 7}) {
		t.Errorf("Operator = %+v, %v", op, err)
	}
	sc, err := r.m.ServingCell(ctx)
	if err != nil || sc.State != "NOCONN" || sc.RAT != "LTE" || sc.LTE == nil {
		t.Fatalf("ServingCell = %+v, %v", sc, err)
	}
	if l := sc.LTE; l.MCC != "460" || l.MNC != "01" || l.CellID != 0x1A2B3C4 || l.PCI != v(201) ||
		l.EARFCN != v(1650) || l.Band != v(3) || l.TAC != 0x4E2F || l.RSRP != v(-95) || l.RSRQ != v(-11) ||
		l.RSSI != v(-65) || l.SINR != v(12) || l.CQI != v(9) || l.TxPower.Valid || l.Srxlev != v(33) {
		t.Errorf("LTE cell = %+v", *l)
	}
	st, err := r.m.Status(ctx)
	if err != nil || !st.Responsive || st.SIM != SIMReady || !st.Registered || st.Roaming ||
		st.Operator != "CHN-UNICOM" || st.Signal.DBm != -73 || st.Cell == nil || st.Location != nil {
		t.Errorf("Status = %+v, %v", st, err)
	}
	if err := r.m.Liveness(ctx); err != nil {
		t.Errorf("Liveness: %v", err)
	}
	if lines, err := r.m.Command(ctx, "AT+CGSN"); err != nil || !slices.Equal(lines, []string{"867929060000001"}) {
		t.Errorf("Command(AT+CGSN) = %q, %v", lines, err)
	}
}

func withResp(r Registration, resp string) Registration { r.Resp = resp; return r }

// TestURCDuringPendingQuery is user-issues §10.8: a +CEREG URC arrives
// while AT+CEREG? waits for its answer, before it and between it and OK.
// The answer is the read form; both URCs go to the URC channel.
func TestURCDuringPendingQuery(t *testing.T) {
	r := newRig(t, emu.Default(), testOptions())
	ctx := ctxT(t, 10*time.Second)
	r.init(ctx)

	if _, err := r.m.Command(ctx, "AT+CEREG=0"); err != nil {
		t.Fatal(err)
	}
	r.emu.URCBefore("AT+CEREG?", "+CEREG: 1")
	reg, err := r.m.CEREG(ctx)
	if err != nil || reg.N != 0 || reg.Stat != RegHome {
		t.Fatalf("CEREG with n=0 = %+v, %v; want the answer +CEREG: 0,1", reg, err)
	}
	if u := nextURC(t, r.m); u.Name != "+CEREG" || u.Line != "+CEREG: 1" {
		t.Fatalf("URC = %+v", u)
	}

	if _, err := r.m.Command(ctx, "AT+CEREG=2"); err != nil {
		t.Fatal(err)
	}
	r.emu.URCBefore("AT+CEREG?", "+CEREG: 2")
	r.emu.URCInside("AT+CEREG?", `+CEREG: 5,"4E2F","1A2B3C4",7`, "+QIND: SMS DONE")
	reg, err = r.m.CEREG(ctx)
	if err != nil || reg != (Registration{Resp: "+CEREG", N: 2, Stat: RegHome, Area: "4E2F", CellID: "1A2B3C4", AcT: 7}) {
		t.Fatalf("CEREG with n=2 = %+v, %v", reg, err)
	}
	for _, want := range []string{"+CEREG: 2", `+CEREG: 5,"4E2F","1A2B3C4",7`, "+QIND: SMS DONE"} {
		if u := nextURC(t, r.m); u.Line != want {
			t.Fatalf("URC %q, want %q", u.Line, want)
		}
	}
	// A registration change on the module side arrives as a URC.
	r.emu.Update(func(s *emu.State) { s.Reg = 5 })
	for _, want := range []string{`+CREG: 5,"4E2F","1A2B3C4",7`, `+CEREG: 5,"4E2F","1A2B3C4",7`} {
		u := nextURC(t, r.m)
		if u.Line != want {
			t.Fatalf("URC %q, want %q", u.Line, want)
		}
		if reg, err := ParseRegistration(u.Line); err != nil || reg.N != -1 || reg.Stat != RegRoaming {
			t.Fatalf("URC %q parsed as %+v, %v", u.Line, reg, err)
		}
	}
}

// TestCMEErrors maps +CME ERROR with AT+CMEE=2 (Init's choice), =1 and
// =0, on a module without a SIM.
func TestCMEErrors(t *testing.T) {
	st := emu.Default()
	st.SIM = emu.SIMAbsent
	r := newRig(t, st, testOptions())
	ctx := ctxT(t, 10*time.Second)
	r.init(ctx)

	if sim, err := r.m.SIM(ctx); err != nil || sim != SIMNotInserted {
		t.Fatalf("SIM = %q, %v; want NOT INSERTED", sim, err)
	}
	_, err := r.m.ICCID(ctx)
	var ce *CMEError
	if !errors.As(err, &ce) || ce.Code != 10 || ce.Text != "SIM not inserted" || ce.Cmd != "AT+QCCID" {
		t.Fatalf("ICCID with CMEE=2: %v (%+v)", err, ce)
	}
	if !errors.Is(err, ErrSIMNotInserted) || !errors.Is(err, ErrCommand) {
		t.Fatalf("ICCID error %v does not match ErrSIMNotInserted and ErrCommand", err)
	}
	if info, err := r.m.Info(ctx); err != nil || info.ICCID != "" || info.Model != "EC25" {
		t.Fatalf("Info without SIM = %+v, %v", info, err)
	}
	status, err := r.m.Status(ctx)
	if err != nil || !status.Responsive || status.SIM != SIMNotInserted || status.Registered || status.Operator != "" {
		t.Fatalf("Status without SIM = %+v, %v", status, err)
	}

	if _, err := r.m.Command(ctx, "AT+CMEE=1"); err != nil {
		t.Fatal(err)
	}
	_, err = r.m.ICCID(ctx)
	if !errors.As(err, &ce) || ce.Code != 10 || ce.Text != "SIM not inserted" {
		t.Fatalf("ICCID with CMEE=1: %v", err)
	}
	if sim, err := r.m.SIM(ctx); err != nil || sim != SIMNotInserted {
		t.Fatalf("SIM with CMEE=1 = %q, %v", sim, err)
	}

	if _, err := r.m.Command(ctx, "AT+CMEE=0"); err != nil {
		t.Fatal(err)
	}
	_, err = r.m.ICCID(ctx)
	if !errors.Is(err, ErrCommand) || errors.As(err, &ce) {
		t.Fatalf("ICCID with CMEE=0: %v, want a plain ERROR", err)
	}
	if _, err := r.m.Command(ctx, "AT+NOSUCH"); !errors.Is(err, ErrCommand) {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestGNSSOverPTY(t *testing.T) {
	o := testOptions()
	o.GNSS = true
	r := newRig(t, emu.Default(), o)
	ctx := ctxT(t, 10*time.Second)
	r.init(ctx)
	r.init(ctx) // AT+QGPS=1 again: 504 "session is ongoing" is fine

	_, err := r.m.Location(ctx)
	if !errors.Is(err, ErrNoFix) {
		t.Fatalf("Location without fix: %v, want ErrNoFix", err)
	}
	st, err := r.m.Status(ctx)
	if err != nil || st.Location != nil {
		t.Fatalf("Status without fix = %+v, %v", st, err)
	}
	r.emu.Update(func(s *emu.State) {
		s.Fix = &emu.Fix{UTC: time.Date(2026, 3, 1, 8, 0, 1, 0, time.UTC), Lat: 31.23042, Lon: 121.47370,
			HDOP: 0.9, Altitude: 12.5, Mode: 3, COG: 90.5, SpeedKmh: 3.6, SpeedKnots: 1.9, Satellites: 11}
	})
	fx, err := r.m.Location(ctx)
	if err != nil || fx.Lat != 31.23042 || fx.Lon != 121.4737 || fx.Mode != 3 || fx.Satellites != 11 ||
		!fx.Time.Equal(time.Date(2026, 3, 1, 8, 0, 1, 0, time.UTC)) {
		t.Fatalf("Location = %+v, %v", fx, err)
	}
	if _, err := r.m.Command(ctx, "AT+QGPSEND"); err != nil {
		t.Fatal(err)
	}
	_, err = r.m.Location(ctx)
	var ce *CMEError
	if !errors.As(err, &ce) || ce.Code != CMEGNSSSessionNotActive || errors.Is(err, ErrNoFix) {
		t.Fatalf("Location with GNSS off: %v, want +CME ERROR 505", err)
	}
}

// TestTimeoutThenUsable: a slow answer times the command out; the late
// answer must not be taken for the next command's.
func TestTimeoutThenUsable(t *testing.T) {
	o := testOptions()
	o.CommandTimeout = 200 * time.Millisecond
	r := newRig(t, emu.Default(), o)
	ctx := ctxT(t, 10*time.Second)
	r.init(ctx)

	r.emu.DelayNextReply(350 * time.Millisecond)
	_, err := r.m.Signal(ctx)
	var te *TimeoutError
	if !errors.As(err, &te) || te.Cmd != "AT+CSQ" || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Signal = %v, want a TimeoutError naming AT+CSQ", err)
	}
	// The late "+CSQ: 20,99" and OK must not become ATI's answer.
	if id, err := r.m.Identity(ctx); err != nil || id.Model != "EC25" {
		t.Fatalf("Identity after the timeout = %+v, %v", id, err)
	}
	if s, err := r.m.Signal(ctx); err != nil || s.CSQ != 20 {
		t.Fatalf("Signal = %+v, %v", s, err)
	}
	if st := r.m.Stats(); st.Timeouts != 1 || st.Stray == 0 {
		t.Fatalf("Stats = %+v, want 1 timeout and the stray late answer", st)
	}
}

// TestWedgedRecoverWithPowerKey is user-issues §10.5: the AT channel stops
// answering. Commands time out, Liveness fails, Recover escalates through
// re-init and AT+CFUN to the power key (here a fake that power-cycles the
// emulator), waits for RDY and re-initialises.
func TestWedgedRecoverWithPowerKey(t *testing.T) {
	o := testOptions()
	o.CommandTimeout = 300 * time.Millisecond
	o.CFUNTimeout = 300 * time.Millisecond
	o.ReinitStepTimeout = 3 * time.Second
	o.SoftResetStepTimeout = 3 * time.Second
	o.PowerKeyStepTimeout = 5 * time.Second
	var pulses int
	var r *rig
	o.PowerKey = func(ctx context.Context) error {
		pulses++
		go func() { // the module boots a little after the pulse
			time.Sleep(100 * time.Millisecond)
			r.emu.PowerCycle()
		}()
		return nil
	}
	r = newRig(t, emu.Default(), o)
	ctx := ctxT(t, 30*time.Second)
	r.init(ctx)

	r.emu.SetWedged(true)
	if _, err := r.m.Signal(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Signal on a wedged channel: %v, want ErrTimeout", err)
	}
	if err := r.m.Liveness(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Liveness on a wedged channel: %v, want ErrTimeout", err)
	}
	rep, err := r.m.Recover(ctx)
	if err != nil || !rep.Recovered || pulses != 1 {
		t.Fatalf("Recover = %v, %v (pulses %d)", rep, err, pulses)
	}
	if len(rep.Steps) != 3 || rep.Steps[0].Step != StepReinit || rep.Steps[1].Step != StepSoftReset ||
		rep.Steps[2].Step != StepPowerKey || !errors.Is(rep.Steps[0].Err, ErrTimeout) ||
		!errors.Is(rep.Steps[1].Err, ErrTimeout) || rep.Steps[2].Err != nil {
		t.Fatalf("report %v", rep)
	}
	// The module rebooted with ATE1 and CMEE=1: Init ran again.
	if r.emu.Echo() || r.emu.CMEE() != 2 {
		t.Fatalf("after recovery echo=%v CMEE=%d: Init did not run", r.emu.Echo(), r.emu.CMEE())
	}
	if s, err := r.m.Signal(ctx); err != nil || s.CSQ != 20 {
		t.Fatalf("Signal after recovery = %+v, %v", s, err)
	}
}

// TestRecoverStopsAtFirstWorkingStep: a channel that only lost its
// settings (echo back on, numeric errors) is fixed by re-init.
func TestRecoverStopsAtFirstWorkingStep(t *testing.T) {
	r := newRig(t, emu.Default(), testOptions())
	ctx := ctxT(t, 10*time.Second)
	r.init(ctx)
	if _, err := r.m.Command(ctx, "ATE1"); err != nil {
		t.Fatal(err)
	}
	rep, err := r.m.Recover(ctx)
	if err != nil || len(rep.Steps) != 1 || rep.Steps[0].Step != StepReinit || r.emu.Echo() {
		t.Fatalf("Recover = %v, %v (echo %v)", rep, err, r.emu.Echo())
	}
	if r.emu.CFUN() != 1 {
		t.Fatal("re-init touched CFUN")
	}
}

// TestRecoverFailsWithoutPowerKey: a wedged module and no power key wired:
// every step fails and the error says so.
func TestRecoverFailsWithoutPowerKey(t *testing.T) {
	o := testOptions()
	o.CommandTimeout = 200 * time.Millisecond
	o.CFUNTimeout = 200 * time.Millisecond
	o.LivenessTimeout = 200 * time.Millisecond
	r := newRig(t, emu.Default(), o)
	ctx := ctxT(t, 20*time.Second)
	r.init(ctx)
	r.emu.SetWedged(true)
	rep, err := r.m.Recover(ctx)
	if !errors.Is(err, ErrNotRecovered) || !errors.Is(err, ErrNoPowerKey) || rep.Recovered || len(rep.Steps) != 3 {
		t.Fatalf("Recover = %v, %v", rep, err)
	}
	if !strings.Contains(rep.String(), "power-key: modem: no power key wired") {
		t.Fatalf("report %q", rep)
	}
}

// TestSoftResetCFUN: AT+CFUN=0 then 1 on a live module, then Init.
func TestSoftResetCFUN(t *testing.T) {
	r := newRig(t, emu.Default(), testOptions())
	ctx := ctxT(t, 10*time.Second)
	r.init(ctx)
	if err := r.m.SoftReset(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.emu.Received()
	i := slices.Index(got, "AT+CFUN=0")
	if i < 0 || i+1 >= len(got) || got[i+1] != "AT+CFUN=1" || r.emu.CFUN() != 1 {
		t.Fatalf("commands %q", got)
	}
}

// TestRebootReattach is user-issues §10.6: AT+CFUN=1,1 resets the module,
// its USB port vanishes (the driver's reads fail: ErrGone, PortLost), a
// new port appears under a new name, the owner hands it over with
// Reattach, the module says RDY with echo back on, and the driver
// re-initialises.
func TestRebootReattach(t *testing.T) {
	o := testOptions()
	o.RebootOnSoftReset = true
	r := newRig(t, emu.Default(), o)
	ctx := ctxT(t, 20*time.Second)
	r.init(ctx)
	lost := r.m.PortLost()

	done := make(chan error, 1)
	go func() { done <- r.m.SoftReset(ctx) }()

	// The harness plays the USB bus and the board wiring.
	select {
	case err := <-r.served:
		if !errors.Is(err, emu.ErrReboot) {
			t.Fatalf("Serve = %v, want ErrReboot", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the module did not reboot")
	}
	r.mu.Lock()
	r.master.Close() // the device node vanishes
	r.mu.Unlock()
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("PortLost not closed after the port vanished")
	}
	if _, err := r.m.Signal(ctx); !errors.Is(err, ErrGone) {
		t.Fatalf("Signal without a port: %v, want ErrGone", err)
	}
	master, port := openPTY(t)
	if err := r.m.Reattach(port); err != nil {
		t.Fatal(err)
	}
	r.serve(master) // the module comes up on the new node: RDY, echo on
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SoftReset with reboot: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SoftReset did not finish after RDY")
	}
	if r.emu.Echo() || r.emu.CMEE() != 2 {
		t.Fatalf("after reboot echo=%v CMEE=%d: Init did not run", r.emu.Echo(), r.emu.CMEE())
	}
	if s, err := r.m.Signal(ctx); err != nil || s.CSQ != 20 {
		t.Fatalf("Signal after reboot = %+v, %v", s, err)
	}
	seenRDY := false
	for len(r.m.URCs()) > 0 {
		if u := <-r.m.URCs(); u.Name == "RDY" {
			seenRDY = true
		}
	}
	if !seenRDY {
		t.Fatal("RDY not delivered as a URC")
	}
	if st := r.m.Stats(); st.PortsLost != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

// TestWatchPublishesChanges: the first poll is published, then a change
// of registration (prompted at once by its URC) and of signal.
func TestWatchPublishesChanges(t *testing.T) {
	r := newRig(t, emu.Default(), testOptions())
	ctx := ctxT(t, 20*time.Second)
	r.init(ctx)
	wctx, cancel := context.WithCancel(ctx)
	ch := r.m.Watch(wctx, 5*time.Second)
	next := func() Connectivity {
		t.Helper()
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed")
			}
			return c
		case <-time.After(4 * time.Second):
			t.Fatal("no connectivity update")
		}
		return Connectivity{}
	}
	c := next()
	if !c.Up() || c.Roaming || c.SignalDBm != -73 || c.Err != nil {
		t.Fatalf("first = %+v", c)
	}
	// Losing registration: the +CEREG URC makes Watch poll before its
	// 5 s interval.
	r.emu.Update(func(s *emu.State) { s.Reg = 2 })
	if c = next(); c.Up() || c.Registered || !c.SIMReady || !c.Responsive {
		t.Fatalf("after deregistration = %+v", c)
	}
	r.emu.Update(func(s *emu.State) { s.Reg = 5 })
	if c = next(); !c.Up() || !c.Roaming {
		t.Fatalf("roaming = %+v", c)
	}
	cancel()
	for range ch {
	}
}

func TestCloseUnblocksAndRefuses(t *testing.T) {
	o := testOptions()
	o.CommandTimeout = 5 * time.Second
	r := newRig(t, emu.Default(), o)
	ctx := ctxT(t, 10*time.Second)
	r.init(ctx)
	r.emu.SetWedged(true)
	errc := make(chan error, 1)
	go func() { _, err := r.m.Signal(ctx); errc <- err }()
	time.Sleep(100 * time.Millisecond)
	if err := r.m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrGone) && !errors.Is(err, ErrClosed) {
			t.Fatalf("pending command after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not release the pending command")
	}
	if _, err := r.m.Signal(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("command after Close: %v", err)
	}
	if _, ok := <-r.m.URCs(); ok {
		t.Fatal("URC channel not closed")
	}
	if err := r.m.Reattach(nopPort{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reattach after Close: %v", err)
	}
}

type nopPort struct{}

func (nopPort) Read([]byte) (int, error)           { return 0, nil }
func (nopPort) Write(p []byte) (int, error)        { return len(p), nil }
func (nopPort) SetReadTimeout(time.Duration) error { return nil }
func (nopPort) Close() error                       { return nil }

// BenchmarkATRoundTrip measures one "AT" → "OK" over the pseudo-terminal
// through go.bug.st/serial (no baud pacing: a pty is as fast as memory),
// with the default 20 ms pacing off and on.
func BenchmarkATRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name string
		pace time.Duration
	}{{"nopace", -1}, {"pace20ms", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			o := testOptions()
			o.Pace = bc.pace
			st := emu.Default()
			st.Echo = false
			r := newRig(b, st, o)
			ctx := context.Background()
			if err := r.m.Init(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := r.m.Liveness(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
