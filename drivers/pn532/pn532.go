package pn532

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// Command codes used by the driver (UM0701-02 §7, table of commands). The
// response code is always the command code + 1.
const (
	cmdGetFirmwareVersion  byte = 0x02 // §7.2.2
	cmdSAMConfiguration    byte = 0x14 // §7.2.10
	cmdInDataExchange      byte = 0x40 // §7.3.8
	cmdInListPassiveTarget byte = 0x4A // §7.3.5
	cmdInRelease           byte = 0x52 // §7.3.11
)

// InDataExchange status byte (§7.3.8): error code in bits 0-5, MI (more
// information: the response continues) in bit 6, NAD present in bit 7.
const (
	statusCodeMask byte = 0x3F
	statusMI       byte = 0x40
	statusNAD      byte = 0x80
)

const (
	// MaxAPDU is the largest command APDU Exchange sends: InDataExchange
	// carries at most 262 DataOut bytes (§7.3.8). Short EMV APDUs
	// (≤ 261 bytes) always fit; longer ones would need host-side MI
	// chaining, which this driver does not do.
	MaxAPDU = 262
	// MaxResponse caps a response assembled from MI-chained parts
	// (an extended-length R-APDU: 65536 data bytes + SW1 SW2).
	MaxResponse = 65538

	// maxChainParts bounds the InDataExchange continuations of one
	// Exchange, so a device that keeps MI set cannot loop forever.
	maxChainParts = 300
	// maxTargets is the MaxTg of InListPassiveTarget: asking for two lets
	// the driver see a second card in the field and refuse the tap.
	maxTargets byte = 2
	// brTy106A is BrTy 0x00: 106 kbps ISO/IEC 14443-3 type A (§7.3.5).
	brTy106A byte = 0x00
	// samModeNormal is SAMConfiguration mode 0x01: normal mode, the SAM is
	// not used (§7.2.10).
	samModeNormal byte = 0x01
)

// wakeUpPreamble wakes the PN532 from power-down / Low VBat on HSU: 0x55
// 0x55 and then zeros long enough for the oscillator to start (the same 16
// bytes libnfc's pn532_uart driver sends), after which SAMConfiguration
// must be the first command (AN10609 C106 appendix).
var wakeUpPreamble = []byte{0x55, 0x55, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}

// Defaults for Options fields left zero.
const (
	// DefaultAckTimeout is how long to wait for the ACK of a command frame
	// before resending it. The user manual says 15 ms (§6.2.3); USB-serial
	// adapters add latency (an FTDI's latency timer is 16 ms by default),
	// so the default is twice that.
	DefaultAckTimeout = 30 * time.Millisecond
	// DefaultRetries is how many times a command is resent after a missing
	// ACK, and how many NACKs are sent for a corrupt response.
	DefaultRetries = 3
	// DefaultCommandTimeout bounds the local commands (GetFirmwareVersion,
	// SAMConfiguration, InRelease).
	DefaultCommandTimeout = time.Second
	// DefaultPollTimeout bounds one InListPassiveTarget poll.
	DefaultPollTimeout = time.Second
	// DefaultExchangeTimeout bounds one Exchange, all chained parts
	// included. Cryptographic card commands (GENERATE AC) can take
	// seconds.
	DefaultExchangeTimeout = 5 * time.Second
	// DefaultReadSlice is the longest single blocking read, which bounds
	// how late a cancelled context is noticed.
	DefaultReadSlice = 10 * time.Millisecond
)

// Transport is the byte link to the PN532: a serial port at 115200 8N1 in
// production (drivers/serialio wraps go.bug.st/serial, whose Port has these
// methods), a pseudo-terminal to possim, or a fake in tests.
type Transport interface {
	// Read reads available bytes into p, waiting up to the read timeout.
	// When the timeout passes with nothing received it returns (0, nil)
	// (go.bug.st/serial's contract) or an error that wraps
	// os.ErrDeadlineExceeded or has a Timeout() method returning true
	// (drivers/serialio's ErrTimeout); the driver treats all three as "no
	// byte yet". Any other error is a transport failure.
	Read(p []byte) (int, error)
	// Write writes p; a short write is continued.
	Write(p []byte) (int, error)
	// SetReadTimeout sets how long Read waits for the first byte.
	SetReadTimeout(d time.Duration) error
	// Close releases the port and unblocks a pending Read.
	Close() error
}

// Options configure a Device. The zero value of every field selects its
// default.
type Options struct {
	// Logger receives debug traces (command names, lengths, status codes,
	// never payload bytes) and warnings (resends, NACKs, aborts,
	// garbage). Nil discards.
	Logger *slog.Logger
	// Clock measures the driver's own timeouts. Nil is the system clock.
	Clock clock.Clock
	// AckTimeout is the wait for an ACK before resending (default
	// DefaultAckTimeout).
	AckTimeout time.Duration
	// Retries is how many times a command is resent when its ACK is
	// missing, and how many NACKs ask for a corrupt response again
	// (default DefaultRetries; negative means none).
	Retries int
	// CommandTimeout bounds GetFirmwareVersion, SAMConfiguration and
	// InRelease (default DefaultCommandTimeout).
	CommandTimeout time.Duration
	// PollTimeout bounds one ListTarget poll (default DefaultPollTimeout).
	PollTimeout time.Duration
	// ExchangeTimeout bounds one Exchange (default DefaultExchangeTimeout).
	ExchangeTimeout time.Duration
	// ReadSlice is the longest single blocking Read (default
	// DefaultReadSlice).
	ReadSlice time.Duration
	// ResetPin, when set, hard-resets the PN532 (RSTPDN or power through a
	// GPIO) and returns once the chip has had time to boot. WakeUp calls it
	// once when the chip does not acknowledge, then tries again.
	ResetPin func(ctx context.Context) error
}

// FirmwareVersion is the answer to GetFirmwareVersion (§7.2.2).
type FirmwareVersion struct {
	// IC is the chip: 0x32 for a PN532.
	IC byte
	// Ver and Rev are the firmware version, 1 and 6 for V1.6.
	Ver, Rev byte
	// Support is the bit field of supported protocols: bit 0 ISO/IEC
	// 14443 type A, bit 1 type B, bit 2 ISO 18092.
	Support byte
}

// String formats the version as "PN532 v1.6".
func (fw FirmwareVersion) String() string {
	return fmt.Sprintf("PN5%02X v%d.%d", fw.IC, fw.Ver, fw.Rev)
}

// Target is a card activated by ListTarget: the 106 kbps type A target
// data of InListPassiveTarget (§7.3.5).
type Target struct {
	// Tg is the PN532's logical number of the target, used by
	// InDataExchange.
	Tg byte
	// SensRes is SENS_RES (ATQA), as sent by the PN532.
	SensRes [2]byte
	// SelRes is SEL_RES (SAK).
	SelRes byte
	// UID is NFCID1 (4, 7 or 10 bytes).
	UID []byte
	// ATS is the answer to select, starting with its length byte TL; empty
	// when the card is not ISO/IEC 14443-4 compliant.
	ATS []byte
}

// ISODEP reports whether SEL_RES announces ISO/IEC 14443-4 (bit 6), which
// EMV contactless needs.
func (t Target) ISODEP() bool { return t.SelRes&0x20 != 0 }

// Stats counts what happened on the link since New, for diagnostics and
// benchmarks.
type Stats struct {
	// TxBytes and RxBytes are bytes written to and read from the transport.
	TxBytes, RxBytes int64
	// Resends counts command frames sent again after a missing ACK or a
	// NACK from the device.
	Resends int64
	// NACKs counts NACK frames sent for corrupt responses.
	NACKs int64
	// Aborts counts ACK frames sent to abort a command.
	Aborts int64
	// Skipped counts garbage bytes dropped while looking for frames.
	Skipped int64
	// BadFrames counts frames rejected by the codec.
	BadFrames int64
}

type counters struct {
	tx, rx, resends, nacks, aborts, skipped, bad atomic.Int64
}

// Device is a PN532 on a Transport. Its methods are safe for concurrent use
// and run one at a time; Close may be called at any time and unblocks a
// pending read.
type Device struct {
	t    Transport
	log  *slog.Logger
	clk  clock.Clock
	opts Options

	closed atomic.Bool
	stats  counters

	mu          sync.Mutex // serialises commands; guards the fields below
	rx          []byte     // bytes read but not yet decoded
	scratch     []byte
	readTimeout time.Duration // last value given to SetReadTimeout
	target      *Target       // the activated card, nil if none
}

// New returns a Device on t, which must not be nil. It does not talk to
// the chip: call WakeUp first.
func New(t Transport, opts Options) *Device {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	switch {
	case opts.Retries == 0:
		opts.Retries = DefaultRetries
	case opts.Retries < 0:
		opts.Retries = 0
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = DefaultPollTimeout
	}
	if opts.ExchangeTimeout <= 0 {
		opts.ExchangeTimeout = DefaultExchangeTimeout
	}
	if opts.ReadSlice <= 0 {
		opts.ReadSlice = DefaultReadSlice
	}
	return &Device{
		t:       t,
		log:     opts.Logger,
		clk:     opts.Clock,
		opts:    opts,
		rx:      make([]byte, 0, 2*(MaxPacketData+extendedOverhead)),
		scratch: make([]byte, 512),
	}
}

// Stats returns the link counters.
func (d *Device) Stats() Stats {
	return Stats{
		TxBytes:   d.stats.tx.Load(),
		RxBytes:   d.stats.rx.Load(),
		Resends:   d.stats.resends.Load(),
		NACKs:     d.stats.nacks.Load(),
		Aborts:    d.stats.aborts.Load(),
		Skipped:   d.stats.skipped.Load(),
		BadFrames: d.stats.bad.Load(),
	}
}

// WakeUp brings the PN532 to a known state: it sends an ACK frame (abort of
// any command left running, e.g. by a crashed predecessor), the HSU wake-up
// preamble 55 55 00…, and SAMConfiguration in normal mode, which takes the
// chip out of Low VBat mode. SAMConfiguration is sent in its minimal
// one-parameter form, which clone boards accept too. When the chip does not
// acknowledge and Options.ResetPin is set, WakeUp resets it and tries once
// more. Any activated card is forgotten.
func (d *Device) WakeUp(ctx context.Context) error {
	if err := d.lock(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	err := d.wake(ctx)
	if err == nil || d.opts.ResetPin == nil || !errors.Is(err, ErrNoACK) {
		return err
	}
	d.log.Warn("pn532: no ACK on wake-up, resetting the chip", "err", err)
	if rerr := d.opts.ResetPin(ctx); rerr != nil {
		return fmt.Errorf("%w; hard reset failed too: %w", err, rerr)
	}
	if err := d.wake(ctx); err != nil {
		return fmt.Errorf("after hard reset: %w", err)
	}
	return nil
}

func (d *Device) wake(ctx context.Context) error {
	d.target = nil
	d.rx = d.rx[:0]
	if err := d.write(ackFrame); err != nil {
		return fmt.Errorf("pn532: wake-up: abort frame: %w", err)
	}
	if err := d.write(wakeUpPreamble); err != nil {
		return fmt.Errorf("pn532: wake-up: preamble: %w", err)
	}
	if err := d.samConfig(ctx); err != nil {
		return fmt.Errorf("pn532: wake-up: %w", err)
	}
	return nil
}

// SAMConfig sends SAMConfiguration with mode 0x01 (normal mode, no SAM),
// in the minimal form D4 14 01 (§7.2.10; nfcpy#158: clone boards reject the
// form with timeout and IRQ bytes).
func (d *Device) SAMConfig(ctx context.Context) error {
	if err := d.lock(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	return d.samConfig(ctx)
}

func (d *Device) samConfig(ctx context.Context) error {
	resp, err := d.command(ctx, cmdSAMConfiguration, []byte{samModeNormal}, d.deadline(d.opts.CommandTimeout))
	if err != nil {
		return err
	}
	if len(resp) != 0 {
		return fmt.Errorf("%w: SAMConfiguration answered %d data bytes, want 0", ErrUnexpected, len(resp))
	}
	return nil
}

// FirmwareVersion asks the chip for its version (GetFirmwareVersion). A
// PN532 answers IC 0x32; the driver does not insist, so that a PN533 or a
// clone reporting something else can still be diagnosed.
func (d *Device) FirmwareVersion(ctx context.Context) (FirmwareVersion, error) {
	if err := d.lock(); err != nil {
		return FirmwareVersion{}, err
	}
	defer d.mu.Unlock()
	resp, err := d.command(ctx, cmdGetFirmwareVersion, nil, d.deadline(d.opts.CommandTimeout))
	if err != nil {
		return FirmwareVersion{}, err
	}
	if len(resp) != 4 {
		return FirmwareVersion{}, fmt.Errorf("%w: GetFirmwareVersion answered %d data bytes, want 4",
			ErrUnexpected, len(resp))
	}
	return FirmwareVersion{IC: resp[0], Ver: resp[1], Rev: resp[2], Support: resp[3]}, nil
}

// ListTarget polls for one ISO/IEC 14443 type A card at 106 kbps
// (InListPassiveTarget, BrTy 0x00) and activates it. It asks for up to two
// targets (MaxTg 2): two cards in the field return ErrMultipleCards after
// both are released, because an EMV tap must involve exactly one card. No
// card before the poll ends returns ErrNoCard: either the chip reported no
// target, or the poll (Options.PollTimeout or the context's deadline,
// whichever is first) ran out and the command was aborted; in the latter
// case the error also matches ErrNoResponse and, for the context's
// deadline, context.DeadlineExceeded. A cancelled context returns its
// error.
func (d *Device) ListTarget(ctx context.Context) (Target, error) {
	if err := d.lock(); err != nil {
		return Target{}, err
	}
	defer d.mu.Unlock()
	d.target = nil
	resp, err := d.command(ctx, cmdInListPassiveTarget, []byte{maxTargets, brTy106A}, d.deadline(d.opts.PollTimeout))
	if err != nil {
		if errors.Is(err, ErrNoResponse) {
			return Target{}, fmt.Errorf("%w: %w", ErrNoCard, err)
		}
		return Target{}, err
	}
	n, t, err := parseListResponse(resp)
	if err != nil {
		return Target{}, err
	}
	switch n {
	case 0:
		return Target{}, ErrNoCard
	case 1:
		d.target = &t
		d.log.Debug("pn532: card activated", "tg", t.Tg, "sak", t.SelRes, "uid_len", len(t.UID), "ats_len", len(t.ATS))
		return t, nil
	}
	// Release both cards whatever happened to the caller's context, within
	// the driver's own command timeout.
	if err := d.release(context.WithoutCancel(ctx)); err != nil {
		d.log.Warn("pn532: releasing two targets failed", "err", err)
	}
	return Target{}, ErrMultipleCards
}

// Exchange sends one command APDU to the activated card (InDataExchange)
// and returns the response APDU, data and SW1 SW2. When the status byte
// has the MI bit set, the PN532 holds more of the response: Exchange sends
// InDataExchange again with the target number only and appends each part,
// until MI is clear. A non-zero status code returns a *StatusError (match
// it with ErrTimeout, ErrCardGone, ErrRF or ErrChip).
//
// Once the PN532 has acknowledged the command the APDU is never sent
// again: after a status error, a timeout or a damaged response the card
// may or may not have executed it, and only the caller can decide what
// that means (for GENERATE AC: an unknown outcome). Before the ACK, a
// missing ACK resends the frame (UM §6.2.3); if only the ACK was lost on
// the line, the card may see the APDU twice (harmless for SELECT, READ
// RECORD and GPO; for GENERATE AC the later answer is the one returned).
// The whole exchange, chained parts included, is bounded by
// Options.ExchangeTimeout and ctx.
func (d *Device) Exchange(ctx context.Context, apdu []byte) ([]byte, error) {
	switch {
	case len(apdu) == 0:
		return nil, fmt.Errorf("%w: apdu is empty", ErrInvalid)
	case len(apdu) > MaxAPDU:
		return nil, fmt.Errorf("%w: apdu of %d bytes, InDataExchange limit %d", ErrTooLong, len(apdu), MaxAPDU)
	}
	if err := d.lock(); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if d.target == nil {
		return nil, ErrNoTarget
	}
	deadline := d.deadline(d.opts.ExchangeTimeout)
	params := make([]byte, 0, 1+len(apdu))
	params = append(params, d.target.Tg)
	params = append(params, apdu...)
	var out []byte
	for part := 1; ; part++ {
		resp, err := d.command(ctx, cmdInDataExchange, params, deadline)
		if err != nil {
			if part > 1 {
				return nil, fmt.Errorf("pn532: chained response part %d: %w", part, err)
			}
			return nil, err
		}
		if len(resp) == 0 {
			return nil, fmt.Errorf("%w: InDataExchange answered no status byte", ErrUnexpected)
		}
		st := resp[0]
		if code := st & statusCodeMask; code != 0 {
			serr := &StatusError{Cmd: cmdInDataExchange, Code: code}
			d.log.Debug("pn532: InDataExchange failed", "status", st, "part", part)
			if part > 1 {
				return nil, fmt.Errorf("pn532: chained response part %d: %w", part, serr)
			}
			return nil, serr
		}
		if st&statusNAD != 0 {
			return nil, fmt.Errorf("%w: InDataExchange status 0x%02X has the NAD bit, which this driver never requests",
				ErrUnexpected, st)
		}
		if len(out)+len(resp)-1 > MaxResponse {
			return nil, fmt.Errorf("%w: chained response exceeds %d bytes at part %d", ErrTooLong, MaxResponse, part)
		}
		out = append(out, resp[1:]...)
		if st&statusMI == 0 {
			d.log.Debug("pn532: InDataExchange", "apdu_len", len(apdu), "resp_len", len(out), "parts", part)
			return out, nil
		}
		if part >= maxChainParts {
			return nil, fmt.Errorf("%w: MI still set after %d chained parts", ErrUnexpected, part)
		}
		params = params[:1] // Tg only: ask for the next part
	}
}

// Transceive sends one command APDU to the activated card and returns the
// response APDU (data followed by SW1 SW2). It is Exchange under the name
// of the core/emv Card interface, so a *Device can be the EMV kernel's
// card transport.
func (d *Device) Transceive(ctx context.Context, apdu []byte) ([]byte, error) {
	return d.Exchange(ctx, apdu)
}

// Release deactivates every target the PN532 holds (InRelease with Tg 0)
// and forgets the activated card, even when the command fails.
func (d *Device) Release(ctx context.Context) error {
	if err := d.lock(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	return d.release(ctx)
}

func (d *Device) release(ctx context.Context) error {
	d.target = nil
	resp, err := d.command(ctx, cmdInRelease, []byte{0x00}, d.deadline(d.opts.CommandTimeout))
	if err != nil {
		return err
	}
	if len(resp) != 1 {
		return fmt.Errorf("%w: InRelease answered %d data bytes, want 1", ErrUnexpected, len(resp))
	}
	if code := resp[0] & statusCodeMask; code != 0 {
		return &StatusError{Cmd: cmdInRelease, Code: code}
	}
	return nil
}

// Close closes the transport, which unblocks a pending read. It does not
// talk to the chip. Calling it again does nothing.
func (d *Device) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := d.t.Close(); err != nil {
		return fmt.Errorf("%w: close: %w", ErrTransport, err)
	}
	return nil
}

// lock takes the command mutex unless the device is closed.
func (d *Device) lock() error {
	if d.closed.Load() {
		return ErrClosed
	}
	d.mu.Lock()
	if d.closed.Load() {
		d.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// deadline is now + timeout on the injected clock.
func (d *Device) deadline(timeout time.Duration) time.Time {
	return d.clk.Now().Add(timeout)
}

// errExpired means the driver's own deadline (measured on its clock)
// passed; callers turn it into a resend, ErrNoACK or ErrNoResponse.
var errExpired = errors.New("pn532: own deadline passed")

// command sends cmd with params, waits for the ACK (resending on a missing
// ACK or a NACK), then for the response until deadline or ctx is done, and
// returns the response data after the response code. A command given up
// after the ACK is aborted with an ACK frame.
func (d *Device) command(ctx context.Context, cmd byte, params []byte, deadline time.Time) ([]byte, error) {
	frame, err := EncodeFrame(cmd, params)
	if err != nil {
		return nil, err
	}
	name := commandName(cmd)
	d.log.Debug("pn532: send", "cmd", name, "params_len", len(params))
	if err := d.sendAwaitACK(ctx, cmd, frame); err != nil {
		return nil, err
	}
	return d.awaitResponse(ctx, cmd, deadline)
}

// sendAwaitACK writes frame and waits for its ACK, resending up to
// Options.Retries times.
func (d *Device) sendAwaitACK(ctx context.Context, cmd byte, frame []byte) error {
	name := commandName(cmd)
	d.rx = d.rx[:0] // bytes left from an earlier command are stale
	attempts := 1 + d.opts.Retries
	reason := ""
	for i := 0; i < attempts; i++ {
		if err := ctx.Err(); err != nil {
			if i > 0 {
				d.abort()
			}
			return fmt.Errorf("pn532: %s: %w", name, err)
		}
		if i > 0 {
			d.stats.resends.Add(1)
			d.log.Warn("pn532: resending command", "cmd", name, "attempt", i+1, "reason", reason)
		}
		if err := d.write(frame); err != nil {
			return fmt.Errorf("pn532: %s: %w", name, err)
		}
		kind, err := d.awaitACK(ctx, cmd, d.clk.Now().Add(d.opts.AckTimeout))
		switch {
		case err != nil:
			if !errors.Is(err, ErrSyntax) {
				d.abort()
			}
			return err
		case kind == KindACK:
			return nil
		case kind == KindNACK:
			reason = "NACK from reader"
		default:
			reason = "no ACK within " + d.opts.AckTimeout.String()
		}
	}
	d.abort()
	return fmt.Errorf("%w: %s, %d attempts, %v each", ErrNoACK, name, attempts, d.opts.AckTimeout)
}

// awaitACK reads until an ACK or NACK arrives (returned as its kind) or the
// ACK deadline passes (kind 0, nil error). Information frames before the
// ACK are stale answers to an aborted command and are skipped; so are
// damaged frames.
func (d *Device) awaitACK(ctx context.Context, cmd byte, until time.Time) (FrameKind, error) {
	name := commandName(cmd)
	for {
		f, err := d.readFrame(ctx, until, false)
		switch {
		case errors.Is(err, errExpired):
			return 0, nil
		case errors.Is(err, ErrChecksum), errors.Is(err, ErrBadFrame):
			d.log.Warn("pn532: bad frame while waiting for ACK", "cmd", name, "err", err)
			continue
		case err != nil:
			return 0, fmt.Errorf("pn532: %s: waiting for ACK: %w", name, err)
		}
		switch f.Kind {
		case KindACK, KindNACK:
			return f.Kind, nil
		case KindError:
			return 0, fmt.Errorf("%w: %s", ErrSyntax, name)
		default:
			d.log.Warn("pn532: skipped stale response before ACK", "cmd", name, "code", f.Data[0])
		}
	}
}

// awaitResponse reads the response to cmd. A damaged frame is not answered
// at once: the rest of it may still be arriving and would look like more
// damaged frames. Once the line goes quiet for a read slice, one NACK asks
// the PN532 to send its response again (§6.2.1.4), up to Options.Retries
// times.
func (d *Device) awaitResponse(ctx context.Context, cmd byte, deadline time.Time) ([]byte, error) {
	name := commandName(cmd)
	nacks := 0
	var damaged error // last codec error since the last NACK
	for {
		f, err := d.readFrame(ctx, deadline, damaged != nil)
		switch {
		case err == nil:
		case errors.Is(err, errIdle):
			if nacks >= d.opts.Retries {
				d.abort()
				return nil, fmt.Errorf("pn532: %s response, %d NACKs sent: %w", name, nacks, damaged)
			}
			nacks++
			d.stats.nacks.Add(1)
			d.log.Warn("pn532: damaged response, sending NACK", "cmd", name, "nack", nacks, "err", damaged)
			damaged = nil
			d.rx = d.rx[:0] // the remains of the damaged frame
			if werr := d.write(nackFrame); werr != nil {
				return nil, fmt.Errorf("pn532: %s: NACK: %w", name, werr)
			}
			continue
		case errors.Is(err, ErrChecksum), errors.Is(err, ErrBadFrame):
			damaged = err
			continue
		case errors.Is(err, errExpired):
			d.abort()
			if damaged != nil {
				return nil, fmt.Errorf("%w: %s: driver timeout after a damaged frame: %w", ErrNoResponse, name, damaged)
			}
			return nil, fmt.Errorf("%w: %s: driver timeout", ErrNoResponse, name)
		case errors.Is(err, context.DeadlineExceeded):
			d.abort()
			return nil, fmt.Errorf("%w: %s: %w", ErrNoResponse, name, err)
		case errors.Is(err, context.Canceled):
			d.abort()
			return nil, fmt.Errorf("pn532: %s: %w", name, err)
		default:
			return nil, fmt.Errorf("pn532: %s: %w", name, err)
		}
		switch f.Kind {
		case KindACK, KindNACK:
			continue // a repeated ACK after a resend; nothing to answer
		case KindError:
			return nil, fmt.Errorf("%w: %s", ErrSyntax, name)
		}
		if f.Data[0] != cmd+1 {
			d.abort()
			return nil, fmt.Errorf("%w: %s: response code 0x%02X, want 0x%02X",
				ErrUnexpected, name, f.Data[0], cmd+1)
		}
		d.log.Debug("pn532: receive", "cmd", name, "data_len", len(f.Data)-1)
		return f.Data[1:], nil
	}
}

// errIdle is returned by readFrame, when asked to, after a read slice in
// which no byte arrived.
var errIdle = errors.New("pn532: line idle")

// readFrame decodes the next frame from the stream, reading more as
// needed, until until (on the driver's clock) or ctx is done. With
// stopIdle it returns errIdle as soon as one read brings nothing. A
// returned frame's Data is a copy.
func (d *Device) readFrame(ctx context.Context, until time.Time, stopIdle bool) (Frame, error) {
	for {
		f, n, err := DecodeFrame(d.rx)
		if f.Skipped > 0 {
			d.stats.skipped.Add(int64(f.Skipped))
			d.log.Warn("pn532: skipped garbage bytes", "count", f.Skipped)
		}
		if err == nil && f.Data != nil {
			f.Data = append([]byte(nil), f.Data...)
		}
		if n > 0 {
			d.rx = d.rx[:copy(d.rx, d.rx[n:])]
		}
		switch {
		case err == nil:
			return f, nil
		case !errors.Is(err, ErrNeedMore):
			d.stats.bad.Add(1)
			return Frame{}, err
		}
		got, err := d.fill(ctx, until)
		if err != nil {
			return Frame{}, err
		}
		if got == 0 && stopIdle {
			return Frame{}, errIdle
		}
	}
}

// fill reads once from the transport, for at most ReadSlice, and returns
// how many bytes arrived.
func (d *Device) fill(ctx context.Context, until time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	left := until.Sub(d.clk.Now())
	if left <= 0 {
		return 0, errExpired
	}
	slice := min(left, d.opts.ReadSlice)
	if slice != d.readTimeout {
		if err := d.t.SetReadTimeout(slice); err != nil {
			return 0, d.transportErr("set read timeout", err)
		}
		d.readTimeout = slice
	}
	n, err := d.t.Read(d.scratch)
	if err != nil && isTimeout(err) {
		err = nil
	}
	if n < 0 || n > len(d.scratch) {
		return 0, fmt.Errorf("%w: read returned %d bytes for a %d-byte buffer", ErrTransport, n, len(d.scratch))
	}
	if n > 0 {
		d.stats.rx.Add(int64(n))
		d.rx = append(d.rx, d.scratch[:n]...)
	}
	if err != nil {
		return n, d.transportErr("read", err)
	}
	return n, nil
}

// write writes all of p.
func (d *Device) write(p []byte) error {
	for len(p) > 0 {
		n, err := d.t.Write(p)
		if n < 0 || n > len(p) {
			return fmt.Errorf("%w: write returned %d for %d bytes", ErrTransport, n, len(p))
		}
		d.stats.tx.Add(int64(n))
		p = p[n:]
		if err != nil {
			return d.transportErr("write", err)
		}
		if n == 0 && len(p) > 0 {
			return fmt.Errorf("%w: write made no progress", ErrTransport)
		}
	}
	return nil
}

// abort sends an ACK frame, which makes the PN532 drop the command in
// progress (§6.2.1.3), and forgets buffered bytes. Errors are logged only:
// the caller is already returning one.
func (d *Device) abort() {
	d.stats.aborts.Add(1)
	d.rx = d.rx[:0]
	if err := d.write(ackFrame); err != nil {
		d.log.Warn("pn532: abort frame not sent", "err", err)
	}
}

// isTimeout reports whether a Read error only says that the read timeout
// passed: os.ErrDeadlineExceeded, or an error with a Timeout() bool method
// saying so (the net.Error convention, which drivers/serialio follows).
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func (d *Device) transportErr(op string, err error) error {
	if d.closed.Load() {
		return fmt.Errorf("%w: %s: %w", ErrClosed, op, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrTransport, op, err)
}

// parseListResponse decodes the data of an InListPassiveTarget response for
// BrTy 106 kbps type A (§7.3.5): NbTg, then per target Tg, SENS_RES (2),
// SEL_RES, NFCIDLength, NFCID1 and, for ISO/IEC 14443-4 cards, the ATS
// whose first byte TL counts the ATS itself. It returns the target count
// and, for one target, its data; two targets are counted, not parsed.
func parseListResponse(resp []byte) (int, Target, error) {
	if len(resp) == 0 {
		return 0, Target{}, fmt.Errorf("%w: InListPassiveTarget answered no NbTg", ErrUnexpected)
	}
	nb := int(resp[0])
	switch {
	case nb == 0 || nb == 2:
		return nb, Target{}, nil
	case nb > 2:
		return 0, Target{}, fmt.Errorf("%w: InListPassiveTarget NbTg %d, asked for at most %d",
			ErrUnexpected, nb, maxTargets)
	}
	b := resp[1:]
	if len(b) < 5 {
		return 0, Target{}, fmt.Errorf("%w: target data of %d bytes, need at least 5", ErrUnexpected, len(b))
	}
	t := Target{Tg: b[0], SensRes: [2]byte{b[1], b[2]}, SelRes: b[3]}
	if t.Tg == 0 {
		return 0, Target{}, fmt.Errorf("%w: target number 0 at offset 1", ErrUnexpected)
	}
	idLen := int(b[4])
	rest := b[5:]
	if idLen == 0 || idLen > len(rest) {
		return 0, Target{}, fmt.Errorf("%w: NFCIDLength %d at offset 5 with %d bytes left",
			ErrUnexpected, idLen, len(rest))
	}
	t.UID = append([]byte(nil), rest[:idLen]...)
	rest = rest[idLen:]
	if len(rest) > 0 {
		tl := int(rest[0])
		if tl == 0 || tl != len(rest) {
			return 0, Target{}, fmt.Errorf("%w: ATS length byte %d at offset %d with %d bytes left",
				ErrUnexpected, tl, 6+idLen, len(rest))
		}
		t.ATS = append([]byte(nil), rest...)
	}
	return 1, t, nil
}
