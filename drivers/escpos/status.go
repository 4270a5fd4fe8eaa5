package escpos

import (
	"fmt"
	"strings"
)

// Real-time status requests DLE EOT n (10 04 n), "Transmit real-time
// status". The printer answers each with one byte, even while offline.
const (
	StatusPrinter      = 1 // printer status
	StatusOfflineCause = 2 // offline cause status
	StatusErrorCause   = 3 // error cause status
	StatusPaperSensor  = 4 // (roll) paper sensor status
)

// StatusRequest returns DLE EOT n (10 04 n) for n = 1-4.
func StatusRequest(n int) ([]byte, error) {
	if n < StatusPrinter || n > StatusPaperSensor {
		return nil, fmt.Errorf("%w: DLE EOT n = %d (want 1-4)", ErrParam, n)
	}
	return []byte{DLE, EOT, byte(n)}, nil
}

// Fixed bits of every DLE EOT reply (n = 1-4): bit 0 off, bit 1 on,
// bit 4 on, bit 7 off.
const (
	statusFixedMask  = 0x93 // bits 7, 4, 1, 0
	statusFixedValue = 0x12 // bits 4 and 1 on
)

// CheckStatusByte reports whether b can be a DLE EOT reply: its fixed
// bits (0 off, 1 on, 4 on, 7 off) must hold. XON (0x11), XOFF (0x13) and
// most text fail this check.
func CheckStatusByte(b byte) error {
	if b&statusFixedMask != statusFixedValue {
		return fmt.Errorf("%w: %#02x (bits 0,7 must be off and bits 1,4 on)", ErrNotStatus, b)
	}
	return nil
}

// Status is the printer's state from the four DLE EOT replies. The field
// comments give the reply (n) and bit; Raw keeps the bytes.
type Status struct {
	// n = 1, printer status.
	DrawerPin3High  bool // bit 2: drawer kick-out connector pin 3 is high
	Online          bool // bit 3 off: online
	WaitingRecovery bool // bit 5: waiting for online recovery
	FeedButton      bool // bit 6: paper feed button is being pressed

	// n = 2, offline cause.
	CoverOpen       bool // bit 2: cover is open
	FeedingByButton bool // bit 3: paper is being fed by the feed button
	PaperEndStop    bool // bit 5: printing stopped because of a paper end
	ErrorOccurred   bool // bit 6: an error occurred

	// n = 3, error cause.
	// RecoverableError is bit 2, whose meaning is model-dependent
	// (undefined on the TM-T88III, "black mark detection error" on some
	// Citizen models). It is reported, never acted on.
	RecoverableError bool
	CutterError      bool // bit 3: autocutter error
	Unrecoverable    bool // bit 5: unrecoverable error
	AutoRecoverable  bool // bit 6: auto-recoverable error (e.g. head overheat)

	// n = 4, roll paper sensor.
	PaperNearEnd bool // bits 2-3: near-end sensor reports paper low
	// PaperOut is bits 5-6 (roll paper end sensor: no paper) or n = 2
	// bit 5 (printing stopped because of a paper end).
	PaperOut bool

	// Raw is the replies to DLE EOT 1, 2, 3 and 4.
	Raw [4]byte
}

// ParseStatus decodes the replies to DLE EOT 1, 2, 3 and 4, in that order
// (exactly 4 bytes). A byte whose fixed bits are wrong is rejected: it is
// not a status byte (late data, flow-control characters, noise).
func ParseStatus(replies []byte) (Status, error) {
	if len(replies) != 4 {
		return Status{}, fmt.Errorf("%w: status needs 4 bytes (DLE EOT 1-4), got %d", ErrNotStatus, len(replies))
	}
	for i, b := range replies {
		if err := CheckStatusByte(b); err != nil {
			return Status{}, fmt.Errorf("reply to DLE EOT %d (offset %d): %w", i+1, i, err)
		}
	}
	p, o, e, s := replies[0], replies[1], replies[2], replies[3]
	st := Status{
		DrawerPin3High:  p&0x04 != 0,
		Online:          p&0x08 == 0,
		WaitingRecovery: p&0x20 != 0,
		FeedButton:      p&0x40 != 0,

		CoverOpen:       o&0x04 != 0,
		FeedingByButton: o&0x08 != 0,
		PaperEndStop:    o&0x20 != 0,
		ErrorOccurred:   o&0x40 != 0,

		RecoverableError: e&0x04 != 0,
		CutterError:      e&0x08 != 0,
		Unrecoverable:    e&0x20 != 0,
		AutoRecoverable:  e&0x40 != 0,

		PaperNearEnd: s&0x0C != 0,
		PaperOut:     s&0x60 != 0 || o&0x20 != 0,
	}
	copy(st.Raw[:], replies)
	return st, nil
}

// Err returns the condition that stops printing, wrapping ErrPaperOut,
// ErrCoverOpen, ErrFault or ErrOffline (checked in that order), or nil
// when the printer can print. A near-end alone is not an error.
func (s Status) Err() error {
	switch {
	case s.PaperOut:
		return fmt.Errorf("%w (status %s)", ErrPaperOut, s)
	case s.CoverOpen:
		return fmt.Errorf("%w (status %s)", ErrCoverOpen, s)
	case s.CutterError || s.Unrecoverable || s.AutoRecoverable:
		return fmt.Errorf("%w (status %s)", ErrFault, s)
	case !s.Online:
		return fmt.Errorf("%w (status %s)", ErrOffline, s)
	}
	return nil
}

// String lists the conditions that are set, then the raw bytes, e.g.
// "offline paper-out [1e 32 12 72]".
func (s Status) String() string {
	var parts []string
	add := func(on bool, name string) {
		if on {
			parts = append(parts, name)
		}
	}
	add(!s.Online, "offline")
	add(s.WaitingRecovery, "waiting-recovery")
	add(s.FeedButton, "feed-button")
	add(s.CoverOpen, "cover-open")
	add(s.FeedingByButton, "feeding")
	add(s.PaperOut, "paper-out")
	add(s.PaperNearEnd, "paper-near-end")
	add(s.ErrorOccurred, "error")
	add(s.CutterError, "cutter-error")
	add(s.Unrecoverable, "unrecoverable-error")
	add(s.AutoRecoverable, "auto-recoverable-error")
	add(s.RecoverableError, "error-bit2")
	add(s.DrawerPin3High, "drawer-pin3-high")
	if len(parts) == 0 {
		parts = append(parts, "ok")
	}
	return fmt.Sprintf("%s [% x]", strings.Join(parts, " "), s.Raw[:])
}
