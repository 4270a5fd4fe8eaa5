package serialio

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// guard bounds how long a test waits for something that must happen, so a
// bug fails the test instead of hanging it. It is not a timing assertion.
const guard = 10 * time.Second

// newPTY returns a pseudo-terminal's master and its slave path; the slave
// descriptor pty.Open returned is closed so only our port holds the slave.
func newPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("pty.Open: %v", err)
	}
	name := slave.Name()
	slave.Close()
	t.Cleanup(func() { master.Close() })
	return master, name
}

// link makes (or atomically replaces) a symlink at path pointing to target,
// the way udev updates /dev/serial/by-id links.
func link(t *testing.T, target, path string) {
	t.Helper()
	tmp := path + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func byIDPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "usb-Test_Reader_0001-if00-port0")
}

// readN reads exactly n bytes from r (a pty master), failing after guard.
func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		ch <- res{b, err}
	}()
	select {
	case got := <-ch:
		if got.err != nil {
			t.Fatalf("read %d bytes: %v", n, got.err)
		}
		return got.b
	case <-time.After(guard):
		t.Fatalf("read %d bytes: nothing after %v", n, guard)
	}
	return nil
}

// readPort reads exactly n bytes from a Port, treating ErrTimeout as
// failure (the data was already written).
func readPort(t *testing.T, p Port, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		k, err := p.Read(buf[:n-len(out)])
		if err != nil {
			t.Fatalf("port read after %d of %d bytes: %v", len(out), n, err)
		}
		out = append(out, buf[:k]...)
	}
	return out
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// within runs f in a goroutine and fails the test if it does not return
// within guard.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatalf("%s did not return within %v", what, guard)
	}
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func debugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ptyPair() (*os.File, string, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, "", err
	}
	name := slave.Name()
	slave.Close()
	return master, name, nil
}

func readFullFile(f *os.File, b []byte) (int, error) { return io.ReadFull(f, b) }
