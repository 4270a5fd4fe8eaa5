//go:build !(linux && (amd64 || arm64 || arm || 386 || riscv64))

package scanner

import (
	"errors"
	"fmt"
)

// OpenHID is only implemented on Linux with the asm-generic ioctl
// encoding (amd64, arm64, arm, 386, riscv64); elsewhere it returns an
// error wrapping errors.ErrUnsupported.
func OpenHID(path string, o Options) (*HID, error) {
	return nil, fmt.Errorf("scanner: open %s: evdev scanners need Linux on amd64, arm64, arm, 386 or riscv64: %w", path, errors.ErrUnsupported)
}
