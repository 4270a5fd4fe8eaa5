package scanner

import (
	"context"
	"fmt"
	"time"
)

// Port is the serial transport a Serial reader needs. drivers/serialio's
// port and go.bug.st/serial's serial.Port both satisfy it.
type Port interface {
	// Read reads at least one byte, or returns when the read timeout
	// passed: with (0, nil) (go.bug.st/serial) or an error that
	// Options.IsTimeout recognises (drivers/serialio). Any other error
	// means the port is unusable.
	Read(p []byte) (int, error)
	// SetReadTimeout sets how long the next reads wait for a first byte.
	// The reader always sets a positive timeout.
	SetReadTimeout(d time.Duration) error
	// Close closes the port and wakes a blocked Read.
	Close() error
}

// Serial reads codes from a serial scanner: printable ASCII codes ended
// by CR, LF or CRLF (see LineReader for the framing rules).
//
// A read returns as soon as bytes are there, so a code is delivered when
// its terminator arrives, not when a timeout expires. Scan and Run may be
// called from one goroutine at a time; Close may be called from any.
type Serial struct {
	port    Port
	name    string
	l       *loop
	timeout time.Duration // last timeout set on the port
}

// NewSerial returns a reader of codes from port; name identifies the
// device in errors and logs (its path). Options are checked here: an
// invalid field gives an error wrapping ErrConfig.
func NewSerial(port Port, name string, o Options) (*Serial, error) {
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	s := &Serial{port: port, name: name}
	s.l = newLoop(o, name, 256, s.read, NewLineReader(o.MaxLen))
	return s, nil
}

// read is the loop's readFunc: it sets the port's timeout (only when it
// changed) and maps timeouts to (0, nil) and failures to ErrPort.
func (s *Serial) read(p []byte, d time.Duration) (int, error) {
	d = max(d, time.Millisecond)
	if d != s.timeout {
		if err := s.port.SetReadTimeout(d); err != nil {
			return 0, fmt.Errorf("%w: %s: set read timeout %v: %w", ErrPort, s.name, d, err)
		}
		s.timeout = d
	}
	n, err := s.port.Read(p)
	if err != nil {
		if s.l.o.IsTimeout(err) {
			return n, nil
		}
		return n, fmt.Errorf("%w: %s: %w", ErrPort, s.name, err)
	}
	return n, nil
}

// Scan waits for the next code until ctx is done. It returns a Code, or
// an error wrapping ErrBadScan for a code that was lost (the reader goes
// on), or a final error: ErrPort (device gone; close and reopen),
// ErrClosed, or ctx.Err(). Without a deadline on ctx it waits for as long
// as nobody scans.
func (s *Serial) Scan(ctx context.Context) (Code, error) { return s.l.scan(ctx) }

// Run delivers codes to out until ctx is done or the device fails, and
// returns why (ctx.Err(), or an error wrapping ErrPort or ErrClosed). Bad
// scans are logged at warn without their text, passed to
// Options.OnBadScan, and skipped. Run blocks while out is full.
func (s *Serial) Run(ctx context.Context, out chan<- Code) error { return s.l.run(ctx, out) }

// Close closes the port, waking a blocked Scan, which then returns
// ErrClosed.
func (s *Serial) Close() error {
	if s.l.closed.Swap(true) {
		return nil
	}
	if err := s.port.Close(); err != nil {
		return fmt.Errorf("scanner: close %s: %w", s.name, err)
	}
	return nil
}
