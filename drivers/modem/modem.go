package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// Defaults for Options fields left zero.
const (
	// DefaultCommandTimeout bounds a query. Quectel documents 300 ms as
	// the maximum response time of most queries; USB latency and a busy
	// modem make that optimistic.
	DefaultCommandTimeout = 5 * time.Second
	// DefaultCFUNTimeout bounds AT+CFUN (Quectel: up to 15 s).
	DefaultCFUNTimeout = 15 * time.Second
	// DefaultLivenessTimeout bounds the AT probe of Liveness.
	DefaultLivenessTimeout = 2 * time.Second
	// DefaultPace is the gap kept after a final result code or URC before
	// the next command (u-blox recommends at least 20 ms; user-issues
	// §10.8).
	DefaultPace = 20 * time.Millisecond
	// DefaultResyncQuiet is how long, after a command timed out, the
	// resynchronisation probe waits for further stale final result codes
	// before the next command is sent.
	DefaultResyncQuiet = 100 * time.Millisecond
	// DefaultReadSlice is the read timeout of the reader goroutine: how
	// late it notices a deliberate stop.
	DefaultReadSlice = 50 * time.Millisecond
	// DefaultURCBuffer is the capacity of the URC channel.
	DefaultURCBuffer = 32
	// DefaultBootTimeout bounds the wait for RDY after a reset. An EC25
	// takes about 10–15 s from power key to RDY.
	DefaultBootTimeout = 30 * time.Second
	// DefaultReinitStepTimeout, DefaultSoftResetStepTimeout and
	// DefaultPowerKeyStepTimeout bound the three steps of Recover.
	DefaultReinitStepTimeout    = 20 * time.Second
	DefaultSoftResetStepTimeout = 60 * time.Second
	DefaultPowerKeyStepTimeout  = 90 * time.Second
	// DefaultSignalStep is the signal change (dB) that Watch publishes.
	DefaultSignalStep = 6
)

// Options configure a Modem. The zero value of every field selects its
// default.
type Options struct {
	// Logger receives warnings (port lost, recovery steps) and debug
	// traces (commands, URCs). Nil discards.
	Logger *slog.Logger
	// Clock measures command timeouts, pacing and Watch intervals. Nil
	// is the system clock. (Recovery step deadlines are contexts, on the
	// runtime's monotonic clock.)
	Clock clock.Clock
	// IsTimeout tells a Read timeout from a port failure (default
	// DefaultIsTimeout). A (0, nil) Read is always a timeout.
	IsTimeout func(error) bool
	// CommandTimeout bounds one command (default DefaultCommandTimeout).
	CommandTimeout time.Duration
	// CFUNTimeout bounds AT+CFUN (default DefaultCFUNTimeout).
	CFUNTimeout time.Duration
	// LivenessTimeout bounds the AT probe (default DefaultLivenessTimeout).
	LivenessTimeout time.Duration
	// Pace is the gap after a final result code or URC (default
	// DefaultPace; negative means none).
	Pace time.Duration
	// ResyncQuiet is how long the probe after a timed-out command waits
	// for stale final result codes (default DefaultResyncQuiet; negative
	// means none).
	ResyncQuiet time.Duration
	// ReadSlice is the reader's read timeout (default DefaultReadSlice).
	ReadSlice time.Duration
	// URCBuffer is the URC channel's capacity (default DefaultURCBuffer).
	URCBuffer int
	// GNSS makes Init start the GNSS receiver (AT+QGPS=1) and Status read
	// the position (AT+QGPSLOC=2).
	GNSS bool
	// PowerKey pulses the modem's PWRKEY (a GPIO, wired by the board) and
	// returns; the driver then waits for RDY. Nil leaves the last step of
	// Recover unavailable.
	PowerKey func(ctx context.Context) error
	// RebootOnSoftReset makes the soft-reset step use AT+CFUN=1,1 (a full
	// module reset: on USB the ports vanish and come back, possibly under
	// new names, and the owner must Reattach) instead of AT+CFUN=0 then
	// AT+CFUN=1 (radio and SIM off and on; the ports stay).
	RebootOnSoftReset bool
	// BootTimeout bounds the wait for RDY (default DefaultBootTimeout).
	BootTimeout time.Duration
	// ReinitStepTimeout, SoftResetStepTimeout and PowerKeyStepTimeout
	// bound the steps of Recover (defaults above).
	ReinitStepTimeout, SoftResetStepTimeout, PowerKeyStepTimeout time.Duration
	// SignalStep is the change in dBm Watch publishes (default
	// DefaultSignalStep).
	SignalStep int
}

func (o Options) normalize() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.IsTimeout == nil {
		o.IsTimeout = DefaultIsTimeout
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			*d = 0
		}
	}
	def(&o.CommandTimeout, DefaultCommandTimeout)
	def(&o.CFUNTimeout, DefaultCFUNTimeout)
	def(&o.LivenessTimeout, DefaultLivenessTimeout)
	def(&o.Pace, DefaultPace)
	def(&o.ResyncQuiet, DefaultResyncQuiet)
	def(&o.ReadSlice, DefaultReadSlice)
	def(&o.BootTimeout, DefaultBootTimeout)
	def(&o.ReinitStepTimeout, DefaultReinitStepTimeout)
	def(&o.SoftResetStepTimeout, DefaultSoftResetStepTimeout)
	def(&o.PowerKeyStepTimeout, DefaultPowerKeyStepTimeout)
	if o.CommandTimeout == 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.ReadSlice == 0 {
		o.ReadSlice = DefaultReadSlice
	}
	if o.URCBuffer <= 0 {
		o.URCBuffer = DefaultURCBuffer
	}
	if o.SignalStep <= 0 {
		o.SignalStep = DefaultSignalStep
	}
	return o
}

// Modem is a Quectel EC2x-class modem on its AT port. Its methods are
// safe for concurrent use; commands are sent one at a time.
type Modem struct {
	o Options
	c *client
}

// New returns a Modem talking on port and starts its reader. port may be
// nil when the modem is not there yet: commands then fail with ErrGone
// until Reattach. Call Init before the queries.
func New(port Port, o Options) *Modem {
	o = o.normalize()
	m := &Modem{o: o, c: newClient(o)}
	if port != nil {
		_ = m.c.attach(port)
	}
	return m
}

// Reattach hands the driver a new port after the old one was lost (USB
// re-enumeration after AT+CFUN=1,1, a power cycle or an unplug). The old
// port is closed. Call Init (or let a waiting SoftReset/PowerCycle do it)
// afterwards: a reset modem has forgotten ATE0 and AT+CMEE.
func (m *Modem) Reattach(p Port) error {
	if p == nil {
		return fmt.Errorf("%w: nil port", ErrInvalid)
	}
	return m.c.attach(p)
}

// PortLost returns a channel that is closed when the current port fails
// (or at once when none is attached). The board wiring waits on it, then
// reopens the device (serialio's reopener, by a stable by-id link) and
// calls Reattach.
func (m *Modem) PortLost() <-chan struct{} {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if m.c.cn == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return m.c.cn.lost
}

// URCs returns the channel of unsolicited result codes (and unexpected
// lines). It has one consumer; when it is full the oldest code is
// dropped (Stats.URCsDropped). It is closed by Close.
func (m *Modem) URCs() <-chan URC { return m.c.urc }

// Close stops the reader and closes the port. Pending and later commands
// fail with ErrClosed or ErrGone.
func (m *Modem) Close() error { return m.c.close() }

// Stats counts what happened on the link since New.
type Stats struct {
	TxBytes, RxBytes int64
	Commands         int64
	Timeouts         int64
	URCs             int64
	URCsDropped      int64
	// Stray counts final result codes that answered no command: late
	// answers to timed-out commands.
	Stray int64
	// Echoes counts command echoes dropped (ATE1 still on).
	Echoes int64
	// LongLines counts lines dropped for exceeding 1024 bytes.
	LongLines int64
	// PortsLost counts port failures.
	PortsLost int64
}

// Stats returns the counters.
func (m *Modem) Stats() Stats {
	s := &m.c.st
	return Stats{
		TxBytes: s.tx.Load(), RxBytes: s.rx.Load(), Commands: s.commands.Load(),
		Timeouts: s.timeouts.Load(), URCs: s.urcs.Load(), URCsDropped: s.urcDropped.Load(),
		Stray: s.stray.Load(), Echoes: s.echoes.Load(), LongLines: s.longLines.Load(),
		PortsLost: s.lost.Load(),
	}
}

// Command sends one raw command line (without CR) and returns its
// information lines (every line that is not a known URC). For diagnostics
// (`posagent diag modem`); the typed queries below are preferred.
func (m *Modem) Command(ctx context.Context, cmd string) ([]string, error) {
	return m.c.exec(ctx, cmdSpec{text: cmd, raw: true})
}

// run sends cmd and expects OK.
func (m *Modem) run(ctx context.Context, cmd string, timeout time.Duration) error {
	_, err := m.c.exec(ctx, cmdSpec{text: cmd, timeout: timeout})
	return err
}

// query sends cmd and returns the last line with prefix (accepted by
// accept when set).
func (m *Modem) query(ctx context.Context, cmd, prefix string, accept func(string) bool) (string, error) {
	lines, err := m.c.exec(ctx, cmdSpec{text: cmd, prefix: prefix, accept: accept})
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", syntaxErr(prefix[:len(prefix)-1], "line", "", "OK without an information response to "+cmd)
	}
	return lines[len(lines)-1], nil
}

// Init brings the AT channel to a known state: it synchronises with
// "AT" (up to three tries), turns echo off (ATE0; echo is tolerated
// anyway), selects verbose +CME ERROR texts (AT+CMEE=2), keeps the UART
// awake (AT+QSCLK=0, user-issues §10.7; a firmware without it is logged
// and ignored), asks for location in +CREG/+CEREG (AT+CREG=2,
// AT+CEREG=2; failures ignored) and, with Options.GNSS, starts GNSS.
func (m *Modem) Init(ctx context.Context) error {
	var err error
	for range 3 {
		if err = m.run(ctx, "AT", m.o.LivenessTimeout); err == nil || ctx.Err() != nil || errors.Is(err, ErrGone) || errors.Is(err, ErrClosed) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("modem: init: %w", err)
	}
	for _, cmd := range []string{"ATE0", "AT+CMEE=2"} {
		if err := m.run(ctx, cmd, 0); err != nil {
			return fmt.Errorf("modem: init: %w", err)
		}
	}
	for _, cmd := range []string{"AT+QSCLK=0", "AT+CREG=2", "AT+CEREG=2"} {
		if err := m.run(ctx, cmd, 0); err != nil {
			if !errors.Is(err, ErrCommand) {
				return fmt.Errorf("modem: init: %w", err)
			}
			m.o.Logger.Info("modem: init: optional command refused", "cmd", cmd, "err", err)
		}
	}
	if m.o.GNSS {
		err := m.run(ctx, "AT+QGPS=1", 0)
		var ce *CMEError
		if err != nil && !(errors.As(err, &ce) && ce.Code == CMEGNSSSessionOngoing) {
			return fmt.Errorf("modem: init: %w", err)
		}
	}
	return nil
}

// Liveness sends "AT" and expects OK within LivenessTimeout. It is the
// probe for the EG91-style failure where the AT channel stops while data
// keeps flowing (user-issues §10.5), so it runs whatever the data state.
func (m *Modem) Liveness(ctx context.Context) error {
	if err := m.run(ctx, "AT", m.o.LivenessTimeout); err != nil {
		return fmt.Errorf("modem: liveness: %w", err)
	}
	return nil
}

// SIM reads AT+CPIN?. "No SIM" (+CME ERROR: 10), "SIM failure" (13) and
// "SIM busy" (14) are states, not errors: they give SIMNotInserted,
// SIMFailure and SIMBusy with a nil error.
func (m *Modem) SIM(ctx context.Context) (SIMState, error) {
	line, err := m.query(ctx, "AT+CPIN?", "+CPIN:", nil)
	var ce *CMEError
	if errors.As(err, &ce) && !ce.CMS {
		switch ce.Code {
		case CMESIMNotInserted:
			return SIMNotInserted, nil
		case CMESIMFailure:
			return SIMFailure, nil
		case CMESIMBusy:
			return SIMBusy, nil
		}
	}
	if err != nil {
		return "", err
	}
	return ParseCPIN(line)
}

// Signal reads AT+CSQ.
func (m *Modem) Signal(ctx context.Context) (Signal, error) {
	line, err := m.query(ctx, "AT+CSQ", "+CSQ:", nil)
	if err != nil {
		return Signal{}, err
	}
	return ParseCSQ(line)
}

// CREG reads AT+CREG? (circuit-switched registration).
func (m *Modem) CREG(ctx context.Context) (Registration, error) {
	line, err := m.query(ctx, "AT+CREG?", "+CREG:", isRegRead)
	if err != nil {
		return Registration{}, err
	}
	return ParseRegistration(line)
}

// CEREG reads AT+CEREG? (EPS, i.e. LTE, registration). A +CEREG URC
// arriving while it waits goes to URCs, not into the answer.
func (m *Modem) CEREG(ctx context.Context) (Registration, error) {
	line, err := m.query(ctx, "AT+CEREG?", "+CEREG:", isRegRead)
	if err != nil {
		return Registration{}, err
	}
	return ParseRegistration(line)
}

// Operator reads AT+COPS?.
func (m *Modem) Operator(ctx context.Context) (Operator, error) {
	line, err := m.query(ctx, "AT+COPS?", "+COPS:", nil)
	if err != nil {
		return Operator{}, err
	}
	return ParseCOPS(line)
}

// ICCID reads AT+QCCID. Without a SIM the error matches
// ErrSIMNotInserted.
func (m *Modem) ICCID(ctx context.Context) (string, error) {
	line, err := m.query(ctx, "AT+QCCID", "+QCCID:", nil)
	if err != nil {
		return "", err
	}
	return ParseQCCID(line)
}

// Identity reads ATI.
func (m *Modem) Identity(ctx context.Context) (Identity, error) {
	lines, err := m.c.exec(ctx, cmdSpec{text: "ATI", raw: true})
	if err != nil {
		return Identity{}, err
	}
	return ParseATI(lines)
}

// ServingCell reads AT+QENG="servingcell".
func (m *Modem) ServingCell(ctx context.Context) (ServingCell, error) {
	lines, err := m.c.exec(ctx, cmdSpec{text: `AT+QENG="servingcell"`, prefix: "+QENG:"})
	if err != nil {
		return ServingCell{}, err
	}
	return ParseQENG(lines)
}

// Location reads AT+QGPSLOC=2. Without a fix the error matches ErrNoFix
// (+CME ERROR: 516); with GNSS off it is a *CMEError with code 505.
func (m *Modem) Location(ctx context.Context) (Fix, error) {
	line, err := m.query(ctx, "AT+QGPSLOC=2", "+QGPSLOC:", nil)
	if err != nil {
		return Fix{}, err
	}
	return ParseQGPSLOC(line)
}

// Info is what identifies the modem and its SIM.
type Info struct {
	Identity
	// ICCID is "" when no SIM is inserted.
	ICCID string
}

// Info reads ATI and AT+QCCID. A missing SIM is not an error.
func (m *Modem) Info(ctx context.Context) (Info, error) {
	id, err := m.Identity(ctx)
	if err != nil {
		return Info{}, err
	}
	iccid, err := m.ICCID(ctx)
	if err != nil && !errors.Is(err, ErrSIMNotInserted) && !errors.Is(err, ErrSIM) {
		return Info{Identity: id}, err
	}
	return Info{Identity: id, ICCID: iccid}, nil
}

// Status is a snapshot of the modem's state.
type Status struct {
	// At is when the snapshot was taken.
	At time.Time
	// Responsive is false when the AT channel did not answer.
	Responsive bool
	// SIM is the SIM state (SIMReady when usable).
	SIM SIMState
	// Reg is the registration state: +CEREG when registered on LTE, else
	// +CREG.
	Reg RegStat
	// Registered is Reg.Registered(); Roaming is Reg == RegRoaming.
	Registered, Roaming bool
	// Signal is AT+CSQ.
	Signal Signal
	// Operator is the operator name, "" when not registered.
	Operator string
	// Cell is the serving cell, nil when it could not be read.
	Cell *ServingCell
	// Location is the GNSS fix, nil without Options.GNSS or without a fix.
	Location *Fix
}

// Status reads SIM, registration, signal, operator, serving cell and
// (with Options.GNSS) position. Parts that fail are left zero and their
// errors joined into the returned error; "no fix" is not an error. When
// the first command times out the rest are skipped and Responsive is
// false.
func (m *Modem) Status(ctx context.Context) (Status, error) {
	st := Status{At: m.o.Clock.Now()}
	var errs []error
	sim, err := m.SIM(ctx)
	if err != nil {
		if errors.Is(err, ErrTimeout) || errors.Is(err, ErrGone) || errors.Is(err, ErrClosed) {
			return st, err
		}
		errs = append(errs, err)
	}
	st.Responsive = true
	st.SIM = sim
	st.Reg = m.registration(ctx, &errs)
	st.Registered, st.Roaming = st.Reg.Registered(), st.Reg == RegRoaming
	if s, err := m.Signal(ctx); err != nil {
		errs = append(errs, err)
	} else {
		st.Signal = s
	}
	if st.Registered {
		if op, err := m.Operator(ctx); err != nil {
			errs = append(errs, err)
		} else {
			st.Operator = op.Name
		}
	}
	if sc, err := m.ServingCell(ctx); err != nil {
		errs = append(errs, err)
	} else {
		st.Cell = &sc
	}
	if m.o.GNSS {
		if fx, err := m.Location(ctx); err == nil {
			st.Location = &fx
		} else if !errors.Is(err, ErrNoFix) {
			errs = append(errs, err)
		}
	}
	return st, errors.Join(errs...)
}

// registration reads +CEREG and, unless registered on LTE, +CREG, and
// returns the better state. A modem that refuses AT+CEREG (no LTE) is not
// an error.
func (m *Modem) registration(ctx context.Context, errs *[]error) RegStat {
	r, err := m.CEREG(ctx)
	if err == nil && r.Stat.Registered() {
		return r.Stat
	}
	if err != nil && !errors.Is(err, ErrCommand) {
		*errs = append(*errs, err)
	}
	r2, err2 := m.CREG(ctx)
	if err2 != nil {
		*errs = append(*errs, err2)
		if err == nil {
			return r.Stat
		}
		return RegUnknown
	}
	if r2.Stat.Registered() || err != nil {
		return r2.Stat
	}
	return r.Stat
}
