package serialio

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenErrnoAndStatus(t *testing.T) {
	cases := []struct {
		errno  unix.Errno
		want   error
		status Status
	}{
		{unix.ENOENT, ErrMissing, StatusMissing},
		{unix.ENXIO, ErrMissing, StatusMissing},
		{unix.ENODEV, ErrMissing, StatusMissing},
		{unix.EIO, ErrMissing, StatusMissing},
		{unix.EBUSY, ErrBusy, StatusBusy},
		{unix.EACCES, ErrPermission, StatusDenied},
		{unix.EPERM, ErrPermission, StatusDenied},
	}
	for _, c := range cases {
		err := openErrno(&os.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: c.errno})
		if !errors.Is(err, c.want) || !errors.Is(err, c.errno) || StatusOf(err) != c.status {
			t.Errorf("%v → %v (status %s), want %v / %s", c.errno, err, StatusOf(err), c.want, c.status)
		}
	}
	other := &os.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: unix.EMFILE}
	if err := openErrno(other); err != other || StatusOf(err) != StatusGone {
		t.Errorf("EMFILE → %v (%s)", err, StatusOf(err))
	}
	if StatusOf(nil) != StatusOK || StatusOf(fmt.Errorf("x: %w", ErrAmbiguous)) != StatusMissing {
		t.Error("StatusOf nil/ambiguous")
	}
	for k, s := range map[EventKind]string{EventPresent: "present", EventGone: "gone", EventReopened: "reopened", 9: "EventKind(9)"} {
		if k.String() != s {
			t.Errorf("%d.String() = %q", int(k), k.String())
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Op: "read", Port: "/dev/serial/by-id/usb-X", Dev: "/dev/ttyUSB0", Err: fmt.Errorf("%w: EOF", ErrGone)}
	if got, want := e.Error(), "serialio: read /dev/serial/by-id/usb-X (/dev/ttyUSB0): device gone: EOF"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	e = &Error{Op: "open", Port: "/dev/ttyS1", Dev: "/dev/ttyS1", Err: ErrBusy}
	if got, want := e.Error(), "serialio: open /dev/ttyS1: port busy"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if e.Timeout() {
		t.Error("busy is not a timeout")
	}
}
