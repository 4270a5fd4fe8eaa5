package escpos

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes to the printer's parser: it must never
// panic or hang, every receipt must be a decodable PNG at the paper
// width with valid UTF-8 text, and the byte counts must add up to at
// most the input.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"1B 40 1B 61 01 1B 45 01 52 45 43 0A 1D 56 01",
		"1C 26 A3 A4 31 1C 2E 0A 1C 26 81 30 84 36 1C 2E 0A",
		"1D 21 11 4F 4B 0A 1D 21 00 1B 21 39 41 0A",
		"1D 28 6B 03 00 31 43 04 1D 28 6B 05 00 31 50 30 54 31 1D 28 6B 03 00 31 51 30",
		"1D 76 30 00 02 00 02 00 F0 0F 81 81 1D 56 42 10",
		"1D 6B 49 05 7B 42 41 42 43 1D 6B 02 34 30 30 36 33 38 31 33 33 33 39 33 00",
		"10 04 01 10 14 01 00 05 1B 70 00 32 32 1B 2A 21 02 00 FF FF FF 0A 0A 0A",
		"1B 26 03 20 21 02 01 02 03 04 05 06 02 01 02 03 04 05 06 1C 71 01 01 00 01 00 FF FF FF FF FF FF FF FF",
		"1D 38 4C 04 00 00 00 30 45 20 20 1D 28 4C 02 00 30 45",
		"1B 74 02 82 1B 74 07 82 1B 64 03 09 41 09 42",
	}
	for _, s := range seeds {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := New(Config{Unpaced: true, Width: 384, Keep: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		e := newEngine(p, context.Background())
		rest, _, err := e.drain(data)
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		if len(rest) > len(data) {
			t.Fatalf("rest %d > input %d", len(rest), len(data))
		}
		p.Tear()
		total := 0
		for _, r := range p.Receipts() {
			total += r.Bytes
			if !utf8.ValidString(r.Text) {
				t.Fatalf("receipt text is not UTF-8: %q", r.Text)
			}
			img, err := png.Decode(bytes.NewReader(r.PNG))
			if err != nil {
				t.Fatalf("PNG: %v", err)
			}
			if img.Bounds().Dx() != 384 || img.Bounds().Dy() > maxPageDots+255*255+4095*2 {
				t.Fatalf("image %v", img.Bounds())
			}
			if len(r.Problems) > maxProblems+1 {
				t.Fatalf("%d problems", len(r.Problems))
			}
		}
		if total > len(data) {
			t.Fatalf("receipts count %d bytes of %d", total, len(data))
		}
	})
}

// FuzzParseHexFont: any input either parses into glyphs whose rows fit
// their width, or fails with ErrFontFormat; never a panic.
func FuzzParseHexFont(f *testing.F) {
	f.Add("0041:0000000018242442427E424242420000\n")
	f.Add("# c\n4E2D:01000100010001003FF8210821082108210821083FF821080100010001000100\n\n")
	f.Add("10FFFF:0000000018242442427E424242420000")
	f.Add("0041:00000000182424424")
	f.Fuzz(func(t *testing.T, s string) {
		font, err := ParseHexFont(strings.NewReader(s), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrFontFormat) {
				t.Fatalf("error %v does not wrap ErrFontFormat", err)
			}
			return
		}
		for r, g := range font.glyphs {
			if r < 0 || r > 0x10FFFF {
				t.Fatalf("code point %X", r)
			}
			if !g.wide {
				for _, row := range g.rows {
					if row&0x00FF != 0 {
						t.Fatalf("narrow glyph %U has dots past 8", r)
					}
				}
			}
		}
	})
}
