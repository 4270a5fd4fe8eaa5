package modem

import (
	"strconv"
	"strings"
	"time"
)

// Signal is the answer to AT+CSQ (3GPP TS 27.007 §8.5).
type Signal struct {
	// CSQ is <rssi> as sent: 0..31 and 99 (GSM/UMTS/LTE scale), or
	// 100..191 and 199 (TD-SCDMA scale).
	CSQ int
	// BER is <ber>: 0..7, 99 not known.
	BER int
	// DBm is the received signal strength: 2·CSQ − 113 on the 0..31
	// scale (0 means −113 dBm or less, 31 means −51 dBm or more), CSQ −
	// 216 on the 100..191 scale. 0 when not Known.
	DBm int
	// Known is false for 99 and 199 ("not known or not detectable").
	Known bool
}

// ParseCSQ decodes "+CSQ: <rssi>,<ber>".
func ParseCSQ(line string) (Signal, error) {
	const resp = "+CSQ"
	p, err := payload(line, "+CSQ:")
	if err != nil {
		return Signal{}, err
	}
	fs, err := splitFields(resp, p)
	if err != nil {
		return Signal{}, err
	}
	if len(fs) != 2 {
		return Signal{}, syntaxErr(resp, "line", p, "want 2 fields <rssi>,<ber>, got "+strconv.Itoa(len(fs)))
	}
	csq, err := atoiRange(resp, "<rssi>", fs[0], 0, 199)
	if err != nil {
		return Signal{}, err
	}
	ber, err := atoiRange(resp, "<ber>", fs[1], 0, 99)
	if err != nil {
		return Signal{}, err
	}
	if ber > 7 && ber != 99 {
		return Signal{}, syntaxErr(resp, "<ber>", fs[1].s, "want 0..7 or 99")
	}
	s := Signal{CSQ: csq, BER: ber}
	switch {
	case csq <= 31:
		s.DBm, s.Known = 2*csq-113, true
	case csq == 99 || csq == 199:
	case csq >= 100 && csq <= 191:
		s.DBm, s.Known = csq-216, true
	default:
		return Signal{}, syntaxErr(resp, "<rssi>", fs[0].s, "want 0..31, 99, 100..191 or 199")
	}
	return s, nil
}

// SIMState is the <code> of +CPIN (3GPP TS 27.007 §8.3), or one of the
// driver's names for the error answers.
type SIMState string

// SIM states. Any other +CPIN code (PH-NET PIN, SIM PIN2, …) is passed
// through as sent.
const (
	// SIMReady: "+CPIN: READY", no password pending.
	SIMReady SIMState = "READY"
	// SIMPIN: the SIM wants its PIN.
	SIMPIN SIMState = "SIM PIN"
	// SIMPUK: the SIM wants its PUK (PIN blocked).
	SIMPUK SIMState = "SIM PUK"
	// SIMNotInserted: AT+CPIN? answered +CME ERROR: 10.
	SIMNotInserted SIMState = "NOT INSERTED"
	// SIMFailure: AT+CPIN? answered +CME ERROR: 13.
	SIMFailure SIMState = "FAILURE"
	// SIMBusy: AT+CPIN? answered +CME ERROR: 14 (still initialising).
	SIMBusy SIMState = "BUSY"
)

// Ready reports whether the SIM needs nothing more.
func (s SIMState) Ready() bool { return s == SIMReady }

// ParseCPIN decodes "+CPIN: <code>".
func ParseCPIN(line string) (SIMState, error) {
	p, err := payload(line, "+CPIN:")
	if err != nil {
		return "", err
	}
	p = strings.Trim(p, `"`)
	if !printable(p) || len(p) > 24 {
		return "", syntaxErr("+CPIN", "<code>", p, "want a printable code of 1..24 characters")
	}
	return SIMState(p), nil
}

// RegStat is <stat> of +CREG, +CGREG and +CEREG (3GPP TS 27.007 §7.2,
// §10.1.20, §10.1.22).
type RegStat int

// Registration states.
const (
	// RegNotSearching: not registered, not searching for an operator.
	RegNotSearching RegStat = 0
	// RegHome: registered, home network.
	RegHome RegStat = 1
	// RegSearching: not registered, searching.
	RegSearching RegStat = 2
	// RegDenied: registration denied.
	RegDenied RegStat = 3
	// RegUnknown: unknown (e.g. out of coverage).
	RegUnknown RegStat = 4
	// RegRoaming: registered, roaming.
	RegRoaming RegStat = 5
)

var regNames = [...]string{
	"not registered",
	"registered, home",
	"searching",
	"denied",
	"unknown",
	"registered, roaming",
	"registered for SMS only, home",
	"registered for SMS only, roaming",
	"emergency bearer services only",
	"registered for CSFB not preferred, home",
	"registered for CSFB not preferred, roaming",
	"attached for access to RLOS",
}

// String names the state.
func (s RegStat) String() string {
	if s >= 0 && int(s) < len(regNames) {
		return regNames[s]
	}
	return "stat " + strconv.Itoa(int(s))
}

// Registered reports whether the state gives data service: registered
// home (1) or roaming (5). The SMS-only, emergency-only and CSFB states
// (6..11) do not count.
func (s RegStat) Registered() bool { return s == RegHome || s == RegRoaming }

// Registration is a +CREG, +CGREG or +CEREG line: the solicited answer
// to the read command ("+CEREG: <n>,<stat>[,<tac>,<ci>[,<AcT>]]") or the
// unsolicited one ("+CEREG: <stat>[,<tac>,<ci>[,<AcT>]]").
type Registration struct {
	// Resp is "+CREG", "+CGREG" or "+CEREG".
	Resp string
	// N is the URC mode <n> of a read answer, -1 for a URC.
	N int
	// Stat is the registration state.
	Stat RegStat
	// Area is <lac> (CREG, CGREG) or <tac> (CEREG): hexadecimal as sent,
	// "" when absent.
	Area string
	// CellID is <ci>, hexadecimal as sent, "" when absent.
	CellID string
	// AcT is the access technology (0 GSM, 2 UTRAN, 7 E-UTRAN, …), -1
	// when absent.
	AcT int
}

// regPrefix returns the prefix of a registration line, or "".
func regPrefix(line string) string {
	for _, p := range [...]string{"+CREG:", "+CGREG:", "+CEREG:"} {
		if strings.HasPrefix(line, p) {
			return p
		}
	}
	return ""
}

// isRegRead tells the solicited form of a registration line from the
// unsolicited one: the read answer always starts "<n>,<stat>", two bare
// integers, while a URC has one field or a quoted <lac>/<tac> second.
// This is what keeps a "+CEREG: 1" URC arriving during AT+CEREG? from
// being taken for the answer (user-issues §10.8).
func isRegRead(line string) bool {
	p := regPrefix(line)
	if p == "" {
		return false
	}
	fs, err := splitFields(p, strings.TrimSpace(line[len(p):]))
	if err != nil || len(fs) < 2 || fs[0].quoted || fs[1].quoted {
		return false
	}
	_, err1 := atoi(p, "<n>", fs[0])
	_, err2 := atoi(p, "<stat>", fs[1])
	return err1 == nil && err2 == nil
}

// ParseRegistration decodes a +CREG/+CGREG/+CEREG line of either form.
func ParseRegistration(line string) (Registration, error) {
	p := regPrefix(line)
	if p == "" {
		return Registration{}, syntaxErr("+CREG", "line", line, "expected +CREG:, +CGREG: or +CEREG:")
	}
	resp := strings.TrimSuffix(p, ":")
	fs, err := splitFields(resp, strings.TrimSpace(line[len(p):]))
	if err != nil {
		return Registration{}, err
	}
	r := Registration{Resp: resp, N: -1, AcT: -1}
	if isRegRead(line) {
		if r.N, err = atoiRange(resp, "<n>", fs[0], 0, 5); err != nil {
			return Registration{}, err
		}
		fs = fs[1:]
	}
	if r.Stat, err = regStat(resp, fs[0]); err != nil {
		return Registration{}, err
	}
	fs = fs[1:]
	if len(fs) >= 1 && fs[0].s != "" {
		if _, err := hexval(resp, "<lac>", fs[0], 8); err != nil {
			return Registration{}, err
		}
		r.Area = fs[0].s
	}
	if len(fs) >= 2 && fs[1].s != "" {
		if _, err := hexval(resp, "<ci>", fs[1], 10); err != nil {
			return Registration{}, err
		}
		r.CellID = fs[1].s
	}
	if len(fs) >= 3 && fs[2].s != "" {
		if r.AcT, err = atoiRange(resp, "<AcT>", fs[2], 0, 15); err != nil {
			return Registration{}, err
		}
	}
	// Later fields (<rac>, <cause_type>, <reject_cause>, …) are ignored.
	return r, nil
}

func regStat(resp string, f field) (RegStat, error) {
	if f.quoted {
		return 0, syntaxErr(resp, "<stat>", f.s, "quoted")
	}
	n, err := atoiRange(resp, "<stat>", f, 0, 11)
	return RegStat(n), err
}

// Operator is the answer to AT+COPS? (3GPP TS 27.007 §7.3).
type Operator struct {
	// Mode is <mode>: 0 automatic, 1 manual, 2 deregistered, 4 manual
	// then automatic.
	Mode int
	// Format is <format> of Name: 0 long alphanumeric, 1 short, 2
	// numeric (MCC+MNC); -1 when no operator is selected.
	Format int
	// Name is <oper>, "" when no operator is selected.
	Name string
	// AcT is the access technology, -1 when absent.
	AcT int
}

// ParseCOPS decodes "+COPS: <mode>[,<format>,<oper>[,<AcT>]]".
func ParseCOPS(line string) (Operator, error) {
	const resp = "+COPS"
	p, err := payload(line, "+COPS:")
	if err != nil {
		return Operator{}, err
	}
	fs, err := splitFields(resp, p)
	if err != nil {
		return Operator{}, err
	}
	o := Operator{Format: -1, AcT: -1}
	if o.Mode, err = atoiRange(resp, "<mode>", fs[0], 0, 4); err != nil {
		return Operator{}, err
	}
	if len(fs) == 1 {
		return o, nil
	}
	if len(fs) < 3 {
		return Operator{}, syntaxErr(resp, "line", p, "want <mode>[,<format>,<oper>[,<AcT>]]")
	}
	if o.Format, err = atoiRange(resp, "<format>", fs[1], 0, 2); err != nil {
		return Operator{}, err
	}
	if !fs[2].quoted || !printable(fs[2].s) || len(fs[2].s) > 64 {
		return Operator{}, syntaxErr(resp, "<oper>", fs[2].s, "want a quoted printable name of 1..64 characters")
	}
	o.Name = fs[2].s
	if len(fs) >= 4 && fs[3].s != "" {
		if o.AcT, err = atoiRange(resp, "<AcT>", fs[3], 0, 15); err != nil {
			return Operator{}, err
		}
	}
	return o, nil
}

// ParseQCCID decodes Quectel's "+QCCID: <ICCID>" and returns the ICCID.
// ICCIDs are 18..22 characters, digits in practice, though some issuers
// use hex digits; a trailing F padding nibble is dropped.
func ParseQCCID(line string) (string, error) {
	p, err := payload(line, "+QCCID:")
	if err != nil {
		return "", err
	}
	p = strings.Trim(p, `"`)
	if len(p) < 18 || len(p) > 22 {
		return "", syntaxErr("+QCCID", "<ICCID>", p, "want 18..22 characters")
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
			return "", syntaxErr("+QCCID", "<ICCID>", p, "not hex digits")
		}
	}
	return strings.TrimRight(p, "Ff"), nil
}

// Identity is the answer to ATI (V.25ter §6.1.3; Quectel: manufacturer,
// model and "Revision: <firmware>" on three lines).
type Identity struct {
	Manufacturer string
	Model        string
	// Revision is the firmware revision, without the "Revision: " label.
	Revision string
}

// ParseATI decodes the information lines of ATI.
func ParseATI(lines []string) (Identity, error) {
	var ls []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	if len(ls) < 3 {
		return Identity{}, syntaxErr("ATI", "line", strings.Join(ls, "|"), "want manufacturer, model and revision lines, got "+strconv.Itoa(len(ls)))
	}
	names := [...]string{"<manufacturer>", "<model>", "<revision>"}
	for i := range 3 {
		if !printable(ls[i]) || len(ls[i]) > 64 {
			return Identity{}, syntaxErr("ATI", names[i], ls[i], "want printable text of 1..64 characters")
		}
	}
	rev := strings.TrimSpace(strings.TrimPrefix(ls[2], "Revision:"))
	if rev == "" {
		return Identity{}, syntaxErr("ATI", "<revision>", ls[2], "empty")
	}
	return Identity{Manufacturer: ls[0], Model: ls[1], Revision: rev}, nil
}

// Fix is a GNSS position from AT+QGPSLOC=2 (Quectel GNSS application
// note): "+QGPSLOC: <UTC>,<latitude>,<longitude>,<hdop>,<altitude>,<fix>,
// <cog>,<spkm>,<spkn>,<date>,<nsat>", latitude and longitude in signed
// decimal degrees (mode 2).
type Fix struct {
	// Time is <date> ddmmyy plus <UTC> hhmmss.s, in UTC.
	Time time.Time
	// Lat and Lon are decimal degrees, negative south and west.
	Lat, Lon float64
	// HDOP is the horizontal dilution of precision (the modem has been
	// seen to report 500.0 when it has none; the value is passed on).
	HDOP float64
	// Altitude is metres above sea level.
	Altitude float64
	// Mode is <fix>: 2 (2D) or 3 (3D).
	Mode int
	// COG is the course over ground as printed (Quectel documents the
	// format as ddd.mm).
	COG float64
	// SpeedKmh and SpeedKnots are the speed over ground.
	SpeedKmh, SpeedKnots float64
	// Satellites is <nsat>, the number of satellites used.
	Satellites int
}

// ParseQGPSLOC decodes the mode-2 answer of AT+QGPSLOC.
func ParseQGPSLOC(line string) (Fix, error) {
	const resp = "+QGPSLOC"
	p, err := payload(line, "+QGPSLOC:")
	if err != nil {
		return Fix{}, err
	}
	fs, err := splitFields(resp, p)
	if err != nil {
		return Fix{}, err
	}
	if len(fs) != 11 {
		return Fix{}, syntaxErr(resp, "line", p, "want 11 fields, got "+strconv.Itoa(len(fs)))
	}
	var fx Fix
	num := func(i int, name string, lo, hi float64) (float64, error) {
		v, err := parseDecimal(fs[i].s)
		if err != nil {
			return 0, syntaxErr(resp, name, fs[i].s, "not a decimal number")
		}
		if v < lo || v > hi {
			return 0, syntaxErr(resp, name, fs[i].s, "out of range")
		}
		return v, nil
	}
	if fx.Lat, err = num(1, "<latitude>", -90, 90); err != nil {
		return Fix{}, err
	}
	if fx.Lon, err = num(2, "<longitude>", -180, 180); err != nil {
		return Fix{}, err
	}
	if fx.HDOP, err = num(3, "<hdop>", 0, 1000); err != nil {
		return Fix{}, err
	}
	if fx.Altitude, err = num(4, "<altitude>", -2000, 100000); err != nil {
		return Fix{}, err
	}
	if fx.Mode, err = atoiRange(resp, "<fix>", fs[5], 2, 3); err != nil {
		return Fix{}, err
	}
	if fx.COG, err = num(6, "<cog>", 0, 360); err != nil {
		return Fix{}, err
	}
	if fx.SpeedKmh, err = num(7, "<spkm>", 0, 100000); err != nil {
		return Fix{}, err
	}
	if fx.SpeedKnots, err = num(8, "<spkn>", 0, 100000); err != nil {
		return Fix{}, err
	}
	if fx.Satellites, err = atoiRange(resp, "<nsat>", fs[10], 0, 99); err != nil {
		return Fix{}, err
	}
	if fx.Time, err = gnssTime(fs[9].s, fs[0].s); err != nil {
		return Fix{}, err
	}
	return fx, nil
}

// parseDecimal accepts [-+]digits[.digits], nothing else (no exponents,
// no NaN or Inf, no hex floats).
func parseDecimal(s string) (float64, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if t == "" || len(t) > 16 {
		return 0, ErrSyntax
	}
	dot := false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0 && i < len(t)-1:
			dot = true
		default:
			return 0, ErrSyntax
		}
	}
	return strconv.ParseFloat(s, 64)
}

// gnssTime combines <date> ddmmyy and <UTC> hhmmss[.s…] into a UTC time.
func gnssTime(date, utc string) (time.Time, error) {
	const resp = "+QGPSLOC"
	if len(date) != 6 {
		return time.Time{}, syntaxErr(resp, "<date>", date, "want ddmmyy")
	}
	dd, err1 := strconv.Atoi(date[0:2])
	mo, err2 := strconv.Atoi(date[2:4])
	yy, err3 := strconv.Atoi(date[4:6])
	if err1 != nil || err2 != nil || err3 != nil || dd < 1 || dd > 31 || mo < 1 || mo > 12 || yy < 0 {
		return time.Time{}, syntaxErr(resp, "<date>", date, "want ddmmyy")
	}
	whole, frac, _ := strings.Cut(utc, ".")
	if len(whole) != 6 || len(frac) > 3 {
		return time.Time{}, syntaxErr(resp, "<UTC>", utc, "want hhmmss.sss")
	}
	hh, err1 := strconv.Atoi(whole[0:2])
	mi, err2 := strconv.Atoi(whole[2:4])
	ss, err3 := strconv.Atoi(whole[4:6])
	if err1 != nil || err2 != nil || err3 != nil || hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 60 {
		return time.Time{}, syntaxErr(resp, "<UTC>", utc, "want hhmmss.sss")
	}
	ms := 0
	if frac != "" {
		for i := 0; i < len(frac); i++ {
			if frac[i] < '0' || frac[i] > '9' {
				return time.Time{}, syntaxErr(resp, "<UTC>", utc, "want hhmmss.sss")
			}
		}
		f := frac + strings.Repeat("0", 3-len(frac))
		ms, _ = strconv.Atoi(f)
	}
	t := time.Date(2000+yy, time.Month(mo), dd, hh, mi, ss, ms*int(time.Millisecond), time.UTC)
	if t.Day() != dd {
		return time.Time{}, syntaxErr(resp, "<date>", date, "no such day")
	}
	return t, nil
}
