package emv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/emv/emvtest"
	"github.com/posagent/posagent/core/txn"
)

var testDate = time.Date(2026, 3, 15, 14, 30, 5, 0, time.UTC)

func testTerminal() Terminal {
	return Terminal{
		Amount:        12345, // 123.45 CNY
		Currency:      156,
		Country:       156,
		Type:          TypeSale,
		Date:          testDate,
		Unpredictable: [4]byte{0x1A, 0x2B, 0x3C, 0x4D},
		CVMLimit:      100000, // 1000.00 CNY
		IFDSerial:     "PN532-01",
		TSC:           42,
	}
}

// recorder wraps a Card, records the APDUs and can fail chosen ones.
type recorder struct {
	card Card
	sent [][]byte
	// fail, when it returns an error for an APDU, makes Transceive
	// return that error instead of asking the card.
	fail func(apdu []byte) error
}

func (r *recorder) Transceive(ctx context.Context, apdu []byte) ([]byte, error) {
	r.sent = append(r.sent, append([]byte(nil), apdu...))
	if r.fail != nil {
		if err := r.fail(apdu); err != nil {
			return nil, err
		}
	}
	return r.card.Transceive(ctx, apdu)
}

// sentWith returns the first recorded APDU starting with prefix.
func (r *recorder) sentWith(prefix []byte) []byte {
	for _, a := range r.sent {
		if bytes.HasPrefix(a, prefix) {
			return a
		}
	}
	return nil
}

func cmd(t testing.TB, c Command) []byte {
	t.Helper()
	b, err := c.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// override makes the card answer command (or any APDU starting with it
// when prefix) with response, whatever is selected.
func override(c *emvtest.Card, command []byte, prefix bool, response []byte) {
	c.Script = append([]emvtest.Exchange{{Command: command, Prefix: prefix, Response: response}}, c.Script...)
}

// allPANs are the PANs of every virtual card; no error may contain one.
func allPANs() []string {
	pans := []string{"4761730000000029"} // the dual card's Visa application
	for _, c := range emvtest.Cards() {
		pans = append(pans, c.PAN)
	}
	return pans
}

func assertNoPAN(t *testing.T, s string) {
	t.Helper()
	for _, pan := range allPANs() {
		if strings.Contains(s, pan) || strings.Contains(s, pan[:12]) {
			t.Fatalf("output contains a PAN: %q", s)
		}
	}
}

// field55 parses r.Field55 into tag order and values.
func field55(t *testing.T, r Result) ([]Tag, map[Tag]string) {
	t.Helper()
	tlvs, err := Parse(r.Field55)
	if err != nil {
		t.Fatalf("field 55 does not parse: %v", err)
	}
	var order []Tag
	vals := map[Tag]string{}
	for _, o := range tlvs {
		if o.Tag.Constructed() {
			t.Fatalf("field 55 holds a template %s", o.Tag)
		}
		order = append(order, o.Tag)
		vals[o.Tag] = hexUpper(o.Value)
	}
	return order, vals
}

func checkValues(t *testing.T, got map[Tag]string, want map[Tag]string) {
	t.Helper()
	for tag, w := range want {
		if got[tag] != w {
			t.Errorf("field 55 tag %s = %q, want %q", tag, got[tag], w)
		}
	}
}

// terminalF55 are the field 55 values every test read with testTerminal
// and no CVM produces.
var terminalF55 = map[Tag]string{
	TagUnpredictable: "1A2B3C4D",
	TagTVR:           "0000000000",
	TagDate:          "260315",
	TagTxnType:       "00",
	TagAmount:        "000000012345",
	TagCurrency:      "0156",
	TagCountry:       "0156",
	TagAmountOther:   "000000000000",
	TagCapabilities:  "802800",
	TagCVMResults:    "1F0002",
	TagTerminalType:  "22",
	TagIFDSerial:     hexUpper([]byte("PN532-01")),
	TagTSC:           "00000042",
}

func TestReadUnionPayQPBOC(t *testing.T) {
	card := emvtest.UnionPay()
	rec := &recorder{card: card}
	r, err := Read(context.Background(), rec, testTerminal(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scheme != "UnionPay" || r.Product != "debit" || r.AID != emvtest.AIDUnionPayDebit || r.Label != "PBOC DEBIT" {
		t.Fatalf("application: %+v", r)
	}
	if r.PAN != card.PAN || r.Expiry != "3012" || r.PANSeq != "01" ||
		r.Track2 != "6212345600000012340D30122201234567890" {
		t.Fatalf("card data: %s track2 len %d seq %q", r, len(r.Track2), r.PANSeq)
	}
	if r.Cryptogram != "ARQC" || r.ATC != 0x21 || r.CVM != CVMNone {
		t.Fatalf("cryptogram: %s", r)
	}
	// The GPO command, byte by byte: PDOL 9F66 9F02 9F03 9F1A 95 5F2A 9A
	// 9C 9F37 9F7A, the last unknown to the terminal and zero-filled.
	wantGPO := mustHex(t, "80A8000024 8322"+
		"22804000"+"000000012345"+"000000000000"+"0156"+"0000000000"+"0156"+"260315"+"00"+"1A2B3C4D"+"00"+
		"00")
	if got := rec.sentWith([]byte{0x80, 0xA8}); !bytes.Equal(got, wantGPO) {
		t.Fatalf("GPO = %X\nwant  %X", got, wantGPO)
	}
	// PPSE, SELECT, GPO, 4 records; no GENERATE AC.
	if r.Stats.APDUs != 7 || len(rec.sent) != 7 || rec.sentWith([]byte{0x80, 0xAE}) != nil {
		t.Fatalf("APDUs: stats %d, sent %d", r.Stats.APDUs, len(rec.sent))
	}
	if r.Stats.BytesOut == 0 || r.Stats.BytesIn < 400 {
		t.Fatalf("stats %+v", r.Stats)
	}
	order, vals := field55(t, r)
	wantOrder := []Tag{0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82,
		0x9F1A, 0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41, 0x9F63}
	if fmt.Sprint(order) != fmt.Sprint(wantOrder) {
		t.Fatalf("field 55 tags %v\nwant %v", order, wantOrder)
	}
	checkValues(t, vals, terminalF55)
	checkValues(t, vals, map[Tag]string{
		TagCryptogram:     "3C5F9A21E07B4D18",
		TagCID:            "80",
		TagIAD:            "07010103A00000010A0100000000003B163732",
		TagATC:            "0021",
		TagAIP:            "7C00",
		TagDFName:         emvtest.AIDUnionPayDebit,
		TagTermAppVersion: "0030",
		TagCardProductID:  "30313035303030300000000000000000",
	})
}

func TestReadVisaQVSDC(t *testing.T) {
	card := emvtest.Visa()
	rec := &recorder{card: card}
	r, err := Read(context.Background(), rec, testTerminal(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scheme != "Visa" || r.AID != emvtest.AIDVisa || r.Label != "VISA CREDIT" || r.PAN != card.PAN ||
		r.Expiry != "2911" || r.PANSeq != "00" || !strings.HasPrefix(r.Track2, card.PAN+"D2911201") {
		t.Fatalf("result %s", r)
	}
	if r.Cryptogram != "ARQC" || r.ATC != 0x2A {
		t.Fatalf("cryptogram %s", r)
	}
	wantGPO := mustHex(t, "80A8000023 8321"+
		"22804000"+"000000012345"+"000000000000"+"0156"+"0000000000"+"0156"+"260315"+"00"+"1A2B3C4D"+"00")
	if got := rec.sentWith([]byte{0x80, 0xA8}); !bytes.Equal(got, wantGPO) {
		t.Fatalf("GPO = %X\nwant  %X", got, wantGPO)
	}
	// PPSE, SELECT, GPO with the cryptogram, 2 records.
	if r.Stats.APDUs != 5 {
		t.Fatalf("APDUs %d", r.Stats.APDUs)
	}
	order, vals := field55(t, r)
	if order[len(order)-1] != TagFormFactor || vals[TagCardProductID] != "" {
		t.Fatalf("field 55 tags %v", order)
	}
	checkValues(t, vals, terminalF55)
	checkValues(t, vals, map[Tag]string{
		TagCryptogram: "8E2B7C10A45F3D96", TagCID: "80", TagIAD: "06011203A00000", TagATC: "002A",
		TagAIP: "2000", TagDFName: emvtest.AIDVisa, TagTermAppVersion: "008C", TagFormFactor: "20700000",
	})
}

func TestReadMastercardGenerateAC(t *testing.T) {
	card := emvtest.Mastercard()
	rec := &recorder{card: card}
	r, err := Read(context.Background(), rec, testTerminal(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scheme != "Mastercard" || r.PAN != card.PAN || r.Expiry != "2808" || r.PANSeq != "01" ||
		r.Cryptogram != "ARQC" || r.ATC != 7 || r.Label != "MASTERCARD" {
		t.Fatalf("result %s", r)
	}
	// No PDOL: GPO carries an empty 83 template.
	if got := rec.sentWith([]byte{0x80, 0xA8}); !bytes.Equal(got, mustHex(t, "80A8000002830000")) {
		t.Fatalf("GPO %X", got)
	}
	// GENERATE AC with ARQC requested and the 66 bytes of CDOL1 data:
	// 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 9F35 9F45 9F4C 9F34 9F21 9F7C.
	wantAC := mustHex(t, "80AE800042"+
		"000000012345"+"000000000000"+"0156"+"0000000000"+"0156"+"260315"+"00"+"1A2B3C4D"+"22"+
		"0000"+"0000000000000000"+"1F0002"+"143005"+strings.Repeat("00", 20)+
		"00")
	if got := rec.sentWith([]byte{0x80, 0xAE}); !bytes.Equal(got, wantAC) {
		t.Fatalf("GENERATE AC = %X\nwant          %X", got, wantAC)
	}
	// PPSE, SELECT, GPO, 4 records, GENERATE AC.
	if r.Stats.APDUs != 8 {
		t.Fatalf("APDUs %d", r.Stats.APDUs)
	}
	order, vals := field55(t, r)
	for _, tag := range order {
		if tag == TagCardProductID {
			t.Fatal("field 55 carries the Mastercard's 9F63 (PUNATC), which is not UnionPay's product ID")
		}
	}
	checkValues(t, vals, terminalF55)
	checkValues(t, vals, map[Tag]string{
		TagCryptogram: "5D0C7A33E1F2094B", TagCID: "80", TagATC: "0007",
		TagIAD: "0110A00000220000000000000000000000FF", TagAIP: "1980", TagTermAppVersion: "0002",
	})
}

func TestReadPriorityOrder(t *testing.T) {
	card := emvtest.Dual()
	rec := &recorder{card: card}
	r, err := Read(context.Background(), rec, testTerminal(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Visa is listed first with priority 2, UnionPay credit second with
	// priority 1: UnionPay is selected, and only it.
	if r.AID != emvtest.AIDUnionPayCredit || r.Product != "credit" || r.PAN != card.PAN {
		t.Fatalf("selected %s", r)
	}
	if !bytes.Equal(rec.sent[1], cmd(t, SelectCommand(mustHex(t, emvtest.AIDUnionPayCredit)))) {
		t.Fatalf("second APDU %X", rec.sent[1])
	}
}

func TestCandidateOrdering(t *testing.T) {
	// Entries: 3 (no priority), 1 (prio 2), 2 (prio 0 = none), 4 (prio 1),
	// 5 (prio 2, with the cardholder-confirmation bit 8 set). Expected:
	// 4, 1, 5, then 3 and 2 in card order.
	entry := func(last byte, prio []byte) TLV {
		children := []TLV{{Tag: TagAID, Value: []byte{0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, last}}}
		if prio != nil {
			children = append(children, TLV{Tag: TagPriority, Value: prio})
		}
		return TLV{Tag: TagAppTemplate, Children: children}
	}
	fci, err := Encode(TLV{Tag: TagFCI, Children: []TLV{
		{Tag: TagDFName, Value: PPSE},
		{Tag: TagFCIProprietary, Children: []TLV{{Tag: TagFCIIssuerDisc, Children: []TLV{
			entry(3, nil), entry(1, []byte{0x02}), entry(2, []byte{0x00}), entry(4, []byte{0x01}), entry(5, []byte{0x82}),
		}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	apps := []Application{{AID: mustHex(t, "A000000333"), Scheme: "UnionPay"}}
	k := &kernel{ctx: context.Background(), opts: Options{Applications: apps}, log: slog.New(slog.DiscardHandler),
		card: &countingCard{card: &scriptCard{resp: [][]byte{append(fci, 0x90, 0x00)}}}}
	cands, err := k.selectPPSE()
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, c := range cands {
		got = append(got, c.aid[7])
	}
	if !bytes.Equal(got, []byte{4, 1, 5, 3, 2}) {
		t.Fatalf("order %v, want [4 1 5 3 2]", got)
	}
}

func TestReadNextApplicationOn6A82(t *testing.T) {
	card := emvtest.Dual()
	override(card, cmd(t, SelectCommand(mustHex(t, emvtest.AIDUnionPayCredit))), false, []byte{0x6A, 0x82})
	r, err := Read(context.Background(), card, testTerminal(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scheme != "Visa" || r.PAN != "4761730000000029" || r.Expiry != "3106" {
		t.Fatalf("fell back to %s", r)
	}
}

func TestReadNoApplication(t *testing.T) {
	t.Run("unsupported AID only", func(t *testing.T) {
		r, err := Read(context.Background(), emvtest.JCBOnly(), testTerminal(), Options{})
		if !errors.Is(err, ErrNoApplication) || r.Stats.APDUs != 1 {
			t.Fatalf("err %v, APDUs %d", err, r.Stats.APDUs)
		}
	})
	t.Run("no PPSE", func(t *testing.T) {
		card := emvtest.Visa()
		override(card, cmd(t, SelectCommand(PPSE)), false, []byte{0x6A, 0x82})
		_, err := Read(context.Background(), card, testTerminal(), Options{})
		if !errors.Is(err, ErrNoApplication) || !errors.Is(err, SWError{SW: 0x6A82}) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("every candidate refuses", func(t *testing.T) {
		card := emvtest.Dual()
		override(card, cmd(t, SelectCommand(mustHex(t, emvtest.AIDUnionPayCredit))), false, []byte{0x6A, 0x82})
		override(card, cmd(t, SelectCommand(mustHex(t, emvtest.AIDVisa))), false, []byte{0x62, 0x83})
		_, err := Read(context.Background(), card, testTerminal(), Options{})
		if !errors.Is(err, ErrNoApplication) || !strings.Contains(err.Error(), "6283") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("terminal supports only JCB", func(t *testing.T) {
		opts := Options{Applications: []Application{{AID: mustHex(t, emvtest.AIDJCB), Scheme: "JCB"}}}
		_, err := Read(context.Background(), emvtest.Visa(), testTerminal(), opts)
		if !errors.Is(err, ErrNoApplication) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestReadPartialSelection(t *testing.T) {
	short := mustHex(t, "A000000003") // Visa RID only
	r, err := Read(context.Background(), emvtest.Visa(), testTerminal(),
		Options{Applications: []Application{{AID: short, Scheme: "Visa", Kernel: KernelVisa}}})
	if err != nil || r.Scheme != "Visa" || r.AID != emvtest.AIDVisa {
		t.Fatalf("partial match: %s, %v", r, err)
	}
	_, err = Read(context.Background(), emvtest.Visa(), testTerminal(),
		Options{Applications: []Application{{AID: short, Scheme: "Visa", ExactMatch: true}}})
	if !errors.Is(err, ErrNoApplication) {
		t.Fatalf("exact match: err %v", err)
	}
}

func TestReadCardRemoved(t *testing.T) {
	card := emvtest.UnionPay()
	gone := fmt.Errorf("pn532: InDataExchange status 01 (timeout): %w", ErrCardGone)
	rec := &recorder{card: card, fail: func(apdu []byte) error {
		if bytes.Equal(apdu, cmd(t, ReadRecordCommand(2, 1))) {
			return gone
		}
		return nil
	}}
	r, err := Read(context.Background(), rec, testTerminal(), Options{})
	if !errors.Is(err, ErrCardRemoved) || !errors.Is(err, ErrCardGone) {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), "SFI 2 record 1") {
		t.Fatalf("error does not say where: %v", err)
	}
	if r.PAN != "" || r.Field55 != nil || r.Stats.APDUs != 5 {
		t.Fatalf("result after removal %s", r)
	}
	assertNoPAN(t, err.Error())
}

func TestReadCommunicationError(t *testing.T) {
	rec := &recorder{card: emvtest.Visa(), fail: func(apdu []byte) error {
		if apdu[0] == 0x80 {
			return errors.New("pn532: InDataExchange status 02 (CRC error)")
		}
		return nil
	}}
	_, err := Read(context.Background(), rec, testTerminal(), Options{})
	if !errors.Is(err, ErrCommunication) || errors.Is(err, ErrCardRemoved) || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("err %v", err)
	}
}

func TestReadDeclinedByCard(t *testing.T) {
	t.Run("GPO 6985", func(t *testing.T) {
		card := emvtest.Visa()
		override(card, []byte{0x80, 0xA8}, true, []byte{0x69, 0x85})
		_, err := Read(context.Background(), card, testTerminal(), Options{})
		if !errors.Is(err, ErrDeclinedByCard) || !errors.Is(err, SWError{SW: 0x6985}) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("GENERATE AC gives AAC", func(t *testing.T) {
		card := emvtest.Mastercard()
		aac, _ := Encode(TLV{Tag: TagRMTF2, Children: []TLV{
			{Tag: TagCID, Value: []byte{0x00}},
			{Tag: TagATC, Value: []byte{0x00, 0x08}},
			{Tag: TagCryptogram, Value: mustHex(t, "1122334455667788")},
		}})
		override(card, []byte{0x80, 0xAE}, true, append(aac, 0x90, 0x00))
		r, err := Read(context.Background(), card, testTerminal(), Options{})
		if !errors.Is(err, ErrDeclinedByCard) {
			t.Fatalf("err %v", err)
		}
		// The read data stays available for the journal and receipt.
		if r.Cryptogram != "AAC" || r.PAN != card.PAN || r.ATC != 8 || len(r.Field55) == 0 {
			t.Fatalf("declined result %s", r)
		}
		assertNoPAN(t, err.Error())
	})
	t.Run("qVSDC AAC in GPO", func(t *testing.T) {
		card := emvtest.Visa()
		gpo := card.Apps[0].Script[0].Response
		i := bytes.Index(gpo, mustHex(t, "9F270180"))
		gpo[i+3] = 0x00
		_, err := Read(context.Background(), card, testTerminal(), Options{})
		if !errors.Is(err, ErrDeclinedByCard) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestReadStatusWordHandling(t *testing.T) {
	t.Run("61xx on SELECT PPSE", func(t *testing.T) {
		card := emvtest.UnionPay()
		ppse := card.Respond(cmd(t, SelectCommand(PPSE)))
		data := ppse[:len(ppse)-2]
		half := 10
		if len(data) == 2*half {
			t.Fatal("chunks would be the same size")
		}
		// 61 0A -> GET RESPONSE 10 -> first 10 bytes + 61 rest -> GET
		// RESPONSE rest -> the rest + 9000.
		override(card, cmd(t, SelectCommand(PPSE)), false, []byte{0x61, byte(half)})
		override(card, cmd(t, GetResponseCommand(half)), false, append(append([]byte(nil), data[:half]...), 0x61, byte(len(data)-half)))
		override(card, cmd(t, GetResponseCommand(len(data)-half)), false, append(append([]byte(nil), data[half:]...), 0x90, 0x00))
		r, err := Read(context.Background(), card, testTerminal(), Options{})
		if err != nil || r.PAN != card.PAN {
			t.Fatalf("%s, %v", r, err)
		}
		if r.Stats.APDUs != 7+2 {
			t.Fatalf("APDUs %d, want 9", r.Stats.APDUs)
		}
	})
	t.Run("6Cxx on READ RECORD", func(t *testing.T) {
		card := emvtest.Mastercard()
		rr := cmd(t, ReadRecordCommand(3, 1))
		card.Respond(cmd(t, SelectCommand(mustHex(t, emvtest.AIDMastercard))))
		full := card.Respond(rr)
		card.Reset()
		if len(full) < 100 {
			t.Fatalf("record is % X", full)
		}
		exact := append(append([]byte(nil), rr[:4]...), byte(len(full)-2))
		override(card, exact, false, full)
		override(card, rr, false, []byte{0x6C, byte(len(full) - 2)})
		r, err := Read(context.Background(), card, testTerminal(), Options{})
		if err != nil || r.PAN != card.PAN {
			t.Fatalf("%s, %v", r, err)
		}
		if r.Stats.APDUs != 8+1 {
			t.Fatalf("APDUs %d, want 9", r.Stats.APDUs)
		}
	})
}

func TestReadAFLMissingRecord(t *testing.T) {
	card := emvtest.UnionPay()
	// AFL: SFI 1 records 1-2, but the card has only record 1.
	override(card, []byte{0x80, 0xA8}, true, mustHex(t, "8006 7C00 08010200 9000"))
	_, err := Read(context.Background(), card, testTerminal(), Options{})
	if !errors.Is(err, ErrMalformed) || !errors.Is(err, SWError{SW: 0x6A83}) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"SFI 1 record 2", "6A83", "AFL"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not mention %q", err, want)
		}
	}
}

func TestReadIgnoresProprietaryFiles(t *testing.T) {
	// SFI 11-30 records need not be TLV; the read must not fail on them.
	card := emvtest.UnionPay()
	override(card, []byte{0x80, 0xA8}, true, mustHex(t, "8012 7C00 08010100 10010201 18010100 58010100 9000"))
	override(card, cmd(t, ReadRecordCommand(11, 1)), false, mustHex(t, "DEADBEEF 9000"))
	r, err := Read(context.Background(), card, testTerminal(), Options{})
	if err != nil || r.Stats.APDUs != 8 {
		t.Fatalf("%s, %v", r, err)
	}
}

func TestReadMalformed(t *testing.T) {
	visaGPO := func(children ...TLV) []byte {
		b, err := Encode(TLV{Tag: TagRMTF2, Children: children})
		if err != nil {
			t.Fatal(err)
		}
		return append(b, 0x90, 0x00)
	}
	aip := TLV{Tag: TagAIP, Value: mustHex(t, "2000")}
	ac := []TLV{
		{Tag: TagCryptogram, Value: mustHex(t, "0102030405060708")},
		{Tag: TagCID, Value: []byte{0x80}},
		{Tag: TagATC, Value: []byte{0, 1}},
	}
	// Track 2 of a PAN whose check digit is wrong (4761730000000012).
	badLuhn := TLV{Tag: TagTrack2, Value: mustHex(t, "4761730000000012D29112010000000000000F")}
	otherPAN := TLV{Tag: TagTrack2, Value: mustHex(t, "4761730000000029D29112010000000000000F")}

	tests := []struct {
		name  string
		gpo   []byte // GPO answer; nil keeps the card's
		apply func(c *emvtest.Card)
		want  string // in the error
	}{
		{name: "GPO answer not TLV", gpo: mustHex(t, "7705 8202 9000"), want: "truncated"},
		{name: "GPO answer wrong template", gpo: mustHex(t, "7003 5A0100 9000"), want: "want 80 or 77"},
		{name: "GPO answer empty", gpo: mustHex(t, "9000"), want: "empty answer"},
		{name: "format 1 too short", gpo: mustHex(t, "8001 7C 9000"), want: "AIP"},
		{name: "format 1 without AFL", gpo: mustHex(t, "8002 7C00 9000"), want: "no AFL"},
		{name: "AFL not a multiple of 4", gpo: mustHex(t, "8005 7C00 080101 9000"), want: "multiple of 4"},
		{name: "AFL SFI 0", gpo: mustHex(t, "8006 7C00 00010100 9000"), want: "SFI"},
		{name: "AFL SFI low bits", gpo: mustHex(t, "8006 7C00 09010100 9000"), want: "SFI"},
		{name: "AFL first record 0", gpo: mustHex(t, "8006 7C00 08000100 9000"), want: "records 0..1"},
		{name: "AFL last before first", gpo: mustHex(t, "8006 7C00 08020100 9000"), want: "records 2..1"},
		{name: "AFL ODA count too big", gpo: mustHex(t, "8006 7C00 08010103 9000"), want: "ODA"},
		{name: "AFL too many records", gpo: mustHex(t, "800A 7C00 0801FF00 1001FF00 9000"), want: "limit"},
		{name: "format 2 without AIP", gpo: visaGPO(TLV{Tag: TagAFL, Value: mustHex(t, "18010100")}), want: "AIP"},
		{name: "format 2 without AFL or data", gpo: visaGPO(aip), want: "no AFL"},
		{name: "PAN fails Luhn", gpo: visaGPO(append([]TLV{aip, badLuhn}, ac...)...), want: "Luhn"},
		{name: "track 2 and 5A differ", gpo: visaGPO(append([]TLV{aip, otherPAN, {Tag: TagAFL, Value: mustHex(t, "18010100")}}, ac...)...), want: "different accounts"},
		{name: "no cryptogram and no CDOL1", gpo: visaGPO(aip, TLV{Tag: TagAFL, Value: mustHex(t, "18010200")}), want: "no CDOL1"},
		{name: "CID RFU", gpo: visaGPO(aip, otherPAN, ac[0], TLV{Tag: TagCID, Value: []byte{0xC0}}, ac[2]), want: "RFU"},
		{name: "cryptogram too short", gpo: visaGPO(aip, otherPAN, TLV{Tag: TagCryptogram, Value: []byte{1}}, ac[1], ac[2]), want: "9F26"},
		{name: "record not a 70 template", apply: func(c *emvtest.Card) {
			override(c, cmd(t, ReadRecordCommand(3, 1)), false, mustHex(t, "7703 5A0100 9000"))
		}, want: "not a single 70"},
		{name: "record is bad TLV", apply: func(c *emvtest.Card) {
			override(c, cmd(t, ReadRecordCommand(3, 1)), false, mustHex(t, "7005 5A08 9000"))
		}, want: "truncated"},
		{name: "PAN twice, different", apply: func(c *emvtest.Card) {
			override(c, cmd(t, ReadRecordCommand(3, 2)), false, mustHex(t, "700A 5A08 4761730000000029 9000"))
		}, want: "appears twice"},
		{name: "FCI names another application", apply: func(c *emvtest.Card) {
			override(c, cmd(t, SelectCommand(mustHex(t, emvtest.AIDVisa))), false, mustHex(t, "6F09 8407 A0000000041010 9000"))
		}, want: "FCI names"},
		{name: "PDOL bad", apply: func(c *emvtest.Card) {
			override(c, cmd(t, SelectCommand(mustHex(t, emvtest.AIDVisa))), false, mustHex(t, "6F0F 8407 A0000000031010 A504 9F3801 9F 9000"))
		}, want: "PDOL"},
		{name: "PPSE without FCI", apply: func(c *emvtest.Card) {
			override(c, cmd(t, SelectCommand(PPSE)), false, mustHex(t, "A500 9000"))
		}, want: "no FCI"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			card := emvtest.Visa()
			if tc.gpo != nil {
				override(card, []byte{0x80, 0xA8}, true, tc.gpo)
			}
			if tc.apply != nil {
				tc.apply(card)
			}
			r, err := Read(context.Background(), card, testTerminal(), Options{})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if r.PAN != "" || r.Field55 != nil {
				t.Fatalf("result carries data after an error: %s", r)
			}
			assertNoPAN(t, err.Error())
		})
	}
}

func TestReadGenerateACVariants(t *testing.T) {
	t.Run("format 1 answer", func(t *testing.T) {
		card := emvtest.Mastercard()
		override(card, []byte{0x80, 0xAE}, true, mustHex(t, "8013 80 0009 0A0B0C0D0E0F1011 0110A000002200FF 9000"))
		r, err := Read(context.Background(), card, testTerminal(), Options{})
		if err != nil || r.ATC != 9 || r.Cryptogram != "ARQC" {
			t.Fatalf("%s, %v", r, err)
		}
		_, vals := field55(t, r)
		checkValues(t, vals, map[Tag]string{TagCryptogram: "0A0B0C0D0E0F1011", TagIAD: "0110A000002200FF", TagCID: "80", TagATC: "0009"})
	})
	for name, resp := range map[string]string{
		"format 1 too short":    "8005 80000901 02 9000",
		"format 2 without 9F26": "770A 9F270180 9F36020009 9000",
		"status 6985":           "6985",
		"wrong template":        "7003 5A0100 9000",
	} {
		t.Run(name, func(t *testing.T) {
			card := emvtest.Mastercard()
			override(card, []byte{0x80, 0xAE}, true, mustHex(t, resp))
			_, err := Read(context.Background(), card, testTerminal(), Options{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "GENERATE AC") {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestReadVisaCIDFromIAD(t *testing.T) {
	for _, tc := range []struct {
		cvr  byte // IAD byte 5
		want error
		ac   string
	}{
		{0xA0, nil, "ARQC"},              // bits 6-5 = 10
		{0x90, nil, "TC"},                // bits 6-5 = 01
		{0x80, ErrDeclinedByCard, "AAC"}, // bits 6-5 = 00
	} {
		card := emvtest.Visa()
		gpo := card.Apps[0].Script[0].Response
		// Drop 9F27 (4 bytes) from the 77 template and set IAD byte 5.
		i := bytes.Index(gpo, mustHex(t, "9F270180"))
		gpo = append(append([]byte(nil), gpo[:i]...), gpo[i+4:]...)
		gpo[1] -= 4
		j := bytes.Index(gpo, mustHex(t, "9F100706011203"))
		gpo[j+3+4] = tc.cvr
		card.Apps[0].Script[0].Response = gpo
		r, err := Read(context.Background(), card, testTerminal(), Options{})
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) || r.Cryptogram != tc.ac {
			t.Fatalf("CVR %02X: %s, %v", tc.cvr, r, err)
		}
	}
}

func TestReadCVM(t *testing.T) {
	term := testTerminal()
	term.Amount = 150000 // 1500.00 CNY, above the 1000.00 limit
	t.Run("Visa signature", func(t *testing.T) {
		rec := &recorder{card: emvtest.Visa()}
		r, err := Read(context.Background(), rec, term, Options{})
		if err != nil || r.CVM != CVMSignature {
			t.Fatalf("%s, %v", r, err)
		}
		// TTQ byte 2 gains "CVM required".
		if gpo := rec.sentWith([]byte{0x80, 0xA8}); !bytes.Equal(gpo[7:11], mustHex(t, "22C04000")) {
			t.Fatalf("TTQ %X", gpo[7:11])
		}
		_, vals := field55(t, r)
		checkValues(t, vals, map[Tag]string{TagCVMResults: "1E0300", TagAmount: "000000150000"})
	})
	t.Run("Mastercard signature in CDOL1", func(t *testing.T) {
		rec := &recorder{card: emvtest.Mastercard()}
		r, err := Read(context.Background(), rec, term, Options{})
		if err != nil || r.CVM != CVMSignature {
			t.Fatalf("%s, %v", r, err)
		}
		if ac := rec.sentWith([]byte{0x80, 0xAE}); !bytes.Contains(ac, mustHex(t, "00000000000000001E0300143005")) {
			t.Fatalf("GENERATE AC data lacks 9F34 1E0300: %X", ac)
		}
	})
	t.Run("at the limit no CVM", func(t *testing.T) {
		term := testTerminal()
		term.Amount = term.CVMLimit
		r, err := Read(context.Background(), emvtest.UnionPay(), term, Options{})
		if err != nil || r.CVM != CVMNone {
			t.Fatalf("%s, %v", r, err)
		}
	})
}

func TestDecideCVM(t *testing.T) {
	tests := []struct {
		name     string
		required bool
		kernel   byte
		aip, ctq string
		want     CVM
	}{
		{"below limit", false, KernelVisa, "2000", "8000", CVMNone},
		{"Visa no CTQ", true, KernelVisa, "2000", "", CVMSignature},
		{"Visa CTQ online PIN", true, KernelVisa, "2000", "8000", CVMOnlinePIN},
		{"Visa CTQ signature", true, KernelVisa, "2000", "4000", CVMSignature},
		{"Visa CTQ CDCVM performed", true, KernelVisa, "2000", "8080", CVMDevice},
		{"UnionPay CTQ online PIN", true, KernelUnionPay, "7C00", "C000", CVMOnlinePIN},
		{"Mastercard", true, KernelMastercard, "1980", "0001", CVMSignature},
		{"Mastercard on-device CVM", true, KernelMastercard, "1B80", "", CVMDevice},
	}
	for _, tc := range tests {
		if got := decideCVM(tc.required, tc.kernel, mustHex(t, tc.aip), mustHex(t, tc.ctq)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestReadContext(t *testing.T) {
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, err := Read(ctx, emvtest.Visa(), testTerminal(), Options{})
		if !errors.Is(err, context.Canceled) || r.Stats.APDUs != 0 {
			t.Fatalf("err %v, APDUs %d", err, r.Stats.APDUs)
		}
	})
	t.Run("deadline while the card stalls", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		stall := &recorder{card: emvtest.Visa(), fail: func(apdu []byte) error {
			if apdu[1] == 0xB2 {
				<-ctx.Done() // a reader that honours the deadline
				return ctx.Err()
			}
			return nil
		}}
		_, err := Read(ctx, stall, testTerminal(), Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("cancelled during an exchange", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		rec := &recorder{card: emvtest.Mastercard(), fail: func(apdu []byte) error {
			if apdu[1] == 0xAE {
				cancel()
				return errors.New("pn532: aborted")
			}
			return nil
		}}
		_, err := Read(ctx, rec, testTerminal(), Options{})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrCommunication) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestTerminalValidation(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*Terminal)
	}{
		{"Terminal.Amount", func(t *Terminal) { t.Amount = -1 }},
		{"Terminal.Amount", func(t *Terminal) { t.Amount = 1_000_000_000_000 }},
		{"Terminal.AmountOther", func(t *Terminal) { t.AmountOther = -5 }},
		{"Terminal.Currency", func(t *Terminal) { t.Currency = 0 }},
		{"Terminal.Currency", func(t *Terminal) { t.Currency = 1000 }},
		{"Terminal.Country", func(t *Terminal) { t.Country = 0 }},
		{"Terminal.Type", func(t *Terminal) { t.Type = 0x1A }},
		{"Terminal.Date", func(t *Terminal) { t.Date = time.Time{} }},
		{"Terminal.Date", func(t *Terminal) { t.Date = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"Terminal.Unpredictable", func(t *Terminal) { t.Unpredictable = [4]byte{} }},
		{"Terminal.TSC", func(t *Terminal) { t.TSC = 100_000_000 }},
	}
	for _, tc := range tests {
		term := testTerminal()
		tc.mod(&term)
		rec := &recorder{card: emvtest.Visa()}
		_, err := Read(context.Background(), rec, term, Options{})
		if !errors.Is(err, ErrTerminal) || !strings.Contains(err.Error(), tc.field) || len(rec.sent) != 0 {
			t.Errorf("%s: err %v, %d APDUs", tc.field, err, len(rec.sent))
		}
	}
	// Values at the edges are fine.
	term := testTerminal()
	term.Amount = 999_999_999_999 // above CVMLimit: the CVM-required bit is added
	term.TTQ = [4]byte{0x26, 0x00, 0x00, 0x00}
	term.Extra = map[Tag][]byte{0x9F1C: []byte("TID00001")}
	v, err := term.Values()
	if err != nil {
		t.Fatal(err)
	}
	if hexUpper(v[TagAmount]) != "999999999999" || hexUpper(v[TagTTQ]) != "26400000" || string(v[0x9F1C]) != "TID00001" {
		t.Fatalf("values %X %X %q", v[TagAmount], v[TagTTQ], v[0x9F1C])
	}
	term.IFDSerial = "ABCDEFGHIJ"
	if v, _ := term.Values(); string(v[TagIFDSerial]) != "ABCDEFGH" {
		t.Fatalf("IFD serial %q", v[TagIFDSerial])
	}
	term.IFDSerial = "AB"
	if v, _ := term.Values(); string(v[TagIFDSerial]) != "AB      " {
		t.Fatalf("IFD serial %q", v[TagIFDSerial])
	}
}

func TestResultCardData(t *testing.T) {
	term := testTerminal()
	term.Amount = 150000
	r, err := Read(context.Background(), emvtest.Mastercard(), term, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := r.CardData()
	if d.Entry != txn.Contactless || d.Scheme != "Mastercard" || d.AID != emvtest.AIDMastercard ||
		d.MaskedPAN != "541333******0019" || !d.CVMRequired || d.Label != "MASTERCARD" {
		t.Fatalf("card data %+v", d)
	}
	s := d.Sensitive
	if s.PAN != r.PAN || s.Expiry != "2808" || s.Track2 != r.Track2 || s.PANSeq != "01" || !bytes.Equal(s.ICC, r.Field55) {
		t.Fatalf("sensitive data does not match the result")
	}
	s.ICC[0] ^= 0xFF
	if bytes.Equal(s.ICC, r.Field55) {
		t.Fatal("ICC aliases Result.Field55")
	}
}

func TestResultNeverPrintsPAN(t *testing.T) {
	r, err := Read(context.Background(), emvtest.UnionPay(), testTerminal(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logger.Info("read", "result", r)
	// Read's own debug logging.
	if _, err := Read(context.Background(), emvtest.Mastercard(), testTerminal(), Options{Logger: logger}); err != nil {
		t.Fatal(err)
	}
	_, err = Read(context.Background(), emvtest.JCBOnly(), testTerminal(), Options{Logger: logger})
	if err == nil {
		t.Fatal("JCB read succeeded")
	}
	out := fmt.Sprintf("%v|%+v|%#v|%s|%s", r, r, r, r, logs.String())
	assertNoPAN(t, out)
	if !strings.Contains(out, "621234*********2340") || !strings.Contains(logs.String(), "541333******0019") {
		t.Fatalf("masked PAN missing from %q", out)
	}
}

func TestParseAFL(t *testing.T) {
	afl, err := ParseAFL(mustHex(t, "08010100 10010201 18010100"))
	if err != nil {
		t.Fatal(err)
	}
	want := []AFLEntry{{1, 1, 1, 0}, {2, 1, 2, 1}, {3, 1, 1, 0}}
	if fmt.Sprint(afl) != fmt.Sprint(want) {
		t.Fatalf("ParseAFL = %v, want %v", afl, want)
	}
	if _, err := ParseAFL(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty AFL err %v", err)
	}
	if _, err := ParseAFL(mustHex(t, "F8010100")); !errors.Is(err, ErrMalformed) { // SFI 31
		t.Fatalf("SFI 31 err %v", err)
	}
}

func TestCountingCardLimit(t *testing.T) {
	c := &countingCard{card: &scriptCard{resp: [][]byte{{0x90, 0x00}}}}
	for i := 0; i < MaxAPDUs; i++ {
		if _, err := c.Transceive(context.Background(), []byte{0, 0xB2, 1, 0x0C, 0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Transceive(context.Background(), []byte{0, 0xB2, 1, 0x0C, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("APDU %d: err %v", MaxAPDUs+1, err)
	}
	if c.stats.APDUs != MaxAPDUs || c.stats.BytesOut != 5*MaxAPDUs || c.stats.BytesIn != 2*MaxAPDUs {
		t.Fatalf("stats %+v", c.stats)
	}
}

// BenchmarkRead runs the full read over each virtual card and reports the
// traffic per read, from which the PN532 serial time follows (each APDU
// adds PN532 framing: about 10 bytes each way plus a 6-byte ACK, at
// 115200 baud roughly 87 µs per byte).
func BenchmarkRead(b *testing.B) {
	for _, card := range emvtest.Cards() {
		if card.Name == emvtest.NameJCBOnly {
			continue
		}
		b.Run(card.Name, func(b *testing.B) {
			term := testTerminal()
			var st Stats
			b.ReportAllocs()
			for b.Loop() {
				card.Reset()
				r, err := Read(context.Background(), card, term, Options{})
				if err != nil {
					b.Fatal(err)
				}
				st = r.Stats
			}
			b.ReportMetric(float64(st.APDUs), "apdus/op")
			b.ReportMetric(float64(st.BytesOut), "bytes_out/op")
			b.ReportMetric(float64(st.BytesIn), "bytes_in/op")
		})
	}
}
