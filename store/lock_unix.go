//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// lockShared takes a shared flock on f (the lock bbolt's read-only mode
// takes), waiting at most timeout. It fails with ErrLocked while a writer
// holds the exclusive lock.
func lockShared(f *os.File, path string, timeout time.Duration) (unlock func(), err error) {
	const step = 20 * time.Millisecond
	for tries := int(timeout / step); ; tries-- {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
		}
		if err != syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("store: lock %s: %w", path, err)
		}
		if tries <= 0 {
			return nil, lockedError(path, berrors.ErrTimeout)
		}
		time.Sleep(step)
	}
}

// isLockTimeout reports whether err is bbolt's flock timeout.
func isLockTimeout(err error) bool { return errors.Is(err, berrors.ErrTimeout) }

// lockedError is the ErrLocked error for path.
func lockedError(path string, cause error) error {
	by := ""
	if pid := lockHolder(path); pid > 0 {
		by = fmt.Sprintf(" by pid %d", pid)
	}
	return fmt.Errorf("journal %s is in use by another process (pid lock held%s): %w (%w)", path, by, ErrLocked, cause)
}

// lockHolder returns the pid holding an exclusive flock on path according
// to /proc/locks (Linux), or 0 when it cannot tell.
func lockHolder(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, st.Ino)
	for _, line := range strings.Split(string(data), "\n") {
		// "1: FLOCK  ADVISORY  WRITE 1234 08:01:123456 0 EOF"; waiters have "->".
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "FLOCK" || f[3] != "WRITE" || f[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil {
			return pid
		}
	}
	return 0
}
