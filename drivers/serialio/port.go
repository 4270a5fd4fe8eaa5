package serialio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// Port is what device drivers use (drivers/pn532 and drivers/escpos
// declare the same method set as their Transport).
type Port interface {
	// Read reads at least one byte, waiting up to the read timeout. When
	// the timeout passes with no byte it returns (0, error wrapping
	// ErrTimeout), never (0, nil). An unplugged device gives ErrGone.
	Read(p []byte) (int, error)
	// Write writes all of p unless the device accepts no byte for the
	// write timeout (ErrTimeout, with the count written so far) or goes
	// away (ErrGone).
	Write(p []byte) (int, error)
	// SetReadTimeout sets the read timeout for the next Read calls.
	SetReadTimeout(d time.Duration) error
	// Close releases the port. It unblocks a pending Read or Write and
	// never waits for output to drain.
	Close() error
}

// ModemLines is the optional modem-line control of a port. Pseudo-
// terminals and many USB adapters do not have it: callers must treat an
// error (wrapping errors.ErrUnsupported there) as "not available".
type ModemLines interface {
	SetDTR(on bool) error
	SetRTS(on bool) error
	ModemStatus() (ModemStatus, error)
}

// ModemStatus is the state of the modem input lines.
type ModemStatus struct {
	CTS, DSR, RI, DCD bool
}

// SerialPort is an open serial port, exclusively owned through flock.
// Read, Write and SetReadTimeout may be called from different goroutines
// (one reader and one writer); Close may be called at any time from any
// goroutine.
type SerialPort struct {
	name string // as configured
	dev  string // resolved device node
	log  *slog.Logger

	port serial.Port // go.bug.st/serial: termios, reads, modem lines
	lock *os.File    // second descriptor: flock, writes, hangup watch

	writeTimeout time.Duration
	readTimeout  atomic.Int64 // wanted; applied by Read under readMu
	readMu       sync.Mutex
	applied      time.Duration // guarded by readMu
	writeMu      sync.Mutex

	gone     atomic.Bool
	closed   atomic.Bool
	causeMu  sync.Mutex
	cause    error
	done     chan struct{}
	doneOnce sync.Once

	stopW, stopR int           // pipe that stops the hangup watcher
	watchDone    chan struct{} // closed when the watcher has exited

	closeOnce sync.Once
	closeErr  error
}

// Open resolves c (following links, or finding the USB id in sysfs), takes
// the device's flock, opens it with go.bug.st/serial at c.Baud 8N1 and
// raises DTR and RTS (optional: a failure is logged at debug). It fails
// with ErrConfig, ErrMissing, ErrAmbiguous, ErrBusy, ErrPermission or
// ErrNotSerial, wrapped in an *Error naming the port.
func Open(ctx context.Context, c Config) (*SerialPort, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, &Error{Op: "open", Port: c.Name(), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: "open", Port: c.Name(), Err: err}
	}
	dev, err := resolve(ctx, c)
	if err != nil {
		return nil, &Error{Op: "open", Port: c.Name(), Err: err}
	}
	e := func(err error) error { return &Error{Op: "open", Port: c.Name(), Dev: dev, Err: err} }
	if err := ctx.Err(); err != nil {
		return nil, e(err)
	}
	lock, err := openLock(dev)
	if err != nil {
		return nil, e(err)
	}
	sp, err := serial.Open(dev, &serial.Mode{
		BaudRate: c.Baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
		// No InitialStatusBits: setting them fails the open on a pty.
	})
	if err != nil {
		lock.Close()
		return nil, e(mapSerialOpenError(err))
	}
	s := &SerialPort{
		name:         c.Name(),
		dev:          dev,
		log:          c.Logger.With("port", c.Name(), "dev", dev),
		port:         sp,
		lock:         lock,
		writeTimeout: c.WriteTimeout,
		applied:      -2, // not yet applied
		done:         make(chan struct{}),
		watchDone:    make(chan struct{}),
	}
	s.readTimeout.Store(int64(c.ReadTimeout))
	if err := s.startWatch(); err != nil {
		sp.Close()
		lock.Close()
		return nil, e(err)
	}
	if err := sp.SetDTR(true); err != nil {
		s.log.Debug("serialio: DTR not set (optional)", "err", err)
	}
	if err := sp.SetRTS(true); err != nil {
		s.log.Debug("serialio: RTS not set (optional)", "err", err)
	}
	if err := sp.ResetInputBuffer(); err != nil {
		s.log.Debug("serialio: input not flushed", "err", err)
	}
	s.log.Debug("serialio: open", "baud", c.Baud)
	return s, nil
}

// resolve turns the configured port into a device node.
func resolve(ctx context.Context, c Config) (string, error) {
	if c.USB != "" {
		return resolveUSB(ctx, c.USB)
	}
	dev, err := filepath.EvalSymlinks(c.Path)
	if err != nil {
		return "", openErrno(err)
	}
	return dev, nil
}

// mapSerialOpenError maps a go.bug.st/serial open error (a *PortError
// without Unwrap, or a bare errno) to a sentinel.
func mapSerialOpenError(err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return fmt.Errorf("%w: %w", ErrBusy, err)
		case serial.PermissionDenied:
			return fmt.Errorf("%w: %w", ErrPermission, err)
		case serial.InvalidSerialPort:
			return fmt.Errorf("%w: %w", ErrNotSerial, err)
		case serial.PortNotFound:
			return fmt.Errorf("%w: %w", ErrMissing, err)
		}
		return err
	}
	return openErrno(err)
}

// Name returns the port as configured.
func (s *SerialPort) Name() string { return s.name }

// Path returns the device node the port was opened on (links resolved).
func (s *SerialPort) Path() string { return s.dev }

// Done is closed when the port becomes unusable: gone or closed.
func (s *SerialPort) Done() <-chan struct{} { return s.done }

// Err returns nil while the port is usable, an error wrapping ErrGone
// once the device went away, or ErrClosed after Close.
func (s *SerialPort) Err() error {
	if s.gone.Load() {
		return s.goneErr("")
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (s *SerialPort) errorf(op string, err error) error {
	return &Error{Op: op, Port: s.name, Dev: s.dev, Err: err}
}

func (s *SerialPort) goneErr(op string) error {
	s.causeMu.Lock()
	cause := s.cause
	s.causeMu.Unlock()
	err := fmt.Errorf("%w: %w", ErrGone, cause)
	if op == "" {
		return err
	}
	return s.errorf(op, err)
}

// unusable returns the error for I/O on a gone or closed port, or nil.
func (s *SerialPort) unusable(op string) error {
	if s.gone.Load() {
		return s.goneErr(op)
	}
	if s.closed.Load() {
		return s.errorf(op, ErrClosed)
	}
	return nil
}

// markGone records that the device went away; the first cause wins.
func (s *SerialPort) markGone(cause error) {
	if s.closed.Load() {
		return
	}
	s.causeMu.Lock()
	first := s.cause == nil
	if first {
		s.cause = cause
	}
	s.causeMu.Unlock()
	if first {
		s.gone.Store(true)
		s.log.Warn("serialio: device gone", "err", cause)
		s.doneOnce.Do(func() { close(s.done) })
	}
}

// errHangup is the cause recorded when the tty reports a hangup.
var errHangup = errors.New("hangup")

// ioError classifies an I/O failure: after Close it is ErrClosed; anything
// else (EOF, EIO, ENXIO, ENODEV, go.bug.st's PortClosed on a hung-up tty,
// or an unexpected error) marks the port gone, so no error is sticky: the
// owner reopens.
func (s *SerialPort) ioError(op string, err error) error {
	if s.gone.Load() {
		return s.goneErr(op)
	}
	if s.closed.Load() {
		return s.errorf(op, ErrClosed)
	}
	var pe *serial.PortError
	if errors.As(err, &pe) && pe.Code() == serial.PortClosed {
		err = fmt.Errorf("%w (%v)", io.EOF, err) // zero-length read: hung up
	}
	s.markGone(err)
	return s.goneErr(op)
}

// SetReadTimeout sets how long Read waits for the first byte. d == 0 makes
// Read return what is already received, or ErrTimeout at once. A negative
// d is rejected: no read may wait without a deadline (Close still ends a
// Read at any time). It takes effect at the next Read.
func (s *SerialPort) SetReadTimeout(d time.Duration) error {
	if d < 0 {
		return s.errorf("set read timeout", fmt.Errorf("%w: read timeout %v is negative", ErrConfig, d))
	}
	s.readTimeout.Store(int64(d))
	return nil
}

// Read implements Port. It returns at least one byte, or an error: ErrTimeout
// when the read timeout passed with nothing received (go.bug.st/serial's
// (0, nil)), ErrGone when the device went away, ErrClosed after Close.
// A zero-length p returns (0, nil) at once.
func (s *SerialPort) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.unusable("read"); err != nil {
		return 0, err
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if want := time.Duration(s.readTimeout.Load()); want != s.applied {
		if err := s.port.SetReadTimeout(want); err != nil {
			return 0, s.errorf("set read timeout", fmt.Errorf("%w: %w", ErrConfig, err))
		}
		s.applied = want
	}
	n, err := s.port.Read(p)
	if n < 0 {
		n = 0
	}
	switch {
	case err != nil:
		return 0, s.ioError("read", err)
	case n == 0:
		if uerr := s.unusable("read"); uerr != nil {
			return 0, uerr
		}
		return 0, s.errorf("read", fmt.Errorf("%w: no byte within %v", ErrTimeout, s.applied))
	}
	return n, nil
}

// pastDeadline is a write deadline that has already passed, set by Close to
// wake a blocked Write.
var pastDeadline = time.Unix(1, 0)

// Write implements Port. Bytes go through the port's second descriptor
// (opened O_NONBLOCK, so it has deadlines in Go's poller) rather than
// through go.bug.st/serial, whose blocking write can hang forever on a
// device that stops accepting data and cannot be woken by Close. Both
// descriptors are the same tty: termios, line discipline and output queue
// are shared. The deadline is the write timeout from the last progress, so
// a slow but moving device is never cut off; a device that takes no byte
// for the write timeout gives ErrTimeout.
func (s *SerialPort) Write(p []byte) (int, error) {
	if err := s.unusable("write"); err != nil {
		return 0, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	written := 0
	for written < len(p) {
		// The deadline is wall time because the runtime poller needs one;
		// it bounds a syscall, it is not payment logic.
		if err := s.lock.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
			return written, s.ioError("write", err)
		}
		// Close sets closed, then a past deadline: checking after our own
		// deadline is set means Close's deadline always wins.
		if err := s.unusable("write"); err != nil {
			return written, err
		}
		n, err := s.lock.Write(p[written:])
		if n > 0 {
			written += n
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			if uerr := s.unusable("write"); uerr != nil {
				return written, uerr
			}
			if n > 0 {
				continue // progress: a new stall window
			}
			return written, s.errorf("write", fmt.Errorf("%w: device accepted no byte for %v (%d of %d written)",
				ErrTimeout, s.writeTimeout, written, len(p)))
		default:
			return written, s.ioError("write", err)
		}
	}
	return written, nil
}

// Close implements Port. In order: mark the port closed, wake a blocked
// Write (past deadline), discard unsent output (TCOFLUSH, never tcdrain:
// a stalled device must not hold Close), close go.bug.st's port (which
// wakes a blocked Read and waits for it to leave), stop the hangup watcher,
// and close the lock descriptor, which releases the flock. Closing twice
// is a no-op.
func (s *SerialPort) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.doneOnce.Do(func() { close(s.done) })
		_ = s.lock.SetWriteDeadline(pastDeadline)
		if err := s.port.ResetOutputBuffer(); err != nil {
			s.log.Debug("serialio: output not flushed on close", "err", err)
		}
		var errs []error
		if err := s.port.Close(); err != nil {
			errs = append(errs, err)
		}
		s.stopWatch()
		if err := s.lock.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = s.errorf("close", err)
		}
		s.log.Debug("serialio: closed")
	})
	return s.closeErr
}

// watchHangups switches the hangup watcher on; a test turns it off to see
// the Read path map a hung-up tty on its own.
var watchHangups = true

// startWatch starts a goroutine that blocks in poll(2) on the lock
// descriptor with no events requested, which returns only on POLLHUP,
// POLLERR or POLLNVAL: a hung-up tty (USB unplug, pty master closed) marks
// the port gone even when nobody is reading.
func (s *SerialPort) startWatch() error {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("hangup watch pipe: %w", err)
	}
	s.stopR, s.stopW = fds[0], fds[1]
	var devFD int
	rc, err := s.lock.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { devFD = int(fd) })
	}
	if err != nil {
		unix.Close(s.stopR)
		unix.Close(s.stopW)
		return fmt.Errorf("hangup watch: %w", err)
	}
	if !watchHangups {
		close(s.watchDone)
		return nil
	}
	// devFD stays valid until Close, which stops this goroutine before it
	// closes the lock file.
	go s.watch(devFD)
	return nil
}

func (s *SerialPort) watch(devFD int) {
	defer close(s.watchDone)
	fds := []unix.PollFd{
		{Fd: int32(devFD)},
		{Fd: int32(s.stopR), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			s.log.Debug("serialio: hangup watch stopped", "err", err)
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			s.markGone(fmt.Errorf("%w (poll revents %#x)", errHangup, fds[0].Revents))
			return
		}
	}
}

func (s *SerialPort) stopWatch() {
	_, _ = unix.Write(s.stopW, []byte{0})
	<-s.watchDone
	unix.Close(s.stopW)
	unix.Close(s.stopR)
}

// SetDTR sets the DTR line. On a pty or an adapter without modem lines
// the error wraps errors.ErrUnsupported.
func (s *SerialPort) SetDTR(on bool) error {
	if err := s.unusable("set DTR"); err != nil {
		return err
	}
	return s.modemErr("set DTR", s.port.SetDTR(on))
}

// SetRTS sets the RTS line; errors as SetDTR.
func (s *SerialPort) SetRTS(on bool) error {
	if err := s.unusable("set RTS"); err != nil {
		return err
	}
	return s.modemErr("set RTS", s.port.SetRTS(on))
}

// ModemStatus reads CTS, DSR, RI and DCD; errors as SetDTR.
func (s *SerialPort) ModemStatus() (ModemStatus, error) {
	if err := s.unusable("modem status"); err != nil {
		return ModemStatus{}, err
	}
	b, err := s.port.GetModemStatusBits()
	if err != nil {
		return ModemStatus{}, s.modemErr("modem status", err)
	}
	return ModemStatus{CTS: b.CTS, DSR: b.DSR, RI: b.RI, DCD: b.DCD}, nil
}

func (s *SerialPort) modemErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EINVAL):
		return s.errorf(op, fmt.Errorf("%w: %w", errors.ErrUnsupported, err))
	}
	return s.errorf(op, err)
}

var (
	_ Port       = (*SerialPort)(nil)
	_ ModemLines = (*SerialPort)(nil)
)
