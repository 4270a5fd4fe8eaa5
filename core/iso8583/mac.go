package iso8583

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
)

// MACAlgorithm names a field-64 MAC algorithm. Its text form ("unionpay-ecb",
// "x9.19", "x9.9") is what configuration files use.
type MACAlgorithm uint8

// MAC algorithms.
const (
	// MACUnionPayECB is the CUP terminal "ECB" MAC (see UnionPayECB).
	MACUnionPayECB MACAlgorithm = iota + 1
	// MACX919 is the ANSI X9.19 retail MAC (see X919).
	MACX919
	// MACX99 is the ANSI X9.9 single-DES CBC MAC (see X99).
	MACX99
)

var macNames = map[MACAlgorithm]string{MACUnionPayECB: "unionpay-ecb", MACX919: "x9.19", MACX99: "x9.9"}

// String returns the configuration name.
func (a MACAlgorithm) String() string { return nameOf(macNames, a) }

// MarshalText implements encoding.TextMarshaler.
func (a MACAlgorithm) MarshalText() ([]byte, error) {
	if _, ok := macNames[a]; !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownAlgorithm, a)
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (case-insensitive).
func (a *MACAlgorithm) UnmarshalText(b []byte) error {
	v, err := ParseMACAlgorithm(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseMACAlgorithm parses "unionpay-ecb", "x9.19" or "x9.9".
func ParseMACAlgorithm(s string) (MACAlgorithm, error) {
	v, err := parseName(macNames, "MAC algorithm", strings.ToLower(s))
	if err != nil {
		return 0, fmt.Errorf("%w: %q (want unionpay-ecb, x9.19 or x9.9)", ErrUnknownAlgorithm, s)
	}
	return v, nil
}

// MACFunc computes the 8-byte field-64 value over data. It is safe for
// concurrent use.
type MACFunc func(data []byte) ([]byte, error)

// NewMAC returns the MAC function for alg keyed with key, checking the key
// length once: UnionPay ECB takes 8 (DES), 16 or 24 (3DES) bytes; X9.19
// takes 16 bytes; X9.9 takes 8 bytes.
func NewMAC(alg MACAlgorithm, key []byte) (MACFunc, error) {
	switch alg {
	case MACUnionPayECB:
		c, err := blockCipher(key)
		if err != nil {
			return nil, err
		}
		return func(data []byte) ([]byte, error) { return unionPayECB(c, data), nil }, nil
	case MACX919:
		if len(key) != 16 {
			return nil, fmt.Errorf("%w: X9.19 needs a 16-byte key, got %d", ErrKeyLength, len(key))
		}
		k1, _ := des.NewCipher(key[:8])
		k2, _ := des.NewCipher(key[8:16])
		return func(data []byte) ([]byte, error) { return x919(k1, k2, data), nil }, nil
	case MACX99:
		if len(key) != 8 {
			return nil, fmt.Errorf("%w: X9.9 needs an 8-byte key, got %d", ErrKeyLength, len(key))
		}
		k, _ := des.NewCipher(key)
		return func(data []byte) ([]byte, error) { return cbcMAC(k, data), nil }, nil
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknownAlgorithm, alg)
}

// UnionPayECB computes the CUP terminal "ECB" MAC:
//
//  1. XOR all 8-byte blocks of data (the last one zero-padded);
//  2. write the 8-byte result as 16 upper-case hex characters;
//  3. encrypt the first 8 characters with the MAK;
//  4. XOR the result with the last 8 characters;
//  5. encrypt again;
//  6. write the result as hex and keep the first 8 characters.
//
// The returned 8 bytes are those ASCII hex characters, as they travel in
// field 64. An 8-byte key uses DES; a 16- or 24-byte key uses 3DES (EDE).
func UnionPayECB(key, data []byte) ([]byte, error) {
	c, err := blockCipher(key)
	if err != nil {
		return nil, err
	}
	return unionPayECB(c, data), nil
}

func unionPayECB(c cipher.Block, data []byte) []byte {
	var x [8]byte
	for i, b := range data {
		x[i%8] ^= b
	}
	var h [16]byte
	hex.Encode(h[:], x[:])
	upper(h[:])
	var e [8]byte
	c.Encrypt(e[:], h[:8])
	for i := range e {
		e[i] ^= h[8+i]
	}
	c.Encrypt(e[:], e[:])
	var out [16]byte
	hex.Encode(out[:], e[:])
	upper(out[:])
	return out[:8:8]
}

func upper(b []byte) {
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
}

// X919 computes the ANSI X9.19 retail MAC (ISO/IEC 9797-1 MAC algorithm 3,
// padding method 1): single-DES CBC with K1 (the first 8 key bytes, zero
// IV, data zero-padded to a multiple of 8; empty data is one zero block),
// then the last block decrypted with K2 and encrypted with K1. key is 16
// bytes. It returns all 8 bytes; an acquirer that sends 4 takes the first 4.
func X919(key, data []byte) ([]byte, error) {
	f, err := NewMAC(MACX919, key)
	if err != nil {
		return nil, err
	}
	return f(data)
}

func x919(k1, k2 cipher.Block, data []byte) []byte {
	out := cbcMAC(k1, data)
	k2.Decrypt(out, out)
	k1.Encrypt(out, out)
	return out
}

// X99 computes the ANSI X9.9 MAC (ISO/IEC 9797-1 MAC algorithm 1, padding
// method 1): single-DES CBC, zero IV, data zero-padded; key is 8 bytes.
func X99(key, data []byte) ([]byte, error) {
	f, err := NewMAC(MACX99, key)
	if err != nil {
		return nil, err
	}
	return f(data)
}

func cbcMAC(c cipher.Block, data []byte) []byte {
	var x [8]byte
	for i := 0; i < len(data) || i == 0; i += 8 {
		end := min(i+8, len(data))
		for j, b := range data[i:end] {
			x[j] ^= b
		}
		c.Encrypt(x[:], x[:])
	}
	out := make([]byte, 8)
	copy(out, x[:])
	return out
}

// BodyMACInput returns the MAC input of a packed ISO 8583 body whose last
// field is the 8-byte MAC: everything from the MTI up to the MAC.
func BodyMACInput(body []byte) ([]byte, error) {
	if len(body) < MACSize {
		return nil, fmt.Errorf("%w: body of %d bytes cannot end in an %d-byte MAC", ErrTruncated, len(body), MACSize)
	}
	return body[:len(body)-MACSize], nil
}

// MACInput returns the MAC input of a complete wire frame (length prefix,
// TPDU, header, body): the bytes after the 13-byte prefix, without the
// trailing 8-byte MAC.
func MACInput(frame []byte) ([]byte, error) {
	f, err := ParseFrame(frame)
	if err != nil {
		return nil, err
	}
	return BodyMACInput(f.Body)
}

// macField returns the MAC field for a message: 128 when any field above
// 64 is present (secondary bitmap), else 64.
func (s *Spec) macField(m *Message) (int, error) {
	n := 64
	for k := range m.Fields {
		if k > 64 {
			n = 128
			break
		}
	}
	f := s.Fields[n]
	if f == nil || f.Length != Fixed || f.Content != B || f.Max != MACSize {
		return 0, fmt.Errorf("%w: spec %s has no b%d field %d", ErrNoMAC, s.Name, MACSize, n)
	}
	return n, nil
}

// PackMAC packs m with its MAC field (64, or 128 with a secondary bitmap)
// computed by mac over the body. m itself is not changed.
func (s *Spec) PackMAC(m *Message, mac MACFunc) ([]byte, error) {
	n, err := s.macField(m)
	if err != nil {
		return nil, err
	}
	c := &Message{MTI: m.MTI, Fields: maps.Clone(m.Fields)}
	if c.Fields == nil {
		c.Fields = map[int][]byte{}
	}
	c.Fields[n] = make([]byte, MACSize)
	body, err := s.Pack(c)
	if err != nil {
		return nil, err
	}
	in := body[:len(body)-MACSize]
	v, err := mac(in)
	if err != nil {
		return nil, fmt.Errorf("iso8583: compute MAC: %w", err)
	}
	if len(v) != MACSize {
		return nil, fmt.Errorf("%w: MAC function returned %d bytes, want %d", ErrKeyLength, len(v), MACSize)
	}
	copy(body[len(body)-MACSize:], v)
	return body, nil
}

// UnpackVerify unpacks body and checks its MAC field (64, or 128 with a
// secondary bitmap) against mac. When the body decodes but the MAC is
// missing or wrong it returns the message together with ErrNoMAC or
// ErrBadMAC, so the caller can log what arrived; such a message must be
// treated as no response.
func (s *Spec) UnpackVerify(body []byte, mac MACFunc) (*Message, error) {
	m, err := s.Unpack(body)
	if err != nil {
		return nil, err
	}
	n, err := s.macField(m)
	if err != nil {
		return m, err
	}
	got, ok := m.Fields[n]
	if !ok {
		return m, fmt.Errorf("%w: field %d absent", ErrNoMAC, n)
	}
	want, err := mac(body[:len(body)-MACSize])
	if err != nil {
		return m, fmt.Errorf("iso8583: compute MAC: %w", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return m, fmt.Errorf("%w (field %d)", ErrBadMAC, n)
	}
	return m, nil
}
