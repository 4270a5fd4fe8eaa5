package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/posagent/posagent/cmd/acqhost/host"
)

// usageError is a mistake on the command line; it exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

const usage = `acqhost — reference acquirer host for the posagent ISO 8583 dialect

usage: acqhost <command> [flags]

  serve --config FILE [--listen ADDR] [--db FILE] [--admin 127.0.0.1:PORT]
        [--latency 60ms] [--drop-every N] [--close-after N] [--no-answer-98=false]
        [--log-level debug|info|warn]
                              run the host (flags override the config file)
  ls      (--db FILE | --admin URL) [--tid T]      received transactions, masked
  export  (--db FILE | --admin URL) (--csv | --json) [--tid T]
  batches (--db FILE | --admin URL) [--tid T] [--json]
  config sample               print a commented sample config
  config check FILE           validate a config file
  version

While serve runs it holds the db file locked: read through --admin URL.
See docs/acqhost.md for the test-card rules, dedupe and reconciliation.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintf(stdout, "acqhost %s (commit %s) %s/%s %s\n", version, commit, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return nil
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "ls":
		return cmdLs(ctx, rest, stdout, stderr)
	case "export":
		return cmdExport(ctx, rest, stdout, stderr)
	case "batches":
		return cmdBatches(ctx, rest, stdout, stderr)
	case "config":
		return cmdConfig(rest, stdout)
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", cmd)
}

// newFlags returns a flag set that reports errors as usage errors.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usageError{"help requested"}
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func cmdConfig(args []string, stdout io.Writer) error {
	switch {
	case len(args) == 1 && args[0] == "sample":
		fmt.Fprint(stdout, host.SampleConfig)
		return nil
	case len(args) == 2 && args[0] == "check":
		cfg, err := host.LoadConfig(args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok (%d terminals, listen %s, db %s, mac %s)\n", args[1], len(cfg.Terminals), cfg.Listen, cfg.DB, cfg.MAC)
		return nil
	}
	return usagef("usage: acqhost config sample | acqhost config check FILE")
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	cfgPath := fs.String("config", "", "TOML config file (required)")
	listen := fs.String("listen", "", "terminal link address (overrides listen)")
	db := fs.String("db", "", "bbolt file (overrides db)")
	admin := fs.String("admin", "", "admin HTTP API address, loopback only (overrides admin)")
	latency := fs.Duration("latency", 0, "fault: added to every answer")
	dropEvery := fs.Int("drop-every", 0, "fault: drop every Nth answer (0: never)")
	closeAfter := fs.Int("close-after", 0, "fault: close a connection after N messages (0: never)")
	noAnswer98 := fs.Bool("no-answer-98", true, "rule: no answer when the amount or QR code ends in 98")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usagef("serve: --config FILE is required (acqhost config sample prints one)")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usagef("serve: --log-level %q: %v", *level, err)
	}
	cfg, err := host.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "db":
			cfg.DB = *db
		case "admin":
			cfg.Admin = *admin
		case "latency":
			cfg.Faults.Latency = *latency
		case "drop-every":
			cfg.Faults.DropEvery = *dropEvery
		case "close-after":
			cfg.Faults.CloseAfter = *closeAfter
		case "no-answer-98":
			cfg.Faults.NoAnswer98 = *noAnswer98
		}
	})
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	srv, err := host.New(cfg, host.Options{Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "acqhost listening on %s (%d terminals, db %s)\n", ln.Addr(), len(cfg.Terminals), cfg.DB)

	var web *http.Server
	if cfg.Admin != "" {
		aln, err := net.Listen("tcp", cfg.Admin)
		if err != nil {
			return fmt.Errorf("admin listen %s: %w", cfg.Admin, err)
		}
		web = &http.Server{Handler: srv.Admin(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := web.Serve(aln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin: %w", err)
			}
		}()
		fmt.Fprintf(stdout, "acqhost admin on http://%s\n", aln.Addr())
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
	}
	if web != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		web.Shutdown(sctx)
		cancel()
	}
	if cerr := srv.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if errors.Is(err, host.ErrClosed) {
		err = nil
	}
	return err
}
