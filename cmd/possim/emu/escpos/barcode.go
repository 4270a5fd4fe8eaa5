package escpos

import (
	"errors"
	"fmt"
	"strings"
)

// Bar code systems of GS k m: function A (m = 0–6, data ended by NUL)
// and function B (m = 65–73, length byte n). Epson TM-T88 and Cino
// VersaJet references: A 0 UPC-A, 1 UPC-E, 2 JAN13/EAN13, 3 JAN8/EAN8,
// 4 CODE39, 5 ITF, 6 CODABAR; B adds 65 for each of those (65–71),
// 72 CODE93 and 73 CODE128.
var barcodeNames = map[byte]string{
	0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
	72: "CODE93", 73: "CODE128",
}

func barcodeName(m byte) string {
	if m >= 65 && m <= 71 {
		m -= 65
	}
	if n, ok := barcodeNames[m]; ok {
		return n
	}
	return fmt.Sprintf("type %d", m)
}

// errBarcodeData: the data cannot be encoded; a printer then prints no
// bar code and processes the data as normal data.
var errBarcodeData = errors.New("bar code data invalid")

// modules is a bar code as module widths, alternating bar and space,
// starting with a bar.
type modules []int

func (m modules) total() int {
	n := 0
	for _, w := range m {
		n += w
	}
	return n
}

// code128Patterns are the 107 Code 128 symbol characters (values 0–102,
// start A/B/C 103–105, stop 106) as bar/space widths in modules. Each
// character is 11 modules (the stop 13) with an even number of bar
// modules; TestCode128Table checks that, and the zbarimg test decodes
// every value.
var code128Patterns = [107]string{
	"212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
	"221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
	"221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
	"212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
	"231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
	"231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
	"314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
	"112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
	"111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
	"214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
	"114131", "311141", "411131", "211412", "211214", "211232", "2331112",
}

// Code 128 function values (ISO/IEC 15417).
const (
	c128FNC3   = 96
	c128FNC2   = 97
	c128Shift  = 98
	c128CodeC  = 99
	c128CodeB  = 100 // in sets A and C; FNC4 in set B
	c128CodeA  = 101 // in sets B and C; FNC4 in set A
	c128FNC1   = 102
	c128StartA = 103
	c128Stop   = 106
)

// code128 encodes ESC/POS CODE128 data: it starts with a code set
// selector "{A", "{B" or "{C"; "{S" shifts one character between sets A
// and B, "{1".."{4" are FNC1–FNC4, "{{" is '{'. In code set C every byte
// is a value 0–99 (two digits), as the printer manuals specify (e.g.
// "No." then 123456 is 7B 42 4E 6F 2E 7B 43 0C 22 38). It returns the
// modules (with the check character and stop) and the human-readable
// text.
func code128(d []byte) (modules, string, error) {
	if len(d) < 2 || d[0] != '{' || d[1] < 'A' || d[1] > 'C' {
		return nil, "", fmt.Errorf("%w: CODE128 data must start with {A, {B or {C, got % X", errBarcodeData, d[:min(2, len(d))])
	}
	set := d[1]
	vals := []int{c128StartA + int(set-'A')}
	var hri strings.Builder
	shift := false
	for i := 2; i < len(d); i++ {
		c := d[i]
		if c == '{' {
			if i+1 >= len(d) {
				return nil, "", fmt.Errorf("%w: CODE128 data ends in '{' at byte %d", errBarcodeData, i)
			}
			i++
			switch x := d[i]; x {
			case 'A', 'B', 'C':
				if x == set {
					continue
				}
				vals = append(vals, map[byte]int{'A': c128CodeA, 'B': c128CodeB, 'C': c128CodeC}[x])
				set = x
				continue
			case 'S':
				if set == 'C' {
					return nil, "", fmt.Errorf("%w: CODE128 {S in code set C at byte %d", errBarcodeData, i-1)
				}
				vals = append(vals, c128Shift)
				shift = true
				continue
			case '1':
				vals = append(vals, c128FNC1)
				hri.WriteByte(' ')
				continue
			case '2', '3', '4':
				if set == 'C' {
					return nil, "", fmt.Errorf("%w: CODE128 FNC%c in code set C at byte %d", errBarcodeData, x, i-1)
				}
				v := map[byte]int{'2': c128FNC2, '3': c128FNC3}[x]
				if x == '4' {
					v = c128CodeA // FNC4 in set A
					if set == 'B' {
						v = c128CodeB // FNC4 in set B
					}
				}
				vals = append(vals, v)
				hri.WriteByte(' ')
				continue
			case '{':
				// a literal '{', below
			default:
				return nil, "", fmt.Errorf("%w: CODE128 special character {%c at byte %d", errBarcodeData, x, i-1)
			}
		}
		cs := set
		if shift {
			cs = map[byte]byte{'A': 'B', 'B': 'A'}[set]
			shift = false
		}
		switch cs {
		case 'A':
			if c > 0x5F {
				return nil, "", fmt.Errorf("%w: CODE128 byte %02X at %d not in code set A", errBarcodeData, c, i)
			}
			if c < 0x20 {
				vals = append(vals, int(c)+64)
				hri.WriteByte(' ')
			} else {
				vals = append(vals, int(c)-0x20)
				hri.WriteByte(c)
			}
		case 'B':
			if c < 0x20 || c > 0x7F {
				return nil, "", fmt.Errorf("%w: CODE128 byte %02X at %d not in code set B", errBarcodeData, c, i)
			}
			vals = append(vals, int(c)-0x20)
			if c == 0x7F {
				hri.WriteByte(' ')
			} else {
				hri.WriteByte(c)
			}
		case 'C':
			if c > 99 {
				return nil, "", fmt.Errorf("%w: CODE128 byte %02X at %d is not 0-99 (code set C)", errBarcodeData, c, i)
			}
			vals = append(vals, int(c))
			fmt.Fprintf(&hri, "%02d", c)
		}
	}
	if len(vals) < 2 {
		return nil, "", fmt.Errorf("%w: CODE128 without data", errBarcodeData)
	}
	sum := vals[0]
	for i, v := range vals[1:] {
		sum += (i + 1) * v
	}
	vals = append(vals, sum%103, c128Stop)
	var m modules
	for _, v := range vals {
		for _, w := range code128Patterns[v] {
			m = append(m, int(w-'0'))
		}
	}
	return m, hri.String(), nil
}

// EAN/UPC digit patterns (ISO/IEC 15420): L (odd parity, left half), G
// (even parity, left half) and R (right half) as 7 module bits, 1 = bar.
var (
	eanL = [10]string{"0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011"}
	// eanParity is the L/G pattern of the six left digits of an EAN-13
	// for each leading digit.
	eanParity = [10]string{"LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"}
)

func eanR(d int) string {
	var b strings.Builder
	for _, c := range eanL[d] {
		if c == '0' {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

func eanG(d int) string {
	r := []byte(eanR(d))
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// eanCheck is the EAN/UPC check digit of digits (without it): weights 3
// and 1 from the right.
func eanCheck(digits []int) int {
	sum := 0
	for k := 0; k < len(digits); k++ {
		d := digits[len(digits)-1-k]
		if k%2 == 0 {
			sum += 3 * d
		} else {
			sum += d
		}
	}
	return (10 - sum%10) % 10
}

// bitsToModules turns a "1010…" bar pattern into run widths starting with
// a bar.
func bitsToModules(bits string) modules {
	var m modules
	cur, run := byte('1'), 0
	for i := 0; i < len(bits); i++ {
		if bits[i] == cur {
			run++
			continue
		}
		m = append(m, run)
		cur, run = bits[i], 1
	}
	return append(m, run)
}

// ean encodes EAN-13 (n = 13 digits with check), UPC-A (12, as EAN-13
// with a leading 0) or EAN-8 (8). data holds the digits with or without
// the check digit; a wrong check digit is replaced and reported.
func ean(data []byte, total int) (modules, string, string, error) {
	digits := make([]int, 0, len(data))
	for i, c := range data {
		if c < '0' || c > '9' {
			return nil, "", "", fmt.Errorf("%w: byte %02X at %d is not a digit", errBarcodeData, c, i)
		}
		digits = append(digits, int(c-'0'))
	}
	var note string
	switch len(digits) {
	case total - 1:
		digits = append(digits, eanCheck(digits))
	case total:
		if want := eanCheck(digits[:total-1]); digits[total-1] != want {
			note = fmt.Sprintf("check digit %d replaced by %d", digits[total-1], want)
			digits[total-1] = want
		}
	default:
		return nil, "", "", fmt.Errorf("%w: %d digits (want %d or %d)", errBarcodeData, len(digits), total-1, total)
	}
	hri := make([]byte, len(digits))
	for i, d := range digits {
		hri[i] = byte('0' + d)
	}
	if total == 12 { // UPC-A is EAN-13 with number system 0
		digits = append([]int{0}, digits...)
		total = 13
	}
	var b strings.Builder
	b.WriteString("101")
	switch total {
	case 13:
		par := eanParity[digits[0]]
		for i := 1; i <= 6; i++ {
			if par[i-1] == 'L' {
				b.WriteString(eanL[digits[i]])
			} else {
				b.WriteString(eanG(digits[i]))
			}
		}
		b.WriteString("01010")
		for i := 7; i <= 12; i++ {
			b.WriteString(eanR(digits[i]))
		}
	case 8:
		for i := 0; i < 4; i++ {
			b.WriteString(eanL[digits[i]])
		}
		b.WriteString("01010")
		for i := 4; i < 8; i++ {
			b.WriteString(eanR(digits[i]))
		}
	}
	b.WriteString("101")
	return bitsToModules(b.String()), string(hri), note, nil
}

// drawBars renders modules at moduleW dots per module, height dots tall.
func drawBars(m modules, moduleW, height int) *block {
	b := newBlock(m.total()*moduleW, height)
	x := 0
	for i, w := range m {
		if i%2 == 0 {
			b.fill(x, 0, w*moduleW, height)
		}
		x += w * moduleW
	}
	return b
}
