package iso8583

import (
	"bytes"
	"crypto/des"
	"errors"
	"testing"
)

// Published DES known answer: key 0000000000000000, plaintext
// 0000000000000000 -> 8CA64DE9C1B123A7 (the first vector of the classic DES
// test set, e.g. in the crypto/DES.hpp test "encrypt_test_vector"), so the
// check value of an all-zero key is 8CA64DE9.
func TestKCVKnownAnswer(t *testing.T) {
	for _, n := range []int{8, 16, 24} {
		kcv, err := KCV(make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(kcv, []byte{0x8C, 0xA6, 0x4D, 0xE9}) {
			t.Errorf("KCV(zero %d-byte key) = %X, want 8CA64DE9", n, kcv)
		}
	}
	if _, err := KCV(make([]byte, 10)); !errors.Is(err, ErrKeyLength) {
		t.Errorf("10-byte key: %v", err)
	}
}

// Published: TMK 70F2A84CCBC2AE8625CBB0F2C22AB923 decrypts the TAK
// cryptogram 96D605EA176B7E9E to C24A8FB57AA20123
// (blog.youkuaiyun.com/zhu244912654/article/details/80005341, "MAC算法演示").
func TestDecryptWorkingKeyPublished(t *testing.T) {
	tmk := mustHexKey(t, "70F2A84CCBC2AE8625CBB0F2C22AB923")
	enc := mustHexKey(t, "96D605EA176B7E9E")
	clear := mustHexKey(t, "C24A8FB57AA20123")
	// The check value, derived independently with crypto/des.
	blk, _ := des.NewCipher(clear)
	kcv := make([]byte, 8)
	blk.Encrypt(kcv, kcv)
	got, err := DecryptWorkingKey(tmk, enc, kcv[:4])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, clear) {
		t.Fatalf("TAK = %X, want %X", got, clear)
	}
	kcv[0] ^= 1
	if _, err := DecryptWorkingKey(tmk, enc, kcv[:4]); !errors.Is(err, ErrKeyCheck) {
		t.Fatalf("bad KCV: %v", err)
	}
	if _, err := DecryptWorkingKey(tmk, enc[:7], kcv[:4]); !errors.Is(err, ErrKeyLength) {
		t.Fatalf("7-byte cryptogram: %v", err)
	}
	if _, err := DecryptWorkingKey(tmk[:10], enc, kcv[:4]); !errors.Is(err, ErrKeyLength) {
		t.Fatalf("10-byte TMK: %v", err)
	}
	if _, err := DecryptWorkingKey(tmk, enc, kcv[:2]); !errors.Is(err, ErrKeyLength) {
		t.Fatalf("2-byte KCV: %v", err)
	}
}

// tdesEncryptByHand encrypts 8-byte blocks with a double-length key
// (EDE, K1 K2 K1) using crypto/des only.
func tdesEncryptByHand(t *testing.T, k16, in []byte) []byte {
	t.Helper()
	k1, _ := des.NewCipher(k16[:8])
	k2, _ := des.NewCipher(k16[8:])
	out := make([]byte, len(in))
	for i := 0; i < len(in); i += 8 {
		b := make([]byte, 8)
		k1.Encrypt(b, in[i:i+8])
		k2.Decrypt(b, b)
		k1.Encrypt(b, b)
		copy(out[i:], b)
	}
	return out
}

func kcvByHand(t *testing.T, key []byte) []byte {
	t.Helper()
	z := make([]byte, 8)
	if len(key) == 8 {
		blk, _ := des.NewCipher(key)
		blk.Encrypt(z, z)
		return z[:4]
	}
	return tdesEncryptByHand(t, key, z)[:4]
}

func TestParseSignInKeys(t *testing.T) {
	tmk := mustHexKey(t, "70F2A84CCBC2AE8625CBB0F2C22AB923")
	pik := mustHexKey(t, "112233445566778899AABBCCDDEEFF00")
	mak16 := mustHexKey(t, "0123456789ABCDEFFEDCBA9876543210")
	tdk := mustHexKey(t, "A1A2A3A4A5A6A7A8B1B2B3B4B5B6B7B8")
	mak8 := mak16[:8]
	// Each part: the key encrypted under the TMK (3DES ECB, one block per
	// 8 bytes), then the given check value.
	part := func(key []byte, kcv []byte) []byte {
		return append(tdesEncryptByHand(t, tmk, key), kcv...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	tests := []struct {
		name string
		f62  []byte
		want WorkingKeys
	}{
		{"004 double MAK (60 bytes)", cat(part(pik, kcvByHand(t, pik)), part(mak16, kcvByHand(t, mak16)), part(tdk, kcvByHand(t, tdk))),
			WorkingKeys{PIK: pik, MAK: mak16, TDK: tdk}},
		{"004 MAK 8 (52 bytes)", cat(part(pik, kcvByHand(t, pik)), part(mak8, kcvByHand(t, mak8)), part(tdk, kcvByHand(t, tdk))),
			WorkingKeys{PIK: pik, MAK: mak8, TDK: tdk}},
		{"003 double MAK, DES check (40 bytes, go8583)", cat(part(pik, kcvByHand(t, pik)), part(mak16, kcvByHand(t, mak8))),
			WorkingKeys{PIK: pik, MAK: mak8}},
		{"003 MAK 8 (32 bytes)", cat(part(pik, kcvByHand(t, pik)), part(mak8, kcvByHand(t, mak8))),
			WorkingKeys{PIK: pik, MAK: mak8}},
		{"001 single (24 bytes)", cat(part(pik[:8], kcvByHand(t, pik[:8])), part(mak8, kcvByHand(t, mak8))),
			WorkingKeys{PIK: pik[:8], MAK: mak8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSignInKeys(tt.f62, tmk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.PIK, tt.want.PIK) || !bytes.Equal(got.MAK, tt.want.MAK) || !bytes.Equal(got.TDK, tt.want.TDK) {
				t.Fatalf("keys = %X %X %X, want %X %X %X", got.PIK, got.MAK, got.TDK, tt.want.PIK, tt.want.MAK, tt.want.TDK)
			}
			// Corrupt each check value in turn: the error names the key.
			for i, name := range []string{"PIK", "MAK", "TDK"} {
				offs := []int{len(tt.want.PIK), len(tt.want.PIK) + 4 + lenMAKField(tt.f62, tt.want), len(tt.f62) - 4}
				if name == "TDK" && tt.want.TDK == nil {
					continue
				}
				bad := bytes.Clone(tt.f62)
				bad[offs[i]] ^= 0x01
				_, err := ParseSignInKeys(bad, tmk)
				var ke *KeyError
				if !errors.As(err, &ke) || ke.Key != name || !errors.Is(err, ErrKeyCheck) {
					t.Errorf("corrupt %s check value: err = %v", name, err)
				}
			}
		})
	}
	if _, err := ParseSignInKeys(make([]byte, 41), tmk); !errors.Is(err, ErrKeyLayout) {
		t.Errorf("41 bytes: %v", err)
	}
	var ke *KeyError
	if _, err := ParseSignInKeys(make([]byte, 40), tmk[:5]); !errors.As(err, &ke) || ke.Key != "TMK" {
		t.Errorf("bad TMK: %v", err)
	}
}

// lenMAKField is the cryptogram length of the MAK in f62.
func lenMAKField(f62 []byte, wk WorkingKeys) int {
	n := len(f62) - len(wk.PIK) - 2*KCVSize
	if wk.TDK != nil {
		n -= len(wk.TDK) + KCVSize
	}
	return n
}

func TestSignInKeysFieldRoundTrip(t *testing.T) {
	tmk := mustHexKey(t, "70F2A84CCBC2AE8625CBB0F2C22AB923")
	wk := WorkingKeys{
		PIK: mustHexKey(t, "1122334455667788AABBCCDDEEFF0011"),
		MAK: mustHexKey(t, "0123456789ABCDEFFEDCBA9876543210"),
		TDK: mustHexKey(t, "A1A2A3A4A5A6A7A8B1B2B3B4B5B6B7B8"),
	}
	f62, err := SignInKeysField(tmk, wk)
	if err != nil {
		t.Fatal(err)
	}
	if len(f62) != 60 {
		t.Fatalf("f62 %d bytes", len(f62))
	}
	// Independent check of the first part: 3DES(PIK) || KCV(PIK).
	if want := append(tdesEncryptByHand(t, tmk, wk.PIK), kcvByHand(t, wk.PIK)...); !bytes.Equal(f62[:20], want) {
		t.Fatalf("PIK part %X, want %X", f62[:20], want)
	}
	got, err := ParseSignInKeys(f62, tmk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.MAK, wk.MAK) || !bytes.Equal(got.TDK, wk.TDK) || !bytes.Equal(got.PIK, wk.PIK) {
		t.Fatalf("round trip: %X", got)
	}
	if _, err := SignInKeysField(tmk, WorkingKeys{PIK: wk.PIK}); !errors.Is(err, ErrKeyLayout) {
		t.Fatalf("no MAK: %v", err)
	}
}
