//go:build !failpoints

package store

// processFailpoint is nil in every normal build: the journal's write steps
// call no hook. Built with -tags failpoints (system tests only), it reads
// POSAGENT_FAILPOINT; see failpoint_on.go.
func processFailpoint() func(op, step string) error { return nil }
