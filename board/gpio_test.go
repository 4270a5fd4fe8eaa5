package board

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/drivers/gpio"
	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// fakePins registers periph's fake pins under test names (the registry is
// global: each test uses its own names).
func fakePins(t *testing.T, names ...string) map[string]*gpiotest.Pin {
	t.Helper()
	out := map[string]*gpiotest.Pin{}
	for _, n := range names {
		p := &gpiotest.Pin{N: n, EdgesChan: make(chan pgpio.Level, 16)}
		if err := gpioreg.Register(p); err != nil {
			t.Fatal(err)
		}
		out[n] = p
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTamperLocksPaymentsUntilCleared(t *testing.T) {
	pins := fakePins(t, "TL1", "TL2", "TL3", "TL4", "TBZ", "TTAMPER")
	pins["TTAMPER"].L = pgpio.Low // case closed
	p := Profile{Name: "t", Pins: Pins{Lights: [4]string{"TL1", "TL2", "TL3", "TL4"}, Buzzer: "TBZ", Tamper: "TTAMPER"}}
	latch := filepath.Join(t.TempDir(), "tamper.latch")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := openGPIO(ctx, p, latch, clock.System{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.stop()
	if g.indicator == nil {
		t.Fatal("no indicator from lights and buzzer")
	}
	if err := g.Gate(); err != nil {
		t.Fatalf("closed case: %v", err)
	}
	// The case opens: an edge, then the level stays high.
	pins["TTAMPER"].Out(pgpio.High)
	pins["TTAMPER"].EdgesChan <- pgpio.High
	eventually(t, "the tamper latch", func() bool { return errors.Is(g.Gate(), ErrTampered) })
	// The alarm handler saves the latch just after the gate closes.
	eventually(t, "the latch file", func() bool { _, err := os.Stat(latch); return err == nil })
	// Closing the case does not unlock: a technician must clear it.
	pins["TTAMPER"].Out(pgpio.Low)
	pins["TTAMPER"].EdgesChan <- pgpio.Low
	eventually(t, "the case to read closed", func() bool { return !g.tamper.Open() })
	if !errors.Is(g.Gate(), ErrTampered) {
		t.Fatal("closing the case cleared the latch by itself")
	}
	if err := g.ClearTamper(); err != nil {
		t.Fatal(err)
	}
	if err := g.Gate(); err != nil {
		t.Fatalf("after clear: %v", err)
	}
	if _, err := os.Stat(latch); !os.IsNotExist(err) {
		t.Fatalf("latch file still there after clear: %v", err)
	}
}

func TestTamperLatchSurvivesRestart(t *testing.T) {
	fakePins(t, "RTAMPER")
	latch := filepath.Join(t.TempDir(), "tamper.latch")
	if err := (&tamperLatch{path: latch}).set(time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := openGPIO(ctx, Profile{Name: "t", Pins: Pins{Tamper: "RTAMPER"}}, latch, clock.System{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.stop()
	if !errors.Is(g.Gate(), ErrTampered) {
		t.Fatal("a restart cleared the tamper latch")
	}
}

func TestMissingPinIsAStartupError(t *testing.T) {
	_, err := openGPIO(context.Background(), Profile{Name: "t", Pins: Pins{Tamper: "NOSUCHPIN"}}, filepath.Join(t.TempDir(), "l"), clock.System{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, gpio.ErrNoPin) {
		t.Fatalf("missing pin: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "NOSUCHPIN") || !strings.Contains(err.Error(), "tamper") {
		t.Fatalf("error does not name the pin and its role: %v", err)
	}
}
