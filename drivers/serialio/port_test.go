package serialio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestAllByteValuesBothWays(t *testing.T) {
	master, slave := newPTY(t)
	lnk := byIDPath(t)
	link(t, slave, lnk)
	for _, path := range []string{slave, lnk} {
		t.Run(path, func(t *testing.T) {
			p, err := Open(context.Background(), Config{Path: path, Baud: 115200})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Path() != slave {
				t.Errorf("Path() = %q, want the resolved slave %q", p.Path(), slave)
			}
			want := allBytes()
			if n, err := p.Write(want); err != nil || n != len(want) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if got := readN(t, master, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("master got % x\nwant % x", got, want)
			}
			if _, err := master.Write(want); err != nil {
				t.Fatal(err)
			}
			if got := readPort(t, p, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("port got % x\nwant % x", got, want)
			}
		})
	}
}

func TestLineSettings(t *testing.T) {
	master, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave, Baud: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// TCGETS on a pty master reads the slave's termios.
	tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if got := tio.Cflag & unix.CBAUD; got != unix.B9600 {
		t.Errorf("speed bits %#o, want B9600 %#o", got, unix.B9600)
	}
	if tio.Cflag&unix.CSIZE != unix.CS8 || tio.Cflag&unix.PARENB != 0 || tio.Cflag&unix.CSTOPB != 0 {
		t.Errorf("cflag %#o is not 8N1", tio.Cflag)
	}
	if tio.Cflag&unix.CRTSCTS != 0 || tio.Iflag&(unix.IXON|unix.IXOFF) != 0 {
		t.Errorf("flow control on: cflag %#o iflag %#o", tio.Cflag, tio.Iflag)
	}
	if tio.Lflag&(unix.ICANON|unix.ECHO) != 0 || tio.Oflag&unix.OPOST != 0 {
		t.Errorf("not raw: lflag %#o oflag %#o", tio.Lflag, tio.Oflag)
	}
}

func TestReadTimeoutIsAnError(t *testing.T) {
	master, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave, ReadTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	buf := make([]byte, 16)

	n, err := p.Read(buf)
	if n != 0 || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Read with nothing sent = (%d, %v), want (0, ErrTimeout)", n, err)
	}
	var se *Error
	if !errors.As(err, &se) || !se.Timeout() || se.Op != "read" {
		t.Errorf("error %#v: want *Error{Op: read} with Timeout() true", err)
	}
	if errors.Is(err, ErrGone) || p.Err() != nil {
		t.Errorf("a timeout must not mark the port gone: %v / %v", err, p.Err())
	}

	// Zero timeout polls: nothing buffered is an immediate timeout…
	if err := p.SetReadTimeout(0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(buf); !errors.Is(err, ErrTimeout) {
		t.Fatalf("poll Read = %v, want ErrTimeout", err)
	}
	// …and buffered bytes come back.
	master.Write([]byte{0x42})
	if err := p.SetReadTimeout(time.Second); err != nil {
		t.Fatal(err)
	}
	if got := readPort(t, p, 1); got[0] != 0x42 {
		t.Fatalf("got %x", got)
	}

	if err := p.SetReadTimeout(-time.Second); !errors.Is(err, ErrConfig) {
		t.Errorf("SetReadTimeout(-1s) = %v, want ErrConfig", err)
	}
	if n, err := p.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = (%d, %v), want (0, nil)", n, err)
	}
}

func TestSecondOpenIsBusy(t *testing.T) {
	_, slave := newPTY(t)
	lnk := byIDPath(t)
	link(t, slave, lnk)
	p, err := Open(context.Background(), Config{Path: slave})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{slave, lnk} {
		p2, err := Open(context.Background(), Config{Path: path})
		if err == nil {
			p2.Close()
			t.Fatalf("second Open of %s succeeded", path)
		}
		if !errors.Is(err, ErrBusy) || StatusOf(err) != StatusBusy {
			t.Fatalf("second Open of %s = %v, want ErrBusy", path, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, slave) || !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())+" (this process)") {
			t.Errorf("busy error %q should name %s and this process's pid", msg, slave)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p3, err := Open(context.Background(), Config{Path: slave})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	p3.Close()
}

// A second owner must be turned away before it touches the port: with
// flock taken after go.bug.st's open, root would reset the owner's speed.
func TestBusyOpenLeavesOwnerSettingsAlone(t *testing.T) {
	master, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave, Baud: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	speed := func() uint32 {
		tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		return tio.Cflag & unix.CBAUD
	}
	if speed() != unix.B9600 {
		t.Fatalf("owner speed %#o, want B9600", speed())
	}
	if _, err := Open(context.Background(), Config{Path: slave, Baud: 115200}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open = %v, want ErrBusy", err)
	}
	if got := speed(); got != unix.B9600 {
		t.Fatalf("busy Open changed the owner's speed to %#o", got)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	_, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave, ReadTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 8))
		readErr <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the Read block (either order is correct)
	within(t, "Close", func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Read = %v, want ErrClosed", err)
		}
	case <-time.After(guard):
		t.Fatal("Read still blocked after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := p.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

// The other side reads nothing: output fills the pty, a Write blocks, a
// Read blocks; Close must return and release both, never draining.
func TestCloseWithStalledOutput(t *testing.T) {
	_, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave, ReadTimeout: time.Hour, WriteTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		n   int
		err error
	}
	big := make([]byte, 1<<20) // far more than a pty buffers
	writeRes := make(chan res, 1)
	readRes := make(chan res, 1)
	go func() { n, err := p.Write(big); writeRes <- res{n, err} }()
	go func() { n, err := p.Read(make([]byte, 8)); readRes <- res{n, err} }()
	time.Sleep(100 * time.Millisecond) // let both block (either order is correct)
	within(t, "Close", func() { p.Close() })
	for name, ch := range map[string]chan res{"Write": writeRes, "Read": readRes} {
		select {
		case r := <-ch:
			if !errors.Is(r.err, ErrClosed) {
				t.Errorf("%s = (%d, %v), want ErrClosed", name, r.n, r.err)
			}
			if name == "Write" && (r.n <= 0 || r.n >= len(big)) {
				t.Errorf("Write wrote %d of %d bytes: the pty should have taken some, not all", r.n, len(big))
			}
		case <-time.After(guard):
			t.Fatalf("%s still blocked after Close", name)
		}
	}
}

func TestWriteStallTimesOutThenResumes(t *testing.T) {
	master, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave, WriteTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	big := make([]byte, 1<<20)
	n, err := p.Write(big)
	if !errors.Is(err, ErrTimeout) || n <= 0 || n >= len(big) {
		t.Fatalf("Write into a full pty = (%d, %v), want partial count and ErrTimeout", n, err)
	}
	if p.Err() != nil {
		t.Fatalf("a stalled write must not mark the port gone: %v", p.Err())
	}
	t.Logf("pty took %d bytes before stalling", n)
	readN(t, master, n) // the device catches up
	if k, err := p.Write([]byte("after")); err != nil || k != 5 {
		t.Fatalf("Write after drain = (%d, %v)", k, err)
	}
	if got := readN(t, master, 5); string(got) != "after" {
		t.Fatalf("got %q", got)
	}
}

// Closing a pty's master is its "unplug". Verified here: the slave hangs
// up; go.bug.st's Read then sees a zero-length read (its PortClosed), not
// EIO; a write gets EIO; poll reports POLLHUP; /dev/pts/N disappears.
func TestUnplugDuringReadIsGone(t *testing.T) {
	master, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave, ReadTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	readErr := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 8))
		readErr <- err
	}()
	time.Sleep(50 * time.Millisecond)
	master.Close()
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrGone) || StatusOf(err) != StatusGone {
			t.Fatalf("Read after unplug = %v, want ErrGone", err)
		}
		t.Logf("read after unplug: %v", err)
	case <-time.After(guard):
		t.Fatal("Read still blocked after unplug")
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after ErrGone")
	}
	if !errors.Is(p.Err(), ErrGone) {
		t.Errorf("Err() = %v, want ErrGone", p.Err())
	}
	if _, err := p.Write([]byte{1}); !errors.Is(err, ErrGone) {
		t.Errorf("Write on a gone port = %v, want ErrGone", err)
	}
	if _, err := p.Read(make([]byte, 1)); !errors.Is(err, ErrGone) {
		t.Errorf("Read on a gone port = %v, want ErrGone", err)
	}
	if _, err := os.Stat(slave); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s after unplug = %v, want not-exist", slave, err)
	}
}

func TestUnplugWhileIdleIsDetected(t *testing.T) {
	master, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	master.Close()
	select {
	case <-p.Done():
	case <-time.After(guard):
		t.Fatal("an idle port did not notice its device hang up")
	}
	if err := p.Err(); !errors.Is(err, ErrGone) || !errors.Is(err, errHangup) {
		t.Fatalf("Err() = %v, want ErrGone from a hangup", err)
	}
}

func TestWriteAfterUnplugIsGone(t *testing.T) {
	// Raw check of the kernel behaviour the mapping relies on: EIO.
	master, slave := newPTY(t)
	f, err := os.OpenFile(slave, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	master.Close()
	_, werr := f.Write([]byte{1})
	f.Close()
	if !errors.Is(werr, syscall.EIO) {
		t.Fatalf("write to a hung-up pty slave = %v, want EIO", werr)
	}
}

func TestModemLinesAreOptional(t *testing.T) {
	_, slave := newPTY(t)
	var logs logBuffer
	p, err := Open(context.Background(), Config{Path: slave, Logger: debugLogger(&logs)})
	if err != nil {
		t.Fatalf("Open must not fail on a pty without modem lines: %v", err)
	}
	defer p.Close()
	if !strings.Contains(logs.String(), "DTR not set") || !strings.Contains(logs.String(), "level=DEBUG") {
		t.Errorf("DTR failure should be logged at debug, log:\n%s", logs.String())
	}
	if err := p.SetDTR(true); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SetDTR on a pty = %v, want ErrUnsupported", err)
	}
	if err := p.SetRTS(false); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SetRTS on a pty = %v, want ErrUnsupported", err)
	}
	if _, err := p.ModemStatus(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ModemStatus on a pty = %v, want ErrUnsupported", err)
	}
	if p.Err() != nil {
		t.Errorf("modem-line failures must not mark the port gone: %v", p.Err())
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	dangling := dir + "/dangling"
	os.Symlink(dir+"/nothing", dangling)
	regular := dir + "/file"
	os.WriteFile(regular, nil, 0o600)
	cases := []struct {
		name   string
		cfg    Config
		want   error
		status Status
	}{
		{"no such path", Config{Path: dir + "/ttyUSB9"}, ErrMissing, StatusMissing},
		{"dangling by-id link", Config{Path: dangling}, ErrMissing, StatusMissing},
		{"regular file", Config{Path: regular}, ErrNotSerial, StatusMissing},
		{"char device that is no tty", Config{Path: "/dev/null"}, ErrNotSerial, StatusMissing},
		{"no path", Config{}, ErrConfig, StatusGone},
		{"both", Config{Path: "/dev/ttyS1", USB: "0416:5011"}, ErrConfig, StatusGone},
		{"bad usb", Config{USB: "416:5011"}, ErrConfig, StatusGone},
		{"baud", Config{Path: "/dev/ttyS1", Baud: 10}, ErrConfig, StatusGone},
		{"read timeout", Config{Path: "/dev/ttyS1", ReadTimeout: -1}, ErrConfig, StatusGone},
		{"write timeout", Config{Path: "/dev/ttyS1", WriteTimeout: -1}, ErrConfig, StatusGone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Open(context.Background(), c.cfg)
			if err == nil {
				p.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, c.want) || StatusOf(err) != c.status {
				t.Fatalf("Open = %v (status %s), want %v (status %s)", err, StatusOf(err), c.want, c.status)
			}
			var se *Error
			if !errors.As(err, &se) || se.Op != "open" {
				t.Errorf("%v is not an *Error{Op: open}", err)
			}
		})
	}
	// The field at fault is named.
	_, err := Open(context.Background(), Config{Path: "/dev/ttyS1", Baud: 10})
	if !strings.Contains(err.Error(), "Baud 10") {
		t.Errorf("error %q does not name Baud", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, Config{Path: "/dev/ttyS1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context = %v", err)
	}
}

func TestOpenByUSBID(t *testing.T) {
	master, slave := newPTY(t)
	fakeList(t, []PortInfo{
		{Name: "/dev/ttyS0"},
		{Name: slave, USB: true, VID: "0416", PID: "5011", Serial: "A1", Product: "POS58 Printer"},
	}, nil)
	p, err := Open(context.Background(), Config{USB: "0416:5011"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Path() != slave || p.Name() != "usb:0416:5011" {
		t.Fatalf("Path %q Name %q", p.Path(), p.Name())
	}
	p.Write([]byte{0x10, 0x04, 0x01}) // DLE EOT 1
	if got := readN(t, master, 3); !bytes.Equal(got, []byte{0x10, 0x04, 0x01}) {
		t.Fatalf("got % x", got)
	}
}

func fakeList(t *testing.T, ports []PortInfo, err error) {
	t.Helper()
	old := listPorts
	listPorts = func(ctx context.Context) ([]PortInfo, error) { return ports, err }
	t.Cleanup(func() { listPorts = old })
}

func BenchmarkEchoRoundTrip64(b *testing.B) {
	master, slave, err := ptyPair()
	if err != nil {
		b.Fatal(err)
	}
	defer master.Close()
	p, err := Open(context.Background(), Config{Path: slave})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	msg := bytes.Repeat([]byte{0xA5}, 64)
	buf := make([]byte, 64)
	mbuf := make([]byte, 64)
	b.SetBytes(128)
	for b.Loop() {
		if _, err := p.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := readFullFile(master, mbuf); err != nil {
			b.Fatal(err)
		}
		if _, err := master.Write(mbuf); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < 64; {
			n, err := p.Read(buf[got:])
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}

// Without the hangup watcher, the Read path alone must turn go.bug.st's
// zero-length read on a hung-up pty (its PortClosed) into ErrGone.
func TestUnplugReadPathWithoutWatcher(t *testing.T) {
	watchHangups = false
	t.Cleanup(func() { watchHangups = true })
	master, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave, ReadTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	readErr := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 8))
		readErr <- err
	}()
	time.Sleep(50 * time.Millisecond)
	master.Close()
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrGone) || !errors.Is(err, io.EOF) {
			t.Fatalf("Read after unplug = %v, want ErrGone wrapping EOF", err)
		}
		t.Logf("read after unplug: %v", err)
	case <-time.After(guard):
		t.Fatal("Read still blocked after unplug")
	}
	if _, err := p.Write([]byte{1}); !errors.Is(err, ErrGone) {
		t.Errorf("Write on a gone port = %v, want ErrGone", err)
	}
}

// Without the watcher and without a reader, a Write to the hung-up tty
// gets EIO, which marks the port gone.
func TestUnplugWritePathWithoutWatcher(t *testing.T) {
	watchHangups = false
	t.Cleanup(func() { watchHangups = true })
	master, slave := newPTY(t)
	p, err := Open(context.Background(), Config{Path: slave})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	master.Close()
	_, err = p.Write([]byte{1})
	if !errors.Is(err, ErrGone) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Write after unplug = %v, want ErrGone wrapping EIO", err)
	}
	if !errors.Is(p.Err(), ErrGone) {
		t.Errorf("Err() = %v", p.Err())
	}
}
