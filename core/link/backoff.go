package link

import (
	"math/rand/v2"
	"time"
)

// Default backoff bounds (issue 5: "backoff with jitter while down, bounded,
// e.g. 1 s to 60 s").
const (
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 60 * time.Second
)

// Backoff is an exponential backoff with jitter: the n-th delay (from 0)
// is drawn uniformly from [d/2, d] where d = min(Max, Min·2ⁿ). The upper
// half keeps the sequence growing while the jitter spreads terminals that
// lost the same host at the same moment. It is not safe for concurrent
// use; its owner serialises calls.
type Backoff struct {
	Min, Max time.Duration
	// Rand draws the jitter; nil uses math/rand/v2's global source.
	Rand *rand.Rand
	n    int
}

// Next returns the next delay and advances the sequence. A zero Min or
// Max takes DefaultBackoffMin or DefaultBackoffMax; Max below Min is
// raised to Min.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	hi = max(hi, lo)
	d := lo
	for i := 0; i < b.n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if d < hi {
		b.n++
	}
	half := d / 2
	return d - half + b.int64n(int64(half)+1)
}

func (b *Backoff) int64n(n int64) time.Duration {
	if b.Rand != nil {
		return time.Duration(b.Rand.Int64N(n))
	}
	return time.Duration(rand.Int64N(n))
}

// Reset starts the sequence again at Min.
func (b *Backoff) Reset() { b.n = 0 }

// Step returns how many times the delay has doubled since the last Reset
// (it stops counting once the delay reached Max).
func (b *Backoff) Step() int { return b.n }
