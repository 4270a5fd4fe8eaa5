package scanner

import (
	"fmt"
	"time"
)

// Defaults for zero Options fields and for NewLineReader/NewKeyDecoder.
const (
	// DefaultMaxLen is the longest code kept, in bytes (serial) or
	// characters (HID). A QR payment code is at most 24 digits; 512 leaves
	// room for URLs and GS1 element strings.
	DefaultMaxLen = 512
	// DefaultIdleTimeout is the inter-character timeout: a partial code
	// followed by this much silence is half a scan. A scanner sends a code
	// as one burst (at 9600 baud a byte takes about 1 ms).
	DefaultIdleTimeout = 100 * time.Millisecond
	// DefaultTailWindow: input arriving this soon after a code was cut by
	// the idle timeout is taken as that code's tail and discarded, not
	// emitted as a code of its own. No person presents a second code
	// within 300 ms of the first.
	DefaultTailWindow = 300 * time.Millisecond
	// DefaultPollInterval bounds each read while no code is in progress,
	// so a cancelled context is noticed within this time.
	DefaultPollInterval = 250 * time.Millisecond
)

// Result is one outcome of a reader: a Code, or a per-code error wrapping
// ErrBadScan.
type Result struct {
	Code Code
	Err  error
}

// splitter is what the scan loop needs from a decoder (LineReader for
// serial bytes, hidDecoder for evdev records).
type splitter interface {
	// Feed consumes input and appends completed results to dst.
	Feed(dst []Result, p []byte) []Result
	// Pending reports whether part of a code has been received.
	Pending() bool
	// Idle ends the pending code because the line went silent.
	Idle() (Result, bool)
	// Taint marks the code now starting as the tail of an interrupted one.
	Taint(err error)
}

// brokenCode records why the code in progress will be discarded.
type brokenCode struct {
	why    error // ErrTooLong, ErrBadByte, ...; nil when the code is fine
	detail string
}

func (b *brokenCode) set(why error, detail string) {
	if b.why == nil {
		b.why, b.detail = why, detail
	}
}

// err builds the reported error; n is the code's length so far.
func (b *brokenCode) err(n int, suffix string) error {
	return fmt.Errorf("%w: %w: %s (%d bytes%s)", ErrBadScan, b.why, b.detail, n, suffix)
}

// LineReader splits the byte stream of a serial scanner into codes. It is
// a pure state machine: no I/O, no clock; the serial reader feeds it and
// tells it when the line went silent.
//
// Framing rules:
//   - CR, LF and CRLF each end a code; the LF of a CRLF is swallowed, so
//     CRLF ends one code and never makes an empty one. Empty lines are
//     ignored.
//   - A code keeps at most MaxLen bytes. Longer input is not buffered: it
//     is discarded up to the next terminator and reported as ErrTooLong.
//   - A byte outside 0x20..0x7E discards the code, reported as ErrBadByte
//     naming the first such byte and its offset.
//   - Idle discards a partial code (ErrIncomplete) after silence.
//
// A discarded code is reported once, when its terminator (or the silence)
// ends it; the reader is then ready for the next code. Memory is bounded
// by MaxLen whatever the input.
type LineReader struct {
	max     int
	buf     []byte
	n       int  // bytes of the current code seen, kept or not
	afterCR bool // the previous byte was CR: a following LF is its pair
	broken  brokenCode
}

// NewLineReader returns a reader keeping codes of up to maxLen bytes
// (DefaultMaxLen when maxLen <= 0).
func NewLineReader(maxLen int) *LineReader {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	return &LineReader{max: maxLen, buf: make([]byte, 0, min(maxLen, 64))}
}

// MaxLen returns the longest code kept.
func (r *LineReader) MaxLen() int { return r.max }

// Feed consumes p and appends the results it completes to dst. Codes are
// stamped with the zero time and classified; the serial reader restamps
// them with its clock.
func (r *LineReader) Feed(dst []Result, p []byte) []Result {
	for _, b := range p {
		switch b {
		case '\r':
			dst = r.end(dst)
			r.afterCR = true
			continue
		case '\n':
			if r.afterCR {
				r.afterCR = false
				continue
			}
			dst = r.end(dst)
			continue
		}
		r.afterCR = false
		off := r.n
		r.n++
		switch {
		case r.broken.why != nil:
			// Discarding up to the terminator.
		case b < 0x20 || b > 0x7E:
			r.broken.set(ErrBadByte, fmt.Sprintf("byte 0x%02X at offset %d", b, off))
			r.buf = r.buf[:0]
		case len(r.buf) >= r.max:
			r.broken.set(ErrTooLong, fmt.Sprintf("longer than MaxLen %d", r.max))
			r.buf = r.buf[:0]
		default:
			r.buf = appendBounded(r.buf, b, r.max)
		}
	}
	return dst
}

// appendBounded appends b to buf, growing it at most to limit bytes of
// capacity (plain append could double past MaxLen); len(buf) < limit.
func appendBounded(buf []byte, b byte, limit int) []byte {
	if len(buf) == cap(buf) {
		nb := make([]byte, len(buf), min(max(2*cap(buf), 16), limit))
		copy(nb, buf)
		buf = nb
	}
	return append(buf, b)
}

// end closes the current code at a terminator.
func (r *LineReader) end(dst []Result) []Result {
	switch {
	case r.n == 0:
		// Empty line, or the terminator of a code already reported by
		// Idle: nothing to report.
	case r.broken.why != nil:
		dst = append(dst, Result{Err: r.broken.err(r.n, "")})
	default:
		dst = append(dst, Result{Code: NewCode(string(r.buf), time.Time{})})
	}
	r.reset()
	return dst
}

func (r *LineReader) reset() {
	r.buf = r.buf[:0]
	r.n = 0
	r.broken = brokenCode{}
}

// Pending reports whether part of a code (kept or being discarded) has
// been received without its terminator.
func (r *LineReader) Pending() bool { return r.n > 0 }

// Idle tells the reader the line has been silent past the inter-character
// timeout. A pending code is discarded and returned as an error result:
// ErrIncomplete, or the reason it was already being discarded (ErrTooLong,
// ErrBadByte). ok is false when nothing was pending.
func (r *LineReader) Idle() (res Result, ok bool) {
	if r.n == 0 {
		return Result{}, false
	}
	r.broken.set(ErrIncomplete, "no terminator before the line went silent")
	res = Result{Err: r.broken.err(r.n, ", no terminator")}
	r.reset()
	return res, true
}

// Taint marks the code now starting (or in progress) as discarded for
// reason err, typically ErrIncomplete for the tail of an interrupted code.
func (r *LineReader) Taint(err error) {
	r.broken.set(err, "tail of a code cut by silence")
}

var _ splitter = (*LineReader)(nil)
