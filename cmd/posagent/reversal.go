package main

import (
	"context"
	"fmt"
	"io"
)

// cmdReversal: posagent reversal retry ID — a technician puts a reversal
// that was flagged for manual handling (reversal_failed, after the
// configured attempts went unanswered) back in the queue; the forwarder
// sends it (repeat 0401, same identity) at once.
func cmdReversal(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "retry" {
		return usagef("reversal: want retry ID")
	}
	fs := newFlags("reversal retry")
	var cf clientFlags
	cf.register(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("reversal retry: want one transaction ID (posagent journal ls shows them)")
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	if err := cl.RetryReversal(ctx, fs.Arg(0)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "reversal of %s queued again; posagent status shows the queue\n", fs.Arg(0))
	return err
}
