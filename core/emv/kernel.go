package emv

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/txn"
)

// EMVCo contactless kernel identifiers (EMV Book B section 3.3.2), used to
// pick the scheme-specific rules in Read.
const (
	KernelMastercard byte = 2 // C-2, M/Chip: cryptogram from GENERATE AC
	KernelVisa       byte = 3 // C-3, qVSDC: cryptogram in GPO
	KernelUnionPay   byte = 7 // C-7, qPBOC / QuickPass
)

// Application is an application the terminal supports.
type Application struct {
	AID     []byte // terminal AID (9F06), e.g. A0000000031010
	Scheme  string // "UnionPay", "Visa", "Mastercard"
	Product string // e.g. "debit", "credit", "quasi-credit"; may be empty
	Kernel  byte   // KernelMastercard, KernelVisa, KernelUnionPay, ...
	// Version is the terminal's application version number (9F09).
	Version [2]byte
	// ExactMatch refuses card AIDs that merely start with AID (EMV
	// partial selection, allowed by default).
	ExactMatch bool
	// Field55 lists the tags of Result.Field55 for this application; nil
	// means DefaultField55Tags. Options.Field55Tags overrides it.
	Field55 []Tag
}

// DefaultApplications returns the applications supported out of the box
// (DESIGN.md section 4): UnionPay debit, credit and quasi-credit, Visa
// credit/debit and Mastercard credit/debit. The 9F09 versions are the
// values seen in UnionPay-market field 55 data: 0030 for UnionPay (PBOC
// 3.0), 008C for Visa (VIS 1.4), 0002 for Mastercard (M/Chip).
func DefaultApplications() []Application {
	up := func(last byte, product string) Application {
		return Application{
			AID:    []byte{0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, last},
			Scheme: "UnionPay", Product: product, Kernel: KernelUnionPay,
			Version: [2]byte{0x00, 0x30}, Field55: UnionPayField55Tags,
		}
	}
	return []Application{
		up(0x01, "debit"),
		up(0x02, "credit"),
		up(0x03, "quasi-credit"),
		{AID: []byte{0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10}, Scheme: "Visa", Kernel: KernelVisa, Version: [2]byte{0x00, 0x8C}},
		{AID: []byte{0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10}, Scheme: "Mastercard", Kernel: KernelMastercard, Version: [2]byte{0x00, 0x02}},
	}
}

// DefaultField55Tags is the ICC data sent in ISO 8583 field 55 for Visa
// and Mastercard, in this order, for every tag that has a value: the
// common online-authorisation set used by UnionPay-market terminals
// (9F26 ... 9F41), plus 9F6E (form factor / third party data), which Visa
// and Mastercard ask for when the card provides it. See docs/emv.md for
// the sources.
var DefaultField55Tags = []Tag{
	TagCryptogram, TagCID, TagIAD, TagUnpredictable, TagATC, TagTVR, TagDate,
	TagTxnType, TagAmount, TagCurrency, TagAIP, TagCountry, TagAmountOther,
	TagCapabilities, TagCVMResults, TagTerminalType, TagIFDSerial, TagDFName,
	TagTermAppVersion, TagTSC, TagFormFactor,
}

// UnionPayField55Tags is the field 55 list for UnionPay applications: the
// UnionPay terminal sale list (9F26 ... 9F41, then 9F63 card product
// identification). 9F63 is UnionPay's only: on a Mastercard it is
// mag-stripe data and must not be sent.
var UnionPayField55Tags = []Tag{
	TagCryptogram, TagCID, TagIAD, TagUnpredictable, TagATC, TagTVR, TagDate,
	TagTxnType, TagAmount, TagCurrency, TagAIP, TagCountry, TagAmountOther,
	TagCapabilities, TagCVMResults, TagTerminalType, TagIFDSerial, TagDFName,
	TagTermAppVersion, TagTSC, TagCardProductID,
}

// Limits that keep a broken or hostile card from holding the reader.
const (
	// MaxAPDUs is the most APDUs (GET RESPONSE included) one Read sends.
	MaxAPDUs = 256
	// MaxRecords is the most records an AFL may list.
	MaxRecords = 64
	// MaxCandidates is the most applications Read tries to SELECT.
	MaxCandidates = 8
)

// Options configures Read. The zero value uses the defaults.
type Options struct {
	// Applications the terminal supports; nil means DefaultApplications().
	Applications []Application
	// Field55Tags, when not nil, lists the tags of Result.Field55 for
	// every application, overriding Application.Field55.
	Field55Tags []Tag
	// Logger gets debug lines per step (never card data beyond a masked
	// PAN); nil discards.
	Logger *slog.Logger
}

// CVM is the cardholder verification the transaction needs after the
// read.
type CVM int

// Cardholder verification outcomes.
const (
	// CVMNone: no verification (amount at or below the CVM limit).
	CVMNone CVM = iota
	// CVMSignature: capture the cardholder's signature.
	CVMSignature
	// CVMOnlinePIN: the card asks for an online PIN. This terminal has no
	// PIN pad, so the payment must be declined or taken another way.
	CVMOnlinePIN
	// CVMDevice: the holder was verified on the consumer device (phone,
	// watch); nothing more to do.
	CVMDevice
)

// String names the CVM.
func (c CVM) String() string {
	switch c {
	case CVMNone:
		return "none"
	case CVMSignature:
		return "signature"
	case CVMOnlinePIN:
		return "online PIN"
	case CVMDevice:
		return "consumer device"
	}
	return fmt.Sprintf("CVM(%d)", int(c))
}

// cvmResults is 9F34 for each CVM (EMV Book 3 Annex C3: method code,
// condition, result). Consumer-device CVM uses 01 00 02 as Kernel C-2 does.
var cvmResults = map[CVM][]byte{
	CVMNone:      {0x1F, 0x00, 0x02}, // no CVM required, successful
	CVMSignature: {0x1E, 0x03, 0x00}, // signature, if terminal supports, unknown
	CVMOnlinePIN: {0x3F, 0x00, 0x01}, // no CVM performed, failed
	CVMDevice:    {0x01, 0x00, 0x02},
}

// Stats counts the traffic of one Read, for benchmarks and logs: the
// serial time on a 115200 baud PN532 link follows from the bytes.
type Stats struct {
	APDUs    int // command APDUs sent, GET RESPONSE included
	BytesOut int // command APDU bytes sent
	BytesIn  int // response APDU bytes received (status words included)
}

// Result is what Read took from the card. PAN, Track2 and Field55 are
// sensitive: String, GoString and LogValue mask them.
type Result struct {
	AID     string // selected application (DF name 84), hex
	Label   string // application label (50) or preferred name, printable ASCII
	Scheme  string // "UnionPay", "Visa", "Mastercard"
	Product string // from the matching Application, may be empty
	PAN     string // digits
	Expiry  string // YYMM
	Track2  string // track 2 equivalent data, hex digits with 'D'; may be empty
	PANSeq  string // 5F34 as two digits; empty when absent
	// Cryptogram is the type of 9F26: "ARQC", "TC" or "AAC".
	Cryptogram string
	ATC        uint16 // application transaction counter (9F36)
	CVM        CVM
	// Field55 is the TLV-encoded ICC data for ISO 8583 field 55.
	Field55 []byte
	Stats   Stats
}

// String is a masked one-line summary, safe for logs.
func (r Result) String() string {
	return fmt.Sprintf("emv.Result{Scheme: %s, AID: %s, PAN: %s, Expiry: %s, Cryptogram: %s, ATC: %d, CVM: %s, Field55: %d bytes, APDUs: %d}",
		r.Scheme, r.AID, card.Mask(r.PAN), r.Expiry, r.Cryptogram, r.ATC, r.CVM, len(r.Field55), r.Stats.APDUs)
}

// GoString is the same masked summary, so %#v cannot print the PAN.
func (r Result) GoString() string { return r.String() }

// LogValue implements slog.LogValuer with masked data only.
func (r Result) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("scheme", r.Scheme),
		slog.String("aid", r.AID),
		slog.String("pan", card.Mask(r.PAN)),
		slog.String("cryptogram", r.Cryptogram),
		slog.Int("atc", int(r.ATC)),
		slog.String("cvm", r.CVM.String()),
		slog.Int("apdus", r.Stats.APDUs),
	)
}

// CardData converts the result into the card data a card source hands to
// the payment flow (entry mode contactless, masked PAN, sensitive data
// for sealing). CVMRequired is set for CVMSignature only: a card source
// must refuse a CVMOnlinePIN result itself, since this terminal cannot
// capture a PIN.
func (r Result) CardData() card.Data {
	return card.Data{
		Entry:       txn.Contactless,
		Scheme:      r.Scheme,
		AID:         r.AID,
		Label:       r.Label,
		MaskedPAN:   card.Mask(r.PAN),
		CVMRequired: r.CVM == CVMSignature,
		Sensitive: txn.Sensitive{
			PAN:    r.PAN,
			Expiry: r.Expiry,
			Track2: r.Track2,
			PANSeq: r.PANSeq,
			ICC:    append([]byte(nil), r.Field55...),
		},
	}
}

// Read runs the EMV contactless read flow on the card in the field:
//
//  1. SELECT PPSE (2PAY.SYS.DDF01) and list the applications in its
//     directory (61 entries under BF0C), keep the supported ones and order
//     them by priority (87 low nibble, lower first; entries without a
//     priority after those with one);
//  2. SELECT each candidate in turn until one answers 9000;
//  3. GET PROCESSING OPTIONS with the PDOL (9F38) data built from t;
//     the answer is format 1 (80: AIP + AFL) or format 2 (77: TLVs);
//  4. READ RECORD for every record the AFL lists;
//  5. GENERATE AC (ARQC requested) with the CDOL1 data when no cryptogram
//     came with GPO or the records and the card has a CDOL1 (M/Chip);
//  6. check the cryptogram type, collect PAN, expiry, track 2, PAN
//     sequence number, and build field 55.
//
// Errors wrap exactly one of ErrNoApplication, ErrCardRemoved,
// ErrCommunication, ErrDeclinedByCard, ErrMalformed or ErrTerminal, or
// are a context error. On ErrDeclinedByCard the Result holds what was read
// (for the journal and a decline receipt); on any other error only Stats
// is set.
func Read(ctx context.Context, c Card, t Terminal, opts Options) (Result, error) {
	if opts.Applications == nil {
		opts.Applications = DefaultApplications()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	tv, err := t.Values()
	if err != nil {
		return Result{}, err
	}
	k := &kernel{
		ctx:  ctx,
		card: &countingCard{card: c},
		term: t,
		tv:   tv,
		opts: opts,
		log:  opts.Logger,
		data: map[Tag][]byte{},
	}
	res, err := k.run()
	if err != nil && !errors.Is(err, ErrDeclinedByCard) {
		res = Result{}
	}
	res.Stats = k.card.stats
	if err != nil {
		k.log.Debug("emv: read failed", "err", err, "apdus", res.Stats.APDUs)
	} else {
		k.log.Debug("emv: card read", "result", res)
	}
	return res, err
}

// kernel is the state of one Read.
type kernel struct {
	ctx  context.Context
	card *countingCard
	term Terminal
	tv   map[Tag][]byte // terminal data objects
	opts Options
	log  *slog.Logger

	app  Application    // the selected application's configuration
	aid  []byte         // the selected application's DF name
	pdol DOL            // from the application's FCI
	data map[Tag][]byte // card data objects
}

// candidate is a PPSE directory entry the terminal supports.
type candidate struct {
	aid      []byte
	label    string
	priority int // 1..15, 0 = none
	app      Application
}

func (k *kernel) run() (Result, error) {
	cands, err := k.selectPPSE()
	if err != nil {
		return Result{}, err
	}
	if err := k.selectApplication(cands); err != nil {
		return Result{}, err
	}
	afl, err := k.getProcessingOptions()
	if err != nil {
		return Result{}, err
	}
	if err := k.readRecords(afl); err != nil {
		return Result{}, err
	}
	cvm := decideCVM(k.term.CVMRequired(), k.app.Kernel, k.data[TagAIP], k.data[TagCTQ])
	k.tv[TagCVMResults] = cvmResults[cvm]
	if _, ok := k.data[TagCryptogram]; !ok {
		if err := k.generateAC(); err != nil {
			return Result{}, err
		}
	}
	return k.result(cvm)
}

// fail classifies a transport or Transceive error at step.
func (k *kernel) fail(step string, err error) error {
	switch {
	case k.ctx.Err() != nil && !errors.Is(err, k.ctx.Err()):
		return fmt.Errorf("emv: %s: %w (after %w)", step, k.ctx.Err(), err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("emv: %s: %w", step, err)
	case errors.Is(err, ErrCardGone):
		return fmt.Errorf("%w: %s: %w", ErrCardRemoved, step, err)
	case errors.Is(err, ErrMalformed):
		return fmt.Errorf("emv: %s: %w", step, err)
	case errors.Is(err, ErrBadCommand):
		return fmt.Errorf("%w: %s: %w", ErrMalformed, step, err)
	}
	if _, ok := swOf(err); ok {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, step, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrCommunication, step, err)
}

// selectPPSE selects the PPSE and returns the supported candidates in
// selection order.
func (k *kernel) selectPPSE() ([]candidate, error) {
	resp, err := Transceive(k.ctx, k.card, SelectCommand(PPSE))
	if err != nil {
		if sw, ok := swOf(err); ok {
			return nil, fmt.Errorf("%w: SELECT PPSE answered %04X: %w", ErrNoApplication, sw, err)
		}
		return nil, k.fail("SELECT PPSE", err)
	}
	tlvs, err := Parse(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: PPSE FCI: %w", ErrMalformed, err)
	}
	fci, ok := Find(tlvs, TagFCI)
	if !ok {
		return nil, fmt.Errorf("%w: PPSE answer has no FCI template (6F)", ErrMalformed)
	}
	var entries []TLV
	for _, disc := range FindAll(fci.Children, TagFCIIssuerDisc) {
		entries = append(entries, FindAll(disc.Children, TagAppTemplate)...)
	}
	var cands []candidate
	seen := map[string]bool{}
	for _, e := range entries {
		aidObj, ok := Find(e.Children, TagAID)
		if !ok || len(aidObj.Value) < 5 || len(aidObj.Value) > 16 {
			continue
		}
		key := string(aidObj.Value)
		if seen[key] {
			continue
		}
		app, ok := matchApplication(aidObj.Value, k.opts.Applications)
		if !ok {
			k.log.Debug("emv: PPSE lists an unsupported application", "aid", hexUpper(aidObj.Value))
			continue
		}
		seen[key] = true
		c := candidate{aid: aidObj.Value, app: app}
		if l, ok := Find(e.Children, TagLabel); ok && printable(l.Value) {
			c.label = string(l.Value)
		}
		if p, ok := Find(e.Children, TagPriority); ok && len(p.Value) == 1 {
			c.priority = int(p.Value[0] & 0x0F)
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: PPSE lists %d applications, none supported", ErrNoApplication, len(entries))
	}
	sort.SliceStable(cands, func(i, j int) bool {
		pi, pj := cands[i].priority, cands[j].priority
		if pi == 0 || pj == 0 {
			return pi != 0 && pj == 0
		}
		return pi < pj
	})
	return cands, nil
}

// matchApplication finds the supported application for a card AID: equal,
// or (unless ExactMatch) the card AID extends the terminal AID.
func matchApplication(aid []byte, apps []Application) (Application, bool) {
	for _, a := range apps {
		if len(a.AID) == 0 {
			continue
		}
		if bytes.Equal(aid, a.AID) || (!a.ExactMatch && bytes.HasPrefix(aid, a.AID)) {
			return a, true
		}
	}
	return Application{}, false
}

// selectApplication selects the first candidate that answers 9000.
func (k *kernel) selectApplication(cands []candidate) error {
	tried := 0
	var lastSW uint16
	for _, c := range cands {
		if tried == MaxCandidates {
			break
		}
		tried++
		resp, err := Transceive(k.ctx, k.card, SelectCommand(c.aid))
		if err != nil {
			if sw, ok := swOf(err); ok {
				k.log.Debug("emv: application refused selection", "aid", hexUpper(c.aid), "sw", fmt.Sprintf("%04X", sw))
				lastSW = sw
				continue
			}
			return k.fail("SELECT "+hexUpper(c.aid), err)
		}
		return k.parseADF(resp, c)
	}
	return fmt.Errorf("%w: %d candidate applications refused selection (last status %04X)", ErrNoApplication, tried, lastSW)
}

// parseADF reads the FCI of the selected application.
func (k *kernel) parseADF(resp []byte, c candidate) error {
	step := "SELECT " + hexUpper(c.aid)
	tlvs, err := Parse(resp)
	if err != nil {
		return fmt.Errorf("%w: %s: FCI: %w", ErrMalformed, step, err)
	}
	fci, ok := Find(tlvs, TagFCI)
	if !ok {
		return fmt.Errorf("%w: %s: answer has no FCI template (6F)", ErrMalformed, step)
	}
	k.app = c.app
	k.aid = c.aid
	if df, ok := Find(fci.Children, TagDFName); ok {
		if !bytes.HasPrefix(df.Value, c.aid) {
			return fmt.Errorf("%w: %s: FCI names application %s", ErrMalformed, step, hexUpper(df.Value))
		}
		k.aid = df.Value
	}
	if err := k.collect(fci.Children, step); err != nil {
		return err
	}
	k.data[TagDFName] = k.aid
	if _, ok := k.data[TagLabel]; !ok && c.label != "" {
		k.data[TagLabel] = []byte(c.label)
	}
	if p, ok := k.data[TagPDOL]; ok {
		if k.pdol, err = ParseDOL(p); err != nil {
			return fmt.Errorf("%w: %s: PDOL (9F38): %w", ErrMalformed, step, err)
		}
	}
	k.tv[TagTerminalAID] = append([]byte(nil), k.app.AID...)
	if k.app.Version != [2]byte{} {
		k.tv[TagTermAppVersion] = append([]byte(nil), k.app.Version[:]...)
	}
	k.log.Debug("emv: application selected", "aid", hexUpper(k.aid), "scheme", k.app.Scheme)
	return nil
}

// criticalTags may not appear twice with different values: a card that
// does so is inconsistent (EMV Book 3 section 10.2 "redundant data").
var criticalTags = map[Tag]bool{
	TagPAN: true, TagTrack2: true, TagExpiry: true, TagPANSeq: true,
	TagCryptogram: true, TagCID: true, TagATC: true, TagAIP: true,
}

// collect records the primitive objects of tlvs as card data. The first
// value of a tag wins; a critical tag repeated with a different value is
// an error.
func (k *kernel) collect(tlvs []TLV, step string) error {
	var err error
	walkPrimitive(tlvs, func(t TLV) {
		if err != nil {
			return
		}
		old, ok := k.data[t.Tag]
		if !ok {
			k.data[t.Tag] = t.Value
			return
		}
		if criticalTags[t.Tag] && !bytes.Equal(old, t.Value) {
			err = fmt.Errorf("%w: %s: tag %s appears twice with different values", ErrMalformed, step, t.Tag)
		}
	})
	return err
}

// getProcessingOptions sends GPO and returns the AFL.
func (k *kernel) getProcessingOptions() ([]AFLEntry, error) {
	const step = "GET PROCESSING OPTIONS"
	resp, err := Transceive(k.ctx, k.card, GPOCommand(k.pdol.Build(k.tv)))
	if err != nil {
		if sw, ok := swOf(err); ok && sw == 0x6985 {
			return nil, fmt.Errorf("%w: %s answered 6985 (conditions of use not satisfied): %w", ErrDeclinedByCard, step, err)
		}
		return nil, k.fail(step, err)
	}
	tlvs, err := Parse(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, step, err)
	}
	if len(tlvs) == 0 {
		return nil, fmt.Errorf("%w: %s: empty answer", ErrMalformed, step)
	}
	var aflBytes []byte
	switch top := tlvs[0]; top.Tag {
	case TagRMTF1:
		if len(top.Value) < 2 {
			return nil, fmt.Errorf("%w: %s: format 1 answer is %d bytes, need the 2-byte AIP", ErrMalformed, step, len(top.Value))
		}
		k.data[TagAIP] = top.Value[:2]
		aflBytes = top.Value[2:]
		if len(aflBytes) == 0 {
			return nil, fmt.Errorf("%w: %s: format 1 answer has no AFL", ErrMalformed, step)
		}
	case TagRMTF2:
		if err := k.collect(top.Children, step); err != nil {
			return nil, err
		}
		if len(k.data[TagAIP]) != 2 {
			return nil, fmt.Errorf("%w: %s: format 2 answer has no 2-byte AIP (82)", ErrMalformed, step)
		}
		if a, ok := Find(top.Children, TagAFL); ok {
			aflBytes = a.Value
		}
		if len(aflBytes) == 0 && k.data[TagTrack2] == nil && k.data[TagPAN] == nil {
			return nil, fmt.Errorf("%w: %s: no AFL (94) and no card data in the answer", ErrMalformed, step)
		}
	default:
		return nil, fmt.Errorf("%w: %s: answer starts with tag %s, want 80 or 77", ErrMalformed, step, top.Tag)
	}
	if len(aflBytes) == 0 {
		return nil, nil
	}
	afl, err := ParseAFL(aflBytes)
	if err != nil {
		return nil, fmt.Errorf("emv: %s: %w", step, err)
	}
	return afl, nil
}

// AFLEntry is one 4-byte entry of the Application File Locator (94): the
// records First..Last of short file SFI, the first ODA of them used for
// offline data authentication.
type AFLEntry struct {
	SFI, First, Last, ODA byte
}

// ParseAFL decodes and validates an AFL (EMV Book 3 section 10.2): a
// multiple of 4 bytes; per entry SFI 1..30 in the top 5 bits with the low
// 3 bits zero, first record >= 1, last >= first, ODA count <= the number
// of records. Errors wrap ErrMalformed and name the entry.
func ParseAFL(b []byte) ([]AFLEntry, error) {
	if len(b) == 0 || len(b)%4 != 0 {
		return nil, fmt.Errorf("%w: AFL is %d bytes, want a non-zero multiple of 4", ErrMalformed, len(b))
	}
	out := make([]AFLEntry, 0, len(b)/4)
	for i := 0; i < len(b); i += 4 {
		e := AFLEntry{SFI: b[i] >> 3, First: b[i+1], Last: b[i+2], ODA: b[i+3]}
		switch {
		case b[i]&0x07 != 0 || e.SFI < 1 || e.SFI > 30:
			return nil, fmt.Errorf("%w: AFL entry %d (offset %d): SFI byte %02X, want SFI 1..30 in bits 8-4", ErrMalformed, i/4+1, i, b[i])
		case e.First == 0 || e.Last < e.First:
			return nil, fmt.Errorf("%w: AFL entry %d (offset %d): records %d..%d", ErrMalformed, i/4+1, i, e.First, e.Last)
		case int(e.ODA) > int(e.Last)-int(e.First)+1:
			return nil, fmt.Errorf("%w: AFL entry %d (offset %d): %d ODA records of %d", ErrMalformed, i/4+1, i, e.ODA, int(e.Last)-int(e.First)+1)
		}
		out = append(out, e)
	}
	return out, nil
}

// readRecords reads every record the AFL lists.
func (k *kernel) readRecords(afl []AFLEntry) error {
	total := 0
	for _, e := range afl {
		total += int(e.Last) - int(e.First) + 1
	}
	if total > MaxRecords {
		return fmt.Errorf("%w: AFL lists %d records, limit %d", ErrMalformed, total, MaxRecords)
	}
	for i, e := range afl {
		for rec := int(e.First); rec <= int(e.Last); rec++ {
			step := fmt.Sprintf("READ RECORD SFI %d record %d (AFL entry %d)", e.SFI, rec, i+1)
			resp, err := Transceive(k.ctx, k.card, ReadRecordCommand(e.SFI, byte(rec)))
			if err != nil {
				if sw, ok := swOf(err); ok {
					return fmt.Errorf("%w: %s: AFL lists a record the card does not return (status %04X): %w", ErrMalformed, step, sw, err)
				}
				return k.fail(step, err)
			}
			tlvs, err := Parse(resp)
			isRecord := err == nil && len(tlvs) == 1 && tlvs[0].Tag == TagRecord
			if !isRecord {
				if e.SFI > 10 {
					// Files 11-30 are issuer-proprietary and need not be
					// TLV (EMV Book 3 section 5.3.2.2): nothing for us.
					continue
				}
				if err != nil {
					return fmt.Errorf("%w: %s: %w", ErrMalformed, step, err)
				}
				return fmt.Errorf("%w: %s: record is not a single 70 template", ErrMalformed, step)
			}
			if err := k.collect(tlvs[0].Children, step); err != nil {
				return err
			}
		}
	}
	return nil
}

// generateAC asks the card for an ARQC with the CDOL1 data.
func (k *kernel) generateAC() error {
	const step = "GENERATE AC"
	raw, ok := k.data[TagCDOL1]
	if !ok {
		return fmt.Errorf("%w: no cryptogram (9F26) from GPO or records, and no CDOL1 (8C) to ask for one", ErrMalformed)
	}
	cdol, err := ParseDOL(raw)
	if err != nil {
		return fmt.Errorf("%w: CDOL1 (8C): %w", ErrMalformed, err)
	}
	resp, err := Transceive(k.ctx, k.card, GenerateACCommand(RefARQC, cdol.Build(k.tv)))
	if err != nil {
		return k.fail(step, err)
	}
	tlvs, err := Parse(resp)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, step, err)
	}
	if len(tlvs) == 0 {
		return fmt.Errorf("%w: %s: empty answer", ErrMalformed, step)
	}
	got := map[Tag][]byte{}
	switch top := tlvs[0]; top.Tag {
	case TagRMTF1: // CID (1) ATC (2) AC (8) [IAD]
		v := top.Value
		if len(v) < 11 {
			return fmt.Errorf("%w: %s: format 1 answer is %d bytes, need at least 11", ErrMalformed, step, len(v))
		}
		got[TagCID], got[TagATC], got[TagCryptogram] = v[:1], v[1:3], v[3:11]
		if len(v) > 11 {
			got[TagIAD] = v[11:]
		}
	case TagRMTF2:
		walkPrimitive(top.Children, func(t TLV) {
			if _, ok := got[t.Tag]; !ok {
				got[t.Tag] = t.Value
			}
		})
	default:
		return fmt.Errorf("%w: %s: answer starts with tag %s, want 80 or 77", ErrMalformed, step, top.Tag)
	}
	for _, t := range []Tag{TagCID, TagATC, TagCryptogram} {
		if _, ok := got[t]; !ok {
			return fmt.Errorf("%w: %s: answer has no %s (%s)", ErrMalformed, step, t.Name(), t)
		}
	}
	// The GENERATE AC answer is authoritative for the cryptogram data.
	for t, v := range got {
		k.data[t] = v
	}
	return nil
}

// decideCVM picks the cardholder verification. Below the CVM limit there
// is none. Above it: Mastercard (C-2) cards that support on-device CVM
// (AIP byte 1 bit 2) verify on the device, others sign; Visa/UnionPay
// cards say what they want in the CTQ (9F6C byte 2 bit 8 device CVM
// performed, byte 1 bit 8 online PIN, bit 7 signature), and signature is
// the fallback, the only CVM this terminal offers.
func decideCVM(required bool, kernel byte, aip, ctq []byte) CVM {
	if !required {
		return CVMNone
	}
	if kernel == KernelMastercard {
		if len(aip) >= 1 && aip[0]&0x02 != 0 {
			return CVMDevice
		}
		return CVMSignature
	}
	if len(ctq) >= 2 && ctq[1]&0x80 != 0 {
		return CVMDevice
	}
	if len(ctq) >= 1 && ctq[0]&0x80 != 0 {
		return CVMOnlinePIN
	}
	return CVMSignature
}

// result checks the cryptogram and assembles the Result.
func (k *kernel) result(cvm CVM) (Result, error) {
	res := Result{
		AID:     hexUpper(k.aid),
		Scheme:  k.app.Scheme,
		Product: k.app.Product,
		CVM:     cvm,
	}
	if l := k.data[TagLabel]; printable(l) {
		res.Label = string(l)
	} else if p := k.data[TagPreferredName]; printable(p) {
		res.Label = string(p)
	}
	if err := k.cardholderData(&res); err != nil {
		return Result{}, err
	}
	if ac := k.data[TagCryptogram]; len(ac) != 8 {
		return Result{}, fmt.Errorf("%w: application cryptogram (9F26) is %d bytes, want 8", ErrMalformed, len(ac))
	}
	atc := k.data[TagATC]
	if len(atc) != 2 {
		return Result{}, fmt.Errorf("%w: ATC (9F36) is %d bytes, want 2", ErrMalformed, len(atc))
	}
	res.ATC = uint16(atc[0])<<8 | uint16(atc[1])
	cid, err := k.cid()
	if err != nil {
		return Result{}, err
	}
	res.Cryptogram = cidName(cid)
	res.Field55 = k.field55()
	if cid&0xC0 == 0x00 {
		return res, fmt.Errorf("%w: card returned an AAC (CID %02X)", ErrDeclinedByCard, cid)
	}
	return res, nil
}

// cid returns the Cryptogram Information Data. A Visa card may leave it
// out; the type is then in the IAD, byte 5 bits 6-5 (EMV Book C-3
// section 5.4.3.1).
func (k *kernel) cid() (byte, error) {
	v, ok := k.data[TagCID]
	if !ok {
		iad := k.data[TagIAD]
		if k.app.Kernel != KernelVisa || len(iad) < 5 {
			return 0, fmt.Errorf("%w: no Cryptogram Information Data (9F27)", ErrMalformed)
		}
		return (iad[4] & 0x30) << 2, nil
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%w: CID (9F27) is %d bytes, want 1", ErrMalformed, len(v))
	}
	if v[0]&0xC0 == 0xC0 {
		return 0, fmt.Errorf("%w: CID %02X asks for an RFU cryptogram type", ErrMalformed, v[0])
	}
	return v[0], nil
}

// cardholderData fills PAN, expiry, track 2 and PAN sequence number.
// Errors never contain card data.
func (k *kernel) cardholderData(res *Result) error {
	var t2PAN, t2Expiry string
	if v, ok := k.data[TagTrack2]; ok {
		var err error
		res.Track2, t2PAN, t2Expiry, err = parseTrack2(v)
		if err != nil {
			return err
		}
	}
	if v, ok := k.data[TagPAN]; ok {
		pan := strings.TrimRight(hexUpper(v), "F")
		if !isDigits(pan) {
			return fmt.Errorf("%w: PAN (5A) is not compressed numeric", ErrMalformed)
		}
		if t2PAN != "" && t2PAN != pan {
			return fmt.Errorf("%w: PAN (5A) and track 2 (57) name different accounts", ErrMalformed)
		}
		res.PAN = pan
	} else {
		res.PAN = t2PAN
	}
	if res.PAN == "" {
		return fmt.Errorf("%w: card gave no PAN (5A) and no track 2 equivalent data (57)", ErrMalformed)
	}
	if err := card.ValidPAN(res.PAN); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if v, ok := k.data[TagExpiry]; ok {
		e := hexUpper(v)
		if len(v) != 3 || !validYYMM(e[:4]) {
			return fmt.Errorf("%w: expiry date (5F24) %s is not YYMMDD", ErrMalformed, e)
		}
		res.Expiry = e[:4]
	} else {
		res.Expiry = t2Expiry
	}
	if res.Expiry == "" {
		return fmt.Errorf("%w: card gave no expiry date (5F24 or track 2)", ErrMalformed)
	}
	if v, ok := k.data[TagPANSeq]; ok {
		s := hexUpper(v)
		if len(v) != 1 || !isDigits(s) {
			return fmt.Errorf("%w: PAN sequence number (5F34) %s is not n2", ErrMalformed, s)
		}
		res.PANSeq = s
	}
	return nil
}

// parseTrack2 reads track 2 equivalent data: PAN, separator D, expiry
// YYMM, service code, discretionary data, padded with F. Errors do not
// contain the data.
func parseTrack2(v []byte) (track2, pan, expiry string, err error) {
	s := strings.TrimRight(hexUpper(v), "F")
	i := strings.IndexByte(s, 'D')
	if i < 12 || i > 19 {
		return "", "", "", fmt.Errorf("%w: track 2 (57): separator D at digit %d, want after a 12-19 digit PAN", ErrMalformed, i+1)
	}
	rest := s[i+1:]
	if !isDigits(s[:i]) || len(rest) < 7 || !isDigits(rest) {
		return "", "", "", fmt.Errorf("%w: track 2 (57): want digits, then D, expiry YYMM and service code", ErrMalformed)
	}
	if !validYYMM(rest[:4]) {
		return "", "", "", fmt.Errorf("%w: track 2 (57): expiry is not YYMM", ErrMalformed)
	}
	return s, s[:i], rest[:4], nil
}

func validYYMM(s string) bool {
	if len(s) != 4 || !isDigits(s) {
		return false
	}
	mm := (s[2]-'0')*10 + s[3] - '0'
	return mm >= 1 && mm <= 12
}

// field55 encodes the configured tags that have a value, terminal data
// first, then card data.
func (k *kernel) field55() []byte {
	tags := k.opts.Field55Tags
	if tags == nil {
		tags = k.app.Field55
	}
	if tags == nil {
		tags = DefaultField55Tags
	}
	var objs []TLV
	for _, t := range tags {
		v, ok := k.tv[t]
		if !ok {
			v, ok = k.data[t]
		}
		if !ok || t.Constructed() || !t.Valid() {
			continue
		}
		objs = append(objs, TLV{Tag: t, Value: v})
	}
	b, err := Encode(objs...)
	if err != nil {
		// Unreachable: the tags are valid and primitive, and values come
		// from a parse or from Terminal.Values.
		return nil
	}
	return b
}

// countingCard counts APDUs and bytes and enforces MaxAPDUs.
type countingCard struct {
	card  Card
	stats Stats
}

// Transceive implements Card.
func (c *countingCard) Transceive(ctx context.Context, apdu []byte) ([]byte, error) {
	if c.stats.APDUs >= MaxAPDUs {
		return nil, fmt.Errorf("%w: card needed more than %d APDUs", ErrMalformed, MaxAPDUs)
	}
	c.stats.APDUs++
	c.stats.BytesOut += len(apdu)
	resp, err := c.card.Transceive(ctx, apdu)
	c.stats.BytesIn += len(resp)
	return resp, err
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

var _ Card = (*countingCard)(nil)
