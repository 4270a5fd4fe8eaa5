package pn532

import (
	"errors"
	"fmt"
)

// Frame identifiers and limits (UM0701-02 §6.2.1).
const (
	// TFIHost is the frame identifier of host → PN532 frames.
	TFIHost byte = 0xD4
	// TFIDevice is the frame identifier of PN532 → host frames.
	TFIDevice byte = 0xD5
	// TFIError is the identifier of the application-level error frame
	// (§6.2.1.5).
	TFIError byte = 0x7F

	// MaxNormalLen is the largest LEN of a normal information frame: TFI
	// plus packet data (§6.2.1.1).
	MaxNormalLen = 255
	// MaxPacketData is the largest packet data (command or response code
	// plus parameters) the PN532 firmware handles, carried in an extended
	// information frame (§6.2.1.2: 264 bytes, 265 with the TFI).
	MaxPacketData = 264
	// MaxParams is the largest parameter block EncodeFrame accepts: the
	// packet data less the command code.
	MaxParams = MaxPacketData - 1

	// frameOverhead is preamble, start code, LEN, LCS, DCS and postamble
	// around TFI+data in a normal frame; extended frames add three bytes
	// (FF FF marker replaces LEN LCS, plus LENM LENL LCS).
	frameOverhead    = 7
	extendedOverhead = 10
)

// Fixed frames. Go has no constant slices: treat them as read-only (the
// driver itself writes private copies).
var (
	// ACK is the acknowledge frame (§6.2.1.3). The PN532 sends it when it
	// has received a command frame; the host sends it to abort the command
	// in progress.
	ACK = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	// NACK is the not-acknowledge frame (§6.2.1.4). The host sends it to
	// ask the PN532 to send its last response frame again.
	NACK = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	// ErrorFrame is the syntax error frame (§6.2.1.5) the PN532 sends when
	// it detected an error at the application level (an unknown command, a
	// bad parameter count).
	ErrorFrame = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}

	ackFrame  = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nackFrame = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
)

// Codec errors. DecodeFrame and DecodeHostFrame wrap one of them.
var (
	// ErrNeedMore means the buffer holds no complete frame yet: read more
	// bytes, append them and decode again.
	ErrNeedMore = errors.New("pn532: incomplete frame, need more bytes")
	// ErrChecksum means a length (LCS) or data (DCS) checksum did not
	// match; the consumed count says how many bytes to drop.
	ErrChecksum = errors.New("pn532: frame checksum mismatch")
	// ErrBadFrame means the bytes after a start code are not a valid frame
	// (bad postamble, wrong TFI, impossible length).
	ErrBadFrame = errors.New("pn532: malformed frame")
	// ErrTooLong means a frame would exceed the PN532's limits.
	ErrTooLong = errors.New("pn532: frame too long")
)

// FrameKind tells the four frame types apart.
type FrameKind uint8

// Frame kinds (§6.2.1).
const (
	// KindInfo is a normal or extended information frame.
	KindInfo FrameKind = iota + 1
	// KindACK is the ACK frame.
	KindACK
	// KindNACK is the NACK frame.
	KindNACK
	// KindError is the syntax error frame (TFI 7F).
	KindError
)

// String returns the kind's name.
func (k FrameKind) String() string {
	switch k {
	case KindInfo:
		return "info"
	case KindACK:
		return "ACK"
	case KindNACK:
		return "NACK"
	case KindError:
		return "error"
	}
	return fmt.Sprintf("FrameKind(%d)", uint8(k))
}

// Frame is one decoded frame.
type Frame struct {
	// Kind is the frame type.
	Kind FrameKind
	// Extended is true for an extended information frame (LEN LCS = FF FF).
	Extended bool
	// TFI is the frame identifier of an information or error frame.
	TFI byte
	// Data is the packet data of an information frame: the command or
	// response code followed by its parameters. It aliases the decoded
	// buffer; copy it before the buffer is reused.
	Data []byte
	// Skipped counts bytes other than 00 that were dropped before the
	// start code by this call: line noise, wake-up bytes, remains of a
	// broken frame. 00 bytes are preamble/postamble padding (§6.2.1.6) and
	// are not counted.
	Skipped int
}

// EncodeFrame builds a host → PN532 command frame: TFI D4, the command code
// cmd and params. It uses a normal information frame when TFI+data fit in
// LEN (≤ 255 bytes) and an extended frame (00 00 FF FF FF LENM LENL LCS …)
// above that, up to MaxParams bytes of parameters.
func EncodeFrame(cmd byte, params []byte) ([]byte, error) {
	if len(params) > MaxParams {
		return nil, fmt.Errorf("%w: %d parameter bytes for command 0x%02X, limit %d",
			ErrTooLong, len(params), cmd, MaxParams)
	}
	return appendFrame(make([]byte, 0, frameLen(1+len(params))), TFIHost, cmd, params), nil
}

// EncodeResponse builds a PN532 → host information frame (TFI D5) with the
// response code code and data. Emulators (possim) and tests use it; the
// PN532 itself chooses the frame type by length, and so does this.
func EncodeResponse(code byte, data []byte) ([]byte, error) {
	if len(data) > MaxParams {
		return nil, fmt.Errorf("%w: %d data bytes for response 0x%02X, limit %d",
			ErrTooLong, len(data), code, MaxParams)
	}
	return appendFrame(make([]byte, 0, frameLen(1+len(data))), TFIDevice, code, data), nil
}

// frameLen is the size on the wire of a frame carrying n packet data bytes.
func frameLen(n int) int {
	if n+1 > MaxNormalLen {
		return n + 1 + extendedOverhead
	}
	return n + 1 + frameOverhead
}

// appendFrame appends an information frame with identifier tfi, code and
// params to dst.
func appendFrame(dst []byte, tfi, code byte, params []byte) []byte {
	n := 2 + len(params) // TFI + code + params
	dst = append(dst, 0x00, 0x00, 0xFF)
	if n > MaxNormalLen {
		m, l := byte(n>>8), byte(n)
		dst = append(dst, 0xFF, 0xFF, m, l, -(m + l))
	} else {
		dst = append(dst, byte(n), -byte(n))
	}
	sum := tfi + code
	dst = append(dst, tfi, code)
	for _, b := range params {
		sum += b
	}
	dst = append(dst, params...)
	return append(dst, -sum, 0x00)
}

// DecodeFrame decodes the first PN532 → host frame in buf, a stream of
// bytes read from the device. It skips anything before the first 00 FF
// start code, then recognises an ACK, a NACK, the error frame, or a normal
// or extended information frame with TFI D5, checking LCS, DCS and the
// postamble.
//
// consumed is how many bytes of buf the caller must drop, on success and
// on error alike. ErrNeedMore means no complete frame yet (consumed then
// covers only garbage before a possible start code); ErrChecksum and
// ErrBadFrame mean the frame at the start code is bad and consumed skips
// past it: past the whole frame when both checksums held (wrong TFI, bad
// postamble), else past the start code only, so that a frame following a
// damaged one is found on the rescan. Every error other than ErrNeedMore consumes at
// least one byte, so a decode loop always makes progress. Frame.Data
// aliases buf.
func DecodeFrame(buf []byte) (f Frame, consumed int, err error) {
	return decode(buf, TFIDevice)
}

// DecodeHostFrame is DecodeFrame for the other direction: it expects
// information frames with TFI D4 (host → PN532). Emulators (possim) and
// tests use it to read what the driver sends.
func DecodeHostFrame(buf []byte) (f Frame, consumed int, err error) {
	return decode(buf, TFIHost)
}

func decode(buf []byte, wantTFI byte) (Frame, int, error) {
	var f Frame
	start := -1
	for i := 0; i+1 < len(buf); i++ {
		if buf[i] == 0x00 && buf[i+1] == 0xFF {
			start = i
			break
		}
		if buf[i] != 0x00 {
			f.Skipped++
		}
	}
	if start < 0 {
		// No start code. Keep a trailing 00: it may be the first half of
		// one.
		keep := 0
		if len(buf) > 0 && buf[len(buf)-1] == 0x00 {
			keep = 1
		}
		if keep == 0 && len(buf) > 0 && buf[len(buf)-1] != 0x00 {
			f.Skipped++ // the loop above stops one short of the end
		}
		return f, len(buf) - keep, ErrNeedMore
	}
	p := start + 2 // first byte after 00 FF
	if len(buf) < p+2 {
		return f, start, ErrNeedMore
	}
	ln, lcs := buf[p], buf[p+1]
	switch {
	case ln == 0x00 && lcs == 0xFF:
		return shortFrame(buf, f, start, p+2, KindACK)
	case ln == 0xFF && lcs == 0x00:
		return shortFrame(buf, f, start, p+2, KindNACK)
	}

	var n, body int
	if ln == 0xFF && lcs == 0xFF {
		f.Extended = true
		if len(buf) < p+5 {
			return f, start, ErrNeedMore
		}
		m, l, c := buf[p+2], buf[p+3], buf[p+4]
		if m+l+c != 0 {
			return f, p, fmt.Errorf("%w: extended LCS 0x%02X for length %02X %02X at offset %d",
				ErrChecksum, c, m, l, p+4)
		}
		n = int(m)<<8 | int(l)
		body = p + 5
		if n > MaxPacketData+1 {
			return f, p, fmt.Errorf("%w: extended length %d at offset %d, limit %d",
				ErrBadFrame, n, p+2, MaxPacketData+1)
		}
	} else {
		if ln+lcs != 0 {
			return f, p, fmt.Errorf("%w: LCS 0x%02X for LEN 0x%02X at offset %d",
				ErrChecksum, lcs, ln, p+1)
		}
		n = int(ln)
		body = p + 2
	}
	if n == 0 {
		return f, p, fmt.Errorf("%w: zero length information frame at offset %d", ErrBadFrame, start)
	}
	end := body + n + 2 // DCS and postamble
	if len(buf) < end {
		return f, start, ErrNeedMore
	}
	var sum byte
	for _, b := range buf[body : body+n+1] { // TFI..PDn and DCS
		sum += b
	}
	if sum != 0 {
		// The length may be what is corrupt (a byte lost on the line):
		// skip only the start code and rescan, so the next frame is not
		// swallowed with this one.
		return f, p, fmt.Errorf("%w: DCS 0x%02X of %d-byte frame at offset %d",
			ErrChecksum, buf[body+n], n, start)
	}
	if buf[end-1] != 0x00 {
		return f, end, fmt.Errorf("%w: postamble 0x%02X at offset %d, want 00",
			ErrBadFrame, buf[end-1], end-1)
	}
	f.TFI = buf[body]
	switch {
	case f.TFI == TFIError && n == 1 && !f.Extended:
		f.Kind = KindError
		return f, end, nil
	case f.TFI != wantTFI:
		return f, end, fmt.Errorf("%w: TFI 0x%02X at offset %d, want 0x%02X",
			ErrBadFrame, f.TFI, body, wantTFI)
	case n < 2:
		return f, end, fmt.Errorf("%w: information frame without a command code at offset %d",
			ErrBadFrame, start)
	}
	f.Kind = KindInfo
	f.Data = buf[body+1 : body+n]
	return f, end, nil
}

// shortFrame finishes an ACK or NACK whose postamble is at buf[post].
func shortFrame(buf []byte, f Frame, start, post int, kind FrameKind) (Frame, int, error) {
	if len(buf) <= post {
		return f, start, ErrNeedMore
	}
	if buf[post] != 0x00 {
		return f, start + 2, fmt.Errorf("%w: %v postamble 0x%02X at offset %d, want 00",
			ErrBadFrame, kind, buf[post], post)
	}
	f.Kind = kind
	return f, post + 1, nil
}
