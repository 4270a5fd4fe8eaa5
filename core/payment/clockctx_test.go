package payment

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second): // hang guard, not a timing assertion
		t.Fatal("context not done")
	}
}

func TestClockTimeoutExpiresOnTheInjectedClock(t *testing.T) {
	clk := clock.NewFake(t0)
	ctx, cancel := withClockTimeout(context.Background(), clk, 30*time.Second)
	defer cancel()
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()

	if d, ok := ctx.Deadline(); !ok || !d.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("Deadline = %v, %v", d, ok)
	}
	clk.Advance(29 * time.Second)
	if ctx.Err() != nil {
		t.Fatalf("expired early: %v", ctx.Err())
	}
	clk.Advance(time.Second)
	waitDone(t, ctx)
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v, want DeadlineExceeded", ctx.Err())
	}
	waitDone(t, child)
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("derived context Err = %v, want DeadlineExceeded", child.Err())
	}
}

func TestClockTimeoutCancel(t *testing.T) {
	type key struct{}
	clk := clock.NewFake(t0)
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx, cancel := withClockTimeout(parent, clk, time.Minute)
	defer cancel()
	if ctx.Value(key{}) != "v" {
		t.Fatal("value not inherited")
	}
	cancelParent()
	waitDone(t, ctx)
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("after parent cancel: %v", ctx.Err())
	}
	clk.Advance(time.Hour)
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err changed after the timer: %v", ctx.Err())
	}

	ctx2, cancel2 := withClockTimeout(context.Background(), clk, time.Minute)
	cancel2()
	if !errors.Is(ctx2.Err(), context.Canceled) {
		t.Fatalf("after cancel: %v", ctx2.Err())
	}

	// An already-done parent gives an already-done context.
	ctx3, cancel3 := withClockTimeout(parent, clk, time.Minute)
	defer cancel3()
	if !errors.Is(ctx3.Err(), context.Canceled) {
		t.Fatalf("done parent: %v", ctx3.Err())
	}
}

func TestClockTimeoutKeepsEarlierParentDeadline(t *testing.T) {
	clk := clock.NewFake(t0)
	early := t0.Add(time.Second)
	parent, cancel := context.WithDeadline(context.Background(), early)
	defer cancel()
	ctx, cancel2 := withClockTimeout(parent, clk, time.Minute)
	defer cancel2()
	if d, _ := ctx.Deadline(); !d.Equal(early) {
		t.Fatalf("Deadline = %v, want the parent's %v", d, early)
	}
}
