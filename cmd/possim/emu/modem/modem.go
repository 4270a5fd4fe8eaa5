// Package modem emulates a Quectel EC25 on its AT port, for possim, demos
// and the driver's tests. It is a separate implementation from
// drivers/modem (it imports nothing of it), so a misreading of the AT
// formats in one is not silently shared by the other.
//
// The emulator answers the command set the agent uses (AT, ATE0/1, ATI,
// AT+CMEE, AT+QSCLK, AT+CPIN?, AT+CSQ, AT+CREG, AT+CGREG, AT+CEREG,
// AT+COPS, AT+QCCID, AT+CGSN, AT+QENG="servingcell", AT+QGPS,
// AT+QGPSEND, AT+QGPSLOC=2, AT+CFUN, AT+QPOWD) and what generic AT
// clients such as gsmctl send first (ATZ, AT&F, AT+CGMI/+GMI,
// AT+CGMM/+GMM, AT+CGMR/+GMR, AT+GSN, AT+CSCS, AT+CMGF, AT+CSMS?, the
// AT+COPS=3,<format> and =? forms) in Quectel's framing:
// every information response and final result code is "\r\n…\r\n", so
// AT+CSQ gets "\r\n+CSQ: 20,99\r\n\r\nOK\r\n". Echo follows ATE0/ATE1
// (on at power-on, as on the real module); error answers follow
// AT+CMEE (plain ERROR, numeric or verbose +CME ERROR); a command it
// does not know gets plain ERROR whatever AT+CMEE says (V.250 §5.7.1,
// 27.007 §9.1). Command lines are edited as V.250 §5.2 says: backspace
// deletes the previous character, other control characters are ignored.
//
// State is settable at any time (SIM, registration, signal, operator,
// ICCID, LTE serving cell, GNSS fix); a registration change emits the
// +CREG/+CEREG URCs the host enabled. Fault knobs: a wedged AT channel
// that reads but never answers, URC and raw-byte injection, URCs placed
// just before or inside the answer to a given command, a delayed answer.
// AT+CFUN=1,1 answers OK and makes Serve return ErrReboot (which wraps
// ptydev.ErrReboot), so the pty framework unplugs the device and plugs
// it back; the next Serve starts with the boot URCs (RDY, +CFUN: 1,
// +CPIN: READY, +QUSIM: 1, +QIND: SMS DONE, +QIND: PB DONE). PowerCycle
// is the power key: it un-wedges the module and reboots it in place.
//
// Pacing at a baud rate is the framework's job (ptydev), not this one's.
package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
)

// ErrReboot is returned by Serve after AT+CFUN=1,1: the module resets
// and drops off USB. It wraps ptydev.ErrReboot.
var ErrReboot = fmt.Errorf("modem emulator: AT+CFUN=1,1: %w", ptydev.ErrReboot)

// ErrNoSession is returned by the injection methods when no Serve is
// running.
var ErrNoSession = errors.New("modem emulator: no active session")

// SIM is the emulated SIM card's state.
type SIM int

// SIM states.
const (
	// SIMReady: inserted, no PIN pending.
	SIMReady SIM = iota
	// SIMAbsent: no card (+CME ERROR: 10).
	SIMAbsent
	// SIMLocked: PIN required (+CPIN: SIM PIN).
	SIMLocked
	// SIMPUK: PUK required (+CPIN: SIM PUK).
	SIMPUK
	// SIMFailed: card fails (+CME ERROR: 13).
	SIMFailed
)

// LTECell is the serving cell reported by AT+QENG="servingcell".
type LTECell struct {
	// State is "SEARCH", "LIMSRV", "NOCONN" or "CONNECT".
	State string
	// Duplex is "FDD" or "TDD".
	Duplex string
	// MCC and MNC are printed as given ("01" stays "01").
	MCC, MNC string
	// CellID and TAC are printed in upper-case hex.
	CellID uint32
	TAC    uint32
	// PCI, EARFCN and Band are the physical cell id, channel and band.
	PCI, EARFCN, Band int
	// ULBW and DLBW are bandwidth codes 0..5 (1.4 to 20 MHz).
	ULBW, DLBW int
	// RSRP (dBm), RSRQ (dB), RSSI (dBm), SINR and CQI are printed as is.
	RSRP, RSRQ, RSSI, SINR, CQI int
	// TxPower is printed only while State is CONNECT (or with
	// HasTxPower); "-" otherwise.
	TxPower    int
	HasTxPower bool
	// Srxlev is the cell selection level.
	Srxlev int
	// OmitOptions stops the line after <SINR>, as some firmwares do.
	OmitOptions bool
}

// Fix is a GNSS position, printed by AT+QGPSLOC=2.
type Fix struct {
	// UTC gives <UTC> (hhmmss.s) and <date> (ddmmyy).
	UTC time.Time
	// Lat and Lon are signed decimal degrees (5 decimals printed).
	Lat, Lon float64
	// HDOP and Altitude (metres) are printed with one decimal.
	HDOP, Altitude float64
	// Mode is <fix>: 2 or 3.
	Mode int
	// COG is printed with two decimals, the speeds with one.
	COG, SpeedKmh, SpeedKnots float64
	// Satellites is <nsat>, printed with two digits.
	Satellites int
}

// State is everything the host can observe. Set it with New or Update.
type State struct {
	// Manufacturer, Model and Revision are the three lines of ATI (the
	// third printed as "Revision: <Revision>").
	Manufacturer, Model, Revision string
	// IMEI is the answer to AT+CGSN.
	IMEI string
	// ICCID is the answer to AT+QCCID (with a SIM).
	ICCID string
	// SIM is the card's state.
	SIM SIM
	// Reg is <stat> of +CREG/+CEREG while the SIM is ready and the radio
	// on (AT+CFUN=1); otherwise the module reports 0.
	Reg int
	// CSQ and BER are the AT+CSQ answer while the radio is on (99,99
	// otherwise).
	CSQ, BER int
	// Operator is the long alphanumeric operator name (AT+COPS <format>
	// 0, the power-on format).
	Operator string
	// OperatorShort is the short alphanumeric name (<format> 1); empty
	// means Operator. The numeric name (<format> 2) is Cell.MCC+Cell.MNC.
	OperatorShort string
	// RAT is "LTE" (default) or "WCDMA": it sets <AcT> and whether
	// +CEREG reports registration.
	RAT string
	// Cell is the LTE serving cell.
	Cell LTECell
	// ServingCellLines, when set, are sent verbatim (one "+QENG: …" line
	// each) instead of Cell: for the WCDMA, NR and EN-DC layouts.
	ServingCellLines []string
	// Fix is the GNSS position, nil for none ("+CME ERROR: 516").
	Fix *Fix
	// Echo is the echo setting at power-on (ATE1 on the real module).
	Echo bool
	// CMEE is the AT+CMEE setting at power-on.
	CMEE int
}

// Default returns a registered EC25 on an LTE FDD cell.
func Default() State {
	return State{
		Manufacturer:  "Quectel",
		Model:         "EC25",
		Revision:      "EC25EFAR06A03M4G",
		IMEI:          "867929060000001",
		ICCID:         "89860012345678901234",
		SIM:           SIMReady,
		Reg:           1,
		CSQ:           20,
		BER:           99,
		Operator:      "CHN-UNICOM",
		OperatorShort: "UNICOM",
		RAT:           "LTE",
		Cell: LTECell{
			State: "NOCONN", Duplex: "FDD", MCC: "460", MNC: "01",
			CellID: 0x1A2B3C4, PCI: 201, EARFCN: 1650, Band: 3, ULBW: 5, DLBW: 5,
			TAC: 0x4E2F, RSRP: -95, RSRQ: -11, RSSI: -65, SINR: 12, CQI: 9, Srxlev: 33,
		},
		Echo: true,
		CMEE: 1,
	}
}

// runtime is what a power cycle resets.
type runtime struct {
	echo       bool
	cmee       int
	cregN      int
	cgregN     int
	ceregN     int
	cfun       int
	gnss       bool
	sclk       int
	cmgf       int    // AT+CMGF: 0 PDU (power-on), 1 text
	cscs       string // AT+CSCS: "GSM" at power-on
	copsFormat int    // AT+COPS=3,<format>: 0 (long alphanumeric) at power-on
	off        bool   // after AT+QPOWD
	wedged     bool
	delayed    time.Duration // one-shot delay of the next reply
}

// Modem is the emulated module. Its methods are safe for concurrent use.
type Modem struct {
	mu          sync.Mutex
	st          State
	rt          runtime
	sess        *session
	bootPending bool
	before      map[string][]string // one-shot URCs before a command's answer
	inside      map[string][]string // one-shot URCs inside a command's answer
	received    []string
}

// New returns a powered-on module in state s (no boot URCs: it has been
// on for a while).
func New(s State) *Modem {
	m := &Modem{st: s, before: map[string][]string{}, inside: map[string][]string{}}
	m.rt = powerOn(s)
	return m
}

func powerOn(s State) runtime {
	return runtime{echo: s.Echo, cmee: s.CMEE, cfun: 1, cscs: "GSM"}
}

// State returns a copy of the state.
func (m *Modem) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

// Update changes the state under the lock. When the reported
// registration changes, the +CREG/+CEREG URCs the host enabled are sent.
func (m *Modem) Update(f func(*State)) {
	m.mu.Lock()
	oldC, oldE := m.cregStat(), m.ceregStat()
	f(&m.st)
	urcs := m.regURCs(oldC, oldE)
	s := m.activeLocked()
	m.mu.Unlock()
	if s != nil {
		s.send(urcs...)
	}
}

// SetWedged makes the AT channel stop answering (it still reads) or
// start again.
func (m *Modem) SetWedged(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rt.wedged = on
}

// Echo reports whether echo is on now.
func (m *Modem) Echo() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rt.echo
}

// CMEE returns the current AT+CMEE setting.
func (m *Modem) CMEE() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rt.cmee
}

// CFUN returns the current functionality level.
func (m *Modem) CFUN() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rt.cfun
}

// DelayNextReply delays the answer to the next command by d (a slow
// module: the host's command times out and the answer arrives late).
func (m *Modem) DelayNextReply(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rt.delayed = d
}

// URCBefore sends lines as URCs just before the answer to the next
// command equal to cmd (case-insensitive).
func (m *Modem) URCBefore(cmd string, lines ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToUpper(cmd)
	m.before[k] = append(m.before[k], lines...)
}

// URCInside sends lines as URCs between the information response and the
// final result code of the next command equal to cmd.
func (m *Modem) URCInside(cmd string, lines ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToUpper(cmd)
	m.inside[k] = append(m.inside[k], lines...)
}

// InjectURC sends lines as URCs ("\r\n<line>\r\n" each) now. A wedged or
// powered-down module sends nothing.
func (m *Modem) InjectURC(lines ...string) error {
	m.mu.Lock()
	s := m.activeLocked()
	m.mu.Unlock()
	if s == nil {
		return ErrNoSession
	}
	s.send(lines...)
	return nil
}

// InjectRaw writes b as is (garbage, a truncated line), even when wedged.
func (m *Modem) InjectRaw(b []byte) error {
	m.mu.Lock()
	s := m.sess
	m.mu.Unlock()
	if s == nil {
		return ErrNoSession
	}
	return s.write(b)
}

// PowerCycle is a pulse on the power key: the module restarts in place
// (a UART stays, unlike USB): wedge and power-down cleared, runtime
// settings back to their power-on values, and the boot URCs sent on the
// active session, or at the start of the next one.
func (m *Modem) PowerCycle() {
	m.mu.Lock()
	m.rt = powerOn(m.st)
	s := m.sess
	if s == nil {
		m.bootPending = true
	}
	urcs := m.bootURCs()
	m.mu.Unlock()
	if s != nil {
		s.send(urcs...)
	}
}

// Received returns the command lines received so far, in order.
func (m *Modem) Received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.received...)
}

// activeLocked returns the session if the module may speak on it.
func (m *Modem) activeLocked() *session {
	if m.sess == nil || m.rt.wedged || m.rt.off {
		return nil
	}
	return m.sess
}

func (m *Modem) bootURCs() []string {
	u := []string{"RDY", "+CFUN: 1"}
	switch m.st.SIM {
	case SIMReady:
		u = append(u, "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE")
	case SIMLocked:
		u = append(u, "+CPIN: SIM PIN")
	case SIMPUK:
		u = append(u, "+CPIN: SIM PUK")
	}
	return u
}

// session is one Serve call's link.
type session struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *session) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(b)
	return err
}

// send writes each line as "\r\n<line>\r\n".
func (s *session) send(lines ...string) {
	if len(lines) == 0 {
		return
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\r\n" + l + "\r\n")
	}
	_ = s.write([]byte(b.String()))
}

// maxLine is the longest command line the emulator buffers.
const maxLine = 512

// backspace is the V.250 command line editing character (S5, default 8).
const backspace = 0x08

// Serve answers AT commands on rw until ctx ends, rw fails, or the
// module reboots (ErrReboot). A read error ends Serve with that error
// (io.EOF gives nil). ctx is checked between reads: a Serve blocked in a
// read ends when rw delivers data or fails (close rw to release it).
func (m *Modem) Serve(ctx context.Context, rw io.ReadWriter) error {
	s := &session{w: rw}
	m.mu.Lock()
	m.sess = s
	boot := m.bootPending
	m.bootPending = false
	var urcs []string
	if boot {
		urcs = m.bootURCs()
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.sess == s {
			m.sess = nil
		}
		m.mu.Unlock()
	}()
	s.send(urcs...)

	// Reads are synchronous, never left pending in a goroutine: a pty
	// master from creack/pty is in blocking mode, and a read still pending
	// there keeps the descriptor open after the framework closes it, so
	// the host would never see the device vanish after AT+CFUN=1,1.
	buf := make([]byte, 256)
	var line []byte
	overflow := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := rw.Read(buf)
		for _, b := range buf[:max(0, min(n, len(buf)))] {
			m.mu.Lock()
			quiet := m.rt.wedged || m.rt.off
			echo := m.rt.echo && !quiet
			m.mu.Unlock()
			if echo {
				_ = s.write([]byte{b})
			}
			if b == backspace { // V.250 §5.2.2: S5 deletes the previous character
				if len(line) > 0 && !overflow {
					line = line[:len(line)-1]
				}
				continue
			}
			if b < ' ' && b != '\r' {
				// V.250 §5.2.1: other control characters (IA5 0/0..1/15,
				// the stray LF of a CR LF pair included) are ignored.
				// gsmctl ends its AT+CFUN=<fun> line with a NUL.
				continue
			}
			if b != '\r' {
				if len(line) >= maxLine {
					overflow = true
					continue
				}
				line = append(line, b)
				continue
			}
			cmd := strings.TrimSpace(string(line))
			wasLong := overflow
			line, overflow = line[:0], false
			if cmd == "" {
				continue
			}
			if quiet { // read and forgotten
				m.mu.Lock()
				m.received = append(m.received, cmd)
				m.mu.Unlock()
				continue
			}
			if wasLong {
				s.send("ERROR")
				continue
			}
			reboot, err := m.handle(ctx, s, cmd)
			if err != nil {
				return err
			}
			if reboot { // the rest of the input is lost with the reset
				return ErrReboot
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			return rerr
		}
	}
}
