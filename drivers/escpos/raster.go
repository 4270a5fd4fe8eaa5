package escpos

import (
	"fmt"
	"image"
	"image/color"
)

// DefaultStripRows is the raster strip height used when none is given:
// each GS v 0 command carries at most this many rows, so a printer's
// receive buffer never has to hold a whole image (python-escpos#631,
// odoo PR #249511 settled on fragments of 100 rows).
const DefaultStripRows = 100

// MaxStripRows is the largest strip height Raster accepts.
const MaxStripRows = 255

// Bitmap is a 1-bit image in the printer's raster order: rows top to
// bottom, each row Stride bytes, the most significant bit the leftmost
// dot, 1 = black (printed).
type Bitmap struct {
	Width, Height int    // in dots
	Stride        int    // bytes per row, (Width+7)/8
	Pix           []byte // Stride × Height bytes
}

// NewBitmap returns a white bitmap of w × h dots.
func NewBitmap(w, h int) *Bitmap {
	if w < 0 || h < 0 {
		w, h = 0, 0
	}
	stride := (w + 7) / 8
	return &Bitmap{Width: w, Height: h, Stride: stride, Pix: make([]byte, stride*h)}
}

// Set makes the dot at (x, y) black or white. Outside the bitmap it does
// nothing.
func (m *Bitmap) Set(x, y int, black bool) {
	if x < 0 || y < 0 || x >= m.Width || y >= m.Height {
		return
	}
	i, mask := y*m.Stride+x/8, byte(0x80)>>(x%8)
	if black {
		m.Pix[i] |= mask
	} else {
		m.Pix[i] &^= mask
	}
}

// Black reports whether the dot at (x, y) is black; false outside.
func (m *Bitmap) Black(x, y int) bool {
	if x < 0 || y < 0 || x >= m.Width || y >= m.Height {
		return false
	}
	return m.Pix[y*m.Stride+x/8]&(byte(0x80)>>(x%8)) != 0
}

// BitmapFromImage converts img to a bitmap: a pixel whose gray level (after
// color.GrayModel, alpha composited over white) is below threshold prints
// black. 128 is a sensible threshold for line art and QR codes.
func BitmapFromImage(img image.Image, threshold uint8) *Bitmap {
	r := img.Bounds()
	m := NewBitmap(r.Dx(), r.Dy())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if grayOverWhite(img.At(x, y)) < threshold {
				m.Set(x-r.Min.X, y-r.Min.Y, true)
			}
		}
	}
	return m
}

func grayOverWhite(c color.Color) uint8 {
	if g, ok := c.(color.Gray); ok {
		return g.Y
	}
	_, _, _, a := c.RGBA()
	g := color.Gray16Model.Convert(c).(color.Gray16).Y // premultiplied by alpha
	// Composite over white: y + (1 - a).
	y := uint32(g) + (0xFFFF - a)
	if y > 0xFFFF {
		y = 0xFFFF
	}
	return uint8(y >> 8)
}

// Raster appends m as GS v 0 m xL xH yL yH d1…dk (1D 76 30 00 …), "Print
// raster bit image", normal density (m = 0), in strips of at most
// stripRows rows: one command per strip, each its own boundary. xL xH give
// the width in bytes, yL yH the strip height in dots, both little-endian;
// k = width bytes × rows. stripRows 0 means DefaultStripRows; otherwise
// 1-MaxStripRows.
func (b *Builder) Raster(m *Bitmap, stripRows int) error {
	if m == nil || m.Width <= 0 || m.Height <= 0 {
		return fmt.Errorf("%w: raster image is empty", ErrParam)
	}
	if m.Stride != (m.Width+7)/8 || len(m.Pix) != m.Stride*m.Height {
		return fmt.Errorf("%w: raster bitmap is inconsistent (width %d, stride %d, height %d, %d bytes)",
			ErrParam, m.Width, m.Stride, m.Height, len(m.Pix))
	}
	if m.Stride > 0xFFFF {
		return fmt.Errorf("%w: raster width %d bytes (max 65535)", ErrParam, m.Stride)
	}
	if stripRows == 0 {
		stripRows = DefaultStripRows
	}
	if stripRows < 1 || stripRows > MaxStripRows {
		return fmt.Errorf("%w: raster strip height %d rows (want 1-%d)", ErrParam, stripRows, MaxStripRows)
	}
	for y := 0; y < m.Height; y += stripRows {
		rows := min(stripRows, m.Height-y)
		b.mark()
		b.buf = append(b.buf, GS, 'v', '0', 0,
			byte(m.Stride), byte(m.Stride>>8), byte(rows), byte(rows>>8))
		b.buf = append(b.buf, m.Pix[y*m.Stride:(y+rows)*m.Stride]...)
	}
	return nil
}
