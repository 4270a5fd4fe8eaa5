package escpos

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// zbar decodes the bar codes and QR codes in a receipt image with
// zbarimg (Debian's zbar-tools), an independent decoder: what it reads
// back is what a scanner would. The test is skipped when zbarimg is not
// installed. It returns what zbarimg printed without the final newline
// (one line per symbol).
func zbar(t *testing.T, r Receipt) string {
	t.Helper()
	bin, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg not installed (apt-get install zbar-tools): cannot check scannability")
	}
	f := filepath.Join(t.TempDir(), "r.png")
	if err := os.WriteFile(f, r.PNG, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--raw", "-q", f).Output()
	if err != nil {
		t.Fatalf("zbarimg found nothing in the receipt (%v); text:\n%s", err, r.Text)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func byteRange(lo, hi int) []byte {
	var b []byte
	for c := lo; c <= hi; c++ {
		b = append(b, byte(c))
	}
	return b
}

// Every Code 128 character value, rendered by the emulator, decodes with
// zbar: data values 0-99 through code sets A, B and C, FNC1-3, code set
// changes, shift, the three start characters and the stop character.
func TestCode128Scans(t *testing.T) {
	type tc struct {
		data []byte // after GS k 73 n
		want string
	}
	var cases []tc
	// 20 characters at a time: at the minimum module width of 2 dots a
	// symbol of 20 characters is 2 × (23 × 11 + 2) = 510 dots wide. (zbar
	// does not read 1-dot modules reliably.)
	for lo := 0x20; lo <= 0x7E; lo += 20 {
		chars := byteRange(lo, min(lo+19, 0x7E))
		cases = append(cases, tc{append([]byte("{B"), bytes.ReplaceAll(chars, []byte("{"), []byte("{{"))...), string(chars)})
	}
	for lo := 0; lo <= 99; lo += 20 {
		cases = append(cases, tc{append([]byte("{C"), byteRange(lo, lo+19)...), digits(lo, lo+19)})
	}
	for lo := 0x01; lo <= 0x1F; lo += 16 {
		chars := byteRange(lo, min(lo+15, 0x1F))
		cases = append(cases, tc{append([]byte("{AAB"), chars...), "AB" + string(chars)})
	}
	cases = append(cases,
		tc{[]byte("{AAB{Bcd{C\x0c{Aef"), ""}, // 'e' is not in set A: rejected below
		tc{[]byte("{AAB{Bcd{C\x0c\x22{AXY"), "ABcd1234XY"},
		tc{[]byte("{Bab{S\x01d"), "ab\x01d"},
		tc{[]byte("{BNo.{C\x0c\x22\x38"), "No.123456"},
		tc{[]byte("{B{{x"), "{x"},
		// FNC1 (102) inside data reads as GS; FNC2 (97) and FNC3 (96)
		// carry no data but must encode correctly for the check to pass.
		tc{[]byte("{BAB{1CD"), "AB\x1dCD"},
		tc{[]byte("{BAB{2CD"), "ABCD"},
		tc{[]byte("{BAB{3CD"), "ABCD"},
	)
	for _, c := range cases {
		p, l := start(t, Config{Unpaced: true})
		s := unhex(t, "1B 61 01 1D 77 02 1D 68 60 1D 6B 49")
		s = append(s, byte(len(c.data)))
		s = append(s, c.data...)
		s = append(s, unhex(t, "1B 64 02 1D 56 00")...)
		l.sendAll(t, s)
		r := receipt(t, p, 1)
		if c.want == "" {
			if len(problems(t, r)) == 0 || !strings.Contains(problems(t, r)[0], "not in code set A") {
				t.Errorf("% X: problems %q", c.data, problems(t, r))
			}
			continue
		}
		if len(problems(t, r)) != 0 {
			t.Fatalf("% X: problems %q", c.data, problems(t, r))
		}
		if got := zbar(t, r); got != c.want {
			t.Errorf("% X: zbar read %q, want %q", c.data, got, c.want)
		}
	}
}

func digits(lo, hi int) string {
	var b strings.Builder
	for i := lo; i <= hi; i++ {
		b.WriteString(string(rune('0'+i/10)) + string(rune('0'+i%10)))
	}
	return b.String()
}

// EAN-13, UPC-A and EAN-8 (GS k function A, NUL-terminated) decode with
// zbar, the check digit added by the printer.
func TestEANScans(t *testing.T) {
	for _, c := range []struct {
		m    byte
		data string
		want []string
	}{
		{2, "400638133393", []string{"4006381333931"}},
		{0, "03600029145", []string{"036000291452", "0036000291452"}},
		{3, "9638507", []string{"96385074"}},
		{67, "5901234123457", []string{"5901234123457"}},
	} {
		p, l := start(t, Config{Unpaced: true})
		s := unhex(t, "1B 61 01 1D 48 02 1D 6B")
		s = append(s, c.m)
		if c.m >= 65 {
			s = append(s, byte(len(c.data)))
			s = append(s, c.data...)
		} else {
			s = append(s, c.data...)
			s = append(s, 0)
		}
		s = append(s, unhex(t, "1B 64 02 1D 56 00")...)
		l.sendAll(t, s)
		r := receipt(t, p, 1)
		if len(problems(t, r)) != 0 {
			t.Fatalf("%s: problems %q", c.data, problems(t, r))
		}
		if got := zbar(t, r); !slices.Contains(c.want, got) {
			t.Errorf("m=%d %s: zbar read %q, want one of %q", c.m, c.data, got, c.want)
		}
	}
}

// QR codes at every error-correction level and at module sizes 2-8
// decode with zbar to the stored data.
func TestQRScans(t *testing.T) {
	data := "https://pos.example/r?tid=T0000001&batch=000001&stan=000042"
	for _, level := range []byte{48, 49, 50, 51} {
		for _, mod := range []byte{2, 4, 8, 10} {
			p, l := start(t, Config{Unpaced: true, Width: 384})
			s := unhex(t, "1B 61 01 0A 1D 28 6B 03 00 31 43")
			s = append(s, mod)
			s = append(s, unhex(t, "1D 28 6B 03 00 31 45")...)
			s = append(s, level)
			s = append(s, 0x1D, 0x28, 0x6B, byte(len(data)+3), 0, 0x31, 0x50, 0x30)
			s = append(s, data...)
			s = append(s, unhex(t, "1D 28 6B 03 00 31 51 30 0A 0A 1D 56 00")...)
			l.sendAll(t, s)
			r := receipt(t, p, 1)
			if n := len(qrMatrix(t, data, level)); n*int(mod) > 384 {
				// Too wide for 384 dots: not printed, reported.
				if len(problems(t, r)) != 1 || !strings.Contains(problems(t, r)[0], "exceeds") {
					t.Errorf("level %d module %d: problems %q", level, mod, problems(t, r))
				}
				continue
			}
			if len(problems(t, r)) != 0 {
				t.Fatalf("level %d module %d: problems %q", level, mod, problems(t, r))
			}
			if got := zbar(t, r); got != data {
				t.Errorf("level %d module %d: zbar read %q", level, mod, got)
			}
		}
	}
}
