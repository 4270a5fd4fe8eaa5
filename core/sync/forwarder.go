package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/link"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultWindow          = 8
	DefaultGroupDelay      = 100 * time.Millisecond
	DefaultSendTimeout     = 60 * time.Second
	DefaultHardStop        = 72 * time.Hour
	DefaultReversalRetries = 3
	DefaultRetryMin        = time.Second
	DefaultRetryMax        = 60 * time.Second
	DefaultIdleInterval    = time.Minute
	// MaxWindow bounds Window: the acquirer host handles a bounded number
	// of requests per connection at once (cmd/acqhost: 1024).
	MaxWindow = 256
)

// Config configures a Forwarder. Zero values take the defaults.
type Config struct {
	// Window is how many offline advices may be in flight at once on the
	// acquirer connection (default 8). 1 sends strictly one at a time in
	// journal order, the jPOS SAF way.
	Window int
	// GroupSize is how many results are committed together in one
	// TransitionMany (default Window). GroupDelay is the longest a result
	// waits for its group to fill before it is committed anyway (default
	// 100 ms).
	GroupSize  int
	GroupDelay time.Duration
	// SendTimeout bounds one Forward or Reverse (default 60 s; the
	// acquirer link applies its own, shorter response timeout).
	SendTimeout time.Duration
	// HardStop: a stored-offline transaction older than this is expired
	// instead of forwarded (default 72 h; the rule is in docs/forwarder.md).
	HardStop time.Duration
	// ReversalRetries: unacknowledged reversal attempts before the record
	// becomes txn.ReversalFailed (default 3, DESIGN.md invariant 4).
	ReversalRetries int
	// ReversalSpacing is the least time between two counted attempts of
	// one reversal, doubled after each (default txn.DefaultReversalSpacing;
	// the engine applies the same rule to the same journal stamps).
	ReversalSpacing time.Duration
	// RetryMin and RetryMax bound Run's backoff after an incomplete pass
	// (defaults 1 s and 60 s; exponential with jitter).
	RetryMin, RetryMax time.Duration
	// IdleInterval is how often Run passes with nothing to do, or while
	// the link is down, to expire what must expire (default 1 min).
	IdleInterval time.Duration
	// Currency is the currency Progress sums amounts in (default
	// money.DefaultCurrency); records in another currency are counted,
	// not summed.
	Currency money.Currency
}

// Deps are the forwarder's dependencies. Journal and Sender are required.
type Deps struct {
	Journal Journal
	Sender  Sender
	// Link is the connectivity monitor; nil means none (every pass tries
	// the host).
	Link Link
	// Clock (nil: clock.System), Log (nil: discard), Rand (the backoff
	// jitter; nil: math/rand/v2's global source).
	Clock clock.Clock
	Log   *slog.Logger
	Rand  *rand.Rand
}

// Forwarder drains the outbox. Safe for concurrent use.
type Forwarder struct {
	cfg    Config
	j      Journal
	sender Sender
	link   Link
	clk    clock.Clock
	log    *slog.Logger
	rnd    *rand.Rand

	start   time.Time     // clock reading at New (monotonic when real)
	mono0   time.Duration // Monotonic() at New, when the clock has it
	kick    chan struct{}
	notices chan Notice
	running atomic.Bool

	mu       gosync.Mutex
	flight   *flight
	last     *Report
	seen     map[txn.ID]sighting // outbox records seen in this run (expiry rule)
	alarmed  map[txn.ID]bool     // unsendable records already alarmed in this run
	progress Progress
	progSubs map[int]chan Progress
	nextSub  int
	lastOK   time.Time
	lastErrT time.Time
	lastErr  string
	inFlight atomic.Int64
	maxIn    atomic.Int64
	joiners  atomic.Int64 // Drain calls waiting for the running pass
}

// flight is one pass in progress; Drain callers that arrive while it runs
// wait for it and share its report.
type flight struct {
	done chan struct{}
	rep  Report
	err  error
}

// New returns a forwarder; nothing is sent until Drain or Run.
func New(cfg Config, deps Deps) (*Forwarder, error) {
	var missing []string
	if deps.Journal == nil {
		missing = append(missing, "Journal")
	}
	if deps.Sender == nil {
		missing = append(missing, "Sender")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: Deps.%v missing", ErrConfig, missing)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if deps.Clock == nil {
		deps.Clock = clock.System{}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{
		cfg: cfg, j: deps.Journal, sender: deps.Sender, link: deps.Link,
		clk: deps.Clock, log: deps.Log, rnd: deps.Rand,
		kick:     make(chan struct{}, 1),
		notices:  make(chan Notice, noticeBuffer),
		seen:     map[txn.ID]sighting{},
		alarmed:  map[txn.ID]bool{},
		progSubs: map[int]chan Progress{},
	}
	f.start = f.clk.Now()
	if m, ok := f.clk.(Monotonic); ok {
		f.mono0 = m.Monotonic()
	}
	return f, nil
}

// withDefaults validates cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	ints := []struct {
		name     string
		v        *int
		def, max int
	}{
		{"Window", &cfg.Window, DefaultWindow, MaxWindow},
		{"GroupSize", &cfg.GroupSize, 0, 4096},
		{"ReversalRetries", &cfg.ReversalRetries, DefaultReversalRetries, 1000},
	}
	for _, c := range ints {
		if *c.v < 0 || *c.v > c.max {
			return cfg, fmt.Errorf("%w: %s %d outside 0..%d", ErrConfig, c.name, *c.v, c.max)
		}
		if *c.v == 0 {
			*c.v = c.def
		}
	}
	if cfg.GroupSize == 0 {
		cfg.GroupSize = cfg.Window
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"GroupDelay", &cfg.GroupDelay, DefaultGroupDelay},
		{"ReversalSpacing", &cfg.ReversalSpacing, txn.DefaultReversalSpacing},
		{"SendTimeout", &cfg.SendTimeout, DefaultSendTimeout},
		{"HardStop", &cfg.HardStop, DefaultHardStop},
		{"RetryMin", &cfg.RetryMin, DefaultRetryMin},
		{"RetryMax", &cfg.RetryMax, DefaultRetryMax},
		{"IdleInterval", &cfg.IdleInterval, DefaultIdleInterval},
	}
	for _, d := range durs {
		if *d.v < 0 {
			return cfg, fmt.Errorf("%w: %s is negative (%v)", ErrConfig, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.RetryMax < cfg.RetryMin {
		return cfg, fmt.Errorf("%w: RetryMax %v is below RetryMin %v", ErrConfig, cfg.RetryMax, cfg.RetryMin)
	}
	if cfg.Currency == 0 {
		cfg.Currency = money.DefaultCurrency
	}
	if !cfg.Currency.Known() {
		return cfg, fmt.Errorf("%w: Currency %d is not a known ISO 4217 currency", ErrConfig, cfg.Currency)
	}
	return cfg, nil
}

// Config returns the configuration in use (defaults filled in).
func (f *Forwarder) Config() Config { return f.cfg }

// Kick asks Run for a pass now: a sale was stored offline, an operator
// asked for a sync. It never blocks; kicks while a pass is due merge.
func (f *Forwarder) Kick() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Drain runs one pass now and returns its report. If a pass is already
// running, Drain waits for it and returns its report (Report.Joined set)
// instead of starting another: passes never run in parallel. ctx bounds
// the pass (for a joiner, only its own wait).
//
// The error is nil when the pass went through its snapshot, even if some
// records must be retried later (Report.Retry). Otherwise it wraps
// ErrLinkDown, ErrNotRegistered, ErrReversalPending, ErrJournal or ctx's
// error.
func (f *Forwarder) Drain(ctx context.Context) (Report, error) { return f.drain(ctx, false) }

// drain is Drain; auto passes (Run's) skip the network when the link
// monitor says the link is down.
func (f *Forwarder) drain(ctx context.Context, auto bool) (Report, error) {
	f.mu.Lock()
	if fl := f.flight; fl != nil {
		f.mu.Unlock()
		f.joiners.Add(1)
		defer f.joiners.Add(-1)
		select {
		case <-fl.done:
			rep := fl.rep
			rep.Joined = true
			return rep, fl.err
		case <-ctx.Done():
			return Report{Joined: true}, ctx.Err()
		}
	}
	fl := &flight{done: make(chan struct{})}
	f.flight = fl
	f.mu.Unlock()

	fl.rep, fl.err = f.pass(ctx, auto)

	f.mu.Lock()
	f.flight = nil
	rep := fl.rep
	f.last = &rep
	f.mu.Unlock()
	close(fl.done)
	return fl.rep, fl.err
}

// Run drains when kicked, when the link comes up, after a backoff (1 s to
// 60 s with jitter) when a pass was incomplete, and every IdleInterval
// otherwise. It returns nil when ctx is done and ErrRunning if another Run
// is active.
func (f *Forwarder) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer f.running.Store(false)
	var states <-chan link.State
	wasUp := false
	if f.link != nil {
		ch, cancel := f.link.Subscribe()
		defer cancel()
		states = ch
		wasUp = f.link.Up()
	}
	bo := link.Backoff{Min: f.cfg.RetryMin, Max: f.cfg.RetryMax, Rand: f.rnd}
	for {
		rep, err := f.drain(ctx, true)
		if ctx.Err() != nil {
			return nil
		}
		wait := f.cfg.IdleInterval
		switch {
		case errors.Is(err, ErrNotRegistered):
			wait = f.cfg.RetryMax
		case errors.Is(err, ErrLinkDown) && f.link != nil:
			// The monitor probes with its own backoff and wakes us when
			// the link is back; until then, only expiry sweeps.
			bo.Reset()
		case err != nil || rep.Retry > 0:
			wait = bo.Next()
		default:
			bo.Reset()
		}
		if err != nil {
			f.log.Warn("forwarder pass incomplete", "retry_in", wait, "err", err)
		}
		timer := f.clk.After(wait)
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-f.kick:
				break wait
			case st := <-states:
				up := st.Up
				if up && !wasUp {
					wasUp = up
					f.log.Info("link up: draining the outbox now")
					break wait
				}
				wasUp = up
			case <-timer:
				break wait
			}
		}
	}
}

// LastReport returns the last finished pass's report, if any.
func (f *Forwarder) LastReport() (Report, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		return Report{}, false
	}
	return *f.last, true
}

// Status is what `posagent status` and the local API show about store and
// forward.
type Status struct {
	// Link is the link monitor's state; nil without a monitor.
	Link *link.State `json:"link,omitempty"`
	// Outbox is what waits to be forwarded.
	Outbox OutboxStatus `json:"outbox"`
	// Reversals counts reversals waiting to be sent; ReversalsFailed
	// those flagged for manual handling.
	Reversals       int `json:"reversals"`
	ReversalsFailed int `json:"reversals_failed"`
	// Draining is true while a pass runs; Progress is its progress (or
	// the last pass's).
	Draining bool     `json:"draining"`
	Progress Progress `json:"progress"`
	// LastPass is the last finished pass's report.
	LastPass *Report `json:"last_pass,omitempty"`
	// LastSuccess is when the host last acknowledged something this
	// forwarder sent; LastError and LastErr the last failure.
	LastSuccess time.Time `json:"last_success"`
	LastError   time.Time `json:"last_error"`
	LastErr     string    `json:"last_err,omitempty"`
}

// OutboxStatus summarises the outbox.
type OutboxStatus struct {
	Depth int `json:"depth"`
	// Amounts is the total waiting, one entry per currency, in currency
	// order.
	Amounts []money.Amount `json:"amounts"`
	// Oldest is the Created time of the oldest waiting record (zero when
	// empty) and OldestAge its age by the wall clock.
	Oldest    time.Time     `json:"oldest"`
	OldestAge time.Duration `json:"oldest_age"`
}

// Status reads the outbox and reversal queue and returns the forwarder's
// status.
func (f *Forwarder) Status(ctx context.Context) (Status, error) {
	out, err := f.j.Outbox(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("%w: outbox: %w", ErrJournal, err)
	}
	revs, err := f.j.PendingReversals(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("%w: reversal queue: %w", ErrJournal, err)
	}
	var st Status
	sums := map[money.Currency]int64{}
	for _, r := range out {
		st.Outbox.Depth++
		sums[r.Amount.Currency] += r.Amount.Minor
		if st.Outbox.Oldest.IsZero() || r.Created.Before(st.Outbox.Oldest) {
			st.Outbox.Oldest = r.Created
		}
	}
	for _, c := range slices.Sorted(maps.Keys(sums)) {
		st.Outbox.Amounts = append(st.Outbox.Amounts, money.Amount{Minor: sums[c], Currency: c})
	}
	if !st.Outbox.Oldest.IsZero() {
		st.Outbox.OldestAge = age(f.clk.Now(), st.Outbox.Oldest)
	}
	for _, r := range revs {
		if r.State == txn.ReversalPending {
			st.Reversals++
		} else {
			st.ReversalsFailed++
		}
	}
	if f.link != nil {
		ls := f.link.State()
		st.Link = &ls
	}
	f.mu.Lock()
	st.Draining = f.flight != nil
	st.Progress = f.progress
	if f.last != nil {
		rep := *f.last
		st.LastPass = &rep
	}
	st.LastSuccess, st.LastError, st.LastErr = f.lastOK, f.lastErrT, f.lastErr
	f.mu.Unlock()
	return st, nil
}

// noteSuccess and noteFailure keep the forwarder's last success and error
// for Status, and tell the link monitor.
func (f *Forwarder) noteSuccess() {
	if f.link != nil {
		f.link.MarkUp()
	}
	f.mu.Lock()
	f.lastOK = f.wall()
	f.mu.Unlock()
}

func (f *Forwarder) noteFailure(err error, unreachable bool) {
	if unreachable && f.link != nil {
		f.link.MarkDown(err)
	}
	f.mu.Lock()
	f.lastErrT = f.wall()
	f.lastErr = err.Error()
	f.mu.Unlock()
}

// wall is the clock's time as UTC wall time.
func (f *Forwarder) wall() time.Time { return f.clk.Now().UTC().Round(0) }

// elapsed is the monotonic time since New.
func (f *Forwarder) elapsed() time.Duration {
	if m, ok := f.clk.(Monotonic); ok {
		return m.Monotonic() - f.mono0
	}
	return f.clk.Now().Sub(f.start)
}
