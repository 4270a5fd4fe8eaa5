package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posagent/posagent/core/api"
	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	socket, config string
}

func (c *clientFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	fs.StringVar(&c.socket, "socket", os.Getenv("POSAGENT_SOCKET"), "agent API socket")
	fs.StringVar(&c.config, "config", os.Getenv("POSAGENT_CONFIG"), "agent config file")
}

// loadConfig returns the config named by --config, or nil when none is.
func (c *clientFlags) loadConfig() (*config.Config, error) {
	if c.config == "" {
		return nil, nil
	}
	return config.Load(c.config)
}

func (c *clientFlags) client() (*api.Client, error) {
	sock := c.socket
	if sock == "" {
		cfg, err := c.loadConfig()
		if err != nil {
			return nil, err
		}
		if cfg != nil {
			sock = cfg.API.Socket
		} else {
			sock = config.Default().API.Socket
		}
	}
	return api.NewUnixClient(sock), nil
}

func cmdPay(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("pay")
	var cf clientFlags
	cf.register(fs)
	mode := fs.String("mode", "", "accept only this entry mode: contactless, keyed or qr")
	jsonOut := fs.Bool("json", false, "print events as JSON lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("pay: want exactly one amount, e.g. posagent pay 12.34")
	}
	amount := fs.Arg(0)
	var modes []txn.EntryMode
	if *mode != "" {
		modes = []txn.EntryMode{txn.EntryMode(*mode)}
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	sid, err := cl.StartSale(ctx, amount, modes)
	if err != nil {
		return fmt.Errorf("pay %s: %w", amount, err)
	}
	var last payment.Event
	err = cl.Follow(ctx, sid, func(ev payment.Event) {
		last = ev
		if *jsonOut {
			b, _ := json.Marshal(ev)
			fmt.Fprintln(stdout, string(b))
			return
		}
		fmt.Fprintln(stdout, describeEvent(ev))
	})
	if errors.Is(err, context.Canceled) {
		// Ctrl-C: ask the agent to cancel if it is still waiting for a card.
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = cl.Cancel(cctx, sid)
		return fmt.Errorf("pay: interrupted; cancel requested for sale %s", sid)
	}
	if err != nil {
		return err
	}
	// Approved online, or stored offline (deferred authorisation: the
	// customer leaves with the goods; the receipt says so) end a sale.
	if last.Record != nil && last.Record.State != txn.Approved && last.Record.State != txn.StoredOffline {
		return exitStatus{code: 1, err: fmt.Errorf("sale not approved: %s", last.Record.State)}
	}
	if last.Step == payment.StepFailed || last.Step == payment.StepCancelled {
		return exitStatus{code: 1, err: fmt.Errorf("sale %s: %s", last.Step, last.Message)}
	}
	return nil
}

func describeEvent(ev payment.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-18s", ev.At.Local().Format("15:04:05.000"), ev.Step)
	if ev.Message != "" {
		b.WriteString(" " + ev.Message)
	}
	if r := ev.Record; r != nil && ev.Final {
		amt, _ := money.Format(r.Amount.Minor, r.Amount.Currency)
		fmt.Fprintf(&b, "\n  txn %s  %s %s  %s  card %s  STAN %06d  auth %s  rrn %s",
			r.ID, r.Amount.Currency, amt, r.State, r.MaskedPAN, r.Identity.STAN, r.Outcome.AuthCode, r.Outcome.RRN)
	}
	return b.String()
}

func cmdStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("status")
	var cf clientFlags
	cf.register(fs)
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	raw, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if *jsonOut {
		_, err := fmt.Fprintln(stdout, string(raw))
		return err
	}
	var st api.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "agent       %s\n", st.Version)
	e := st.Engine
	busy := "idle"
	if e.Busy {
		busy = "busy (sale " + e.Session + ")"
	}
	fmt.Fprintf(stdout, "payments    %s\n", busy)
	if st.Locked != "" {
		fmt.Fprintf(stdout, "LOCKED      %s\n", st.Locked)
	}
	fmt.Fprintf(stdout, "reversals   %d pending\n", e.ReversalsPending)
	fmt.Fprintf(stdout, "print queue %d\n", e.PrintQueue)
	if st.JournalError != "" || e.JournalErr != "" {
		fmt.Fprintf(stdout, "journal     UNTRUSTED: payments refused: %s%s\n", st.JournalError, e.JournalErr)
		return nil
	}
	var js store.Stats
	raw2, _ := json.Marshal(st.Journal)
	if err := json.Unmarshal(raw2, &js); err != nil {
		return fmt.Errorf("status: journal stats: %w", err)
	}
	fmt.Fprintf(stdout, "journal     ok: %d transactions %v\n", js.Records, js.States)
	fmt.Fprintf(stdout, "outbox      %d stored", js.Outbox)
	if js.Outbox > 0 {
		fmt.Fprintf(stdout, ", oldest %s", js.OutboxOldest.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(stdout)
	if st.Sync != nil {
		sy := st.Sync
		if sy.Link != nil {
			state := "DOWN"
			if sy.Link.Up {
				state = "up"
			}
			fmt.Fprintf(stdout, "link        %s since %s: %s\n", state, sy.Link.Since.UTC().Format(time.RFC3339), sy.Link.Reason)
			if sy.Link.Modem != nil {
				m := sy.Link.Modem
				fmt.Fprintf(stdout, "modem       sim ready %v, registered %v %s, signal %d dBm\n", m.SIMReady, m.Registered, m.Operator, m.SignalDBm)
			}
		}
		fmt.Fprintf(stdout, "forwarder   outbox %d (oldest %s), reversals %d pending %d failed, last success %s",
			sy.Outbox.Depth, sy.Outbox.OldestAge.Round(time.Second), sy.Reversals, sy.ReversalsFailed, fmtTime(sy.LastSuccess))
		if sy.LastErr != "" {
			fmt.Fprintf(stdout, ", last error: %s", sy.LastErr)
		}
		fmt.Fprintln(stdout)
	}
	if off := e.Offline; off.Enabled {
		armed := "armed"
		if !off.Armed {
			armed = "NOT armed: " + off.Reason
		}
		fmt.Fprintf(stdout, "offline     %s", armed)
		if off.Warn != "" {
			fmt.Fprintf(stdout, "; WARNING %s", off.Warn)
		}
		fmt.Fprintln(stdout)
	}
	c := js.Counters
	fmt.Fprintf(stdout, "terminal    TID %s MID %s batch %06d, last STAN %06d, last invoice %06d\n", c.TID, c.MID, c.Batch, c.STAN, c.Invoice)
	return nil
}

func cmdJournal(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("journal: want ls, show ID, export or verify")
	}
	sub, rest := args[0], args[1:]
	fs := newFlags("journal " + sub)
	var cf clientFlags
	cf.register(fs)
	file := fs.String("file", "", "read this journal file directly (the agent must be stopped)")
	jsonOut := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 50, "ls: how many, newest first")
	csvOut := fs.Bool("csv", false, "export: CSV instead of JSON")
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	src, err := openJournalSource(ctx, &cf, *file)
	if err != nil {
		return err
	}
	defer src.close()
	switch sub {
	case "ls":
		recs, err := src.recent(ctx, *limit)
		if err != nil {
			return err
		}
		if *jsonOut {
			return writeJSONOut(stdout, recs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED (UTC)\tTYPE\tENTRY\tAMOUNT\tSTATE\tCARD\tBATCH\tSTAN\tAUTH")
		for _, r := range recs {
			amt, _ := money.Format(r.Amount.Minor, r.Amount.Currency)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%s\t%s\t%06d\t%06d\t%s\n", r.ID, r.Created.UTC().Format("2006-01-02 15:04:05"),
				r.Type, r.Entry, r.Amount.Currency, amt, r.State, r.MaskedPAN, r.Identity.Batch, r.Identity.STAN, r.Outcome.AuthCode)
		}
		return tw.Flush()
	case "show":
		if fs.NArg() != 1 {
			return usagef("journal show: want one transaction ID")
		}
		rec, err := src.get(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return writeJSONOut(stdout, api.Masked(rec))
	case "export":
		format := "json"
		if *csvOut {
			format = "csv"
		}
		return src.export(ctx, stdout, format)
	case "verify":
		rep, ok, err := src.verify(ctx)
		if err != nil {
			return err
		}
		if *jsonOut {
			if err := writeJSONOut(stdout, rep); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(stdout, describeReport(rep, ok))
		}
		if !ok {
			return exitStatus{code: 1, err: errors.New("journal verify found problems")}
		}
		return nil
	}
	return usagef("journal: unknown subcommand %q (want ls, show, export or verify)", sub)
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdConfig(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("config: want check FILE or sample")
	}
	switch args[0] {
	case "sample":
		_, err := fmt.Fprint(stdout, config.Sample())
		return err
	case "check":
		if len(args) != 2 {
			return usagef("config check: want one file")
		}
		cfg, err := config.Load(args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok (terminal %s, merchant %s, board %s, journal %s)\n", args[1],
			cfg.Terminal.TID, cfg.Terminal.MID, cfg.Board.Profile, cfg.Journal.Path)
		return nil
	}
	return usagef("config: unknown subcommand %q", args[0])
}

func cmdSim(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "tap" {
		return usagef("sim: want tap [SCHEME]")
	}
	fs := newFlags("sim tap")
	var cf clientFlags
	cf.register(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	scheme := "UnionPay"
	if fs.NArg() > 0 {
		scheme = fs.Arg(0)
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	var out map[string]string
	if err := cl.Post(ctx, "/v1/sim/tap", map[string]string{"scheme": scheme}, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tapped %s test card %s\n", scheme, out["masked_pan"])
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
