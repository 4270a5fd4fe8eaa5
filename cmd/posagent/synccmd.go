package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/posagent/posagent/core/money"
	coresync "github.com/posagent/posagent/core/sync"
)

// cmdSync: posagent sync [--wait]. Without --wait the agent is asked to
// drain its outbox now; with it, the drain runs while a progress bar shows
// count, amount, rate and ETA, until the outbox is empty or the link fails.
func cmdSync(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("sync")
	var cf clientFlags
	cf.register(fs)
	wait := fs.Bool("wait", false, "drain now and show progress until done")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	if !*wait {
		if err := cl.SyncKick(ctx); err != nil {
			return err
		}
		_, err := fmt.Fprintln(stdout, "drain started; posagent status shows the outbox, posagent sync --wait follows it")
		return err
	}
	var lines lineThrottle
	tty := isTerminal(stdout)
	rep, err := cl.SyncDrain(ctx, func(p coresync.Progress) {
		switch {
		case tty:
			fmt.Fprintf(stdout, "\r%s", progressLine(p))
		case lines.due(p):
			// A log or a pipe gets whole lines, a few per drain, not a
			// stream of carriage returns.
			fmt.Fprintln(stdout, strings.TrimRight(progressLine(p), " "))
		}
	})
	if tty {
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "forwarded %d approved, %d declined after forward, %d expired, %d to retry, %d not sent; reversals %d sent, %d failed\n",
		rep.Approved, rep.Declined, rep.Expired, rep.Retry, rep.NotSent, rep.Reversed, rep.ReversalsFailed)
	if err != nil {
		return exitStatus{code: 1, err: fmt.Errorf("sync stopped: %w", err)}
	}
	return nil
}

// progressLine draws "[#####-----] 12/40  CNY 120.00/400.00  35/min  ETA 48s".
func progressLine(p coresync.Progress) string {
	const width = 24
	fill := 0
	if p.Total > 0 {
		fill = (p.Done + p.Failed) * width / p.Total
	}
	bar := strings.Repeat("#", fill) + strings.Repeat("-", width-fill)
	amt := ""
	if done, err := money.Format(p.AmountDone.Minor, p.AmountDone.Currency); err == nil {
		total, _ := money.Format(p.AmountTotal.Minor, p.AmountTotal.Currency)
		amt = fmt.Sprintf("  %s %s/%s", p.AmountTotal.Currency, done, total)
	}
	eta := ""
	if p.ETA > 0 {
		eta = "  ETA " + p.ETA.Round(time.Second).String()
	}
	phase := p.Phase
	if phase == "" {
		phase = "idle"
	}
	return fmt.Sprintf("[%s] %d/%d%s  %d/min%s  (%s)   ", bar, p.Done, p.Total, amt, p.PerMinute, eta, phase)
}

// isTerminal reports whether w is a terminal (a character device), where
// the progress bar redraws itself in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// lineThrottle decides which progress updates get a line of their own
// when the output is not a terminal: a change of phase, and every tenth
// of the way through the records.
type lineThrottle struct {
	phase string
	step  int
	began bool
}

func (l *lineThrottle) due(p coresync.Progress) bool {
	step := 0
	if p.Total > 0 {
		step = (p.Done + p.Failed) * 10 / p.Total
	}
	if l.began && p.Phase == l.phase && step == l.step {
		return false
	}
	l.began, l.phase, l.step = true, p.Phase, step
	return true
}
