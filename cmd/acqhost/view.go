package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posagent/posagent/cmd/acqhost/host"
	"github.com/posagent/posagent/core/money"
)

// ErrAdmin wraps failures talking to a running host's admin API.
var ErrAdmin = errors.New("acqhost: admin API")

// adminTimeout bounds one admin API request.
const adminTimeout = 10 * time.Second

// maxAdminResponse bounds what an admin answer may hold.
const maxAdminResponse = 256 << 20

// source is where the operator views read from: the db file, or a running
// host's admin API (bbolt locks the file while the host runs).
type source struct {
	db    string
	admin string
}

func sourceFlags(fs *flag.FlagSet) *source {
	s := &source{}
	fs.StringVar(&s.db, "db", "", "bbolt file of a stopped host")
	fs.StringVar(&s.admin, "admin", "", "admin API of a running host, e.g. http://127.0.0.1:5080 (wins over --db)")
	return s
}

func (s *source) check(cmd string) error {
	if s.db == "" && s.admin == "" {
		return usagef("%s: give --db FILE or --admin URL", cmd)
	}
	return nil
}

func (s *source) transactions(ctx context.Context, tid string) ([]host.Txn, error) {
	var out []host.Txn
	if s.admin != "" {
		return out, s.get(ctx, "/transactions", tid, &out)
	}
	st, err := host.OpenStore(s.db, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Transactions(tid)
}

func (s *source) batches(ctx context.Context, tid string) ([]host.Batch, error) {
	var out []host.Batch
	if s.admin != "" {
		return out, s.get(ctx, "/batches", tid, &out)
	}
	st, err := host.OpenStore(s.db, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Batches(tid)
}

func (s *source) get(ctx context.Context, path, tid string, v any) error {
	base := s.admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + path)
	if err != nil {
		return usagef("--admin %q: %v", s.admin, err)
	}
	if tid != "" {
		u.RawQuery = url.Values{"tid": {tid}}.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAdmin, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAdmin, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse))
	if err != nil {
		return fmt.Errorf("%w: GET %s: %w", ErrAdmin, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: %s: %s", ErrAdmin, u, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: GET %s: %w", ErrAdmin, u, err)
	}
	return nil
}

// amount formats minor units in the transaction's currency.
func amount(minor int64, currency string) string {
	c := money.CNY
	if n, err := strconv.Atoi(currency); err == nil && n > 0 && n < 1000 {
		c = money.Currency(n)
	}
	if s, err := money.Format(minor, c); err == nil {
		return s
	}
	return strconv.FormatInt(minor, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ls", stderr)
	src := sourceFlags(fs)
	tid := fs.String("tid", "", "only this terminal")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := src.check("ls"); err != nil {
		return err
	}
	ts, err := src.transactions(ctx, *tid)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tTID\tBATCH\tSTAN\tMTI\tTYPE\tAMOUNT\tPAN\tRC\tSTATE")
	for _, t := range ts {
		state := string(t.State)
		if t.Repeats > 0 {
			state += fmt.Sprintf(" (+%d repeats)", t.Repeats)
		}
		if t.NoAnswer {
			state += " (not answered)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			t.Time.UTC().Format("2006-01-02 15:04:05"), t.TID, t.Batch, t.STAN, t.MTI, t.Kind,
			amount(t.Amount, t.Currency), dash(t.MaskedPAN), t.RC, state)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d messages\n", len(ts))
	return nil
}

// csvHeader is the column list of `acqhost export --csv`.
var csvHeader = []string{"time", "tid", "mid", "batch", "stan", "mti", "class", "type", "amount", "amount_minor",
	"currency", "masked_pan", "org", "domestic", "rc", "auth_code", "rrn", "state", "orig_batch", "orig_stan",
	"orig_date", "refunded_minor", "records", "repeats", "no_answer", "note"}

func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", stderr)
	src := sourceFlags(fs)
	tid := fs.String("tid", "", "only this terminal")
	asCSV := fs.Bool("csv", false, "CSV with a header row")
	asJSON := fs.Bool("json", false, "a JSON array")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := src.check("export"); err != nil {
		return err
	}
	if *asCSV == *asJSON {
		return usagef("export: give exactly one of --csv and --json")
	}
	ts, err := src.transactions(ctx, *tid)
	if err != nil {
		return err
	}
	if *asJSON {
		if ts == nil {
			ts = []host.Txn{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ts)
	}
	w := csv.NewWriter(stdout)
	w.Write(csvHeader)
	for _, t := range ts {
		var ob, os, od string
		if t.Orig != nil {
			ob, os, od = t.Orig.Batch, t.Orig.STAN, t.Orig.Date
		}
		w.Write([]string{
			t.Time.UTC().Format(time.RFC3339Nano), t.TID, t.MID, t.Batch, t.STAN, t.MTI, string(t.Class), string(t.Kind),
			amount(t.Amount, t.Currency), strconv.FormatInt(t.Amount, 10), t.Currency, t.MaskedPAN, t.Org,
			strconv.FormatBool(t.Domestic), t.RC, t.AuthCode, t.RRN, string(t.State), ob, os, od,
			strconv.FormatInt(t.Refunded, 10), strconv.Itoa(t.Records), strconv.Itoa(t.Repeats),
			strconv.FormatBool(t.NoAnswer), t.Note,
		})
	}
	w.Flush()
	return w.Error()
}

func cmdBatches(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("batches", stderr)
	src := sourceFlags(fs)
	tid := fs.String("tid", "", "only this terminal")
	asJSON := fs.Bool("json", false, "a JSON array")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := src.check("batches"); err != nil {
		return err
	}
	bs, err := src.batches(ctx, *tid)
	if err != nil {
		return err
	}
	if *asJSON {
		if bs == nil {
			bs = []host.Batch{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(bs)
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TID\tBATCH\tSTATE\tOPENED\tCLOSED\tDEBIT (DOM)\tCREDIT (DOM)\tDEBIT (FOR)\tCREDIT (FOR)\tSETTLEMENT\tUPLOADED")
	for _, b := range bs {
		closed := "-"
		if !b.Closed.IsZero() {
			closed = b.Closed.UTC().Format("2006-01-02 15:04:05")
		}
		settle := "-"
		if s := b.Settlement; s != nil {
			settle = "balanced"
			if !s.Balanced {
				settle = "not balanced (" + s.DomesticDigit + s.ForeignDigit + ")"
			}
		}
		uploaded := "-"
		if b.UploadMessages > 0 || b.EndCode != "" {
			uploaded = fmt.Sprintf("%d records / %d msgs, end %s", b.UploadRecords, b.UploadMessages, dash(b.EndCode))
		}
		tot := func(a int64, n int) string { return fmt.Sprintf("%s × %d", amount(a, ""), n) }
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.TID, b.Batch, b.State,
			b.Opened.UTC().Format("2006-01-02 15:04:05"), closed,
			tot(b.Host.Domestic.DebitAmount, b.Host.Domestic.DebitCount), tot(b.Host.Domestic.CreditAmount, b.Host.Domestic.CreditCount),
			tot(b.Host.Foreign.DebitAmount, b.Host.Foreign.DebitCount), tot(b.Host.Foreign.CreditAmount, b.Host.Foreign.CreditCount),
			settle, uploaded)
	}
	return w.Flush()
}
