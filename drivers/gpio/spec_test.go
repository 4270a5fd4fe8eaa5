package gpio

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

func TestParseSpecValid(t *testing.T) {
	for _, c := range []struct {
		in    string
		want  Spec
		canon string
	}{
		{"GPIO17", Spec{Name: "GPIO17"}, "GPIO17"},
		{"gpiochip0:17", Spec{Chip: "gpiochip0", Line: 17}, "gpiochip0:17"},
		{"gpiochip0:0", Spec{Chip: "gpiochip0", Line: 0}, "gpiochip0:0"},
		{"pinctrl-bcm2711:65535", Spec{Chip: "pinctrl-bcm2711", Line: 65535}, "pinctrl-bcm2711:65535"},
		{"GPIO27,active-low", Spec{Name: "GPIO27", ActiveLow: true}, "GPIO27,active-low"},
		{"PA7,pull-up,active-low", Spec{Name: "PA7", ActiveLow: true, Pull: gpio.PullUp}, "PA7,active-low,pull-up"},
		{"gpiochip1:3,pull-down", Spec{Chip: "gpiochip1", Line: 3, Pull: gpio.PullDown}, "gpiochip1:3,pull-down"},
		{"BOARD_PAPER,float", Spec{Name: "BOARD_PAPER", Pull: gpio.Float}, "BOARD_PAPER,float"},
		{"2712_WAKE", Spec{Name: "2712_WAKE"}, "2712_WAKE"},
		{strings.Repeat("x", MaxNameLen), Spec{Name: strings.Repeat("x", MaxNameLen)}, strings.Repeat("x", MaxNameLen)},
	} {
		got, err := ParseSpec(c.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", c.in, got, c.want)
		}
		if s := got.String(); s != c.canon {
			t.Errorf("String() = %q, want %q", s, c.canon)
		}
	}
}

func TestParseSpecInvalid(t *testing.T) {
	for _, c := range []struct {
		in     string
		offset int
		reason string
	}{
		{"", 0, "empty"},
		{"GPIO 17", 4, "byte 0x20"},
		{"GPIO17,", 7, "empty flag"},
		{"GPIO17,,active-low", 7, "empty flag"},
		{"GPIO17,actve-low", 7, `unknown flag "actve-low"`},
		{"GPIO17,active-low,active-low", 18, "twice"},
		{"GPIO17,pull-up,pull-down", 15, "second pull flag"},
		{"gpiochip0:", 10, "missing line"},
		{"gpiochip0:-1", 10, "decimal digits"},
		{"gpiochip0:+1", 10, "decimal digits"},
		{"gpiochip0:017", 10, "leading zero"},
		{"gpiochip0:65536", 10, "above 65535"},
		{"gpiochip0:99999999999999999999", 10, "above 65535"},
		{"gpiochip0:1:2", 11, "decimal digits"},
		{":17", 0, "chip is empty"},
		{",active-low", 0, "name is empty"},
		{strings.Repeat("x", MaxNameLen+1), MaxNameLen, "longer than 31"},
		{"GPIO\xff", 4, "byte 0xff"},
		{"GPIO\x00", 4, "byte 0x00"},
		{strings.Repeat("a", MaxSpecLen+1), MaxSpecLen, "longer than 128"},
	} {
		_, err := ParseSpec(c.in)
		var se *SpecError
		if !errors.As(err, &se) || !errors.Is(err, ErrSpec) {
			t.Errorf("ParseSpec(%q): err %v, want *SpecError matching ErrSpec", c.in, err)
			continue
		}
		if se.Offset != c.offset || !strings.Contains(se.Reason, c.reason) {
			t.Errorf("ParseSpec(%q): offset %d reason %q, want offset %d reason containing %q", c.in, se.Offset, se.Reason, c.offset, c.reason)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"GPIO17", "gpiochip0:17", "GPIO27,active-low,pull-up", "gpiochip1:65535,float",
		"", ",", ":", "a:", ":1", "a,b", "GPIO17,pull-up,pull-down", "x:0017", "\xff", "a:1,active-low,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) || !errors.Is(err, ErrSpec) {
				t.Fatalf("error %v is not a *SpecError", err)
			}
			if se.Offset < 0 || se.Offset > len(s) || se.Offset > MaxSpecLen {
				t.Fatalf("offset %d outside the %d-byte input", se.Offset, len(s))
			}
			if len(se.Spec) > MaxSpecLen {
				t.Fatalf("error echoes %d bytes of input", len(se.Spec))
			}
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("accepted invalid UTF-8 %q", s)
		}
		again, err := ParseSpec(sp.String())
		if err != nil || again != sp {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, sp, sp.String(), again, err)
		}
		if (sp.Name == "") == (sp.Chip == "") || sp.Line < 0 || sp.Line > MaxLine {
			t.Fatalf("inconsistent spec %+v from %q", sp, s)
		}
	})
}

func TestActiveLowInverts(t *testing.T) {
	p := newEdgePin("T_AL")
	a := ActiveLow(p)
	if err := a.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if p.Read() != gpio.Low || a.Read() != gpio.High {
		t.Fatalf("physical %v logical %v after Out(High)", p.Read(), a.Read())
	}
	if err := a.In(gpio.PullUp, gpio.RisingEdge); err != nil {
		t.Fatal(err)
	}
	if err := a.In(gpio.PullUp, gpio.FallingEdge); err != nil {
		t.Fatal(err)
	}
	if err := a.In(gpio.PullDown, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	want := []string{"PullUp/FallingEdge", "PullUp/RisingEdge", "PullDown/BothEdges"}
	if got := p.inCalls(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("In calls %q, want %q", got, want)
	}
	if err := a.PWM(gpio.DutyMax/4, 2*physic.KiloHertz); err != nil {
		t.Fatal(err)
	}
	if p.D != gpio.DutyMax*3/4 {
		t.Fatalf("physical duty %v, want 75%%", p.D)
	}
	if r, ok := a.(gpio.RealPin); !ok || r.Real() != gpio.PinIO(p) {
		t.Fatal("Real() does not return the wrapped pin")
	}
	if !strings.Contains(a.String(), "active-low") {
		t.Fatalf("String %q", a.String())
	}
}
