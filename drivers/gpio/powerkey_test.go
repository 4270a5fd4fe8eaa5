package gpio

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func pulseAsync(ctx context.Context, fn func(context.Context) error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn(ctx) }()
	return ch
}

func recvErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(liveness):
		t.Fatal("pulse did not return")
		return nil
	}
}

func TestPowerKeyPulses(t *testing.T) {
	hc := newHookClock()
	rec := newRecorder(hc)
	p := newRecPin("PWRKEY", rec)
	k, err := NewPowerKey(p, PowerKeyOptions{Clock: hc})
	if err != nil {
		t.Fatal(err)
	}
	ch := pulseAsync(t.Context(), k.PowerOn)
	hc.step(t, DefaultPowerOnPulse)
	if err := recvErr(t, ch); err != nil {
		t.Fatal(err)
	}
	hc.Advance(time.Second)
	ch = pulseAsync(t.Context(), k.PowerOff)
	hc.step(t, DefaultPowerOffPulse)
	if err := recvErr(t, ch); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0s PWRKEY Low", // released at construction
		"0s PWRKEY High", "600ms PWRKEY Low",
		"1.6s PWRKEY High", "2.35s PWRKEY Low",
	}
	if got := rec.events(); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// A GPIO wired straight to PWRKEY (no transistor) is active low: pressing
// drives the line physically low.
func TestPowerKeyActiveLow(t *testing.T) {
	hc := newHookClock()
	rec := newRecorder(hc)
	p := newRecPin("PWRKEY", rec)
	k, err := NewPowerKey(ActiveLow(p), PowerKeyOptions{Clock: hc, On: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ch := pulseAsync(t.Context(), k.PowerOn)
	hc.step(t, 2*time.Second)
	if err := recvErr(t, ch); err != nil {
		t.Fatal(err)
	}
	want := []string{"0s PWRKEY High", "0s PWRKEY Low", "2s PWRKEY High"}
	if got := rec.events(); !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestPulseCancelReleasesAtOnce(t *testing.T) {
	hc := newHookClock()
	rec := newRecorder(hc)
	p := newRecPin("PWRKEY", rec)
	ctx, cancel := context.WithCancel(t.Context())
	ch := pulseAsync(ctx, func(ctx context.Context) error { return Pulse(ctx, hc, p, 600*time.Millisecond) })
	hc.next(t)
	hc.Advance(100 * time.Millisecond)
	cancel()
	err := recvErr(t, ch)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("err %v", err)
	}
	want := []string{"0s PWRKEY High", "100ms PWRKEY Low"}
	if got := rec.events(); !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	// Already cancelled: the key is not touched.
	if err := Pulse(ctx, hc, p, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if got := rec.events(); len(got) != 2 {
		t.Fatalf("pin driven after a cancelled start: %q", got)
	}
}

func TestPulseErrors(t *testing.T) {
	hc := newHookClock()
	p := newRecPin("PWRKEY", newRecorder(hc))
	for _, d := range []time.Duration{0, -time.Millisecond, MaxPulse + 1} {
		if err := Pulse(t.Context(), hc, p, d); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "pulse") {
			t.Errorf("Pulse(%v): %v", d, err)
		}
	}
	if err := Pulse(t.Context(), hc, nil, time.Second); !errors.Is(err, ErrConfig) {
		t.Errorf("nil pin: %v", err)
	}
	p.failOut(errors.New("device or resource busy"))
	err := Pulse(t.Context(), hc, p, time.Second)
	if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), "line busy") || !strings.Contains(err.Error(), "release") {
		t.Fatalf("err %v", err)
	}
	if _, err := NewPowerKey(p, PowerKeyOptions{}); !errors.Is(err, ErrPin) {
		t.Fatalf("NewPowerKey on a failing pin: %v", err)
	}
	if _, err := NewPowerKey(newRecPin("K", newRecorder(hc)), PowerKeyOptions{Off: time.Minute}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Off") {
		t.Fatalf("long Off: %v", err)
	}
}
