package acquirer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/posagent/posagent/core/iso8583"
)

// KeyStore holds the terminal master key (TMK), loaded by a technician.
// The journal implements it with the key sealed under the device key;
// MemKeyStore is an in-memory implementation for tests and development.
type KeyStore interface {
	// TMK returns the terminal master key, or an error wrapping ErrNoTMK
	// when none is loaded.
	TMK(ctx context.Context) ([]byte, error)
	// SaveTMK stores key as the terminal master key, replacing any other.
	SaveTMK(ctx context.Context, key []byte) error
}

// CheckTMK checks that key can be a terminal master key: a double- or
// triple-length DES key (16 or 24 bytes).
func CheckTMK(key []byte) error {
	if len(key) != 16 && len(key) != 24 {
		return fmt.Errorf("%w: %d bytes, want 16 or 24", ErrBadTMK, len(key))
	}
	return nil
}

// MemKeyStore is a KeyStore in memory. Safe for concurrent use.
type MemKeyStore struct {
	mu  sync.Mutex
	tmk []byte
}

// NewMemKeyStore returns a key store holding a copy of tmk (nil: empty).
func NewMemKeyStore(tmk []byte) *MemKeyStore {
	return &MemKeyStore{tmk: append([]byte(nil), tmk...)}
}

// TMK implements KeyStore.
func (s *MemKeyStore) TMK(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tmk) == 0 {
		return nil, ErrNoTMK
	}
	return append([]byte(nil), s.tmk...), nil
}

// SaveTMK implements KeyStore. The key must pass CheckTMK.
func (s *MemKeyStore) SaveTMK(ctx context.Context, key []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckTMK(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tmk = append([]byte(nil), key...)
	return nil
}

// sessionKeys are the working keys of one sign-in. Immutable once made.
type sessionKeys struct {
	pik, mak, tdk []byte
	mac           iso8583.MACFunc
	at            time.Time // when the sign-in succeeded (clock reading, monotonic when real)
}

// macKey returns the key the dialect's MAC uses from the delivered MAK:
// the first 8 bytes (single-DES MAK) for the UnionPay ECB and X9.9
// algorithms, the whole double-length key for X9.19.
func macKey(alg iso8583.MACAlgorithm, mak []byte) ([]byte, error) {
	switch alg {
	case iso8583.MACUnionPayECB, iso8583.MACX99:
		if len(mak) < 8 {
			return nil, fmt.Errorf("%w: MAK is %d bytes", ErrSignIn, len(mak))
		}
		return mak[:8], nil
	case iso8583.MACX919:
		if len(mak) != 16 {
			return nil, fmt.Errorf("%w: X9.19 needs a double-length MAK, the host sent %d bytes", ErrSignIn, len(mak))
		}
		return mak, nil
	}
	return nil, fmt.Errorf("%w: %v", iso8583.ErrUnknownAlgorithm, alg)
}

func newSessionKeys(alg iso8583.MACAlgorithm, wk iso8583.WorkingKeys, at time.Time) (*sessionKeys, error) {
	k, err := macKey(alg, wk.MAK)
	if err != nil {
		return nil, err
	}
	mac, err := iso8583.NewMAC(alg, k)
	if err != nil {
		return nil, fmt.Errorf("%w: MAK: %w", ErrSignIn, err)
	}
	return &sessionKeys{pik: wk.PIK, mak: wk.MAK, tdk: wk.TDK, mac: mac, at: at}, nil
}
