package modem

import (
	"errors"
	"reflect"
	"testing"
)

func v(n int) Meas { return Meas{Value: n, Valid: true} }

// TestParseQENGLTE decodes three LTE answers: the example of protocols.md
// §9 (no tx_power/srxlev), one logged by a MikroTik router from a Quectel
// module (CQI, tx_power, srxlev all "-"), and one quoted in openqti's
// source (ends after CQI).
func TestParseQENGLTE(t *testing.T) {
	for _, tc := range []struct {
		line string
		want ServingCell
	}{
		{`+QENG: "servingcell","NOCONN","LTE","FDD",262,01,1A2B3C4,201,1300,3,5,5,4E2F,-95,-11,-65,12,0`,
			ServingCell{State: "NOCONN", RAT: "LTE", LTE: &LTECell{
				Duplex: "FDD", MCC: "262", MNC: "01", CellID: 0x1A2B3C4, PCI: v(201), EARFCN: v(1300), Band: v(3),
				ULBandwidth: v(5), DLBandwidth: v(5), TAC: 0x4E2F, RSRP: v(-95), RSRQ: v(-11), RSSI: v(-65), SINR: v(12),
				CQI: v(0)}}},
		{`+QENG: "servingcell","NOCONN","LTE","FDD",216,70,127328,189,476,1,3,3,D17,-104,-9,-77,18,-,-,-`,
			ServingCell{State: "NOCONN", RAT: "LTE", LTE: &LTECell{
				Duplex: "FDD", MCC: "216", MNC: "70", CellID: 0x127328, PCI: v(189), EARFCN: v(476), Band: v(1),
				ULBandwidth: v(3), DLBandwidth: v(3), TAC: 0xD17, RSRP: v(-104), RSRQ: v(-9), RSSI: v(-77), SINR: v(18)}}},
		{`+QENG: "servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,6300,20,3,3,603,-104,-9,-78,11,23`,
			ServingCell{State: "NOCONN", RAT: "LTE", LTE: &LTECell{
				Duplex: "FDD", MCC: "214", MNC: "01", CellID: 0x7676A09, PCI: v(188), EARFCN: v(6300), Band: v(20),
				ULBandwidth: v(3), DLBandwidth: v(3), TAC: 0x603, RSRP: v(-104), RSRQ: v(-9), RSSI: v(-78), SINR: v(11),
				CQI: v(23)}}},
		{`+QENG: "servingcell","CONNECT","CAT-M","TDD",460,00,1A2B3C4,201,1650,3,5,5,4E2F,-95,-11,-65,12,9,23,33`,
			ServingCell{State: "CONNECT", RAT: "CAT-M", LTE: &LTECell{
				Duplex: "TDD", MCC: "460", MNC: "00", CellID: 0x1A2B3C4, PCI: v(201), EARFCN: v(1650), Band: v(3),
				ULBandwidth: v(5), DLBandwidth: v(5), TAC: 0x4E2F, RSRP: v(-95), RSRQ: v(-11), RSSI: v(-65), SINR: v(12),
				CQI: v(9), TxPower: v(23), Srxlev: v(33)}}},
	} {
		got, err := ParseQENG([]string{tc.line})
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseQENG(%q) =\n %+v %+v, %v\nwant %+v %+v", tc.line, got, got.LTE, err, tc.want, tc.want.LTE)
		}
	}
	if kHz, ok := LTEBandwidthKHz(0); !ok || kHz != 1400 {
		t.Errorf("LTEBandwidthKHz(0) = %d", kHz)
	}
	if kHz, ok := LTEBandwidthKHz(5); !ok || kHz != 20000 {
		t.Errorf("LTEBandwidthKHz(5) = %d", kHz)
	}
	if _, ok := LTEBandwidthKHz(6); ok {
		t.Error("LTEBandwidthKHz(6) accepted")
	}
}

// TestParseQENGOtherLayouts: the WCDMA, NR5G-SA and EN-DC layouts as
// Quectel's open-source tooling reads them (field positions in
// docs/modem.md; the values are made up), the bare SEARCH state, and a
// GSM answer, which is refused as unsupported.
func TestParseQENGOtherLayouts(t *testing.T) {
	got, err := ParseQENG([]string{`+QENG: "servingcell","SEARCH"`})
	if err != nil || !reflect.DeepEqual(got, ServingCell{State: "SEARCH"}) {
		t.Fatalf("SEARCH: %+v, %v", got, err)
	}

	got, err = ParseQENG([]string{`+QENG: "servingcell","NOCONN","WCDMA",460,01,A1B2,1C3D4E5,10713,3,16,-85,-6,-,-,-,-,-`})
	want := ServingCell{State: "NOCONN", RAT: "WCDMA", WCDMA: &WCDMACell{
		MCC: "460", MNC: "01", LAC: 0xA1B2, CellID: 0x1C3D4E5, UARFCN: v(10713), PSC: v(3), RAC: v(16),
		RSCP: v(-85), EcIo: v(-6)}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("WCDMA: %+v %+v, %v", got, got.WCDMA, err)
	}

	got, err = ParseQENG([]string{`+QENG: "servingcell","NOCONN","NR5G-SA","TDD",460,00,1A2B3C4D5,123,5A0A0B,504990,41,12,-90,-11,15,1,-`})
	want = ServingCell{State: "NOCONN", RAT: "NR5G-SA", NR: &NRCell{
		Duplex: "TDD", MCC: "460", MNC: "00", CellID: 0x1A2B3C4D5, PCI: v(123), TAC: 0x5A0A0B, ARFCN: v(504990),
		Band: v(41), DLBandwidth: v(12), RSRP: v(-90), RSRQ: v(-11), SINR: v(15)}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("NR5G-SA: %+v %+v, %v", got, got.NR, err)
	}

	got, err = ParseQENG([]string{
		`+QENG: "servingcell","NOCONN"`,
		`+QENG: "LTE","FDD",460,01,1A2B3C4,201,1650,3,5,5,4E2F,-95,-11,-65,12,9,-,33`,
		`+QENG: "NR5G-NSA",460,01,747,-85,20,-11,627264,78,12,0,-,-,-,-,1`,
	})
	if err != nil || got.RAT != "EN-DC" || got.LTE == nil || got.NR == nil ||
		got.LTE.EARFCN != v(1650) || got.NR.PCI != v(747) || got.NR.RSRP != v(-85) || got.NR.SINR != v(20) ||
		got.NR.RSRQ != v(-11) || got.NR.ARFCN != v(627264) || got.NR.Band != v(78) {
		t.Fatalf("EN-DC: %+v LTE %+v NR %+v, %v", got, got.LTE, got.NR, err)
	}

	_, err = ParseQENG([]string{`+QENG: "servingcell","NOCONN","GSM",460,00,1806,2F54,36,61,-,-68,255,255,0,38,38,1,-,-,-,-,-,-,-,-,-,"-"`})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("GSM: %v, want ErrUnsupported", err)
	}
	wantSyntax(t, err, "<RAT>")
}

func TestParseQENGErrors(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		field string
	}{
		{nil, "line"},
		{[]string{`+QENG: "neighbourcell intra","LTE",6300`}, `"servingcell"`},
		{[]string{`+QENG: "servingcell","IDLE"`}, "<state>"},
		{[]string{`+QENG: "servingcell","NOCONN","LTE","XDD",262,01,1A2B3C4,201,1300,3,5,5,4E2F,-95,-11,-65,12`}, "<is_tdd>"},
		{[]string{`+QENG: "servingcell","NOCONN","LTE","FDD",26A,01,1A2B3C4,201,1300,3,5,5,4E2F,-95,-11,-65,12`}, "<MCC>"},
		{[]string{`+QENG: "servingcell","NOCONN","LTE","FDD",262,1,1A2B3C4,201,1300,3,5,5,4E2F,-95,-11,-65,12`}, "<MNC>"},
		{[]string{`+QENG: "servingcell","NOCONN","LTE","FDD",262,01,XYZ,201,1300,3,5,5,4E2F,-95,-11,-65,12`}, "<cellID>"},
		{[]string{`+QENG: "servingcell","NOCONN","LTE","FDD",262,01,1A2B3C4,201,1300,3,9,5,4E2F,-95,-11,-65,12`}, "<UL_bandwidth>"},
		{[]string{`+QENG: "servingcell","NOCONN","LTE","FDD",262,01,1A2B3C4,201,1300,3,5,5,4E2F,-95,-11,-65`}, "<SINR>"},
		{[]string{`+QENG: "servingcell","NOCONN","LTE","FDD",262,01,1A2B3C4,201,1300,3,5,5,4E2F,x,-11,-65,12`}, "<RSRP>"},
		{[]string{`+QENG: "servingcell","NOCONN","WCDMA",460,01,A1B2,1C3D4E5,10713,3,16,-85`}, "<ecio>"},
		{[]string{`+QENG: "servingcell","NOCONN"`, `+QENG: "NR5G-NSA",460,01,747,-85,20,-11`}, "line"},
		{[]string{`+QENG: "servingcell","NOCONN"`, `+QENG: "UMTS",1`}, "<RAT>"},
		{[]string{`+QENG: "servingcell","NOCONN","LTE","FDD",262,01,1A2B3C4,201,1300,3,5,5,4E2F,-95,-11,-65,12`, `+QENG: "x"`}, "line"},
		{[]string{`+CSQ: 1,2`}, "line"},
	} {
		_, err := ParseQENG(tc.lines)
		wantSyntax(t, err, tc.field)
	}
}
