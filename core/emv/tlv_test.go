package emv

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// ppseFCI is a SELECT PPSE answer (data only) in the layout of EMV Book B
// Table 3-3: 6F { 84 "2PAY.SYS.DDF01", A5 { BF0C { 61 { 4F, 50, 87 } } } }.
const ppseFCI = "6F 30 84 0E 325041592E5359532E4444463031 A5 1E BF0C 1B 61 19 4F 07 A0000000031010 50 0B 5649534120435245444954 87 01 01"

func TestParsePPSE(t *testing.T) {
	tlvs, err := Parse(mustHex(t, ppseFCI))
	if err != nil {
		t.Fatal(err)
	}
	want := []TLV{{Tag: 0x6F, Children: []TLV{
		{Tag: 0x84, Value: []byte("2PAY.SYS.DDF01")},
		{Tag: 0xA5, Children: []TLV{
			{Tag: 0xBF0C, Children: []TLV{
				{Tag: 0x61, Children: []TLV{
					{Tag: 0x4F, Value: mustHex(t, "A0000000031010")},
					{Tag: 0x50, Value: []byte("VISA CREDIT")},
					{Tag: 0x87, Value: []byte{0x01}},
				}},
			}},
		}},
	}}}
	if !reflect.DeepEqual(tlvs, want) {
		t.Fatalf("Parse =\n%#v\nwant\n%#v", tlvs, want)
	}
	enc, err := Encode(tlvs...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, mustHex(t, ppseFCI)) {
		t.Fatalf("Encode = %X, want %s", enc, ppseFCI)
	}
	if aid, ok := Find(tlvs, TagAID); !ok || !bytes.Equal(aid.Value, mustHex(t, "A0000000031010")) {
		t.Fatalf("Find 4F = %X, %v", aid.Value, ok)
	}
	if _, ok := Find(tlvs, TagPAN); ok {
		t.Fatal("Find 5A found something")
	}
	if n := len(FindAll(tlvs, TagAppTemplate)); n != 1 {
		t.Fatalf("FindAll 61 = %d entries", n)
	}
}

func TestParseTagsAndLengths(t *testing.T) {
	tests := []struct {
		name string
		in   string
		tag  Tag
		vlen int
	}{
		{"one-byte tag", "5A 08 4761730000000011", 0x5A, 8},
		{"two-byte tag", "9F26 08 0102030405060708", 0x9F26, 8},
		{"three-byte tag", "DF8101 02 AABB", 0xDF8101, 2},
		{"length 81", "90 81 80 " + strings.Repeat("11", 0x80), 0x90, 0x80},
		{"length 82", "90 82 0100 " + strings.Repeat("22", 0x100), 0x90, 0x100},
		{"length 83", "90 83 000101 " + strings.Repeat("33", 0x101), 0x90, 0x101},
		{"non-minimal 81", "95 81 05 0000000000", 0x95, 5},
		{"zero length", "9F03 00", 0x9F03, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tlvs, err := Parse(mustHex(t, tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(tlvs) != 1 || tlvs[0].Tag != tc.tag || len(tlvs[0].Value) != tc.vlen {
				t.Fatalf("got %+v, want tag %s with %d bytes", tlvs, tc.tag, tc.vlen)
			}
		})
	}
}

func TestParsePadding(t *testing.T) {
	// 00 and FF before, between and after objects (EMV Book 3 Annex B).
	tlvs, err := Parse(mustHex(t, "00 FF 5F34 01 01 00 00 FF 9F36 02 0021 FF FF 00"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tlvs) != 2 || tlvs[0].Tag != TagPANSeq || tlvs[1].Tag != TagATC {
		t.Fatalf("got %+v", tlvs)
	}
	// Padding inside a template too.
	tlvs, err = Parse(mustHex(t, "70 07 00 5F34 01 01 00 FF 00"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tlvs[0].Children) != 1 {
		t.Fatalf("children = %+v", tlvs[0].Children)
	}
	if tlvs, err := Parse(mustHex(t, "00 00 FF")); err != nil || len(tlvs) != 0 {
		t.Fatalf("all padding: %+v, %v", tlvs, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		err    error
		offset int
		tag    Tag
	}{
		{"value truncated", "9F26 08 010203", ErrTruncated, 0, 0x9F26},
		{"no length byte", "5A", ErrTruncated, 0, 0x5A},
		{"multi-byte tag cut", "9F", ErrTruncated, 0, 0},
		{"multi-byte tag cut after continuation", "5F34 01 01 DF81", ErrTruncated, 4, 0},
		{"tag longer than 4 bytes", "DF 81 82 83 04 00", ErrBadTag, 0, 0},
		{"indefinite length", "70 80 5A 00 00 00", ErrBadLength, 0, 0x70},
		{"4-byte length", "90 84 00000001 AA", ErrBadLength, 0, 0x90},
		{"long length cut", "90 82 01", ErrTruncated, 0, 0x90},
		{"second object truncated", "5F34 01 01 9F36 02 00", ErrTruncated, 4, 0x9F36},
		// The child's offset is counted from the start of the whole input.
		{"nested child truncated", "6F 06 A5 04 50 05 4142", ErrTruncated, 4, 0x50},
		{"template longer than parent", "6F 03 A5 05 50", ErrTruncated, 2, 0xA5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(mustHex(t, tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err %T is not a *ParseError", err)
			}
			if pe.Offset != tc.offset || pe.Tag != tc.tag {
				t.Fatalf("ParseError offset %d tag %s, want offset %d tag %s (%v)", pe.Offset, pe.Tag, tc.offset, tc.tag, err)
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Fatalf("error %q does not name the offset", err)
			}
			if tc.tag != 0 && !strings.Contains(err.Error(), tc.tag.String()) {
				t.Fatalf("error %q does not name tag %s", err, tc.tag)
			}
		})
	}
}

func TestParseDepthLimit(t *testing.T) {
	// 70 { 70 { ... 5A 00 } } nested deeper than MaxDepth.
	inner := mustHex(t, "5A00")
	for i := 0; i < MaxDepth+2; i++ {
		inner = append(append([]byte{0x70}, appendLength(nil, len(inner))...), inner...)
	}
	_, err := Parse(inner)
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("err = %v, want ErrTooDeep", err)
	}
	// MaxDepth levels are fine.
	ok := mustHex(t, "5A00")
	for i := 0; i < MaxDepth; i++ {
		ok = append(append([]byte{0x70}, appendLength(nil, len(ok))...), ok...)
	}
	if _, err := Parse(ok); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
}

func TestEncodeLengthForms(t *testing.T) {
	for _, n := range []int{0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000} {
		enc, err := Encode(TLV{Tag: 0x90, Value: make([]byte, n)})
		if err != nil {
			t.Fatal(err)
		}
		var wantHdr []byte
		switch {
		case n < 0x80:
			wantHdr = []byte{0x90, byte(n)}
		case n <= 0xFF:
			wantHdr = []byte{0x90, 0x81, byte(n)}
		case n <= 0xFFFF:
			wantHdr = []byte{0x90, 0x82, byte(n >> 8), byte(n)}
		default:
			wantHdr = []byte{0x90, 0x83, byte(n >> 16), byte(n >> 8), byte(n)}
		}
		if !bytes.HasPrefix(enc, wantHdr) || len(enc) != len(wantHdr)+n {
			t.Fatalf("n=%d: header % X, want % X", n, enc[:len(wantHdr)], wantHdr)
		}
		back, err := Parse(enc)
		if err != nil || len(back[0].Value) != n {
			t.Fatalf("n=%d: re-parse %v", n, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		tlv  TLV
		err  error
	}{
		{"invalid tag 9F alone", TLV{Tag: 0x9F, Value: []byte{1}}, ErrBadTag},
		{"tag zero", TLV{Tag: 0}, ErrBadTag},
		{"padding byte FF as tag", TLV{Tag: 0xFF}, ErrBadTag},
		{"middle byte without bit 8", TLV{Tag: 0x9F0101}, ErrBadTag},
		{"constructed with raw value", TLV{Tag: 0x70, Value: []byte{1}}, ErrBadStructure},
		{"primitive with children", TLV{Tag: 0x5A, Children: []TLV{{Tag: 0x5A}}}, ErrBadStructure},
		{"value too long", TLV{Tag: 0x90, Value: make([]byte, maxLength+1)}, ErrBadLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Encode(tc.tlv); !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
	deep := TLV{Tag: 0x5A}
	for i := 0; i < MaxDepth+2; i++ {
		deep = TLV{Tag: 0x70, Children: []TLV{deep}}
	}
	if _, err := Encode(deep); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("deep tree: err = %v", err)
	}
}

func TestTag(t *testing.T) {
	tests := []struct {
		tag         Tag
		str         string
		valid, cons bool
	}{
		{0x5A, "5A", true, false},
		{0x9F26, "9F26", true, false},
		{0xBF0C, "BF0C", true, true},
		{0x70, "70", true, true},
		{0xDF8101, "DF8101", true, false},
		{0x9F, "9F", false, false},
		{0x9F81, "9F81", false, false}, // last byte has bit 8 set
		{0x5A01, "5A01", false, false}, // 5A is a one-byte tag
		{0, "0", false, false},
	}
	for _, tc := range tests {
		if got := tc.tag.String(); got != tc.str {
			t.Errorf("Tag(%#x).String() = %q, want %q", uint32(tc.tag), got, tc.str)
		}
		if got := tc.tag.Valid(); got != tc.valid {
			t.Errorf("Tag %s Valid() = %v, want %v", tc.str, got, tc.valid)
		}
		if tc.valid {
			if got := tc.tag.Constructed(); got != tc.cons {
				t.Errorf("Tag %s Constructed() = %v", tc.str, got)
			}
			back, err := ParseTag(tc.str)
			if err != nil || back != tc.tag {
				t.Errorf("ParseTag(%q) = %s, %v", tc.str, back, err)
			}
		} else if _, err := ParseTag(tc.str); err == nil && tc.tag != 0 {
			t.Errorf("ParseTag(%q) accepted an invalid tag", tc.str)
		}
	}
	if _, err := ParseTag("zz"); !errors.Is(err, ErrBadTag) {
		t.Errorf("ParseTag(zz) err = %v", err)
	}
	if TagPAN.Name() != "Application Primary Account Number (PAN)" || Tag(0xDF7F).Name() != "Unknown" {
		t.Errorf("names: %q %q", TagPAN.Name(), Tag(0xDF7F).Name())
	}
	for tag, info := range dictionary {
		if !tag.Valid() {
			t.Errorf("dictionary tag %s is not valid", tag)
		}
		if tag.Constructed() != (info.Format == FormatTemplate) {
			t.Errorf("dictionary tag %s: constructed %v but format %s", tag, tag.Constructed(), info.Format)
		}
	}
}

// record is a READ RECORD answer holding every sensitive tag.
const sensitiveRecord = "70 59" +
	" 5A 0A 6212345600000012340F" +
	" 57 13 6212345600000012340D30122201234567890F" +
	" 5F20 09 5A48414E472F53414E" +
	" 56 15 42363231323334353630303030303031323334305E" +
	" 9F6B 08 4761730000000011" +
	" 5F24 03 301231" +
	" 9F27 01 80"

func TestDumpMasks(t *testing.T) {
	tlvs, err := Parse(mustHex(t, sensitiveRecord))
	if err != nil {
		t.Fatal(err)
	}
	got := Dump(tlvs, DumpOptions{})
	want := `70 READ RECORD Response Message Template [89]
  5A Application Primary Account Number (PAN) [10]: 621234*********2340 (masked)
  57 Track 2 Equivalent Data [19]: 621234*********2340D***************** (masked)
  5F20 Cardholder Name [9]: <9 bytes> (masked)
  56 Track 1 Data [21]: <21 bytes> (masked)
  9F6B Track 2 Data [8]: <8 bytes> (masked)
  5F24 Application Expiration Date [3]: 301231
  9F27 Cryptogram Information Data (CID) [1]: 80 (ARQC)
`
	if got != want {
		t.Fatalf("Dump =\n%s\nwant\n%s", got, want)
	}
	for _, secret := range []string{"6212345600000012340", "4761730000000011", "ZHANG", "3012220"} {
		if strings.Contains(got, secret) {
			t.Fatalf("masked dump contains %q", secret)
		}
	}
	js, err := DumpJSON(tlvs, DumpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js, []byte("6212345600000012340")) || bytes.Contains(js, []byte("621234560000001234")) {
		t.Fatalf("masked JSON contains the PAN: %s", js)
	}
	var nodes []Node
	if err := json.Unmarshal(js, &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || len(nodes[0].Children) != 7 || !nodes[0].Children[0].Masked || nodes[0].Children[0].Value != "" {
		t.Fatalf("JSON nodes = %+v", nodes)
	}

	clear := Dump(tlvs, DumpOptions{Unmasked: true})
	for _, want := range []string{
		"5A Application Primary Account Number (PAN) [10]: 6212345600000012340F (6212345600000012340)",
		`5F20 Cardholder Name [9]: 5A48414E472F53414E ("ZHANG/SAN")`,
		"57 Track 2 Equivalent Data [19]: 6212345600000012340D30122201234567890F",
	} {
		if !strings.Contains(clear, want) {
			t.Fatalf("unmasked dump lacks %q:\n%s", want, clear)
		}
	}
}

func TestDumpPPSE(t *testing.T) {
	tlvs, err := Parse(mustHex(t, ppseFCI))
	if err != nil {
		t.Fatal(err)
	}
	want := `6F File Control Information (FCI) Template [48]
  84 Dedicated File (DF) Name [14]: 325041592E5359532E4444463031 ("2PAY.SYS.DDF01")
  A5 FCI Proprietary Template [30]
    BF0C FCI Issuer Discretionary Data [27]
      61 Application Template [25]
        4F Application Identifier (AID) - card [7]: A0000000031010
        50 Application Label [11]: 5649534120435245444954 ("VISA CREDIT")
        87 Application Priority Indicator [1]: 01
`
	if got := Dump(tlvs, DumpOptions{}); got != want {
		t.Fatalf("Dump =\n%s\nwant\n%s", got, want)
	}
	if js, err := DumpJSON(nil, DumpOptions{}); err != nil || string(js) != "[]" {
		t.Fatalf("DumpJSON(nil) = %s, %v", js, err)
	}
}
