package gpio

import (
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func BenchmarkParseSpec(b *testing.B) {
	for b.Loop() {
		if _, err := ParseSpec("gpiochip0:17,active-low,pull-up"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLightsSet measures our overhead per pattern step on periph's
// fake pins (a real line adds one ioctl per changed light).
func BenchmarkLightsSet(b *testing.B) {
	var pins []gpio.PinOut
	for range NumLights {
		pins = append(pins, &gpiotest.Pin{N: "B"})
	}
	l, err := NewLights(pins...)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if err := l.Set(uint8(i & 0xf)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
