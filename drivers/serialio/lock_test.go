package serialio

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Lines in the format of proc(5) /proc/locks, including the one observed
// for a flock on /dev/pts/0 here ("FLOCK ADVISORY WRITE pid 00:1a:3").
const sampleLocks = `1: POSIX  ADVISORY  WRITE 812 00:17:1043 0 EOF
2: FLOCK  ADVISORY  WRITE 14728 00:1a:3 0 EOF
2: -> FLOCK  ADVISORY  WRITE 14730 00:1a:3 0 EOF
3: OFDLCK ADVISORY  READ  -1 00:1a:3 0 EOF
4: FLOCK  ADVISORY  WRITE 99 fd:01:3 0 EOF
5: FLOCK  ADVISORY  WRITE 100 00:1a:33 0 EOF
6: FLOCK  ADVISORY  WRITE 101 00:1a:3 0 EOF
garbage
7: FLOCK ADVISORY WRITE notapid 00:1a:3 0 EOF
8: FLOCK ADVISORY WRITE 102 00:1a 0 EOF
`

func TestParseLockHolders(t *testing.T) {
	got := parseLockHolders([]byte(sampleLocks), 0, 0x1a, 3)
	if want := []int{14728, 101}; !reflect.DeepEqual(got, want) {
		t.Fatalf("holders %v, want %v (waiters, POSIX/OFD locks and other inodes excluded)", got, want)
	}
	if got := parseLockHolders([]byte(sampleLocks), 0xfd, 1, 3); !reflect.DeepEqual(got, []int{99}) {
		t.Fatalf("holders on fd:01 = %v", got)
	}
	if got := parseLockHolders(nil, 0, 0x1a, 3); got != nil {
		t.Fatalf("empty table: %v", got)
	}
}

func TestBusyMessageFromFakeProcLocks(t *testing.T) {
	_, slave := newPTY(t)
	var st unix.Stat_t
	if err := unix.Stat(slave, &st); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "locks")
	line := "1: FLOCK  ADVISORY  WRITE 4242 " +
		hex2(unix.Major(uint64(st.Dev))) + ":" + hex2(unix.Minor(uint64(st.Dev))) + ":" + itoa(st.Ino) + " 0 EOF\n"
	os.WriteFile(fake, []byte(line), 0o644)
	old := procLocks
	procLocks = fake
	t.Cleanup(func() { procLocks = old })
	if got := describeHolders(st); got != " by pid 4242" {
		t.Fatalf("describeHolders = %q", got)
	}
	procLocks = filepath.Join(t.TempDir(), "missing")
	if got := describeHolders(st); got != "" {
		t.Fatalf("unreadable /proc/locks must give no detail, got %q", got)
	}
}

func hex2(v uint32) string {
	const digits = "0123456789abcdef"
	s := ""
	for v > 0 || len(s) < 2 {
		s = string(digits[v%16]) + s
		v /= 16
	}
	return s
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	s := ""
	for v > 0 {
		s = string(rune('0'+v%10)) + s
		v /= 10
	}
	return s
}

func FuzzParseLockHolders(f *testing.F) {
	f.Add([]byte(sampleLocks), uint32(0), uint32(0x1a), uint64(3))
	f.Add([]byte("1: FLOCK ADVISORY WRITE 1 ::\n"), uint32(0), uint32(0), uint64(0))
	f.Add([]byte(strings.Repeat("x", 5000)+"\n2: FLOCK A W 5 00:00:0"), uint32(0), uint32(0), uint64(0))
	f.Fuzz(func(t *testing.T, text []byte, major, minor uint32, ino uint64) {
		for _, pid := range parseLockHolders(text, major, minor, ino) {
			if pid <= 0 {
				t.Fatalf("pid %d", pid)
			}
		}
	})
}
