package scanner

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// Linux input event types and codes used here
// (include/uapi/linux/input-event-codes.h).
const (
	EvSyn = 0x00 // EV_SYN: synchronisation
	EvKey = 0x01 // EV_KEY: key press/release/repeat
	EvMsc = 0x04 // EV_MSC: misc (MSC_SCAN carries the HID usage)

	SynReport  = 0 // SYN_REPORT: end of a batch of events
	SynDropped = 3 // SYN_DROPPED: the kernel's buffer overflowed

	// EV_KEY values.
	KeyRelease = 0
	KeyPress   = 1
	KeyRepeat  = 2
)

// Layout is the binary layout of struct input_event as read from
// /dev/input/eventN:
//
//	struct input_event {
//		<seconds>      __kernel_ulong_t (or struct timeval's long)
//		<microseconds> __kernel_ulong_t (or long)
//		__u16 type;
//		__u16 code;
//		__s32 value;
//	};
//
// The two time fields are C longs: 8 bytes each on a 64-bit kernel ABI
// (24-byte records), 4 bytes each on a 32-bit one (16-byte records),
// armv7 included. A 32-bit C library built with 64-bit time_t does not
// change the record: the uapi header then swaps struct timeval for two
// __kernel_ulong_t fields of the same size. A 32-bit program on a 64-bit
// kernel gets the 32-bit layout (the kernel's compat path). Fields are in
// the machine's byte order.
type Layout struct {
	word  int // bytes of each time field: 4 or 8
	order byteOrder
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// Layouts of the supported targets (all little-endian).
var (
	// Layout64 is amd64 and arm64: 24-byte records.
	Layout64 = Layout{word: 8, order: binary.LittleEndian}
	// Layout32 is armv7 (and 386): 16-byte records.
	Layout32 = Layout{word: 4, order: binary.LittleEndian}
)

// kernelEvent mirrors struct input_event for the running GOARCH: on every
// Linux ABI a C long is the size of a pointer.
type kernelEvent struct {
	Sec, Usec uintptr
	Type      uint16
	Code      uint16
	Value     int32
}

// NativeLayout returns the layout of the running program: the time field
// size from unsafe.Sizeof of a mirror of the kernel struct, in native
// byte order.
func NativeLayout() Layout {
	var e kernelEvent
	return Layout{word: int(unsafe.Sizeof(e.Sec)), order: binary.NativeEndian}
}

// nativeEventSize is unsafe.Sizeof(kernelEvent{}); NativeLayout().Size()
// must equal it (tested).
const nativeEventSize = int(unsafe.Sizeof(kernelEvent{}))

// Size returns the bytes per record: 24 or 16 (0 for an invalid Layout).
func (l Layout) Size() int {
	if !l.valid() {
		return 0
	}
	return 2*l.word + 8
}

func (l Layout) valid() bool { return (l.word == 4 || l.word == 8) && l.order != nil }

// String names the layout, e.g. "24-byte little-endian".
func (l Layout) String() string {
	if !l.valid() {
		return "invalid layout"
	}
	return fmt.Sprintf("%d-byte %s", l.Size(), l.order)
}

// Event is one decoded input_event.
type Event struct {
	Sec   int64 // timestamp seconds
	Usec  int64 // timestamp microseconds
	Type  uint16
	Code  uint16
	Value int32
}

// DecodeEvents decodes b as consecutive input_event records in layout l.
// It returns every whole record; when len(b) is not a multiple of the
// record size the remainder is not decoded and the error (wrapping
// ErrBadEvent) names its offset and length. An invalid Layout decodes
// nothing.
func DecodeEvents(b []byte, l Layout) ([]Event, error) {
	size := l.Size()
	if size == 0 {
		return nil, fmt.Errorf("%w: invalid Layout (use Layout64, Layout32 or NativeLayout)", ErrBadEvent)
	}
	evs := make([]Event, 0, len(b)/size)
	off := 0
	for ; off+size <= len(b); off += size {
		evs = append(evs, l.decode(b[off:off+size]))
	}
	if off != len(b) {
		return evs, fmt.Errorf("%w: %d trailing bytes at offset %d, records are %d bytes", ErrBadEvent, len(b)-off, off, size)
	}
	return evs, nil
}

// decode decodes one record; len(r) == l.Size().
func (l Layout) decode(r []byte) Event {
	var e Event
	w := l.word
	if w == 8 {
		e.Sec = int64(l.order.Uint64(r[0:8]))
		e.Usec = int64(l.order.Uint64(r[8:16]))
	} else {
		// __kernel_ulong_t: unsigned, so dates past 2038 stay positive.
		e.Sec = int64(l.order.Uint32(r[0:4]))
		e.Usec = int64(l.order.Uint32(r[4:8]))
	}
	e.Type = l.order.Uint16(r[2*w:])
	e.Code = l.order.Uint16(r[2*w+2:])
	e.Value = int32(l.order.Uint32(r[2*w+4:]))
	return e
}

// AppendEvent appends e encoded in layout l to dst (for tests, emulators
// and uinput). It panics on an invalid Layout, a programming error.
func AppendEvent(dst []byte, e Event, l Layout) []byte {
	if !l.valid() {
		panic("scanner: AppendEvent with an invalid Layout")
	}
	if l.word == 8 {
		dst = l.order.AppendUint64(dst, uint64(e.Sec))
		dst = l.order.AppendUint64(dst, uint64(e.Usec))
	} else {
		dst = l.order.AppendUint32(dst, uint32(e.Sec))
		dst = l.order.AppendUint32(dst, uint32(e.Usec))
	}
	dst = l.order.AppendUint16(dst, e.Type)
	dst = l.order.AppendUint16(dst, e.Code)
	return l.order.AppendUint32(dst, uint32(e.Value))
}
