package scanner

import (
	"fmt"
	"time"
)

// Linux key codes used by the decoder (input-event-codes.h).
const (
	KeyEnter      = 28
	KeyKPEnter    = 96
	KeyLeftShift  = 42
	KeyRightShift = 54
	KeyCapsLock   = 58
	KeyLeftCtrl   = 29
	KeyRightCtrl  = 97
	KeyLeftAlt    = 56
	KeyRightAlt   = 100
	KeyLeftMeta   = 125
	KeyRightMeta  = 126
	KeyNumLock    = 69
)

// usKeys maps a Linux key code to its character on a US keyboard,
// unshifted and shifted. Zero means no character. The table is fixed:
// the system's keyboard layout never applies (user-issues §3 item 7: a
// Belgian layout turned the scan 0013748911 into àà&"è'!ç&&).
var usKeys = [...][2]byte{
	2: {'1', '!'}, 3: {'2', '@'}, 4: {'3', '#'}, 5: {'4', '$'}, 6: {'5', '%'},
	7: {'6', '^'}, 8: {'7', '&'}, 9: {'8', '*'}, 10: {'9', '('}, 11: {'0', ')'},
	12: {'-', '_'}, 13: {'=', '+'},
	16: {'q', 'Q'}, 17: {'w', 'W'}, 18: {'e', 'E'}, 19: {'r', 'R'}, 20: {'t', 'T'},
	21: {'y', 'Y'}, 22: {'u', 'U'}, 23: {'i', 'I'}, 24: {'o', 'O'}, 25: {'p', 'P'},
	26: {'[', '{'}, 27: {']', '}'},
	30: {'a', 'A'}, 31: {'s', 'S'}, 32: {'d', 'D'}, 33: {'f', 'F'}, 34: {'g', 'G'},
	35: {'h', 'H'}, 36: {'j', 'J'}, 37: {'k', 'K'}, 38: {'l', 'L'},
	39: {';', ':'}, 40: {'\'', '"'}, 41: {'`', '~'}, 43: {'\\', '|'},
	44: {'z', 'Z'}, 45: {'x', 'X'}, 46: {'c', 'C'}, 47: {'v', 'V'}, 48: {'b', 'B'},
	49: {'n', 'N'}, 50: {'m', 'M'},
	51: {',', '<'}, 52: {'.', '>'}, 53: {'/', '?'},
	57: {' ', ' '},
	// Keypad: scanners in "keypad emulation" mean digits whatever the
	// Num Lock state, and Shift does not change them.
	55: {'*', '*'}, 74: {'-', '-'}, 78: {'+', '+'},
	71: {'7', '7'}, 72: {'8', '8'}, 73: {'9', '9'},
	75: {'4', '4'}, 76: {'5', '5'}, 77: {'6', '6'},
	79: {'1', '1'}, 80: {'2', '2'}, 81: {'3', '3'},
	82: {'0', '0'}, 83: {'.', '.'}, 98: {'/', '/'},
}

// USKey returns the character of Linux key code on a US keyboard with
// Shift and Caps Lock as given (Caps Lock affects letters only; Shift
// with Caps Lock gives a lower-case letter, as on a PC). ok is false for
// keys without a character (Enter, modifiers, function keys, unknown
// codes).
func USKey(code uint16, shift, capsLock bool) (c byte, ok bool) {
	if int(code) >= len(usKeys) {
		return 0, false
	}
	k := usKeys[code]
	if k[0] == 0 {
		return 0, false
	}
	up := shift
	if k[0] >= 'a' && k[0] <= 'z' && capsLock {
		up = !up
	}
	if up {
		return k[1], true
	}
	return k[0], true
}

// KeyDecoder turns the key events of a keyboard-wedge scanner into codes
// with the fixed US layout: a pure state machine (no I/O, no clock).
//
// Rules:
//   - Key presses (value 1) type characters; releases (0) only matter for
//     Shift, Ctrl, Alt and Meta; auto-repeats (2) are ignored. EV_MSC,
//     EV_SYN reports and other event types are ignored.
//   - Shift (either), Caps Lock (toggled by its press; the initial state
//     comes from SetCapsLock) follow PC rules; Num Lock is ignored.
//   - Enter and keypad Enter end a code; empty codes are ignored.
//   - A key without a character, or any key typed with Ctrl, Alt or Meta
//     held, discards the code (ErrUnmappedKey naming the key code and
//     offset); more than MaxLen characters discards it (ErrTooLong);
//     SYN_DROPPED discards it (ErrDropped), releases the modifiers and
//     skips events up to the next SYN_REPORT, as evdev asks.
type KeyDecoder struct {
	max      int
	buf      []byte
	n        int
	broken   brokenCode
	shift    [2]bool // left, right
	ctrl     [2]bool
	alt      [2]bool
	meta     [2]bool
	caps     bool
	dropping bool
}

// NewKeyDecoder returns a decoder keeping codes of up to maxLen
// characters (DefaultMaxLen when maxLen <= 0), Caps Lock off.
func NewKeyDecoder(maxLen int) *KeyDecoder {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	return &KeyDecoder{max: maxLen, buf: make([]byte, 0, min(maxLen, 64))}
}

// SetCapsLock sets the Caps Lock state (from the device's LED at open).
func (d *KeyDecoder) SetCapsLock(on bool) { d.caps = on }

// CapsLock reports the Caps Lock state.
func (d *KeyDecoder) CapsLock() bool { return d.caps }

// Push consumes one event and appends the result it completes, if any,
// to dst. Codes are stamped with the event's time.
func (d *KeyDecoder) Push(dst []Result, e Event) []Result {
	if e.Type == EvSyn {
		switch e.Code {
		case SynDropped:
			if d.n > 0 {
				d.broken.set(ErrDropped, "SYN_DROPPED: the kernel's event buffer overflowed")
			}
			d.shift, d.ctrl, d.alt, d.meta = [2]bool{}, [2]bool{}, [2]bool{}, [2]bool{}
			d.dropping = true
		case SynReport:
			d.dropping = false
		}
		return dst
	}
	if d.dropping || e.Type != EvKey {
		return dst
	}
	down := e.Value == KeyPress
	if e.Value != KeyPress && e.Value != KeyRelease {
		return dst // auto-repeat or a value evdev does not send
	}
	switch e.Code {
	case KeyLeftShift, KeyRightShift:
		d.shift[side(e.Code, KeyRightShift)] = down
		return dst
	case KeyLeftCtrl, KeyRightCtrl:
		d.ctrl[side(e.Code, KeyRightCtrl)] = down
		return dst
	case KeyLeftAlt, KeyRightAlt:
		d.alt[side(e.Code, KeyRightAlt)] = down
		return dst
	case KeyLeftMeta, KeyRightMeta:
		d.meta[side(e.Code, KeyRightMeta)] = down
		return dst
	}
	if !down {
		return dst
	}
	switch e.Code {
	case KeyCapsLock:
		d.caps = !d.caps
		return dst
	case KeyNumLock:
		return dst
	case KeyEnter, KeyKPEnter:
		return d.end(dst, time.Unix(e.Sec, e.Usec*1000).UTC())
	}
	off := d.n
	d.n++
	if d.broken.why != nil {
		return dst
	}
	c, ok := USKey(e.Code, d.shift[0] || d.shift[1], d.caps)
	switch {
	case !ok:
		d.broken.set(ErrUnmappedKey, fmt.Sprintf("key code %d at offset %d", e.Code, off))
		d.buf = d.buf[:0]
	case d.ctrl[0] || d.ctrl[1] || d.alt[0] || d.alt[1] || d.meta[0] || d.meta[1]:
		d.broken.set(ErrUnmappedKey, fmt.Sprintf("key code %d with Ctrl/Alt/Meta held at offset %d", e.Code, off))
		d.buf = d.buf[:0]
	case len(d.buf) >= d.max:
		d.broken.set(ErrTooLong, fmt.Sprintf("longer than MaxLen %d", d.max))
		d.buf = d.buf[:0]
	default:
		d.buf = appendBounded(d.buf, c, d.max)
	}
	return dst
}

func side(code, right uint16) int {
	if code == right {
		return 1
	}
	return 0
}

func (d *KeyDecoder) end(dst []Result, at time.Time) []Result {
	switch {
	case d.n == 0:
	case d.broken.why != nil:
		dst = append(dst, Result{Err: d.broken.err(d.n, "")})
	default:
		dst = append(dst, Result{Code: NewCode(string(d.buf), at)})
	}
	d.reset()
	return dst
}

func (d *KeyDecoder) reset() {
	d.buf = d.buf[:0]
	d.n = 0
	d.broken = brokenCode{}
}

// Pending reports whether part of a code has been typed without Enter.
func (d *KeyDecoder) Pending() bool { return d.n > 0 }

// Idle discards a pending code after silence (ErrIncomplete, or the
// reason it was already being discarded). ok is false when nothing was
// pending.
func (d *KeyDecoder) Idle() (Result, bool) {
	if d.n == 0 {
		return Result{}, false
	}
	d.broken.set(ErrIncomplete, "no Enter before the keys went silent")
	r := Result{Err: d.broken.err(d.n, ", no Enter")}
	d.reset()
	return r, true
}

// Taint marks the code now starting as discarded for reason err (the
// tail of a code cut by silence).
func (d *KeyDecoder) Taint(err error) { d.broken.set(err, "tail of a code cut by silence") }

// hidDecoder adapts KeyDecoder to raw input_event bytes: it keeps a
// partial record between reads (a real evdev node returns whole records;
// a pipe may not).
type hidDecoder struct {
	layout Layout
	keys   *KeyDecoder
	carry  []byte
}

func (h *hidDecoder) Feed(dst []Result, p []byte) []Result {
	size := h.layout.Size()
	if len(h.carry) > 0 {
		need := size - len(h.carry)
		if len(p) < need {
			h.carry = append(h.carry, p...)
			return dst
		}
		h.carry = append(h.carry, p[:need]...)
		dst = h.keys.Push(dst, h.layout.decode(h.carry))
		h.carry = h.carry[:0]
		p = p[need:]
	}
	for len(p) >= size {
		dst = h.keys.Push(dst, h.layout.decode(p[:size]))
		p = p[size:]
	}
	h.carry = append(h.carry, p...)
	return dst
}

func (h *hidDecoder) Pending() bool        { return h.keys.Pending() }
func (h *hidDecoder) Idle() (Result, bool) { return h.keys.Idle() }
func (h *hidDecoder) Taint(err error)      { h.keys.Taint(err) }

var _ splitter = (*hidDecoder)(nil)
