//go:build failpoints

package store

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// processFailpoint, in a binary built with -tags failpoints, kills the
// process with SIGKILL inside a chosen journal write, before its bbolt
// commit: POSAGENT_FAILPOINT="op:step:n" kills at the n-th time the write
// named op reaches step (for example "transition many:after-index:1", the
// forwarder's group commit of acknowledgements). System tests use it to
// put a crash at an exact point of a real agent process; the device binary
// is never built with the tag.
func processFailpoint() func(op, step string) error {
	spec := os.Getenv("POSAGENT_FAILPOINT")
	if spec == "" {
		return nil
	}
	i := strings.LastIndexByte(spec, ':')
	n, err := strconv.Atoi(spec[i+1:])
	if i < 0 || err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "POSAGENT_FAILPOINT %q: want op:step:n with n >= 1\n", spec)
		os.Exit(2)
	}
	where := spec[:i]
	var hits atomic.Int64
	return func(op, step string) error {
		if op+":"+step == where && hits.Add(1) == int64(n) {
			fmt.Fprintf(os.Stderr, "failpoint %s: SIGKILL\n", spec)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
		return nil
	}
}
