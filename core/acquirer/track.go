package acquirer

import (
	"crypto/cipher"
	"crypto/des"
	"fmt"
	"strings"
)

// Track data encryption with the TDK, the common CUP rule: the track 2
// data is packed as BCD (separator as nibble D, an odd digit count padded
// with a trailing 0 nibble), and the 8 bytes that end one byte before the
// last byte are encrypted with the TDK (3DES ECB, double-length key) and
// put back in place. docs/dialect.md does not ask for it, so no message
// builder uses it; docs/acquirer.md gives the source of the rule.

// trackBlock returns the offset of the encrypted block in packed track
// data of n bytes.
func trackBlock(n int) (int, error) {
	if n < 9 {
		return 0, fmt.Errorf("%w: %d bytes of BCD track data, need at least 9", ErrTrackData, n)
	}
	return n - 9, nil
}

func tdkCipher(tdk []byte) (cipher.Block, error) {
	switch len(tdk) {
	case 16:
		k := make([]byte, 24)
		copy(k, tdk)
		copy(k[16:], tdk[:8])
		return des.NewTripleDESCipher(k)
	case 24:
		return des.NewTripleDESCipher(tdk)
	}
	return nil, fmt.Errorf("%w: TDK is %d bytes, want 16 or 24", ErrTrackData, len(tdk))
}

// PackTrack2 packs track 2 data (digits with 'D' or '=' as separator,
// trailing 'F' padding removed) as BCD, left-justified with a 0 pad
// nibble, as field 35 carries it.
func PackTrack2(track2 string) ([]byte, error) {
	t := strings.ToUpper(strings.TrimRight(track2, "Ff"))
	if t == "" || len(t) > 104 {
		return nil, fmt.Errorf("%w: %d characters, want 1..104", ErrTrackData, len(t))
	}
	out := make([]byte, (len(t)+1)/2)
	for i := 0; i < len(t); i++ {
		var v byte
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c == 'D' || c == '=':
			v = 0xD
		default:
			return nil, fmt.Errorf("%w: character %d is not a digit or separator", ErrTrackData, i+1)
		}
		if i%2 == 0 {
			out[i/2] = v << 4
		} else {
			out[i/2] |= v
		}
	}
	return out, nil
}

// EncryptTrack packs track2 as BCD and encrypts, with the TDK (16 or 24
// bytes, 3DES ECB), the 8 bytes ending one byte before the last byte. It
// returns the packed data with that block replaced by its ciphertext.
func EncryptTrack(tdk []byte, track2 string) ([]byte, error) {
	b, err := PackTrack2(track2)
	if err != nil {
		return nil, err
	}
	return cryptTrack(tdk, b, false)
}

// DecryptTrack reverses EncryptTrack on packed track data (a copy is
// returned), for hosts and tests.
func DecryptTrack(tdk, packed []byte) ([]byte, error) {
	return cryptTrack(tdk, append([]byte(nil), packed...), true)
}

func cryptTrack(tdk, b []byte, decrypt bool) ([]byte, error) {
	off, err := trackBlock(len(b))
	if err != nil {
		return nil, err
	}
	c, err := tdkCipher(tdk)
	if err != nil {
		return nil, err
	}
	blk := b[off : off+8]
	if decrypt {
		c.Decrypt(blk, blk)
	} else {
		c.Encrypt(blk, blk)
	}
	return b, nil
}
