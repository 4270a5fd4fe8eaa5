//go:build linux && (amd64 || arm64 || arm || 386 || riscv64)

package scanner

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// evdev ioctl numbers in the asm-generic encoding used by the build tag's
// architectures (dir<<30 | size<<16 | type<<8 | nr; include/uapi/linux/
// input.h, asm-generic/ioctl.h). Checked against the C headers:
// EVIOCGRAB = 0x40044590.
const (
	// evIOCGRAB is _IOW('E', 0x90, int). The kernel reads the ioctl
	// argument itself, not an int behind it: non-zero grabs, zero
	// releases (drivers/input/evdev.c).
	evIOCGRAB uint = 1<<30 | 4<<16 | 'E'<<8 | 0x90
	// evIOCGLED4 is EVIOCGLED(4) = _IOC(_IOC_READ, 'E', 0x19, 4): the
	// first 4 bytes of the LED state bitmap.
	evIOCGLED4 uint = 2<<30 | 4<<16 | 'E'<<8 | 0x19
	ledCapsL        = 0x01 // LED_CAPSL bit
)

// wallNow gives the wall-clock deadlines of the device file. Go's poller
// needs them in real time; the reader's Options.Clock still stamps codes
// and measures silence.
var wallNow = time.Now

// OpenHID opens the evdev node at path (a /dev/input/by-id link works and
// survives re-enumeration), grabs it with EVIOCGRAB unless o.NoGrab, and
// seeds Caps Lock from the device's LED state.
//
// Errors: a failed open wraps ErrPort and the os error (errors.Is with
// fs.ErrNotExist or fs.ErrPermission works); a failed grab wraps ErrGrab
// and the errno: EBUSY when another program holds the device, ENOTTY or
// EINVAL when path is not an evdev device (a pipe, a tty, a file). The
// file is closed on every error.
func OpenHID(path string, o Options) (*HID, error) {
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %w", ErrPort, path, err)
	}
	// Deadlines need Go's poller; an evdev node, a pipe or a tty has it.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: open %s: no read deadlines on this file: %w", ErrPort, path, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: open %s: %w", ErrPort, path, err)
	}
	ioctl := func(req uint, arg int) error {
		var ierr error
		if cerr := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), req, arg) }); cerr != nil {
			return cerr
		}
		return ierr
	}
	h := &HID{path: path}
	if !o.NoGrab {
		if err := ioctl(evIOCGRAB, 1); err != nil {
			f.Close()
			hint := ""
			switch {
			case errors.Is(err, unix.EBUSY):
				hint = " (another program holds it)"
			case errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EINVAL):
				hint = " (not an evdev input device)"
			case errors.Is(err, unix.ENOSYS):
				hint = " (ioctl not passed through, e.g. under qemu-user)"
			}
			return nil, fmt.Errorf("%w: %s%s: %w", ErrGrab, path, hint, err)
		}
		h.grabbed = true
	}
	keys := NewKeyDecoder(o.MaxLen)
	var leds int
	lerr := rc.Control(func(fd uintptr) { leds, err = unix.IoctlGetInt(int(fd), evIOCGLED4) })
	switch {
	case lerr == nil && err == nil:
		keys.SetCapsLock(leds&(1<<ledCapsL) != 0)
	default:
		o.Logger.Debug("scanner: no LED state, Caps Lock assumed off", "dev", path, "err", errors.Join(lerr, err))
	}
	layout := NativeLayout()
	read := func(p []byte, d time.Duration) (int, error) {
		if err := f.SetReadDeadline(wallNow().Add(d)); err != nil {
			return 0, fmt.Errorf("%w: %s: %w", ErrPort, path, err)
		}
		n, err := f.Read(p)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return n, nil
		default:
			return n, fmt.Errorf("%w: %s: %w", ErrPort, path, err)
		}
	}
	h.l = newLoop(o, path, 64*layout.Size(), read, &hidDecoder{layout: layout, keys: keys})
	h.close = func() error {
		var rerr error
		if h.grabbed {
			// Release before close (closing would release it too, but a
			// failure here is worth a log line).
			if rerr = ioctl(evIOCGRAB, 0); rerr != nil {
				o.Logger.Debug("scanner: release grab", "dev", path, "err", rerr)
			}
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("scanner: close %s: %w", path, err)
		}
		return nil
	}
	o.Logger.Info("scanner: HID device open", "dev", path, "grabbed", h.grabbed, "layout", layout.String(), "capslock", keys.CapsLock())
	return h, nil
}
