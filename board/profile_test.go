package board

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/posagent/posagent/drivers/gpio"
)

func TestProfilesAreWellFormed(t *testing.T) {
	for _, p := range Profiles() {
		if p.GOARCH == "" || p.Doc == "" {
			t.Errorf("%s: GOARCH and Doc required", p.Name)
		}
		if p.GOARCH == "arm" && p.GOARM == "" {
			t.Errorf("%s: GOARM required for arm", p.Name)
		}
		for _, port := range []*Port{p.Reader, p.Printer, p.Scanner, p.ModemAT} {
			if port != nil && (port.Baud <= 0 || (port.Path == "") == (port.USB == "")) {
				t.Errorf("%s: port %+v needs a baud and exactly one of path or usb", p.Name, port)
			}
		}
		pins := append(p.Pins.Lights[:], p.Pins.Buzzer, p.Pins.Tamper, p.Pins.Paper, p.Pins.ModemPowerKey, p.Pins.ReaderReset)
		for _, s := range pins {
			if s == "" {
				continue
			}
			if _, err := gpio.ParseSpec(s); err != nil {
				t.Errorf("%s: pin %q: %v", p.Name, s, err)
			}
		}
	}
}

func TestLookupAndDetect(t *testing.T) {
	if _, err := Lookup("sim"); err != nil {
		t.Fatal(err)
	}
	if _, err := Lookup("nope"); !errors.Is(err, ErrUnknownProfile) {
		t.Fatalf("unknown profile: %v", err)
	}
	p, err := detectModel("Raspberry Pi 4 Model B Rev 1.4")
	if err != nil || p.Name != "rpi4-devrig" {
		t.Fatalf("detect rpi4: %v %s", err, p.Name)
	}
	if _, err := detectModel("Some Other Board"); !errors.Is(err, ErrNotDetected) {
		t.Fatalf("unknown model: %v", err)
	}
	dir := t.TempDir()
	old := ModelFile
	defer func() { ModelFile = old }()
	ModelFile = filepath.Join(dir, "model")
	os.WriteFile(ModelFile, []byte("Raspberry Pi 4 Model B\x00"), 0o644)
	if p, err := Detect(); err != nil || p.Name != "rpi4-devrig" {
		t.Fatalf("Detect from file: %v %s", err, p.Name)
	}
	ModelFile = filepath.Join(dir, "missing")
	if _, err := Detect(); !errors.Is(err, ErrNotDetected) {
		t.Fatalf("Detect without model file: %v", err)
	}
}
