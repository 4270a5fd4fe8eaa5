package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrFaults is wrapped by invalid fault settings.
var ErrFaults = errors.New("acqhost: invalid fault setting")

// MaxLatency bounds Faults.Latency.
const MaxLatency = 10 * time.Minute

// Faults make the host slow or failing on purpose, for store-and-forward
// and reversal tests. The zero value is a well-behaved host that answers
// amounts ending in 98 (NoAnswer98 false); the configuration default turns
// NoAnswer98 on.
type Faults struct {
	// Latency is added before every answer is written.
	Latency time.Duration
	// DropEvery N > 0 drops every Nth answer the host would have written
	// (counted over all connections since the setting last changed): the
	// transaction is recorded, the answer never sent.
	DropEvery int
	// CloseAfter N > 0 makes the host stop reading a connection after its
	// Nth request, write the answers to those N requests, and close it.
	CloseAfter int
	// NoAnswer98 is the test rule "amount (or QR code) ending in 98 → no
	// answer at all".
	NoAnswer98 bool
}

func (f Faults) validate() error {
	switch {
	case f.Latency < 0 || f.Latency > MaxLatency:
		return fmt.Errorf("latency %v: want 0 to %v", f.Latency, MaxLatency)
	case f.DropEvery < 0:
		return fmt.Errorf("drop_every %d: want 0 (off) or more", f.DropEvery)
	case f.CloseAfter < 0:
		return fmt.Errorf("close_after %d: want 0 (off) or more", f.CloseAfter)
	}
	return nil
}

// faultsJSON is the admin API form; pointers make every field optional
// in an update.
type faultsJSON struct {
	Latency    *string `json:"latency,omitempty"`
	DropEvery  *int    `json:"drop_every,omitempty"`
	CloseAfter *int    `json:"close_after,omitempty"`
	NoAnswer98 *bool   `json:"no_answer_98,omitempty"`
}

// MarshalJSON implements json.Marshaler:
// {"latency":"60ms","drop_every":0,"close_after":0,"no_answer_98":true}.
func (f Faults) MarshalJSON() ([]byte, error) {
	l := f.Latency.String()
	return json.Marshal(faultsJSON{Latency: &l, DropEvery: &f.DropEvery, CloseAfter: &f.CloseAfter, NoAnswer98: &f.NoAnswer98})
}

// UnmarshalJSON implements json.Unmarshaler. Fields absent from the JSON
// keep their current value, so it applies a partial update.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%w: %w", ErrFaults, err)
	}
	n := *f
	if j.Latency != nil {
		d, err := time.ParseDuration(*j.Latency)
		if err != nil {
			return fmt.Errorf("%w: latency: %w", ErrFaults, err)
		}
		n.Latency = d
	}
	if j.DropEvery != nil {
		n.DropEvery = *j.DropEvery
	}
	if j.CloseAfter != nil {
		n.CloseAfter = *j.CloseAfter
	}
	if j.NoAnswer98 != nil {
		n.NoAnswer98 = *j.NoAnswer98
	}
	if err := n.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrFaults, err)
	}
	*f = n
	return nil
}
