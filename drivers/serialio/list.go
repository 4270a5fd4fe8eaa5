package serialio

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// PortInfo describes one serial port found in sysfs.
type PortInfo struct {
	// Name is the device node, e.g. "/dev/ttyUSB0".
	Name string
	// USB is true when the port belongs to a USB device; the fields below
	// are then filled from that device's sysfs attributes.
	USB bool
	// VID and PID are the USB vendor and product id, 4 upper-case hex digits.
	VID, PID string
	// Serial, Manufacturer and Product are the USB device's strings
	// (empty when the device has none).
	Serial, Manufacturer, Product string
	// Interface is the USB interface number ("00", "02", …) the port
	// belongs to, when sysfs tells; a Quectel modem's AT port is "02".
	Interface string
	// ByID is the /dev/serial/by-id link that points at Name, if any.
	ByID string
}

// USBID returns "VVVV:PPPP" for a USB port, "" otherwise.
func (p PortInfo) USBID() string {
	if !p.USB {
		return ""
	}
	return p.VID + ":" + p.PID
}

// Filesystem roots, replaced by tests with a fake tree.
var (
	sysfsRoot = "/sys"
	devRoot   = "/dev"
)

// listPorts is what Open uses to resolve a USB id; tests replace it.
var listPorts = List

// List returns the serial ports of this machine, sorted by name, from
// sysfs alone: /sys/class/tty entries that have a device behind them,
// minus serial-core placeholders (a ttyS* whose "type" attribute is 0,
// PORT_UNKNOWN), with USB details read from the parent USB device.
//
// It never opens a port. go.bug.st/serial/enumerator (v1.8.0) is not used
// for this because its Linux port list opens every /dev/ttyS* and
// /dev/ttyHS* node to probe it, which resets that port to raw 9600 baud
// and clears its TIOCEXCL on close: run by a diagnostic command, it would
// break the agent's PN532 link on /dev/ttyS1. The attributes read here are
// the ones the enumerator reads (idVendor, idProduct, serial,
// manufacturer, product).
func List(ctx context.Context) ([]PortInfo, error) {
	return listFrom(ctx, sysfsRoot, devRoot)
}

func listFrom(ctx context.Context, sys, dev string) ([]PortInfo, error) {
	classDir := filepath.Join(sys, "class", "tty")
	entries, err := os.ReadDir(classDir)
	if err != nil {
		return nil, fmt.Errorf("serialio: list ports: %w", err)
	}
	byID := byIDLinks(dev)
	devicesDir := filepath.Join(sys, "devices")
	var out []PortInfo
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("serialio: list ports: %w", err)
		}
		name := e.Name()
		ttyDir := filepath.Join(classDir, name)
		real, err := filepath.EvalSymlinks(filepath.Join(ttyDir, "device"))
		if err != nil {
			continue // a virtual terminal (tty0, ptmx, console): no device
		}
		if t, ok := readAttr(filepath.Join(ttyDir, "type")); ok && t == "0" {
			continue // a serial-core placeholder without a UART behind it
		}
		info := PortInfo{Name: filepath.Join(dev, name)}
		fillUSB(&info, real, devicesDir)
		info.ByID = byID[info.Name]
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// fillUSB walks up from a tty's device directory to the USB device that
// has idVendor/idProduct (two levels for ttyUSB, one for ttyACM), noting
// the interface number on the way. It stops at the sysfs devices root.
func fillUSB(info *PortInfo, dir, devicesDir string) {
	for i := 0; i < 8 && strings.HasPrefix(dir, devicesDir+string(filepath.Separator)); i++ {
		if n, ok := readAttr(filepath.Join(dir, "bInterfaceNumber")); ok && info.Interface == "" {
			info.Interface = n
		}
		vid, okV := readAttr(filepath.Join(dir, "idVendor"))
		pid, okP := readAttr(filepath.Join(dir, "idProduct"))
		if okV && okP {
			info.USB = true
			info.VID = strings.ToUpper(vid)
			info.PID = strings.ToUpper(pid)
			info.Serial, _ = readAttr(filepath.Join(dir, "serial"))
			info.Manufacturer, _ = readAttr(filepath.Join(dir, "manufacturer"))
			info.Product, _ = readAttr(filepath.Join(dir, "product"))
			return
		}
		dir = filepath.Dir(dir)
	}
	info.Interface = ""
}

// maxAttr bounds a sysfs attribute read (sysfs attributes are one page).
const maxAttr = 4096

// readAttr reads a one-line sysfs attribute, trimmed.
func readAttr(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	buf := make([]byte, maxAttr)
	n, _ := f.Read(buf)
	return strings.TrimSpace(string(buf[:n])), true
}

// byIDLinks maps device nodes to their /dev/serial/by-id link.
func byIDLinks(dev string) map[string]string {
	dir := filepath.Join(dev, "serial", "by-id")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		link := filepath.Join(dir, e.Name())
		if target, err := filepath.EvalSymlinks(link); err == nil {
			m[target] = link
		}
	}
	return m
}

// resolveUSB finds the one port with the given id.
func resolveUSB(ctx context.Context, spec string) (string, error) {
	id, err := ParseUSBID(spec)
	if err != nil {
		return "", err
	}
	ports, err := listPorts(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMissing, err)
	}
	var match []PortInfo
	for _, p := range ports {
		if id.Matches(p) {
			match = append(match, p)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("%w: no serial port has USB id %s (%d ports seen)", ErrMissing, id, len(ports))
	case 1:
		return match[0].Name, nil
	}
	names := make([]string, len(match))
	for i, p := range match {
		names[i] = p.Name
		if p.Interface != "" {
			names[i] += " (interface " + p.Interface + ")"
		}
	}
	return "", fmt.Errorf("%w: %s: %s; use a /dev/serial/by-id path or add the serial number",
		ErrAmbiguous, id, strings.Join(names, ", "))
}
