// Package ptydev gives a device emulator a serial port: a pseudo-terminal
// whose slave side a driver opens like /dev/ttyUSB0, behind a stable
// symlink that possim keeps pointing at the current pseudo-terminal.
//
// Unplug closes the pseudo-terminal and removes the link, exactly like a
// USB device node disappearing: the driver's next read fails with EIO and
// a reopen finds nothing. Replug creates a new pseudo-terminal (a new
// /dev/pts/N, as a real replug gets a new name) and points the link at it.
//
// Pacing: with a baud rate set, everything the emulator sends is paced at
// 10 bits per byte (8N1), so timeouts and benchmarks against an emulator
// mean what they would against the real part.
package ptydev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ErrUnplugged is returned by reads and writes of an unplugged device.
var ErrUnplugged = errors.New("ptydev: device unplugged")

// Handler is a device emulator: it serves one plug-in session on rw until
// ctx ends or rw fails. Returning ErrReboot asks for an unplug/replug.
type Handler interface {
	Serve(ctx context.Context, rw io.ReadWriter) error
}

// ErrReboot is returned by a Handler whose device resets itself and drops
// off the bus (a modem after AT+CFUN=1,1): the port is replugged.
var ErrReboot = errors.New("ptydev: device rebooted")

// Config describes one emulated serial device.
type Config struct {
	Name string // "pn532", "printer", ...
	Link string // stable path the driver opens, e.g. /tmp/possim/pn532
	Baud int    // pace output at this rate; 0 = no pacing
	// RebootDelay is how long a rebooting device stays unplugged.
	RebootDelay time.Duration
}

// Device is an emulated serial device on a pseudo-terminal.
type Device struct {
	cfg Config
	h   Handler

	mu      sync.Mutex
	master  *os.File
	slave   *os.File
	cancel  context.CancelFunc
	done    chan struct{}
	parent  context.Context // what Plug was given: outlives one plug-in session
	plugged bool
	path    string
}

// New returns a device; Plug makes it appear.
func New(cfg Config, h Handler) *Device {
	return &Device{cfg: cfg, h: h}
}

// Name returns the device name.
func (d *Device) Name() string { return d.cfg.Name }

// Link returns the stable path the driver opens.
func (d *Device) Link() string { return d.cfg.Link }

// Path returns the current pseudo-terminal path ("" when unplugged).
func (d *Device) Path() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.path
}

// Plugged reports whether the device is present.
func (d *Device) Plugged() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.plugged
}

// Plug creates the pseudo-terminal, points the link at it and starts the
// handler. Plugging a plugged device is a no-op.
func (d *Device) Plug(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.plugged {
		return nil
	}
	master, slave, err := openPTY()
	if err != nil {
		return fmt.Errorf("ptydev %s: %w", d.cfg.Name, err)
	}
	if err := makeRaw(slave); err != nil {
		master.Close()
		slave.Close()
		return fmt.Errorf("ptydev %s: raw mode: %w", d.cfg.Name, err)
	}
	if err := relink(slave.Name(), d.cfg.Link); err != nil {
		master.Close()
		slave.Close()
		return fmt.Errorf("ptydev %s: %w", d.cfg.Name, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	d.parent = ctx
	d.master, d.slave, d.cancel, d.path = master, slave, cancel, slave.Name()
	d.done = make(chan struct{})
	d.plugged = true
	rw := &paced{f: master, baud: d.cfg.Baud}
	go d.serve(sctx, rw, d.done)
	return nil
}

func (d *Device) serve(ctx context.Context, rw io.ReadWriter, done chan struct{}) {
	defer close(done)
	err := d.h.Serve(ctx, rw)
	if errors.Is(err, ErrReboot) {
		d.mu.Lock()
		parent := d.parent
		d.mu.Unlock()
		go func() {
			// Unplug cancels this session's ctx; the replug waits on the
			// context Plug was given, which a reboot does not end.
			d.Unplug()
			delay := d.cfg.RebootDelay
			if delay <= 0 {
				delay = 200 * time.Millisecond
			}
			select {
			case <-time.After(delay):
				_ = d.Plug(parent)
			case <-parent.Done():
			}
		}()
	}
}

// Unplug removes the device: the link disappears and the pseudo-terminal
// is closed, so the driver's reads fail. Unplugging an unplugged device is
// a no-op.
func (d *Device) Unplug() {
	d.mu.Lock()
	if !d.plugged {
		d.mu.Unlock()
		return
	}
	d.plugged = false
	d.cancel()
	_ = os.Remove(d.cfg.Link)
	// Closing the master makes the driver's side see EIO/hangup.
	d.master.Close()
	d.slave.Close()
	done := d.done
	d.path = ""
	d.mu.Unlock()
	<-done
}

// Close unplugs the device for good.
func (d *Device) Close() error {
	d.Unplug()
	return nil
}

// openPTY opens a pseudo-terminal whose master is non-blocking and so
// registered with Go's poller: Close then interrupts a pending Read (a
// blocking *os.File, which creack/pty returns once Fd() was called, would
// keep an emulator's Read, and so Unplug, hanging).
func openPTY() (master, slave *os.File, err error) {
	m, slave, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		slave.Close()
		return nil, nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		slave.Close()
		return nil, nil, err
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "/dev/ptmx"), slave, nil
}

// relink atomically points link at target.
func relink(target, link string) error {
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// makeRaw puts the terminal in raw 8N1 mode (no echo, no line editing, no
// CR/LF translation), as a UART is.
func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// paced writes at most one UART's worth of bytes per unit of time.
type paced struct {
	f    *os.File
	baud int
}

func (p *paced) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	if err != nil {
		return n, fmt.Errorf("%w: %v", ErrUnplugged, err)
	}
	return n, nil
}

// chunk is how many bytes are written between pauses: small enough that
// a reader sees bytes arrive over time, large enough not to spin.
const chunk = 16

func (p *paced) Write(b []byte) (int, error) {
	if p.baud <= 0 {
		n, err := p.f.Write(b)
		if err != nil {
			return n, fmt.Errorf("%w: %v", ErrUnplugged, err)
		}
		return n, nil
	}
	perByte := ByteTime(p.baud)
	written := 0
	start := time.Now()
	for written < len(b) {
		end := min(written+chunk, len(b))
		n, err := p.f.Write(b[written:end])
		written += n
		if err != nil {
			return written, fmt.Errorf("%w: %v", ErrUnplugged, err)
		}
		// Sleep until the wire would have carried what we wrote.
		if due := start.Add(time.Duration(written) * perByte); time.Until(due) > 0 {
			time.Sleep(time.Until(due))
		}
	}
	return written, nil
}

// ByteTime returns how long one byte takes on the wire at baud, 8N1.
func ByteTime(baud int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Second * 10 / time.Duration(baud)
}
