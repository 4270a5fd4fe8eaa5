package escpos

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
)

// Geometry of the emulated print head and fonts (203 dpi thermal head).
const (
	// DotsPerMM is the head resolution: 203 dpi is 8 dots per mm.
	DotsPerMM = 8
	// FontAWidth × FontAHeight is the standard (font A) character cell.
	FontAWidth, FontAHeight = 12, 24
	// FontBWidth × FontBHeight is the small (font B) character cell.
	FontBWidth, FontBHeight = 9, 17
	// CJKWidth × CJKHeight is the Chinese character cell.
	CJKWidth, CJKHeight = 24, 24
	// DefaultLineSpacing is ESC 2's 1/6 inch at 203 dpi, in dots
	// (33.8 rounded).
	DefaultLineSpacing = 34
	// maxProblems bounds the problems kept per receipt; a stream of
	// garbage should not make a receipt of a million messages.
	maxProblems = 100
)

// cell is one character in the line buffer.
type cell struct {
	r         rune
	text      string // what the text rendering shows
	baseW     int    // unmagnified cell width (12, 9 or 24)
	baseH     int    // unmagnified cell height (24, 17 or 24)
	mx, my    int    // magnification
	bold      bool
	underline int  // dots, 0 = none
	blank     bool // garbage byte printed as an empty cell
}

func (c cell) w() int { return c.baseW * c.mx }
func (c cell) h() int { return c.baseH * c.my }

// page is the paper of one receipt being printed: a 1-bit image growing
// downwards and the text lines as printed.
type page struct {
	width, cols int
	stride      int
	font        *Font
	fontErr     error

	pix      []byte // stride × height, 1 = black
	height   int
	text     []string
	problems []string
	dropped  int // problems beyond maxProblems
	bytes    int

	fontNoted bool
	lastImage int // index in text of the "[IMAGE …]" line that the next strip may extend, -1 none
	imgW      int
	imgH      int
	imgEnd    int // y where that image ended
}

func newPage(width, cols int, font *Font, fontErr error) *page {
	return &page{width: width, cols: cols, stride: (width + 7) / 8, font: font, fontErr: fontErr, lastImage: -1}
}

func (p *page) problem(format string, a ...any) {
	if len(p.problems) >= maxProblems {
		p.dropped++
		return
	}
	p.problems = append(p.problems, fmt.Sprintf(format, a...))
}

// grow makes the page at least h dots tall.
func (p *page) grow(h int) {
	if h <= p.height {
		return
	}
	need := h * p.stride
	if need > cap(p.pix) {
		np := make([]byte, need, max(need, 2*cap(p.pix)))
		copy(np, p.pix)
		p.pix = np
	} else {
		p.pix = p.pix[:need]
	}
	p.height = h
}

func (p *page) set(x, y int) {
	if x < 0 || x >= p.width || y < 0 || y >= p.height {
		return
	}
	p.pix[y*p.stride+x/8] |= 0x80 >> (x % 8)
}

// Black reports whether the dot at (x, y) is printed.
func (p *page) black(x, y int) bool {
	if x < 0 || x >= p.width || y < 0 || y >= p.height {
		return false
	}
	return p.pix[y*p.stride+x/8]&(0x80>>(x%8)) != 0
}

// feed advances the paper by n blank dots.
func (p *page) feed(n int) {
	if n > 0 {
		p.grow(p.height + n)
	}
}

// alignOffset is where a block used dots wide starts for alignment a.
func (p *page) alignOffset(a, used int) int {
	switch a {
	case alignCenter:
		return max(0, (p.width-used)/2)
	case alignRight:
		return max(0, p.width-used)
	}
	return 0
}

// colWidth is the width of one text column in dots.
func (p *page) colWidth() int { return max(1, p.width/p.cols) }

// printLine draws a line of cells at the current position, advances by
// max(spacing, tallest cell) and adds its text line. It returns the
// dots fed.
func (p *page) printLine(cells []cell, align, spacing int) int {
	used := 0
	for _, c := range cells {
		used += c.w()
	}
	off := p.alignOffset(align, used)
	var tb strings.Builder
	if len(cells) > 0 {
		tb.WriteString(strings.Repeat(" ", off/p.colWidth()))
	}
	for _, c := range cells {
		tb.WriteString(c.text)
	}
	p.text = append(p.text, strings.TrimRight(tb.String(), " "))
	return p.drawCells(cells, off, spacing)
}

// printCellsAt draws cells from x = off without a text line (the
// human-readable line of a bar code) and returns the dots fed.
func (p *page) printCellsAt(cells []cell, off int) int {
	return p.drawCells(cells, off, 0)
}

func (p *page) drawCells(cells []cell, off, spacing int) int {
	lineH := 0
	for _, c := range cells {
		lineH = max(lineH, c.h())
	}
	top := p.height
	adv := max(spacing, lineH)
	p.grow(top + adv)
	x := off
	for _, c := range cells {
		p.drawCell(x, top+lineH-c.h(), c)
		x += c.w()
	}
	p.lastImage = -1
	return adv
}

// drawCell renders c with its top-left corner at (x, y).
func (p *page) drawCell(x, y int, c cell) {
	if c.blank {
		return
	}
	if c.r == ' ' {
		p.underline(x, y, c)
		return
	}
	rows, wide, ok := p.font.Glyph(c.r)
	if !ok {
		if p.font == nil {
			if !p.fontNoted {
				p.fontNoted = true
				p.problem("font missing: text drawn as placeholder boxes (%v)", p.fontErr)
			}
		} else {
			p.problem("no glyph for %U in %s: drawn as a box", c.r, p.font.Source)
		}
		p.box(x, y, c.w(), c.h())
		p.underline(x, y, c)
		return
	}
	gw := 8
	if wide {
		gw = 16
	}
	for by := 0; by < c.baseH; by++ {
		row := rows[by*16/c.baseH]
		for bx := 0; bx < c.baseW; bx++ {
			if row&(0x8000>>(bx*gw/c.baseW)) == 0 {
				continue
			}
			for dy := 0; dy < c.my; dy++ {
				for dx := 0; dx < c.mx; dx++ {
					px, py := x+bx*c.mx+dx, y+by*c.my+dy
					p.set(px, py)
					if c.bold { // double strike, one dot to the right
						p.set(px+1, py)
					}
				}
			}
		}
	}
	p.underline(x, y, c)
}

func (p *page) underline(x, y int, c cell) {
	for t := 0; t < c.underline; t++ {
		for dx := 0; dx < c.w(); dx++ {
			p.set(x+dx, y+c.h()-1-t)
		}
	}
}

// box draws a placeholder: the cell's outline inset by one dot, and a
// diagonal, so a missing glyph cannot be mistaken for a letter.
func (p *page) box(x, y, w, h int) {
	for dx := 1; dx < w-1; dx++ {
		p.set(x+dx, y+1)
		p.set(x+dx, y+h-2)
	}
	for dy := 1; dy < h-1; dy++ {
		p.set(x+1, y+dy)
		p.set(x+w-2, y+dy)
		p.set(x+1+(dy-1)*(w-3)/max(1, h-3), y+dy)
	}
}

// block is a bitmap printed as a unit (barcode, QR code, raster strip).
type block struct {
	w, h int
	pix  []bool // w × h, row-major, true = black
}

func newBlock(w, h int) *block { return &block{w: w, h: h, pix: make([]bool, w*h)} }

func (b *block) set(x, y int) {
	if x >= 0 && x < b.w && y >= 0 && y < b.h {
		b.pix[y*b.w+x] = true
	}
}

func (b *block) fill(x, y, w, h int) {
	for dy := range h {
		for dx := range w {
			b.set(x+dx, y+dy)
		}
	}
}

// printBlock draws b at the current position with alignment a, adds
// textLine, and returns the dots fed. A block wider than the paper is
// clipped on the right.
func (p *page) printBlock(b *block, align int, textLine string) int {
	off := p.alignOffset(align, b.w)
	top := p.height
	p.grow(top + b.h)
	for y := range b.h {
		for x := range b.w {
			if b.pix[y*b.w+x] {
				p.set(off+x, top+y)
			}
		}
	}
	if textLine != "" {
		p.text = append(p.text, strings.Repeat(" ", off/p.colWidth())+textLine)
	}
	p.lastImage = -1
	return b.h
}

// printRaster draws a raster image (already scaled) and describes it in
// the text as "[IMAGE W×H]"; consecutive strips of the same width make
// one image line.
func (p *page) printRaster(b *block, align int) int {
	if p.lastImage >= 0 && p.imgEnd == p.height && p.imgW == b.w {
		idx := p.lastImage
		p.printBlock(b, align, "")
		p.imgH += b.h
		p.imgEnd = p.height
		p.text[idx] = p.text[idx][:strings.LastIndex(p.text[idx], "[")] + fmt.Sprintf("[IMAGE %dx%d]", p.imgW, p.imgH)
		p.lastImage = idx
		return b.h
	}
	n := p.printBlock(b, align, fmt.Sprintf("[IMAGE %dx%d]", b.w, b.h))
	p.lastImage, p.imgW, p.imgH, p.imgEnd = len(p.text)-1, b.w, b.h, p.height
	return n
}

// blankLines adds n empty text lines (a feed of n lines).
func (p *page) blankLines(n int) {
	for range n {
		p.text = append(p.text, "")
	}
	p.lastImage = -1
}

// Receipt is one cut-off piece of paper.
type Receipt struct {
	// Seq numbers receipts from 1 in the order they were cut.
	Seq int
	// Text is the receipt as printed: one line per printed line, the
	// alignment applied at the printer's column count; barcodes, QR codes
	// and images appear as "[CODE128 data]", "[QR data]", "[IMAGE WxH]".
	Text string
	// PNG is a 1-bit image of the paper at the printer's width in dots.
	PNG []byte
	// Width and Height are the image size in dots.
	Width, Height int
	// Problems lists what did not print as sent (unknown commands,
	// garbage characters, barcodes that do not fit, a missing font), each
	// with the byte offset in the receipt's stream.
	Problems []string
	// Bytes is how many bytes of print data made this receipt: from the
	// byte after the previous cut through this cut command. Real-time
	// commands (DLE EOT, DLE ENQ, DLE DC4) are answered on arrival and
	// not counted.
	Bytes int
	// DrawerKicks counts ESC p pulses sent while this receipt printed.
	DrawerKicks int
	// Cut says how the receipt ended: "full" or "partial" (GS V, ESC i,
	// ESC m), "tear" (a printer without a cutter, torn off by Tear or
	// AutoTear) or "limit" (8 m of paper without a cut: ended by the
	// emulator, with a problem).
	Cut string
}

// finish turns the page into a Receipt.
func (p *page) finish() (Receipt, error) {
	h := max(1, p.height)
	img := image.NewPaletted(image.Rect(0, 0, p.width, h), color.Palette{color.White, color.Black})
	for y := 0; y < p.height; y++ {
		for x := 0; x < p.width; x++ {
			if p.black(x, y) {
				img.Pix[y*img.Stride+x] = 1
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Receipt{}, fmt.Errorf("escpos emulator: encoding receipt PNG: %w", err)
	}
	probs := p.problems
	if p.dropped > 0 {
		probs = append(probs, fmt.Sprintf("… and %d more problems", p.dropped))
	}
	text := strings.Join(p.text, "\n")
	if len(p.text) > 0 {
		text += "\n"
	}
	return Receipt{Text: text, PNG: buf.Bytes(), Width: p.width, Height: h, Problems: probs, Bytes: p.bytes}, nil
}
