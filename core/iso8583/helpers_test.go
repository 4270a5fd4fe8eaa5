package iso8583

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex written with spaces, newlines and // comments.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var sb strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// sale0200 is the sale request used by the golden, dump and benchmark
// tests (test data, not a real card).
func sale0200() *Message {
	m := NewMessage("0200")
	m.Set(2, "6212349876543210123")
	m.Set(3, "000000")
	m.Set(4, "000000012345")
	m.Set(11, "000123")
	m.Set(14, "2812")
	m.Set(22, "072")
	m.Set(23, "001")
	m.Set(25, "00")
	m.Set(35, "6212349876543210123=28122010000123456")
	m.Set(41, "12345678")
	m.Set(42, "123456789012345")
	m.Set(49, "156")
	m.SetBytes(55, []byte{0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x9F, 0x27, 0x01, 0x80})
	m.Set(60, "2200000100060")
	m.SetBytes(64, []byte{0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x11, 0x22, 0x33})
	return m
}

// sale0200Hex is sale0200 packed with UnionPay, written field by field
// from the dialect table (unionpay.json / docs/iso8583.md).
const sale0200Hex = `
02 00                    // MTI 0200, 2 bytes BCD
70 24 06 80 20 C0 82 11  // bitmap: 2 3 4 | 11 14 | 22 23 | 25 | 35 | 41 42 | 49 55 | 60 64
19                       // F2 LLVAR prefix: 19 digits, 1 byte BCD
62 12 34 98 76 54 32 10 12 30 // F2 PAN left-justified, trailing pad nibble 0
00 00 00                 // F3 n6 000000
00 00 00 01 23 45        // F4 n12 000000012345 (123.45)
00 01 23                 // F11 n6 STAN 000123
28 12                    // F14 n4 expiry 2812
07 20                    // F22 n3 "072" left-justified (pad right)
00 01                    // F23 n3 "001" right-justified (pad left)
00                       // F25 n2 00
37                       // F35 LLVAR prefix: 37 characters
62 12 34 98 76 54 32 10 12 3D 28 12 20 10 00 01 23 45 60 // F35 z: '=' as nibble D, pad 0
31 32 33 34 35 36 37 38  // F41 ans8 "12345678"
31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 // F42 ans15 "123456789012345"
31 35 36                 // F49 an3 "156"
00 15                    // F55 LLLVAR prefix: 15 bytes, 2 bytes BCD
9F 26 08 01 02 03 04 05 06 07 08 9F 27 01 80 // F55 b: ICC data as is
00 13                    // F60 LLLVAR prefix: 13 digits
22 00 00 01 00 06 00     // F60 22|000001|000|6|0, left-justified, pad 0
DE AD BE EF 00 11 22 33  // F64 b8 MAC (placeholder)
`

// signIn0800 is a sign-in request (60.3 = 004, double-length keys + TDK).
func signIn0800() *Message {
	m := NewMessage("0800")
	m.Set(11, "000001")
	m.Set(41, "12345678")
	m.Set(42, "123456789012345")
	m.Set(60, "00000001004")
	m.Set(63, "001")
	return m
}

const signIn0800Hex = `
08 00                    // MTI 0800
00 20 00 00 00 C0 00 12  // bitmap: 11 | 41 42 | 60 63
00 00 01                 // F11 n6 000001
31 32 33 34 35 36 37 38  // F41 "12345678"
31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 // F42 "123456789012345"
00 11                    // F60 LLLVAR prefix: 11 digits
00 00 00 01 00 40        // F60 00|000001|004, pad nibble 0 (go8583: 0x00 0x40 for 004)
00 03                    // F63 LLLVAR prefix: 3 bytes
30 30 31                 // F63 ans "001" (operator)
`
