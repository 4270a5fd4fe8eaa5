package iso8583

import (
	"bytes"
	"crypto/des"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// cnblogsFrameHex is a complete 0200 frame published with its host-
// generated MAC (http://q.cnblogs.com/q/128930): TPDU 6000030000, header
// 603210320072, MAK 0723C80DB5F4CD3D0723C80DB5F4CD3D, field 64 = ASCII
// "B3A092AE". Field 60 carries 19 digits, so it unpacks with a UnionPay
// variant whose field 60 allows 19.
const cnblogsFrameHex = `
007F                     // length 127
6000030000               // TPDU
603210320072             // header
0200                     // MTI
3020048000C08015         // bitmap: 3 4 11 22 25 41 42 49 60 62 64
000000 000000001234 000002 0300 99
3030303030303031         // F41 "00000001"
393532373138313832323137383735 // F42
313536                   // F49 "156"
0019 26000001000600000000 // F60 19 digits
0043 5F01123238343431323334353637383930313233345F03063136303033365F04063230303832365C023031
4233413039324145         // F64 "B3A092AE"
`

func mustHexKey(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnionPayECBPublishedFrame checks UnionPayECB, MACInput and
// UnpackVerify against a real frame whose MAC a host computed.
func TestUnionPayECBPublishedFrame(t *testing.T) {
	frame := unhex(t, cnblogsFrameHex)
	key := mustHexKey(t, "0723C80DB5F4CD3D0723C80DB5F4CD3D")
	in, err := MACInput(frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != len(frame)-FramePrefixSize-MACSize {
		t.Fatalf("MAC input %d bytes", len(in))
	}
	for _, k := range [][]byte{key, key[:8]} { // identical halves: 3DES == DES
		mac, err := UnionPayECB(k, in)
		if err != nil {
			t.Fatal(err)
		}
		if string(mac) != "B3A092AE" {
			t.Fatalf("key %d bytes: MAC %q, want B3A092AE", len(k), mac)
		}
	}

	f, err := ParseFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	variant := UnionPay.Clone()
	variant.Name = "UnionPay-60x19"
	variant.Fields[60].Max = 19
	macf, err := NewMAC(MACUnionPayECB, key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := variant.UnpackVerify(f.Body, macf)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get(4); v != "000000001234" {
		t.Errorf("amount %q", v)
	}
	if v, _ := m.Get(22); v != "030" {
		t.Errorf("entry mode %q (left-justified 03 00)", v)
	}
	// The same body with one amount digit changed must fail the MAC.
	bad := bytes.Clone(f.Body)
	bad[14] ^= 0x01
	if _, err := variant.UnpackVerify(bad, macf); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("tampered body: err = %v, want ErrBadMAC", err)
	}
	// The default spec refuses the 19-digit field 60.
	_, err = UnionPay.Unpack(f.Body)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != 60 || !errors.Is(err, ErrTooLong) {
		t.Fatalf("default spec: err = %v, want field 60 ErrTooLong", err)
	}
}

// ecbByHand re-derives the UnionPay ECB MAC step by step with crypto/des,
// independently of mac.go.
func ecbByHand(t *testing.T, key, data []byte) string {
	t.Helper()
	blk, err := des.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	// 1. XOR the 8-byte blocks, last one zero-padded.
	padded := append(bytes.Clone(data), make([]byte, (8-len(data)%8)%8)...)
	x := make([]byte, 8)
	for i := 0; i < len(padded); i += 8 {
		for j := 0; j < 8; j++ {
			x[j] ^= padded[i+j]
		}
	}
	// 2. 16 upper-case hex characters.
	h := []byte(strings.ToUpper(hex.EncodeToString(x)))
	// 3. encrypt the first 8.
	e := make([]byte, 8)
	blk.Encrypt(e, h[:8])
	// 4. XOR with the last 8.
	for j := range e {
		e[j] ^= h[8+j]
	}
	// 5. encrypt again.
	blk.Encrypt(e, e)
	// 6. hex, first 8 characters.
	return strings.ToUpper(hex.EncodeToString(e))[:8]
}

func TestUnionPayECBByHand(t *testing.T) {
	key := mustHexKey(t, "C24A8FB57AA20123")
	for _, data := range [][]byte{
		nil,
		[]byte("A"),
		[]byte("12345678"),
		unhex(t, sale0200Hex)[:112],
		unhex(t, signIn0800Hex),
	} {
		got, err := UnionPayECB(key, data)
		if err != nil {
			t.Fatal(err)
		}
		if want := ecbByHand(t, key, data); string(got) != want {
			t.Errorf("data %X: MAC %q, by hand %q", data, got, want)
		}
	}
	// A 16-byte key with different halves is 3DES, not DES of either half.
	k16 := mustHexKey(t, "0123456789ABCDEFFEDCBA9876543210")
	m16, _ := UnionPayECB(k16, []byte("12345678"))
	m8, _ := UnionPayECB(k16[:8], []byte("12345678"))
	if bytes.Equal(m16, m8) {
		t.Error("16-byte key behaves as its first half")
	}
}

// X9.19 vectors: ISO/IEC 9797-1:2011 Annex B.4 (MAC algorithm 3, padding
// method 1), as quoted in Leon Lynch's crypto_tdes2_retail_mac_test.c
// (first 4 bytes published), and BouncyCastle ISO9797Alg3MacTest (all 8).
func TestX919Vectors(t *testing.T) {
	tests := []struct {
		key, data, want string
	}{
		{"0123456789ABCDEFFEDCBA9876543210", "Now is the time for all ", "A1C72E74"},
		{"0123456789ABCDEFFEDCBA9876543210", "Now is the time for it", "2E2B1428"},
		{"7CA110454A1A6E570131D9619DC1376E", "Hello World !!!!", "F09B856213BAB83B"},
	}
	for _, tt := range tests {
		mac, err := X919(mustHexKey(t, tt.key), []byte(tt.data))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ToUpper(hex.EncodeToString(mac)); !strings.HasPrefix(got, tt.want) {
			t.Errorf("X9.19(%q) = %s, want %s...", tt.data, got, tt.want)
		}
	}
	if _, err := X919(make([]byte, 8), nil); !errors.Is(err, ErrKeyLength) {
		t.Errorf("8-byte key: err = %v", err)
	}
}

// X9.9 vector: FIPS 113 data "7654321 Now is the time for " with key
// 0123456789ABCDEF, zero IV, zero padding, first 4 bytes F1D30F68
// (BouncyCastle MacTest, "standard DAC - zero IV").
func TestX99Vector(t *testing.T) {
	data := mustHexKey(t, "37363534333231204e6f77206973207468652074696d6520666f7220")
	mac, err := X99(mustHexKey(t, "0123456789ABCDEF"), data)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ToUpper(hex.EncodeToString(mac)); got[:8] != "F1D30F68" {
		t.Fatalf("X9.9 = %s, want F1D30F68...", got)
	}
	// X9.19 with K2 == K1 reduces to X9.9.
	k := mustHexKey(t, "0123456789ABCDEF0123456789ABCDEF")
	m19, _ := X919(k, data)
	if !bytes.Equal(m19, mac) {
		t.Errorf("X9.19 with K1=K2 = %X, X9.9 = %X", m19, mac)
	}
	if _, err := X99(make([]byte, 16), nil); !errors.Is(err, ErrKeyLength) {
		t.Errorf("16-byte key: err = %v", err)
	}
}

func TestPackMACAndVerify(t *testing.T) {
	key := mustHexKey(t, "C24A8FB57AA20123")
	for _, alg := range []MACAlgorithm{MACUnionPayECB, MACX99} {
		mac, err := NewMAC(alg, key)
		if err != nil {
			t.Fatal(err)
		}
		m := sale0200()
		m.Unset(64)
		orig := m.Clone()
		body, err := UnionPay.PackMAC(m, mac)
		if err != nil {
			t.Fatal(err)
		}
		if !m.Equal(orig) {
			t.Fatal("PackMAC changed its message")
		}
		in, err := BodyMACInput(body)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := mac(in)
		if !bytes.Equal(body[len(body)-8:], want) {
			t.Fatalf("%v: field 64 = %X, want %X", alg, body[len(body)-8:], want)
		}
		if alg == MACUnionPayECB && string(want) != ecbByHand(t, key, in) {
			t.Fatalf("ECB MAC differs from the by-hand derivation")
		}
		u, err := UnionPay.UnpackVerify(body, mac)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := u.Get(2); v != "6212349876543210123" {
			t.Fatalf("PAN %q", v)
		}
		// Wire frame round trip and MACInput on it.
		wire, err := AppendFrame(nil, Frame{Body: body})
		if err != nil {
			t.Fatal(err)
		}
		in2, err := MACInput(wire)
		if err != nil || !bytes.Equal(in2, in) {
			t.Fatalf("MACInput(frame) = %X, %v", in2, err)
		}
		// Wrong key.
		other, _ := NewMAC(alg, mustHexKey(t, "0123456789ABCDEF"))
		if m, err := UnionPay.UnpackVerify(body, other); !errors.Is(err, ErrBadMAC) || m == nil {
			t.Fatalf("wrong key: %v, %v", m, err)
		}
	}
	// No MAC field in the message.
	mac, _ := NewMAC(MACUnionPayECB, key)
	b, _ := UnionPay.Pack(signIn0800())
	if m, err := UnionPay.UnpackVerify(b, mac); !errors.Is(err, ErrNoMAC) || m == nil {
		t.Fatalf("no MAC: %v, %v", m, err)
	}
	// A spec whose field 64 is not b8 cannot carry a MAC.
	s := UnionPay.Clone()
	s.Fields[64] = nil
	if _, err := s.PackMAC(signIn0800(), mac); !errors.Is(err, ErrNoMAC) {
		t.Fatalf("spec without 64: %v", err)
	}
	// A short body.
	if _, err := BodyMACInput([]byte{1, 2}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("BodyMACInput short: %v", err)
	}
}

func TestSecondaryBitmapMACIs128(t *testing.T) {
	s := testASCIISpec(t)
	mac, _ := NewMAC(MACX919, mustHexKey(t, "0123456789ABCDEFFEDCBA9876543210"))
	m := NewMessage("0800")
	m.Set(70, "301")
	body, err := s.PackMAC(m, mac)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.UnpackVerify(body, mac)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := u.GetBytes(128); !ok || len(v) != 8 {
		t.Fatalf("field 128 = %X", v)
	}
}

func TestMACAlgorithmText(t *testing.T) {
	for _, s := range []string{"unionpay-ecb", "X9.19", "x9.9"} {
		var a MACAlgorithm
		if err := a.UnmarshalText([]byte(s)); err != nil {
			t.Fatal(err)
		}
		b, err := a.MarshalText()
		if err != nil || string(b) != strings.ToLower(s) {
			t.Errorf("%q -> %v -> %q, %v", s, a, b, err)
		}
	}
	if _, err := ParseMACAlgorithm("md5"); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Errorf("md5: %v", err)
	}
	if _, err := NewMAC(MACAlgorithm(9), make([]byte, 8)); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Errorf("alg 9: %v", err)
	}
	if _, err := NewMAC(MACUnionPayECB, make([]byte, 7)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("7-byte key: %v", err)
	}
}
