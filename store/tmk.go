package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/txn"
)

// Meta keys for the acquirer link's persistent state.
var (
	metaTMK        = []byte("tmk")         // terminal master key, sealed
	metaLastSignIn = []byte("last_signin") // RFC 3339 UTC of the last successful sign-in
)

// tmkSealID is the additional data the TMK is sealed under, so a record's
// sealed blob can never be passed off as the key and vice versa.
const tmkSealID = txn.ID("meta/tmk")

// ErrNoTMK is returned by TMK when no terminal master key was loaded.
var ErrNoTMK = errors.New("store: no terminal master key loaded (posagent keys load)")

// SaveTMK stores the terminal master key sealed under the device key,
// replacing any earlier one. The clear key never touches the disk.
func (j *Journal) SaveTMK(ctx context.Context, key []byte) error {
	if len(key) != 16 && len(key) != 24 {
		return fmt.Errorf("%w: terminal master key is %d bytes, want 16 or 24", ErrInvalid, len(key))
	}
	if j.keys == nil {
		return fmt.Errorf("%w: journal opened without the device key", ErrInvalid)
	}
	blob, err := j.keys.seal(tmkSealID, key)
	if err != nil {
		return err
	}
	return j.update(ctx, "save TMK", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaTMK, blob)
	})
}

// TMK returns the terminal master key, or an error wrapping ErrNoTMK.
func (j *Journal) TMK(ctx context.Context) ([]byte, error) {
	if j.keys == nil {
		return nil, fmt.Errorf("%w: journal opened without the device key", ErrInvalid)
	}
	var blob []byte
	err := j.view(ctx, func(tx *bolt.Tx) error {
		blob = append(blob, tx.Bucket(bucketMeta).Get(metaTMK)...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(blob) == 0 {
		return nil, ErrNoTMK
	}
	return j.keys.open(tmkSealID, blob)
}

// SetLastSignIn records when the acquirer link last signed in, so a
// restarted agent knows how old its working keys' session is.
func (j *Journal) SetLastSignIn(ctx context.Context, at time.Time) error {
	return j.update(ctx, "record sign-in", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaLastSignIn, []byte(at.UTC().Format(time.RFC3339Nano)))
	})
}

// LastSignIn returns the time recorded by SetLastSignIn (zero if never).
func (j *Journal) LastSignIn(ctx context.Context) (time.Time, error) {
	var at time.Time
	err := j.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(metaLastSignIn)
		if v == nil {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			return fmt.Errorf("%w: meta/last_signin: %w", ErrUntrusted, err)
		}
		at = t
		return nil
	})
	return at, err
}
