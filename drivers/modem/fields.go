package modem

import (
	"strconv"
	"strings"
)

// field is one comma-separated value of an information response.
type field struct {
	s      string // the value, without quotes and surrounding blanks
	quoted bool
}

// splitFields splits the parameters of an information response
// (`20,99`, `0,0,"CHN-UNICOM",7`) at the commas outside double quotes.
// AT string values cannot contain a double quote (27.007 §4.1 escapes
// it), so a quote always opens or closes a string. An unterminated
// string, or text after a closing quote, is an error.
func splitFields(resp, s string) ([]field, error) {
	var out []field
	i := 0
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, syntaxErr(resp, "line", s[i:], "unterminated string")
			}
			out = append(out, field{s: s[i+1 : i+1+end], quoted: true})
			i += end + 2
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i < len(s) && s[i] != ',' {
				return nil, syntaxErr(resp, "line", s[i:], "text after a string")
			}
		} else {
			end := strings.IndexByte(s[i:], ',')
			if end < 0 {
				end = len(s) - i
			}
			v := strings.TrimSpace(s[i : i+end])
			if strings.IndexByte(v, '"') >= 0 {
				return nil, syntaxErr(resp, "line", v, "stray quote")
			}
			out = append(out, field{s: v})
			i += end
		}
		if i >= len(s) {
			return out, nil
		}
		i++ // the comma
	}
}

// payload strips prefix ("+CSQ:") and the blank after it.
func payload(line, prefix string) (string, error) {
	if !strings.HasPrefix(line, prefix) {
		v := line
		if len(v) > len(prefix)+8 {
			v = v[:len(prefix)+8]
		}
		return "", syntaxErr(strings.TrimSuffix(prefix, ":"), "line", v, "expected "+prefix)
	}
	return strings.TrimSpace(line[len(prefix):]), nil
}

// atoi parses a decimal integer field (optional sign), at most 9 digits
// so it cannot overflow on 32-bit ARM.
func atoi(resp, name string, f field) (int, error) {
	s := f.s
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if digits == "" || len(digits) > 9 {
		return 0, syntaxErr(resp, name, s, "not a number")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, syntaxErr(resp, name, s, "not a number")
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, syntaxErr(resp, name, s, "not a number")
	}
	return n, nil
}

// atoiRange is atoi with an inclusive range check.
func atoiRange(resp, name string, f field, lo, hi int) (int, error) {
	n, err := atoi(resp, name, f)
	if err != nil {
		return 0, err
	}
	if n < lo || n > hi {
		return 0, syntaxErr(resp, name, f.s, "out of range "+strconv.Itoa(lo)+".."+strconv.Itoa(hi))
	}
	return n, nil
}

// hexval parses a hexadecimal field of at most maxDigits digits.
func hexval(resp, name string, f field, maxDigits int) (uint64, error) {
	s := f.s
	if s == "" || len(s) > maxDigits {
		return 0, syntaxErr(resp, name, s, "not a hex number of 1.."+strconv.Itoa(maxDigits)+" digits")
	}
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, syntaxErr(resp, name, s, "not a hex number")
	}
	return n, nil
}

// digitsField checks a field of 1..max decimal digits and returns it as
// text (MCC and MNC keep their leading zeros: "01" is not "1").
func digitsField(resp, name string, f field, minLen, maxLen int) (string, error) {
	s := f.s
	if len(s) < minLen || len(s) > maxLen {
		return "", syntaxErr(resp, name, s, "want "+strconv.Itoa(minLen)+".."+strconv.Itoa(maxLen)+" digits")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", syntaxErr(resp, name, s, "not decimal digits")
		}
	}
	return s, nil
}

// printable reports whether s is non-empty printable ASCII.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// Meas is a measured integer that the modem may report as "-" (not
// available in the current state, e.g. tx_power while idle).
type Meas struct {
	// Value is the number as reported; 0 when not Valid.
	Value int
	// Valid is false when the modem sent "-" (or an empty field).
	Valid bool
}

// String formats the value, or "-" when not valid.
func (m Meas) String() string {
	if !m.Valid {
		return "-"
	}
	return strconv.Itoa(m.Value)
}

// meas parses a signed integer that may be "-" or empty.
func meas(resp, name string, f field) (Meas, error) {
	if f.s == "-" || f.s == "" {
		return Meas{}, nil
	}
	n, err := atoi(resp, name, f)
	if err != nil {
		return Meas{}, err
	}
	return Meas{Value: n, Valid: true}, nil
}
