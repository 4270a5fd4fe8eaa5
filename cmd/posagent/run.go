package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
)

// usageError is a mistake in the command line; it exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// exitStatus carries a specific exit status (e.g. verify found problems).
type exitStatus struct {
	code int
	err  error
}

func (e exitStatus) Error() string { return e.err.Error() }
func (e exitStatus) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ue usageError
	var es exitStatus
	switch {
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &es):
		return es.code
	}
	return 1
}

const usage = `posagent — the payment agent of a Linux smart POS terminal

usage: posagent <command> [flags] [args]

daemon:
  run --config FILE          run the terminal (payments, journal, devices, local API)

merchant and technician (talk to the running agent over its local API):
  pay AMOUNT                 take a sale, e.g. posagent pay 12.34, and show it live
  status [--json]            agent, journal, link and outbox status
  sync [--wait]              forward stored offline sales now (--wait: progress until done)
  journal ls|show|export|verify
                             the transaction journal (masked; via the agent, or
                             the file itself when the agent is stopped)
  diag [--json]              hardware self-test: serial ports, reader, printer,
                             scanner, modem (exit 1 when a required device fails)
  reversal retry ID          send a reversal flagged for manual handling again
  reprint [ID] [--merchant]  print a receipt again, marked REPRINT (default: the
                             last sale, customer copy)
  tamper clear               unlock payments after a tamper alarm (case inspected)
  sim tap [SCHEME]           standin board only: tap a stand-in test card
  keys load --component HEX [--component HEX ...] | --file FILE
                             load the terminal master key (agent stopped); prints its check value
  keys check                 show the loaded key's check value

tools:
  config check FILE          validate a config file
  config sample              print a commented sample config
  iso8583 decode [--spec FILE] [--frame] [--json] [--unmasked] HEX
                             dump an ISO 8583 message (PAN and track data masked)
  tlv decode [--json] [--unmasked] HEX
                             dump BER-TLV (EMV / field 55) with tag names
  version                    version, commit and platform

Flags common to client commands: --socket PATH (or $POSAGENT_SOCKET),
--config FILE (or $POSAGENT_CONFIG) to find the socket and journal.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "posagent %s (commit %s) %s/%s %s\n", version, commit, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "config":
		return cmdConfig(rest, stdout)
	case "pay":
		return cmdPay(ctx, rest, stdout)
	case "status":
		return cmdStatus(ctx, rest, stdout)
	case "journal":
		return cmdJournal(ctx, rest, stdout)
	case "sim":
		return cmdSim(ctx, rest, stdout)
	case "keys":
		return cmdKeys(ctx, rest, stdout)
	case "diag":
		return cmdDiag(ctx, rest, stdout)
	case "sync":
		return cmdSync(ctx, rest, stdout)
	case "reversal":
		return cmdReversal(ctx, rest, stdout)
	case "reprint":
		return cmdReprint(ctx, rest, stdout)
	case "tamper":
		return cmdTamper(ctx, rest, stdout)
	case "iso8583":
		return cmdISO8583(rest, stdout)
	case "tlv":
		return cmdTLV(rest, stdout)
	}
	return usagef("unknown command %q (posagent help lists them)", cmd)
}

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	// Allow flags after positional arguments ("pay 12.34 --socket x").
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}
