package modem

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// wantSyntax checks that err is a *SyntaxError naming field.
func wantSyntax(t *testing.T, err error, field string) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *SyntaxError", err)
	}
	if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v does not match ErrSyntax", err)
	}
	if se.Field != field {
		t.Fatalf("err = %v names field %q, want %q", err, se.Field, field)
	}
}

// TestParseCSQ: 27.007 §8.5 — 0 is −113 dBm or less, 1 is −111, 2..30 are
// −109..−53 in 2 dB steps, 31 is −51 or more, 99 unknown; 100..191 the
// TD-SCDMA scale (−116..−25 dBm), 199 unknown.
func TestParseCSQ(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Signal
	}{
		{"+CSQ: 20,99", Signal{CSQ: 20, BER: 99, DBm: -73, Known: true}},
		{"+CSQ: 0,0", Signal{CSQ: 0, BER: 0, DBm: -113, Known: true}},
		{"+CSQ: 1,7", Signal{CSQ: 1, BER: 7, DBm: -111, Known: true}},
		{"+CSQ: 31,99", Signal{CSQ: 31, BER: 99, DBm: -51, Known: true}},
		{"+CSQ: 99,99", Signal{CSQ: 99, BER: 99}},
		{"+CSQ: 100,99", Signal{CSQ: 100, BER: 99, DBm: -116, Known: true}},
		{"+CSQ: 191,99", Signal{CSQ: 191, BER: 99, DBm: -25, Known: true}},
		{"+CSQ: 199,99", Signal{CSQ: 199, BER: 99}},
		{"+CSQ:24,99", Signal{CSQ: 24, BER: 99, DBm: -65, Known: true}},
	} {
		got, err := ParseCSQ(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("ParseCSQ(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ line, field string }{
		{"+CSQ: 32,99", "<rssi>"},
		{"+CSQ: 192,99", "<rssi>"},
		{"+CSQ: -1,99", "<rssi>"},
		{"+CSQ: x,99", "<rssi>"},
		{"+CSQ: 20,8", "<ber>"},
		{"+CSQ: 20", "line"},
		{"+CSQ: 20,99,1", "line"},
		{"+CREG: 0,1", "line"},
	} {
		_, err := ParseCSQ(tc.line)
		wantSyntax(t, err, tc.field)
	}
}

func TestParseCPIN(t *testing.T) {
	for line, want := range map[string]SIMState{
		"+CPIN: READY":      SIMReady,
		"+CPIN: SIM PIN":    SIMPIN,
		"+CPIN: SIM PUK":    SIMPUK,
		"+CPIN: PH-NET PIN": "PH-NET PIN",
		"+CPIN:READY":       SIMReady,
	} {
		got, err := ParseCPIN(line)
		if err != nil || got != want {
			t.Errorf("ParseCPIN(%q) = %q, %v; want %q", line, got, err, want)
		}
	}
	if !SIMReady.Ready() || SIMPIN.Ready() || SIMNotInserted.Ready() {
		t.Error("SIMState.Ready is wrong")
	}
	for _, line := range []string{"+CPIN: ", "+CPIN: \x01", "+CPIN: " + strings.Repeat("X", 25)} {
		_, err := ParseCPIN(line)
		wantSyntax(t, err, "<code>")
	}
}

// TestParseRegistration covers both forms of 27.007 §7.2/§10.1.22: the
// read answer +CEREG: <n>,<stat>[,<tac>,<ci>,<AcT>] and the URC
// +CEREG: <stat>[,<tac>,<ci>,<AcT>].
func TestParseRegistration(t *testing.T) {
	for _, tc := range []struct {
		line string
		read bool
		want Registration
	}{
		{"+CREG: 0,1", true, Registration{Resp: "+CREG", N: 0, Stat: RegHome, AcT: -1}},
		{"+CEREG: 0,1", true, Registration{Resp: "+CEREG", N: 0, Stat: RegHome, AcT: -1}},
		{`+CEREG: 2,1,"4E2F","1A2B3C4",7`, true,
			Registration{Resp: "+CEREG", N: 2, Stat: RegHome, Area: "4E2F", CellID: "1A2B3C4", AcT: 7}},
		// A Sierra module's answer, from a public log (docs/modem.md).
		{`+CREG: 2,1,"FFFE","76340C",7`, true,
			Registration{Resp: "+CREG", N: 2, Stat: RegHome, Area: "FFFE", CellID: "76340C", AcT: 7}},
		{"+CGREG: 2,5", true, Registration{Resp: "+CGREG", N: 2, Stat: RegRoaming, AcT: -1}},
		{"+CEREG: 2,0", true, Registration{Resp: "+CEREG", N: 2, Stat: RegNotSearching, AcT: -1}},
		// URCs.
		{"+CEREG: 1", false, Registration{Resp: "+CEREG", N: -1, Stat: RegHome, AcT: -1}},
		{"+CREG: 5", false, Registration{Resp: "+CREG", N: -1, Stat: RegRoaming, AcT: -1}},
		{`+CEREG: 5,"4E2F","1A2B3C4",7`, false,
			Registration{Resp: "+CEREG", N: -1, Stat: RegRoaming, Area: "4E2F", CellID: "1A2B3C4", AcT: 7}},
		{`+CEREG: 2,,,`, false, Registration{Resp: "+CEREG", N: -1, Stat: RegSearching, AcT: -1}},
	} {
		if got := isRegRead(tc.line); got != tc.read {
			t.Errorf("isRegRead(%q) = %v, want %v", tc.line, got, tc.read)
		}
		got, err := ParseRegistration(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("ParseRegistration(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ line, field string }{
		{"+CEREG: 2,12", "<stat>"},
		{"+CEREG: 6,1", "<n>"},
		{`+CEREG: 2,1,"XYZ","1",7`, "<lac>"},
		{`+CEREG: 2,1,"4E2F","G1",7`, "<ci>"},
		{`+CEREG: 2,1,"4E2F","1A",99`, "<AcT>"},
		{`+CEREG: "1"`, "<stat>"},
		{"+CEREG: ", "<stat>"},
		{"+COPS: 0", "line"},
	} {
		_, err := ParseRegistration(tc.line)
		wantSyntax(t, err, tc.field)
	}
	if !RegHome.Registered() || !RegRoaming.Registered() || RegSearching.Registered() || RegStat(6).Registered() {
		t.Error("RegStat.Registered is wrong")
	}
	if RegRoaming.String() != "registered, roaming" || RegStat(42).String() != "stat 42" {
		t.Errorf("RegStat.String: %q %q", RegRoaming, RegStat(42))
	}
}

func TestParseCOPS(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Operator
	}{
		{`+COPS: 0,0,"CHN-UNICOM",7`, Operator{Mode: 0, Format: 0, Name: "CHN-UNICOM", AcT: 7}},
		{`+COPS: 0,2,"46000",7`, Operator{Mode: 0, Format: 2, Name: "46000", AcT: 7}},
		{`+COPS: 1,0,"T-Mobile"`, Operator{Mode: 1, Format: 0, Name: "T-Mobile", AcT: -1}},
		{`+COPS: 0,0,"China Mobile, 4G",7`, Operator{Mode: 0, Format: 0, Name: "China Mobile, 4G", AcT: 7}},
		{`+COPS: 0`, Operator{Mode: 0, Format: -1, AcT: -1}},
	} {
		got, err := ParseCOPS(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("ParseCOPS(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ line, field string }{
		{`+COPS: 0,0`, "line"},
		{`+COPS: 0,0,CMCC,7`, "<oper>"},
		{`+COPS: 0,0,"",7`, "<oper>"},
		{`+COPS: 9,0,"X",7`, "<mode>"},
		{`+COPS: 0,5,"X",7`, "<format>"},
		{`+COPS: 0,0,"X,7`, "line"},
		{`+COPS: 0,0,"X"Y,7`, "line"},
	} {
		_, err := ParseCOPS(tc.line)
		wantSyntax(t, err, tc.field)
	}
}

func TestParseQCCID(t *testing.T) {
	for line, want := range map[string]string{
		"+QCCID: 89860012345678901234":     "89860012345678901234",
		"+QCCID: 8988303000008051950F":     "8988303000008051950",
		`+QCCID: "89860012345678901234"`:   "89860012345678901234",
		"+QCCID: 898604991023C0032817":     "898604991023C0032817",
		"+QCCID: 8986001234567890123456FF": "", // 24 characters: refused below
	} {
		got, err := ParseQCCID(line)
		if want == "" {
			wantSyntax(t, err, "<ICCID>")
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseQCCID(%q) = %q, %v; want %q", line, got, err, want)
		}
	}
	for _, line := range []string{"+QCCID: 1234", "+QCCID: 8986001234567890123Z"} {
		_, err := ParseQCCID(line)
		wantSyntax(t, err, "<ICCID>")
	}
}

func TestParseATI(t *testing.T) {
	got, err := ParseATI([]string{"Quectel", "EC25", "Revision: EC25EFAR06A03M4G"})
	want := Identity{Manufacturer: "Quectel", Model: "EC25", Revision: "EC25EFAR06A03M4G"}
	if err != nil || got != want {
		t.Fatalf("ParseATI = %+v, %v; want %+v", got, err, want)
	}
	if _, err := ParseATI([]string{"Quectel", "EC25"}); err == nil {
		t.Fatal("ParseATI accepted two lines")
	} else {
		wantSyntax(t, err, "line")
	}
	_, err = ParseATI([]string{"Quectel", "EC25", "Revision: "})
	wantSyntax(t, err, "<revision>")
	_, err = ParseATI([]string{"Quectel", "EC\x0025", "Revision: X"})
	wantSyntax(t, err, "<model>")
}

// TestParseQGPSLOC: the first case is the example in protocols.md §9
// (Quectel GNSS application note layout), the others are answers seen in
// public code and forum posts (a southern/western position; an EC21's
// HDOP of 500.0).
func TestParseQGPSLOC(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Fix
	}{
		{"+QGPSLOC: 113355.0,44.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420,10", Fix{
			Time: time.Date(2020, 4, 25, 11, 33, 55, 0, time.UTC), Lat: 44.74770, Lon: -85.56527,
			HDOP: 1.2, Altitude: 192.0, Mode: 2, COG: 277.11, Satellites: 10}},
		{"+QGPSLOC: 202008.0,-22.98486,-43.35916,2.5,4.0,2,0.00,0.0,0.0,290119,09", Fix{
			Time: time.Date(2019, 1, 29, 20, 20, 8, 0, time.UTC), Lat: -22.98486, Lon: -43.35916,
			HDOP: 2.5, Altitude: 4.0, Mode: 2, Satellites: 9}},
		{"+QGPSLOC: 144349.5,51.12345,13.12345,500.0,201.4,3,84.34,12.5,6.7,101024,02", Fix{
			Time: time.Date(2024, 10, 10, 14, 43, 49, 500e6, time.UTC), Lat: 51.12345, Lon: 13.12345,
			HDOP: 500, Altitude: 201.4, Mode: 3, COG: 84.34, SpeedKmh: 12.5, SpeedKnots: 6.7, Satellites: 2}},
	} {
		got, err := ParseQGPSLOC(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseQGPSLOC(%q) =\n %+v, %v\nwant %+v", tc.line, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ line, field string }{
		{"+QGPSLOC: 113355.0,44.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420", "line"},
		{"+QGPSLOC: 113355.0,94.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420,10", "<latitude>"},
		{"+QGPSLOC: 113355.0,44.7,-185.5,1.2,192.0,2,277.11,0.0,0.0,250420,10", "<longitude>"},
		{"+QGPSLOC: 113355.0,44.7,-85.5,1.2,1e5,2,277.11,0.0,0.0,250420,10", "<altitude>"},
		{"+QGPSLOC: 113355.0,44.7,-85.5,NaN,192.0,2,277.11,0.0,0.0,250420,10", "<hdop>"},
		{"+QGPSLOC: 113355.0,44.7,-85.5,1.2,192.0,4,277.11,0.0,0.0,250420,10", "<fix>"},
		{"+QGPSLOC: 113355.0,44.7,-85.5,1.2,192.0,2,277.11,0.0,0.0,310220,10", "<date>"},
		{"+QGPSLOC: 113355.0,44.7,-85.5,1.2,192.0,2,277.11,0.0,0.0,2504,10", "<date>"},
		{"+QGPSLOC: 253355.0,44.7,-85.5,1.2,192.0,2,277.11,0.0,0.0,250420,10", "<UTC>"},
		{"+QGPSLOC: 1133.0,44.7,-85.5,1.2,192.0,2,277.11,0.0,0.0,250420,10", "<UTC>"},
		{"+QGPSLOC: 113355.0,44.7,-85.5,1.2,192.0,2,277.11,0.0,0.0,250420,100", "<nsat>"},
	} {
		_, err := ParseQGPSLOC(tc.line)
		wantSyntax(t, err, tc.field)
	}
}

// TestParseCMEError: numeric (AT+CMEE=1) and verbose (AT+CMEE=2) forms map
// to the same code; the texts are 27.007 §9.2's and Quectel's GNSS ones.
func TestParseCMEError(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
		cms  bool
		text string
	}{
		{"+CME ERROR: 10", 10, false, "SIM not inserted"},
		{"+CME ERROR: SIM not inserted", 10, false, "SIM not inserted"},
		{"+CME ERROR: sim NOT inserted", 10, false, "sim NOT inserted"},
		{"+CME ERROR: 516", 516, false, "not fixed now"},
		{"+CME ERROR: Not fixed now", 516, false, "Not fixed now"},
		{"+CME ERROR: Incorrect parameters", 50, false, "Incorrect parameters"},
		{"+CME ERROR: operation not supported", 4, false, "operation not supported"},
		{"+CME ERROR: 999", 999, false, ""},
		{"+CME ERROR: vendor specific thing", -1, false, "vendor specific thing"},
		{"+CMS ERROR: 310", 310, true, "SIM not inserted"},
		{"+CMS ERROR: 500", 500, true, "unknown error"},
	} {
		e, ok := ParseCMEError(tc.line)
		if !ok || e.Code != tc.code || e.CMS != tc.cms || e.Text != tc.text {
			t.Errorf("ParseCMEError(%q) = %+v, %v; want code %d cms %v text %q", tc.line, e, ok, tc.code, tc.cms, tc.text)
		}
	}
	if _, ok := ParseCMEError("ERROR"); ok {
		t.Error("plain ERROR taken for +CME ERROR")
	}
	for _, tc := range []struct {
		e    *CMEError
		want []error
		not  []error
	}{
		{&CMEError{Code: 10}, []error{ErrCommand, ErrSIMNotInserted}, []error{ErrSIM, ErrNoFix}},
		{&CMEError{Code: 11}, []error{ErrCommand, ErrSIM}, []error{ErrSIMNotInserted}},
		{&CMEError{Code: 30}, []error{ErrNoNetwork}, []error{ErrSIM}},
		{&CMEError{Code: 516}, []error{ErrNoFix}, []error{ErrNoNetwork}},
		{&CMEError{Code: 310, CMS: true}, []error{ErrSIMNotInserted}, []error{ErrNoFix}},
		{&CMEError{Code: 516, CMS: true}, []error{ErrCommand}, []error{ErrNoFix}},
		{&CMEError{Code: -1, Text: "x"}, []error{ErrCommand}, []error{ErrSIM, ErrSIMNotInserted, ErrNoNetwork, ErrNoFix}},
	} {
		for _, w := range tc.want {
			if !errors.Is(tc.e, w) {
				t.Errorf("%v does not match %v", tc.e, w)
			}
		}
		for _, w := range tc.not {
			if errors.Is(tc.e, w) {
				t.Errorf("%v matches %v", tc.e, w)
			}
		}
	}
	e := &CMEError{Cmd: "AT+QCCID", Code: 10, Text: "SIM not inserted"}
	if got := e.Error(); got != "modem: AT+QCCID: +CME ERROR: 10 (SIM not inserted)" {
		t.Errorf("Error() = %q", got)
	}
}

func TestSplitFields(t *testing.T) {
	fs, err := splitFields("x", ` 0 , "a,b" ,, "" ,-`)
	if err != nil {
		t.Fatal(err)
	}
	want := []field{{s: "0"}, {s: "a,b", quoted: true}, {s: ""}, {s: "", quoted: true}, {s: "-"}}
	if !reflect.DeepEqual(fs, want) {
		t.Fatalf("splitFields = %+v, want %+v", fs, want)
	}
	for _, s := range []string{`"abc`, `"a"b`, `a"b`} {
		if _, err := splitFields("x", s); err == nil {
			t.Errorf("splitFields(%q) accepted", s)
		}
	}
}
