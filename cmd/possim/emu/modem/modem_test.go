package modem

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
)

// host is the test's side of a Serve session over in-memory pipes.
type host struct {
	t    *testing.T
	w    *io.PipeWriter // host → modem
	mu   sync.Mutex
	out  bytes.Buffer // modem → host, not yet consumed
	more chan struct{}
	done chan error // Serve's result
}

type rw struct {
	io.Reader
	io.Writer
}

// serve starts m.Serve on pipes and returns the host side.
func serve(t *testing.T, m *Modem) *host {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &host{t: t, w: inW, more: make(chan struct{}, 1), done: make(chan error, 1)}
	go func() {
		err := m.Serve(ctx, rw{inR, outW})
		outW.Close()
		h.done <- err
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := outR.Read(buf)
			h.mu.Lock()
			h.out.Write(buf[:n])
			h.mu.Unlock()
			select {
			case h.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		outR.Close()
	})
	return h
}

func (h *host) send(s string) {
	h.t.Helper()
	if _, err := h.w.Write([]byte(s)); err != nil {
		h.t.Fatalf("write %q: %v", s, err)
	}
}

// expect waits until the output holds exactly want (consuming it).
func (h *host) expect(want string) {
	h.t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		h.mu.Lock()
		got := h.out.String()
		if len(got) >= len(want) {
			h.out.Next(len(want))
			h.mu.Unlock()
			if got[:len(want)] != want {
				h.t.Fatalf("got %q, want %q", got, want)
			}
			return
		}
		h.mu.Unlock()
		select {
		case <-h.more:
		case <-deadline:
			h.t.Fatalf("timed out: got %q, want %q", got, want)
		}
	}
}

// silent checks that nothing arrives for d.
func (h *host) silent(d time.Duration) {
	h.t.Helper()
	time.Sleep(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.out.Len() != 0 {
		h.t.Fatalf("expected silence, got %q", h.out.String())
	}
}

func quiet() State {
	s := Default()
	s.Echo = false
	return s
}

func TestFramingCSQ(t *testing.T) {
	h := serve(t, New(quiet()))
	h.send("AT+CSQ\r")
	h.expect("\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
	h.send("at\r\n") // lower case and a stray LF are fine
	h.expect("\r\nOK\r\n")
}

func TestEchoOnAtPowerOnThenATE0(t *testing.T) {
	h := serve(t, New(Default()))
	h.send("AT\r")
	h.expect("AT\r\r\nOK\r\n")
	h.send("ATE0\r")
	h.expect("ATE0\r\r\nOK\r\n") // echoed before it takes effect
	h.send("AT\r")
	h.expect("\r\nOK\r\n")
	h.send("ATE1\r")
	h.expect("\r\nOK\r\n")
	h.send("AT\r")
	h.expect("AT\r\r\nOK\r\n")
}

func TestIdentityAndICCID(t *testing.T) {
	h := serve(t, New(quiet()))
	h.send("ATI\r")
	h.expect("\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A03M4G\r\n\r\nOK\r\n")
	h.send("AT+QCCID\r")
	h.expect("\r\n+QCCID: 89860012345678901234\r\n\r\nOK\r\n")
	h.send("AT+COPS?\r")
	h.expect("\r\n+COPS: 0,0,\"CHN-UNICOM\",7\r\n\r\nOK\r\n")
	h.send("AT+CPIN?\r")
	h.expect("\r\n+CPIN: READY\r\n\r\nOK\r\n")
	h.send("AT+NOSUCH\r")
	h.expect("\r\nERROR\r\n")
}

func TestCMEEModes(t *testing.T) {
	s := quiet()
	s.SIM = SIMAbsent
	s.CMEE = 0
	m := New(s)
	h := serve(t, m)
	h.send("AT+CPIN?\r")
	h.expect("\r\nERROR\r\n")
	h.send("AT+CMEE=1\r")
	h.expect("\r\nOK\r\n")
	h.send("AT+CPIN?\r")
	h.expect("\r\n+CME ERROR: 10\r\n")
	h.send("AT+CMEE=2\r")
	h.expect("\r\nOK\r\n")
	h.send("AT+QCCID\r")
	h.expect("\r\n+CME ERROR: SIM not inserted\r\n")
	h.send("AT+CMEE?\r")
	h.expect("\r\n+CMEE: 2\r\n\r\nOK\r\n")
	h.send("AT+CMEE=7\r")
	h.expect("\r\n+CME ERROR: Incorrect parameters\r\n")
	// No SIM: not registered, no operator.
	h.send("AT+CREG?\r")
	h.expect("\r\n+CREG: 0,0\r\n\r\nOK\r\n")
	h.send("AT+COPS?\r")
	h.expect("\r\n+COPS: 0\r\n\r\nOK\r\n")
}

func TestServingCellLTE(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	h.send(`AT+QENG="servingcell"` + "\r")
	h.expect("\r\n+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",460,01,1A2B3C4,201,1650,3,5,5,4E2F,-95,-11,-65,12,9,-,33\r\n\r\nOK\r\n")
	m.Update(func(s *State) { s.Cell.State = "CONNECT"; s.Cell.TxPower = 23; s.Cell.OmitOptions = false })
	h.send(`AT+QENG="servingcell"` + "\r")
	h.expect("\r\n+QENG: \"servingcell\",\"CONNECT\",\"LTE\",\"FDD\",460,01,1A2B3C4,201,1650,3,5,5,4E2F,-95,-11,-65,12,9,23,33\r\n\r\nOK\r\n")
	m.Update(func(s *State) { s.ServingCellLines = []string{`+QENG: "servingcell","SEARCH"`} })
	h.send(`AT+QENG="servingcell"` + "\r")
	h.expect("\r\n+QENG: \"servingcell\",\"SEARCH\"\r\n\r\nOK\r\n")
}

func TestRegistrationReadAndURCs(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	h.send("AT+CEREG?\r")
	h.expect("\r\n+CEREG: 0,1\r\n\r\nOK\r\n")
	h.send("AT+CEREG=2\r")
	h.expect("\r\nOK\r\n")
	h.send("AT+CEREG?\r")
	h.expect("\r\n+CEREG: 2,1,\"4E2F\",\"1A2B3C4\",7\r\n\r\nOK\r\n")
	h.send("AT+CREG=1\r")
	h.expect("\r\nOK\r\n")
	m.Update(func(s *State) { s.Reg = 5 })
	h.expect("\r\n+CREG: 5\r\n\r\n+CEREG: 5,\"4E2F\",\"1A2B3C4\",7\r\n")
	m.Update(func(s *State) { s.Reg = 2 })
	h.expect("\r\n+CREG: 2\r\n\r\n+CEREG: 2\r\n")
	m.Update(func(s *State) { s.CSQ = 31 }) // no registration change, no URC
	h.send("AT+CSQ\r")
	h.expect("\r\n+CSQ: 31,99\r\n\r\nOK\r\n")
}

func TestURCBeforeAndInsideAnswer(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	m.URCBefore("AT+CEREG?", "+CEREG: 1")
	m.URCInside("at+cereg?", "+QIND: SMS DONE")
	h.send("AT+CEREG?\r")
	h.expect("\r\n+CEREG: 1\r\n\r\n+CEREG: 0,1\r\n\r\n+QIND: SMS DONE\r\n\r\nOK\r\n")
	h.send("AT+CEREG?\r") // one-shot
	h.expect("\r\n+CEREG: 0,1\r\n\r\nOK\r\n")
}

func TestCFUN(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	h.send("AT+CFUN=0\r")
	h.expect("\r\nOK\r\n")
	h.send("AT+CSQ\r")
	h.expect("\r\n+CSQ: 99,99\r\n\r\nOK\r\n")
	h.send("AT+CREG?\r")
	h.expect("\r\n+CREG: 0,0\r\n\r\nOK\r\n")
	h.send("AT+CFUN?\r")
	h.expect("\r\n+CFUN: 0\r\n\r\nOK\r\n")
	h.send("AT+CFUN=1\r")
	h.expect("\r\nOK\r\n\r\n+CPIN: READY\r\n")
	h.send("AT+CFUN=9\r")
	h.expect("\r\n+CME ERROR: 50\r\n") // Default's AT+CMEE=1
}

func TestRebootReturnsErrRebootAndBootsWithRDY(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	h.send("ATE1\r")
	h.expect("\r\nOK\r\n")
	h.send("AT+CMEE=2\r")
	h.expect("AT+CMEE=2\r\r\nOK\r\n")
	h.send("AT+CFUN=1,1\r")
	h.expect("AT+CFUN=1,1\r\r\nOK\r\n")
	select {
	case err := <-h.done:
		if !errors.Is(err, ErrReboot) || !errors.Is(err, ptydev.ErrReboot) {
			t.Fatalf("Serve = %v, want ErrReboot wrapping ptydev.ErrReboot", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after AT+CFUN=1,1")
	}
	if m.CMEE() != 1 || m.Echo() {
		t.Fatalf("after reboot CMEE=%d echo=%v, want power-on values 1, false", m.CMEE(), m.Echo())
	}
	h2 := serve(t, m)
	h2.expect("\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n\r\n+QIND: PB DONE\r\n")
	h2.send("AT\r")
	h2.expect("\r\nOK\r\n")
}

func TestWedgedThenPowerCycle(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	m.SetWedged(true)
	h.send("AT\r")
	h.silent(100 * time.Millisecond)
	if err := m.InjectURC("+QIND: x"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("InjectURC while wedged = %v, want ErrNoSession", err)
	}
	m.PowerCycle()
	h.expect("\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n\r\n+QIND: PB DONE\r\n")
	h.send("AT\r")
	h.expect("\r\nOK\r\n")
	got := m.Received()
	if len(got) != 2 || got[0] != "AT" {
		t.Fatalf("Received = %q (the wedged module still reads)", got)
	}
}

func TestGNSS(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	h.send("AT+QGPSLOC=2\r")
	h.expect("\r\n+CME ERROR: 505\r\n")
	h.send("AT+QGPS=1\r")
	h.expect("\r\nOK\r\n")
	h.send("AT+QGPS=1\r")
	h.expect("\r\n+CME ERROR: 504\r\n")
	h.send("AT+QGPSLOC=2\r")
	h.expect("\r\n+CME ERROR: 516\r\n")
	m.Update(func(s *State) {
		s.Fix = &Fix{
			UTC: time.Date(2020, 4, 25, 11, 33, 55, 0, time.UTC), Lat: 44.74770, Lon: -85.56527,
			HDOP: 1.2, Altitude: 192.0, Mode: 2, COG: 277.11, Satellites: 10,
		}
	})
	h.send("AT+QGPSLOC=2\r")
	// The example of protocols.md §9 (Quectel GNSS application note).
	h.expect("\r\n+QGPSLOC: 113355.0,44.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420,10\r\n\r\nOK\r\n")
	h.send("AT+QGPSLOC=0\r")
	h.expect("\r\n+CME ERROR: 501\r\n")
}

func TestQPOWD(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	h.send("AT+QPOWD\r")
	h.expect("\r\nOK\r\n\r\nPOWERED DOWN\r\n")
	h.send("AT\r")
	h.silent(100 * time.Millisecond)
	m.PowerCycle()
	h.expect("\r\nRDY\r\n")
}

func TestDelayedReply(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	m.DelayNextReply(150 * time.Millisecond)
	h.send("AT+CSQ\r")
	h.silent(50 * time.Millisecond)
	h.expect("\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
}

func TestLongLineIsRefused(t *testing.T) {
	h := serve(t, New(quiet()))
	h.send("AT" + strings.Repeat("X", 2*maxLine) + "\r")
	h.expect("\r\nERROR\r\n")
	h.send("AT\r")
	h.expect("\r\nOK\r\n")
}

// TestIdentityCommands: the 27.007 §5 / V.250 §6.1 identification
// commands gsmctl's ME reads. An EC25 answers the bare value, no prefix
// and no "Revision: " (that is ATI's third line).
func TestIdentityCommands(t *testing.T) {
	h := serve(t, New(quiet()))
	for cmd, want := range map[string]string{
		"AT+CGMI": "Quectel", "AT+GMI": "Quectel",
		"AT+CGMM": "EC25", "AT+GMM": "EC25",
		"AT+CGMR": "EC25EFAR06A03M4G", "AT+GMR": "EC25EFAR06A03M4G",
		"AT+CGSN": "867929060000001", "AT+GSN": "867929060000001",
	} {
		h.send(cmd + "\r")
		h.expect("\r\n" + want + "\r\n\r\nOK\r\n")
		h.send(cmd + "=?\r")
		h.expect("\r\nOK\r\n")
	}
}

// TestATZRestoresProfile: gsmctl opens with ATZ; it must answer OK and
// bring echo and AT+CMEE back to the power-on profile.
func TestATZRestoresProfile(t *testing.T) {
	m := New(Default()) // echo on, CMEE 1
	h := serve(t, m)
	h.send("ATE0\r")
	h.expect("ATE0\r\r\nOK\r\n")
	h.send("AT+CMEE=2\r")
	h.expect("\r\nOK\r\n")
	h.send("ATZ\r") // not echoed: echo is off when it arrives
	h.expect("\r\nOK\r\n")
	if !m.Echo() || m.CMEE() != 1 {
		t.Fatalf("after ATZ echo=%v CMEE=%d, want true, 1", m.Echo(), m.CMEE())
	}
	h.send("AT\r")
	h.expect("AT\r\r\nOK\r\n")
	h.send("ATE0\r")
	h.expect("ATE0\r\r\nOK\r\n")
	h.send("AT&F\r")
	h.expect("\r\nOK\r\n")
	if !m.Echo() {
		t.Fatal("AT&F left echo off")
	}
}

// TestCOPSFormats: AT+COPS=3,<format> selects the name format of
// AT+COPS? (27.007 §7.3); gsmctl's CURROP reads all three this way.
func TestCOPSFormats(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	for _, c := range []struct{ set, want string }{
		{"AT+COPS=3,1", `+COPS: 0,1,"UNICOM",7`},
		{"AT+COPS=3,2", `+COPS: 0,2,"46001",7`},
		{"AT+COPS=0", `+COPS: 0,2,"46001",7`}, // automatic, format kept
		{"AT+COPS=0,0", `+COPS: 0,0,"CHN-UNICOM",7`},
	} {
		h.send(c.set + "\r")
		h.expect("\r\nOK\r\n")
		h.send("AT+COPS?\r")
		h.expect("\r\n" + c.want + "\r\n\r\nOK\r\n")
	}
	h.send("AT+COPS=?\r")
	h.expect("\r\n+COPS: (2,\"CHN-UNICOM\",\"UNICOM\",\"46001\",7),,(0-4),(0-2)\r\n\r\nOK\r\n")
	h.send("AT+COPS=3\r") // <format> missing
	h.expect("\r\n+CME ERROR: 50\r\n")
	h.send("AT+COPS=3,3\r")
	h.expect("\r\n+CME ERROR: 50\r\n")
	h.send("AT+COPS=1,2,\"46000\"\r") // manual selection: not emulated
	h.expect("\r\n+CME ERROR: 4\r\n")
	m.Update(func(s *State) { s.OperatorShort = "" })
	h.send("AT+COPS=3,1\r")
	h.expect("\r\nOK\r\n")
	h.send("AT+COPS?\r")
	h.expect("\r\n+COPS: 0,1,\"CHN-UNICOM\",7\r\n\r\nOK\r\n")
	m.Update(func(s *State) { s.SIM = SIMAbsent })
	h.send("AT+COPS=?\r")
	h.expect("\r\n+COPS: ,,(0-4),(0-2)\r\n\r\nOK\r\n")
	h.send("AT+COPS?\r")
	h.expect("\r\n+COPS: 0\r\n\r\nOK\r\n")
}

// TestCharsetAndSMSSettings: the settings gsmlib's init sends (27.007
// §5.5 AT+CSCS, 27.005 §3.2.1 AT+CSMS, §3.2.3 AT+CMGF).
func TestCharsetAndSMSSettings(t *testing.T) {
	h := serve(t, New(quiet()))
	for _, c := range []struct{ cmd, want string }{
		{"AT+CSCS?", "\r\n+CSCS: \"GSM\"\r\n\r\nOK\r\n"},
		{"AT+CSCS=?", "\r\n+CSCS: (\"GSM\",\"IRA\",\"UCS2\")\r\n\r\nOK\r\n"},
		{`AT+CSCS="IRA"`, "\r\nOK\r\n"},
		{"AT+CSCS?", "\r\n+CSCS: \"IRA\"\r\n\r\nOK\r\n"},
		{`AT+CSCS="UTF-8"`, "\r\n+CME ERROR: 50\r\n"},
		{"AT+CSCS=GSM", "\r\n+CME ERROR: 50\r\n"},
		{"AT+CMGF?", "\r\n+CMGF: 0\r\n\r\nOK\r\n"},
		{"AT+CMGF=1", "\r\nOK\r\n"},
		{"AT+CMGF?", "\r\n+CMGF: 1\r\n\r\nOK\r\n"},
		{"AT+CMGF=2", "\r\n+CME ERROR: 50\r\n"},
		{"AT+CSMS?", "\r\n+CSMS: 0,1,1,1\r\n\r\nOK\r\n"},
	} {
		h.send(c.cmd + "\r")
		h.expect(c.want)
	}
}

// TestCommandLineEditing: V.250 §5.2.1/§5.2.2. gsmctl's "-o off" sends
// "AT+CFUN=0\x00\r"; the NUL must be ignored, not make the command fail.
func TestCommandLineEditing(t *testing.T) {
	m := New(quiet())
	h := serve(t, m)
	h.send("AT+CFUN=0\x00\r")
	h.expect("\r\nOK\r\n")
	if m.CFUN() != 0 {
		t.Fatalf("CFUN = %d after AT+CFUN=0<NUL>, want 0", m.CFUN())
	}
	h.send("ATX\bI\r") // backspace deletes the X
	h.expect("\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A03M4G\r\n\r\nOK\r\n")
	h.send("\bA\tT\r") // a backspace on an empty line, a TAB ignored
	h.expect("\r\nOK\r\n")
	if got := m.Received(); got[0] != "AT+CFUN=0" || got[1] != "ATI" || got[2] != "AT" {
		t.Fatalf("Received = %q", got)
	}
}

// FuzzServe feeds arbitrary bytes: the emulator must neither panic nor
// hang, whatever it is sent.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		"AT\r", "ATE1\rAT+CSQ\r", "AT+CFUN=1,1\r", "AT+CMEE=2\rAT+QCCID\r",
		"AT+QGPS=1\rAT+QGPSLOC=2\r", `AT+QENG="servingcell"` + "\r", "AT+CEREG=2\rAT+CEREG?\r",
		"AT+CFUN=1,\r", "AT+CMEE=\r", "\x00\xff\r\n", "AT+QPOWD\rAT\r",
		"ATZ\rATE0\rAT+CGMI\rAT+CGMR\r", "AT+COPS=3,2\rAT+COPS?\rAT+COPS=?\r",
		"AT+CSCS=\"IRA\"\rAT+CSCS?\rAT+CMGF=1\r", "AT+CFUN=0\x00\r", "\b\bATX\bI\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m := New(Default())
		err := m.Serve(context.Background(), rw{bytes.NewReader(in), io.Discard})
		if err != nil && !errors.Is(err, ErrReboot) {
			t.Fatalf("Serve = %v", err)
		}
	})
}
