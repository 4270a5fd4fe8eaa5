package board

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/payment/standin"
	"github.com/posagent/posagent/drivers/escpos"
	"github.com/posagent/posagent/drivers/modem"
	"github.com/posagent/posagent/drivers/pn532"
	"github.com/posagent/posagent/drivers/scanner"
	"github.com/posagent/posagent/drivers/serialio"
)

// ErrNoReader is returned when a profile has no card reader.
var ErrNoReader = errors.New("board: profile has no card reader")

// openProfile opens the real drivers a profile names. Every serial device
// is opened through a serialio.Reopener: a device that is missing at start
// or unplugged later is reported and reopened with backoff, and the agent
// keeps running (DESIGN.md invariant 7).
func openProfile(ctx context.Context, p Profile, cfg *config.Config, clk clock.Clock, log *slog.Logger) (*Devices, error) {
	d := &Devices{Profile: p.Name}
	port := func(role string, pt *Port) serialio.Config {
		c := serialio.Config{Path: pt.Path, USB: pt.USB, Baud: pt.Baud, Logger: log.With("device", role)}
		if p.Name == "sim" && c.Path != "" && !filepath.IsAbs(c.Path) {
			dir := cfg.Board.SimDir
			if dir == "" {
				dir = "run/possim"
			}
			c.Path = filepath.Join(dir, c.Path)
		}
		return c
	}
	if p.Reader == nil {
		return nil, fmt.Errorf("%w %q", ErrNoReader, p.Name)
	}
	rd, err := serialio.OpenReopener(ctx, port("reader", p.Reader), serialio.ReopenOptions{Clock: clk})
	if err != nil {
		return nil, fmt.Errorf("reader port: %w", err)
	}
	d.closer = append(d.closer, rd)
	d.readerPort = rd
	dev := pn532.New(rd, pn532.Options{Logger: log.With("device", "reader"), Clock: clk})
	d.Cards = NewPN532Source(dev, CardSourceOptions{
		Clock: clk, Logger: log.With("device", "reader"),
		OnPrompt: func(msg string) { log.Info("reader prompt", "prompt", msg) },
	})
	d.Reader = dev

	if p.Printer != nil {
		pp, err := serialio.OpenReopener(ctx, port("printer", p.Printer), serialio.ReopenOptions{Clock: clk})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("printer port: %w", err)
		}
		d.closer = append(d.closer, pp)
		d.printerPort = pp
		prof, err := escpos.ProfileByName(p.PrinterModel)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("printer model: %w", err)
		}
		ep, err := escpos.New(pp, escpos.Options{Profile: prof, Clock: clk, Logger: log.With("device", "printer")})
		if err != nil {
			d.Close()
			return nil, err
		}
		d.Printer = NewReceiptPrinter(ep, log.With("device", "printer"))
		d.EscPos = ep
	}
	var scan *scanner.Serial
	if p.Scanner != nil {
		sp, err := serialio.OpenReopener(ctx, port("scanner", p.Scanner), serialio.ReopenOptions{Clock: clk})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("scanner port: %w", err)
		}
		d.closer = append(d.closer, sp)
		d.scannerPort = sp
		if scan, err = scanner.NewSerial(sp, sp.Path(), scanner.Options{Clock: clk, Logger: log.With("device", "scanner")}); err != nil {
			d.Close()
			return nil, err
		}
		d.Cards = NewMultiSource(log, d.Cards, &scannerSource{s: scan, log: log})
	}
	if p.ModemAT != nil {
		mp, err := serialio.OpenReopener(ctx, port("modem", p.ModemAT), serialio.ReopenOptions{Clock: clk})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("modem port: %w", err)
		}
		d.closer = append(d.closer, mp)
		d.modemPort = mp
		d.Modem = modem.New(mp, modem.Options{Clock: clk, Logger: log.With("device", "modem")})
		d.closer = append(d.closer, closerFunc(d.Modem.Close))
	}
	// Lights, buzzer and tamper switch come from GPIO on hardware
	// profiles; the sim board has none, so its indicator only logs.
	g, err := openGPIO(ctx, p, filepath.Join(filepath.Dir(cfg.Journal.Path), "tamper.latch"), clk, log)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("gpio: %w", err)
	}
	d.gpio = g
	if g != nil && g.stop != nil {
		d.closer = append(d.closer, closerFunc(func() error { g.stop(); return nil }))
	}
	if g != nil && g.indicator != nil {
		d.Indicator = g.indicator
	} else {
		d.Indicator = standin.NewIndicator(log)
	}
	if p.Name == "sim" {
		d.Acquirer = standin.NewAcquirer(clk)
	}
	log.Info("board opened", "profile", p.Name, "reader", port("reader", p.Reader).Name())
	return d, nil
}

var _ io.Closer = (*serialio.Reopener)(nil)

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
