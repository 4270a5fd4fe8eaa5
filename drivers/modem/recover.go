package modem

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Step names a rung of the recovery ladder.
type Step string

// Recovery steps, in the order Recover tries them.
const (
	// StepReinit re-runs Init (AT sync, ATE0, AT+CMEE=2, AT+QSCLK=0, …)
	// and checks liveness.
	StepReinit Step = "reinit"
	// StepSoftReset is AT+CFUN=0 then AT+CFUN=1 (or AT+CFUN=1,1 with
	// Options.RebootOnSoftReset), then Init and liveness.
	StepSoftReset Step = "soft-reset"
	// StepPowerKey pulses the power key through Options.PowerKey, waits
	// for RDY, then Init and liveness.
	StepPowerKey Step = "power-key"
)

// StepResult is the outcome of one recovery step.
type StepResult struct {
	Step Step
	// Err is nil when the step brought the modem back.
	Err error
	// Took is how long the step ran.
	Took time.Duration
}

// RecoveryReport lists the steps Recover ran, in order.
type RecoveryReport struct {
	Steps []StepResult
	// Recovered is true when the last step succeeded.
	Recovered bool
}

// String summarises the report for logs: "reinit: timed out; soft-reset: ok".
func (r RecoveryReport) String() string {
	s := ""
	for i, st := range r.Steps {
		if i > 0 {
			s += "; "
		}
		s += string(st.Step) + ": "
		if st.Err == nil {
			s += "ok"
		} else {
			s += st.Err.Error()
		}
	}
	return s
}

// Recover escalates until the AT channel answers again (user-issues
// §10.3–§10.6): re-init, then soft reset, then the power key. Each step
// is bounded by its Options deadline and ctx; each outcome is logged and
// reported. It stops at the first step that works and returns a nil
// error; when none works the error matches ErrNotRecovered and joins the
// steps' errors. A lost port does not stop the ladder: a step waiting for
// RDY also waits for the owner's Reattach.
func (m *Modem) Recover(ctx context.Context) (RecoveryReport, error) {
	steps := []struct {
		step    Step
		timeout time.Duration
		run     func(context.Context) error
	}{
		{StepReinit, m.o.ReinitStepTimeout, func(ctx context.Context) error {
			if err := m.Init(ctx); err != nil {
				return err
			}
			return m.Liveness(ctx)
		}},
		{StepSoftReset, m.o.SoftResetStepTimeout, m.SoftReset},
		{StepPowerKey, m.o.PowerKeyStepTimeout, m.PowerCycle},
	}
	var rep RecoveryReport
	var errs []error
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		start := m.o.Clock.Now()
		err := s.run(sctx)
		cancel()
		res := StepResult{Step: s.step, Err: err, Took: m.o.Clock.Now().Sub(start)}
		rep.Steps = append(rep.Steps, res)
		if err == nil {
			m.o.Logger.Warn("modem: recovered", "step", s.step, "took", res.Took)
			rep.Recovered = true
			return rep, nil
		}
		m.o.Logger.Warn("modem: recovery step failed", "step", s.step, "took", res.Took, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", s.step, err))
	}
	return rep, fmt.Errorf("%w: %w", ErrNotRecovered, errors.Join(errs...))
}

// SoftReset restarts the modem's functionality without power: AT+CFUN=0
// then AT+CFUN=1 (each bounded by CFUNTimeout), or, with
// Options.RebootOnSoftReset, AT+CFUN=1,1 followed by the wait for RDY
// (the USB ports drop: the owner must Reattach meanwhile). Then Init and
// a liveness check.
func (m *Modem) SoftReset(ctx context.Context) error {
	if m.o.RebootOnSoftReset {
		boot := m.c.bootSignal()
		err := m.run(ctx, "AT+CFUN=1,1", m.o.CFUNTimeout)
		// The module may drop off USB, or reset, before its OK gets out:
		// a lost port or a missing OK still means "wait for RDY".
		if err != nil && !errors.Is(err, ErrGone) && !errors.Is(err, ErrTimeout) {
			return fmt.Errorf("modem: soft reset: %w", err)
		}
		return m.afterBoot(ctx, boot, "AT+CFUN=1,1")
	}
	if err := m.run(ctx, "AT+CFUN=0", m.o.CFUNTimeout); err != nil {
		return fmt.Errorf("modem: soft reset: %w", err)
	}
	if err := m.run(ctx, "AT+CFUN=1", m.o.CFUNTimeout); err != nil {
		return fmt.Errorf("modem: soft reset: %w", err)
	}
	if err := m.Init(ctx); err != nil {
		return err
	}
	return m.Liveness(ctx)
}

// PowerCycle pulses the power key through Options.PowerKey, waits for
// RDY (on this port or, after a USB drop, on the one handed over by
// Reattach), then runs Init and a liveness check.
func (m *Modem) PowerCycle(ctx context.Context) error {
	if m.o.PowerKey == nil {
		return ErrNoPowerKey
	}
	boot := m.c.bootSignal()
	if err := m.o.PowerKey(ctx); err != nil {
		return fmt.Errorf("modem: power key: %w", err)
	}
	return m.afterBoot(ctx, boot, "power key")
}

// afterBoot waits for RDY (closed boot), bounded by BootTimeout, then
// re-initialises. When no RDY comes but the modem answers AT, it goes on
// (the RDY may have been sent before the new port was opened).
func (m *Modem) afterBoot(ctx context.Context, boot <-chan struct{}, what string) error {
	select {
	case <-boot:
	case <-ctx.Done():
		return fmt.Errorf("modem: %s: waiting for RDY: %w", what, ctx.Err())
	case <-m.o.Clock.After(m.o.BootTimeout):
		if err := m.Liveness(ctx); err != nil {
			return fmt.Errorf("modem: %s: no RDY within %v and no answer to AT: %w", what, m.o.BootTimeout, err)
		}
		m.o.Logger.Warn("modem: no RDY seen after reset, but AT answers", "after", what)
	}
	if err := m.waitPort(ctx); err != nil {
		return fmt.Errorf("modem: %s: %w", what, err)
	}
	if err := m.Init(ctx); err != nil {
		return err
	}
	return m.Liveness(ctx)
}

// waitPort returns once a live port is attached.
func (m *Modem) waitPort(ctx context.Context) error {
	for {
		if _, err := m.c.current(); err == nil || errors.Is(err, ErrClosed) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for Reattach: %w", ErrGone, ctx.Err())
		case <-m.o.Clock.After(m.o.ReadSlice):
		}
	}
}
