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
	cmdRFConfiguration     byte = 0x32 // §7.3.1
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
	// before resending it, for the idempotent commands that are resent.
	// The user manual says 15 ms (§6.2.3); USB-serial adapters add latency
	// (an FTDI's latency timer is 16 ms by default), so the default is
	// twice that. Commands that are never resent only log an ACK later
	// than this.
	DefaultAckTimeout = 30 * time.Millisecond
	// DefaultRetries is how many times an idempotent command is resent
	// after a missing ACK, and how many NACKs are sent for a corrupt
	// response.
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
	// DefaultSettleFactor gives the default Options.SettleTime: this many
	// AckTimeouts. Duplicate answers after a resend come one AckTimeout
	// apart, so two cover one of them with room for jitter.
	DefaultSettleFactor = 2

	// drainPeek is the read the stale-input drain makes before a command
	// when the line is settled: short, because nothing is expected.
	drainPeek = 2 * time.Millisecond
	// drainCapFactor bounds one drain to this many SettleTimes (and the
	// command's deadline), so a line that never goes quiet cannot hold a
	// command back for long.
	drainCapFactor = 4
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
	// AckTimeout is the wait for an ACK before an idempotent command
	// (GetFirmwareVersion, SAMConfiguration, InRelease) is resent
	// (default DefaultAckTimeout). InListPassiveTarget and InDataExchange
	// are never resent: past AckTimeout they keep waiting for a late ACK
	// or their response until their own deadline.
	AckTimeout time.Duration
	// Retries is how many times an idempotent command is resent when its
	// ACK is missing, and how many NACKs ask for a corrupt response again
	// (default DefaultRetries; negative means none).
	Retries int
	// SettleTime is how long the line must stay silent before the driver
	// takes it as free of stale bytes: after a resend (the duplicate ACK
	// and answer), and before the first command after an abort, a timeout
	// or any other failure (a late answer to the abandoned command)
	// (default DefaultSettleFactor × AckTimeout). Set it above the link's
	// worst delivery delay.
	SettleTime time.Duration
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
	// NACK from the device (idempotent commands only).
	Resends int64
	// LateACKs counts commands that are never resent whose ACK did not
	// come within AckTimeout: it came later, was lost (the response was
	// taken without it) or never came.
	LateACKs int64
	// Stale counts complete frames discarded as left over from another
	// exchange: duplicate ACKs and answers after a resend, late answers to
	// an aborted command, answers that arrived before the ACK of the
	// command in progress.
	Stale int64
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
	tx, rx, resends, lateACKs, stale, nacks, aborts, skipped, bad atomic.Int64
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
	// disturbed is when the line last stopped being accounted for (an
	// abort, a resend, a NACK, a failed command): bytes sent by the chip
	// before then may still arrive. Zero when the line is settled.
	disturbed time.Time
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
	if opts.SettleTime <= 0 {
		opts.SettleTime = DefaultSettleFactor * opts.AckTimeout
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
		LateACKs:  d.stats.lateACKs.Load(),
		Stale:     d.stats.stale.Load(),
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
	frame, err := EncodeFrame(cmdSAMConfiguration, []byte{samModeNormal})
	if err != nil {
		return err
	}
	deadline := d.deadline(d.opts.CommandTimeout)
	// Drain first, so that SAMConfiguration follows the wake-up bytes at
	// once.
	settled, err := d.drain(ctx, cmdSAMConfiguration, "before wake-up", deadline)
	if err != nil {
		return fmt.Errorf("pn532: wake-up: %w", err)
	}
	if err := d.write(ackFrame); err != nil {
		d.markDisturbed()
		return fmt.Errorf("pn532: wake-up: abort frame: %w", err)
	}
	if err := d.write(wakeUpPreamble); err != nil {
		d.markDisturbed()
		return fmt.Errorf("pn532: wake-up: preamble: %w", err)
	}
	resp, err := d.run(ctx, cmdSAMConfiguration, frame, deadline, settled)
	if err != nil {
		return fmt.Errorf("pn532: wake-up: %w", err)
	}
	return checkSAMResponse(resp)
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
	return checkSAMResponse(resp)
}

func checkSAMResponse(resp []byte) error {
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
// whichever is first) ran out; in the latter case the error also matches
// context.DeadlineExceeded when the context's deadline was the cause, and
// ErrNoResponse when the chip had acknowledged the poll, which was then
// aborted. A chip that acknowledged nothing returns ErrNoACK instead
// (InListPassiveTarget is not resent: a second poll would reset the
// targets of the first). A cancelled context returns its error.
func (d *Device) ListTarget(ctx context.Context) (Target, error) {
	if err := d.lock(); err != nil {
		return Target{}, err
	}
	defer d.mu.Unlock()
	d.target = nil
	resp, err := d.command(ctx, cmdInListPassiveTarget, []byte{maxTargets, brTy106A}, d.deadline(d.opts.PollTimeout))
	if err != nil {
		if errors.Is(err, ErrNoResponse) ||
			errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrNoACK) {
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
// The APDU is written once and never sent again, whatever happens: a
// missing ACK is not answered with a resend (the chip may have the
// command already, and would run it twice and answer both), the driver
// keeps waiting for a late ACK or the response instead, and a response
// that comes without an ACK is taken (the ACK was lost on the line)
// unless the line was disturbed before the command. When no answer is
// decoded (no ACK and no response by the deadline, ACK but no response,
// a response still damaged after the NACKs, a cancel, a link failure) the
// error matches ErrOutcomeUnknown: the card may or may not have executed
// the APDU, and only the caller can decide what that means (for GENERATE
// AC: an unknown outcome). A status error is an answer: the table in
// docs/pn532.md says which codes may follow an executed APDU. The whole
// exchange, chained parts included, is bounded by
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

// SetField switches the RF field off or on (RFConfiguration, CfgItem 01,
// §7.3.1). Off, every card in the field loses power, which ends the HALT
// state that a release (S(DESELECT)) leaves it in: switched off for a few
// milliseconds (ISO/IEC 14443-3 asks at least 5 ms) and on again, a card
// that stayed in the field answers the next ListTarget like a new tap.
// It forgets the activated card.
func (d *Device) SetField(ctx context.Context, on bool) error {
	if err := d.lock(); err != nil {
		return err
	}
	defer d.mu.Unlock()
	d.target = nil
	var bit byte
	if on {
		bit = 0x01
	}
	resp, err := d.command(ctx, cmdRFConfiguration, []byte{0x01, bit}, d.deadline(d.opts.CommandTimeout))
	if err != nil {
		return err
	}
	if len(resp) != 0 {
		return fmt.Errorf("%w: RFConfiguration answered %d data bytes, want 0", ErrUnexpected, len(resp))
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

// policy says how a command may be retried when its ACK is missing.
type policy struct {
	// resend: the command is idempotent (running it twice changes
	// nothing), so a missing ACK or a NACK from the chip resends it, after
	// an abort frame, and the duplicate ACK and answer that may follow are
	// drained before the command returns.
	resend bool
	// unknown: the command acts on the card; every failure after its frame
	// was written, other than an answer from the chip, wraps
	// ErrOutcomeUnknown.
	unknown bool
}

// policyOf returns the retry policy of cmd. Setting the RF field is
// idempotent, like the configuration commands. InListPassiveTarget is not
// idempotent (a second poll forgets the targets of the first and may find
// none, the card being active already), nor is InDataExchange (the card
// would run the APDU twice; a continuation sent twice would skip a part).
func policyOf(cmd byte) policy {
	switch cmd {
	case cmdGetFirmwareVersion, cmdSAMConfiguration, cmdInRelease, cmdRFConfiguration:
		return policy{resend: true}
	case cmdInDataExchange:
		return policy{unknown: true}
	}
	return policy{}
}

// command drains stale input, sends cmd with params and returns the
// response data after the response code, waiting until deadline or ctx
// is done. How a missing ACK is handled depends on the command's policy;
// a command given up after it was written is aborted with an ACK frame.
func (d *Device) command(ctx context.Context, cmd byte, params []byte, deadline time.Time) ([]byte, error) {
	frame, err := EncodeFrame(cmd, params)
	if err != nil {
		return nil, err
	}
	settled, err := d.drain(ctx, cmd, "before command", deadline)
	if err != nil {
		return nil, err
	}
	return d.run(ctx, cmd, frame, deadline, settled)
}

// run sends frame (command cmd) on a drained line and returns the
// response data. settled says that the drain before it found the line
// accounted for (nothing disturbed it, nothing stale arrived): only then
// may a response that arrives before its ACK be taken.
func (d *Device) run(ctx context.Context, cmd byte, frame []byte, deadline time.Time, settled bool) ([]byte, error) {
	d.log.Debug("pn532: send", "cmd", commandName(cmd), "frame_len", len(frame))
	p := policyOf(cmd)
	var resp []byte
	var err error
	if p.resend {
		resp, err = d.runResend(ctx, cmd, frame, deadline)
	} else {
		resp, err = d.runOnce(ctx, cmd, frame, deadline, settled)
		if err != nil && p.unknown && !errors.Is(err, ErrSyntax) {
			err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
	}
	if err != nil {
		d.markDisturbed()
		return nil, err
	}
	return resp, nil
}

// runResend runs an idempotent command: the frame is resent (after an
// abort frame, so that two commands are never outstanding) while its ACK
// is missing, and after a resend the duplicate ACKs and answers the chip
// may still send are drained before returning.
func (d *Device) runResend(ctx context.Context, cmd byte, frame []byte, deadline time.Time) ([]byte, error) {
	sends, err := d.sendAwaitACK(ctx, cmd, frame)
	if err != nil {
		return nil, err
	}
	resp, err := d.awaitResponse(ctx, cmd, deadline, true, false)
	if err != nil {
		return nil, err
	}
	if sends > 1 {
		// Every frame the chip received is acknowledged and answered: the
		// answer taken may be the first of several.
		d.markDisturbed()
		if _, err := d.drain(ctx, cmd, "after resend", deadline); err != nil {
			// The answer is good; the next command drains again.
			d.log.Warn("pn532: draining duplicates after a resend stopped", "cmd", commandName(cmd), "err", err)
		}
	}
	return resp, nil
}

// runOnce runs a command that is never resent: written once, then ACK
// and response are awaited until deadline, however late the ACK is.
func (d *Device) runOnce(ctx context.Context, cmd byte, frame []byte, deadline time.Time, settled bool) ([]byte, error) {
	if err := d.write(frame); err != nil {
		return nil, fmt.Errorf("pn532: %s: %w", commandName(cmd), err)
	}
	return d.awaitResponse(ctx, cmd, deadline, false, settled)
}

// sendAwaitACK writes frame and waits for its ACK, resending it up to
// Options.Retries times, each time after an abort frame. It returns how
// many times the frame was written.
func (d *Device) sendAwaitACK(ctx context.Context, cmd byte, frame []byte) (int, error) {
	name := commandName(cmd)
	attempts := 1 + d.opts.Retries
	reason := ""
	for i := 0; i < attempts; i++ {
		if err := ctx.Err(); err != nil {
			if i > 0 {
				d.abort()
			}
			return i, fmt.Errorf("pn532: %s: %w", name, err)
		}
		if i > 0 {
			d.stats.resends.Add(1)
			d.log.Warn("pn532: resending command", "cmd", name, "attempt", i+1, "reason", reason)
			// Abort first: if the chip has the command, it drops it, so
			// that the resent frame is the only one outstanding.
			d.stats.aborts.Add(1)
			if err := d.write(ackFrame); err != nil {
				return i, fmt.Errorf("pn532: %s: abort before resend: %w", name, err)
			}
		}
		if err := d.write(frame); err != nil {
			return i + 1, fmt.Errorf("pn532: %s: %w", name, err)
		}
		kind, err := d.awaitACK(ctx, cmd, d.clk.Now().Add(d.opts.AckTimeout))
		switch {
		case err != nil:
			if !errors.Is(err, ErrSyntax) {
				d.abort()
			}
			return i + 1, err
		case kind == KindACK:
			return i + 1, nil
		case kind == KindNACK:
			reason = "NACK from reader"
		default:
			reason = "no ACK within " + d.opts.AckTimeout.String()
		}
	}
	d.abort()
	return attempts, fmt.Errorf("%w: %s, %d attempts, %v each", ErrNoACK, name, attempts, d.opts.AckTimeout)
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
			d.stats.stale.Add(1)
			d.log.Warn("pn532: skipped stale response before ACK", "cmd", name, "code", f.Data[0])
		}
	}
}

// awaitResponse reads the response to cmd until deadline. acked says
// whether the ACK has been seen already (sendAwaitACK). When it has not
// (a command that is never resent), an ACK is awaited along with the
// response: a late one is logged, and a response with the right code that
// comes without one is taken when takeUnacked is set (the ACK was lost);
// otherwise, like frames with another code, it is skipped as stale. A
// NACK instead of the ACK ends the command: it is not resent.
//
// A damaged frame after the ACK is not answered at once: the rest of it
// may still be arriving and would look like more damaged frames. Once the
// line goes quiet for a read slice, one NACK asks the PN532 to send its
// response again (§6.2.1.4), up to Options.Retries times. Before the ACK
// no NACK is sent: the chip's last response could be an older command's.
func (d *Device) awaitResponse(ctx context.Context, cmd byte, deadline time.Time, acked, takeUnacked bool) ([]byte, error) {
	name := commandName(cmd)
	sent := d.clk.Now()
	ackDue := sent.Add(d.opts.AckTimeout)
	late := false // AckTimeout passed without an ACK
	nacks := 0
	var damaged error // last codec error since the last NACK
	for {
		until := deadline
		if !acked && !late && ackDue.Before(deadline) {
			until = ackDue
		}
		f, err := d.readFrame(ctx, until, acked && damaged != nil)
		switch {
		case err == nil:
		case errors.Is(err, errExpired) && until.Before(deadline):
			late = true
			d.stats.lateACKs.Add(1)
			d.log.Warn("pn532: no ACK in time; the command is not resent, waiting for its ACK or response",
				"cmd", name, "ack_timeout", d.opts.AckTimeout)
			continue
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
			if !acked {
				d.log.Warn("pn532: bad frame while waiting for ACK", "cmd", name, "err", err)
				continue
			}
			damaged = err
			continue
		case errors.Is(err, errExpired):
			d.abort()
			switch {
			case !acked:
				return nil, fmt.Errorf("%w: %s: no ACK and no response within %v; not resent",
					ErrNoACK, name, deadline.Sub(sent).Round(time.Millisecond))
			case damaged != nil:
				return nil, fmt.Errorf("%w: %s: driver timeout after a damaged frame: %w", ErrNoResponse, name, damaged)
			}
			return nil, fmt.Errorf("%w: %s: driver timeout", ErrNoResponse, name)
		case errors.Is(err, context.DeadlineExceeded):
			d.abort()
			if !acked {
				return nil, fmt.Errorf("%w: %s: no ACK and no response; not resent: %w", ErrNoACK, name, err)
			}
			return nil, fmt.Errorf("%w: %s: %w", ErrNoResponse, name, err)
		case errors.Is(err, context.Canceled):
			d.abort()
			return nil, fmt.Errorf("pn532: %s: %w", name, err)
		default:
			return nil, fmt.Errorf("pn532: %s: %w", name, err)
		}
		switch f.Kind {
		case KindACK:
			if acked {
				// A repeated ACK after a resend.
				d.stats.stale.Add(1)
				continue
			}
			acked = true
			if late {
				d.log.Warn("pn532: late ACK", "cmd", name, "after", d.clk.Now().Sub(sent))
			}
			continue
		case KindNACK:
			if acked {
				continue // nothing to answer
			}
			d.abort()
			return nil, fmt.Errorf("%w: %s: the reader answered NACK; the command is not resent", ErrNoACK, name)
		case KindError:
			return nil, fmt.Errorf("%w: %s", ErrSyntax, name)
		}
		if f.Data[0] != cmd+1 {
			if !acked {
				d.stats.stale.Add(1)
				d.log.Warn("pn532: skipped stale response before ACK", "cmd", name, "code", f.Data[0])
				continue
			}
			d.abort()
			return nil, fmt.Errorf("%w: %s: response code 0x%02X, want 0x%02X",
				ErrUnexpected, name, f.Data[0], cmd+1)
		}
		if !acked {
			if !takeUnacked {
				// After a disturbance an answer before the ACK may be the
				// late answer to the abandoned command.
				d.stats.stale.Add(1)
				d.log.Warn("pn532: skipped a response before ACK on a disturbed line", "cmd", name)
				continue
			}
			if !late {
				d.stats.lateACKs.Add(1)
			}
			d.log.Warn("pn532: response without ACK taken: the ACK was lost", "cmd", name)
		}
		if nacks > 0 {
			d.markDisturbed()
		}
		d.log.Debug("pn532: receive", "cmd", name, "data_len", len(f.Data)-1)
		return f.Data[1:], nil
	}
}

// drain reads and discards what the chip sent that no command waits for:
// duplicate ACKs and answers after a resend, a late answer to an aborted
// command. On a settled line it makes one short read (drainPeek); once
// the line has been disturbed, or as soon as anything arrives, it reads
// until the line has been silent for SettleTime, counted from the
// disturbance or from the last byte, whichever is later. It stops at
// drainCapFactor × SettleTime or deadline, whichever is first, and
// returns ctx's error or a transport failure. Complete frames are counted
// (Stats.Stale) and logged; a partial frame left at the end is dropped.
// settled reports that the line was settled and nothing arrived.
func (d *Device) drain(ctx context.Context, cmd byte, phase string, deadline time.Time) (settled bool, err error) {
	name := commandName(cmd)
	start := d.clk.Now()
	settle := d.opts.SettleTime
	quietUntil := start
	if !d.disturbed.IsZero() {
		quietUntil = d.disturbed.Add(settle)
	}
	wasSettled := d.disturbed.IsZero()
	stop := start.Add(drainCapFactor * settle)
	if deadline.Before(stop) {
		stop = deadline
	}
	frames, acks, same, bad, skipped := 0, 0, 0, 0, 0
	capped := false
	for {
		for {
			f, n, err := DecodeFrame(d.rx)
			skipped += f.Skipped
			if n > 0 {
				if err == nil && f.Kind == KindInfo && f.Data[0] == cmd+1 {
					same++
				}
				d.rx = d.rx[:copy(d.rx, d.rx[n:])]
			}
			if errors.Is(err, ErrNeedMore) {
				break
			}
			if err != nil {
				bad++
				continue
			}
			frames++
			if f.Kind == KindACK {
				acks++
			}
		}
		now := d.clk.Now()
		if !now.Before(stop) {
			capped = true
			break
		}
		end := quietUntil
		if !now.Before(quietUntil) {
			end = now.Add(drainPeek)
		}
		if end.After(stop) {
			end = stop
		}
		got, err := d.fill(ctx, end)
		switch {
		case errors.Is(err, errExpired):
			continue
		case err != nil:
			d.stats.skipped.Add(int64(skipped))
			d.stats.bad.Add(int64(bad))
			d.stats.stale.Add(int64(frames))
			return false, fmt.Errorf("pn532: %s: draining stale input: %w", name, err)
		}
		if got > 0 {
			if q := d.clk.Now().Add(settle); q.After(quietUntil) {
				quietUntil = q
			}
			continue
		}
		if !now.Before(quietUntil) {
			break // the peek read after the quiet period brought nothing
		}
	}
	partial := 0 // non-zero bytes of an unfinished frame; 00 is padding
	for _, b := range d.rx {
		if b != 0x00 {
			partial++
		}
	}
	d.rx = d.rx[:0]
	d.stats.skipped.Add(int64(skipped + partial))
	d.stats.bad.Add(int64(bad))
	d.stats.stale.Add(int64(frames))
	if frames > 0 || bad > 0 || skipped+partial > 0 {
		d.log.Warn("pn532: discarded stale input", "cmd", name, "phase", phase, "frames", frames,
			"acks", acks, "same_cmd_answers", same, "bad_frames", bad, "bytes", skipped+partial)
	}
	if capped && d.clk.Now().Before(quietUntil) {
		d.log.Warn("pn532: drain stopped before the line settled; sending anyway", "cmd", name, "phase", phase)
		d.markDisturbed()
		return false, nil
	}
	d.disturbed = time.Time{}
	return wasSettled && frames+bad+skipped+partial == 0, nil
}

// markDisturbed records that bytes the driver does not account for may
// still arrive, so the next drain waits for the line to settle.
func (d *Device) markDisturbed() {
	d.disturbed = d.clk.Now()
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
// progress (§6.2.1.3), forgets buffered bytes and marks the line
// disturbed: an answer the chip sent before the abort reached it may still
// arrive. Errors are logged only: the caller is already returning one.
func (d *Device) abort() {
	d.stats.aborts.Add(1)
	d.rx = d.rx[:0]
	d.markDisturbed()
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
