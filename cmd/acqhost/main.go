// Command acqhost is the reference acquirer host: it speaks the terminal's
// ISO 8583 dialect (docs/dialect.md), approves and declines by
// deterministic test rules, dedupes, reconciles settlements, and shows and
// exports what it received. For development, certification-style tests
// and demos; docs/acqhost.md is its guide.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // the timezone setting must work on hosts without zoneinfo
)

// Set by the linker.
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "acqhost: ") {
			msg = "acqhost: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(exitCode(err))
	}
}
