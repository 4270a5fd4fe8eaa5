package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

// Engine runs sales one at a time, and in the background (Run) retries
// pending reversals and drains the durable print queue. Its methods are
// safe for concurrent use.
type Engine struct {
	cfg   Config
	j     Journal
	cards CardSource
	acq   Acquirer
	prn   Printer
	ind   Indicator
	clk   clock.Clock
	log   *slog.Logger
	// ob reads the journal's outbox and daily totals; nil: offline is
	// never allowed. linkInfo reports the last sign-in; nil: never.
	ob       OutboxStats
	linkInfo func() risk.Link

	// revSem serialises reversal work (a sale's "reversal first" step,
	// the attempt right after a timeout, Run's retries) so a reversal is
	// never sent twice at once and its journal moves never race.
	revSem chan struct{}
	// prnSem serialises printing between a sale and Run.
	prnSem chan struct{}
	// kick and printKick wake Run's reversal and print loops.
	kick      chan struct{}
	printKick chan struct{}
	running   atomic.Bool

	mu         sync.Mutex
	cur        *Session
	recovering bool
	last       *Result
	counts     counts
	// stranded holds transactions whose request may have left but whose
	// outcome could not be journaled (the journal failed): they are still
	// Pending in the journal. The next reversal pass moves them to
	// ReversalPending, and until then they block new sales like a pending
	// reversal. Lost on a crash, which is what Recover is for.
	stranded map[txn.ID]string
	// printed holds print jobs that printed but whose PrintDone failed, so
	// a retry marks them done instead of printing them twice.
	printed map[uint64]bool
	// outbox is the last outbox read, for Status.
	outbox outboxCache
}

type counts struct {
	reversalsPending int
	reversalsFailed  int
	printQueue       int
	at               time.Time
	err              string
}

// New checks cfg and d and returns an engine. A missing required
// dependency or an out-of-range setting is an error wrapping ErrConfig
// that names it.
func New(cfg Config, d Deps) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err = d.check(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Offline.Enabled && d.Outbox == nil {
		d.Log.Warn("offline sales are enabled but no outbox statistics are wired (Deps.Outbox): every offline sale will be refused")
	}
	return &Engine{
		cfg: cfg, j: d.Journal, cards: d.Cards, acq: d.Acquirer, prn: d.Printer,
		ind: d.Indicator, clk: d.Clock, log: d.Log, ob: d.Outbox, linkInfo: d.LinkInfo,
		revSem:    make(chan struct{}, 1),
		prnSem:    make(chan struct{}, 1),
		kick:      make(chan struct{}, 1),
		printKick: make(chan struct{}, 1),
		stranded:  map[txn.ID]string{},
		printed:   map[uint64]bool{},
	}, nil
}

// Config returns the configuration in effect, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// allModes is what "Modes empty" means.
var allModes = []txn.EntryMode{txn.Contactless, txn.Keyed, txn.QR}

// StartSale checks the request and starts the sale in the background; it
// returns at once. Follow the sale through the Session. ctx gives the sale
// its values (logging, tracing) but not its lifetime: a sale runs to an
// outcome even after the caller has gone, every wait in it is bounded by
// the configured timeouts, and Session.Cancel stops it while the card is
// awaited.
//
// The payment limits that do not depend on the card are checked here,
// before the card is read: the per-transaction maximum, the daily maximum
// against the journal's total for the local day (Deps.Outbox.SalesTotal)
// and the per-entry-mode maxima, which narrow the modes offered to the
// card source to those that allow the amount.
//
// Errors: ErrAmount (zero, negative, above a maximum or money.MaxMinor,
// other currency; a limit's refusal also matches risk.ErrLimit and names
// the limit's config key), ErrEntryMode, ErrJournal (the journal reports
// it cannot be trusted, or the day's total could not be read: payments
// are refused), ErrBusy (a sale or recovery is in progress).
func (e *Engine) StartSale(ctx context.Context, r SaleRequest) (*Session, error) {
	if err := e.checkAmount(r.Amount); err != nil {
		return nil, err
	}
	for i, m := range r.Modes {
		if !m.Valid() {
			return nil, fmt.Errorf("%w: Modes[%d] = %q", ErrEntryMode, i, m)
		}
	}
	req := SaleRequest{Amount: r.Amount, Modes: slices.Clone(r.Modes)}
	if len(req.Modes) == 0 {
		req.Modes = slices.Clone(allModes)
	}
	// Per-mode maxima: offer only the modes that allow the amount.
	var refused []error
	req.Modes = slices.DeleteFunc(req.Modes, func(m txn.EntryMode) bool {
		if e.cfg.Limits.ModeAllows(m, r.Amount.Minor) {
			return false
		}
		refused = append(refused, risk.CheckPayment(e.cfg.Limits, r.Amount, m, 0))
		return true
	})
	if len(req.Modes) == 0 {
		return nil, fmt.Errorf("%w: no entry mode allows it: %w", ErrAmount, errors.Join(refused...))
	}
	if err := e.j.Health(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJournal, err)
	}
	today, err := e.checkDaily(ctx, r.Amount)
	if err != nil {
		return nil, err
	}
	id, err := newSessionID()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	switch {
	case e.cur != nil:
		cur := e.cur.id
		e.mu.Unlock()
		return nil, fmt.Errorf("%w (session %s)", ErrBusy, cur)
	case e.recovering:
		e.mu.Unlock()
		return nil, fmt.Errorf("%w (startup recovery running)", ErrBusy)
	}
	base := context.WithoutCancel(ctx)
	s := newSession(id, req, e.clk, base)
	s.today = today
	s.expect(e.clk.Now().Add(e.cfg.StuckMargin))
	e.cur = s
	e.mu.Unlock()

	s.emit(StepAmountConfirmed, nil, r.Amount.String())
	e.log.Info("sale started", "session", id, "amount", r.Amount.String(), "modes", req.Modes)
	go e.runSale(s.life, s)
	return s, nil
}

func (e *Engine) checkAmount(a money.Amount) error {
	if a.Currency != e.cfg.Currency {
		return fmt.Errorf("%w: currency %s, the terminal takes %s only", ErrAmount, a.Currency, e.cfg.Currency)
	}
	if a.Minor <= 0 {
		return fmt.Errorf("%w: %d minor units, must be above zero", ErrAmount, a.Minor)
	}
	if a.Minor > money.MaxMinor {
		return fmt.Errorf("%w: %s is above the maximum the terminal handles of %s", ErrAmount, a, money.Amount{Minor: money.MaxMinor, Currency: a.Currency})
	}
	if err := risk.CheckPayment(e.cfg.Limits, a, "", 0); err != nil && !isDaily(err) {
		return fmt.Errorf("%w: %w", ErrAmount, err)
	}
	return nil
}

// checkDaily checks the daily maximum against the journal's total for the
// local day and returns that total.
func (e *Engine) checkDaily(ctx context.Context, a money.Amount) (int64, error) {
	if e.cfg.Limits.DailyMax <= 0 {
		return 0, nil
	}
	from, to := e.dayBounds(e.clk.Now())
	today, err := e.ob.SalesTotal(ctx, a.Currency, from, to)
	if err != nil {
		return 0, fmt.Errorf("%w: reading the day's sales total for payment.daily_max: %w", ErrJournal, err)
	}
	if err := risk.CheckPayment(e.cfg.Limits, a, "", today); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrAmount, err)
	}
	return today, nil
}

// isDaily reports whether err is a refusal by the daily maximum.
func isDaily(err error) bool {
	var le *risk.LimitError
	return errors.As(err, &le) && le.Limit == risk.LimitDailyMax
}

func newSessionID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("payment: session id: %w", err)
	}
	return "sale-" + hex.EncodeToString(b[:]), nil
}

// Status is a snapshot of the engine for the local API and
// `posagent status`.
type Status struct {
	Busy    bool   `json:"busy"`
	Session string `json:"session,omitempty"` // the sale in progress
	Step    Step   `json:"step,omitempty"`    // its latest step
	// ReversalsPending counts reversals waiting to be sent; while it is
	// not zero new sales first try to send them (DESIGN.md invariant 4).
	ReversalsPending int `json:"reversals_pending"`
	// ReversalsFailed counts reversals flagged for manual handling after
	// ReversalRetries unacknowledged attempts.
	ReversalsFailed int `json:"reversals_failed"`
	// Unrecorded counts transactions whose outcome could not be journaled
	// and that wait to be moved to the reversal queue.
	Unrecorded int `json:"unrecorded,omitempty"`
	// PrintQueue counts receipts waiting in the durable print queue.
	PrintQueue int `json:"print_queue"`
	// CountsAt is when the counts above were read from the journal (after
	// every sale, Recover and Run pass).
	CountsAt time.Time `json:"counts_at"`
	// JournalErr is set while the journal cannot be trusted (payments are
	// refused), or when the last count could not be read.
	JournalErr  string  `json:"journal_err,omitempty"`
	Running     bool    `json:"running"` // Run is active
	LastOutcome *Result `json:"last_outcome,omitempty"`
	// Offline is the offline mode: enabled, armed or why not, the outbox
	// as of CountsAt (or the last offline decision), and a warning once the
	// oldest stored sale is past the forward window.
	Offline OfflineStatus `json:"offline"`
}

// Status returns a snapshot. It asks the journal only for its health and
// the link for its last sign-in (Deps.LinkInfo); the queue counts and the
// outbox are those of the last refresh.
func (e *Engine) Status() Status {
	e.mu.Lock()
	st := Status{
		ReversalsPending: e.counts.reversalsPending,
		ReversalsFailed:  e.counts.reversalsFailed,
		PrintQueue:       e.counts.printQueue,
		CountsAt:         e.counts.at,
		JournalErr:       e.counts.err,
		Unrecorded:       len(e.stranded),
		Running:          e.running.Load(),
	}
	cur := e.cur
	if e.last != nil {
		r := *e.last
		st.LastOutcome = &r
	}
	ob := e.outbox
	e.mu.Unlock()
	if cur != nil {
		st.Busy, st.Session, st.Step = true, cur.id, cur.step()
	}
	st.Offline = e.offlineStatus(ob)
	if err := e.j.Health(); err != nil {
		st.JournalErr = err.Error()
	}
	return st
}

// refresh re-reads the queue counts and the outbox totals from the journal.
func (e *Engine) refresh(ctx context.Context) {
	revs, err1 := e.j.PendingReversals(ctx)
	jobs, err2 := e.j.PrintQueue(ctx)
	var err3 error
	if e.ob != nil {
		_, err3 = e.readOutbox(ctx)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts.at = e.clk.Now().UTC()
	e.counts.err = ""
	if err := errors.Join(err1, err2, err3); err != nil {
		e.counts.err = err.Error()
	}
	if err1 == nil {
		e.counts.reversalsPending, e.counts.reversalsFailed = 0, 0
		for _, r := range revs {
			switch r.State {
			case txn.ReversalPending:
				e.counts.reversalsPending++
			case txn.ReversalFailed:
				e.counts.reversalsFailed++
			}
		}
	}
	if err2 == nil {
		e.counts.printQueue = len(jobs)
	}
}

// Recover is the startup step for transactions left Pending by a crash
// (or by a journal that failed after the request left): cmd calls it once
// at start, before Run and before the first sale. A Pending record's
// request was possibly sent and its outcome is unknown, so each one moves
// to ReversalPending; Run then sends the reversals (a reversal of a
// request the host never saw is acknowledged and harmless, an approval
// nobody was told about must not stand). It returns ErrBusy while a sale
// is in progress, and an error wrapping ErrJournal if the journal could
// not be read or a record could not be moved (the others are still
// moved).
func (e *Engine) Recover(ctx context.Context) error {
	e.mu.Lock()
	if e.cur != nil || e.recovering {
		e.mu.Unlock()
		return fmt.Errorf("%w: recovery needs the engine idle", ErrBusy)
	}
	e.recovering = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.recovering = false
		e.mu.Unlock()
	}()

	recs, err := e.j.Pending(ctx)
	if err != nil {
		return fmt.Errorf("%w: listing pending transactions: %w", ErrJournal, err)
	}
	var errs []error
	for _, r := range recs {
		if r.State != txn.Pending {
			continue
		}
		_, err := e.j.Transition(ctx, r.ID, txn.ReversalPending, txn.Outcome{},
			"found pending at startup: the request may have been sent")
		if err != nil {
			errs = append(errs, fmt.Errorf("txn %s: %w", r.ID, err))
			continue
		}
		e.unstrand(r.ID)
		e.log.Warn("pending transaction found at startup, reversal queued",
			"txn", r.ID, "stan", r.Identity.STAN, "amount", r.Amount.String())
	}
	e.refresh(ctx)
	if len(errs) > 0 {
		return fmt.Errorf("%w: recovery: %w", ErrJournal, errors.Join(errs...))
	}
	e.Kick()
	return nil
}

func (e *Engine) strand(id txn.ID, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stranded[id] = reason
}

func (e *Engine) unstrand(id txn.ID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.stranded, id)
}

func (e *Engine) strandedIDs() []txn.ID {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]txn.ID, 0, len(e.stranded))
	for id := range e.stranded {
		ids = append(ids, id)
	}
	slices.Sort(ids) // journal IDs sort in journal order
	return ids
}

// indicate drives the lights; the indicator's problems are its own.
func (e *Engine) indicate(ctx context.Context, s Signal) { e.ind.Indicate(ctx, s) }

// acquire takes a semaphore, or gives up when ctx is done.
func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquireWithin takes a semaphore, giving up when ctx is done or, if
// within is above zero, when within has passed on the injected clock (a
// bounded wait, as the supervisor sees it). The bound keeps a holder stuck
// in a device or network call that ignores its deadline from stalling a
// sale or one of Run's loops behind it.
func (e *Engine) acquireWithin(ctx context.Context, sem chan struct{}, within time.Duration) error {
	if within <= 0 {
		return acquire(ctx, sem)
	}
	select {
	case sem <- struct{}{}: // free: no timer needed
		return nil
	default:
	}
	wctx, stop := e.bounded(ctx, within)
	defer stop()
	return acquire(wctx, sem)
}

// bounded is withClockTimeout for a device or network wait: it also tells
// the supervisor that the sale in progress (if any) may legitimately run
// until the end of this wait plus StuckMargin.
func (e *Engine) bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	e.mu.Lock()
	cur := e.cur
	e.mu.Unlock()
	if cur != nil {
		cur.expect(e.clk.Now().Add(d + e.cfg.StuckMargin))
	}
	return withClockTimeout(ctx, e.clk, d)
}

func release(sem chan struct{}) { <-sem }
