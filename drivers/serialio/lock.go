package serialio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procLocks is the kernel's lock table; tests replace it.
var procLocks = "/proc/locks"

// openLock opens the device node a second time (O_RDWR|O_NOCTTY|O_NONBLOCK)
// and takes flock(LOCK_EX|LOCK_NB) on it. This happens before
// go.bug.st/serial opens the port, so a second owner is turned away before
// it touches the port's termios. The file stays open for the port's
// lifetime: it holds the lock, carries writes (see SerialPort.Write) and is
// watched for hangup.
func openLock(dev string) (*os.File, error) {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, openErrno(err)
	}
	var st unix.Stat_t
	var lockErr, statErr error
	rc, err := f.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			statErr = unix.Fstat(int(fd), &st)
			if statErr == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
				lockErr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			}
		})
	}
	switch {
	case err != nil:
	case statErr != nil:
		err = statErr
	case st.Mode&unix.S_IFMT != unix.S_IFCHR:
		err = fmt.Errorf("%w: not a character device", ErrNotSerial)
	case errors.Is(lockErr, unix.EWOULDBLOCK):
		err = fmt.Errorf("%w: flock held%s", ErrBusy, describeHolders(st))
	case lockErr != nil:
		err = fmt.Errorf("flock: %w", lockErr)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openErrno maps an open(2) failure of a device node to a sentinel.
func openErrno(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV), errors.Is(err, unix.EIO):
		return fmt.Errorf("%w: %w", ErrMissing, err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: held exclusively (TIOCEXCL) by another process: %w", ErrBusy, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

// describeHolders names the pids holding a flock on the inode st describes,
// from /proc/locks; "" when it cannot tell.
func describeHolders(st unix.Stat_t) string {
	text, err := os.ReadFile(procLocks)
	if err != nil {
		return ""
	}
	pids := parseLockHolders(text, unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), uint64(st.Ino))
	if len(pids) == 0 {
		return ""
	}
	self := os.Getpid()
	var b strings.Builder
	b.WriteString(" by pid")
	for i, pid := range pids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(pid))
		if pid == self {
			b.WriteString(" (this process)")
		}
	}
	return b.String()
}

// parseLockHolders returns the pids of FLOCK holders (not waiters) of the
// inode dev major:minor:ino in /proc/locks text. Lines look like
//
//	1: FLOCK  ADVISORY  WRITE 14728 00:1a:3 0 EOF
//	1: -> FLOCK  ADVISORY  WRITE 14729 00:1a:3 0 EOF   (a waiter)
//
// with the device numbers in hex and the inode in decimal. Lines it does
// not understand are skipped.
func parseLockHolders(text []byte, major, minor uint32, ino uint64) []int {
	var pids []int
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 256), 4096)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[1] != "FLOCK" {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil || pid <= 0 {
			continue
		}
		id := strings.Split(f[5], ":")
		if len(id) != 3 {
			continue
		}
		maj, err1 := strconv.ParseUint(id[0], 16, 32)
		mnr, err2 := strconv.ParseUint(id[1], 16, 32)
		in, err3 := strconv.ParseUint(id[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if uint32(maj) == major && uint32(mnr) == minor && in == ino {
			pids = append(pids, pid)
		}
	}
	return pids
}
