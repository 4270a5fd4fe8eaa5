// Command possim emulates the terminal's serial devices on pseudo-terminals
// — the PN532 card reader with virtual EMV cards, the ESC/POS printer, the
// serial scanner and the 4G modem — behind stable links in one directory,
// with a control API to tap cards, run out of paper, scan codes, change the
// modem's state and unplug devices. For development, demos and tests; never
// linked into posagent.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "possim:", err)
		os.Exit(1)
	}
}
