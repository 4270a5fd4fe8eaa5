package modem

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cmeTexts are the verbose texts of the +CME ERROR codes the emulator
// sends with AT+CMEE=2 (3GPP TS 27.007 §9.2; 5xx: Quectel GNSS codes).
var cmeTexts = map[int]string{
	3:   "operation not allowed",
	4:   "operation not supported",
	10:  "SIM not inserted",
	11:  "SIM PIN required",
	12:  "SIM PUK required",
	13:  "SIM failure",
	14:  "SIM busy",
	30:  "no network service",
	50:  "Incorrect parameters",
	100: "unknown",
	501: "Invalid parameter",
	504: "Session is ongoing",
	505: "Session not active",
	516: "Not fixed now",
}

// reply is the answer to one command.
type reply struct {
	info   []string // information response lines
	final  string   // "OK", "ERROR", "+CME ERROR: …"
	after  []string // URCs sent after the final result code
	reboot bool     // AT+CFUN=1,1: Serve returns ErrReboot
	off    bool     // AT+QPOWD: silent until PowerCycle
}

func ok(info ...string) reply { return reply{info: info, final: "OK"} }

// cme formats a +CME ERROR per the current AT+CMEE (lock held).
func (m *Modem) cme(code int) reply {
	switch m.rt.cmee {
	case 1:
		return reply{final: "+CME ERROR: " + strconv.Itoa(code)}
	case 2:
		if t, ok := cmeTexts[code]; ok {
			return reply{final: "+CME ERROR: " + t}
		}
		return reply{final: "+CME ERROR: " + strconv.Itoa(code)}
	}
	return reply{final: "ERROR"}
}

var plainError = reply{final: "ERROR"}

// identTest are the test forms of the identification commands: V.250
// §6.1.4..6.1.6 and 27.007 §5.1..5.4 answer them with a bare OK.
var identTest = map[string]bool{
	"AT+CGMI=?": true, "AT+GMI=?": true, "AT+CGMM=?": true, "AT+GMM=?": true,
	"AT+CGMR=?": true, "AT+GMR=?": true, "AT+CGSN=?": true, "AT+GSN=?": true,
}

// handle answers one command line. It returns true when the module
// reboots.
func (m *Modem) handle(ctx context.Context, s *session, cmd string) (bool, error) {
	m.mu.Lock()
	m.received = append(m.received, cmd)
	key := strings.ToUpper(cmd)
	before, inside := m.before[key], m.inside[key]
	delete(m.before, key)
	delete(m.inside, key)
	delay := m.rt.delayed
	m.rt.delayed = 0
	m.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		}
	}
	m.mu.Lock()
	oldC, oldE := m.cregStat(), m.ceregStat()
	r := m.dispatch(key)
	r.after = append(r.after, m.regURCs(oldC, oldE)...)
	if r.reboot {
		m.rt = powerOn(m.st)
		m.bootPending = true
	}
	if r.off {
		m.rt.off = true
	}
	m.mu.Unlock()

	s.send(before...)
	var b strings.Builder
	if len(r.info) > 0 {
		b.WriteString("\r\n" + strings.Join(r.info, "\r\n") + "\r\n")
	}
	for _, u := range inside {
		b.WriteString("\r\n" + u + "\r\n")
	}
	b.WriteString("\r\n" + r.final + "\r\n")
	if err := s.write([]byte(b.String())); err != nil {
		return false, err
	}
	s.send(r.after...)
	return r.reboot, nil
}

// dispatch computes the reply (lock held). key is cmd upper-cased.
func (m *Modem) dispatch(key string) reply {
	switch {
	case key == "AT":
		return ok()
	case key == "ATE0" || key == "ATE":
		m.rt.echo = false
		return ok()
	case key == "ATE1":
		m.rt.echo = true
		return ok()
	case key == "ATZ" || key == "ATZ0" || key == "AT&F" || key == "AT&F0":
		// V.250 §6.1.1/§6.1.2: back to the stored / factory profile.
		// There is no AT&W here, so both restore the power-on values of
		// echo and AT+CMEE (State.Echo, State.CMEE) and nothing else.
		m.rt.echo, m.rt.cmee = m.st.Echo, m.st.CMEE
		return ok()
	case key == "ATI" || key == "ATI0":
		return ok(m.st.Manufacturer, m.st.Model, "Revision: "+m.st.Revision)
	case key == "AT+CGMI" || key == "AT+GMI":
		return ok(m.st.Manufacturer)
	case key == "AT+CGMM" || key == "AT+GMM":
		return ok(m.st.Model)
	case key == "AT+CGMR" || key == "AT+GMR":
		return ok(m.st.Revision)
	case key == "AT+CGSN" || key == "AT+GSN":
		return ok(m.st.IMEI)
	case identTest[key]:
		return ok()
	case strings.HasPrefix(key, "AT+CMEE"):
		return m.setting(key[len("AT+CMEE"):], "+CMEE", &m.rt.cmee, 2)
	case strings.HasPrefix(key, "AT+CMGF"):
		return m.setting(key[len("AT+CMGF"):], "+CMGF", &m.rt.cmgf, 1)
	case key == "AT+CSMS?":
		// 27.005 §3.2.1: <service> 0, MT, MO and broadcast supported.
		return ok("+CSMS: 0,1,1,1")
	case strings.HasPrefix(key, "AT+CSCS"):
		return m.cscs(key[len("AT+CSCS"):])
	case strings.HasPrefix(key, "AT+QSCLK"):
		return m.setting(key[len("AT+QSCLK"):], "+QSCLK", &m.rt.sclk, 1)
	case key == "AT+CPIN?":
		return m.cpin()
	case key == "AT+CSQ":
		if m.rt.cfun != 1 {
			return ok("+CSQ: 99,99")
		}
		return ok(fmt.Sprintf("+CSQ: %d,%d", m.st.CSQ, m.st.BER))
	case strings.HasPrefix(key, "AT+CREG"):
		return m.reg(key[len("AT+CREG"):], "+CREG", &m.rt.cregN, m.cregStat())
	case strings.HasPrefix(key, "AT+CGREG"):
		return m.reg(key[len("AT+CGREG"):], "+CGREG", &m.rt.cgregN, m.cregStat())
	case strings.HasPrefix(key, "AT+CEREG"):
		return m.reg(key[len("AT+CEREG"):], "+CEREG", &m.rt.ceregN, m.ceregStat())
	case strings.HasPrefix(key, "AT+COPS"):
		return m.cops(key[len("AT+COPS"):])
	case key == "AT+QCCID":
		switch m.st.SIM {
		case SIMAbsent:
			return m.cme(10)
		case SIMFailed:
			return m.cme(13)
		}
		return ok("+QCCID: " + m.st.ICCID)
	case key == `AT+QENG="SERVINGCELL"`:
		return ok(m.qeng()...)
	case strings.HasPrefix(key, "AT+QGPS") && !strings.HasPrefix(key, "AT+QGPSLOC") && !strings.HasPrefix(key, "AT+QGPSEND"):
		return m.gps(key[len("AT+QGPS"):])
	case key == "AT+QGPSEND":
		if !m.rt.gnss {
			return m.cme(505)
		}
		m.rt.gnss = false
		return ok()
	case strings.HasPrefix(key, "AT+QGPSLOC"):
		return m.gpsloc(key[len("AT+QGPSLOC"):])
	case strings.HasPrefix(key, "AT+CFUN"):
		return m.cfun(key[len("AT+CFUN"):])
	case key == "AT+QPOWD" || key == "AT+QPOWD=1" || key == "AT+QPOWD=0":
		// OK, then POWERED DOWN, then silence.
		return reply{final: "OK", after: []string{"POWERED DOWN"}, off: true}
	}
	return plainError
}

// operName is the registered operator in <format> f (27.007 §7.3):
// 0 long alphanumeric, 1 short alphanumeric, 2 numeric (MCC and MNC).
func (m *Modem) operName(f int) string {
	switch f {
	case 1:
		if m.st.OperatorShort != "" {
			return m.st.OperatorShort
		}
		return m.st.Operator
	case 2:
		return m.st.Cell.MCC + m.st.Cell.MNC
	}
	return m.st.Operator
}

// cops handles AT+COPS? / =? / =<mode>[,<format>[,<oper>[,<AcT>]]].
// Modes 0 (automatic) and 3 (set <format> only) are accepted; manual
// selection and deregistration (1, 2, 4) are not emulated.
func (m *Modem) cops(arg string) reply {
	switch {
	case arg == "?":
		if !registered(m.cregStat()) {
			return ok("+COPS: 0")
		}
		f := m.rt.copsFormat
		return ok(fmt.Sprintf(`+COPS: 0,%d,"%s",%d`, f, m.operName(f), m.act()))
	case arg == "=?":
		// <stat> 2: current. Only the registered network is listed.
		list := ""
		if registered(m.cregStat()) {
			list = fmt.Sprintf(`(2,"%s","%s","%s",%d)`, m.operName(0), m.operName(1), m.operName(2), m.act())
		}
		return ok("+COPS: " + list + ",,(0-4),(0-2)")
	case strings.HasPrefix(arg, "="):
		p := strings.Split(arg[1:], ",")
		mode, err := strconv.Atoi(p[0])
		if err != nil || mode < 0 || mode > 4 {
			return m.cme(50)
		}
		f := m.rt.copsFormat
		if len(p) > 1 {
			if f, err = strconv.Atoi(p[1]); err != nil || f < 0 || f > 2 {
				return m.cme(50)
			}
		}
		switch {
		case mode == 3 && len(p) == 2, mode == 0 && len(p) <= 2:
			m.rt.copsFormat = f
			return ok()
		case mode == 3 || mode == 0:
			return m.cme(50)
		}
		return m.cme(4)
	}
	return plainError
}

// charsets are the AT+CSCS character sets an EC25 lists (27.007 §5.5).
var charsets = []string{"GSM", "IRA", "UCS2"}

// cscs handles AT+CSCS? / =? / ="<chset>". Only the setting is kept:
// the emulator sends no text that a character set would change.
func (m *Modem) cscs(arg string) reply {
	switch {
	case arg == "?":
		return ok(`+CSCS: "` + m.rt.cscs + `"`)
	case arg == "=?":
		return ok(`+CSCS: ("` + strings.Join(charsets, `","`) + `")`)
	case strings.HasPrefix(arg, "="):
		v, quoted := strings.CutPrefix(arg, `="`)
		v, closed := strings.CutSuffix(v, `"`)
		if !quoted || !closed || !slices.Contains(charsets, v) {
			return m.cme(50)
		}
		m.rt.cscs = v
		return ok()
	}
	return plainError
}

// setting handles "=n" (0..max) and "?" of a numeric setting.
func (m *Modem) setting(arg, name string, v *int, max int) reply {
	switch {
	case arg == "?":
		return ok(fmt.Sprintf("%s: %d", name, *v))
	case arg == "=?":
		return ok(fmt.Sprintf("%s: (0-%d)", name, max))
	case strings.HasPrefix(arg, "="):
		n, err := strconv.Atoi(arg[1:])
		if err != nil || n < 0 || n > max {
			return m.cme(50)
		}
		*v = n
		return ok()
	}
	return plainError
}

func (m *Modem) cpin() reply {
	switch m.st.SIM {
	case SIMAbsent:
		return m.cme(10)
	case SIMFailed:
		return m.cme(13)
	case SIMLocked:
		return ok("+CPIN: SIM PIN")
	case SIMPUK:
		return ok("+CPIN: SIM PUK")
	}
	return ok("+CPIN: READY")
}

func registered(stat int) bool { return stat == 1 || stat == 5 }

// cregStat is the +CREG/+CGREG <stat> the module reports now.
func (m *Modem) cregStat() int {
	if m.st.SIM != SIMReady || m.rt.cfun != 1 {
		return 0
	}
	return m.st.Reg
}

// ceregStat is the +CEREG <stat>: only on LTE.
func (m *Modem) ceregStat() int {
	if m.st.RAT != "" && m.st.RAT != "LTE" {
		return 0
	}
	return m.cregStat()
}

// act is <AcT>: 7 E-UTRAN, 2 UTRAN.
func (m *Modem) act() int {
	if m.st.RAT == "WCDMA" {
		return 2
	}
	return 7
}

// regLoc is the ,"<lac>","<ci>",<AcT> tail, when registered.
func (m *Modem) regLoc(stat int) string {
	if !registered(stat) {
		return ""
	}
	return fmt.Sprintf(`,"%04X","%X",%d`, m.st.Cell.TAC, m.st.Cell.CellID, m.act())
}

// reg handles AT+CREG / AT+CGREG / AT+CEREG.
func (m *Modem) reg(arg, name string, n *int, stat int) reply {
	switch {
	case arg == "?":
		s := fmt.Sprintf("%s: %d,%d", name, *n, stat)
		if *n == 2 {
			s += m.regLoc(stat)
		}
		return ok(s)
	case arg == "=?":
		return ok(name + ": (0-2)")
	case strings.HasPrefix(arg, "="):
		v, err := strconv.Atoi(arg[1:])
		if err != nil || v < 0 || v > 2 {
			return m.cme(50)
		}
		*n = v
		return ok()
	}
	return plainError
}

// regURCs returns the registration URCs due after a change from the old
// stats (lock held).
func (m *Modem) regURCs(oldC, oldE int) []string {
	var u []string
	urc := func(name string, n, stat int) {
		switch n {
		case 1:
			u = append(u, fmt.Sprintf("%s: %d", name, stat))
		case 2:
			u = append(u, fmt.Sprintf("%s: %d%s", name, stat, m.regLoc(stat)))
		}
	}
	if c := m.cregStat(); c != oldC {
		urc("+CREG", m.rt.cregN, c)
		urc("+CGREG", m.rt.cgregN, c)
	}
	if e := m.ceregStat(); e != oldE {
		urc("+CEREG", m.rt.ceregN, e)
	}
	return u
}

// qeng formats the AT+QENG="servingcell" answer.
func (m *Modem) qeng() []string {
	if len(m.st.ServingCellLines) > 0 {
		return append([]string(nil), m.st.ServingCellLines...)
	}
	c := m.st.Cell
	if m.rt.cfun != 1 || c.State == "SEARCH" || c.State == "" {
		return []string{`+QENG: "servingcell","SEARCH"`}
	}
	s := fmt.Sprintf(`+QENG: "servingcell","%s","LTE","%s",%s,%s,%X,%d,%d,%d,%d,%d,%X,%d,%d,%d,%d`,
		c.State, c.Duplex, c.MCC, c.MNC, c.CellID, c.PCI, c.EARFCN, c.Band, c.ULBW, c.DLBW,
		c.TAC, c.RSRP, c.RSRQ, c.RSSI, c.SINR)
	if !c.OmitOptions {
		tx := "-"
		if c.State == "CONNECT" || c.HasTxPower {
			tx = strconv.Itoa(c.TxPower)
		}
		s += fmt.Sprintf(",%d,%s,%d", c.CQI, tx, c.Srxlev)
	}
	return []string{s}
}

// gps handles AT+QGPS=1 / AT+QGPS?.
func (m *Modem) gps(arg string) reply {
	switch arg {
	case "?":
		v := 0
		if m.rt.gnss {
			v = 1
		}
		return ok(fmt.Sprintf("+QGPS: %d", v))
	case "=1":
		if m.rt.gnss {
			return m.cme(504)
		}
		m.rt.gnss = true
		return ok()
	}
	return m.cme(501)
}

// gpsloc handles AT+QGPSLOC=2 (mode 2 only: signed decimal degrees).
func (m *Modem) gpsloc(arg string) reply {
	if arg != "=2" {
		return m.cme(501)
	}
	if !m.rt.gnss {
		return m.cme(505)
	}
	f := m.st.Fix
	if f == nil {
		return m.cme(516)
	}
	t := f.UTC.UTC()
	return ok(fmt.Sprintf("+QGPSLOC: %02d%02d%02d.%d,%.5f,%.5f,%.1f,%.1f,%d,%.2f,%.1f,%.1f,%02d%02d%02d,%02d",
		t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/int(100*time.Millisecond),
		f.Lat, f.Lon, f.HDOP, f.Altitude, f.Mode, f.COG, f.SpeedKmh, f.SpeedKnots,
		t.Day(), int(t.Month()), t.Year()%100, f.Satellites))
}

// cfun handles AT+CFUN? and AT+CFUN=<fun>[,<rst>].
func (m *Modem) cfun(arg string) reply {
	switch {
	case arg == "?":
		return ok(fmt.Sprintf("+CFUN: %d", m.rt.cfun))
	case arg == "=?":
		return ok("+CFUN: (0,1,4),(0-1)")
	case strings.HasPrefix(arg, "="):
		fun, rst, hasRst := strings.Cut(arg[1:], ",")
		f, err := strconv.Atoi(fun)
		if err != nil || (f != 0 && f != 1 && f != 4) {
			return m.cme(50)
		}
		if hasRst {
			if rst != "0" && rst != "1" {
				return m.cme(50)
			}
			if rst == "1" {
				return reply{final: "OK", reboot: true}
			}
		}
		prev := m.rt.cfun
		m.rt.cfun = f
		r := ok()
		if prev != 1 && f == 1 && m.st.SIM == SIMReady {
			r.after = []string{"+CPIN: READY"}
		}
		return r
	}
	return plainError
}
