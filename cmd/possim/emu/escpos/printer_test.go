package escpos

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	qrcode "github.com/skip2/go-qrcode"
)

// qrMatrix is the symbol go-qrcode makes for data at a GS ( k level.
func qrMatrix(t *testing.T, data string, level byte) [][]bool {
	t.Helper()
	q, err := qrcode.New(data, qrLevels[level])
	if err != nil {
		t.Fatal(err)
	}
	q.DisableBorder = true
	return q.Bitmap()
}

// DLE EOT replies, bit for bit (Epson TM-T88III / TM-U220A / TM-L60II
// specifications: bit 1 and bit 4 fixed on, bits 0 and 7 fixed off).
func TestStatusByteGolden(t *testing.T) {
	cases := []struct {
		name  string
		state State
		want  [4]byte // replies to n = 1, 2, 3, 4
	}{
		{"idle", State{}, [4]byte{0x12, 0x12, 0x12, 0x12}},
		{"paper out", State{PaperOut: true}, [4]byte{0x1A, 0x32, 0x12, 0x72}},
		{"near end", State{PaperNearEnd: true}, [4]byte{0x12, 0x12, 0x12, 0x1E}},
		{"cover open", State{CoverOpen: true}, [4]byte{0x1A, 0x16, 0x12, 0x12}},
		{"offline", State{Offline: true}, [4]byte{0x1A, 0x12, 0x12, 0x12}},
		{"cutter error", State{CutterError: true}, [4]byte{0x1A, 0x52, 0x1A, 0x12}},
		{"drawer open", State{DrawerOpen: true}, [4]byte{0x16, 0x12, 0x12, 0x12}},
	}
	for _, c := range cases {
		for n := byte(1); n <= 4; n++ {
			got, ok := c.state.StatusByte(n)
			if !ok || got != c.want[n-1] {
				t.Errorf("%s: DLE EOT %d = %02X, %v; want %02X", c.name, n, got, ok, c.want[n-1])
			}
			if got&0x93 != 0x12 {
				t.Errorf("%s: DLE EOT %d = %02X breaks the fixed bits", c.name, n, got)
			}
		}
	}
	for _, n := range []byte{0, 5, 0x31} {
		if _, ok := (State{}).StatusByte(n); ok {
			t.Errorf("StatusByte(%d) answered", n)
		}
	}
}

// DLE EOT is answered as soon as it is read: between commands, in the
// middle of text, and inside raster data (as Epson firmware does); the
// raster still prints whole and the request is not print data.
func TestStatusAnsweredMidStream(t *testing.T) {
	p, l := start(t, Config{Unpaced: true})
	p.SetPaperNearEnd(true)
	l.sendAll(t, unhex(t, "10 04 04"))
	eventually(t, "first answer", func() bool { return len(l.answers()) == 1 })
	if got := l.answers(); got[0] != 0x1E {
		t.Fatalf("answer % X, want 1E", got)
	}
	stream := unhex(t, `
		1B 40 41 42 10 04 01 43 0A
		1D 76 30 00 01 00 03 00 10 04 02
		1D 56 00`)
	l.sendAll(t, stream)
	r := receipt(t, p, 1)
	if got := l.answers(); !bytes.Equal(got, []byte{0x1E, 0x12, 0x12}) {
		t.Errorf("answers % X, want 1E 12 12", got)
	}
	if want := "ABC\n[IMAGE 8x3]\n"; r.Text != want {
		t.Errorf("text %q, want %q", r.Text, want)
	}
	// The DLE EOT among the text is a real-time command (not counted);
	// the one inside the raster is image data (counted).
	if want := len(stream) - 3; r.Bytes != want {
		t.Errorf("Bytes = %d, want %d", r.Bytes, want)
	}
	if len(problems(t, r)) != 0 {
		t.Errorf("problems: %q", problems(t, r))
	}
	if st := p.Stats(); st.StatusRequests != 3 {
		t.Errorf("StatusRequests = %d, want 3", st.StatusRequests)
	}
}

// A receipt byte for byte: ESC @, centred bold title, ￥ in Chinese mode
// (GBK A3 A4), double size, partial cut. The text applies the alignment
// at 48 columns.
func TestReceiptGolden(t *testing.T) {
	needFont(t)
	p, l := start(t, Config{Unpaced: true})
	stream := unhex(t, `
		1B 40
		1B 61 01 1B 45 01 52 45 43 45 49 50 54 0A
		1B 61 00 1B 45 00
		1C 26 A3 A4 31 32 2E 30 30 1C 2E 0A
		1D 21 11 4F 4B 0A 1D 21 00
		1D 56 01`)
	l.sendAll(t, stream)
	r := receipt(t, p, 1)
	want := strings.Repeat(" ", (576-7*12)/2/12) + "RECEIPT\n￥12.00\nOK\n"
	if r.Text != want {
		t.Errorf("text\n%q\nwant\n%q", r.Text, want)
	}
	if r.Bytes != len(stream) || r.Cut != "partial" || len(problems(t, r)) != 0 {
		t.Errorf("Bytes %d (want %d), Cut %q, Problems %q", r.Bytes, len(stream), r.Cut, problems(t, r))
	}
	img := decodePNG(t, r)
	if img.Bounds().Dx() != 576 || r.Width != 576 {
		t.Fatalf("image width %d, want 576", img.Bounds().Dx())
	}
	// Three lines: 34 + 34 + 48 (double height 24×2 > spacing 34).
	if want := 34 + 34 + 48; img.Bounds().Dy() != want {
		t.Errorf("image height %d, want %d", img.Bounds().Dy(), want)
	}
	title := inkBox(img, 0, 34)
	if title.Min.X < 246 || title.Max.X > 246+84+1 {
		t.Errorf("centred title ink spans x %d-%d, want within 246-331", title.Min.X, title.Max.X)
	}
	yen := inkBox(img, 34, 68)
	if yen.Min.X > 6 || yen.Max.X < 24+5*12-6 {
		t.Errorf("￥12.00 ink spans x %d-%d", yen.Min.X, yen.Max.X)
	}
	ok := inkBox(img, 68, 116)
	if h := ok.Dy(); h <= 24 {
		t.Errorf("double-height OK is %d dots tall, want more than 24", h)
	}
}

// Glyphs come from GNU Unifont: the 16×16 glyph of 中 scaled to the 24×24
// cell, dot for dot; bold adds one dot to the right of every dot.
func TestGlyphRendering(t *testing.T) {
	f := needFont(t)
	p, l := start(t, Config{Unpaced: true, Width: 384})
	l.sendAll(t, unhex(t, "1C 26 D6 D0 1C 2E 0A 1B 45 01 1C 26 D6 D0 1C 2E 0A 1D 56 00"))
	r := receipt(t, p, 1)
	if r.Text != "中\n中\n" {
		t.Fatalf("text %q", r.Text)
	}
	img := decodePNG(t, r)
	rows, wide, ok := f.Glyph('中')
	if !ok || !wide {
		t.Fatalf("Unifont has no wide glyph for 中")
	}
	for y := range 24 {
		for x := range 24 {
			want := rows[y*16/24]&(0x8000>>(x*16/24)) != 0
			if got := black(img, x, y); got != want {
				t.Fatalf("dot (%d,%d) = %v, want %v (font row %04X)", x, y, got, want, rows[y*16/24])
			}
			if want && !black(img, x+1, 34+y) {
				t.Fatalf("bold: dot (%d,%d) not double-struck", x+1, 34+y)
			}
		}
	}
}

// The 4-byte GB18030 ¥ (81 30 84 36) on a GBK printer prints as the
// garbage a GBK-only firmware makes of it (" 0 6", node-escpos#332) and is
// a problem; a GB18030 printer prints ¥.
func TestGB18030OnGBKPrinter(t *testing.T) {
	stream := unhex(t, "1B 40 1C 26 81 30 84 36 31 1C 2E 0A 1D 56 00")
	p, l := start(t, Config{Unpaced: true})
	l.sendAll(t, stream)
	r := receipt(t, p, 1)
	if r.Text != " 0 61\n" {
		t.Errorf("GBK text %q, want %q", r.Text, " 0 61\n")
	}
	if len(problems(t, r)) != 1 || !strings.Contains(problems(t, r)[0], "4-byte GB18030 sequence 81 30 84 36 (U+00A5") {
		t.Errorf("problems %q", problems(t, r))
	}

	p2, l2 := start(t, Config{Unpaced: true, Encoding: EncodingGB18030})
	l2.sendAll(t, stream)
	r2 := receipt(t, p2, 1)
	if r2.Text != "¥1\n" || len(problems(t, r2)) != 0 {
		t.Errorf("GB18030 text %q, problems %q", r2.Text, problems(t, r2))
	}
}

// Malformed Chinese bytes: a lead byte before LF, bytes 80 and FF each
// print blank and are reported; nothing after them is lost.
func TestBadGBK(t *testing.T) {
	p, l := start(t, Config{Unpaced: true})
	l.sendAll(t, unhex(t, "1C 26 B0 0A 80 41 FF 42 1C 2E 43 0A 1D 56 00"))
	r := receipt(t, p, 1)
	if want := "\n A BC\n"; r.Text != want {
		t.Errorf("text %q, want %q", r.Text, want)
	}
	if len(problems(t, r)) != 3 {
		t.Errorf("%d problems, want 3: %q", len(problems(t, r)), problems(t, r))
	}
}

// Without the font every glyph is a placeholder box and the receipt says
// "font missing", so a test can tell.
func TestFontMissing(t *testing.T) {
	p, l := start(t, Config{Unpaced: true, FontPaths: []string{filepath.Join(t.TempDir(), "none.hex")}})
	if f, err := p.Font(); f != nil || !errors.Is(err, ErrFontMissing) {
		t.Fatalf("Font() = %v, %v", f, err)
	}
	l.sendAll(t, []byte("AB\n\x1dV\x00"))
	r := receipt(t, p, 1)
	if r.Text != "AB\n" {
		t.Errorf("text %q", r.Text)
	}
	if len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], "font missing") {
		t.Errorf("problems %q, want one \"font missing\"", r.Problems)
	}
	img := decodePNG(t, r)
	if ink := inkBox(img, 0, img.Bounds().Dy()); ink.Empty() || ink.Dx() < 20 {
		t.Errorf("placeholder boxes not drawn: ink %v", ink)
	}
}

func TestParseHexFont(t *testing.T) {
	f, err := ParseHexFont(strings.NewReader("# comment\n0041:0000000018242442427E424242420000\n4E2D:01000100010001003FF8210821082108210821083FF821080100010001000100\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	rows, wide, ok := f.Glyph('A')
	if !ok || wide || rows[4] != 0x1800 || rows[9] != 0x7E00 {
		t.Errorf("A: %04X wide %v ok %v", rows, wide, ok)
	}
	rows, wide, ok = f.Glyph('中')
	if !ok || !wide || rows[4] != 0x3FF8 {
		t.Errorf("中: %04X wide %v ok %v", rows, wide, ok)
	}
	for _, bad := range []string{"0041\n", "0041:00\n", "XYZW:0000000018242442427E424242420000\n", "0041:G000000018242442427E424242420000\n"} {
		if _, err := ParseHexFont(strings.NewReader(bad), "bad"); !errors.Is(err, ErrFontFormat) {
			t.Errorf("%q: err %v, want ErrFontFormat", bad, err)
		}
	}
}

// Unknown and not-emulated commands are reported and skipped with their
// parameters, and the text around them prints.
func TestUnknownCommandsSkipped(t *testing.T) {
	p, l := start(t, Config{Unpaced: true})
	stream := bytes.Join([][]byte{
		unhex(t, "1B 40"),
		[]byte("A"), unhex(t, "1B 7E"), []byte("B"), // unknown ESC ~: skipped, B prints
		unhex(t, "1D 28 4C 04 00 30 45 20 20"),       // GS ( L with 4 bytes
		unhex(t, "1B 2A 21 02 00 FF FF FF 0A 0A 0A"), // ESC * 24-dot, 2 columns: 6 data bytes
		unhex(t, "1D 42 01"),                         // GS B 1 (reverse): not emulated
		[]byte("C\n"),
		unhex(t, "1D 56 00"),
	}, nil)
	l.sendAll(t, stream)
	r := receipt(t, p, 1)
	if r.Text != "ABC\n" {
		t.Errorf("text %q, want %q", r.Text, "ABC\n")
	}
	if len(problems(t, r)) != 4 {
		t.Errorf("problems %q, want 4", problems(t, r))
	}
	if !strings.Contains(problems(t, r)[0], "byte 3: unknown command ESC 7E") {
		t.Errorf("first problem %q does not name the offset and command", problems(t, r)[0])
	}
}

// ESC a applies only at the beginning of a line; line wrapping happens at
// the paper width; ESC d feeds blank lines; HT goes to the next 8-column
// stop.
func TestLayout(t *testing.T) {
	p, l := start(t, Config{Unpaced: true, Width: 384})
	var s []byte
	s = append(s, unhex(t, "1B 40 1B 61 02")...)
	s = append(s, "RIGHT\n"...)
	s = append(s, unhex(t, "1B 61 00")...)
	s = append(s, "X"...)
	s = append(s, unhex(t, "1B 61 01")...) // mid-line: ignored, reported
	s = append(s, "Y\n"...)
	s = append(s, strings.Repeat("0123456789", 4)...) // 40 > 32 columns: wraps
	s = append(s, '\n')
	s = append(s, "A\tB\n"...)
	s = append(s, unhex(t, "1B 64 02 1D 56 00")...)
	l.sendAll(t, s)
	r := receipt(t, p, 1)
	want := strings.Repeat(" ", 27) + "RIGHT\nXY\n" + strings.Repeat("0123456789", 3) + "01\n23456789\nA       B\n\n\n"
	if r.Text != want {
		t.Errorf("text\n%q\nwant\n%q", r.Text, want)
	}
	if len(problems(t, r)) != 1 || !strings.Contains(problems(t, r)[0], "ESC a 1 not at the beginning of a line") {
		t.Errorf("problems %q", problems(t, r))
	}
}

// Raster strips print dot for dot; consecutive strips make one image.
func TestRaster(t *testing.T) {
	p, l := start(t, Config{Unpaced: true, Width: 384})
	s := unhex(t, `
		1B 61 01
		1D 76 30 00 02 00 02 00 F0 0F 81 81
		1D 76 30 00 02 00 01 00 AA 55
		1D 76 30 03 01 00 01 00 80
		1D 56 00`)
	l.sendAll(t, s)
	r := receipt(t, p, 1)
	// The quadruple strip is 16 dots wide too: one image of 2+1+2 rows.
	if want := strings.Repeat(" ", (384-16)/2/12) + "[IMAGE 16x5]\n"; r.Text != want {
		t.Errorf("text %q, want %q", r.Text, want)
	}
	img := decodePNG(t, r)
	x0 := (384 - 16) / 2
	rows := []string{"1111000000001111", "1000000110000001", "1010101001010101"}
	for y, row := range rows {
		for x, c := range row {
			if black(img, x0+x, y) != (c == '1') {
				t.Fatalf("raster dot (%d,%d) wrong", x, y)
			}
		}
	}
	// m = 3: quadruple: one dot becomes 2×2.
	for _, d := range [][2]int{{0, 3}, {1, 3}, {0, 4}, {1, 4}} {
		if !black(img, x0+d[0], d[1]) {
			t.Errorf("quadruple raster dot (%d,%d) not black", d[0], d[1])
		}
	}
	if black(img, x0+2, 3) {
		t.Error("quadruple raster spilled")
	}
}

// AutoTear ends a receipt of a printer without a cutter once the paper
// has stood still; Tear does it at once.
func TestTear(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	p, l := start(t, Config{Unpaced: true, AutoTear: time.Second, Clock: clk})
	if _, ok := p.Tear(); ok {
		t.Fatal("Tear with nothing printed made a receipt")
	}
	l.sendAll(t, []byte("ONE\n\x1bd\x02"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The pipe returns once the bytes are read, before they are queued:
	// wait until they are taken, then until the printer stands still.
	eventually(t, "the job taken", func() bool { return p.Stats().Processed == 7 })
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	r := receipt(t, p, 1)
	if r.Text != "ONE\n\n\n" || r.Cut != "tear" {
		t.Errorf("auto-torn receipt %q cut %q", r.Text, r.Cut)
	}
	l.sendAll(t, []byte("TWO\n"))
	eventually(t, "the job taken", func() bool { return p.Stats().Processed == 11 })
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	r2, ok := p.Tear()
	if !ok || r2.Text != "TWO\n" || r2.Seq != 2 {
		t.Errorf("Tear: %q seq %d ok %v", r2.Text, r2.Seq, ok)
	}
}

// Receipts are saved as receipt-NNNN.txt/.png and the last Keep are kept.
func TestSaveAndKeep(t *testing.T) {
	dir := t.TempDir()
	p, l := start(t, Config{Unpaced: true, Dir: dir, Keep: 2})
	for _, s := range []string{"R1", "R2", "R3"} {
		l.sendAll(t, []byte(s+"\n\x1dV\x00"))
	}
	receipt(t, p, 3)
	got := p.Receipts()
	if len(got) != 2 || got[0].Seq != 2 || got[1].Text != "R3\n" {
		t.Errorf("kept %d receipts: %+v", len(got), got)
	}
	ctx := context.Background()
	if _, err := p.WaitReceipt(ctx, 1); !errors.Is(err, ErrNoReceipt) {
		t.Errorf("WaitReceipt(1) = %v, want ErrNoReceipt", err)
	}
	txt, err := os.ReadFile(filepath.Join(dir, "receipt-0001.txt"))
	if err != nil || string(txt) != "R1\n" {
		t.Errorf("receipt-0001.txt = %q, %v", txt, err)
	}
	pngData, err := os.ReadFile(filepath.Join(dir, "receipt-0003.png"))
	if err != nil || !bytes.HasPrefix(pngData, []byte("\x89PNG")) {
		t.Errorf("receipt-0003.png: %v", err)
	}
}

// A drawer kick is counted on the receipt and in the stats.
func TestDrawerKick(t *testing.T) {
	p, l := start(t, Config{Unpaced: true})
	l.sendAll(t, unhex(t, "1B 70 00 32 32 41 0A 1D 56 00"))
	r := receipt(t, p, 1)
	if r.DrawerKicks != 1 || p.Stats().DrawerKicks != 1 || r.Text != "A\n" {
		t.Errorf("kicks %d/%d, text %q", r.DrawerKicks, p.Stats().DrawerKicks, r.Text)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{Width: 100}, "Width"},
		{Config{Columns: -1}, "Columns"},
		{Config{Encoding: "big5"}, "Encoding"},
		{Config{BufferBytes: 10}, "BufferBytes"},
		{Config{SpeedMMs: -5}, "SpeedMMs"},
		{Config{Baud: -1}, "Baud"},
		{Config{Keep: -1}, "Keep"},
		{Config{AutoTear: -time.Second}, "AutoTear"},
	} {
		_, err := New(c.cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: err %v, want ErrConfig naming %s", c.cfg, err, c.field)
		}
	}
}

// Paper out: the printer goes offline (as DLE EOT says), stops printing
// and keeps the buffered data; with paper back it prints all of it.
func TestPaperOutHoldsData(t *testing.T) {
	p, l := start(t, Config{Unpaced: true, BufferBytes: 64})
	p.SetPaperOut(true)
	l.sendAll(t, unhex(t, "10 04 01 10 04 02 10 04 04"))
	eventually(t, "status answers", func() bool { return len(l.answers()) == 3 })
	if got := l.answers(); !bytes.Equal(got, []byte{0x1A, 0x32, 0x72}) {
		t.Fatalf("answers % X, want 1A 32 72", got)
	}
	job := []byte(strings.Repeat("PAPER OUT TEST\n", 10) + "\x1dV\x00") // 153 bytes > 64
	sent := l.send(job)
	eventually(t, "a full buffer", func() bool { return p.Stats().BufferFull > 0 })
	st := p.Stats()
	if st.Dots != 0 || st.Receipts != 0 {
		t.Fatalf("printed while out of paper: %+v", st)
	}
	select {
	case <-sent:
		t.Fatal("the whole job was read while out of paper with a 64-byte buffer")
	default:
	}
	p.SetPaperOut(false)
	r := receipt(t, p, 1)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if r.Text != strings.Repeat("PAPER OUT TEST\n", 10) || r.Bytes != len(job) {
		t.Errorf("after paper returned: %q, %d bytes (want %d)", r.Text, r.Bytes, len(job))
	}
	if st := p.Stats(); st.MaxBuffered > 64 {
		t.Errorf("buffer held %d bytes, more than its 64", st.MaxBuffered)
	}
}

// Cover open and a cutter error stop printing too; the DLE EOT answers
// say why.
func TestOfflineConditionsStopPrinting(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*Printer, bool)
		want []byte // n = 1, 2, 3
	}{
		{"cover", (*Printer).SetCoverOpen, []byte{0x1A, 0x16, 0x12}},
		{"offline", (*Printer).SetOffline, []byte{0x1A, 0x12, 0x12}},
		{"cutter", (*Printer).SetCutterError, []byte{0x1A, 0x52, 0x1A}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, l := start(t, Config{Unpaced: true})
			c.set(p, true)
			l.sendAll(t, unhex(t, "10 04 01 10 04 02 10 04 03 41 0A"))
			eventually(t, "answers", func() bool { return len(l.answers()) == 3 })
			if got := l.answers(); !bytes.Equal(got, c.want) {
				t.Errorf("answers % X, want % X", got, c.want)
			}
			eventually(t, "the A taken", func() bool { return p.Stats().Processed >= 10 })
			if p.Stats().Dots != 0 {
				t.Fatal("printed while offline")
			}
			c.set(p, false)
			eventually(t, "the line printed", func() bool { return p.Stats().Dots > 0 })
		})
	}
}

// The buffer drains at the print speed on the injected clock: each text
// line moves 34 dots (ESC 2 spacing) at 100 mm/s × 8 dots/mm = 42.5 ms.
func TestPrintSpeedPacing(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	p, l := start(t, Config{Clock: clk, BufferBytes: 64, SpeedMMs: 100})
	lineBytes := []byte("0123456789\n")
	job := bytes.Repeat(lineBytes, 20)
	sent := l.send(job)
	// The first line's LF waits for the mechanism: 10 bytes consumed, and
	// the buffer (64) full behind it.
	eventually(t, "first line printing", func() bool {
		st := p.Stats()
		return st.Processed == 10 && st.Received == 10+64
	})
	perLine := MechanismTime(DefaultLineSpacing, 100)
	if perLine != 42500*time.Microsecond {
		t.Fatalf("line time %v", perLine)
	}
	clk.Advance(perLine - time.Microsecond)
	time.Sleep(5 * time.Millisecond) // give a wrong implementation time to run ahead
	if st := p.Stats(); st.Processed != 10 {
		t.Fatalf("line finished early: processed %d", st.Processed)
	}
	clk.Advance(time.Microsecond)
	eventually(t, "second line printing", func() bool {
		st := p.Stats()
		return st.Processed == 21 && st.Received == 21+64
	})
	for i := 0; i < 40; i++ {
		clk.Advance(perLine)
		select {
		case err := <-sent:
			if err != nil {
				t.Fatal(err)
			}
			i = 1000
		default:
			time.Sleep(time.Millisecond)
		}
	}
	for p.Stats().Dots < int64(20*DefaultLineSpacing) {
		clk.Advance(perLine)
		time.Sleep(time.Millisecond)
	}
	if st := p.Stats(); st.Received != int64(len(job)) || st.MaxBuffered > 64 {
		t.Errorf("stats %+v", st)
	}
}

// countingClock counts the timers armed on a fake clock, so a test can
// advance it exactly when the emulator waits.
type countingClock struct {
	*clock.Fake
	mu sync.Mutex
	n  int
}

func (c *countingClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Fake.After(d)
}

func (c *countingClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// The line rate: at 9600 baud a byte takes 1.0417 ms; the printer reads
// 10 ms chunks (9 bytes) and each has arrived only after its 9.375 ms.
func TestLineRatePacing(t *testing.T) {
	clk := &countingClock{Fake: clock.NewFake(time.Unix(0, 0))}
	p, l := start(t, Config{Clock: clk, Baud: 9600, Unpaced: false, SpeedMMs: 2000})
	sent := l.send(bytes.Repeat([]byte("A"), 90))
	chunk := 9 * time.Second * 10 / 9600
	for k := 1; k <= 10; k++ {
		eventually(t, "the reader waiting for the line", func() bool { return clk.armed() >= k })
		if got := p.Stats().Received; got != int64(9*(k-1)) {
			t.Fatalf("after %v: received %d bytes, want %d", time.Duration(k-1)*chunk, got, 9*(k-1))
		}
		clk.Advance(chunk)
		eventually(t, "the chunk received", func() bool { return p.Stats().Received == int64(9*k) })
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// A QR code: GS ( k model 2, module 6 dots, level M, store, print →
// the modules of the symbol for that data at 6 dots each, centred.
func TestQRModules(t *testing.T) {
	p, l := start(t, Config{Unpaced: true})
	data := "T1/000001/000042"
	s := unhex(t, "1B 40 1B 61 01 0A 1D 28 6B 04 00 31 41 32 00 1D 28 6B 03 00 31 43 06 1D 28 6B 03 00 31 45 31")
	s = append(s, 0x1D, 0x28, 0x6B, byte(len(data)+3), 0, 0x31, 0x50, 0x30)
	s = append(s, data...)
	s = append(s, unhex(t, "1D 28 6B 03 00 31 51 30 0A 1D 56 00")...)
	l.sendAll(t, s)
	r := receipt(t, p, 1)
	if !strings.Contains(r.Text, "[QR "+data+"]") || len(problems(t, r)) != 0 {
		t.Fatalf("text %q problems %q", r.Text, problems(t, r))
	}
	img := decodePNG(t, r)
	box := inkBox(img, 0, img.Bounds().Dy())
	n := box.Dx() / 6
	if box.Dx() != box.Dy() || box.Dx()%6 != 0 || n < 21 {
		t.Fatalf("QR ink box %v is not a square of 6-dot modules", box)
	}
	if c := box.Min.X + box.Dx()/2; c < 576/2-6 || c > 576/2+6 {
		t.Errorf("QR centre x %d, want about 288", c)
	}
	want := qrMatrix(t, data, 49)
	if len(want) != n {
		t.Fatalf("symbol %d modules, want %d", n, len(want))
	}
	for y := range n {
		for x := range n {
			if black(img, box.Min.X+x*6+3, box.Min.Y+y*6+3) != want[y][x] {
				t.Fatalf("module (%d,%d) wrong", x, y)
			}
		}
	}
}

// Code 128 table sanity: 11 modules per character (13 for stop), an even
// number of bar modules, all patterns distinct.
func TestCode128Table(t *testing.T) {
	seen := map[string]bool{}
	for v, pat := range code128Patterns {
		sum, bars := 0, 0
		for i, c := range pat {
			sum += int(c - '0')
			if i%2 == 0 {
				bars += int(c - '0')
			}
		}
		want := 11
		if v == c128Stop {
			want = 13
		}
		if sum != want || bars%2 != 0 || seen[pat] {
			t.Errorf("value %d pattern %s: %d modules, %d bar modules, dup %v", v, pat, sum, bars, seen[pat])
		}
		seen[pat] = true
	}
}

// Code 128 symbol values: "{BNo.{C" 12 34 56 is the HPRT manual's example
// ("No." in set B, 123456 in set C).
func TestCode128Values(t *testing.T) {
	m, hri, err := code128(unhex(t, "7B 42 4E 6F 2E 7B 43 0C 22 38"))
	if err != nil {
		t.Fatal(err)
	}
	if hri != "No.123456" {
		t.Errorf("HRI %q", hri)
	}
	// start B, N o ., code C, 12 34 56, check, stop
	vals := []int{104, 'N' - 32, 'o' - 32, '.' - 32, 99, 12, 34, 56}
	sum := vals[0]
	for i, v := range vals[1:] {
		sum += (i + 1) * v
	}
	var want modules
	for _, v := range append(vals, sum%103, 106) {
		for _, c := range code128Patterns[v] {
			want = append(want, int(c-'0'))
		}
	}
	if !slices.Equal(m, want) {
		t.Errorf("modules differ")
	}
	for _, bad := range []string{"41 42", "7B 42", "7B 43 64", "7B 41 61", "7B 42 7B 5A 41"} {
		if _, _, err := code128(unhex(t, bad)); !errors.Is(err, errBarcodeData) {
			t.Errorf("% s: err %v", bad, err)
		}
	}
}

func TestEANCheckDigit(t *testing.T) {
	for _, c := range []struct {
		digits string
		check  int
	}{{"400638133393", 1}, {"590123412345", 7}, {"9638507", 4}, {"03600029145", 2}} {
		var d []int
		for _, r := range c.digits {
			d = append(d, int(r-'0'))
		}
		if got := eanCheck(d); got != c.check {
			t.Errorf("%s: check %d, want %d", c.digits, got, c.check)
		}
	}
	m, hri, note, err := ean([]byte("4006381333932"), 13)
	if err != nil || hri != "4006381333931" || note == "" || m.total() != 95 {
		t.Errorf("ean: hri %q note %q err %v modules %d", hri, note, err, m.total())
	}
}

// A bad CODE128 header prints no bar code; the data prints as text.
func TestBadBarcodeDataPrintsAsText(t *testing.T) {
	p, l := start(t, Config{Unpaced: true})
	l.sendAll(t, unhex(t, "1D 6B 49 03 41 42 43 0A 1D 56 00"))
	r := receipt(t, p, 1)
	if r.Text != "ABC\n" || len(problems(t, r)) != 1 {
		t.Errorf("text %q problems %q", r.Text, problems(t, r))
	}
}
