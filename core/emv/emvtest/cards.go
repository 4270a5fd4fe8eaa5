package emvtest

import (
	"encoding/hex"
	"strings"
)

// Card names.
const (
	NameUnionPay   = "unionpay-qpboc"
	NameVisa       = "visa-qvsdc"
	NameMastercard = "mastercard-mchip"
	NameDual       = "dual-visa-unionpay"
	NameJCBOnly    = "jcb-only"
)

// AIDs of the virtual cards' applications, hex.
const (
	AIDUnionPayDebit  = "A000000333010101"
	AIDUnionPayCredit = "A000000333010102"
	AIDVisa           = "A0000000031010"
	AIDMastercard     = "A0000000041010"
	AIDJCB            = "A0000000651010"
)

// PDOLs, CDOL1 and their data lengths, for tests that build GPO and
// GENERATE AC prefixes.
var (
	// pdolUnionPay is the qPBOC PDOL: TTQ, amount, other amount, country,
	// TVR, currency, date, type, unpredictable number, and 9F7A (EC
	// terminal support indicator), which the terminal does not know and
	// fills with zero.
	pdolUnionPay = h("9F6604 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F7A01")
	// pdolVisa is the usual qVSDC PDOL.
	pdolVisa = h("9F6604 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704")
	// cdol1Mastercard is an M/Chip Advance CDOL1 (66 bytes of data).
	cdol1Mastercard = h("9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F3501 9F4502 9F4C08 9F3403 9F2103 9F7C14")
	cdol2Mastercard = h("9105 8A02 9505 9F3704 9F4C08")
)

// UnionPay is a UnionPay debit card (qPBOC, PBOC 3.0 style): PPSE with
// one application, a PDOL with an unknown tag, GPO format 1 (AIP + AFL of
// three entries, one ODA record), track 2 in SFI 1, PAN and issuer data in
// SFI 2, a certificate record, and the ARQC (9F26, 9F27, 9F10, 9F36) in
// the SFI 3 record. A 19-digit PAN, so 5A is padded with F.
func UnionPay() *Card {
	const pan = "6212345600000012340"
	app := unionPayApp(h(AIDUnionPayDebit), "PBOC DEBIT", "UnionPay Debit", pan, "301231", 0x01,
		h("3C5F9A21E07B4D18"), 0x21)
	return &Card{
		Name: NameUnionPay, Scheme: "UnionPay", AID: AIDUnionPayDebit, Label: "PBOC DEBIT",
		PAN: pan, Expiry: "3012", PANSeq: "01", Product: "debit",
		Script:   []Exchange{{Command: selectCmd(ppseName), Response: ppse(entry(h(AIDUnionPayDebit), "PBOC DEBIT", 0x01))}},
		Apps:     []App{app},
		selected: -1,
	}
}

// Visa is a Visa credit card (qVSDC): the cryptogram, track 2 and
// cardholder name come in the GPO answer (format 2), the PAN and expiry
// in SFI 3 record 1, a certificate in record 2.
func Visa() *Card {
	const pan = "4761730000000011"
	return &Card{
		Name: NameVisa, Scheme: "Visa", AID: AIDVisa, Label: "VISA CREDIT",
		PAN: pan, Expiry: "2911", PANSeq: "00",
		Script:   []Exchange{{Command: selectCmd(ppseName), Response: ppse(entry(h(AIDVisa), "VISA CREDIT", 0x01))}},
		Apps:     []App{visaApp(pan, "291130", h("8E2B7C10A45F3D96"), 0x2A)},
		selected: -1,
	}
}

// Mastercard is a Mastercard credit card (M/Chip, EMV Kernel C-2): no
// PDOL, GPO format 2 with AIP 1980 and a three-entry AFL, mag-stripe data
// (56, 9F6B, and 9F63 PUNATC, which must not reach field 55) in SFI 1,
// account data with CDOL1 in SFI 2, long certificate records in SFI 3
// (record 2 carries 256 data bytes, the most a short APDU answer can, so
// with SW1 SW2 it needs a PN532 extended frame), and the ARQC from
// GENERATE AC.
func Mastercard() *Card {
	const pan = "5413330000000019"
	const exp = "280831"
	t2 := track2(pan, "2808", "201", "0000000000000")
	fci := ok(tlv("6F", tlv("84", h(AIDMastercard)), tlv("A5",
		tlv("50", a("MASTERCARD")),
		tlv("87", h("01")),
		tlv("5F2D", a("en")),
		tlv("BF0C", tlv("9F0A", h("0001050100000000"))),
	)))
	app := App{AID: h(AIDMastercard), FCI: fci, Script: []Exchange{
		{Command: h("80A8000002830000"), Response: ok(tlv("77",
			tlv("82", h("1980")),
			tlv("94", h("08010100 10010101 18010200")),
		))},
		{Command: readRec(1, 1), Response: ok(tlv("70",
			tlv("9F6C", h("0001")),
			tlv("9F62", h("000000000038")),
			tlv("9F63", h("000000003C00")),
			tlv("56", a("B"+pan+"^MC TEST/CARD^2808201000000000000")),
			tlv("9F64", h("03")),
			tlv("9F65", h("000E")),
			tlv("9F66", h("0E70")),
			tlv("9F6B", t2),
			tlv("9F67", h("03")),
		))},
		{Command: readRec(2, 1), Response: ok(tlv("70",
			tlv("57", t2),
			tlv("5F20", a("MC TEST/CARD")),
			tlv("5A", cn(pan)),
			tlv("5F24", h(exp)),
			tlv("5F25", h("230801")),
			tlv("5F28", h("0840")),
			tlv("5F34", h("01")),
			tlv("8C", cdol1Mastercard),
			tlv("8D", cdol2Mastercard),
			tlv("8E", h("00000000 00000000 4203 1E03 1F03")),
			tlv("9F07", h("FF00")),
			tlv("9F08", h("0002")),
			tlv("9F0D", h("B050AC8800")),
			tlv("9F0E", h("0000000000")),
			tlv("9F0F", h("B070AC9800")),
			tlv("9F42", h("0840")),
			tlv("9F4A", h("82")),
		))},
		{Command: readRec(3, 1), Response: ok(tlv("70",
			tlv("8F", h("05")),
			tlv("9F32", h("03")),
			tlv("92", filler(0x51, 36)),
			tlv("90", filler(0x52, 176)),
		))},
		{Command: readRec(3, 2), Response: ok(tlv("70",
			tlv("9F46", filler(0x53, 176)),
			tlv("9F47", h("03")),
			tlv("9F48", filler(0x54, 66)), // 256 data bytes: the longest short APDU answer
		))},
		{Command: cat(h("80AE8000"), []byte{byte(dolLen(cdol1Mastercard))}), Prefix: true, Response: ok(tlv("77",
			tlv("9F27", h("80")),
			tlv("9F36", h("0007")),
			tlv("9F26", h("5D0C7A33E1F2094B")),
			tlv("9F10", h("0110A00000220000000000000000000000FF")),
		))},
	}}
	return &Card{
		Name: NameMastercard, Scheme: "Mastercard", AID: AIDMastercard, Label: "MASTERCARD",
		PAN: pan, Expiry: "2808", PANSeq: "01",
		Script:   []Exchange{{Command: selectCmd(ppseName), Response: ppse(entry(h(AIDMastercard), "MASTERCARD", 0x01))}},
		Apps:     []App{app},
		selected: -1,
	}
}

// Dual is a co-badged card: the PPSE lists Visa first with priority 2
// and UnionPay credit second with priority 1, so a terminal must select
// UnionPay. Both applications are fully scripted (separate PANs), so
// tests can refuse one and read the other.
func Dual() *Card {
	const upPAN = "6228480000000023"
	up := unionPayApp(h(AIDUnionPayCredit), "PBOC CREDIT", "UnionPay Credit", upPAN, "310630", 0x00,
		h("A17E0C94D2B85F63"), 0x05)
	visa := visaApp("4761730000000029", "310630", h("0F9E2D4C6B8A7968"), 0x06)
	return &Card{
		Name: NameDual, Scheme: "UnionPay", AID: AIDUnionPayCredit, Label: "PBOC CREDIT",
		PAN: upPAN, Expiry: "3106", PANSeq: "00", Product: "credit",
		Script: []Exchange{{Command: selectCmd(ppseName), Response: ppse(
			entry(h(AIDVisa), "VISA CREDIT", 0x02),
			entry(h(AIDUnionPayCredit), "PBOC CREDIT", 0x01),
		)}},
		Apps:     []App{visa, up},
		selected: -1,
	}
}

// JCBOnly is a card whose only application is JCB, which the default
// terminal configuration does not support.
func JCBOnly() *Card {
	fci := ok(tlv("6F", tlv("84", h(AIDJCB)), tlv("A5", tlv("50", a("JCB CREDIT")), tlv("87", h("01")))))
	return &Card{
		Name: NameJCBOnly, Scheme: "JCB", AID: AIDJCB, Label: "JCB CREDIT",
		PAN: "3569990000000017", Expiry: "2912",
		Script:   []Exchange{{Command: selectCmd(ppseName), Response: ppse(entry(h(AIDJCB), "JCB CREDIT", 0x01))}},
		Apps:     []App{{AID: h(AIDJCB), FCI: fci}},
		selected: -1,
	}
}

// unionPayApp builds a qPBOC application with the cryptogram in the last
// record.
func unionPayApp(aid []byte, label, preferred, pan, expiry string, seq byte, ac []byte, atc byte) App {
	fci := ok(tlv("6F", tlv("84", aid), tlv("A5",
		tlv("50", a(label)),
		tlv("87", h("01")),
		tlv("9F38", pdolUnionPay),
		tlv("5F2D", a("zhen")),
		tlv("9F11", h("01")),
		tlv("9F12", a(preferred)),
		tlv("BF0C", tlv("9F4D", h("0B0A"))),
	)))
	return App{AID: aid, FCI: fci, Script: []Exchange{
		{Command: gpoPrefix(dolLen(pdolUnionPay)), Prefix: true, Response: ok(tlv("80",
			h("7C00"), h("08010100 10010201 18010100"),
		))},
		{Command: readRec(1, 1), Response: ok(tlv("70",
			tlv("57", track2(pan, expiry[:4], "220", "1234567890")),
			tlv("5F20", a("ZHANG/SAN")),
			tlv("9F1F", a("000000000000")),
		))},
		{Command: readRec(2, 1), Response: ok(tlv("70",
			tlv("5A", cn(pan)),
			tlv("5F24", h(expiry)),
			tlv("5F25", h("200101")),
			tlv("5F28", h("0156")),
			tlv("5F34", []byte{seq}),
			tlv("9F07", h("FF00")),
			tlv("9F08", h("0030")),
			tlv("8E", h("00000000 00000000 4203 1E03 1F00")),
			tlv("9F0D", h("D86004A800")),
			tlv("9F0E", h("0010980000")),
			tlv("9F0F", h("D86804F800")),
			tlv("9F4A", h("82")),
			tlv("9F63", h("30313035303030300000000000000000")),
		))},
		{Command: readRec(2, 2), Response: ok(tlv("70",
			tlv("8F", h("0B")),
			tlv("9F32", h("03")),
			tlv("92", filler(0x11, 36)),
			tlv("90", filler(0x12, 176)),
		))},
		{Command: readRec(3, 1), Response: ok(tlv("70",
			tlv("9F26", ac),
			tlv("9F27", h("80")),
			tlv("9F10", h("07010103A00000010A0100000000003B163732")),
			tlv("9F36", []byte{0x00, atc}),
			tlv("9F5D", h("000000050000")),
		))},
	}}
}

// visaApp builds a qVSDC application with the cryptogram in GPO.
func visaApp(pan, expiry string, ac []byte, atc byte) App {
	aid := h(AIDVisa)
	fci := ok(tlv("6F", tlv("84", aid), tlv("A5",
		tlv("50", a("VISA CREDIT")),
		tlv("87", h("01")),
		tlv("9F38", pdolVisa),
		tlv("BF0C", tlv("5F55", a("CN")), tlv("42", h("476173"))),
	)))
	return App{AID: aid, FCI: fci, Script: []Exchange{
		{Command: gpoPrefix(dolLen(pdolVisa)), Prefix: true, Response: ok(tlv("77",
			tlv("82", h("2000")),
			tlv("94", h("18010200")),
			tlv("57", track2(pan, expiry[:4], "201", "0000000000000")),
			tlv("5F20", a("VISA TEST/CARD")),
			tlv("5F34", h("00")),
			tlv("9F10", h("06011203A00000")),
			tlv("9F26", ac),
			tlv("9F27", h("80")),
			tlv("9F36", []byte{0x00, atc}),
			tlv("9F6C", h("0000")),
			tlv("9F6E", h("20700000")),
		))},
		{Command: readRec(3, 1), Response: ok(tlv("70",
			tlv("5A", cn(pan)),
			tlv("5F24", h(expiry)),
			tlv("5F28", h("0156")),
			tlv("9F07", h("FF00")),
			tlv("9F08", h("0096")),
		))},
		{Command: readRec(3, 2), Response: ok(tlv("70",
			tlv("8F", h("09")),
			tlv("9F32", h("03")),
			tlv("90", filler(0x21, 144)),
			tlv("9F4A", h("82")),
		))},
	}}
}

var ppseName = []byte("2PAY.SYS.DDF01")

func ppse(entries ...[]byte) []byte {
	return ok(tlv("6F", tlv("84", ppseName), tlv("A5", tlv("BF0C", entries...))))
}

func entry(aid []byte, label string, priority byte) []byte {
	return tlv("61", tlv("4F", aid), tlv("50", a(label)), tlv("87", []byte{priority}))
}

// selectCmd is SELECT by name: 00 A4 04 00 Lc name 00.
func selectCmd(name []byte) []byte {
	return cat(h("00A40400"), []byte{byte(len(name))}, name, []byte{0x00})
}

// readRec is READ RECORD: 00 B2 rec (sfi<<3)|4 00.
func readRec(sfi, rec byte) []byte {
	return []byte{0x00, 0xB2, rec, sfi<<3 | 0x04, 0x00}
}

// gpoPrefix is the fixed start of GET PROCESSING OPTIONS for PDOL data of
// n bytes (n < 128): 80 A8 00 00 Lc 83 n.
func gpoPrefix(n int) []byte {
	return []byte{0x80, 0xA8, 0x00, 0x00, byte(n + 2), 0x83, byte(n)}
}

// dolLen sums the lengths of a DOL made of 1- and 2-byte tags.
func dolLen(dol []byte) int {
	n := 0
	for i := 0; i < len(dol); {
		if dol[i]&0x1F == 0x1F {
			i += 2
		} else {
			i++
		}
		n += int(dol[i])
		i++
	}
	return n
}

// tlv encodes one object: tag (hex), BER length, the parts concatenated.
func tlv(tag string, parts ...[]byte) []byte {
	v := cat(parts...)
	out := h(tag)
	switch n := len(v); {
	case n < 0x80:
		out = append(out, byte(n))
	case n <= 0xFF:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, v...)
}

// ok appends status 9000.
func ok(parts ...[]byte) []byte { return append(cat(parts...), 0x90, 0x00) }

func sw(code uint16) []byte { return []byte{byte(code >> 8), byte(code)} }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// h decodes hex with optional spaces; the data here is constant, so a
// typo panics at first use in any test.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic("emvtest: bad hex " + s + ": " + err.Error())
	}
	return b
}

func a(s string) []byte { return []byte(s) }

// cn packs digits as compressed numeric, padded with F.
func cn(digits string) []byte {
	if len(digits)%2 == 1 {
		digits += "F"
	}
	return h(digits)
}

// track2 builds track 2 equivalent data: PAN D YYMM service code
// discretionary data, padded with F.
func track2(pan, yymm, service, disc string) []byte {
	return cn(pan + "D" + yymm + service + disc)
}

// filler is deterministic pseudo-random data standing in for
// certificates (an xorshift generator seeded by seed).
func filler(seed byte, n int) []byte {
	x := uint32(seed)*2654435761 + 1
	out := make([]byte, n)
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}
