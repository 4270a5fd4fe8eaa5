package sync

// Joiners returns how many Drain calls wait for the running pass (tests).
func Joiners(f *Forwarder) int64 { return f.joiners.Load() }
