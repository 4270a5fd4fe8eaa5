package ptydev

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.bug.st/serial"
)

// echo is a handler that sends back what it reads, upper-cased.
type echo struct{}

func (echo) Serve(ctx context.Context, rw io.ReadWriter) error {
	buf := make([]byte, 256)
	for {
		n, err := rw.Read(buf)
		if err != nil {
			return err
		}
		out := bytes.ToUpper(buf[:n])
		if _, err := rw.Write(out); err != nil {
			return err
		}
	}
}

func readN(t *testing.T, p serial.Port, n int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 64)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		k, err := p.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

func TestPlugUnplugReplug(t *testing.T) {
	link := filepath.Join(t.TempDir(), "dev", "echo")
	d := New(Config{Name: "echo", Link: link, Baud: 115200}, echo{})
	ctx := context.Background()
	if err := d.Plug(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first := d.Path()
	if tgt, err := os.Readlink(link); err != nil || tgt != first {
		t.Fatalf("link -> %q, %v; want %q", tgt, err, first)
	}
	p, err := serial.Open(link, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.SetReadTimeout(200 * time.Millisecond)
	if _, err := p.Write([]byte("hello\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, 7); string(got) != "HELLO\r\n" {
		t.Fatalf("got %q: the pty is not raw (echo or CR/LF translation)", got)
	}

	d.Unplug()
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("link still present after unplug: %v", err)
	}
	buf := make([]byte, 8)
	if _, err := p.Read(buf); err == nil {
		// A closed pty master gives the slave EIO (or EOF); a timeout
		// (0, nil) would mean the unplug is invisible to the driver.
		t.Fatal("read on an unplugged device did not fail")
	}
	p.Close()

	if err := d.Plug(ctx); err != nil {
		t.Fatal(err)
	}
	p2, err := serial.Open(link, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	_ = p2.SetReadTimeout(200 * time.Millisecond)
	p2.Write([]byte("again"))
	if got := readN(t, p2, 5); string(got) != "AGAIN" {
		t.Fatalf("after replug got %q", got)
	}
}

func TestAllByteValuesPassRaw(t *testing.T) {
	link := filepath.Join(t.TempDir(), "raw")
	d := New(Config{Name: "raw", Link: link}, passthrough{})
	if err := d.Plug(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, err := serial.Open(link, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_ = p.SetReadTimeout(200 * time.Millisecond)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if _, err := p.Write(all); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, 256); !bytes.Equal(got, all) {
		t.Fatalf("bytes altered in transit: got %x", got)
	}
}

type passthrough struct{}

func (passthrough) Serve(ctx context.Context, rw io.ReadWriter) error {
	_, err := io.Copy(rw, rw)
	return err
}

func TestByteTime(t *testing.T) {
	if got := ByteTime(115200); got != 86805*time.Nanosecond {
		t.Errorf("ByteTime(115200) = %v, want 86.805µs (10 bits per byte)", got)
	}
	if ByteTime(0) != 0 {
		t.Error("ByteTime(0) != 0")
	}
}

// reader is a handler that only reads, as an emulator waiting for its
// next command does.
type reader struct{}

func (reader) Serve(ctx context.Context, rw io.ReadWriter) error {
	buf := make([]byte, 64)
	for {
		if _, err := rw.Read(buf); err != nil {
			return err
		}
	}
}

func TestUnplugInterruptsAPendingRead(t *testing.T) {
	link := filepath.Join(t.TempDir(), "r")
	d := New(Config{Name: "r", Link: link}, reader{})
	if err := d.Plug(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { d.Unplug(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Unplug hung on the handler's pending read")
	}
}

// rebooter answers its first session with ErrReboot, then serves normally.
type rebooter struct {
	sessions chan int
	count    atomic.Int32
}

func (r *rebooter) Serve(ctx context.Context, rw io.ReadWriter) error {
	n := int(r.count.Add(1)) - 1
	r.sessions <- n
	if n == 0 {
		return ErrReboot
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestRebootReplugs(t *testing.T) {
	link := filepath.Join(t.TempDir(), "m")
	r := &rebooter{sessions: make(chan int, 4)}
	d := New(Config{Name: "m", Link: link, RebootDelay: 10 * time.Millisecond}, r)
	if err := d.Plug(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first := d.Path()
	select {
	case <-r.sessions:
	case <-time.After(5 * time.Second):
		t.Fatal("no first session")
	}
	select {
	case n := <-r.sessions:
		if n != 1 {
			t.Fatalf("second session numbered %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a rebooting device never came back")
	}
	if !d.Plugged() {
		t.Fatal("not plugged after the reboot")
	}
	_ = first
}
