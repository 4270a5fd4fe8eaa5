package scanner

import "context"

// HID reads codes from a USB HID keyboard-wedge scanner through its
// Linux evdev node (/dev/input/eventN, or a stable
// /dev/input/by-id/...-event-kbd link), grabbed for exclusive use so the
// scans are not also typed into a console or another program. Key codes
// become characters through a fixed US layout (USKey, KeyDecoder),
// whatever the system's keyboard layout. Open one with OpenHID.
//
// Scan and Run may be called from one goroutine at a time; Close may be
// called from any.
type HID struct {
	path    string
	grabbed bool
	l       *loop
	close   func() error
}

// Path returns the device path the reader was opened with.
func (h *HID) Path() string { return h.path }

// Grabbed reports whether the device is held with EVIOCGRAB (false only
// with Options.NoGrab).
func (h *HID) Grabbed() bool { return h.grabbed }

// Scan waits for the next code until ctx is done. It returns a Code, or
// an error wrapping ErrBadScan for a code that was lost (the reader goes
// on), or a final error: ErrPort (device unplugged; close and reopen),
// ErrClosed, or ctx.Err().
func (h *HID) Scan(ctx context.Context) (Code, error) { return h.l.scan(ctx) }

// Run delivers codes to out until ctx is done or the device fails, and
// returns why. Bad scans are logged at warn without their text, passed to
// Options.OnBadScan, and skipped. Run blocks while out is full.
func (h *HID) Run(ctx context.Context, out chan<- Code) error { return h.l.run(ctx, out) }

// Close releases the grab and closes the device, waking a blocked Scan,
// which then returns ErrClosed. Closing twice is a no-op.
func (h *HID) Close() error {
	if h.l.closed.Swap(true) {
		return nil
	}
	return h.close()
}
