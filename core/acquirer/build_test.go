package acquirer

import (
	"bytes"
	"crypto/des"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// goldenMAK is the MAK of the published UnionPay frame the codec's MAC
// test reproduces (q.cnblogs.com/q/128930; docs/iso8583.md).
var goldenMAK = mustHex("0723C80DB5F4CD3D")

// sale0200Golden is the sale built from testRecord(123, 12345) and
// testSensitive(), written field by field from docs/dialect.md and the
// field table in docs/iso8583.md, with its MAC under goldenMAK.
const sale0200Golden = `
02 00                    // MTI 0200 (sale), 2 bytes BCD
70 24 06 80 20 C0 82 11  // bitmap: 2 3 4 | 11 14 | 22 23 | 25 | 35 | 41 42 | 49 55 | 60 64
19                       // F2 LLVAR prefix: 19 digits
62 12 34 98 76 54 32 10 12 30 // F2 PAN, left-justified, pad nibble 0
00 00 00                 // F3 processing code 000000 (sale)
00 00 00 01 23 45        // F4 amount 123.45 CNY in minor units, n12
00 01 23                 // F11 STAN 000123 (journaled)
28 12                    // F14 expiry YYMM 2812
07 20                    // F22 entry mode 072 (contactless IC), left-justified
00 01                    // F23 PAN sequence "01" as n3 001, right-justified
00                       // F25 POS condition code 00
37                       // F35 LLVAR prefix: 37 characters (tag 57's F pad removed)
62 12 34 98 76 54 32 10 12 3D 28 12 20 10 00 01 23 45 60 // F35 track 2, separator nibble D, pad 0
31 32 33 34 35 36 37 38  // F41 TID "12345678"
31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 // F42 MID "123456789012345"
31 35 36                 // F49 currency "156"
00 15                    // F55 LLLVAR prefix: 15 bytes
9F 26 08 01 02 03 04 05 06 07 08 9F 27 01 80 // F55 ICC data as read
00 13                    // F60 LLLVAR prefix: 13 digits
22 00 00 01 00 06 00     // F60 22 sale | 000001 batch | 000 | 6 contactless | 0, pad 0
32 42 45 30 41 30 45 46  // F64 MAC "2BE0A0EF" (UnionPay ECB under goldenMAK; derived by hand below)
`

// ecbMACByHand is the UnionPay ECB MAC written out step by step with
// crypto/des, independently of iso8583.UnionPayECB (single-DES key).
func ecbMACByHand(t *testing.T, key, data []byte) []byte {
	t.Helper()
	var x [8]byte
	for i := 0; i < len(data); i += 8 {
		var blk [8]byte
		copy(blk[:], data[i:min(i+8, len(data))])
		for j := range x {
			x[j] ^= blk[j]
		}
	}
	h := []byte(strings.ToUpper(hex.EncodeToString(x[:])))
	c, err := des.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	var e [8]byte
	c.Encrypt(e[:], h[:8])
	for j := range e {
		e[j] ^= h[8+j]
	}
	c.Encrypt(e[:], e[:])
	return []byte(strings.ToUpper(hex.EncodeToString(e[:]))[:8])
}

func TestSaleGolden(t *testing.T) {
	want := unhex(t, sale0200Golden)
	m, err := SaleRequest(testRecord(123, 12345), testSensitive(), "")
	if err != nil {
		t.Fatal(err)
	}
	mac, err := iso8583.NewMAC(iso8583.MACUnionPayECB, goldenMAK)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iso8583.UnionPay.PackMAC(m, mac)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("sale 0200:\n got % X\nwant % X", got, want)
	}
	if byHand := ecbMACByHand(t, goldenMAK, want[:len(want)-8]); !bytes.Equal(byHand, want[len(want)-8:]) {
		t.Fatalf("golden MAC %q, derived by hand %q", want[len(want)-8:], byHand)
	}
	// The wire frame: length, TPDU 6000000000, header 603100000000.
	frame, err := iso8583.AppendFrame(nil, iso8583.Frame{TPDU: DefaultTPDU, Header: DefaultHeader, Body: got})
	if err != nil {
		t.Fatal(err)
	}
	prefix := unhex(t, `
		00 83             // length: 5 + 6 + 120 body bytes = 131
		60 00 00 00 00    // TPDU
		60 31 00 00 00 00 // header (ours)`)
	if len(want) != 120 || !bytes.Equal(frame[:13], prefix) || !bytes.Equal(frame[13:], want) {
		t.Fatalf("frame % X", frame)
	}
	// The host side reads it back and verifies the MAC.
	f, err := iso8583.ParseFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iso8583.UnionPay.UnpackVerify(f.Body, mac); err != nil {
		t.Fatal(err)
	}
}

func fieldsOf(m *iso8583.Message) []int { return m.Numbers() }

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func get(t *testing.T, m *iso8583.Message, n int) string {
	t.Helper()
	v, ok := m.Get(n)
	if !ok {
		t.Fatalf("%s: field %d absent", m.MTI, n)
	}
	return v
}

func TestBuilders(t *testing.T) {
	rec := testRecord(42, 5000)
	sens := testSensitive()

	keyed := rec
	keyed.Entry = txn.Keyed
	keyedSens := txn.Sensitive{PAN: "6212349876543210123", Expiry: "2812"}

	qr := rec
	qr.Entry = txn.QR
	qrSens := txn.Sensitive{QRCode: "281234567890123456"}

	void := rec
	void.Type = txn.Void
	void.Original = &txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 40}
	refund := void
	refund.Type = txn.Refund
	orig := Original{RRN: "000001000040", AuthCode: "A00040", Date: "0313"}

	offline := rec
	offline.Offline = true
	offline.Outcome.AuthCode = "Y10001"
	offline.Created = time.Date(2026, 3, 14, 1, 2, 3, 0, time.UTC) // 09:02:03 in Shanghai
	shanghai := time.FixedZone("CST", 8*3600)

	tests := []struct {
		name   string
		build  func() (*iso8583.Message, error)
		mti    string
		fields []int
		check  map[int]string
	}{
		{"contactless sale", func() (*iso8583.Message, error) { return SaleRequest(rec, sens, "") },
			"0200", []int{2, 3, 4, 11, 14, 22, 23, 25, 35, 41, 42, 49, 55, 60},
			map[int]string{3: "000000", 22: "072", 23: "001", 60: "2200000100060"}},
		{"keyed sale with CVV", func() (*iso8583.Message, error) { return SaleRequest(keyed, keyedSens, "123") },
			"0200", []int{2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60, 62},
			map[int]string{22: "012", 60: "2200000100050", 62: "92CV003123"}},
		{"keyed sale without CVV", func() (*iso8583.Message, error) { return SaleRequest(keyed, keyedSens, "") },
			"0200", []int{2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60}, nil},
		{"QR sale", func() (*iso8583.Message, error) { return SaleRequest(qr, qrSens, "") },
			"0200", []int{3, 4, 11, 22, 25, 41, 42, 49, 60, 62},
			map[int]string{22: "032", 60: "2200000100000", 62: "92QR018281234567890123456"}},
		{"void", func() (*iso8583.Message, error) { return VoidRequest(void, sens, orig) },
			"0200", []int{2, 3, 4, 11, 14, 22, 23, 25, 35, 37, 38, 41, 42, 49, 55, 60, 61},
			map[int]string{3: "200000", 11: "000042", 37: "000001000040", 38: "A00040", 60: "2300000100060", 61: "000001000040"}},
		{"refund", func() (*iso8583.Message, error) { return RefundRequest(refund, sens, orig) },
			"0220", []int{2, 3, 4, 11, 14, 22, 23, 25, 35, 37, 38, 41, 42, 49, 55, 60, 61},
			map[int]string{3: "200000", 60: "2500000100060", 61: "0000010000400313"}},
		{"offline sale", func() (*iso8583.Message, error) { return OfflineSaleRequest(offline, sens, shanghai) },
			"0220", []int{2, 3, 4, 11, 12, 13, 14, 22, 23, 25, 35, 38, 41, 42, 49, 55, 60},
			map[int]string{12: "090203", 13: "0314", 38: "Y10001", 60: "3000000100060"}},
		{"offline sale repeat", func() (*iso8583.Message, error) {
			r := offline
			r.Attempts = 1
			return OfflineSaleRequest(r, sens, shanghai)
		}, "0221", []int{2, 3, 4, 11, 12, 13, 14, 22, 23, 25, 35, 38, 41, 42, 49, 55, 60}, nil},
		{"reversal with card data", func() (*iso8583.Message, error) {
			r := rec
			r.Outcome.AuthCode = "A00042"
			return ReversalRequest(r, &sens, ReasonNoResponse)
		}, "0400", []int{2, 3, 4, 11, 14, 22, 23, 25, 35, 38, 39, 41, 42, 49, 55, 60},
			map[int]string{11: "000042", 39: "98", 38: "A00042", 60: "2200000100060"}},
		{"reversal repeat without card data", func() (*iso8583.Message, error) {
			r := rec
			r.Attempts = 2
			return ReversalRequest(r, nil, ReasonBadMAC)
		}, "0401", []int{3, 4, 11, 22, 25, 39, 41, 42, 49, 60}, map[int]string{39: "A0", 22: "072"}},
		{"reversal of a keyed sale (no CVV)", func() (*iso8583.Message, error) { return ReversalRequest(keyed, &keyedSens, ReasonOther) },
			"0400", []int{2, 3, 4, 11, 14, 22, 25, 39, 41, 42, 49, 60}, map[int]string{39: "06"}},
		{"reversal of a void", func() (*iso8583.Message, error) { return ReversalRequest(void, nil, ReasonNoResponse) },
			"0400", []int{3, 4, 11, 22, 25, 39, 41, 42, 49, 60}, map[int]string{3: "200000", 60: "2300000100060"}},
		{"sign-in", func() (*iso8583.Message, error) {
			return SignInRequest(txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 1})
		}, "0800", []int{11, 41, 42, 60, 63}, map[int]string{60: "00000001004", 63: "001"}},
		{"echo", func() (*iso8583.Message, error) {
			return EchoRequest(txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 2})
		}, "0820", []int{11, 41, 42, 60}, map[int]string{60: "00000001301"}},
		{"batch upload", func() (*iso8583.Message, error) {
			return BatchUploadRequest(txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 90}, []BatchRecord{
				{STAN: 42, PAN: "6212349876543210123", Amount: 5000},
				{Foreign: true, STAN: 43, Amount: 100},
			})
		}, "0320", []int{11, 41, 42, 48, 60}, map[int]string{
			60: "00000001203",
			48: "02" + "00" + "000042" + "06212349876543210123" + "000000005000" +
				"01" + "000043" + "00000000000000000000" + "000000000100",
		}},
		{"batch end", func() (*iso8583.Message, error) {
			return BatchEndRequest(txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 91}, 17, false)
		}, "0320", []int{11, 41, 42, 48, 60}, map[int]string{48: "0017", 60: "00000001202"}},
		{"batch end not balanced", func() (*iso8583.Message, error) {
			return BatchEndRequest(txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 91}, 17, true)
		}, "0320", []int{11, 41, 42, 48, 60}, map[int]string{60: "00000001207"}},
		{"settlement", func() (*iso8583.Message, error) {
			return SettlementRequest(txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 92},
				Totals{Domestic: SchemeTotals{DebitAmount: 123456, DebitCount: 12, CreditAmount: 500, CreditCount: 1},
					Foreign: SchemeTotals{DebitAmount: 9900, DebitCount: 3}}, money.CNY)
		}, "0500", []int{11, 41, 42, 48, 49, 60, 63}, map[int]string{
			48: "000000123456012000000000500001" + "0" + "000000009900003000000000000000" + "0",
			49: "156", 60: "00000001201", 63: "001",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if m.MTI != tc.mti {
				t.Errorf("MTI %s, want %s", m.MTI, tc.mti)
			}
			if got := fieldsOf(m); !sameInts(got, tc.fields) {
				t.Errorf("fields %v, want %v", got, tc.fields)
			}
			for n, want := range tc.check {
				if got := get(t, m, n); got != want {
					t.Errorf("field %d = %q, want %q", n, got, want)
				}
			}
			// Everything built packs under the default dialect with a MAC.
			mac, _ := iso8583.NewMAC(iso8583.MACUnionPayECB, goldenMAK)
			var err2 error
			if needsMAC(m.MTI) {
				_, err2 = iso8583.UnionPay.PackMAC(m, mac)
			} else {
				_, err2 = iso8583.UnionPay.Pack(m)
			}
			if err2 != nil {
				t.Fatalf("pack: %v", err2)
			}
		})
	}
}

func TestBuilderErrors(t *testing.T) {
	rec := testRecord(42, 5000)
	sens := testSensitive()
	tests := []struct {
		name  string
		build func() (*iso8583.Message, error)
		field string
	}{
		{"zero amount", func() (*iso8583.Message, error) { r := rec; r.Amount.Minor = 0; return SaleRequest(r, sens, "") }, "field 4"},
		{"no currency", func() (*iso8583.Message, error) { r := rec; r.Amount.Currency = 0; return SaleRequest(r, sens, "") }, "field 49"},
		{"short TID", func() (*iso8583.Message, error) { r := rec; r.Identity.TID = "123"; return SaleRequest(r, sens, "") }, "field 41"},
		{"zero STAN", func() (*iso8583.Message, error) { r := rec; r.Identity.STAN = 0; return SaleRequest(r, sens, "") }, "field 11"},
		{"big batch", func() (*iso8583.Message, error) {
			r := rec
			r.Identity.Batch = 1000000
			return SaleRequest(r, sens, "")
		}, "field 60"},
		{"no card data", func() (*iso8583.Message, error) { return SaleRequest(rec, txn.Sensitive{}, "") }, "field 2"},
		{"reader-encrypted only", func() (*iso8583.Message, error) {
			return SaleRequest(rec, txn.Sensitive{Reader: &txn.ReaderEncrypted{KSN: []byte{1}, Ciphertext: []byte{2}}}, "")
		}, "field 2"},
		{"bad track", func() (*iso8583.Message, error) { s := sens; s.Track2 = "6212X34D2812"; return SaleRequest(rec, s, "") }, "field 35"},
		{"two separators", func() (*iso8583.Message, error) { s := sens; s.Track2 = "6212D34D2812"; return SaleRequest(rec, s, "") }, "field 35"},
		{"bad expiry", func() (*iso8583.Message, error) { s := sens; s.Expiry = "28"; return SaleRequest(rec, s, "") }, "field 14"},
		{"keyed without PAN", func() (*iso8583.Message, error) {
			r := rec
			r.Entry = txn.Keyed
			return SaleRequest(r, txn.Sensitive{QRCode: "x"}, "")
		}, "field 2"},
		{"bad CVV", func() (*iso8583.Message, error) { r := rec; r.Entry = txn.Keyed; return SaleRequest(r, sens, "12") }, "field 62"},
		{"QR without code", func() (*iso8583.Message, error) {
			r := rec
			r.Entry = txn.QR
			return SaleRequest(r, txn.Sensitive{}, "")
		}, "field 62"},
		{"QR offline", func() (*iso8583.Message, error) { r := rec; r.Entry = txn.QR; return OfflineSaleRequest(r, sens, nil) }, "field 22"},
		{"void without original", func() (*iso8583.Message, error) {
			r := rec
			r.Type = txn.Void
			return VoidRequest(r, sens, Original{RRN: "000001000040"})
		}, "field 61"},
		{"refund without date", func() (*iso8583.Message, error) {
			r := rec
			r.Type = txn.Refund
			r.Original = &txn.Identity{Batch: 1, STAN: 3}
			return RefundRequest(r, sens, Original{RRN: "000001000040"})
		}, "field 61"},
		{"sale as void", func() (*iso8583.Message, error) { return VoidRequest(rec, sens, Original{}) }, "field 3"},
		{"bad reversal reason", func() (*iso8583.Message, error) { return ReversalRequest(rec, nil, "00") }, "field 39"},
		{"too many batch records", func() (*iso8583.Message, error) {
			return BatchUploadRequest(rec.Identity, make([]BatchRecord, MaxBatchRecords+1))
		}, "field 48"},
		{"negative totals", func() (*iso8583.Message, error) {
			return SettlementRequest(rec.Identity, Totals{Foreign: SchemeTotals{CreditAmount: -1}}, money.CNY)
		}, "field 48"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build()
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("err = %v, want ErrBadRequest", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			if strings.Contains(err.Error(), sens.PAN) {
				t.Errorf("error %q holds the PAN", err)
			}
		})
	}
}

func TestOriginalFrom(t *testing.T) {
	o := testRecord(7, 100)
	o.Outcome = txn.Outcome{RRN: "000001000007", AuthCode: "A00007"}
	o.Created = time.Date(2026, 3, 13, 20, 0, 0, 0, time.UTC) // 14 March in UTC+8
	got := OriginalFrom(o, time.FixedZone("CST", 8*3600))
	if got != (Original{RRN: "000001000007", AuthCode: "A00007", Date: "0314"}) {
		t.Fatalf("%+v", got)
	}
}
