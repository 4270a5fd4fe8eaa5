// Package board knows what hardware a terminal has and wires it: board
// profiles (which port and pin is what), and Open, which builds the
// devices core needs for a profile.
//
// Profiles are data (profile.go). "sim" opens the real drivers on
// cmd/possim's emulated devices in [board] sim_dir; "standin" uses the
// in-process stand-ins of core/payment/standin (no devices at all, for
// quick tests); the hardware profiles open the real ports and pins.
package board

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/payment/standin"
	"github.com/posagent/posagent/drivers/escpos"
	"github.com/posagent/posagent/drivers/modem"
	"github.com/posagent/posagent/drivers/pn532"
)

// ErrUnknownProfile is returned for a profile name no board has.
var ErrUnknownProfile = errors.New("board: unknown profile")

// Devices are the opened devices of a board.
type Devices struct {
	Cards     payment.CardSource
	Printer   payment.Printer
	Indicator payment.Indicator
	// Acquirer is a development stand-in host (sim board only); the agent
	// uses the ISO 8583 link instead whenever [acquirer] primary is set.
	Acquirer payment.Acquirer
	// Extra is an HTTP handler for development controls (mounted by the
	// local API under /v1/sim/), nil on real boards.
	Extra http.Handler
	// Reader and EscPos are the raw drivers, for diagnostics (nil when
	// the board has none).
	Reader *pn532.Device
	EscPos *escpos.Printer
	Modem  *modem.Modem
	// Profile names the board profile these devices came from.
	Profile string

	readerPort, printerPort, scannerPort, modemPort portStatus
	gpio                                            *gpioDevices

	closer []io.Closer
}

// Gate returns nil while the board allows payments, or why not (the
// tamper switch latched open).
func (d *Devices) Gate() error { return d.gpio.Gate() }

// ClearTamper clears the tamper latch after a technician's inspection.
func (d *Devices) ClearTamper() error { return d.gpio.ClearTamper() }

// Close releases every device.
func (d *Devices) Close() error {
	var errs []error
	for _, c := range d.closer {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Open builds the devices for cfg.Board.Profile.
func Open(ctx context.Context, cfg *config.Config, clk clock.Clock, log *slog.Logger) (*Devices, error) {
	if cfg.Board.Profile == "standin" {
		return openStandin(cfg, clk, log)
	}
	var p Profile
	var err error
	if cfg.Board.Profile == "auto" {
		p, err = Detect()
	} else {
		p, err = Lookup(cfg.Board.Profile)
	}
	if err != nil {
		return nil, err
	}
	return openProfile(ctx, p, cfg, clk, log)
}

func openStandin(cfg *config.Config, clk clock.Clock, log *slog.Logger) (*Devices, error) {
	dir := cfg.Board.SimDir
	if dir == "" {
		dir = filepath.Dir(cfg.Journal.Path)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("board sim: %w", err)
	}
	rf, err := os.OpenFile(filepath.Join(dir, "receipts.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("board sim: receipts file: %w", err)
	}
	cards := standin.NewCards(clk, cfg.Board.SimAutoTap)
	printer := standin.NewPrinter(rf)
	d := &Devices{
		Cards:     cards,
		Printer:   printer,
		Indicator: standin.NewIndicator(log),
		Acquirer:  standin.NewAcquirer(clk),
		closer:    []io.Closer{rf},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sim/tap", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Scheme string `json:"scheme"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body)
		if body.Scheme == "" {
			body.Scheme = "UnionPay"
		}
		c, ok := standin.TestCards[body.Scheme]
		if !ok {
			http.Error(w, fmt.Sprintf(`{"error":"no stand-in test card for scheme %q","code":"bad_request"}`, body.Scheme), http.StatusBadRequest)
			return
		}
		cards.Tap(c)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"masked_pan": card.Mask(c.Sensitive.PAN), "scheme": body.Scheme})
	})
	mux.HandleFunc("POST /v1/sim/paper", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Out bool `json:"out"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body)
		printer.SetPaperOut(body.Out)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]bool{"paper_out": body.Out})
	})
	d.Extra = mux
	log.Info("standin board: in-process stand-in card reader, printer, lights and acquirer", "receipts", rf.Name(), "autotap", cfg.Board.SimAutoTap)
	return d, nil
}
