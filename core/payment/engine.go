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

	// revSem serialises reversal work (a sale's "reversal first" step,
	// the attempt right after a timeout, Run's retries) so a reversal is
	// never sent twice at once and its journal moves never race.
	revSem chan struct{}
	// prnSem serialises printing between a sale and Run.
	prnSem  chan struct{}
	kick    chan struct{}
	running atomic.Bool

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
	d, err = d.check()
	if err != nil {
		return nil, err
	}
	return &Engine{
		cfg: cfg, j: d.Journal, cards: d.Cards, acq: d.Acquirer, prn: d.Printer,
		ind: d.Indicator, clk: d.Clock, log: d.Log,
		revSem:   make(chan struct{}, 1),
		prnSem:   make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),
		stranded: map[txn.ID]string{},
		printed:  map[uint64]bool{},
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
// Errors: ErrAmount (zero, negative, above MaxAmount or money.MaxMinor,
// other currency), ErrEntryMode, ErrJournal (the journal reports it cannot
// be trusted: payments are refused), ErrBusy (a sale or recovery is in
// progress).
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
	if err := e.j.Health(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJournal, err)
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
	e.cur = s
	e.mu.Unlock()

	s.emit(StepAmountConfirmed, nil, r.Amount.String())
	e.log.Info("sale started", "session", id, "amount", r.Amount.String())
	go e.runSale(base, s)
	return s, nil
}

func (e *Engine) checkAmount(a money.Amount) error {
	if a.Currency != e.cfg.Currency {
		return fmt.Errorf("%w: currency %s, the terminal takes %s only", ErrAmount, a.Currency, e.cfg.Currency)
	}
	if a.Minor <= 0 {
		return fmt.Errorf("%w: %d minor units, must be above zero", ErrAmount, a.Minor)
	}
	limit, name := money.MaxMinor, "the maximum the terminal handles"
	if e.cfg.MaxAmount > 0 {
		limit, name = e.cfg.MaxAmount, "the per-transaction maximum (MaxAmount)"
	}
	if a.Minor > limit {
		return fmt.Errorf("%w: %s is above %s of %s", ErrAmount, a, name, money.Amount{Minor: limit, Currency: a.Currency})
	}
	return nil
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
}

// Status returns a snapshot. It asks the journal only for its health; the
// queue counts are those of the last refresh.
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
	e.mu.Unlock()
	if cur != nil {
		st.Busy, st.Session, st.Step = true, cur.id, cur.step()
	}
	if err := e.j.Health(); err != nil {
		st.JournalErr = err.Error()
	}
	return st
}

// refresh re-reads the queue counts from the journal.
func (e *Engine) refresh(ctx context.Context) {
	revs, err1 := e.j.PendingReversals(ctx)
	jobs, err2 := e.j.PrintQueue(ctx)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts.at = e.clk.Now().UTC()
	e.counts.err = ""
	if err := errors.Join(err1, err2); err != nil {
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

func release(sem chan struct{}) { <-sem }
