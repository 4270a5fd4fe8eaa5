package board

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/drivers/gpio"
	pgpio "periph.io/x/conn/v3/gpio"
)

// ErrTampered is returned by the payment gate while the case-open latch is
// set: payments stay locked until a technician clears it.
var ErrTampered = errors.New("board: terminal case was opened (tamper switch): payments locked until a technician clears it (posagent tamper clear)")

// gpioDevices are a board's GPIO lines, wired.
type gpioDevices struct {
	indicator payment.Indicator
	tamper    *gpio.Tamper
	latch     *tamperLatch
	stop      func()
}

// openGPIO opens the lights, buzzer and tamper switch a profile names.
// A pin the profile names that does not exist is a start-up error naming
// the pin and its role. The tamper latch persists in latchFile so a
// restart does not clear it.
func openGPIO(ctx context.Context, p Profile, latchFile string, clk clock.Clock, log *slog.Logger) (*gpioDevices, error) {
	pins := p.Pins
	if pins.Lights[0] == "" && pins.Buzzer == "" && pins.Tamper == "" {
		return nil, nil
	}
	if err := gpio.Init(ctx); err != nil {
		return nil, err
	}
	g := &gpioDevices{}
	var lights *gpio.Lights
	if pins.Lights[0] != "" {
		var outs []pgpio.PinOut
		for i, spec := range pins.Lights {
			pin, _, err := gpio.Open(fmt.Sprintf("light %d", i+1), spec)
			if err != nil {
				return nil, err
			}
			outs = append(outs, pin)
		}
		var err error
		if lights, err = gpio.NewLights(outs...); err != nil {
			return nil, err
		}
	}
	var buzzer *gpio.Buzzer
	if pins.Buzzer != "" {
		pin, _, err := gpio.Open("buzzer", pins.Buzzer)
		if err != nil {
			return nil, err
		}
		if buzzer, err = gpio.NewBuzzer(pin, gpio.BuzzerAuto, log); err != nil {
			return nil, err
		}
	}
	if lights != nil || buzzer != nil {
		ind, err := gpio.NewIndicator(lights, buzzer, gpio.IndicatorOptions{Clock: clk, Log: log})
		if err != nil {
			return nil, err
		}
		g.indicator = ind
	}
	if pins.Tamper != "" {
		pin, sp, err := gpio.Open("tamper", pins.Tamper)
		if err != nil {
			return nil, err
		}
		g.latch = &tamperLatch{path: latchFile}
		g.tamper, err = gpio.NewTamper(pin, gpio.TamperOptions{
			Input: gpio.InputOptions{Pull: sp.Pull, Clock: clk, Log: log},
			OnAlarm: func(at time.Time) {
				log.Error("ALARM: terminal case opened (tamper switch); payments locked", "at", at.UTC())
				if err := g.latch.set(at); err != nil {
					log.Error("tamper latch could not be saved", "err", err)
				}
			},
		})
		if err != nil {
			return nil, err
		}
		if at, ok := g.latch.load(); ok {
			g.tamper.Restore(at)
		}
		tctx, cancel := context.WithCancel(ctx)
		g.stop = cancel
		go func() { _ = g.tamper.Run(tctx) }()
	}
	return g, nil
}

// Gate returns nil while payments may be taken, ErrTampered otherwise.
func (g *gpioDevices) Gate() error {
	if g == nil || g.tamper == nil {
		return nil
	}
	if open, at := g.tamper.Tampered(); open {
		return fmt.Errorf("%w (since %s)", ErrTampered, at.UTC().Format(time.RFC3339))
	}
	return nil
}

// ClearTamper clears the latch (a technician, after inspecting the case).
// It fails while the case is still open.
func (g *gpioDevices) ClearTamper() error {
	if g == nil || g.tamper == nil {
		return errors.New("board: this board has no tamper switch")
	}
	if err := g.tamper.Clear(); err != nil {
		return err
	}
	return g.latch.clear()
}

// tamperLatch persists the tamper alarm across restarts.
type tamperLatch struct {
	mu   sync.Mutex
	path string
}

func (l *tamperLatch) set(at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, _ := json.Marshal(struct {
		At time.Time `json:"at"`
	}{at.UTC()})
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return err
	}
	// Durable before it returns: whoever opened the case may pull the
	// power next, and the latch must still be there at boot.
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(l.path))
}

// syncDir fsyncs a directory, so a rename in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (l *tamperLatch) load() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := os.ReadFile(l.path)
	if err != nil {
		return time.Time{}, false
	}
	var v struct {
		At time.Time `json:"at"`
	}
	if json.Unmarshal(b, &v) != nil || v.At.IsZero() {
		// A latch file we cannot read still means "it was tampered".
		return time.Unix(0, 0).UTC(), true
	}
	return v.At, true
}

func (l *tamperLatch) clear() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
