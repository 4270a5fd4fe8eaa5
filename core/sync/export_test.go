package sync

import "context"

// Joiners returns how many Drain calls wait for the running pass (tests).
func Joiners(f *Forwarder) int64 { return f.joiners.Load() }

// AutoDrain runs one pass as Run does (spaced reversals, link checked).
func AutoDrain(ctx context.Context, f *Forwarder) (Report, error) { return f.drain(ctx, true) }
