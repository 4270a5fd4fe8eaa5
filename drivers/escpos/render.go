package escpos

import (
	"fmt"
	"unicode/utf8"

	"github.com/posagent/posagent/core/receipt"
	qrcode "github.com/skip2/go-qrcode"
)

// minRasterQRModule is the smallest module size, in dots, of a QR code
// printed as an image: 2 dots is 0.25 mm at 203 dpi, about the smallest a
// phone camera reads reliably.
const minRasterQRModule = 2

// tearFeedLines is how many lines are fed after a receipt on a printer
// without a cutter, to bring the last line past the tear bar.
const tearFeedLines = 4

// Render turns a receipt into the bytes for a printer of profile p:
// ESC @, each line with its justification, emphasis and double size
// (wrapped at p.Columns, Chinese through p.Encoding), the QR code (native,
// raster or text by p.QRMode), then a feed-and-cut (or a feed past the tear
// bar). Problems list characters printed as '?' and QR fallbacks; the
// bytes are safe to send either way. The error is for an invalid profile
// or a line whose alignment is out of range.
func Render(p Profile, r receipt.Receipt) ([]byte, []Problem, error) {
	b, probs, err := render(p, r)
	if err != nil {
		return nil, nil, err
	}
	return b.Bytes(), probs, nil
}

func render(p Profile, r receipt.Receipt) (*Builder, []Problem, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	b, err := NewBuilder(p.Encoding)
	if err != nil {
		return nil, nil, err
	}
	b.buf = make([]byte, 0, 64*len(r.Lines)+256)
	b.Init()
	if !p.Encoding.CJK() && p.CodePage != PC437 {
		if err := b.CodePage(p.CodePage); err != nil {
			return nil, nil, err
		}
	}
	var probs []Problem
	align, bold, double := receipt.Left, false, false
	for i, l := range r.Lines {
		if l.Align > receipt.Right {
			return nil, nil, fmt.Errorf("%w: line %d: alignment %d (want 0-2)", ErrParam, i, l.Align)
		}
		if l.Align != align {
			_ = b.Align(Align(l.Align)) // in range: checked above
			align = l.Align
		}
		if l.Bold != bold {
			b.Bold(l.Bold)
			bold = l.Bold
		}
		if l.Double != double {
			n := 1
			if l.Double {
				n = 2
			}
			_ = b.Size(n, n) // 1 or 2: in range
			double = l.Double
		}
		cols := p.Columns
		if l.Double {
			cols /= 2
		}
		for _, seg := range wrap(l.Text, cols, p.Encoding.CJK()) {
			for _, pr := range b.Line(l.Text[seg.start:seg.end]) {
				pr.Line = i
				pr.Offset += seg.start
				probs = append(probs, pr)
			}
		}
	}
	if bold {
		b.Bold(false)
	}
	if double {
		_ = b.Size(1, 1)
	}
	if r.QR != "" {
		probs = renderQR(b, p, r.QR, probs)
		align = receipt.Center
	}
	if align != receipt.Left {
		_ = b.Align(AlignLeft)
	}
	if p.SupportsCut {
		b.FeedCut(0)
	} else {
		b.Feed(tearFeedLines)
	}
	return b, probs, nil
}

// renderQR prints the QR code centred, with a blank line above and below
// as quiet zone, following the profile's QR mode.
func renderQR(b *Builder, p Profile, data string, probs []Problem) []Problem {
	_ = b.Align(AlignCenter)
	b.LF()
	switch p.QRMode() {
	case QRNative:
		if err := b.QR([]byte(data), QROptions{Module: p.qrModule(), Level: QRLevelM}); err != nil {
			probs = append(probs, Problem{Line: -1, Kind: ProblemQRTooLarge, Detail: err.Error()})
			probs = qrAsText(b, data, probs)
		}
	case QRRaster:
		bm, err := qrBitmap(data, p.qrModule(), p.DotsPerLine)
		if err == nil {
			err = b.Raster(bm, p.stripRows(bm.Stride))
		}
		if err != nil {
			probs = append(probs, Problem{Line: -1, Kind: ProblemQRTooLarge, Detail: err.Error()})
			probs = qrAsText(b, data, probs)
		}
	default:
		probs = append(probs, Problem{Line: -1, Kind: ProblemQRAsText,
			Detail: fmt.Sprintf("profile %q has neither native QR nor raster images", p.Name)})
		probs = qrAsText(b, data, probs)
	}
	b.LF()
	return probs
}

func qrAsText(b *Builder, data string, probs []Problem) []Problem {
	return append(probs, b.Line(data)...) // Line stays -1: not a receipt line
}

// qrBitmap renders data as a QR code (error correction M, no border: the
// paper margin and the blank lines around it are the quiet zone) scaled to
// module dots per module, shrunk to fit width dots if needed.
func qrBitmap(data string, module, width int) (*Bitmap, error) {
	q, err := qrcode.New(data, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("QR encode: %w", err)
	}
	q.DisableBorder = true
	cells := q.Bitmap()
	n := len(cells)
	if n == 0 {
		return nil, fmt.Errorf("QR encode: empty symbol")
	}
	scale := min(module, width/n)
	if scale < minRasterQRModule {
		return nil, fmt.Errorf("QR symbol of %d modules does not fit %d dots at %d dots per module", n, width, minRasterQRModule)
	}
	bm := NewBitmap(n*scale, n*scale)
	for y, row := range cells {
		for x, black := range row {
			if !black {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				for dx := 0; dx < scale; dx++ {
					bm.Set(x*scale+dx, y*scale+dy, true)
				}
			}
		}
	}
	return bm, nil
}

// segment is a byte range of a line's text that prints on one paper line.
type segment struct{ start, end int }

// runeColumns is how many columns r takes: in Chinese mode every non-ASCII
// character prints from the double-width (24-dot) font; on a single-byte
// code page every character is one column.
func runeColumns(r rune, cjk bool) int {
	if cjk && r >= 0x80 {
		return 2
	}
	return 1
}

// wrap splits s into segments of at most cols columns, breaking after the
// last space that fits when there is one. An empty s is one empty
// segment (a blank line). Spaces at a break are dropped.
func wrap(s string, cols int, cjk bool) []segment {
	if cols < 1 {
		cols = 1
	}
	var segs []segment
	start := 0
	for start < len(s) {
		w, i, lastSpace := 0, start, -1
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			rw := runeColumns(r, cjk)
			if w+rw > cols {
				break
			}
			if r == ' ' {
				lastSpace = i
			}
			w += rw
			i += size
		}
		end, next := i, i
		if i < len(s) && lastSpace > start && s[i] != ' ' {
			end, next = lastSpace, lastSpace+1
		}
		for end > start && s[end-1] == ' ' {
			end--
		}
		if end == start && next == start { // a single rune wider than cols
			_, size := utf8.DecodeRuneInString(s[start:])
			end, next = start+size, start+size
		}
		segs = append(segs, segment{start, end})
		for next < len(s) && s[next] == ' ' {
			next++
		}
		start = next
	}
	if len(segs) == 0 {
		segs = append(segs, segment{0, 0})
	}
	return segs
}
