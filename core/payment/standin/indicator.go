package standin

import (
	"context"
	"log/slog"
	"sync"

	"github.com/posagent/posagent/core/payment"
)

// Indicator is the stand-in for the status lights and buzzer, replaced by
// the GPIO driver. It logs each signal and remembers the last one.
type Indicator struct {
	log  *slog.Logger
	mu   sync.Mutex
	last payment.Signal
}

// NewIndicator returns an indicator logging to log (nil discards).
func NewIndicator(log *slog.Logger) *Indicator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Indicator{log: log, last: payment.SignalIdle}
}

// Indicate implements payment.Indicator.
func (i *Indicator) Indicate(ctx context.Context, s payment.Signal) {
	i.mu.Lock()
	i.last = s
	i.mu.Unlock()
	i.log.InfoContext(ctx, "indicator", "signal", string(s))
}

// Last returns the last signal shown.
func (i *Indicator) Last() payment.Signal {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.last
}

var _ payment.Indicator = (*Indicator)(nil)
