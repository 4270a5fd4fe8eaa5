//go:build linux

package scanner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.bug.st/serial"

	emu "github.com/posagent/posagent/cmd/possim/emu/scanner"
)

// ptyRig is the driver reading the emulator over a real pseudo-terminal:
// the slave opened through go.bug.st/serial (raw mode, the code path the
// board wiring uses), the emulator serving the master.
type ptyRig struct {
	s      *Serial
	emu    *emu.Scanner
	master *os.File
	stop   context.CancelFunc
	served chan error
	once   sync.Once
}

// unplug stops the emulator and closes the master side, as possim's
// unplug does. Safe to call more than once.
func (r *ptyRig) unplug() {
	r.once.Do(func() {
		r.stop()
		<-r.served
		r.master.Close()
	})
}

func newPTYRig(t *testing.T, o Options) *ptyRig {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal available here: %v", err)
	}
	name := tty.Name()
	tty.Close()
	port, err := serial.Open(name, &serial.Mode{BaudRate: 9600})
	if err != nil {
		master.Close()
		t.Fatalf("serial.Open(%s): %v", name, err)
	}
	s, err := NewSerial(port, name, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &ptyRig{s: s, emu: emu.New(nil), master: master, stop: cancel, served: make(chan error, 1)}
	go func() { r.served <- r.emu.Serve(ctx, master) }()
	t.Cleanup(func() {
		r.unplug()
		s.Close()
	})
	return r
}

// scanN returns the next n outcomes (codes as kind=text, bad scans as
// "!"+reason), failing on a final error or after 10 s.
func (r *ptyRig) scanN(t *testing.T, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		c, err := r.s.Scan(ctx)
		switch {
		case err == nil:
			got = append(got, c.Kind.String()+"="+c.Text())
		case errors.Is(err, ErrBadScan):
			got = append(got, "!"+sentinelOf(err))
		default:
			t.Fatalf("after %q: %v", got, err)
		}
	}
	return got
}

func TestPTYTerminators(t *testing.T) {
	r := newPTYRig(t, Options{})
	r.emu.SetTerminator(emu.CR)
	r.emu.Inject("4006381333931")
	r.emu.SetTerminator(emu.LF)
	r.emu.Inject("134567890123456789")
	r.emu.SetTerminator(emu.CRLF)
	r.emu.Inject("6212345678901234567")
	r.emu.Inject("286543210987654321")
	r.emu.SetTerminator(emu.CR)
	r.emu.Inject("036000291452")
	got := r.scanN(t, 5)
	want := []string{
		"ean13=4006381333931", "wechatpay=134567890123456789", "unionpay=6212345678901234567",
		"alipay=286543210987654321", "upca=036000291452",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestPTYManyBackToBack(t *testing.T) {
	// 2000 codes written as fast as the pty takes them, terminators
	// mixed; framing must not lose, merge or split any. A long idle
	// timeout keeps a loaded machine from cutting a code in two.
	r := newPTYRig(t, Options{IdleTimeout: 5 * time.Second})
	var want []string
	terms := []emu.Terminator{emu.CR, emu.LF, emu.CRLF}
	for i := range 2000 {
		code := fmt.Sprintf("ITEM-%06d", i)
		r.emu.SetTerminator(terms[i%3])
		r.emu.Inject(code)
		want = append(want, "other="+code)
	}
	got := r.scanN(t, len(want))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("code %d: got %q, want %q", i, got[i], want[i])
			}
		}
	}
}

func TestPTYOverlong(t *testing.T) {
	r := newPTYRig(t, Options{})
	r.emu.SetFault(emu.Fault{OverlongTo: 5000})
	r.emu.Inject("1234")
	r.emu.SetFault(emu.Fault{})
	r.emu.Inject("4006381333931")
	got := r.scanN(t, 2)
	if fmt.Sprint(got) != fmt.Sprint([]string{"!" + ErrTooLong.Error(), "ean13=4006381333931"}) {
		t.Errorf("got %q", got)
	}
}

func TestPTYGarbage(t *testing.T) {
	r := newPTYRig(t, Options{})
	r.emu.SetFault(emu.Fault{Garbage: []byte{0x00, 0xFF, 0x1B}, GarbageAt: 4})
	r.emu.Inject("4006381333931")
	r.emu.SetFault(emu.Fault{})
	r.emu.Inject("4006381333931")
	got := r.scanN(t, 2)
	if fmt.Sprint(got) != fmt.Sprint([]string{"!" + ErrBadByte.Error(), "ean13=4006381333931"}) {
		t.Errorf("got %q", got)
	}
}

func TestPTYIncomplete(t *testing.T) {
	// No terminator: the driver reports half a scan after the silence,
	// then reads the next code normally.
	r := newPTYRig(t, Options{TailWindow: -1})
	r.emu.SetFault(emu.Fault{NoTerminator: true})
	r.emu.Inject("1345678901")
	if got := r.scanN(t, 1); fmt.Sprint(got) != fmt.Sprint([]string{"!" + ErrIncomplete.Error()}) {
		t.Fatalf("got %q", got)
	}
	r.emu.SetFault(emu.Fault{})
	r.emu.Inject("036000291452")
	if got := r.scanN(t, 1); fmt.Sprint(got) != "[upca=036000291452]" {
		t.Errorf("got %q", got)
	}
}

func TestPTYPauseMidCode(t *testing.T) {
	// The scanner stalls 400 ms inside a WeChat Pay code: the head is cut
	// by the 100 ms idle timeout and the tail, arriving inside the tail
	// window, is discarded too, never emitted as a code of its own.
	r := newPTYRig(t, Options{TailWindow: 2 * time.Second})
	r.emu.SetFault(emu.Fault{PauseAfter: 6, Pause: 400 * time.Millisecond})
	r.emu.Inject("134567890123456789")
	r.emu.SetFault(emu.Fault{})
	r.emu.Inject("4006381333931")
	got := r.scanN(t, 3)
	want := []string{"!" + ErrIncomplete.Error(), "!" + ErrIncomplete.Error(), "ean13=4006381333931"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPTYPauseWithoutTailGuard(t *testing.T) {
	// With the guard off the tail comes out as a code: the hazard the
	// guard exists for.
	r := newPTYRig(t, Options{TailWindow: -1})
	r.emu.SetFault(emu.Fault{PauseAfter: 6, Pause: 400 * time.Millisecond})
	r.emu.Inject("134567890123456789")
	got := r.scanN(t, 2)
	want := []string{"!" + ErrIncomplete.Error(), "other=890123456789"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPTYCloseWhileScanning(t *testing.T) {
	// go-serial#13: Close must wake a blocked read.
	r := newPTYRig(t, Options{PollInterval: time.Hour})
	done := make(chan error, 1)
	go func() {
		_, err := r.s.Scan(context.Background())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Scan block in Read
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Scan = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Scan still blocked 10 s after Close")
	}
}

func TestPTYUnplug(t *testing.T) {
	// The device goes away (master closed, as possim's unplug does): Scan
	// fails with ErrPort instead of hanging or inventing codes.
	r := newPTYRig(t, Options{})
	r.emu.Inject("4006381333931")
	if got := r.scanN(t, 1); fmt.Sprint(got) != "[ean13=4006381333931]" {
		t.Fatalf("got %q", got)
	}
	r.unplug()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.s.Scan(ctx)
	t.Logf("Scan after unplug: %v", err)
	if !errors.Is(err, ErrPort) {
		t.Errorf("Scan after unplug = %v, want ErrPort", err)
	}
	if err != nil && !strings.Contains(err.Error(), "/dev/pts/") {
		t.Errorf("error %q does not name the device", err)
	}
}

var _ Port = serial.Port(nil)

// BenchmarkPTY: codes per second end to end, emulator → pseudo-terminal
// → go.bug.st/serial → Serial.Scan, unpaced (the pty runs as fast as the
// machine; a real 9600-baud scanner sends about 60 EAN-13 codes a second
// at most).
func BenchmarkPTY(b *testing.B) {
	master, tty, err := pty.Open()
	if err != nil {
		b.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	name := tty.Name()
	tty.Close()
	port, err := serial.Open(name, &serial.Mode{BaudRate: 9600})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSerial(port, name, Options{IdleTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := emu.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Serve(ctx, master)
	b.ResetTimer()
	go func() {
		for range b.N {
			e.Inject("4006381333931")
		}
	}()
	for i := range b.N {
		c, err := s.Scan(ctx)
		if err != nil || c.Text() != "4006381333931" {
			b.Fatalf("code %d: %v, %v", i, c, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
}
