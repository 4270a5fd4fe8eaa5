package escpos

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
	qrcode "github.com/skip2/go-qrcode"
)

// sampleRecord is a typical approved contactless sale.
func sampleRecord() txn.Record {
	return txn.Record{
		ID:        "0000000000000001",
		Type:      txn.Sale,
		Entry:     txn.Contactless,
		Amount:    money.Amount{Minor: 1234, Currency: money.CNY},
		State:     txn.Approved,
		Identity:  txn.Identity{TID: "12345678", MID: "123456789012345", Batch: 1, STAN: 42, Invoice: 42},
		Outcome:   txn.Outcome{ResponseCode: "00", AuthCode: "A1B2C3", RRN: "123456789012"},
		Scheme:    "UnionPay",
		MaskedPAN: "622202******1234",
		Created:   time.Date(2025, 3, 1, 4, 5, 6, 0, time.UTC),
	}
}

func sampleReceipt() receipt.Receipt {
	return receipt.Build(receipt.Merchant{Name: "测试商户 Test Shop"}, sampleRecord(), receipt.CustomerCopy, time.UTC)
}

// A small receipt, byte for byte: ESC @; centred bold title; left text
// with the ¥ mapped to ￥ in Chinese mode; double size; a native QR; feed
// and partial cut.
func TestRenderGolden(t *testing.T) {
	r := receipt.Receipt{
		Lines: []receipt.Line{
			{Text: "RECEIPT", Align: receipt.Center, Bold: true},
			{Text: "¥12.00"},
			{Text: "OK", Double: true},
		},
		QR: "T1",
	}
	got, probs, err := Render(Generic80, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 0 {
		t.Errorf("problems: %v", probs)
	}
	want := unhex(t, ""+
		"1B 40"+ // ESC @
		"1B 61 01"+ // ESC a 1 centre
		"1B 45 01"+ // ESC E 1 bold
		"52 45 43 45 49 50 54 0A"+ // RECEIPT LF
		"1B 61 00"+ // ESC a 0
		"1B 45 00"+ // ESC E 0
		"1C 26 A3 A4 31 32 2E 30 30 1C 2E 0A"+ // FS & ￥12.00 FS . LF
		"1D 21 11"+ // GS ! 0x11 double width and height
		"4F 4B 0A"+ // OK LF
		"1D 21 00"+ // GS ! 0 back to normal
		"1B 61 01 0A"+ // centre, blank line (quiet zone)
		"1D 28 6B 04 00 31 41 32 00"+ // QR model 2
		"1D 28 6B 03 00 31 43 06"+ // module 6 dots (576/96)
		"1D 28 6B 03 00 31 45 31"+ // level M
		"1D 28 6B 05 00 31 50 30 54 31"+ // store "T1"
		"1D 28 6B 03 00 31 51 30"+ // print
		"0A"+ // blank line
		"1B 61 00"+ // back to left
		"1D 56 42 00") // feed to cut position, partial cut
	if !bytes.Equal(got, want) {
		t.Errorf("got\n% X\nwant\n% X", got, want)
	}
}

// odoo/odoo#47635: receipts over ~10 lines printed garbage on a TM-T20II.
// A long receipt must render completely, without problems, on every
// profile, and every line's text must be in the output in order.
func TestRenderLongReceipt(t *testing.T) {
	r := sampleReceipt()
	for i := 0; i < 40; i++ {
		r.Lines = append(r.Lines, receipt.Line{Text: fmt.Sprintf("商品 ITEM %02d ........ ￥%d.00", i, i+1)})
	}
	if len(r.Lines) <= 40 {
		t.Fatalf("only %d lines", len(r.Lines))
	}
	for _, p := range Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			out, probs, err := Render(p, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(probs) != 0 {
				t.Fatalf("problems: %v", probs)
			}
			// Every ASCII word of every line appears, in order.
			pos := 0
			for _, l := range r.Lines {
				for _, w := range strings.Fields(l.Text) {
					if !isASCII(w) {
						continue
					}
					i := bytes.Index(out[pos:], []byte(w))
					if i < 0 {
						t.Fatalf("word %q of line %q missing after offset %d", w, l.Text, pos)
					}
					pos += i
				}
			}
			if !bytes.HasPrefix(out, []byte{ESC, '@'}) {
				t.Error("does not start with ESC @")
			}
			end := []byte{ESC, 'd', tearFeedLines}
			if p.SupportsCut {
				end = []byte{GS, 'V', 66, 0}
			}
			if !bytes.HasSuffix(out, end) {
				t.Errorf("ends with % X, want % X", out[len(out)-4:], end)
			}
		})
	}
}

// A receipt laid out by core/receipt renders in Chinese: the title
// 签购单 is GBK C7 A9 B9 BA B5 A5 inside FS & … FS ..
func TestRenderReceiptBuildChinese(t *testing.T) {
	out, probs, err := Render(Generic58, sampleReceipt())
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 0 {
		t.Errorf("problems: %v", probs)
	}
	if !bytes.Contains(out, unhex(t, "1C 26 C7 A9 B9 BA B5 A5")) {
		t.Errorf("GBK title not found in % X", out[:40])
	}
	if bytes.Contains(out, []byte("622202******1234")) == false {
		t.Error("masked PAN missing")
	}
}

// Without native QR (escpos-printer-db#64: GS ( k printed as text) the
// QR is rendered with go-qrcode and sent as GS v 0 strips; the dots sent
// are exactly the module matrix scaled up.
func TestRenderQRFallbackRaster(t *testing.T) {
	p := Generic58 // SupportsQR false, SupportsRaster true
	p.StripRows = 40
	const data = "12345678/000001/000042"
	r := receipt.Receipt{Lines: []receipt.Line{{Text: "x"}}, QR: data}
	b, probs, err := render(p, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 0 {
		t.Errorf("problems: %v", probs)
	}
	out := b.Bytes()
	if bytes.Contains(out, []byte{GS, '(', 'k'}) {
		t.Fatal("native QR command sent to a printer without QR")
	}
	start := bytes.Index(out, []byte{GS, 'v', '0'})
	if start < 0 {
		t.Fatal("no GS v 0 in output")
	}
	end := bytes.LastIndex(out, []byte{LF, ESC, 'a', 0})
	cmds := parseRasters(t, out[start:end])
	q, err := qrcode.New(data, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	q.DisableBorder = true
	cells := q.Bitmap()
	n, scale := len(cells), p.qrModule()
	wantBytes := (n*scale + 7) / 8
	rows := 0
	var pix []byte
	for i, c := range cmds {
		if c.m != 0 || c.xBytes != wantBytes || c.yD > 40 {
			t.Errorf("strip %d: m %d, %d bytes × %d rows; want m 0, %d bytes, ≤ 40 rows", i, c.m, c.xBytes, c.yD, wantBytes)
		}
		rows += c.yD
		pix = append(pix, c.data...)
	}
	if rows != n*scale {
		t.Fatalf("%d rows, want %d", rows, n*scale)
	}
	if len(cmds) != (n*scale+39)/40 {
		t.Errorf("%d strips, want %d", len(cmds), (n*scale+39)/40)
	}
	sent := &Bitmap{Width: n * scale, Height: n * scale, Stride: wantBytes, Pix: pix}
	for y := 0; y < n*scale; y++ {
		for x := 0; x < n*scale; x++ {
			if sent.Black(x, y) != cells[y/scale][x/scale] {
				t.Fatalf("dot (%d,%d) differs from module (%d,%d)", x, y, x/scale, y/scale)
			}
		}
	}
	// Centred: ESC a 1 comes before the image.
	if !bytes.Contains(out[:start], []byte{ESC, 'a', 1}) {
		t.Error("QR image not centred")
	}
}

// No QR and no raster: the content is printed as text and reported.
func TestRenderQRTextOnly(t *testing.T) {
	p := Generic58
	p.SupportsRaster = false
	out, probs, err := Render(p, receipt.Receipt{QR: "REF-1"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte{GS, 'v', '0'}) || bytes.Contains(out, []byte{GS, '(', 'k'}) {
		t.Error("image or QR command sent to a text-only printer")
	}
	if !bytes.Contains(out, []byte("REF-1\n")) {
		t.Error("QR content not printed as text")
	}
	if len(probs) != 1 || probs[0].Kind != ProblemQRAsText || probs[0].Line != -1 {
		t.Errorf("problems %v, want one QR-as-text", probs)
	}
	if p.QRMode() != QRText || Generic58.QRMode() != QRRaster || Generic80.QRMode() != QRNative {
		t.Error("QR fallback rule wrong")
	}
}

// QR content beyond the symbol's capacity (2331 bytes at level M) falls
// back to text; so does a symbol that would need modules under 2 dots.
func TestRenderQRTooLarge(t *testing.T) {
	data := strings.Repeat("z", 3000)
	out, probs, err := Render(Generic58, receipt.Receipt{QR: data})
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].Kind != ProblemQRTooLarge {
		t.Fatalf("problems %v, want one QR-too-large", probs)
	}
	if bytes.Contains(out, []byte{GS, 'v', '0'}) || !bytes.Contains(out, []byte(data)) {
		t.Error("expected the content as text, no image")
	}
	// 21 modules (version 1) in 30 dots would be 1 dot per module.
	if _, err := qrBitmap("x", 4, 30); err == nil || !strings.Contains(err.Error(), "does not fit 30 dots") {
		t.Errorf("qrBitmap in 30 dots: err = %v", err)
	}
	// The largest symbol (version 40, 177 modules) still fits 58 mm at 2 dots.
	bm, err := qrBitmap(strings.Repeat("z", 2300), 4, 384)
	if err != nil || bm.Width != 177*2 {
		t.Errorf("version 40 on 384 dots: %v, width %d", err, bm.Width)
	}
}

func TestRenderProblemsCarryLine(t *testing.T) {
	r := receipt.Receipt{Lines: []receipt.Line{{Text: "ok"}, {Text: "ab\x1b@"}, {Text: "𠀀"}}}
	out, probs, err := Render(Generic80, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 2 {
		t.Fatalf("problems %v", probs)
	}
	if probs[0].Line != 1 || probs[0].Offset != 2 || probs[0].Kind != ProblemControl {
		t.Errorf("first problem %+v", probs[0])
	}
	if probs[1].Line != 2 || probs[1].Offset != 0 || probs[1].Kind != ProblemUnencodable {
		t.Errorf("second problem %+v", probs[1])
	}
	if bytes.Contains(out, []byte{ESC, '@', ESC}) || bytes.Count(out, []byte{ESC, '@'}) != 1 {
		t.Error("ESC from line text reached the output")
	}
	if !strings.Contains(probs[0].String(), "line 1 offset 2") {
		t.Errorf("String() = %q", probs[0].String())
	}
}

func TestRenderErrors(t *testing.T) {
	if _, _, err := Render(Profile{Name: "bad"}, receipt.Receipt{}); !errors.Is(err, ErrProfile) {
		t.Errorf("empty profile: err = %v, want ErrProfile", err)
	}
	_, _, err := Render(Generic80, receipt.Receipt{Lines: []receipt.Line{{Text: "a"}, {Text: "b", Align: 7}}})
	if !errors.Is(err, ErrParam) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad align: err = %v, want ErrParam naming line 1", err)
	}
}

// Long lines wrap at the profile's columns (Chinese = 2 columns), at a
// space when there is one, and double-size lines at half the columns.
func TestRenderWrap(t *testing.T) {
	p := Generic58 // 32 columns
	r := receipt.Receipt{Lines: []receipt.Line{
		{Text: "离线交易 OFFLINE - stored, not yet authorised"},
		{Text: "AMOUNT CNY 12345.67", Double: true},
	}}
	out, probs, err := Render(p, r)
	if err != nil || len(probs) != 0 {
		t.Fatal(err, probs)
	}
	// "离线交易 OFFLINE - stored, not" is 8+1+7+1+1+1+7+1+3 = 30 columns.
	first := unhex(t, "1C 26 C0 EB CF DF BD BB D2 D7") // 离线交易
	if !bytes.Contains(out, append(first, []byte(" OFFLINE - stored, not\x1c.\n")...)) {
		t.Errorf("first wrapped line wrong:\n% X", out)
	}
	if !bytes.Contains(out, []byte("\nyet authorised\n")) {
		t.Error("second wrapped line wrong")
	}
	// Double size: 16 columns → "AMOUNT CNY" / "12345.67".
	if !bytes.Contains(out, []byte("\x1d!\x11AMOUNT CNY\n12345.67\n")) {
		t.Errorf("double-size wrap wrong:\n%q", out)
	}
}

func TestWrap(t *testing.T) {
	seg := func(s string, cols int, cjk bool) []string {
		var out []string
		for _, g := range wrap(s, cols, cjk) {
			out = append(out, s[g.start:g.end])
		}
		return out
	}
	tests := []struct {
		s    string
		cols int
		cjk  bool
		want []string
	}{
		{"", 10, false, []string{""}},
		{"short", 10, false, []string{"short"}},
		{"exactly10!", 10, false, []string{"exactly10!"}},
		{"hello world again", 11, false, []string{"hello world", "again"}},
		{"abcdefghijkl", 5, false, []string{"abcde", "fghij", "kl"}},
		{"a  b", 1, false, []string{"a", "b"}},
		{"   ", 5, false, []string{""}},
		{"  indented", 20, false, []string{"  indented"}},
		{"你好世界", 5, true, []string{"你好", "世界"}},
		{"你", 1, true, []string{"你"}}, // wider than the line: printed alone
		{"é é", 2, true, []string{"é", "é"}},
		{"é é", 3, false, []string{"é é"}},
	}
	for _, tc := range tests {
		got := seg(tc.s, tc.cols, tc.cjk)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("wrap(%q, %d, %v) = %q, want %q", tc.s, tc.cols, tc.cjk, got, tc.want)
		}
	}
}

// Raster strips fit the receive buffer: 4096 bytes of 72-byte rows is 56
// rows (8 + 56×72 = 4040); a 45-byte buffer still gets one row per strip.
func TestStripRowsFitBuffer(t *testing.T) {
	p := Generic80
	if got := p.stripRows(72); got != 56 {
		t.Errorf("80 mm rows in 4 KB: %d, want 56", got)
	}
	if got := p.stripRows(13); got != DefaultStripRows {
		t.Errorf("narrow image: %d, want %d", got, DefaultStripRows)
	}
	p.BufferBytes = 45
	if got := p.stripRows(72); got != 1 {
		t.Errorf("45-byte buffer: %d, want 1", got)
	}
	p.BufferBytes, p.StripRows = 0, 30
	if got := p.stripRows(72); got != 30 {
		t.Errorf("unknown buffer: %d, want StripRows 30", got)
	}
}

func TestProfiles(t *testing.T) {
	for _, p := range Profiles() {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		q, err := ProfileByName(p.Name)
		if err != nil || q != p {
			t.Errorf("ProfileByName(%q) = %v, %v", p.Name, q.Name, err)
		}
	}
	if _, err := ProfileByName("nope"); !errors.Is(err, ErrProfile) {
		t.Errorf("unknown profile: err = %v", err)
	}
	if Generic58.DotsPerLine != 384 || Generic80.DotsPerLine != 576 || EpsonTMT20.DotsPerLine != 576 {
		t.Error("dots per line: want 384 (58 mm) and 576 (80 mm)")
	}
	// 11,520 bytes at 115200 8N1 take one second.
	if d := Generic80.TransferTime(11520); d != time.Second {
		t.Errorf("TransferTime = %v, want 1s", d)
	}
	if d := (Profile{}).TransferTime(100); d != 0 {
		t.Errorf("USB TransferTime = %v, want 0", d)
	}
	bad := []Profile{
		{Name: "dots", DotsPerLine: 0, Columns: 32},
		{Name: "cols", DotsPerLine: 384, Columns: 0},
		{Name: "enc", DotsPerLine: 384, Columns: 32, Encoding: "big5"},
		{Name: "page", DotsPerLine: 384, Columns: 32, CodePage: 77},
		{Name: "strip", DotsPerLine: 384, Columns: 32, StripRows: 300},
		{Name: "baud", DotsPerLine: 384, Columns: 32, Baud: -1},
	}
	for _, p := range bad {
		if err := p.Validate(); !errors.Is(err, ErrProfile) {
			t.Errorf("%s: err = %v, want ErrProfile", p.Name, err)
		}
	}
}

// A Latin-only printer on PC850 gets ESC t 2 after ESC @, and é as 82.
func TestRenderLatinCodePage(t *testing.T) {
	p := Generic80
	p.Encoding, p.CodePage = EncodingNone, PC850
	out, probs, err := Render(p, receipt.Receipt{Lines: []receipt.Line{{Text: "Café"}}})
	if err != nil || len(probs) != 0 {
		t.Fatal(err, probs)
	}
	if want := unhex(t, "1B 40 1B 74 02 43 61 66 82 0A"); !bytes.HasPrefix(out, want) {
		t.Errorf("got % X, want prefix % X", out, want)
	}
}
