package clock

import (
	"context"
	"sync"
	"time"
)

// WithTimeoutCause is context.WithTimeoutCause measured on clk, so that a
// Fake decides when the wait ends (DESIGN.md invariant 10): after d has
// passed on clk the context is canceled with cause (read it with
// context.Cause; Err reports context.Canceled). The timer is armed before
// it returns, so a test's clock step cannot slip in first. The returned
// cancel releases the timer's goroutine; call it when done.
func WithTimeoutCause(ctx context.Context, clk Clock, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	timer := clk.After(d)
	go func() {
		select {
		case <-timer:
			cancel(cause)
		case <-stop:
		case <-ctx.Done():
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(stop)
			cancel(context.Canceled)
		})
	}
}
