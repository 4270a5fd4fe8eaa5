//go:build linux

package escpos

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.bug.st/serial"
)

// openPTY opens a pseudo-terminal and returns the master side (the
// "printer") and the slave opened through go.bug.st/serial, the real code
// path the board wiring uses. No modem lines: a pty rejects those ioctls.
func openPTY(t *testing.T) (*os.File, serial.Port) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal available here: %v", err)
	}
	name := tty.Name()
	tty.Close()
	port, err := serial.Open(name, &serial.Mode{BaudRate: 115200})
	if err != nil {
		ptmx.Close()
		t.Fatalf("serial.Open(%s): %v", name, err)
	}
	t.Cleanup(func() {
		port.Close()
		ptmx.Close()
	})
	return ptmx, port
}

// emulate reads what the driver sends on the master side, answers each
// DLE EOT n with reply(n) (or nothing when reply returns -1) and keeps
// every byte received.
type emulator struct {
	mu   sync.Mutex
	got  []byte
	done chan struct{}
}

func emulate(ptmx *os.File, reply func(n int) int) *emulator {
	e := &emulator{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		buf := make([]byte, 4096)
		state := 0
		for {
			k, err := ptmx.Read(buf)
			// Record before answering: once the driver has the last
			// reply, everything it sent is already in got.
			e.mu.Lock()
			e.got = append(e.got, buf[:k]...)
			e.mu.Unlock()
			for _, c := range buf[:k] {
				switch {
				case state == 0 && c == DLE:
					state = 1
				case state == 1 && c == EOT:
					state = 2
				case state == 2 && c >= 1 && c <= 4:
					if r := reply(int(c)); r >= 0 {
						if _, werr := ptmx.Write([]byte{byte(r)}); werr != nil {
							return
						}
					}
					state = 0
				default:
					state = 0
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return e
}

func (e *emulator) received() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// The driver over a real go.bug.st/serial port on a pty: status, a full
// receipt with a raster QR (binary data, all byte values) arrives intact.
func TestPTYPrint(t *testing.T) {
	ptmx, port := openPTY(t)
	em := emulate(ptmx, func(n int) int { return 0x12 })
	p, err := New(port, Options{Profile: Generic58, ResponseTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := p.Status(ctx)
	if err != nil || !st.Online {
		t.Fatalf("status %v, %v", st, err)
	}
	r := sampleReceipt()
	job, _, err := Render(Generic58, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Print(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(statusRequests, statusRequests, job, statusRequests)
	// The last status reply was read, so every byte before it arrived.
	if got := em.received(); !bytes.Equal(got, want) {
		t.Fatalf("printer received %d bytes, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

// A printer that never answers: ErrNoResponse after the response timeout,
// through the real (0, nil) read-timeout path.
func TestPTYNoResponse(t *testing.T) {
	ptmx, port := openPTY(t)
	emulate(ptmx, func(n int) int { return -1 })
	p, err := New(port, Options{Profile: Generic80, ResponseTimeout: 150 * time.Millisecond, ReadSlice: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Print(context.Background(), sampleReceipt())
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v, want ErrNoResponse", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
