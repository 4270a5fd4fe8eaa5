package escpos

import (
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Encoding is how a printer takes text outside ASCII: a per-printer
// setting, because Chinese firmware differs (GBK-only, GB18030, UTF-8).
type Encoding string

// Encodings.
const (
	// EncodingGBK: Chinese mode (FS &) with 2-byte GBK codes, the default.
	// Characters that need a 4-byte GB18030 sequence are mapped (¥ → ￥)
	// or reported as problems, never sent.
	EncodingGBK Encoding = "gbk"
	// EncodingGB18030: Chinese mode with full GB18030 (2- and 4-byte
	// codes), for firmware that has the GB18030 font.
	EncodingGB18030 Encoding = "gb18030"
	// EncodingUTF8: Chinese mode with UTF-8 bytes, for firmware set to
	// decode UTF-8 (the printer's own setting; not switched by this
	// package).
	EncodingUTF8 Encoding = "utf8"
	// EncodingNone: no Chinese font. Text outside ASCII goes through the
	// single-byte code page selected with ESC t.
	EncodingNone Encoding = "none"
)

// Valid reports whether e is a known encoding. The empty string counts as
// EncodingNone.
func (e Encoding) Valid() bool {
	switch e {
	case "", EncodingGBK, EncodingGB18030, EncodingUTF8, EncodingNone:
		return true
	}
	return false
}

// CJK reports whether e prints Chinese text in Chinese mode.
func (e Encoding) CJK() bool {
	return e == EncodingGBK || e == EncodingGB18030 || e == EncodingUTF8
}

// CodePage is a single-byte character code table, by its ESC t n number.
type CodePage byte

// Code pages with a known ESC t number (Epson: page 0 PC437 USA/Standard
// Europe, 2 PC850 Multilingual, 3 PC860 Portuguese, 4 PC863
// Canadian-French, 5 PC865 Nordic).
const (
	PC437 CodePage = 0
	PC850 CodePage = 2
	PC860 CodePage = 3
	PC863 CodePage = 4
	PC865 CodePage = 5
)

var codePages = map[CodePage]struct {
	name string
	cm   *charmap.Charmap
}{
	PC437: {"PC437", charmap.CodePage437},
	PC850: {"PC850", charmap.CodePage850},
	PC860: {"PC860", charmap.CodePage860},
	PC863: {"PC863", charmap.CodePage863},
	PC865: {"PC865", charmap.CodePage865},
}

// String returns the code page's name, e.g. "PC437".
func (c CodePage) String() string {
	if p, ok := codePages[c]; ok {
		return p.name
	}
	return fmt.Sprintf("CodePage(%d)", byte(c))
}

// Known reports whether this package has an encoder for c.
func (c CodePage) Known() bool { _, ok := codePages[c]; return ok }

// CodePage appends ESC t n (1B 74 n), "Select character code table", and
// makes Text encode single-byte characters with that table.
func (b *Builder) CodePage(c CodePage) error {
	if !c.Known() {
		return fmt.Errorf("%w: code page %d (known: 0 PC437, 2 PC850, 3 PC860, 4 PC863, 5 PC865)", ErrParam, byte(c))
	}
	b.cmd(ESC, 't', byte(c))
	b.text.page = c
	return nil
}

// ProblemKind says why a character could not be printed as given.
type ProblemKind uint8

// Problem kinds.
const (
	// ProblemUnencodable: the printer's encoding or code page has no code
	// for the character (or only one its firmware cannot print, such as a
	// 4-byte GB18030 sequence on GBK firmware). It was sent as '?'.
	ProblemUnencodable ProblemKind = iota + 1
	// ProblemControl: a control character in text, which would be read as
	// a command. It was sent as '?'.
	ProblemControl
	// ProblemInvalidUTF8: a byte that is not valid UTF-8. Sent as '?'.
	ProblemInvalidUTF8
	// ProblemPrivateUse: a private-use character; it would print a
	// printer-defined (usually blank) glyph. Sent as '?'.
	ProblemPrivateUse
	// ProblemQRAsText: the printer has neither native QR nor raster
	// images, so the QR content was printed as text.
	ProblemQRAsText
	// ProblemQRTooLarge: the QR code does not fit the paper width at a
	// readable module size (or its data is too long), so its content was
	// printed as text.
	ProblemQRTooLarge
)

// String returns a short name for the kind.
func (k ProblemKind) String() string {
	switch k {
	case ProblemUnencodable:
		return "unencodable"
	case ProblemControl:
		return "control character"
	case ProblemInvalidUTF8:
		return "invalid UTF-8"
	case ProblemPrivateUse:
		return "private-use character"
	case ProblemQRAsText:
		return "QR printed as text"
	case ProblemQRTooLarge:
		return "QR too large"
	}
	return fmt.Sprintf("ProblemKind(%d)", uint8(k))
}

// Problem is something in the input that did not print as given. The
// output is still safe (a '?' or the text form); the caller may decide to
// print the line as an image instead.
type Problem struct {
	// Line is the receipt line index, or -1 when the problem is not tied
	// to a receipt line (the QR code, or Builder.Text used directly).
	Line int
	// Offset is the byte offset of the character in the line's text.
	Offset int
	// Rune is the character (utf8.RuneError for invalid UTF-8).
	Rune rune
	// Kind says what went wrong.
	Kind ProblemKind
	// Detail says which encoding or limit was involved.
	Detail string
}

// String describes the problem for a log line.
func (p Problem) String() string {
	if p.Kind == ProblemQRAsText || p.Kind == ProblemQRTooLarge {
		return fmt.Sprintf("QR: %s: %s", p.Kind, p.Detail)
	}
	return fmt.Sprintf("line %d offset %d: %U %s: %s", p.Line, p.Offset, p.Rune, p.Kind, p.Detail)
}

// gbkOnlyMap replaces characters that GBK firmware lacks (they need a
// 4-byte GB18030 code) by a printable look-alike.
var gbkOnlyMap = map[rune]rune{
	'\u00A5': '\uFFE5', // ¥ YEN SIGN (GB18030 81 30 84 36) → ￥ FULLWIDTH YEN SIGN (A3 A4)
	'\u00A0': ' ',      // NO-BREAK SPACE (GB18030 81 30 84 32) → space
}

// textEncoder turns text into printer bytes for one encoding.
type textEncoder struct {
	enc  Encoding
	page CodePage
	gbk  *encoding.Encoder
	g18  *encoding.Encoder
}

// Text appends s as one unit. In a Chinese encoding a string with any
// non-ASCII character is wrapped in FS & (1C 26, select Kanji/Chinese
// character mode) and FS . (1C 2E, cancel it); ASCII-only text is sent
// as is. Characters that cannot be printed are sent as '?' and returned
// as Problems (Line -1). Text never emits a control byte: control
// characters in s are problems too.
func (b *Builder) Text(s string) []Problem {
	b.mark()
	var probs []Problem
	b.buf, probs = b.text.appendText(b.buf, s, probs)
	return probs
}

// Line appends Text(s) and LF.
func (b *Builder) Line(s string) []Problem {
	probs := b.Text(s)
	b.buf = append(b.buf, LF)
	return probs
}

func (t *textEncoder) appendText(dst []byte, s string, probs []Problem) ([]byte, []Problem) {
	cjk := t.enc.CJK() && !isASCII(s)
	if cjk {
		dst = append(dst, FS, '&')
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var ok bool
		var p Problem
		dst, p, ok = t.appendRune(dst, r, size, cjk)
		if !ok {
			p.Line, p.Offset, p.Rune = -1, i, r
			probs = append(probs, p)
			dst = append(dst, '?')
		}
		i += size
	}
	if cjk {
		dst = append(dst, FS, '.')
	}
	return dst, probs
}

// appendRune appends the printer code for r, or reports why it cannot.
func (t *textEncoder) appendRune(dst []byte, r rune, size int, cjk bool) ([]byte, Problem, bool) {
	switch {
	case r == utf8.RuneError && size <= 1:
		return dst, Problem{Kind: ProblemInvalidUTF8, Detail: "not valid UTF-8"}, false
	case r < 0x20 || r == 0x7F || (r >= 0x80 && r <= 0x9F):
		return dst, Problem{Kind: ProblemControl, Detail: "control characters are not printed"}, false
	case r < 0x80:
		return append(dst, byte(r)), Problem{}, true
	case isPrivateUse(r):
		return dst, Problem{Kind: ProblemPrivateUse, Detail: "private-use characters have no standard glyph"}, false
	}
	if !cjk {
		page := codePages[t.page]
		if c, ok := page.cm.EncodeRune(r); ok && c >= 0x80 {
			return append(dst, c), Problem{}, true
		}
		return dst, Problem{Kind: ProblemUnencodable, Detail: "not in code page " + page.name}, false
	}
	switch t.enc {
	case EncodingUTF8:
		return utf8.AppendRune(dst, r), Problem{}, true
	case EncodingGB18030:
		if t.g18 == nil {
			t.g18 = simplifiedchinese.GB18030.NewEncoder()
		}
		code, n, ok := encodeRune(t.g18, r)
		if !ok || n < 2 {
			return dst, Problem{Kind: ProblemUnencodable, Detail: "not in GB18030"}, false
		}
		return append(dst, code[:n]...), Problem{}, true
	}
	// GBK firmware: only 2-byte codes, lead 0x81-0xFE, trail 0x40-0xFE
	// except 0x7F. Anything else (a 4-byte GB18030 code, or CP936's
	// single-byte 0x80 for €) would print as garbage.
	if m, ok := gbkOnlyMap[r]; ok {
		if m < 0x80 {
			return append(dst, byte(m)), Problem{}, true
		}
		r = m
	}
	if t.gbk == nil {
		t.gbk = simplifiedchinese.GBK.NewEncoder()
	}
	code, n, ok := encodeRune(t.gbk, r)
	if !ok || !isGBKDoubleByte(code[:n]) {
		return dst, Problem{Kind: ProblemUnencodable, Detail: "not printable by GBK firmware (no 2-byte GBK code)"}, false
	}
	return append(dst, code[:n]...), Problem{}, true
}

// encodeRune encodes one rune with e into code[:n].
func encodeRune(e *encoding.Encoder, r rune) (code [4]byte, n int, ok bool) {
	var src [utf8.UTFMax]byte
	ns := utf8.EncodeRune(src[:], r)
	e.Reset()
	nDst, nSrc, err := e.Transform(code[:], src[:ns], true)
	if err != nil || nSrc != ns || nDst == 0 {
		return code, 0, false
	}
	return code, nDst, true
}

func isGBKDoubleByte(c []byte) bool {
	return len(c) == 2 && c[0] >= 0x81 && c[0] <= 0xFE && c[1] >= 0x40 && c[1] <= 0xFE && c[1] != 0x7F
}

func isPrivateUse(r rune) bool {
	return (r >= 0xE000 && r <= 0xF8FF) || r >= 0xF0000
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
