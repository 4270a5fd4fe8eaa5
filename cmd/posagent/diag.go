package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/posagent/posagent/board"
	"github.com/posagent/posagent/core/api"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/config"
)

// cmdDiag: posagent diag [--json]. With the agent running, the agent (which
// owns the ports) runs the self-test; otherwise diag opens the board's
// devices itself from the config.
func cmdDiag(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("diag")
	var cf clientFlags
	cf.register(fs)
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var d board.Diagnosis
	ok := false
	cl, err := cf.client()
	if err != nil {
		return err
	}
	raw, err := cl.Diag(ctx)
	switch {
	case err == nil:
		var ans struct {
			OK     bool            `json:"ok"`
			Report board.Diagnosis `json:"report"`
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			return fmt.Errorf("diag: %w", err)
		}
		d, ok = ans.Report, ans.OK
	case errors.Is(err, api.ErrAgentDown):
		cfg, err := cf.loadConfig()
		if err != nil {
			return err
		}
		if cfg == nil {
			if cfg, err = config.Load("/etc/posagent/posagent.toml"); err != nil {
				return fmt.Errorf("no agent answering and no config: %w", err)
			}
		}
		dev, err := board.Open(ctx, cfg, clock.System{}, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer dev.Close()
		d = board.Diagnose(ctx, dev)
		ok = d.OK()
	default:
		return err
	}
	if *jsonOut {
		if err := writeJSONOut(stdout, d); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "board %s\n", d.Profile)
		for _, c := range d.Checks {
			req := ""
			if c.Required {
				req = " (required)"
			}
			fmt.Fprintf(stdout, "  %-8s %-8s %s%s\n", c.Device, strings.ToUpper(c.Status), c.Reason, req)
		}
		if len(d.Ports) > 0 {
			fmt.Fprintln(stdout, "serial ports:")
			for _, p := range d.Ports {
				usb := ""
				if p.USB {
					usb = fmt.Sprintf(" usb %s:%s %s", p.VID, p.PID, p.Product)
				}
				fmt.Fprintf(stdout, "  %s%s\n", p.Name, usb)
			}
		}
	}
	if !ok {
		return exitStatus{code: 1, err: errors.New("diag: a required device failed")}
	}
	return nil
}
