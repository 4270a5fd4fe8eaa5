package modem

import (
	"strconv"
	"strings"
)

// ServingCell is the answer to AT+QENG="servingcell" (Quectel engineering
// mode). Which of LTE, WCDMA and NR is set depends on RAT.
type ServingCell struct {
	// State is the UE state: "SEARCH" (no cell yet), "LIMSRV" (camped,
	// limited service), "NOCONN" (idle, registered), "CONNECT" (RRC
	// connected).
	State string
	// RAT is "LTE", "CAT-M", "CAT-NB", "WCDMA", "NR5G-SA" or "EN-DC"
	// (LTE anchor plus NR5G-NSA); "" when the modem reported only a state.
	RAT string
	// LTE is set for LTE, CAT-M, CAT-NB and EN-DC.
	LTE *LTECell
	// WCDMA is set for WCDMA.
	WCDMA *WCDMACell
	// NR is set for NR5G-SA and EN-DC (the NSA leg).
	NR *NRCell
}

// LTECell is the LTE serving-cell layout:
// "servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,
// <earfcn>,<freq_band_ind>,<UL_bandwidth>,<DL_bandwidth>,<TAC>,<RSRP>,
// <RSRQ>,<RSSI>,<SINR>,<CQI>,<tx_power>,<srxlev>.
type LTECell struct {
	// Duplex is "FDD" or "TDD".
	Duplex string
	// MCC and MNC keep their digits as sent ("01" is not "1"); "" when "-".
	MCC, MNC string
	// CellID is the E-UTRAN cell identity (28 bits), hexadecimal on the
	// wire; 0 when "-".
	CellID uint64
	// PCI is the physical cell id (0..503).
	PCI Meas
	// EARFCN is the downlink channel number.
	EARFCN Meas
	// Band is the E-UTRA band number.
	Band Meas
	// ULBandwidth and DLBandwidth are bandwidth codes 0..5 (1.4, 3, 5,
	// 10, 15, 20 MHz); see LTEBandwidthKHz.
	ULBandwidth, DLBandwidth Meas
	// TAC is the tracking area code, hexadecimal on the wire; 0 when "-".
	TAC uint64
	// RSRP (dBm), RSRQ (dB), RSSI (dBm) and SINR are as the modem
	// prints them. SINR's scale varies by firmware (dB, or 1/5 dB steps
	// from −20 dB); it is passed on raw.
	RSRP, RSRQ, RSSI, SINR Meas
	// CQI, TxPower and Srxlev are "-" on many firmwares while idle.
	CQI, TxPower, Srxlev Meas
}

// WCDMACell is the WCDMA layout: "servingcell",<state>,"WCDMA",<MCC>,
// <MNC>,<LAC>,<cellID>,<uarfcn>,<PSC>,<RAC>,<RSCP>,<ecio>,<phych>,<SF>,
// <slot>,<speech_code>,<comMod>. Only the fields up to <ecio> are kept.
type WCDMACell struct {
	MCC, MNC string
	// LAC and CellID are hexadecimal on the wire; 0 when "-".
	LAC, CellID      uint64
	UARFCN, PSC, RAC Meas
	// RSCP (dBm) and EcIo (dB) as printed.
	RSCP, EcIo Meas
}

// NRCell is the 5G NR leg. NR5G-SA: "servingcell",<state>,"NR5G-SA",
// <duplex>,<MCC>,<MNC>,<cellID>,<PCID>,<TAC>,<ARFCN>,<band>,
// <NR_DL_bandwidth>,<RSRP>,<RSRQ>,<SINR>,<scs>,<srxlev>. EN-DC second
// line: "NR5G-NSA",<MCC>,<MNC>,<PCID>,<RSRP>,<SINR>,<RSRQ>,<ARFCN>,<band>,
// <NR_DL_bandwidth>,…; Duplex, CellID and TAC stay empty there.
type NRCell struct {
	Duplex   string
	MCC, MNC string
	CellID   uint64
	TAC      uint64
	PCI      Meas
	ARFCN    Meas
	Band     Meas
	// DLBandwidth is the NR bandwidth code as sent.
	DLBandwidth      Meas
	RSRP, RSRQ, SINR Meas
}

// LTEBandwidthKHz maps an LTE bandwidth code (0..5) to kHz.
func LTEBandwidthKHz(code int) (int, bool) {
	switch code {
	case 0:
		return 1400, true
	case 1:
		return 3000, true
	case 2, 3, 4, 5:
		return (code - 1) * 5000, true
	}
	return 0, false
}

const qengResp = "+QENG"

// ParseQENG decodes the +QENG: lines of AT+QENG="servingcell" (one line,
// or three for EN-DC). Layouts per Quectel's engineering-mode command as
// the open-source Quectel tooling reads it (see docs/modem.md); GSM and
// unknown RATs give an error matching ErrUnsupported.
func ParseQENG(lines []string) (ServingCell, error) {
	var ls [][]field
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		p, err := payload(l, "+QENG:")
		if err != nil {
			return ServingCell{}, err
		}
		fs, err := splitFields(qengResp, p)
		if err != nil {
			return ServingCell{}, err
		}
		ls = append(ls, fs)
	}
	if len(ls) == 0 {
		return ServingCell{}, syntaxErr(qengResp, "line", "", "no +QENG: line")
	}
	head := ls[0]
	if len(head) < 2 || !head[0].quoted || !strings.EqualFold(head[0].s, "servingcell") {
		return ServingCell{}, syntaxErr(qengResp, `"servingcell"`, head[0].s, `want "servingcell" first`)
	}
	var sc ServingCell
	switch st := head[1].s; st {
	case "SEARCH", "LIMSRV", "NOCONN", "CONNECT":
		sc.State = st
	default:
		return ServingCell{}, syntaxErr(qengResp, "<state>", st, "want SEARCH, LIMSRV, NOCONN or CONNECT")
	}
	if len(head) == 2 {
		if len(ls) == 1 {
			return sc, nil // state only
		}
		return parseENDC(sc, ls[1:])
	}
	if len(ls) > 1 {
		return ServingCell{}, syntaxErr(qengResp, "line", head[2].s, "unexpected extra +QENG: lines")
	}
	sc.RAT = head[2].s
	body := head[3:]
	var err error
	switch sc.RAT {
	case "LTE", "CAT-M", "CAT-NB":
		sc.LTE, err = parseLTE(body)
	case "WCDMA":
		sc.WCDMA, err = parseWCDMA(body)
	case "NR5G-SA":
		sc.NR, err = parseNRSA(body)
	default:
		return ServingCell{}, &SyntaxError{Resp: qengResp, Field: "<RAT>", Value: sc.RAT,
			Reason: "layout not decoded by this driver", Err: ErrUnsupported}
	}
	if err != nil {
		return ServingCell{}, err
	}
	return sc, nil
}

// parseENDC decodes the "LTE" and "NR5G-NSA" lines after the state line.
func parseENDC(sc ServingCell, rest [][]field) (ServingCell, error) {
	sc.RAT = "EN-DC"
	for _, fs := range rest {
		if len(fs) == 0 {
			continue
		}
		switch fs[0].s {
		case "LTE":
			c, err := parseLTE(fs[1:])
			if err != nil {
				return ServingCell{}, err
			}
			sc.LTE = c
		case "NR5G-NSA":
			c, err := parseNRNSA(fs[1:])
			if err != nil {
				return ServingCell{}, err
			}
			sc.NR = c
		default:
			return ServingCell{}, &SyntaxError{Resp: qengResp, Field: "<RAT>", Value: fs[0].s,
				Reason: "unexpected line in an EN-DC answer", Err: ErrUnsupported}
		}
	}
	if sc.LTE == nil {
		return ServingCell{}, syntaxErr(qengResp, "line", "", `EN-DC answer without its "LTE" line`)
	}
	return sc, nil
}

// cursor reads fields in order, naming each.
type cursor struct {
	fs  []field
	i   int
	err error
}

func (c *cursor) next(name string) (field, bool) {
	if c.err != nil {
		return field{}, false
	}
	if c.i >= len(c.fs) {
		c.err = syntaxErr(qengResp, name, "", "missing (only "+strconv.Itoa(len(c.fs))+" fields)")
		return field{}, false
	}
	f := c.fs[c.i]
	c.i++
	return f, true
}

// optional reports whether another field follows.
func (c *cursor) more() bool { return c.err == nil && c.i < len(c.fs) }

func (c *cursor) meas(name string) Meas {
	f, ok := c.next(name)
	if !ok {
		return Meas{}
	}
	m, err := meas(qengResp, name, f)
	if err != nil {
		c.err = err
	}
	return m
}

func (c *cursor) optMeas(name string) Meas {
	if !c.more() {
		return Meas{}
	}
	return c.meas(name)
}

func (c *cursor) hex(name string, digits int) uint64 {
	f, ok := c.next(name)
	if !ok || f.s == "-" || f.s == "" {
		return 0
	}
	v, err := hexval(qengResp, name, f, digits)
	if err != nil {
		c.err = err
	}
	return v
}

func (c *cursor) digits(name string, lo, hi int) string {
	f, ok := c.next(name)
	if !ok || f.s == "-" || f.s == "" {
		return ""
	}
	s, err := digitsField(qengResp, name, f, lo, hi)
	if err != nil {
		c.err = err
	}
	return s
}

func (c *cursor) duplex(name string) string {
	f, ok := c.next(name)
	if !ok {
		return ""
	}
	switch f.s {
	case "FDD", "TDD", "-", "":
		return strings.Trim(f.s, "-")
	}
	c.err = syntaxErr(qengResp, name, f.s, "want FDD or TDD")
	return ""
}

func parseLTE(fs []field) (*LTECell, error) {
	c := &cursor{fs: fs}
	l := &LTECell{}
	l.Duplex = c.duplex("<is_tdd>")
	l.MCC = c.digits("<MCC>", 3, 3)
	l.MNC = c.digits("<MNC>", 2, 3)
	l.CellID = c.hex("<cellID>", 8)
	l.PCI = c.meas("<PCID>")
	l.EARFCN = c.meas("<earfcn>")
	l.Band = c.meas("<freq_band_ind>")
	l.ULBandwidth = c.meas("<UL_bandwidth>")
	l.DLBandwidth = c.meas("<DL_bandwidth>")
	l.TAC = c.hex("<TAC>", 8)
	l.RSRP = c.meas("<RSRP>")
	l.RSRQ = c.meas("<RSRQ>")
	l.RSSI = c.meas("<RSSI>")
	l.SINR = c.meas("<SINR>")
	l.CQI = c.optMeas("<CQI>")
	l.TxPower = c.optMeas("<tx_power>")
	l.Srxlev = c.optMeas("<srxlev>")
	if c.err != nil {
		return nil, c.err
	}
	for _, bw := range []struct {
		name string
		m    Meas
	}{{"<UL_bandwidth>", l.ULBandwidth}, {"<DL_bandwidth>", l.DLBandwidth}} {
		if _, ok := LTEBandwidthKHz(bw.m.Value); bw.m.Valid && !ok {
			return nil, syntaxErr(qengResp, bw.name, bw.m.String(), "want 0..5")
		}
	}
	return l, nil
}

func parseWCDMA(fs []field) (*WCDMACell, error) {
	c := &cursor{fs: fs}
	w := &WCDMACell{}
	w.MCC = c.digits("<MCC>", 3, 3)
	w.MNC = c.digits("<MNC>", 2, 3)
	w.LAC = c.hex("<LAC>", 8)
	w.CellID = c.hex("<cellID>", 8)
	w.UARFCN = c.meas("<uarfcn>")
	w.PSC = c.meas("<PSC>")
	w.RAC = c.meas("<RAC>")
	w.RSCP = c.meas("<RSCP>")
	w.EcIo = c.meas("<ecio>")
	if c.err != nil {
		return nil, c.err
	}
	return w, nil
}

func parseNRSA(fs []field) (*NRCell, error) {
	c := &cursor{fs: fs}
	n := &NRCell{}
	n.Duplex = c.duplex("<duplex_mode>")
	n.MCC = c.digits("<MCC>", 3, 3)
	n.MNC = c.digits("<MNC>", 2, 3)
	n.CellID = c.hex("<cellID>", 10)
	n.PCI = c.meas("<PCID>")
	n.TAC = c.hex("<TAC>", 8)
	n.ARFCN = c.meas("<ARFCN>")
	n.Band = c.meas("<band>")
	n.DLBandwidth = c.meas("<NR_DL_bandwidth>")
	n.RSRP = c.meas("<RSRP>")
	n.RSRQ = c.meas("<RSRQ>")
	n.SINR = c.meas("<SINR>")
	if c.err != nil {
		return nil, c.err
	}
	return n, nil
}

func parseNRNSA(fs []field) (*NRCell, error) {
	c := &cursor{fs: fs}
	n := &NRCell{}
	n.MCC = c.digits("<MCC>", 3, 3)
	n.MNC = c.digits("<MNC>", 2, 3)
	n.PCI = c.meas("<PCID>")
	n.RSRP = c.meas("<RSRP>")
	n.SINR = c.meas("<SINR>")
	n.RSRQ = c.meas("<RSRQ>")
	n.ARFCN = c.optMeas("<ARFCN>")
	n.Band = c.optMeas("<band>")
	n.DLBandwidth = c.optMeas("<NR_DL_bandwidth>")
	if c.err != nil {
		return nil, c.err
	}
	return n, nil
}
