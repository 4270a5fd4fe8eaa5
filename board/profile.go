package board

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Port says where a serial device is: a path (a /dev/serial/by-id link
// is best), or a USB VID:PID[:SERIAL] resolved at open time.
type Port struct {
	Path string `json:"path,omitempty"`
	USB  string `json:"usb,omitempty"`
	Baud int    `json:"baud"`
}

// String names the port for humans.
func (p Port) String() string {
	if p.USB != "" {
		return "usb " + p.USB
	}
	return p.Path
}

// Pins names the board's GPIO lines (drivers/gpio spec strings such as
// "GPIO17" or "gpiochip0:17,active-low"); empty = the board has none.
type Pins struct {
	Lights        [4]string `json:"lights"`
	Buzzer        string    `json:"buzzer,omitempty"`
	Tamper        string    `json:"tamper,omitempty"`
	Paper         string    `json:"paper,omitempty"`
	ModemPowerKey string    `json:"modem_power_key,omitempty"`
	ReaderReset   string    `json:"reader_reset,omitempty"`
}

// Profile is one board: its CPU and which port and pin is what. Profiles
// are data: a new board is a new entry, not new code.
type Profile struct {
	Name   string `json:"name"`
	Doc    string `json:"doc"`
	GOARCH string `json:"goarch"`
	GOARM  string `json:"goarm,omitempty"`
	// Models are /proc/device-tree/model prefixes that identify the board.
	Models  []string `json:"models,omitempty"`
	Reader  *Port    `json:"reader,omitempty"`  // PN532 over HSU
	Printer *Port    `json:"printer,omitempty"` // ESC/POS
	// PrinterModel names a drivers/escpos profile ("generic-58", ...).
	PrinterModel string `json:"printer_model,omitempty"`
	Scanner      *Port  `json:"scanner,omitempty"`     // serial scanner
	ScannerHID   string `json:"scanner_hid,omitempty"` // evdev path of a USB HID scanner
	ModemAT      *Port  `json:"modem_at,omitempty"`    // the modem's AT port
	Pins         Pins   `json:"pins"`
}

// SimDevice names the emulated devices possim creates in its directory;
// the sim profile's ports are these names joined to board.sim_dir.
var SimDevice = struct{ Reader, Printer, Scanner, Modem string }{"pn532", "printer", "scanner", "modem"}

var profiles = map[string]Profile{
	"standin": {
		Name: "standin", Doc: "no devices: the in-process stand-ins of core/payment/standin (card taps itself, receipts to a file)",
		GOARCH: "amd64",
	},
	"sim": {
		Name: "sim", Doc: "the simulated board: cmd/possim's emulated devices in [board] sim_dir, real drivers, no GPIO",
		GOARCH: "amd64",
		Reader: &Port{Path: SimDevice.Reader, Baud: 115200}, Printer: &Port{Path: SimDevice.Printer, Baud: 115200},
		PrinterModel: "generic-58",
		Scanner:      &Port{Path: SimDevice.Scanner, Baud: 9600}, ModemAT: &Port{Path: SimDevice.Modem, Baud: 115200},
	},
	"rpi4-devrig": {
		Name: "rpi4-devrig", Doc: "Raspberry Pi 4 developer rig: PN532 HAT on the UART, USB ESC/POS printer, USB HID scanner, Quectel EC25 on USB",
		GOARCH: "arm64", Models: []string{"Raspberry Pi 4"},
		Reader:       &Port{Path: "/dev/serial0", Baud: 115200},
		Printer:      &Port{USB: "0416:5011", Baud: 115200},
		PrinterModel: "generic-58",
		ScannerHID:   "/dev/input/by-id/usb-scanner-event-kbd",
		// Quectel EC25: interface 2 of 2c7c:0125 is the AT port
		// (ttyUSB2); by-id keeps it stable across re-enumeration.
		ModemAT: &Port{Path: "/dev/serial/by-id/usb-Quectel_EC25-if02-port0", Baud: 115200},
		Pins: Pins{
			Lights:        [4]string{"GPIO5", "GPIO6", "GPIO13", "GPIO19"},
			Buzzer:        "GPIO18", // hardware PWM capable
			Tamper:        "GPIO17,pull-up",
			Paper:         "GPIO27,pull-up",
			ModemPowerKey: "GPIO22",
			ReaderReset:   "GPIO23,active-low",
		},
	},
	"generic-arm64": {
		Name: "generic-arm64", Doc: "a generic arm64 terminal: reader on ttyS1, printer on ttyS2, scanner on ttyS3, modem AT on ttyUSB2, GPIO from gpiochip0",
		GOARCH: "arm64",
		Reader: &Port{Path: "/dev/ttyS1", Baud: 115200}, Printer: &Port{Path: "/dev/ttyS2", Baud: 115200},
		PrinterModel: "generic-80",
		Scanner:      &Port{Path: "/dev/ttyS3", Baud: 9600}, ModemAT: &Port{Path: "/dev/ttyUSB2", Baud: 115200},
		Pins: Pins{
			Lights: [4]string{"gpiochip0:10", "gpiochip0:11", "gpiochip0:12", "gpiochip0:13"},
			Buzzer: "gpiochip0:14", Tamper: "gpiochip0:15,pull-up", Paper: "gpiochip0:16,pull-up",
			ModemPowerKey: "gpiochip0:17",
		},
	},
	"generic-armv7": {
		Name: "generic-armv7", Doc: "a generic 32-bit ARM terminal, same wiring as generic-arm64",
		GOARCH: "arm", GOARM: "7",
		Reader: &Port{Path: "/dev/ttyS1", Baud: 115200}, Printer: &Port{Path: "/dev/ttyS2", Baud: 115200},
		PrinterModel: "generic-58",
		Scanner:      &Port{Path: "/dev/ttyS3", Baud: 9600}, ModemAT: &Port{Path: "/dev/ttyUSB2", Baud: 115200},
	},
}

// Profiles returns every profile, sorted by name.
func Profiles() []Profile {
	out := make([]Profile, 0, len(profiles))
	for _, p := range profiles {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the named profile.
func Lookup(name string) (Profile, error) {
	p, ok := profiles[name]
	if !ok {
		names := make([]string, 0, len(profiles))
		for n := range profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		return Profile{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownProfile, name, strings.Join(names, ", "))
	}
	return p, nil
}

// ErrNotDetected is returned by Detect when no profile matches the board.
var ErrNotDetected = errors.New("board: no profile matches this board")

// ModelFile is where the kernel publishes the board model.
var ModelFile = "/proc/device-tree/model"

// Detect picks the profile whose Models prefix matches the device-tree
// model (a NUL-terminated string).
func Detect() (Profile, error) {
	b, err := os.ReadFile(ModelFile)
	if err != nil {
		return Profile{}, fmt.Errorf("%w: reading %s: %v; name a profile in [board] profile", ErrNotDetected, ModelFile, err)
	}
	return detectModel(string(bytes.TrimRight(b, "\x00\n")))
}

func detectModel(model string) (Profile, error) {
	for _, p := range Profiles() {
		for _, m := range p.Models {
			if strings.HasPrefix(model, m) {
				return p, nil
			}
		}
	}
	return Profile{}, fmt.Errorf("%w: model %q; name a profile in [board] profile", ErrNotDetected, model)
}
