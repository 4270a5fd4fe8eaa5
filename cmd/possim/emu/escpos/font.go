package escpos

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// DefaultFontPaths are where Debian's unifont package puts GNU Unifont's
// .hex source (`apt-get install unifont`), tried in order.
var DefaultFontPaths = []string{
	"/usr/share/unifont/unifont.hex",
	"/usr/share/unifont/unifont.hex.gz",
}

// ErrFontMissing is returned (wrapped) by LoadFont when no font file can
// be read. A printer without a font renders a placeholder box for every
// character and records the problem "font missing" on each receipt.
var ErrFontMissing = errors.New("escpos emulator: font missing")

// ErrFontFormat is returned (wrapped) by ParseHexFont for a line that is
// not "XXXX:hex" with 32 or 64 hex digits; the error names the line.
var ErrFontFormat = errors.New("escpos emulator: bad .hex font line")

// Font is a bitmap font in GNU Unifont's .hex format: every glyph is 16
// rows, 8 dots wide (32 hex digits) or 16 dots wide (64 hex digits), the
// most significant bit of each row the leftmost dot.
type Font struct {
	// Source names where the font came from (a path).
	Source string
	glyphs map[rune]glyph
}

type glyph struct {
	wide bool       // 16 dots instead of 8
	rows [16]uint16 // left-aligned: bit 15 is the leftmost dot
}

// Glyph reports the 16 rows of r's glyph (bit 15 = leftmost dot), whether
// it is 16 dots wide (else 8), and whether the font has r at all.
func (f *Font) Glyph(r rune) (rows [16]uint16, wide, ok bool) {
	if f == nil {
		return rows, false, false
	}
	g, ok := f.glyphs[r]
	return g.rows, g.wide, ok
}

// Len is the number of glyphs.
func (f *Font) Len() int {
	if f == nil {
		return 0
	}
	return len(f.glyphs)
}

// ParseHexFont reads a font in .hex format: one glyph per line,
// "CODEPOINT:BITMAP" with 4 to 6 hex digits of code point and 32 or 64
// hex digits of bitmap. Blank lines and lines starting with '#' are
// skipped; anything else malformed is an error naming the line.
func ParseHexFont(r io.Reader, source string) (*Font, error) {
	// No capacity hint: Unifont's 57,000 glyphs grow the map once per
	// process, while a hint would allocate 3 MB for every small file (and
	// slow the fuzzer's workers until they miss their deadline).
	f := &Font{Source: source, glyphs: map[rune]glyph{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), 1024)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		cp, bits, ok := strings.Cut(s, ":")
		if !ok || len(cp) < 4 || len(cp) > 6 {
			return nil, fmt.Errorf("%w: %s line %d: want CODEPOINT:BITMAP", ErrFontFormat, source, line)
		}
		c, err := strconv.ParseUint(cp, 16, 32)
		if err != nil || c > 0x10FFFF {
			return nil, fmt.Errorf("%w: %s line %d: code point %q", ErrFontFormat, source, line, cp)
		}
		var g glyph
		switch len(bits) {
		case 32:
		case 64:
			g.wide = true
		default:
			return nil, fmt.Errorf("%w: %s line %d: bitmap of %d hex digits (want 32 or 64)", ErrFontFormat, source, line, len(bits))
		}
		step := len(bits) / 16
		for i := range 16 {
			v, err := strconv.ParseUint(bits[i*step:(i+1)*step], 16, 16)
			if err != nil {
				return nil, fmt.Errorf("%w: %s line %d: bitmap row %d: %q", ErrFontFormat, source, line, i, bits[i*step:(i+1)*step])
			}
			if g.wide {
				g.rows[i] = uint16(v)
			} else {
				g.rows[i] = uint16(v) << 8
			}
		}
		f.glyphs[rune(c)] = g
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s after line %d: %w", ErrFontFormat, source, line, err)
	}
	return f, nil
}

var fontCache struct {
	sync.Mutex
	byPath map[string]*Font
}

// LoadFont reads the first readable .hex font among paths (a ".gz" name
// is gunzipped), or DefaultFontPaths when paths is empty. Fonts are
// cached by path: every emulator in a process shares one copy (about
// 57,000 glyphs, 4 MB). The error wraps ErrFontMissing when no file can
// be opened, ErrFontFormat when one is malformed.
func LoadFont(paths ...string) (*Font, error) {
	if len(paths) == 0 {
		paths = DefaultFontPaths
	}
	fontCache.Lock()
	defer fontCache.Unlock()
	var errs []error
	for _, p := range paths {
		if f := fontCache.byPath[p]; f != nil {
			return f, nil
		}
		f, err := loadFontFile(p)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if fontCache.byPath == nil {
			fontCache.byPath = make(map[string]*Font)
		}
		fontCache.byPath[p] = f
		return f, nil
	}
	return nil, fmt.Errorf("%w: tried %s (install Debian's unifont package): %w",
		ErrFontMissing, strings.Join(paths, ", "), errors.Join(errs...))
}

func loadFontFile(p string) (*Font, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var r io.Reader = fh
	if strings.HasSuffix(p, ".gz") {
		zr, err := gzip.NewReader(fh)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrFontFormat, p, err)
		}
		defer zr.Close()
		r = zr
	}
	return ParseHexFont(r, p)
}
