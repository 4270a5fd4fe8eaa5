package escpos

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func textBytes(t *testing.T, enc Encoding, s string) ([]byte, []Problem) {
	t.Helper()
	b, err := NewBuilder(enc)
	if err != nil {
		t.Fatal(err)
	}
	probs := b.Text(s)
	return b.Bytes(), probs
}

// node-escpos#332: "¥" printed as "0 6" because GB18030 encodes U+00A5 as
// 81 30 84 36, which GBK firmware cannot print. In GBK mode ¥ must become
// the full-width ￥ (U+FFE5, A3 A4 in GBK and GB18030), inside FS & (1C 26,
// select Chinese character mode) … FS . (1C 2E, cancel it).
func TestYenGoldenGBK(t *testing.T) {
	got, probs := textBytes(t, EncodingGBK, "¥12.00")
	want := unhex(t, "1C 26 A3 A4 31 32 2E 30 30 1C 2E")
	if !bytes.Equal(got, want) {
		t.Errorf("got  % X\nwant % X", got, want)
	}
	if len(probs) != 0 {
		t.Errorf("problems %v, want none", probs)
	}
	if bytes.Contains(got, []byte{0x81, 0x30, 0x84, 0x36}) {
		t.Error("4-byte GB18030 sequence for ¥ sent to GBK firmware")
	}
}

// On GB18030 firmware the 4-byte code is printable and is sent as is.
func TestYenGB18030(t *testing.T) {
	got, probs := textBytes(t, EncodingGB18030, "¥1")
	if want := unhex(t, "1C 26 81 30 84 36 31 1C 2E"); !bytes.Equal(got, want) {
		t.Errorf("got % X, want % X", got, want)
	}
	if len(probs) != 0 {
		t.Errorf("problems %v", probs)
	}
}

func TestChineseGolden(t *testing.T) {
	tests := []struct {
		enc  Encoding
		in   string
		want string
	}{
		// GBK: 你 C4 E3, 好 BA C3; ASCII stays single-byte inside Chinese mode.
		{EncodingGBK, "你好 A", "1C 26 C4 E3 BA C3 20 41 1C 2E"},
		// 金额 (amount): 金 BD F0, 额 B6 EE.
		{EncodingGB18030, "金额", "1C 26 BD F0 B6 EE 1C 2E"},
		// UTF-8: 你 E4 BD A0.
		{EncodingUTF8, "你", "1C 26 E4 BD A0 1C 2E"},
		// ASCII-only text never enters Chinese mode.
		{EncodingGBK, "TID 12345678", "54 49 44 20 31 32 33 34 35 36 37 38"},
		// Full-width yen passes through.
		{EncodingGBK, "￥", "1C 26 A3 A4 1C 2E"},
		// NO-BREAK SPACE (4-byte in GB18030) becomes a space on GBK firmware.
		{EncodingGBK, "1\u00a02", "1C 26 31 20 32 1C 2E"},
	}
	for _, tc := range tests {
		got, probs := textBytes(t, tc.enc, tc.in)
		if want := unhex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("%s %q: got % X, want % X", tc.enc, tc.in, got, want)
		}
		if len(probs) != 0 {
			t.Errorf("%s %q: problems %v", tc.enc, tc.in, probs)
		}
	}
}

func TestUnprintableBecomesQuestionMark(t *testing.T) {
	tests := []struct {
		name   string
		enc    Encoding
		in     string
		want   string
		kind   ProblemKind
		offset int
		r      rune
	}{
		// 𠀀 U+20000 needs 4 bytes in GB18030 (95 32 82 36): not for GBK firmware.
		{"gbk ext-b", EncodingGBK, "a𠀀b", "1C 26 61 3F 62 1C 2E", ProblemUnencodable, 1, 0x20000},
		// CP936 encodes € as the single byte 80, which GBK firmware prints as garbage.
		{"gbk euro", EncodingGBK, "€5", "1C 26 3F 35 1C 2E", ProblemUnencodable, 0, '€'},
		// Control characters would be commands: ESC in text is refused.
		{"escape", EncodingGBK, "A\x1bB", "41 3F 42", ProblemControl, 1, 0x1B},
		{"newline", EncodingNone, "A\nB", "41 3F 42", ProblemControl, 1, '\n'},
		{"c1 control", EncodingNone, "A\u0085", "41 3F", ProblemControl, 1, 0x85},
		{"invalid utf8", EncodingNone, "A\xffB", "41 3F 42", ProblemInvalidUTF8, 1, utf8.RuneError},
		{"invalid utf8 gbk", EncodingGBK, "\xff", "1C 26 3F 1C 2E", ProblemInvalidUTF8, 0, utf8.RuneError},
		{"private use", EncodingGB18030, "\ue000", "1C 26 3F 1C 2E", ProblemPrivateUse, 0, 0xE000},
		// Latin printer: Chinese is not in PC437.
		{"pc437 chinese", EncodingNone, "x你", "78 3F", ProblemUnencodable, 1, '你'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, probs := textBytes(t, tc.enc, tc.in)
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("got % X, want % X", got, want)
			}
			if len(probs) != 1 {
				t.Fatalf("problems %v, want 1", probs)
			}
			p := probs[0]
			if p.Kind != tc.kind || p.Offset != tc.offset || p.Rune != tc.r || p.Line != -1 {
				t.Errorf("problem %+v, want kind %v offset %d rune %U line -1", p, tc.kind, tc.offset, tc.r)
			}
		})
	}
}

// Latin text on a single-byte code page: é is 82 in PC437, ø is 9B in
// PC865 (and not in PC437).
func TestCodePageText(t *testing.T) {
	var b Builder
	probs := b.Text("café")
	if want := unhex(t, "63 61 66 82"); !bytes.Equal(b.Bytes(), want) || len(probs) != 0 {
		t.Errorf("PC437: % X %v", b.Bytes(), probs)
	}
	b.Reset()
	if probs := b.Text("ø"); len(probs) != 1 || !bytes.Equal(b.Bytes(), []byte{'?'}) {
		t.Errorf("ø in PC437: % X %v, want ? and a problem", b.Bytes(), probs)
	}
	b.Reset()
	if err := b.CodePage(PC865); err != nil {
		t.Fatal(err)
	}
	probs = b.Text("ø")
	if want := unhex(t, "1B 74 05 9B"); !bytes.Equal(b.Bytes(), want) || len(probs) != 0 {
		t.Errorf("PC865: % X %v, want % X", b.Bytes(), probs, want)
	}
	// ESC @ returns to page 0.
	b.Reset()
	b.Init()
	b.Text("ø")
	if want := unhex(t, "1B 40 3F"); !bytes.Equal(b.Bytes(), want) {
		t.Errorf("after Init: % X, want % X", b.Bytes(), want)
	}
}

// FuzzEncodeText: whatever the text, the bytes contain no control byte
// except the FS & / FS . framing; in GBK mode every byte ≥ 0x80 belongs to
// a valid 2-byte GBK code; each problem sits at a rune start of the input.
func FuzzEncodeText(f *testing.F) {
	for _, s := range []string{"¥12.00", "你好", "\x1b@", "a\xffb", "€", "𠀀", "café", "商户名称 MERCHANT: 测试", "\u00a0", ""} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
	}
	encs := []Encoding{EncodingGBK, EncodingGB18030, EncodingUTF8, EncodingNone}
	f.Fuzz(func(t *testing.T, s string, e uint8) {
		enc := encs[int(e)%len(encs)]
		b, err := NewBuilder(enc)
		if err != nil {
			t.Fatal(err)
		}
		probs := b.Text(s)
		out := b.Bytes()
		body := out
		if enc.CJK() && len(out) >= 4 && out[0] == FS && out[1] == '&' {
			if out[len(out)-2] != FS || out[len(out)-1] != '.' {
				t.Fatalf("Chinese mode not closed: % X", out)
			}
			body = out[2 : len(out)-2]
		}
		for i, c := range body {
			if c < 0x20 || c == 0x7F {
				t.Fatalf("control byte %#02x at %d in % X", c, i, out)
			}
		}
		if enc == EncodingGBK {
			for i := 0; i < len(body); i++ {
				if body[i] < 0x80 {
					continue
				}
				if i+1 >= len(body) || !isGBKDoubleByte(body[i:i+2]) {
					t.Fatalf("bad GBK code at %d in % X", i, body)
				}
				if _, err := simplifiedchinese.GBK.NewDecoder().Bytes(body[i : i+2]); err != nil {
					t.Fatalf("GBK code % X does not decode: %v", body[i:i+2], err)
				}
				i++
			}
		}
		starts := map[int]bool{}
		for i := 0; i < len(s); {
			starts[i] = true
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
		for _, p := range probs {
			if !starts[p.Offset] {
				t.Fatalf("problem offset %d is not where a character starts in %q", p.Offset, s)
			}
		}
		if len(probs) > utf8.RuneCountInString(s) {
			t.Fatalf("%d problems for %d characters", len(probs), utf8.RuneCountInString(s))
		}
	})
}
