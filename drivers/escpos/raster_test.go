package escpos

import (
	"bytes"
	"image"
	"image/color"
	"testing"
)

// rasterCmd is one GS v 0 command found in a byte stream.
type rasterCmd struct {
	m          byte
	xBytes, yD int
	data       []byte
	at         int
}

// parseRaster walks b from offset 0 and returns the GS v 0 commands,
// failing on anything else in between except the given prefix/suffix
// lengths. It checks that k = xBytes × y bytes follow each header.
func parseRasters(t *testing.T, b []byte) []rasterCmd {
	t.Helper()
	var out []rasterCmd
	for i := 0; i < len(b); {
		if i+8 > len(b) || b[i] != GS || b[i+1] != 'v' || b[i+2] != '0' {
			t.Fatalf("offset %d: expected GS v 0, got % X", i, b[i:min(i+8, len(b))])
		}
		x := int(b[i+4]) | int(b[i+5])<<8
		y := int(b[i+6]) | int(b[i+7])<<8
		k := x * y
		if i+8+k > len(b) {
			t.Fatalf("offset %d: GS v 0 %d×%d needs %d data bytes, %d left", i, x, y, k, len(b)-i-8)
		}
		out = append(out, rasterCmd{m: b[i+3], xBytes: x, yD: y, data: b[i+8 : i+8+k], at: i})
		i += 8 + k
	}
	return out
}

// A 384 × 250 image (48 bytes wide) goes out as three GS v 0 commands of
// 100, 100 and 50 rows: 1D 76 30 00 30 00 64 00, … 64 00, … 32 00.
func TestRasterStrips250Rows(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 384, 250))
	for y := 0; y < 250; y++ {
		for x := 0; x < 384; x++ {
			img.SetGray(x, y, color.Gray{Y: 255})
			if (x+y)%7 == 0 || y == 0 || y == 249 {
				img.SetGray(x, y, color.Gray{Y: 0})
			}
		}
	}
	bm := BitmapFromImage(img, 128)
	var b Builder
	if err := b.Raster(bm, 0); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	headers := [][]byte{
		unhex(t, "1D 76 30 00 30 00 64 00"), // 48 bytes × 100 rows
		unhex(t, "1D 76 30 00 30 00 64 00"), // 48 bytes × 100 rows
		unhex(t, "1D 76 30 00 30 00 32 00"), // 48 bytes × 50 rows
	}
	cmds := parseRasters(t, out)
	if len(cmds) != 3 {
		t.Fatalf("%d GS v 0 commands, want 3", len(cmds))
	}
	var joined []byte
	for i, c := range cmds {
		if !bytes.Equal(out[c.at:c.at+8], headers[i]) {
			t.Errorf("strip %d header % X, want % X", i, out[c.at:c.at+8], headers[i])
		}
		if c.yD > 100 {
			t.Errorf("strip %d has %d rows", i, c.yD)
		}
		joined = append(joined, c.data...)
	}
	if !bytes.Equal(joined, bm.Pix) {
		t.Error("strips do not reassemble the bitmap")
	}
	// Pixel check: the first row is all black, (7,0) black, (1,1) white.
	if bm.Pix[0] != 0xFF || !bm.Black(7, 0) || bm.Black(1, 1) || !bm.Black(6, 1) {
		t.Errorf("bitmap conversion wrong: first byte %#02x", bm.Pix[0])
	}
	if got := b.Boundaries(); len(got) != 3 || got[0] != 0 || got[1] != 8+4800 || got[2] != 2*(8+4800) {
		t.Errorf("boundaries %v, want one per strip", got)
	}
}

// Width is rounded up to whole bytes; the padding bits are white.
func TestRasterOddWidth(t *testing.T) {
	bm := NewBitmap(10, 3)
	for x := 0; x < 10; x++ {
		bm.Set(x, 1, true)
	}
	bm.Set(-1, 0, true) // outside: ignored
	bm.Set(10, 0, true)
	var b Builder
	if err := b.Raster(bm, 2); err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "1D 76 30 00 02 00 02 00 0000 FFC0"+"1D 76 30 00 02 00 01 00 0000")
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("got  % X\nwant % X", b.Bytes(), want)
	}
	bm.Set(3, 1, false)
	if bm.Black(3, 1) || !bm.Black(4, 1) {
		t.Error("Set(false) did not clear exactly one dot")
	}
}

// Transparent pixels count as white paper; RGBA dark pixels as black.
func TestBitmapFromImageRGBA(t *testing.T) {
	img := image.NewNRGBA(image.Rect(5, 5, 8, 6)) // non-zero origin
	img.Set(5, 5, color.NRGBA{0, 0, 0, 255})      // black
	img.Set(6, 5, color.NRGBA{0, 0, 0, 0})        // transparent
	img.Set(7, 5, color.NRGBA{250, 250, 250, 255})
	bm := BitmapFromImage(img, 128)
	if bm.Width != 3 || bm.Height != 1 || !bm.Black(0, 0) || bm.Black(1, 0) || bm.Black(2, 0) {
		t.Errorf("got %dx%d pix % X", bm.Width, bm.Height, bm.Pix)
	}
}
