package iso8583

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"fmt"
)

// KCVSize is the length of the check values in a CUP sign-in response.
const KCVSize = 4

// blockCipher returns DES for an 8-byte key and 3DES (EDE) for a 16-byte
// (K1 K2 K1) or 24-byte key.
func blockCipher(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 8:
		return des.NewCipher(key)
	case 16:
		k := make([]byte, 24)
		copy(k, key)
		copy(k[16:], key[:8])
		return des.NewTripleDESCipher(k)
	case 24:
		return des.NewTripleDESCipher(key)
	}
	return nil, fmt.Errorf("%w: %d bytes, want 8, 16 or 24", ErrKeyLength, len(key))
}

// KCV returns the key check value of key: the first 4 bytes of the
// encryption of 8 zero bytes, with DES for an 8-byte key and 3DES for a 16-
// or 24-byte key.
func KCV(key []byte) ([]byte, error) {
	c, err := blockCipher(key)
	if err != nil {
		return nil, err
	}
	var z [8]byte
	c.Encrypt(z[:], z[:])
	return z[:KCVSize:KCVSize], nil
}

// ecb applies c block by block (ECB) to in, which must be a multiple of 8.
func ecb(c cipher.Block, in []byte, decrypt bool) ([]byte, error) {
	if len(in) == 0 || len(in)%8 != 0 || len(in) > 24 {
		return nil, fmt.Errorf("%w: key cryptogram of %d bytes, want 8, 16 or 24", ErrKeyLength, len(in))
	}
	out := make([]byte, len(in))
	for i := 0; i < len(in); i += 8 {
		if decrypt {
			c.Decrypt(out[i:i+8], in[i:i+8])
		} else {
			c.Encrypt(out[i:i+8], in[i:i+8])
		}
	}
	return out, nil
}

// DecryptWorkingKey decrypts a working key enc (8, 16 or 24 bytes) under
// the terminal master key tmk (3DES ECB for a 16- or 24-byte TMK, DES for an
// 8-byte one) and checks it against kcv (3 to 8 bytes, compared with the
// same number of leading bytes of KCV(key)). A mismatch is ErrKeyCheck.
func DecryptWorkingKey(tmk, enc, kcv []byte) ([]byte, error) {
	c, err := blockCipher(tmk)
	if err != nil {
		return nil, fmt.Errorf("TMK: %w", err)
	}
	key, err := ecb(c, enc, true)
	if err != nil {
		return nil, err
	}
	if err := checkKCV(key, kcv); err != nil {
		return nil, err
	}
	return key, nil
}

func checkKCV(key, kcv []byte) error {
	if len(kcv) < 3 || len(kcv) > 8 {
		return fmt.Errorf("%w: check value of %d bytes, want 3..8", ErrKeyLength, len(kcv))
	}
	c, err := blockCipher(key)
	if err != nil {
		return err
	}
	var z [8]byte
	c.Encrypt(z[:], z[:])
	if subtle.ConstantTimeCompare(z[:len(kcv)], kcv) != 1 {
		return ErrKeyCheck
	}
	return nil
}

// EncryptWorkingKey encrypts key under tmk (3DES or DES ECB, as
// DecryptWorkingKey) and returns the cryptogram and the 4-byte check value,
// as a host puts them in a sign-in response.
func EncryptWorkingKey(tmk, key []byte) (enc, kcv []byte, err error) {
	c, err := blockCipher(tmk)
	if err != nil {
		return nil, nil, fmt.Errorf("TMK: %w", err)
	}
	if kcv, err = KCV(key); err != nil {
		return nil, nil, err
	}
	if enc, err = ecb(c, key, false); err != nil {
		return nil, nil, err
	}
	return enc, kcv, nil
}

// WorkingKeys are the session keys a sign-in delivers, in clear.
type WorkingKeys struct {
	// PIK encrypts PIN blocks (8 or 16 bytes).
	PIK []byte
	// MAK keys the field-64 MAC. 8 bytes when the host sent a single-length
	// MAK, or a double-length one checked with single DES (the CUP
	// convention of using only its first half); 16 bytes when its check
	// value is the 3DES one.
	MAK []byte
	// TDK encrypts track data; nil when the response carries none.
	TDK []byte
}

// keyLayout is one known arrangement of field 62 in a sign-in response:
// each key is its cryptogram followed by a 4-byte check value.
type keyLayout struct{ pik, mak, tdk int }

// signInLayouts by total length of field 62. Sources: teddy-lee/AIAUnionPay
// CUPPackager.procB62_CUP (60.3 = 001: 8+4, 8+4; 003: 16+4, 8+4;
// 004: 16+4, 8+4, 16+4) and yangyongzhen/go8583 up8583 (16+4, 16+4); 16+4 x 3
// is the double-length MAK form of 004.
var signInLayouts = map[int]keyLayout{
	24: {8, 8, 0},
	32: {16, 8, 0},
	40: {16, 16, 0},
	52: {16, 8, 16},
	60: {16, 16, 16},
}

// ParseSignInKeys splits field 62 of a sign-in (0810) response into PIK,
// MAK and optional TDK, decrypts each under tmk and checks each against its
// check value. Failures are *KeyError naming the key, wrapping ErrKeyCheck
// or ErrKeyLength; an unknown field length is ErrKeyLayout.
//
// PIK and TDK check values are computed with the key's own length (3DES for
// 16 bytes). For a 16-byte MAK the 3DES check value is tried first; if only
// the single-DES check value of its first half matches (the CUP convention
// in yangyongzhen/go8583), MAK is returned as those 8 bytes.
func ParseSignInKeys(f62, tmk []byte) (WorkingKeys, error) {
	var wk WorkingKeys
	l, ok := signInLayouts[len(f62)]
	if !ok {
		return wk, fmt.Errorf("%w: field 62 has %d bytes, want 24, 32, 40, 52 or 60", ErrKeyLayout, len(f62))
	}
	c, err := blockCipher(tmk)
	if err != nil {
		return wk, &KeyError{Key: "TMK", Err: err}
	}
	off := 0
	next := func(name string, n int) ([]byte, []byte, error) {
		enc := f62[off : off+n]
		kcv := f62[off+n : off+n+KCVSize]
		off += n + KCVSize
		key, err := ecb(c, enc, true)
		if err != nil {
			return nil, nil, &KeyError{Key: name, Err: err}
		}
		return key, kcv, nil
	}
	pik, kcv, err := next("PIK", l.pik)
	if err != nil {
		return wk, err
	}
	if err := checkKCV(pik, kcv); err != nil {
		return wk, &KeyError{Key: "PIK", Err: err}
	}
	mak, kcv, err := next("MAK", l.mak)
	if err != nil {
		return wk, err
	}
	if err := checkKCV(mak, kcv); err != nil {
		if len(mak) != 16 || checkKCV(mak[:8], kcv) != nil {
			return wk, &KeyError{Key: "MAK", Err: err}
		}
		mak = mak[:8:8]
	}
	wk.PIK, wk.MAK = pik, mak
	if l.tdk > 0 {
		tdk, kcv, err := next("TDK", l.tdk)
		if err != nil {
			return WorkingKeys{}, err
		}
		if err := checkKCV(tdk, kcv); err != nil {
			return WorkingKeys{}, &KeyError{Key: "TDK", Err: err}
		}
		wk.TDK = tdk
	}
	return wk, nil
}

// SignInKeysField builds field 62 of a sign-in response (what a host, such
// as cmd/acqhost, sends): each key encrypted under tmk followed by its
// check value. PIK and MAK are required, TDK optional; the key lengths
// must form one of the layouts ParseSignInKeys knows. An 8-byte MAK gets a
// single-DES check value.
func SignInKeysField(tmk []byte, wk WorkingKeys) ([]byte, error) {
	l := keyLayout{len(wk.PIK), len(wk.MAK), len(wk.TDK)}
	total := l.pik + l.mak + 2*KCVSize
	if l.tdk > 0 {
		total += l.tdk + KCVSize
	}
	if signInLayouts[total] != l {
		return nil, fmt.Errorf("%w: PIK %d, MAK %d, TDK %d bytes", ErrKeyLayout, l.pik, l.mak, l.tdk)
	}
	out := make([]byte, 0, total)
	for _, k := range []struct {
		name string
		key  []byte
	}{{"PIK", wk.PIK}, {"MAK", wk.MAK}, {"TDK", wk.TDK}} {
		if len(k.key) == 0 {
			continue
		}
		enc, kcv, err := EncryptWorkingKey(tmk, k.key)
		if err != nil {
			return nil, &KeyError{Key: k.name, Err: err}
		}
		out = append(append(out, enc...), kcv...)
	}
	return out, nil
}
