package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/posagent/posagent/board"
	"github.com/posagent/posagent/core/acquirer"
	"github.com/posagent/posagent/core/api"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/config"
	link_ "github.com/posagent/posagent/core/link"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/redact"
	"github.com/posagent/posagent/core/risk"
	coresync "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run")
	cfgPath := fs.String("config", envOr("POSAGENT_CONFIG", "/etc/posagent/posagent.toml"), "config file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log.Level)
	loc, err := cfg.Terminal.Location()
	if err != nil {
		return fmt.Errorf("terminal.timezone: %w", err)
	}
	log.Info("posagent starting", "version", version, "commit", commit, "config", *cfgPath, "board", cfg.Board.Profile)

	// The journal first: a second agent on the same journal stops here.
	jr, jerr := openJournal(cfg, log)
	if jerr != nil {
		if errors.Is(jerr, store.ErrLocked) {
			return fmt.Errorf("%w\nanother posagent is already running on this journal; stop it first (systemctl stop posagent)", jerr)
		}
		// Invariant 8: the agent still starts so a technician can see why,
		// the file stays as it is, and payments are refused.
		log.Error("journal cannot be trusted: payments are refused until a technician recovers it",
			"journal", cfg.Journal.Path, "err", jerr)
	}
	if jr != nil {
		defer jr.Close()
	}

	clk := clock.System{}
	dev, err := board.Open(ctx, cfg, clk, log)
	if err != nil {
		return fmt.Errorf("board %q: %w", cfg.Board.Profile, err)
	}
	defer dev.Close()

	var journal payment.Journal = unavailableJournal{err: jerr}
	if jr != nil {
		journal = jr
	}
	// The acquirer: the ISO 8583 link when a host is configured, else the
	// board's development stand-in.
	acq := dev.Acquirer
	var link *acquirer.Acquirer
	var fwd *coresync.Forwarder
	var mon *link_.Monitor
	if cfg.Acquirer.Primary != "" {
		if jr == nil {
			log.Error("acquirer link not started: it needs the journal (keys, batch)")
		} else if link, err = openLink(cfg, jr, loc, clk, log); err != nil {
			return fmt.Errorf("acquirer: %w", err)
		} else {
			defer link.Close()
			acq = link
			// Connectivity from the modem (when the board has one) and the
			// link itself (echo tests while idle).
			lc := link_.Config{Prober: link, Clock: clk, Log: log.With("component", "link")}
			if dev.Modem != nil {
				lc.Modem = modemAdapter{dev.Modem}
			}
			if mon, err = link_.New(lc); err != nil {
				return fmt.Errorf("link monitor: %w", err)
			}
			// The sales' own requests report to the monitor too, so a host
			// that went away shows at the next sale, not at the next echo.
			acq = reportingAcquirer{Acquirer: link, mon: mon}
			// The forwarder drains reversals and stored offline sales.
			fwd, err = coresync.New(coresync.Config{
				HardStop: cfg.Offline.HardStop, ReversalRetries: cfg.Payment.ReversalRetries, ReversalSpacing: cfg.Payment.ReversalSpacing,
				Currency: cfg.Terminal.Currency,
			}, coresync.Deps{Journal: jr, Sender: senderAdapter{a: link, log: log}, Link: mon, Clock: clk, Log: log.With("component", "forwarder")})
			if err != nil {
				return fmt.Errorf("forwarder: %w", err)
			}
			journal = kickingJournal{Journal: jr, kick: fwd.Kick}
			go func() {
				sctx, cancel := context.WithTimeout(ctx, cfg.Acquirer.ConnectTimeout+cfg.Payment.AuthTimeout)
				defer cancel()
				if err := link.SignIn(sctx); err != nil {
					log.Warn("sign-in at start failed; the link signs in before the next request", "err", err)
				} else {
					log.Info("signed in to the acquirer", "host", link.Status().Host)
				}
			}()
		}
	}
	if acq == nil {
		return fmt.Errorf("no acquirer: set [acquirer] primary (the board %q has no stand-in)", cfg.Board.Profile)
	}
	pdeps := payment.Deps{
		Journal: journal, Cards: dev.Cards, Acquirer: acq, Printer: dev.Printer,
		Indicator: dev.Indicator, Clock: clk, Log: log,
	}
	if jr != nil {
		pdeps.Outbox = jr
	}
	if link != nil {
		pdeps.LinkInfo = linkInfo(link, jr)
	}
	eng, err := payment.New(payment.Config{
		Currency:        cfg.Terminal.Currency,
		CardTimeout:     cfg.Payment.CardTimeout,
		AuthTimeout:     cfg.Payment.AuthTimeout,
		ReversalRetries: cfg.Payment.ReversalRetries,
		ReversalSpacing: cfg.Payment.ReversalSpacing,
		Limits:          risk.PaymentFromConfig(cfg.Payment),
		Offline:         risk.FromConfig(cfg.Offline),
		Merchant:        receipt.Merchant{Name: cfg.Terminal.MerchantName},
		Location:        loc,
	}, pdeps)
	if err != nil {
		return err
	}
	if jr != nil && jerr == nil {
		if err := eng.Recover(ctx); err != nil {
			log.Error("recovering transactions left pending by the last run", "err", err)
		}
	}
	engCtx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()
	if fwd != nil {
		go func() { _ = mon.Run(engCtx) }()
		go func() { _ = fwd.Run(engCtx) }()
		go printNotices(engCtx, fwd, journal, receipt.Merchant{Name: cfg.Terminal.MerchantName}, loc, log)
		go refreshAfterPasses(engCtx, fwd, eng)
	}

	var apiJournal api.Journal
	if jr != nil {
		apiJournal = journalView{jr}
	}
	diag := func(ctx context.Context) (any, bool) {
		d := board.Diagnose(ctx, dev)
		return d, d.OK()
	}
	acfg := api.Config{Currency: cfg.Terminal.Currency, Version: version, Extra: dev.Extra, Diag: diag,
		Gate: dev.Gate, ClearTamper: dev.ClearTamper, Clock: clk}
	if fwd != nil {
		acfg.Forwarder = fwd
		acfg.RetryReversal = func(ctx context.Context, id txn.ID) error {
			rec, err := jr.Get(ctx, id)
			if err != nil {
				return err
			}
			if rec.State != txn.ReversalFailed {
				return fmt.Errorf("transaction %s is %s, not reversal_failed", id, rec.State)
			}
			if _, err := jr.Transition(ctx, id, txn.ReversalPending, txn.Outcome{}, "technician retry of a failed reversal"); err != nil {
				return err
			}
			log.Warn("technician put a failed reversal back in the queue", "txn", id)
			fwd.Kick()
			return nil
		}
	}
	srv := api.New(acfg, eng, apiJournal, log)
	ln, err := listenUnix(cfg.API.Socket)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	if cfg.API.TCP != "" {
		tok, err := os.ReadFile(cfg.API.TokenFile)
		if err != nil {
			return fmt.Errorf("api.token_file: %w", err)
		}
		// The same API as on the socket (tamper gate, diag, sync), behind
		// the bearer token.
		tcfg := acfg
		tcfg.Token = strings.TrimSpace(string(tok))
		tsrv := api.New(tcfg, eng, apiJournal, log)
		tln, err := net.Listen("tcp", cfg.API.TCP)
		if err != nil {
			return fmt.Errorf("api.tcp %s: %w", cfg.API.TCP, err)
		}
		ths := &http.Server{Handler: tsrv, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- ths.Serve(tln) }()
		defer ths.Close()
	}
	log.Info("ready", "socket", cfg.API.Socket, "journal", cfg.Journal.Path, "journal_ok", jerr == nil)
	fmt.Fprintf(stdout, "posagent %s ready: api on %s\n", version, cfg.API.Socket)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errc:
		log.Error("api server stopped", "err", err)
	case err := <-engDone:
		log.Error("payment engine stopped", "err", err)
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(shCtx)
	stopEngine()
	_ = os.Remove(cfg.API.Socket)
	return nil
}

func openJournal(cfg *config.Config, log *slog.Logger) (*store.Journal, error) {
	create := cfg.Board.Profile == "sim" || cfg.Board.Profile == "standin" // development boards make their own key
	key, err := store.LoadDeviceKey(cfg.Journal.KeyFile, create)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	return store.Open(store.Options{
		Path: cfg.Journal.Path, Key: key, TID: cfg.Terminal.TID, MID: cfg.Terminal.MID,
		LockTimeout: cfg.Journal.LockTimeout, Logger: log,
	})
}

// listenUnix listens on a unix socket, replacing a stale socket file left
// by a crashed agent but never one a live agent still answers on.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("api.socket %s: another agent is answering on it", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	return ln, nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(redact.NewHandler(h))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
