package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/posagent/posagent/core/acquirer"
	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/store"
)

// cmdKeys: posagent keys load|check. The terminal master key is entered as
// key components (XORed together: split knowledge, PCI PIN 3.6.1.2) or from
// a file, checked, and stored sealed in the journal. It is never printed;
// its key check value is. The agent must be stopped (the journal is its).
func cmdKeys(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "load" && args[0] != "check") {
		return usagef("keys: want load (--component HEX ... | --file FILE) or check")
	}
	sub := args[0]
	fs := newFlags("keys " + sub)
	cfgPath := fs.String("config", envOr("POSAGENT_CONFIG", "/etc/posagent/posagent.toml"), "agent config file")
	var comps multiFlag
	fs.Var(&comps, "component", "a TMK component as 32 or 48 hex digits (repeat for each custodian's part)")
	file := fs.String("file", "", "read the TMK (hex) from this file instead")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	key, err := store.LoadDeviceKey(cfg.Journal.KeyFile, false)
	if err != nil {
		return fmt.Errorf("device key: %w", err)
	}
	j, err := store.Open(store.Options{Path: cfg.Journal.Path, Key: key, TID: cfg.Terminal.TID, MID: cfg.Terminal.MID})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("%w\nstop the agent first (keys are loaded into its journal)", err)
		}
		return err
	}
	defer j.Close()
	if sub == "check" {
		tmk, err := j.TMK(ctx)
		if err != nil {
			return err
		}
		kcv, err := iso8583.KCV(tmk)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "terminal master key loaded, %d bytes, check value %X\n", len(tmk), kcv)
		return nil
	}
	tmk, err := assembleTMK(comps, *file)
	if err != nil {
		return err
	}
	if err := acquirer.CheckTMK(tmk); err != nil {
		return err
	}
	kcv, err := iso8583.KCV(tmk)
	if err != nil {
		return err
	}
	if err := j.SaveTMK(ctx, tmk); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "terminal master key loaded (%d components), check value %X — compare it with the acquirer's key sheet\n", max(len(comps), 1), kcv)
	return nil
}

func assembleTMK(comps []string, file string) ([]byte, error) {
	if (len(comps) == 0) == (file == "") {
		return nil, usagef("keys load: give either --component (one or more) or --file")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		comps = []string{strings.TrimSpace(string(b))}
	}
	var tmk []byte
	for i, c := range comps {
		k, err := hex.DecodeString(strings.ReplaceAll(c, " ", ""))
		if err != nil {
			return nil, fmt.Errorf("keys load: component %d: not hex: %w", i+1, err)
		}
		if len(k) != 16 && len(k) != 24 {
			return nil, fmt.Errorf("keys load: component %d is %d bytes, want 16 or 24 (32 or 48 hex digits)", i+1, len(k))
		}
		if tmk == nil {
			tmk = k
			continue
		}
		if len(k) != len(tmk) {
			return nil, fmt.Errorf("keys load: component %d is %d bytes, component 1 is %d", i+1, len(k), len(tmk))
		}
		for n := range tmk {
			tmk[n] ^= k[n]
		}
	}
	return tmk, nil
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
