//go:build linux && (amd64 || arm64 || arm || 386 || riscv64)

package scanner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

func TestEvdevIoctlNumbers(t *testing.T) {
	// Values printed by a C program including <linux/input.h> on
	// linux/amd64 (asm-generic encoding, shared by arm and arm64).
	if evIOCGRAB != 0x40044590 {
		t.Errorf("EVIOCGRAB = %#x", evIOCGRAB)
	}
	if evIOCGLED4 != 0x80044519 {
		t.Errorf("EVIOCGLED(4) = %#x", evIOCGLED4)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// fifo makes a named pipe and opens its write end first (O_RDWR does not
// wait for a reader), so OpenHID's read-only open does not block.
func fifo(t *testing.T) (path string, w *os.File) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "event-fake")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return path, w
}

func TestOpenHIDMissing(t *testing.T) {
	_, err := OpenHID(filepath.Join(t.TempDir(), "event99"), Options{})
	if !errors.Is(err, ErrPort) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err %v", err)
	}
}

func TestOpenHIDGrabFailsOnNonEvdev(t *testing.T) {
	// EVIOCGRAB on something that is not an evdev node is a reported
	// error, not silently skipped, and the file is not leaked.
	path, _ := fifo(t)
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	ttyName := tty.Name()
	tty.Close()
	defer master.Close()
	for _, p := range []string{path, ttyName} {
		before := openFDs(t)
		h, err := OpenHID(p, Options{})
		if h != nil || !errors.Is(err, ErrGrab) {
			t.Fatalf("%s: OpenHID = %v, %v; want ErrGrab", p, h, err)
		}
		if errors.Is(err, unix.ENOSYS) {
			// qemu-user (the armv7/arm64 test runs) does not pass
			// ioctls it does not know through to the kernel.
			t.Logf("%s: %v (emulated syscalls)", p, err)
			continue
		}
		if !errors.Is(err, unix.ENOTTY) && !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s: cause %v, want ENOTTY or EINVAL", p, err)
		}
		if !strings.Contains(err.Error(), "not an evdev input device") || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q lacks the path or the hint", p, err)
		}
		if after := openFDs(t); after != before {
			t.Errorf("%s: %d open files before, %d after", p, before, after)
		}
	}
}

// events encodes evs in the native layout, as the kernel would hand
// them out.
func events(evs ...[]Event) []byte {
	var b []byte
	for _, e := range seq(evs...) {
		b = AppendEvent(b, e, NativeLayout())
	}
	return b
}

func scanCtx(t *testing.T, h *HID) (Code, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Scan(ctx)
}

func TestHIDThroughFIFO(t *testing.T) {
	// The evdev read path end to end on a real descriptor: a FIFO carries
	// synthetic input_event records (there is no evdev device in a
	// container), so the grab is skipped with NoGrab.
	path, w := fifo(t)
	h, err := OpenHID(path, Options{NoGrab: true, TailWindow: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Grabbed() || h.Path() != path {
		t.Errorf("Grabbed %v Path %q", h.Grabbed(), h.Path())
	}
	// A WeChat Pay code with Shift noise and a split record: written in
	// pieces that cut records in the middle.
	raw := events(tap(k1, k3, k4, k5, 7, k7, k8, k9, k0, k1, k2, k3, k4, k5, 7, k7, k8, k9),
		tap(KeyEnter),
		key(KeyLeftShift, KeyPress), tap(kA), key(KeyLeftShift, KeyRelease), tap(kB, KeyKPEnter))
	for len(raw) > 0 {
		n := min(len(raw), 37)
		if _, err := w.Write(raw[:n]); err != nil {
			t.Fatal(err)
		}
		raw = raw[n:]
	}
	c, err := scanCtx(t, h)
	if err != nil || c.Text() != "134567890123456789" || c.Kind != KindWeChatPay {
		t.Fatalf("first code %v, %v", c, err)
	}
	if c, err = scanCtx(t, h); err != nil || c.Text() != "Ab" {
		t.Fatalf("second code %v, %v", c, err)
	}
	// Half a code, then silence.
	if _, err := w.Write(events(tap(k1, k2))); err != nil {
		t.Fatal(err)
	}
	if _, err = scanCtx(t, h); !errors.Is(err, ErrIncomplete) || !errors.Is(err, ErrBadScan) {
		t.Fatalf("after silence: %v", err)
	}
	// The device goes away (last writer closes): ErrPort, sticky.
	w.Close()
	for range 2 {
		if _, err = scanCtx(t, h); !errors.Is(err, ErrPort) {
			t.Fatalf("after EOF: %v", err)
		}
	}
}

func TestHIDCloseWhileScanning(t *testing.T) {
	path, _ := fifo(t)
	h, err := OpenHID(path, Options{NoGrab: true, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Scan(context.Background())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Scan block in Read
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Scan = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Scan still blocked 10 s after Close")
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// uinput ioctls (<linux/uinput.h>, values printed by a C program on
// linux/amd64).
const (
	uiSetEvBit   = 0x40045564
	uiSetKeyBit  = 0x40045565
	uiDevSetup   = 0x405c5503 // struct uinput_setup, 92 bytes
	uiDevCreate  = 0x5501
	uiDevDestroy = 0x5502
	uiGetSysname = 0x8040552c // UI_GET_SYSNAME(64)
)

// TestHIDUinput drives a virtual keyboard through /dev/uinput, so the real
// evdev node, EVIOCGRAB (and EBUSY for a second grabber) and EVIOCGLED are
// exercised. Containers rarely have /dev/uinput; the test says so and
// skips.
func TestHIDUinput(t *testing.T) {
	ufd, err := unix.Open("/dev/uinput", unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("cannot open /dev/uinput (%v): this environment has no uinput (usual in containers), so the real EVIOCGRAB path is not exercised here", err)
	}
	defer unix.Close(ufd)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Skipf("uinput %s: %v", what, err)
		}
	}
	must("UI_SET_EVBIT", unix.IoctlSetInt(ufd, uiSetEvBit, EvKey))
	for code := 1; code < 128; code++ {
		must("UI_SET_KEYBIT", unix.IoctlSetInt(ufd, uiSetKeyBit, code))
	}
	var setup [92]byte
	setup[0] = 0x06 // BUS_VIRTUAL
	copy(setup[8:], "posagent test scanner")
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ufd), uiDevSetup, uintptr(unsafe.Pointer(&setup[0])))
	if errno != 0 {
		must("UI_DEV_SETUP", errno)
	}
	must("UI_DEV_CREATE", unix.IoctlSetInt(ufd, uiDevCreate, 0))
	defer unix.IoctlSetInt(ufd, uiDevDestroy, 0)
	var name [64]byte
	_, _, errno = unix.Syscall(unix.SYS_IOCTL, uintptr(ufd), uiGetSysname, uintptr(unsafe.Pointer(&name[0])))
	if errno != 0 {
		must("UI_GET_SYSNAME", errno)
	}
	sys := filepath.Join("/sys/devices/virtual/input", strings.TrimRight(string(name[:]), "\x00"))
	var node string
	for deadline := time.Now().Add(3 * time.Second); node == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ents, _ := os.ReadDir(sys)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "event") {
				if _, err := os.Stat("/dev/input/" + e.Name()); err == nil {
					node = "/dev/input/" + e.Name()
				}
			}
		}
	}
	if node == "" {
		t.Skipf("uinput device %s has no /dev/input/event* node (no devtmpfs/udev here)", sys)
	}
	h, err := OpenHID(node, Options{})
	if err != nil {
		t.Fatalf("OpenHID(%s): %v", node, err)
	}
	defer h.Close()
	if !h.Grabbed() {
		t.Error("not grabbed")
	}
	if _, err := OpenHID(node, Options{}); !errors.Is(err, ErrGrab) || !errors.Is(err, unix.EBUSY) {
		t.Errorf("second grab: %v, want ErrGrab with EBUSY", err)
	}
	if _, err := unix.Write(ufd, events(key(KeyLeftShift, KeyPress), tap(kA), key(KeyLeftShift, KeyRelease), tap(k1, KeyEnter))); err != nil {
		t.Fatal(err)
	}
	c, err := scanCtx(t, h)
	if err != nil || c.Text() != "A1" {
		t.Errorf("code %v, %v", c, err)
	}
	// After Close the grab is released: another reader can grab it.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h2, err := OpenHID(node, Options{})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	h2.Close()
	fmt.Fprintln(os.Stderr, "uinput test ran against", node)
}
