package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/posagent/posagent/core/txn"
)

// KeySize is the size of the device key in bytes.
const KeySize = 32

// HKDF labels. Each derived key has its own label so no key is used for two
// purposes; changing a label makes every existing journal unreadable.
const (
	labelSeal     = "posagent/store/v1 seal AES-256-GCM"
	labelPANHash  = "posagent/store/v1 PAN HMAC-SHA-256"
	labelKeyCheck = "posagent/store/v1 key check"
)

// nonceSize is the AES-GCM nonce size; sealed blobs are nonce || ciphertext.
const nonceSize = 12

// keys are the working keys derived from the device key.
type keys struct {
	aead  cipher.AEAD
	hash  []byte // HMAC key for PAN hashes
	check []byte // key check value stored in meta
}

// deriveKeys derives the sealing key, the PAN hash key and the key check
// value from the device key with HKDF-SHA-256 (RFC 5869, no salt).
func deriveKeys(device []byte) (*keys, error) {
	if len(device) != KeySize {
		return nil, fmt.Errorf("%w: device key is %d bytes, want %d", ErrInvalid, len(device), KeySize)
	}
	sealKey, err := hkdf.Key(sha256.New, device, nil, labelSeal, 32)
	if err != nil {
		return nil, fmt.Errorf("store: derive seal key: %w", err)
	}
	hashKey, err := hkdf.Key(sha256.New, device, nil, labelPANHash, 32)
	if err != nil {
		return nil, fmt.Errorf("store: derive PAN hash key: %w", err)
	}
	check, err := hkdf.Key(sha256.New, device, nil, labelKeyCheck, 16)
	if err != nil {
		return nil, fmt.Errorf("store: derive key check: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("store: seal cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: seal cipher: %w", err)
	}
	return &keys{aead: aead, hash: hashKey, check: check}, nil
}

// panHash is the hex HMAC-SHA-256 of pan under the PAN hash key.
func (k *keys) panHash(pan string) string {
	m := hmac.New(sha256.New, k.hash)
	m.Write([]byte(pan))
	return hex.EncodeToString(m.Sum(nil))
}

// seal encrypts plain for the record id: a random 12-byte nonce followed by
// the AES-256-GCM ciphertext, with the id as additional data so a blob
// cannot be moved to another record.
func (k *keys) seal(id txn.ID, plain []byte) ([]byte, error) {
	out := make([]byte, nonceSize, nonceSize+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return k.aead.Seal(out, out[:nonceSize], plain, []byte(id)), nil
}

// errSealBroken is wrapped when a sealed blob does not open.
var errSealBroken = errors.New("sealed data does not open with this device key (wrong key, or the blob was altered or moved)")

// open reverses seal.
func (k *keys) open(id txn.ID, blob []byte) ([]byte, error) {
	if len(blob) < nonceSize+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed data of %s is %d bytes, shorter than nonce and tag (%d)",
			ErrUntrusted, id, len(blob), nonceSize+k.aead.Overhead())
	}
	plain, err := k.aead.Open(nil, blob[:nonceSize], blob[nonceSize:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUntrusted, id, errSealBroken)
	}
	return plain, nil
}

// LoadDeviceKey reads the 32-byte device key from path. When the file does
// not exist and create is true it makes one from crypto/rand, written with
// mode 0600 (and its directory 0700) and fsync'd; when create is false a
// missing file is an error wrapping fs.ErrNotExist. A file of the wrong
// size, or one that group or others may read or write, is an error naming
// the file and what is wrong.
func LoadDeviceKey(path string, create bool) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: device key path is empty", ErrInvalid)
	}
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: device key directory: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: device key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Someone created it between our read and now: use theirs.
		return readKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: create device key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("store: write device key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("store: sync device key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store: close device key %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return key, nil
}

func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: device key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: device key %s is not a regular file (%s)", ErrInvalid, path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: device key %s has mode %04o, group or others may access it; want 0600 (chmod 600)",
			ErrInvalid, path, perm)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: device key: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: device key %s is %d bytes, want %d", ErrInvalid, path, len(key), KeySize)
	}
	return key, nil
}

// syncDir fsyncs a directory so a new or renamed entry in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync directory %s: %w", dir, err)
	}
	return nil
}
