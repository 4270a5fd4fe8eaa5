package modem

import (
	"context"
	"errors"
	"time"
)

// Connectivity is what store-and-forward needs to know about the modem's
// side of the link (DESIGN §4 "Offline"): it is one of the two sources of
// connectivity, the other being the acquirer link itself.
type Connectivity struct {
	// At is when the poll finished.
	At time.Time
	// Responsive is false when the AT channel did not answer (the other
	// fields are then zero).
	Responsive bool
	// SIMReady reports +CPIN: READY.
	SIMReady bool
	// Registered reports registration, home or roaming (+CEREG, else
	// +CREG); Roaming tells which.
	Registered, Roaming bool
	// SignalDBm is the AT+CSQ strength; SignalKnown is false for CSQ 99.
	SignalDBm   int
	SignalKnown bool
	// Err is what went wrong in the poll, nil when every read succeeded.
	Err error
}

// Up reports whether the modem side can carry traffic: responsive, SIM
// ready and registered.
func (c Connectivity) Up() bool { return c.Responsive && c.SIMReady && c.Registered }

// changed reports whether o differs from c enough to publish.
func (c Connectivity) changed(o Connectivity, step int) bool {
	if c.Responsive != o.Responsive || c.SIMReady != o.SIMReady || c.Registered != o.Registered ||
		c.Roaming != o.Roaming || c.SignalKnown != o.SignalKnown {
		return true
	}
	d := c.SignalDBm - o.SignalDBm
	return d >= step || -d >= step
}

// Poll reads SIM, registration and signal once (AT+CPIN?, AT+CEREG?,
// AT+CREG?, AT+CSQ) into a Connectivity.
func (m *Modem) Poll(ctx context.Context) Connectivity {
	var c Connectivity
	var errs []error
	sim, err := m.SIM(ctx)
	if err != nil && (errors.Is(err, ErrTimeout) || errors.Is(err, ErrGone) || errors.Is(err, ErrClosed)) {
		c.Err = err
		c.At = m.o.Clock.Now()
		return c
	}
	if err != nil {
		errs = append(errs, err)
	}
	c.Responsive = true
	c.SIMReady = sim.Ready()
	reg := m.registration(ctx, &errs)
	c.Registered, c.Roaming = reg.Registered(), reg == RegRoaming
	if s, err := m.Signal(ctx); err != nil {
		errs = append(errs, err)
	} else {
		c.SignalDBm, c.SignalKnown = s.DBm, s.Known
	}
	c.Err = errors.Join(errs...)
	c.At = m.o.Clock.Now()
	return c
}

// Watch polls every interval (URCs alone are not reliable enough:
// user-issues §10.8) and publishes a Connectivity when it changes:
// responsiveness, SIM, registration or roaming flip, the signal becomes
// known or unknown, or moves by Options.SignalStep dB or more. The first
// poll is always published. A +CREG/+CEREG/+CPIN/RDY URC triggers a poll
// at once (one Watch gets it when several run). The channel holds the
// latest value (a slow reader misses intermediate ones) and is closed
// when ctx ends. An interval ≤ 0 is refused with a closed channel and a
// logged error.
func (m *Modem) Watch(ctx context.Context, interval time.Duration) <-chan Connectivity {
	out := make(chan Connectivity, 1)
	if interval <= 0 {
		m.o.Logger.Error("modem: watch: interval must be > 0", "interval", interval)
		close(out)
		return out
	}
	go func() {
		defer close(out)
		var last Connectivity
		first := true
		for {
			cur := m.Poll(ctx)
			if ctx.Err() != nil {
				return
			}
			if first || last.changed(cur, m.o.SignalStep) {
				first = false
				last = cur
				select {
				case out <- cur:
				default:
					select {
					case <-out:
					default:
					}
					out <- cur
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-m.o.Clock.After(interval):
			case <-m.c.poke:
			}
		}
	}()
	return out
}
