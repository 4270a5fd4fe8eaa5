package gpio

import (
	"context"
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/host/v3"
)

// resetHost forgets the Init result and installs fn as the host
// initialiser, for the duration of the test. Tests that use it must not
// run in parallel.
func resetHost(t *testing.T, fn func() (*driverreg.State, error)) {
	t.Helper()
	reset := func(fn func() (*driverreg.State, error)) {
		hostState.mu.Lock()
		hostState.done, hostState.state, hostState.err = nil, nil, nil
		hostState.mu.Unlock()
		hostInit = fn
	}
	reset(fn)
	t.Cleanup(func() { reset(host.Init) })
}

// register adds a gpiotest pin to periph's registry for the test.
func register(t *testing.T, p gpio.PinIO) {
	t.Helper()
	if err := gpioreg.Register(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gpioreg.Unregister(p.Name()) })
}

// On this machine (no GPIO hardware) periph's host.Init succeeds and skips
// every driver (verified-here.md); on a board with chips ioctl-gpio loads.
// Either way Init returns nil and CheckCharDev says which it is.
func TestInitRealHost(t *testing.T) {
	resetHost(t, host.Init)
	if err := Init(t.Context()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := Init(t.Context()); err != nil { // once: same result
		t.Fatalf("second Init: %v", err)
	}
	loaded, skipped, failed := Drivers()
	if len(loaded)+len(skipped)+len(failed) == 0 {
		t.Fatal("Drivers reports nothing after Init")
	}
	t.Logf("loaded %q skipped %q failed %q", loaded, skipped, failed)
	err := CheckCharDev()
	switch {
	case err == nil:
		t.Log("ioctl-gpio loaded: this machine has GPIO chips")
	case errors.Is(err, ErrNoCharDev) && strings.Contains(err.Error(), charDevDriver):
		t.Logf("no character device, as expected without GPIO hardware: %v", err)
	default:
		t.Fatalf("CheckCharDev: %v", err)
	}
	if _, err := Lookup("POSAGENT_NO_SUCH_PIN"); !errors.Is(err, ErrNoPin) {
		t.Fatalf("Lookup of an unknown pin after real Init: %v", err)
	}
}

func TestInitFailure(t *testing.T) {
	calls := 0
	resetHost(t, func() (*driverreg.State, error) {
		calls++
		return nil, errors.New("periph: found cycle(s) in drivers dependencies")
	})
	for range 2 {
		err := Init(t.Context())
		if !errors.Is(err, ErrInit) || !strings.Contains(err.Error(), "cycle") {
			t.Fatalf("err %v", err)
		}
	}
	if calls != 1 {
		t.Fatalf("host init called %d times, want once", calls)
	}
}

func TestInitHonoursContext(t *testing.T) {
	release := make(chan struct{})
	resetHost(t, func() (*driverreg.State, error) {
		<-release
		return &driverreg.State{}, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Init(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if _, ok := initResult(); ok {
		t.Fatal("init reported done while still running")
	}
	close(release)
	if err := Init(t.Context()); err != nil {
		t.Fatalf("Init after the background init finished: %v", err)
	}
}

func TestCheckCharDevReasons(t *testing.T) {
	resetHost(t, nil)
	if err := CheckCharDev(); !errors.Is(err, ErrNoCharDev) || !strings.Contains(err.Error(), "Init") {
		t.Fatalf("before Init: %v", err)
	}
	st := &driverreg.State{Skipped: []driverreg.DriverFailure{{D: fakeDriver(charDevDriver), Err: errors.New("no GPIO chips found")}}}
	resetHost(t, func() (*driverreg.State, error) { return st, nil })
	if err := Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := CheckCharDev()
	if !errors.Is(err, ErrNoCharDev) || !strings.Contains(err.Error(), "skipped ioctl-gpio: no GPIO chips found") {
		t.Fatalf("err %v", err)
	}
	// The reason also reaches a missing pin's error.
	_, _, err = Open("tamper", "GPIO27")
	if !errors.Is(err, ErrNoPin) || !strings.Contains(err.Error(), "no GPIO chips found") {
		t.Fatalf("Open: %v", err)
	}
	st.Loaded = append(st.Loaded, fakeDriver(charDevDriver))
	st.Skipped = nil
	if err := CheckCharDev(); err != nil {
		t.Fatalf("with ioctl-gpio loaded: %v", err)
	}
}

type fakeDriver string

func (d fakeDriver) String() string          { return string(d) }
func (d fakeDriver) Prerequisites() []string { return nil }
func (d fakeDriver) After() []string         { return nil }
func (d fakeDriver) Init() (bool, error)     { return true, nil }

func TestLookup(t *testing.T) {
	resetHost(t, func() (*driverreg.State, error) {
		return &driverreg.State{Loaded: nil}, nil
	})
	_, err := Lookup("T_LOOKUP1")
	if !errors.Is(err, ErrNoPin) || !strings.Contains(err.Error(), "pin T_LOOKUP1 does not exist on this board") ||
		!strings.Contains(err.Error(), "gpio.Init was not called") {
		t.Fatalf("before Init: %v", err)
	}
	p := &gpiotest.Pin{N: "T_LOOKUP1", Num: 101}
	register(t, p)
	got, err := Lookup("T_LOOKUP1")
	if err != nil || got.Name() != "T_LOOKUP1" {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestOpenErrorNamesPinAndRole(t *testing.T) {
	st := &driverreg.State{Loaded: nil}
	st.Loaded = append(st.Loaded, fakeDriver(charDevDriver))
	resetHost(t, func() (*driverreg.State, error) { return st, nil })
	if err := Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	register(t, &gpiotest.Pin{N: "T_OPEN_KNOWN", Num: 102})
	_, _, err := Open("tamper", "GPIO27")
	want := "pin GPIO27 named in board profile for tamper does not exist on this board"
	if !errors.Is(err, ErrNoPin) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "T_OPEN_KNOWN") {
		t.Fatalf("err %v, want ErrNoPin with %q and the known pins", err, want)
	}
	_, _, err = Open("light1", "GPIO17,bogus")
	if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), "light1") {
		t.Fatalf("bad spec: %v", err)
	}
}

func TestOpenByNameAndChipLine(t *testing.T) {
	resetHost(t, func() (*driverreg.State, error) { return &driverreg.State{}, nil })
	byName := newEdgePin("T_OPEN_PAPER")
	register(t, byName)
	p, sp, err := Open("paper", "T_OPEN_PAPER,active-low,pull-up")
	if err != nil {
		t.Fatal(err)
	}
	if sp.Pull != gpio.PullUp || !sp.ActiveLow {
		t.Fatalf("spec %+v", sp)
	}
	byName.setQuiet(gpio.Low)
	if p.Read() != gpio.High {
		t.Fatal("active-low pin not inverted")
	}

	line := newEdgePin("unnamed-3")
	old := chipLine
	chipLine = func(chip string, n int) gpio.PinIO {
		if chip == "gpiochip1" && n == 3 {
			return line
		}
		return nil
	}
	t.Cleanup(func() { chipLine = old })
	p, sp, err = Open("buzzer", "gpiochip1:3")
	if err != nil || p != gpio.PinIO(line) || sp.Chip != "gpiochip1" || sp.Line != 3 {
		t.Fatalf("got %v %+v %v", p, sp, err)
	}
	_, _, err = Open("buzzer", "gpiochip1:4")
	if !errors.Is(err, ErrNoPin) || !strings.Contains(err.Error(), "pin gpiochip1:4 named in board profile for buzzer") {
		t.Fatalf("err %v", err)
	}
}

// Without hardware, gpioioctl has no chips: the chip:line resolver finds
// nothing rather than panicking.
func TestChipLineIoctlWithoutChips(t *testing.T) {
	if p := chipLineIoctl("gpiochip0", 0); p != nil {
		t.Skipf("this machine has GPIO chips (%v); the no-chip path is not exercised", p)
	}
}
