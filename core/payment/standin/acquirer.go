package standin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// Acquirer is the stand-in acquirer host, replaced by the ISO 8583 link.
// It decides by the rules in the package documentation. Safe for
// concurrent use.
type Acquirer struct {
	clk clock.Clock

	mu        sync.Mutex
	log       *slog.Logger
	down      bool
	auths     int
	reversals int
}

// NewAcquirer returns a stand-in host that is up and reads its time (the
// host time sent back with each answer) from clk; nil means clock.System.
// It logs nothing until SetLogger is called.
func NewAcquirer(clk clock.Clock) *Acquirer {
	if clk == nil {
		clk = clock.System{}
	}
	return &Acquirer{clk: clk, log: slog.New(slog.DiscardHandler)}
}

// SetLogger makes the host log each answer to l (nil discards).
func (a *Acquirer) SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log = l
}

func (a *Acquirer) logger() *slog.Logger {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log
}

// hostTime is fields 12 and 13 as the host sends them back: hhmmss and
// MMDD of the host clock (UTC here).
func (a *Acquirer) hostTime() string { return a.clk.Now().UTC().Format("1504050102") }

// SetDown switches the host off (true) or on (false). While off, Authorize
// and Reverse fail with an error wrapping payment.ErrUnreachable.
func (a *Acquirer) SetDown(down bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = down
}

// Counts returns how many authorisations and reversals the host answered.
func (a *Acquirer) Counts() (authorisations, reversals int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.auths, a.reversals
}

// decline is one of the amount-driven decline rules.
type decline struct{ code, message string }

var declines = map[int64]decline{
	51: {"51", "insufficient funds"},
	5:  {"05", "do not honour"},
	14: {"14", "invalid card number"},
	96: {"96", "system malfunction"},
}

// Authorize implements payment.Acquirer by the amount rules. An approval
// carries response code 00, an auth code of six digits, (STAN × 7919) mod
// 10^6, and an RRN of twelve digits, the batch number and the STAN, six
// digits each. Every answer carries the host time (fields 12 and 13).
func (a *Acquirer) Authorize(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
	rec := req.Record
	last2 := rec.Amount.Minor % 100
	if last2 == 98 {
		<-ctx.Done()
		a.logger().Info("standin host: no answer (amount ends in 98)", "stan", rec.Identity.STAN)
		return payment.AuthResponse{}, fmt.Errorf("%w: stand-in host did not answer (amount ends in 98): %w", payment.ErrNoResponse, ctx.Err())
	}
	if err := a.reachable(ctx); err != nil {
		return payment.AuthResponse{}, err
	}
	if last2 == 99 {
		return payment.AuthResponse{}, fmt.Errorf("%w: stand-in host refused the connection (amount ends in 99)", payment.ErrUnreachable)
	}
	a.mu.Lock()
	a.auths++
	a.mu.Unlock()

	d, isDecline := declines[last2]
	if pan := req.Sensitive.PAN; !isDecline && pan != "" && card.ValidPAN(pan) != nil {
		d, isDecline = declines[14], true
	}
	if isDecline {
		a.logger().Info("standin host: declined", "stan", rec.Identity.STAN, "code", d.code)
		return payment.AuthResponse{Outcome: txn.Outcome{ResponseCode: d.code, Message: d.message, HostTime: a.hostTime()}}, nil
	}
	stan := uint64(rec.Identity.STAN)
	out := txn.Outcome{
		ResponseCode: "00",
		AuthCode:     fmt.Sprintf("%06d", stan*7919%1_000_000),
		RRN:          fmt.Sprintf("%06d%06d", rec.Identity.Batch%1_000_000, stan%1_000_000),
		Message:      "approved",
		HostTime:     a.hostTime(),
	}
	a.logger().Info("standin host: approved", "stan", rec.Identity.STAN, "auth_code", out.AuthCode)
	return payment.AuthResponse{Approved: true, Outcome: out}, nil
}

// Reverse implements payment.Acquirer: it acknowledges every reversal
// while the host is up.
func (a *Acquirer) Reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	if err := a.reachable(ctx); err != nil {
		return txn.Outcome{}, err
	}
	a.mu.Lock()
	a.reversals++
	a.mu.Unlock()
	a.logger().Info("standin host: reversal acknowledged", "stan", rec.Identity.STAN)
	return txn.Outcome{ResponseCode: "00", Message: "reversal accepted", HostTime: a.hostTime()}, nil
}

func (a *Acquirer) reachable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: not sent: %w", payment.ErrUnreachable, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return fmt.Errorf("%w: stand-in host is down (SetDown)", payment.ErrUnreachable)
	}
	return nil
}

var _ payment.Acquirer = (*Acquirer)(nil)
