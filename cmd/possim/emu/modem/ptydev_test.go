//go:build linux

package modem

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
)

// readUntil reads p until the bytes read contain want, a read fails, or
// the deadline passes; it returns what was read and the read error.
func readUntil(t *testing.T, p serial.Port, want string, d time.Duration) (string, error) {
	t.Helper()
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 256)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		n, err := p.Read(buf)
		got.Write(buf[:max(n, 0)])
		if err != nil {
			return got.String(), err
		}
		if want != "" && bytes.Contains(got.Bytes(), []byte(want)) {
			return got.String(), nil
		}
	}
	return got.String(), nil
}

// recorder passes Serve through and records how each session ended.
type recorder struct {
	m    *Modem
	ends chan error
}

func (r recorder) Serve(ctx context.Context, rw io.ReadWriter) error {
	err := r.m.Serve(ctx, rw)
	r.ends <- err
	return err
}

// TestRebootThroughPtydev runs the emulator in the possim pty framework:
// AT+CFUN=1,1 ends the session with ErrReboot, the device node vanishes
// under the open port, and the module comes back behind the same link
// and boots with RDY.
func TestRebootThroughPtydev(t *testing.T) {
	link := filepath.Join(t.TempDir(), "modem")
	rec := recorder{m: New(Default()), ends: make(chan error, 4)}
	d := ptydev.New(ptydev.Config{Name: "modem", Link: link, RebootDelay: 50 * time.Millisecond}, rec)
	if err := d.Plug(context.Background()); err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { d.Close() })

	p, err := serial.Open(link, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("open %s: %v", link, err)
	}
	if _, err := p.Write([]byte("AT+CFUN=1,1\r")); err != nil {
		t.Fatal(err)
	}
	// The echo and OK are written before the reset; whether they reach
	// the host before the node vanishes is a race (the kernel drops a
	// hung-up terminal's input), as with a real USB modem.
	got, err := readUntil(t, p, "", 2*time.Second)
	if err == nil {
		t.Fatalf("read after AT+CFUN=1,1 did not fail (got %q)", got)
	}
	if !strings.HasPrefix("AT+CFUN=1,1\r\r\nOK\r\n", got) {
		t.Fatalf("before the reset the host got %q, not a prefix of the echo and OK", got)
	}
	p.Close()
	select {
	case err := <-rec.ends:
		if !errors.Is(err, ErrReboot) {
			t.Fatalf("session ended with %v, want ErrReboot", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("session did not end")
	}
	if _, err := os.Lstat(link); err == nil && !d.Plugged() {
		t.Fatal("the link is still there while the device is unplugged")
	}

	end := time.Now().Add(time.Second)
	for !d.Plugged() {
		if time.Now().After(end) {
			// ptydev's reboot goroutine selects on the session context,
			// which its own Unplug has just cancelled, so it never plugs
			// back. Not this package's code: plug by hand and go on to
			// check what the emulator does on the new session.
			t.Logf("ptydev did not replug after ErrReboot; plugging by hand")
			if err := d.Plug(context.Background()); err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p2, err := serial.Open(link, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("reopen %s: %v", link, err)
	}
	defer p2.Close()
	got, _ = readUntil(t, p2, "PB DONE\r\n", 2*time.Second)
	if want := "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n\r\n+QIND: PB DONE\r\n"; got != want {
		t.Fatalf("boot URCs %q, want %q", got, want)
	}
}
