package iso8583

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// unionPayTable is the dialect as the design brief and docs/iso8583.md list
// it, written independently of unionpay.json.
func unionPayTable() *Spec {
	s := &Spec{Name: "UnionPay", MTIEncoding: BCD, BitmapEncoding: Binary, LengthEncoding: BCD}
	n := func(max int, pad Pad) *FieldSpec {
		return &FieldSpec{Length: Fixed, Max: max, Content: N, Encoding: BCD, Pad: pad}
	}
	vn := func(t LengthType, max int) *FieldSpec {
		return &FieldSpec{Length: t, Max: max, Content: N, Encoding: BCD, Pad: PadRight}
	}
	txt := func(t LengthType, c Content, max int) *FieldSpec {
		return &FieldSpec{Length: t, Max: max, Content: c, Encoding: ASCII}
	}
	bin := func(t LengthType, max int) *FieldSpec {
		return &FieldSpec{Length: t, Max: max, Content: B, Encoding: Binary}
	}
	f := &s.Fields
	f[2] = vn(LLVAR, 19)
	f[2].Mask = MaskPAN
	f[3], f[4], f[11], f[12] = n(6, NoPad), n(12, NoPad), n(6, NoPad), n(6, NoPad)
	f[13], f[14], f[15] = n(4, NoPad), n(4, NoPad), n(4, NoPad)
	f[22], f[23] = n(3, PadRight), n(3, PadLeft)
	f[25], f[26] = n(2, NoPad), n(2, NoPad)
	f[32] = vn(LLVAR, 11)
	f[35] = &FieldSpec{Length: LLVAR, Max: 37, Content: Z, Encoding: BCD, Pad: PadRight, Mask: MaskTrack}
	f[36] = &FieldSpec{Length: LLLVAR, Max: 104, Content: Z, Encoding: BCD, Pad: PadRight, Mask: MaskTrack}
	f[37], f[38], f[39] = txt(Fixed, AN, 12), txt(Fixed, AN, 6), txt(Fixed, AN, 2)
	f[41], f[42] = txt(Fixed, ANS, 8), txt(Fixed, ANS, 15)
	f[44] = txt(LLVAR, AN, 25)
	f[48] = vn(LLLVAR, 322)
	f[48].Mask = MaskSecret // batch-upload records carry PANs
	f[49] = txt(Fixed, AN, 3)
	f[52] = bin(Fixed, 8)
	f[52].Mask = MaskSecret
	f[53] = n(16, NoPad)
	f[54] = txt(LLLVAR, AN, 20)
	f[55] = bin(LLLVAR, 255)
	f[55].Mask = MaskTLV
	f[60], f[61] = vn(LLLVAR, 17), vn(LLLVAR, 29)
	f[62] = bin(LLLVAR, 512)
	f[63] = txt(LLLVAR, ANS, 163)
	f[64] = bin(Fixed, 8)
	return s
}

func TestUnionPayMatchesTable(t *testing.T) {
	want := unionPayTable()
	got := UnionPay
	if got.Name != want.Name || got.MTIEncoding != want.MTIEncoding ||
		got.BitmapEncoding != want.BitmapEncoding || got.LengthEncoding != want.LengthEncoding {
		t.Fatalf("spec header %+v", got)
	}
	for i := range got.Fields {
		g, w := got.Fields[i], want.Fields[i]
		if (g == nil) != (w == nil) {
			t.Errorf("field %d: embedded %v, table %v", i, g, w)
			continue
		}
		if g == nil {
			continue
		}
		gc := *g
		gc.Name = "" // names are prose, not layout
		if gc != *w {
			t.Errorf("field %d: embedded %+v, table %+v", i, gc, *w)
		}
		if g.Name == "" {
			t.Errorf("field %d has no name", i)
		}
	}
}

func TestSpecJSONRoundTrip(t *testing.T) {
	b, err := json.Marshal(UnionPay)
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSpec(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if *s != *UnionPay.Clone() {
		// Fields are pointers; compare contents.
		for i := range s.Fields {
			if (s.Fields[i] == nil) != (UnionPay.Fields[i] == nil) ||
				s.Fields[i] != nil && *s.Fields[i] != *UnionPay.Fields[i] {
				t.Fatalf("field %d differs after JSON round trip", i)
			}
		}
	}
	if !bytes.Equal(UnionPayJSON(), unionPayJSON) {
		t.Fatal("UnionPayJSON differs from the embedded file")
	}
}

func TestCloneIsDeep(t *testing.T) {
	c := UnionPay.Clone()
	c.Fields[60].Max = 19
	if UnionPay.Fields[60].Max != 17 {
		t.Fatal("Clone shares field specs with the original")
	}
}

func TestLoadSpecRejects(t *testing.T) {
	base := `{"name":"X","mti_encoding":"bcd","bitmap_encoding":"binary","length_encoding":"bcd","fields":{%s}}`
	tests := []struct {
		name, json, want string
	}{
		{"not json", `{`, "unexpected EOF"},
		{"unknown key", `{"name":"X","mti":"bcd"}`, "unknown field"},
		{"two objects", strings.Replace(base, "%s", `"3":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"bcd"}`, 1) + `{}`, "data after"},
		{"no fields", strings.Replace(base, "%s", ``, 1), "no fields"},
		{"field key", strings.Replace(base, "%s", `"x":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"bcd"}`, 1), "field number"},
		{"field 1", strings.Replace(base, "%s", `"1":{"name":"p","length":"fixed","max":8,"content":"b","encoding":"binary"}`, 1), "not data fields"},
		{"field 129", strings.Replace(base, "%s", `"129":{"name":"p","length":"fixed","max":8,"content":"b","encoding":"binary"}`, 1), "field number"},
		{"leading zero key", strings.Replace(base, "%s", `"03":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"bcd"}`, 1), "field number"},
		{"llvar too long", strings.Replace(base, "%s", `"2":{"name":"p","length":"llvar","max":100,"content":"n","encoding":"bcd","pad":"right"}`, 1), "LLVAR max 100"},
		{"lllvar too long", strings.Replace(base, "%s", `"2":{"name":"p","length":"lllvar","max":1000,"content":"b","encoding":"binary"}`, 1), "LLLVAR max 1000"},
		{"fixed huge", strings.Replace(base, "%s", `"3":{"name":"p","length":"fixed","max":2147483647,"content":"n","encoding":"bcd"}`, 1), "fixed length 2147483647"},
		{"fixed zero", strings.Replace(base, "%s", `"3":{"name":"p","length":"fixed","max":0,"content":"n","encoding":"bcd"}`, 1), "fixed length 0"},
		{"odd bcd no pad", strings.Replace(base, "%s", `"22":{"name":"p","length":"fixed","max":3,"content":"n","encoding":"bcd"}`, 1), "needs pad"},
		{"var bcd no pad", strings.Replace(base, "%s", `"2":{"name":"p","length":"llvar","max":19,"content":"n","encoding":"bcd"}`, 1), "needs pad"},
		{"pad on even", strings.Replace(base, "%s", `"3":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"bcd","pad":"left"}`, 1), "pad only"},
		{"pad on ascii", strings.Replace(base, "%s", `"41":{"name":"p","length":"fixed","max":8,"content":"ans","encoding":"ascii","pad":"left"}`, 1), "pad only"},
		{"ans bcd", strings.Replace(base, "%s", `"41":{"name":"p","length":"fixed","max":8,"content":"ans","encoding":"bcd"}`, 1), "needs ascii"},
		{"b ascii", strings.Replace(base, "%s", `"64":{"name":"p","length":"fixed","max":8,"content":"b","encoding":"ascii"}`, 1), "needs binary"},
		{"unknown content", strings.Replace(base, "%s", `"3":{"name":"p","length":"fixed","max":6,"content":"x","encoding":"bcd"}`, 1), "unknown content"},
		{"unknown pad", strings.Replace(base, "%s", `"22":{"name":"p","length":"fixed","max":3,"content":"n","encoding":"bcd","pad":"middle"}`, 1), "unknown pad"},
		{"unknown mask", strings.Replace(base, "%s", `"2":{"name":"p","length":"llvar","max":19,"content":"n","encoding":"bcd","pad":"right","mask":"hide"}`, 1), "unknown mask"},
		{"no name", strings.Replace(base, "%s", `"3":{"name":"","length":"fixed","max":6,"content":"n","encoding":"bcd"}`, 1), "empty name"},
		{"null field", strings.Replace(base, "%s", `"3":null`, 1), "null"},
		{"bad mti encoding", `{"name":"X","mti_encoding":"binary","bitmap_encoding":"binary","length_encoding":"bcd","fields":{"3":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"bcd"}}}`, "MTI encoding"},
		{"bad bitmap encoding", `{"name":"X","mti_encoding":"bcd","bitmap_encoding":"bcd","length_encoding":"bcd","fields":{"3":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"bcd"}}}`, "bitmap encoding"},
		{"missing length encoding", `{"name":"X","mti_encoding":"bcd","bitmap_encoding":"binary","fields":{"3":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"bcd"}}}`, "length_encoding"},
		{"no name spec", `{"name":"","mti_encoding":"bcd","bitmap_encoding":"binary","length_encoding":"bcd","fields":{"3":{"name":"p","length":"fixed","max":6,"content":"n","encoding":"bcd"}}}`, "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSpec(strings.NewReader(tt.json))
			if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadSpec containing %q", err, tt.want)
			}
		})
	}
}

// testASCIISpec is an ASCII dialect with a secondary bitmap, to exercise
// the encodings the UnionPay spec does not use.
func testASCIISpec(t testing.TB) *Spec {
	t.Helper()
	s, err := LoadSpec(strings.NewReader(`{
		"name": "TestASCII", "mti_encoding": "ascii", "bitmap_encoding": "ascii", "length_encoding": "ascii",
		"fields": {
			"2":   {"name": "PAN", "length": "llvar", "max": 19, "content": "n", "encoding": "ascii", "mask": "pan"},
			"3":   {"name": "Proc", "length": "fixed", "max": 6, "content": "n", "encoding": "ascii"},
			"35":  {"name": "Track 2", "length": "llvar", "max": 37, "content": "z", "encoding": "ascii", "mask": "track"},
			"43":  {"name": "Name", "length": "fixed", "max": 10, "content": "a", "encoding": "ascii"},
			"48":  {"name": "Private", "length": "lllvar", "max": 999, "content": "ans", "encoding": "ascii"},
			"70":  {"name": "Net mgmt", "length": "fixed", "max": 3, "content": "n", "encoding": "ascii"},
			"100": {"name": "Bin", "length": "lllvar", "max": 300, "content": "b", "encoding": "binary"},
			"128": {"name": "MAC", "length": "fixed", "max": 8, "content": "b", "encoding": "binary"}
		}}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testBinarySpec uses binary length prefixes and BCD MTI.
func testBinarySpec(t testing.TB) *Spec {
	t.Helper()
	s := UnionPay.Clone()
	s.Name = "TestBinary"
	s.LengthEncoding = Binary
	return s
}
