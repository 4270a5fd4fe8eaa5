// Command posagent is the terminal-side agent of a Linux smart POS: it runs
// the payment daemon (posagent run) and the technician's and merchant's
// command-line tools (pay, status, journal, config, version, ...).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the device has no zoneinfo: receipts and settlement need the terminal's zone
)

// Set by the linker (see Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "posagent:", err)
		os.Exit(exitCode(err))
	}
}
