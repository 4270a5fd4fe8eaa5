package payment

import (
	"context"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// withClockTimeout is context.WithTimeout measured on an injected clock, so
// that a clock.Fake decides when card and acquirer waits expire (DESIGN.md
// invariant 10). The returned context reports context.DeadlineExceeded
// from Err once d has passed on clk, its Deadline is clk.Now()+d (or the
// parent's, if earlier), and it is done when the parent is. Contexts
// derived from it see the same Err.
//
// It is a full context implementation rather than a wrapper around a
// context.WithCancel context on purpose: the standard library would
// otherwise attach derived contexts to the inner cancel context directly,
// and they would report context.Canceled instead of DeadlineExceeded.
func withClockTimeout(parent context.Context, clk clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	c := &clockCtx{parent: parent, deadline: clk.Now().Add(d), done: make(chan struct{})}
	if pd, ok := parent.Deadline(); ok && pd.Before(c.deadline) {
		c.deadline = pd
	}
	if err := parent.Err(); err != nil {
		c.finish(err)
		return c, func() {}
	}
	timer := clk.After(d)
	stop := context.AfterFunc(parent, func() { c.finish(parent.Err()) })
	go func() {
		select {
		case <-timer:
			c.finish(context.DeadlineExceeded)
		case <-c.done:
		}
	}()
	return c, func() {
		stop()
		c.finish(context.Canceled)
	}
}

type clockCtx struct {
	parent   context.Context
	deadline time.Time
	done     chan struct{}

	once sync.Once
	mu   sync.Mutex
	err  error
}

func (c *clockCtx) finish(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	})
}

// Deadline implements context.Context.
func (c *clockCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context.
func (c *clockCtx) Done() <-chan struct{} { return c.done }

// Err implements context.Context.
func (c *clockCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value implements context.Context.
func (c *clockCtx) Value(key any) any { return c.parent.Value(key) }
