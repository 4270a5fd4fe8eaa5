package modem

import (
	"strconv"
	"strings"
)

// cmeTexts are the <err> values of +CME ERROR this driver names.
//
// 0..150: 3GPP TS 27.007 §9.2.1 and §9.2.2 (general and GPRS-related
// errors), as published in the specification's tables and reproduced by
// many modem manuals. 501..549: Quectel's GNSS error codes (EC2x GNSS
// application note), corroborated by several independent open-source
// drivers but not read in the Quectel document itself; see docs/modem.md.
var cmeTexts = map[int]string{
	0:   "phone failure",
	1:   "no connection to phone",
	2:   "phone-adaptor link reserved",
	3:   "operation not allowed",
	4:   "operation not supported",
	5:   "PH-SIM PIN required",
	6:   "PH-FSIM PIN required",
	7:   "PH-FSIM PUK required",
	10:  "SIM not inserted",
	11:  "SIM PIN required",
	12:  "SIM PUK required",
	13:  "SIM failure",
	14:  "SIM busy",
	15:  "SIM wrong",
	16:  "incorrect password",
	17:  "SIM PIN2 required",
	18:  "SIM PUK2 required",
	20:  "memory full",
	21:  "invalid index",
	22:  "not found",
	23:  "memory failure",
	24:  "text string too long",
	25:  "invalid characters in text string",
	26:  "dial string too long",
	27:  "invalid characters in dial string",
	30:  "no network service",
	31:  "network timeout",
	32:  "network not allowed - emergency calls only",
	40:  "network personalization PIN required",
	41:  "network personalization PUK required",
	42:  "network subset personalization PIN required",
	43:  "network subset personalization PUK required",
	44:  "service provider personalization PIN required",
	45:  "service provider personalization PUK required",
	46:  "corporate personalization PIN required",
	47:  "corporate personalization PUK required",
	50:  "incorrect parameters",
	100: "unknown",
	103: "illegal MS",
	106: "illegal ME",
	107: "GPRS services not allowed",
	111: "PLMN not allowed",
	112: "location area not allowed",
	113: "roaming not allowed in this location area",
	132: "service option not supported",
	133: "requested service option not subscribed",
	134: "service option temporarily out of order",
	148: "unspecified GPRS error",
	149: "PDP authentication failure",
	150: "invalid mobile class",
	501: "invalid parameter",
	502: "operation not supported",
	503: "GNSS subsystem busy",
	504: "session is ongoing",
	505: "session not active",
	506: "operation timeout",
	507: "function not enabled",
	508: "time information error",
	509: "XTRA not enabled",
	512: "validity time is out of range",
	513: "internal resource error",
	514: "GNSS locked",
	515: "end by E911",
	516: "not fixed now",
	517: "geo-fence ID does not exist",
	549: "unknown error",
}

// cmsTexts are the <err> values of +CMS ERROR (3GPP TS 27.005 §3.2.5).
// From general knowledge of the specification; not re-checked here (the
// agent sends no SMS).
var cmsTexts = map[int]string{
	300: "ME failure",
	301: "SMS service of ME reserved",
	302: "operation not allowed",
	303: "operation not supported",
	304: "invalid PDU mode parameter",
	305: "invalid text mode parameter",
	310: "SIM not inserted",
	311: "SIM PIN required",
	312: "PH-SIM PIN required",
	313: "SIM failure",
	314: "SIM busy",
	315: "SIM wrong",
	316: "SIM PUK required",
	317: "SIM PIN2 required",
	318: "SIM PUK2 required",
	320: "memory failure",
	321: "invalid memory index",
	322: "memory full",
	330: "SMSC address unknown",
	331: "no network service",
	332: "network timeout",
	500: "unknown error",
}

// Common +CME ERROR codes, for callers that inspect CMEError.Code.
const (
	CMEOperationNotAllowed = 3
	CMEOperationNotSupport = 4
	CMESIMNotInserted      = 10
	CMESIMPINRequired      = 11
	CMESIMPUKRequired      = 12
	CMESIMFailure          = 13
	CMESIMBusy             = 14
	CMENoNetworkService    = 30
	CMEIncorrectParameters = 50
	CMEUnknown             = 100
	// CMEGNSSSessionOngoing is Quectel's answer to AT+QGPS=1 when GNSS
	// is already on.
	CMEGNSSSessionOngoing = 504
	// CMEGNSSSessionNotActive is Quectel's answer to AT+QGPSLOC while
	// GNSS is off.
	CMEGNSSSessionNotActive = 505
	// CMEGNSSNotFixed is Quectel's "Not fixed now" (no position yet).
	CMEGNSSNotFixed = 516
)

// CMEText returns the text of a +CME ERROR code, or "" when the table
// does not know it.
func CMEText(code int) string { return cmeTexts[code] }

// CMSText returns the text of a +CMS ERROR code, or "" when unknown.
func CMSText(code int) string { return cmsTexts[code] }

// cmeByText is the reverse of cmeTexts, keyed by normalised text.
var cmeByText, cmsByText = reverse(cmeTexts), reverse(cmsTexts)

func reverse(m map[int]string) map[string]int {
	r := make(map[string]int, len(m))
	for k, v := range m {
		n := normText(v)
		// Quectel reuses texts (502/4 "operation not supported"): the
		// 3GPP code, the smaller one, wins.
		if old, ok := r[n]; !ok || k < old {
			r[n] = k
		}
	}
	return r
}

// normText folds case and the punctuation modems vary on.
func normText(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("_", "-", ",", "", ".", "").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// ParseCMEError decodes a "+CME ERROR: <err>" or "+CMS ERROR: <err>"
// final result line, numeric (AT+CMEE=1) or verbose (AT+CMEE=2). ok is
// false when the line is neither. A verbose text the table does not know
// gives Code -1 and the text as sent.
func ParseCMEError(line string) (e *CMEError, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(line, "+CME ERROR:"):
		rest = line[len("+CME ERROR:"):]
		e = &CMEError{}
	case strings.HasPrefix(line, "+CMS ERROR:"):
		rest = line[len("+CMS ERROR:"):]
		e = &CMEError{CMS: true}
	default:
		return nil, false
	}
	rest = strings.TrimSpace(rest)
	texts, byText := cmeTexts, cmeByText
	if e.CMS {
		texts, byText = cmsTexts, cmsByText
	}
	if n, err := strconv.Atoi(rest); err == nil && n >= 0 && len(rest) <= 6 {
		e.Code, e.Text = n, texts[n]
		return e, true
	}
	rest = strings.Trim(rest, `"`)
	if len(rest) > 80 {
		rest = rest[:80]
	}
	e.Text = rest
	if n, ok := byText[normText(rest)]; ok {
		e.Code = n
	} else {
		e.Code = -1
	}
	return e, true
}
