package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/posagent/posagent/cmd/possim/emu/escpos"
	modememu "github.com/posagent/posagent/cmd/possim/emu/modem"
	pn532emu "github.com/posagent/posagent/cmd/possim/emu/pn532"
	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
	"github.com/posagent/posagent/cmd/possim/emu/scanner"
	"github.com/posagent/posagent/core/clock"
)

// Options configure a simulator.
type Options struct {
	Dir     string // where the device links, receipts and the control socket live
	Unpaced bool   // no baud-rate pacing (fast tests)
	Logger  *slog.Logger
	// LinkListen and LinkUpstream, when both set, run the simulated 4G
	// data path: a TCP forwarder from LinkListen to LinkUpstream (the
	// acquirer host) that carries traffic only while the emulated modem is
	// registered.
	LinkListen, LinkUpstream string
}

// Sim is the set of emulated devices.
type Sim struct {
	opts    Options
	log     *slog.Logger
	mu      sync.Mutex
	base    context.Context
	devices map[string]*ptydev.Device

	Printer *escpos.Printer
	Scanner *scanner.Scanner
	Reader  *pn532emu.Emulator
	Modem   *modememu.Modem
	link    *linkProxy
}

// Device names, which are also the link names in Dir (the sim board
// profile opens these).
const (
	DevReader  = "pn532"
	DevPrinter = "printer"
	DevScanner = "scanner"
	DevModem   = "modem"
)

// Baud rates of the emulated devices (the sim profile uses the same).
var bauds = map[string]int{DevReader: 115200, DevPrinter: 115200, DevScanner: 9600, DevModem: 115200}

// extraDevices are registered by files that add devices (init funcs).
var extraDevices []func(*Sim) error

// New builds every device (not yet plugged).
func New(opts Options) (*Sim, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{opts: opts, log: opts.Logger, devices: map[string]*ptydev.Device{}}
	clk := clock.System{}
	p, err := escpos.New(escpos.Config{
		Width: 384, Columns: 32, Baud: bauds[DevPrinter], Unpaced: opts.Unpaced,
		// A 58 mm printer without a cutter: the merchant tears the
		// receipt off once the paper stops.
		AutoTear: 1500 * time.Millisecond,
		Dir:      filepath.Join(opts.Dir, "receipts"), Logger: opts.Logger.With("device", DevPrinter),
	})
	if err != nil {
		return nil, fmt.Errorf("printer: %w", err)
	}
	s.Printer = p
	s.add(DevPrinter, p)
	s.Scanner = scanner.New(clk)
	s.add(DevScanner, s.Scanner)
	for _, f := range extraDevices {
		if err := f(s); err != nil {
			return nil, err
		}
	}
	if opts.LinkListen != "" && opts.LinkUpstream != "" {
		lp, err := newLinkProxy(opts.LinkListen, opts.LinkUpstream, opts.Logger.With("device", "link"))
		if err != nil {
			return nil, fmt.Errorf("link proxy: %w", err)
		}
		s.link = lp
	}
	return s, nil
}

func (s *Sim) add(name string, h ptydev.Handler) {
	baud := bauds[name]
	if s.opts.Unpaced {
		baud = 0
	}
	s.devices[name] = ptydev.New(ptydev.Config{Name: name, Link: filepath.Join(s.opts.Dir, name), Baud: baud}, h)
}

// PlugAll makes every device appear.
func (s *Sim) PlugAll(ctx context.Context) error {
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	for _, n := range s.Names() {
		if err := s.devices[n].Plug(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ctx is the context devices are (re)plugged under.
func (s *Sim) ctx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == nil {
		return context.Background()
	}
	return s.base
}

// Close unplugs every device.
func (s *Sim) Close() {
	if s.link != nil {
		s.link.Close()
	}
	for _, d := range s.devices {
		d.Close()
	}
}

// Names lists the devices, sorted.
func (s *Sim) Names() []string {
	out := make([]string, 0, len(s.devices))
	for n := range s.devices {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ErrNoDevice is returned for an unknown device name.
var ErrNoDevice = errors.New("possim: no such device")

// Device returns a device by name.
func (s *Sim) Device(name string) (*ptydev.Device, error) {
	d, ok := s.devices[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (have %v)", ErrNoDevice, name, s.Names())
	}
	return d, nil
}
