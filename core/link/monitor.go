// Package link tells the rest of the agent whether the acquirer host can be
// reached, from two sources: the 4G modem (SIM ready, registered on the
// network, signal) and the link itself (an ISO 8583 echo test 0820 while
// idle, and every real request's fate reported with MarkUp and MarkDown).
//
// A Monitor combines them into one State and publishes its changes to
// subscribers (the forwarder drains the outbox the moment the link comes
// back; `posagent status` and the local API show it). While the link is
// down it probes with exponential backoff and jitter (1 s to 60 s by
// default); while it is up and idle it sends an echo test every
// EchoInterval (60 s), and any successful real request counts as one. A
// link that flaps does not make it probe faster than the backoff allows:
// the backoff starts again from its minimum only after the link has stayed
// up for StableAfter.
//
// The package has no I/O of its own: the modem driver and the acquirer
// link are reached through the ModemSignal and Prober interfaces, and time
// through an injected clock.Clock. docs/forwarder.md describes the rules.
package link

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultEchoInterval = 60 * time.Second
	DefaultProbeTimeout = 15 * time.Second
)

var (
	// ErrConfig: a Config value is out of range (the message names it).
	ErrConfig = errors.New("link: bad configuration")
	// ErrRunning: Run was called while another Run is active.
	ErrRunning = errors.New("link: monitor already running")
	// ErrModemNotReady: the modem reports no usable SIM or no network
	// registration; the link is down without an echo being tried.
	ErrModemNotReady = errors.New("link: modem not ready")
)

// Prober tests the link end to end. core/acquirer's Acquirer implements it
// with an echo test (0820/0830): nil means the host answered 00.
type Prober interface {
	Echo(ctx context.Context) error
}

// ModemState is what the modem says about the radio link.
type ModemState struct {
	// Responsive is false when the modem did not answer AT commands.
	Responsive bool `json:"responsive"`
	// SIMReady: the SIM is present and unlocked.
	SIMReady bool `json:"sim_ready"`
	// Registered on the home network or roaming.
	Registered bool `json:"registered"`
	Roaming    bool `json:"roaming,omitempty"`
	// SignalDBm is the received signal strength when SignalKnown.
	SignalDBm   int  `json:"signal_dbm,omitempty"`
	SignalKnown bool `json:"signal_known"`
	// Operator is the network operator's name, "" when not registered.
	Operator string `json:"operator,omitempty"`
	// Err is why the state could not be read (only set by the Monitor
	// when ModemSignal returned an error).
	Err string `json:"err,omitempty"`
}

// ModemSignal reports the modem's state. cmd adapts drivers/modem's
// Status to it. A call must honour ctx's deadline.
type ModemSignal interface {
	ModemState(ctx context.Context) (ModemState, error)
}

// State is the link's state as the rest of the agent sees it. Times are
// UTC wall times, for display.
type State struct {
	// Up: the host answered recently (an echo or a real request) and the
	// modem, when there is one, is registered.
	Up bool `json:"up"`
	// Since is when Up last changed (the Monitor's start at first).
	Since time.Time `json:"since"`
	// Reason says why the link is in this state ("echo test answered",
	// "modem: not registered on the network", "echo test failed: ...").
	Reason string `json:"reason"`
	// LastSuccess and LastError are the times of the last answered and
	// the last failed exchange or probe; LastErr is that failure.
	LastSuccess time.Time `json:"last_success"`
	LastError   time.Time `json:"last_error"`
	LastErr     string    `json:"last_err,omitempty"`
	// Modem is the last modem state read; nil without a modem.
	Modem *ModemState `json:"modem,omitempty"`
	// Probes counts the probes made (modem queries and echo tests).
	Probes uint64 `json:"probes"`
}

// Config configures a Monitor. Zero durations take the defaults.
type Config struct {
	// Prober sends the echo test. With no Prober the modem alone decides
	// (registered = up) and MarkUp/MarkDown refine it.
	Prober Prober
	// Modem reports the radio state; nil when there is no modem (wired
	// Ethernet, a development machine).
	Modem ModemSignal
	// EchoInterval: while up, an echo test is sent when nothing succeeded
	// for this long (default 60 s).
	EchoInterval time.Duration
	// ProbeTimeout bounds one probe: modem query plus echo (default 15 s).
	ProbeTimeout time.Duration
	// BackoffMin and BackoffMax bound the probe backoff while down
	// (defaults 1 s and 60 s).
	BackoffMin, BackoffMax time.Duration
	// StableAfter: the backoff starts again from BackoffMin only when the
	// link went down after successes spanning at least this long since it
	// came up (default BackoffMax). A flapping link keeps its backoff.
	StableAfter time.Duration
	// Clock (nil: clock.System), Log (nil: discard) and Rand, the jitter
	// source (nil: math/rand/v2's global source).
	Clock clock.Clock
	Log   *slog.Logger
	Rand  *rand.Rand
}

// Monitor tracks the link's state. Safe for concurrent use.
type Monitor struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger

	running atomic.Bool
	wake    chan struct{} // up -> down by MarkDown: re-plan the next probe

	mu       sync.Mutex
	st       State
	upAt     time.Time // clock reading when Up became true (monotonic when real)
	lastOK   time.Time // clock reading of the last success
	resetBO  bool      // the backoff starts again (the link had been stable)
	subs     map[int]chan State
	nextSub  int
	backoff  Backoff // used by Run's goroutine only
	parkHook func(time.Duration)
}

// New returns a Monitor in the "down, not probed yet" state. At least one
// of Prober and Modem is required.
func New(cfg Config) (*Monitor, error) {
	if cfg.Prober == nil && cfg.Modem == nil {
		return nil, fmt.Errorf("%w: neither Prober nor Modem is set: nothing to monitor", ErrConfig)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"EchoInterval", &cfg.EchoInterval, DefaultEchoInterval},
		{"ProbeTimeout", &cfg.ProbeTimeout, DefaultProbeTimeout},
		{"BackoffMin", &cfg.BackoffMin, DefaultBackoffMin},
		{"BackoffMax", &cfg.BackoffMax, DefaultBackoffMax},
		{"StableAfter", &cfg.StableAfter, 0},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("%w: %s is negative (%v)", ErrConfig, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.StableAfter == 0 {
		cfg.StableAfter = cfg.BackoffMax
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		return nil, fmt.Errorf("%w: BackoffMax %v is below BackoffMin %v", ErrConfig, cfg.BackoffMax, cfg.BackoffMin)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{
		cfg:     cfg,
		clk:     cfg.Clock,
		log:     cfg.Log,
		wake:    make(chan struct{}, 1),
		subs:    map[int]chan State{},
		backoff: Backoff{Min: cfg.BackoffMin, Max: cfg.BackoffMax, Rand: cfg.Rand},
	}
	m.st = State{Since: m.wall(), Reason: "not probed yet"}
	return m, nil
}

// wall is the clock's time as UTC wall time, for State.
func (m *Monitor) wall() time.Time { return m.clk.Now().UTC().Round(0) }

// State returns the current state.
func (m *Monitor) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copyState()
}

// Up reports whether the link is up.
func (m *Monitor) Up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.Up
}

// copyState copies st (and its Modem). Callers hold mu.
func (m *Monitor) copyState() State {
	s := m.st
	if s.Modem != nil {
		ms := *s.Modem
		s.Modem = &ms
	}
	return s
}

// Subscribe returns a channel that receives the current state at once and
// then every change of Up, Reason or the modem's registration. It holds
// only the latest state: a slow reader misses intermediate states, never
// the last one. cancel ends the subscription (the channel is not closed).
func (m *Monitor) Subscribe() (<-chan State, func()) {
	ch := make(chan State, 1)
	m.mu.Lock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = ch
	ch <- m.copyState()
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs, id)
		m.mu.Unlock()
	}
}

// publish sends the state to every subscriber, replacing an unread one.
// Callers hold mu.
func (m *Monitor) publish() {
	s := m.copyState()
	for _, ch := range m.subs {
		select {
		case ch <- s:
			continue
		default:
		}
		select {
		case <-ch:
		default:
		}
		select {
		case ch <- s:
		default:
		}
	}
}

// MarkUp records that a real request was answered (any answer, even a
// decline: the host is there). It brings the link up at once and counts as
// an echo: the next idle echo is EchoInterval from now.
func (m *Monitor) MarkUp() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.succeeded("request answered")
}

// MarkDown records that a real request could not reach the host (callers
// pass errors wrapping payment.ErrUnreachable; a slow answer is not a
// link failure). It takes the link down at once; the next probe follows
// the backoff, so a burst of MarkDown calls never causes a burst of probes.
func (m *Monitor) MarkDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed("request failed", err) {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// succeeded moves to up. Callers hold mu.
func (m *Monitor) succeeded(reason string) {
	now := m.clk.Now()
	m.lastOK = now
	m.st.LastSuccess = now.UTC().Round(0)
	if m.st.Up {
		return
	}
	m.st.Up = true
	m.st.Since = m.st.LastSuccess
	m.st.Reason = reason
	m.upAt = now
	m.log.Info("link up", "reason", reason)
	m.publish()
}

// failed moves to down; it reports whether the link was up. Callers hold
// mu.
func (m *Monitor) failed(what string, err error) bool {
	now := m.clk.Now()
	m.st.LastError = now.UTC().Round(0)
	reason := what
	if err != nil {
		m.st.LastErr = err.Error()
		reason = what + ": " + err.Error()
	}
	if !m.st.Up {
		if m.st.Reason != reason {
			m.st.Reason = reason
			m.publish()
		}
		return false
	}
	if m.lastOK.Sub(m.upAt) >= m.cfg.StableAfter {
		// Confirmed up (successes at both ends of the span) long enough:
		// an outage after that starts the backoff afresh.
		m.resetBO = true
	}
	m.st.Up = false
	m.st.Since = m.st.LastError
	m.st.Reason = reason
	m.log.Warn("link down", "reason", reason)
	m.publish()
	return true
}

// Run probes the link until ctx is done: at once, then by the rules in the
// package doc. It returns nil when ctx is done and ErrRunning when another
// Run is active.
func (m *Monitor) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer m.running.Store(false)
	probe := true
	var wait time.Duration
	for {
		if probe {
			wait = m.probe(ctx)
			if ctx.Err() != nil {
				return nil
			}
		}
		timer := m.clk.After(wait)
		if m.parkHook != nil {
			m.parkHook(wait) // tests: the timer is armed, Run is about to wait
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
			probe, wait = false, m.downDelay()
		case <-timer:
			probe, wait = m.due()
		}
	}
}

// due decides, when the timer fired, whether to probe now or how much
// longer to wait (up and something succeeded recently).
func (m *Monitor) due() (bool, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.st.Up {
		return true, 0
	}
	idle := m.clk.Now().Sub(m.lastOK)
	if idle < 0 || idle >= m.cfg.EchoInterval {
		return true, 0 // a negative span is a clock step: probe rather than guess
	}
	return false, m.cfg.EchoInterval - idle
}

// downDelay is the wait before the next probe while down.
func (m *Monitor) downDelay() time.Duration {
	m.mu.Lock()
	reset := m.resetBO
	m.resetBO = false
	m.mu.Unlock()
	if reset {
		m.backoff.Reset()
	}
	return m.backoff.Next()
}

// probe asks the modem (when there is one) and sends an echo test (when
// there is a Prober), updates the state and returns the wait before the
// next probe.
func (m *Monitor) probe(ctx context.Context) time.Duration {
	pctx, cancel := withClockTimeout(ctx, m.clk, m.cfg.ProbeTimeout)
	defer cancel()
	m.mu.Lock()
	m.st.Probes++
	m.mu.Unlock()

	if m.cfg.Modem != nil {
		ms, err := m.cfg.Modem.ModemState(pctx)
		if err != nil {
			ms = ModemState{Err: err.Error()}
		}
		notReady := ""
		switch {
		case err != nil:
			// The modem cannot be read, but the link may still work:
			// let the echo decide (or call it down without a Prober).
			m.log.Warn("modem state unreadable", "err", err)
			if m.cfg.Prober == nil {
				notReady = "modem state unreadable: " + err.Error()
			}
		case !ms.SIMReady:
			notReady = "modem: SIM not ready"
		case !ms.Registered:
			notReady = "modem: not registered on the network"
		}
		m.setModem(ms)
		if notReady != "" {
			m.mu.Lock()
			m.failed(notReady, nil)
			m.st.LastErr = fmt.Errorf("%w: %s", ErrModemNotReady, notReady).Error()
			m.mu.Unlock()
			return m.downDelay()
		}
	}
	if m.cfg.Prober == nil {
		m.mu.Lock()
		m.succeeded("modem registered")
		m.mu.Unlock()
		return m.cfg.EchoInterval
	}
	err := m.cfg.Prober.Echo(pctx)
	if ctx.Err() != nil {
		return 0
	}
	m.mu.Lock()
	if err != nil {
		m.failed("echo test failed", err)
		m.mu.Unlock()
		return m.downDelay()
	}
	m.succeeded("echo test answered")
	m.mu.Unlock()
	return m.cfg.EchoInterval
}

// setModem stores the modem state, publishing when its SIM or
// registration changed.
func (m *Monitor) setModem(ms ModemState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.st.Modem
	m.st.Modem = &ms
	if old == nil || old.SIMReady != ms.SIMReady || old.Registered != ms.Registered || old.Responsive != ms.Responsive {
		m.publish()
	}
}

// withClockTimeout is context.WithTimeout on the injected clock; the
// cause says what timed out.
func withClockTimeout(ctx context.Context, clk clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	return clock.WithTimeoutCause(ctx, clk, d, fmt.Errorf("link: probe timed out after %v: %w", d, context.DeadlineExceeded))
}
