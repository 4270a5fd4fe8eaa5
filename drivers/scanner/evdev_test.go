package scanner

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden records. The 64-bit ones were dumped from a C struct input_event
// filled in on linux/amd64 (gcc, <linux/input.h>); the 32-bit ones follow
// the uapi header's layout with 4-byte __kernel_ulong_t time fields.
var goldenEvents = []struct {
	name     string
	ev       Event
	rec64    string
	rec32    string
	sec32neg int64 // Sec as decoded from the 32-bit record, when it differs
}{
	{
		name:  "KEY_A press at 1600000000.123456",
		ev:    Event{Sec: 1600000000, Usec: 123456, Type: EvKey, Code: 30, Value: KeyPress},
		rec64: "00105e5f00000000 40e2010000000000 0100 1e00 01000000",
		rec32: "00105e5f 40e20100 0100 1e00 01000000",
	},
	{
		name:     "SYN_DROPPED with all-ones seconds",
		ev:       Event{Sec: -1, Usec: 123456, Type: EvSyn, Code: SynDropped, Value: 0},
		rec64:    "ffffffffffffffff 40e2010000000000 0000 0300 00000000",
		rec32:    "ffffffff 40e20100 0000 0300 00000000",
		sec32neg: 0xFFFFFFFF, // unsigned on 32-bit: past 2038, not 1969
	},
	{
		name:  "EV_MSC MSC_SCAN 0x70004, negative value round trip",
		ev:    Event{Sec: 1, Usec: 2, Type: EvMsc, Code: 4, Value: -2},
		rec64: "0100000000000000 0200000000000000 0400 0400 feffffff",
		rec32: "01000000 02000000 0400 0400 feffffff",
	},
}

func TestDecodeEventsGolden(t *testing.T) {
	for _, g := range goldenEvents {
		for _, lc := range []struct {
			l   Layout
			rec string
		}{{Layout64, g.rec64}, {Layout32, g.rec32}} {
			b := unhex(t, lc.rec)
			if len(b) != lc.l.Size() {
				t.Fatalf("%s %v: golden is %d bytes", g.name, lc.l, len(b))
			}
			evs, err := DecodeEvents(b, lc.l)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%s %v: %v, %v", g.name, lc.l, evs, err)
			}
			want := g.ev
			if lc.l == Layout32 && g.sec32neg != 0 {
				want.Sec = g.sec32neg
			}
			if evs[0] != want {
				t.Errorf("%s %v: decoded %+v, want %+v", g.name, lc.l, evs[0], want)
			}
			if enc := AppendEvent(nil, g.ev, lc.l); !bytes.Equal(enc, b) {
				t.Errorf("%s %v: encoded % x, want % x", g.name, lc.l, enc, b)
			}
		}
	}
}

func TestDecodeEventsErrors(t *testing.T) {
	b := append(unhex(t, goldenEvents[0].rec64), 1, 2, 3)
	evs, err := DecodeEvents(b, Layout64)
	if len(evs) != 1 || !errors.Is(err, ErrBadEvent) || !strings.Contains(err.Error(), "3 trailing bytes at offset 24") {
		t.Errorf("trailing bytes: %v, %v", evs, err)
	}
	// 24 bytes are one 64-bit record but one and a half 32-bit ones.
	evs, err = DecodeEvents(b[:24], Layout32)
	if len(evs) != 1 || !errors.Is(err, ErrBadEvent) {
		t.Errorf("24 bytes as 32-bit: %v, %v", evs, err)
	}
	if evs, err := DecodeEvents(nil, Layout32); len(evs) != 0 || err != nil {
		t.Errorf("empty: %v, %v", evs, err)
	}
	if _, err := DecodeEvents(b, Layout{}); !errors.Is(err, ErrBadEvent) {
		t.Errorf("zero Layout: %v", err)
	}
	if (Layout{}).Size() != 0 || (Layout{}).String() != "invalid layout" {
		t.Error("zero Layout has a size")
	}
}

func TestNativeLayout(t *testing.T) {
	// The mirror struct, Sizeof and the layout agree, and match the
	// kernel sizes for this GOARCH (run under qemu-arm for armv7).
	l := NativeLayout()
	if l.Size() != nativeEventSize || int(unsafe.Sizeof(kernelEvent{})) != nativeEventSize {
		t.Fatalf("NativeLayout size %d, Sizeof %d", l.Size(), nativeEventSize)
	}
	want := Layout64.Size()
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = Layout32.Size()
	}
	if l.Size() != want {
		t.Errorf("native input_event is %d bytes, want %d", l.Size(), want)
	}
	// Native order decodes what the matching little-endian layout encodes.
	ref := Layout64
	if want == 16 {
		ref = Layout32
	}
	b := AppendEvent(nil, goldenEvents[0].ev, ref)
	evs, err := DecodeEvents(b, l)
	if err != nil || evs[0] != goldenEvents[0].ev {
		t.Errorf("native decode %+v, %v", evs, err)
	}
}

func TestAppendEventPanicsOnBadLayout(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	AppendEvent(nil, Event{}, Layout{word: 5})
}

// usRows describes the US keyboard independently of usKeys: each row's
// first key code, then its characters unshifted and shifted.
var usRows = []struct {
	first       uint16
	plain, shft string
}{
	{2, "1234567890-=", "!@#$%^&*()_+"},
	{16, "qwertyuiop[]", "QWERTYUIOP{}"},
	{30, "asdfghjkl;'`", "ASDFGHJKL:\"~"},
	{43, "\\zxcvbnm,./", "|ZXCVBNM<>?"},
	{57, " ", " "},
}

var usKeypad = map[uint16]byte{
	55: '*', 71: '7', 72: '8', 73: '9', 74: '-', 75: '4', 76: '5', 77: '6',
	78: '+', 79: '1', 80: '2', 81: '3', 82: '0', 83: '.', 98: '/',
}

func TestUSKeyTable(t *testing.T) {
	type want struct{ plain, shft byte }
	ref := map[uint16]want{}
	for _, r := range usRows {
		for i := range len(r.plain) {
			ref[r.first+uint16(i)] = want{r.plain[i], r.shft[i]}
		}
	}
	for code, c := range usKeypad {
		ref[code] = want{c, c}
	}
	for code := range uint16(768) {
		w, has := ref[code]
		for _, shift := range []bool{false, true} {
			for _, caps := range []bool{false, true} {
				c, ok := USKey(code, shift, caps)
				if ok != has {
					t.Fatalf("USKey(%d) ok=%v, want %v", code, ok, has)
				}
				if !has {
					continue
				}
				up := shift
				if w.plain >= 'a' && w.plain <= 'z' && caps {
					up = !up
				}
				exp := w.plain
				if up {
					exp = w.shft
				}
				if c != exp {
					t.Errorf("USKey(%d, shift=%v, caps=%v) = %q, want %q", code, shift, caps, c, exp)
				}
			}
		}
	}
	for _, k := range []uint16{KeyEnter, KeyKPEnter, KeyLeftShift, KeyRightShift, KeyCapsLock, 1, 14, 15, 59, 86, 65535} {
		if _, ok := USKey(k, false, false); ok {
			t.Errorf("key %d has a character", k)
		}
	}
}

// Event builders for key sequences, shaped like a real USB scanner's
// output: MSC_SCAN, the key event, SYN_REPORT.
func key(code uint16, value int32) []Event {
	return []Event{
		{Sec: 1700000000, Type: EvMsc, Code: 4, Value: 0x70000 + int32(code)},
		{Sec: 1700000000, Type: EvKey, Code: code, Value: value},
		{Sec: 1700000000, Type: EvSyn, Code: SynReport},
	}
}

func tap(codes ...uint16) []Event {
	var evs []Event
	for _, c := range codes {
		evs = append(evs, key(c, KeyPress)...)
		evs = append(evs, key(c, KeyRelease)...)
	}
	return evs
}

func seq(parts ...[]Event) []Event {
	var evs []Event
	for _, p := range parts {
		evs = append(evs, p...)
	}
	return evs
}

const (
	kA, kB, kC, kQ, kZ = 30, 48, 46, 16, 44
	k0, k1, k2, k3, k4 = 11, 2, 3, 4, 5
	k5, k7, k8, k9     = 6, 8, 9, 10
	kF1, kLeftCtrl     = 59, KeyLeftCtrl
)

var keyGoldens = []struct {
	name  string
	caps  bool // initial Caps Lock
	evs   []Event
	idle  bool
	want  []string
	capsA bool // Caps Lock after
}{
	{
		// user-issues §3 item 7: under a Belgian layout the host turned
		// this scan into àà&"è'!ç&&. Key codes are layout-free; the fixed
		// US map gives the digits back.
		name: "non-US-looking: 0013748911",
		evs:  seq(tap(k0, k0, k1, k3, k7, k4, k8, k9, k1, k1), tap(KeyEnter)),
		want: []string{"0013748911"},
	},
	{
		name: "left and right shift",
		evs: seq(key(KeyLeftShift, KeyPress), tap(kA), key(KeyLeftShift, KeyRelease), tap(kB),
			key(KeyRightShift, KeyPress), tap(k1, kC), key(KeyRightShift, KeyRelease), tap(k1), tap(KeyEnter)),
		want: []string{"Ab!C1"},
	},
	{
		name: "shift held by both, released one at a time",
		evs: seq(key(KeyLeftShift, KeyPress), key(KeyRightShift, KeyPress), key(KeyLeftShift, KeyRelease),
			tap(kQ), key(KeyRightShift, KeyRelease), tap(kQ), tap(KeyEnter)),
		want: []string{"Qq"},
	},
	{
		name:  "caps lock toggles letters only; shift inverts it",
		evs:   seq(tap(KeyCapsLock, kA, kB, k1), key(KeyLeftShift, KeyPress), tap(kC, k2), key(KeyLeftShift, KeyRelease), tap(KeyCapsLock, kZ), tap(KeyEnter)),
		want:  []string{"AB1c@z"},
		capsA: false,
	},
	{
		name:  "caps lock on from the LED",
		caps:  true,
		evs:   seq(tap(kA, k5), tap(KeyKPEnter)),
		want:  []string{"A5"},
		capsA: true,
	},
	{
		name: "auto-repeat ignored",
		evs: seq(key(kA, KeyPress), key(kA, KeyRepeat), key(kA, KeyRepeat), key(kA, KeyRelease),
			key(KeyEnter, KeyPress), key(KeyEnter, KeyRepeat), key(KeyEnter, KeyRelease)),
		want: []string{"a"},
	},
	{
		name: "keypad digits and keypad enter, num lock ignored",
		evs:  seq(tap(KeyNumLock, 79, 80, 81, 82, 83, 74), tap(KeyKPEnter)),
		want: []string{"1230.-"},
	},
	{
		name: "empty enter ignored, codes back to back",
		evs:  seq(tap(KeyEnter, k1, KeyEnter, KeyEnter, k2, KeyKPEnter)),
		want: []string{"1", "2"},
	},
	{
		name: "unmapped key discards that code only",
		evs:  seq(tap(k1, kF1, k2, KeyEnter), tap(k3, KeyEnter)),
		want: []string{"!" + ErrUnmappedKey.Error(), "3"},
	},
	{
		name: "ctrl+key discards the code",
		evs:  seq(tap(k1), key(kLeftCtrl, KeyPress), tap(kA), key(kLeftCtrl, KeyRelease), tap(KeyEnter, k4, KeyEnter)),
		want: []string{"!" + ErrUnmappedKey.Error(), "4"},
	},
	{
		name: "SYN_DROPPED mid-code: discarded, events up to SYN_REPORT skipped, shift reset",
		evs: seq(key(KeyLeftShift, KeyPress), tap(kA),
			[]Event{{Type: EvSyn, Code: SynDropped}, {Type: EvKey, Code: kB, Value: KeyPress}, {Type: EvSyn, Code: SynReport}},
			tap(kC, KeyEnter, kA, KeyEnter)),
		want: []string{"!" + ErrDropped.Error(), "a"},
	},
	{
		name: "SYN_DROPPED between codes costs nothing",
		evs:  seq(tap(k1, KeyEnter), []Event{{Type: EvSyn, Code: SynDropped}, {Type: EvSyn, Code: SynReport}}, tap(k2, KeyEnter)),
		want: []string{"1", "2"},
	},
	{
		name: "other event types ignored",
		evs:  seq([]Event{{Type: 0x11, Code: 1, Value: 1}, {Type: 0x14, Code: 0, Value: 250}, {Type: EvKey, Code: k9, Value: 7}}, tap(k9, KeyEnter)),
		want: []string{"9"},
	},
	{
		name: "partial then silence",
		evs:  tap(k1, k2),
		idle: true,
		want: []string{"!" + ErrIncomplete.Error()},
	},
}

// runKeys encodes evs in layout l, decodes them with DecodeEvents and
// feeds them to a KeyDecoder.
func runKeys(t *testing.T, l Layout, caps bool, evs []Event, idle bool, max int) ([]string, *KeyDecoder) {
	t.Helper()
	var raw []byte
	for _, e := range evs {
		raw = AppendEvent(raw, e, l)
	}
	dec, err := DecodeEvents(raw, l)
	if err != nil {
		t.Fatal(err)
	}
	d := NewKeyDecoder(max)
	d.SetCapsLock(caps)
	var rs []Result
	for _, e := range dec {
		rs = d.Push(rs, e)
	}
	if idle {
		if r, ok := d.Idle(); ok {
			rs = append(rs, r)
		}
	}
	return outcome(rs), d
}

func TestKeyDecoderGolden(t *testing.T) {
	for _, l := range []Layout{Layout64, Layout32} {
		for _, g := range keyGoldens {
			t.Run(fmt.Sprintf("%d/%s", l.Size(), g.name), func(t *testing.T) {
				got, d := runKeys(t, l, g.caps, g.evs, g.idle, 0)
				if fmt.Sprint(got) != fmt.Sprint(g.want) {
					t.Errorf("got %q, want %q", got, g.want)
				}
				if d.CapsLock() != g.capsA {
					t.Errorf("caps lock %v after, want %v", d.CapsLock(), g.capsA)
				}
				if d.Pending() {
					t.Error("still pending")
				}
			})
		}
	}
}

func TestKeyDecoderMaxLen(t *testing.T) {
	got, _ := runKeys(t, Layout64, false, seq(tap(k1, k2, k3, k4, KeyEnter), tap(k1, k2, k3, KeyEnter)), false, 3)
	if fmt.Sprint(got) != fmt.Sprint([]string{"!" + ErrTooLong.Error(), "123"}) {
		t.Errorf("got %q", got)
	}
}

func TestKeyDecoderStampsEventTime(t *testing.T) {
	d := NewKeyDecoder(0)
	rs := d.Push(nil, Event{Type: EvKey, Code: k1, Value: KeyPress})
	rs = d.Push(rs, Event{Sec: 1700000000, Usec: 250000, Type: EvKey, Code: KeyEnter, Value: KeyPress})
	if len(rs) != 1 || rs[0].Code.At.UnixMicro() != 1700000000250000 {
		t.Errorf("results %+v", rs)
	}
}

func TestHIDDecoderChunking(t *testing.T) {
	// Whatever way the bytes are cut (a pipe may split records), the
	// results are those of whole records.
	evs := seq(key(KeyLeftShift, KeyPress), tap(kA), key(KeyLeftShift, KeyRelease), tap(k1, k2, KeyEnter, k3, KeyEnter))
	for _, l := range []Layout{Layout64, Layout32} {
		var raw []byte
		for _, e := range evs {
			raw = AppendEvent(raw, e, l)
		}
		for _, chunk := range []int{1, 3, 7, l.Size() - 1, l.Size(), l.Size() + 5, len(raw)} {
			h := &hidDecoder{layout: l, keys: NewKeyDecoder(0)}
			var rs []Result
			for p := raw; len(p) > 0; {
				n := min(chunk, len(p))
				rs = h.Feed(rs, p[:n])
				p = p[n:]
			}
			if got := outcome(rs); fmt.Sprint(got) != "[A12 3]" {
				t.Errorf("layout %d chunk %d: got %q", l.Size(), chunk, got)
			}
			if len(h.carry) != 0 {
				t.Errorf("layout %d chunk %d: %d bytes left over", l.Size(), chunk, len(h.carry))
			}
		}
	}
}
