package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWithTimeoutCause(t *testing.T) {
	f := NewFake(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))
	why := errors.New("no answer within 5s")
	ctx, cancel := WithTimeoutCause(context.Background(), f, 5*time.Second, why)
	defer cancel()
	f.Advance(4 * time.Second)
	select {
	case <-ctx.Done():
		t.Fatal("done before the timeout passed on the clock")
	case <-time.After(20 * time.Millisecond):
	}
	f.Advance(time.Second)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not done after the timeout passed on the clock")
	}
	if !errors.Is(context.Cause(ctx), why) || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("cause %v, err %v", context.Cause(ctx), ctx.Err())
	}

	ctx2, cancel2 := WithTimeoutCause(context.Background(), f, time.Minute, why)
	cancel2()
	cancel2() // twice is fine
	if !errors.Is(context.Cause(ctx2), context.Canceled) {
		t.Fatalf("cancelled early: cause %v", context.Cause(ctx2))
	}
}
