package modem

import (
	"errors"
	"strings"
	"testing"

	"github.com/posagent/posagent/core/clock"
)

var lineSeeds = []string{
	"+CSQ: 20,99", "+CSQ: 99,99", "+CSQ: 191,99",
	"+CPIN: READY", "+CPIN: SIM PIN",
	"+CREG: 0,1", `+CEREG: 2,1,"4E2F","1A2B3C4",7`, "+CEREG: 1", `+CEREG: 5,"4E2F","1A2B3C4",7`,
	`+COPS: 0,0,"CHN-UNICOM",7`, "+COPS: 0",
	"+QCCID: 89860012345678901234", "+QCCID: 8988303000008051950F",
	"+QGPSLOC: 113355.0,44.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420,10",
	"+CME ERROR: 10", "+CME ERROR: Not fixed now", "+CMS ERROR: 310",
	`+QENG: "servingcell","NOCONN","LTE","FDD",262,01,1A2B3C4,201,1300,3,5,5,4E2F,-95,-11,-65,12,0`,
	`+COPS: 0,0,"X`, "+CSQ: ,", "", `"`, ",,,,",
}

// fuzzErr checks the error contract of a decoder: an error for bad input
// is a *SyntaxError that names a field.
func fuzzErr(t *testing.T, what string, err error) {
	if err == nil {
		return
	}
	var se *SyntaxError
	if !errors.As(err, &se) || se.Field == "" || se.Resp == "" {
		t.Fatalf("%s: error %v is not a *SyntaxError naming a field", what, err)
	}
}

// FuzzParseLine runs every one-line decoder on arbitrary text: none may
// panic, errors name the field, and what decodes is in range.
func FuzzParseLine(f *testing.F) {
	for _, s := range lineSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if s, err := ParseCSQ(line); err == nil {
			if s.Known && (s.DBm < -116 || s.DBm > -25) {
				t.Fatalf("ParseCSQ(%q) dBm %d out of range", line, s.DBm)
			}
		} else {
			fuzzErr(t, "ParseCSQ", err)
		}
		_, err := ParseCPIN(line)
		fuzzErr(t, "ParseCPIN", err)
		if r, err := ParseRegistration(line); err == nil {
			if r.Stat < 0 || r.Stat > 11 || (r.N != -1) != isRegRead(line) {
				t.Fatalf("ParseRegistration(%q) = %+v", line, r)
			}
		} else {
			fuzzErr(t, "ParseRegistration", err)
		}
		_, err = ParseCOPS(line)
		fuzzErr(t, "ParseCOPS", err)
		if id, err := ParseQCCID(line); err == nil {
			if len(id) > 22 {
				t.Fatalf("ParseQCCID(%q) = %q", line, id)
			}
		} else {
			fuzzErr(t, "ParseQCCID", err)
		}
		if fx, err := ParseQGPSLOC(line); err == nil {
			if fx.Lat < -90 || fx.Lat > 90 || fx.Lon < -180 || fx.Lon > 180 || fx.Time.IsZero() {
				t.Fatalf("ParseQGPSLOC(%q) = %+v", line, fx)
			}
		} else {
			fuzzErr(t, "ParseQGPSLOC", err)
		}
		if e, ok := ParseCMEError(line); ok {
			_ = e.Error()
			if !errors.Is(e, ErrCommand) {
				t.Fatalf("ParseCMEError(%q) does not match ErrCommand", line)
			}
		}
		_, _ = finalResult("AT", line)
		_ = urcName(line)
	})
}

// FuzzParseQENG decodes arbitrary +QENG answers (lines split at LF).
func FuzzParseQENG(f *testing.F) {
	f.Add(`+QENG: "servingcell","NOCONN","LTE","FDD",216,70,127328,189,476,1,3,3,D17,-104,-9,-77,18,-,-,-`)
	f.Add(`+QENG: "servingcell","NOCONN","WCDMA",460,01,A1B2,1C3D4E5,10713,3,16,-85,-6,-,-,-,-,-`)
	f.Add(`+QENG: "servingcell","NOCONN","NR5G-SA","TDD",460,00,1A2B3C4D5,123,5A0A0B,504990,41,12,-90,-11,15,1,-`)
	f.Add("+QENG: \"servingcell\",\"NOCONN\"\n+QENG: \"LTE\",\"FDD\",460,01,1A2B3C4,201,1650,3,5,5,4E2F,-95,-11,-65,12,9,-,33\n+QENG: \"NR5G-NSA\",460,01,747,-85,20,-11,627264,78,12")
	f.Add(`+QENG: "servingcell","SEARCH"`)
	f.Add(`+QENG: "servingcell","NOCONN","GSM",460`)
	f.Fuzz(func(t *testing.T, in string) {
		sc, err := ParseQENG(strings.Split(in, "\n"))
		if err != nil {
			fuzzErr(t, "ParseQENG", err)
			return
		}
		switch sc.RAT {
		case "":
			if sc.LTE != nil || sc.WCDMA != nil || sc.NR != nil {
				t.Fatalf("state-only answer with a cell: %+v", sc)
			}
		case "LTE", "CAT-M", "CAT-NB":
			if sc.LTE == nil {
				t.Fatalf("%s without LTE: %+v", sc.RAT, sc)
			}
		case "WCDMA":
			if sc.WCDMA == nil {
				t.Fatalf("WCDMA without cell: %+v", sc)
			}
		case "NR5G-SA":
			if sc.NR == nil {
				t.Fatalf("NR5G-SA without cell: %+v", sc)
			}
		case "EN-DC":
			if sc.LTE == nil {
				t.Fatalf("EN-DC without LTE: %+v", sc)
			}
		default:
			t.Fatalf("unexpected RAT %q", sc.RAT)
		}
	})
}

// FuzzSplitter cuts arbitrary bytes into lines: every line is non-empty,
// free of CR and LF, at most maxLine bytes, and the bytes outside the
// lines are only CR, LF, trailing blanks and dropped long lines.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("\r\n+CSQ: 20,99\r\n\r\nOK\r\n"))
	f.Add([]byte("AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n"))
	f.Add([]byte("RDY\n\n+CPIN: READY\r"))
	f.Add([]byte(strings.Repeat("x", 3000) + "\r\nOK\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		sp := splitter{max: maxLine}
		var lines []string
		// Feed in two parts to cross a read boundary.
		cut := len(in) / 3
		for _, part := range [][]byte{in[:cut], in[cut:]} {
			sp.feed(part, func(l string) { lines = append(lines, l) }, func() {})
		}
		for _, l := range lines {
			if l == "" || len(l) > maxLine || strings.ContainsAny(l, "\r\n") {
				t.Fatalf("bad line %q", l)
			}
		}
	})
}

// FuzzDispatch feeds arbitrary lines to the client's dispatcher while a
// command is pending: it must not panic, and the command ends at most
// once.
func FuzzDispatch(f *testing.F) {
	f.Add("+CEREG: 1\n+CEREG: 0,1\nOK")
	f.Add("AT+CEREG?\n+CEREG: 2,1,\"4E2F\",\"1A2B3C4\",7\n+CME ERROR: 10")
	f.Add("RDY\nERROR\nOK\nOK")
	f.Fuzz(func(t *testing.T, in string) {
		o := Options{Clock: clock.System{}}.normalize()
		c := newClient(o)
		p := &pending{spec: cmdSpec{text: "AT+CEREG?", prefix: "+CEREG:", accept: isRegRead}, done: make(chan struct{})}
		c.pend = p
		for _, l := range strings.Split(in, "\n") {
			if l != "" {
				c.line(l)
			}
		}
		for _, l := range p.lines {
			if !isRegRead(l) {
				t.Fatalf("answer took %q", l)
			}
		}
	})
}
