package iso8583

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Frame sizes of the CUP terminal framing.
const (
	// LengthPrefixSize is the 2-byte big-endian length before each frame.
	LengthPrefixSize = 2
	// TPDUSize is the Transport Protocol Data Unit: ID (0x60) + 2-byte
	// destination address + 2-byte source address.
	TPDUSize = 5
	// HeaderSize is the CUP message header (application type, software
	// version, terminal status / processing request).
	HeaderSize = 6
	// FramePrefixSize is everything before the MTI: length + TPDU + header.
	FramePrefixSize = LengthPrefixSize + TPDUSize + HeaderSize
	// MaxFrameLength is the largest length a 2-byte prefix can state.
	MaxFrameLength = 0xFFFF
	// MACSize is the size of the MAC field (64 or 128).
	MACSize = 8
)

// Frame is one message on the acquirer link:
//
//	[2-byte big-endian length][5-byte TPDU][6-byte header][ISO 8583 body]
//
// The length counts TPDU + header + body. Body starts at the MTI.
type Frame struct {
	TPDU   [TPDUSize]byte
	Header [HeaderSize]byte
	Body   []byte
}

// String shows TPDU and header in hex and the body length; never the body.
func (f Frame) String() string {
	return fmt.Sprintf("TPDU %X header %X body %d bytes", f.TPDU[:], f.Header[:], len(f.Body))
}

// Reply returns a frame for the answer to f: TPDU addresses swapped, same
// header, the given body.
func (f Frame) Reply(body []byte) Frame {
	return Frame{TPDU: SwapTPDU(f.TPDU), Header: f.Header, Body: body}
}

// SwapTPDU swaps the destination (bytes 1-2) and source (bytes 3-4)
// addresses of a TPDU, keeping the ID byte, as jPOS NACChannel does for
// replies (tpdu-swap).
func SwapTPDU(t [TPDUSize]byte) [TPDUSize]byte {
	return [TPDUSize]byte{t[0], t[3], t[4], t[1], t[2]}
}

// ParseTPDU parses a TPDU written as 10 hex digits, e.g. "6000030000", for
// configuration files.
func ParseTPDU(s string) ([TPDUSize]byte, error) {
	var t [TPDUSize]byte
	err := parseHexInto(t[:], s, "TPDU")
	return t, err
}

// ParseHeader parses a message header written as 12 hex digits, e.g.
// "613100311108", for configuration files.
func ParseHeader(s string) ([HeaderSize]byte, error) {
	var h [HeaderSize]byte
	err := parseHexInto(h[:], s, "header")
	return h, err
}

func parseHexInto(dst []byte, s, what string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("iso8583: %s %q: want %d hex digits, got %d", what, s, 2*len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("iso8583: %s %q: %w", what, s, err)
	}
	return nil
}

// AppendFrame appends the wire form of f to dst.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	n := TPDUSize + HeaderSize + len(f.Body)
	if n > MaxFrameLength {
		return dst, fmt.Errorf("%w: length %d exceeds the 2-byte limit %d", ErrFrameTooLong, n, MaxFrameLength)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	dst = append(dst, f.TPDU[:]...)
	dst = append(dst, f.Header[:]...)
	return append(dst, f.Body...), nil
}

// WriteFrame writes f to w in one Write call. The caller serialises writers
// and sets the connection's write deadline.
func WriteFrame(w io.Writer, f Frame) error {
	b, err := AppendFrame(make([]byte, 0, FramePrefixSize+len(f.Body)), f)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("iso8583: write frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame from r. max limits the length prefix (bytes
// after it); max <= 0 means the protocol limit 65535. The caller sets the
// connection's read deadline.
//
// It returns io.EOF, unwrapped, when r ends cleanly before the first byte
// of a frame; ErrTruncated when r ends inside one; ErrFrameTooShort when the
// length cannot hold TPDU + header; ErrFrameTooLong when the length exceeds
// max (the body is not consumed: close the link).
func ReadFrame(r io.Reader, max int) (Frame, error) {
	if max <= 0 || max > MaxFrameLength {
		max = MaxFrameLength
	}
	var f Frame
	var lb [LengthPrefixSize]byte
	if n, err := io.ReadFull(r, lb[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return f, io.EOF
		}
		return f, readErr(0, err)
	}
	n := int(binary.BigEndian.Uint16(lb[:]))
	if n > max {
		return f, fmt.Errorf("%w: length %d exceeds limit %d", ErrFrameTooLong, n, max)
	}
	if n < TPDUSize+HeaderSize {
		return f, fmt.Errorf("%w: length %d, need at least %d (TPDU + header)", ErrFrameTooShort, n, TPDUSize+HeaderSize)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return f, readErr(LengthPrefixSize, err)
	}
	copy(f.TPDU[:], buf[:TPDUSize])
	copy(f.Header[:], buf[TPDUSize:TPDUSize+HeaderSize])
	f.Body = buf[TPDUSize+HeaderSize : n : n]
	return f, nil
}

func readErr(at int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("iso8583: frame at offset %d: %w (%w)", at, ErrTruncated, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("iso8583: read frame: %w", err)
}

// ParseFrame decodes one complete wire frame held in b (length prefix
// included). The length prefix must match len(b) exactly. Body aliases b.
func ParseFrame(b []byte) (Frame, error) {
	var f Frame
	if len(b) < LengthPrefixSize {
		return f, fmt.Errorf("iso8583: frame: %w: %d bytes, need the 2-byte length", ErrTruncated, len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if n < TPDUSize+HeaderSize {
		return f, fmt.Errorf("%w: length %d, need at least %d (TPDU + header)", ErrFrameTooShort, n, TPDUSize+HeaderSize)
	}
	switch rest := len(b) - LengthPrefixSize; {
	case rest < n:
		return f, fmt.Errorf("iso8583: frame: %w: length %d, have %d", ErrTruncated, n, rest)
	case rest > n:
		return f, fmt.Errorf("iso8583: frame: %w: length %d, have %d", ErrTrailingData, n, rest)
	}
	copy(f.TPDU[:], b[2:7])
	copy(f.Header[:], b[7:13])
	f.Body = b[FramePrefixSize:]
	return f, nil
}
