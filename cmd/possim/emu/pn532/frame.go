package pn532

import "bytes"

// This file is the emulator's own frame layer, written from the PN532 user
// manual (UM0701-02 §6.2.1) and deliberately independent of drivers/pn532:
// the driver and the emulator check each other, so they must not share a
// codec.

// Frame identifiers (§6.2.1.1).
const (
	tfiHost   byte = 0xD4 // host controller → PN532
	tfiDevice byte = 0xD5 // PN532 → host controller
)

// maxLength is the largest LENGTH (TFI + packet data) the PN532 firmware
// takes in an extended information frame: 264 packet data bytes, 265 with
// the TFI (§6.2.1.2).
const maxLength = 265

// Fixed frames (§6.2.1.3 - §6.2.1.5).
var (
	ackFrame   = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	errorFrame = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
)

// hostKind says what scanHost found.
type hostKind uint8

const (
	hostNeedMore hostKind = iota // no complete frame yet
	hostCommand                  // an information frame with TFI D4
	hostACK                      // 00 00 FF 00 FF 00: abort
	hostNACK                     // 00 00 FF FF 00 00: send the last response again
	hostBad                      // a start code followed by no valid frame
)

// hostFrame is one thing found in the host's byte stream.
type hostFrame struct {
	kind hostKind
	// data is PD0..PDn of a command frame: the command code and its
	// parameters. It aliases the scanned buffer.
	data     []byte
	extended bool
	// why says what was wrong with a hostBad frame.
	why string
}

// startCode is the two bytes every frame has after its preamble.
var startCode = []byte{0x00, 0xFF}

// scanHost looks for the first frame in buf, the bytes received from the
// host so far, and returns it with the number of bytes to drop from buf.
//
// Anything before a 00 FF start code is dropped (preamble bytes, wake-up
// bytes, line noise). A start code followed by a length that fails its
// checksum (LCS), an impossible length, or data that fails its checksum
// (DCS) is hostBad, and only the start code is dropped, so that a frame
// hidden behind a damaged one is still found on the next scan. A frame
// whose checksums hold but whose TFI is not D4 is hostBad and dropped
// whole. The postamble is not waited for: the manual allows any number of
// 00 bytes there (§6.2.1.6), and they are skipped as the next preamble.
func scanHost(buf []byte) (hostFrame, int) {
	i := bytes.Index(buf, startCode)
	if i < 0 {
		// Keep a trailing 00: it may be the first half of a start code.
		keep := 0
		if len(buf) > 0 && buf[len(buf)-1] == 0x00 {
			keep = 1
		}
		return hostFrame{kind: hostNeedMore}, len(buf) - keep
	}
	p := i + len(startCode)
	if len(buf) < p+2 {
		return hostFrame{kind: hostNeedMore}, i
	}
	l0, l1 := buf[p], buf[p+1]
	switch {
	case l0 == 0x00 && l1 == 0xFF:
		return hostFrame{kind: hostACK}, p + 2
	case l0 == 0xFF && l1 == 0x00:
		return hostFrame{kind: hostNACK}, p + 2
	}
	var (
		length   int
		body     int // index of the TFI
		extended bool
	)
	if l0 == 0xFF && l1 == 0xFF {
		if len(buf) < p+5 {
			return hostFrame{kind: hostNeedMore}, i
		}
		lenM, lenL, lcs := buf[p+2], buf[p+3], buf[p+4]
		if lenM+lenL+lcs != 0 {
			return hostFrame{kind: hostBad, why: "extended LCS"}, p
		}
		length, body, extended = int(lenM)<<8|int(lenL), p+5, true
	} else {
		if l0+l1 != 0 {
			return hostFrame{kind: hostBad, why: "LCS"}, p
		}
		length, body = int(l0), p+2
	}
	if length < 2 || length > maxLength {
		// A command needs at least the TFI and the command code.
		return hostFrame{kind: hostBad, why: "length"}, p
	}
	if len(buf) < body+length+1 {
		return hostFrame{kind: hostNeedMore}, i
	}
	var sum byte
	for _, b := range buf[body : body+length+1] { // TFI … PDn DCS
		sum += b
	}
	if sum != 0 {
		return hostFrame{kind: hostBad, why: "DCS"}, p
	}
	end := body + length + 1
	if buf[body] != tfiHost {
		return hostFrame{kind: hostBad, why: "TFI"}, end
	}
	return hostFrame{kind: hostCommand, data: buf[body+1 : body+length], extended: extended}, end
}

// responseFrame builds a PN532 → host information frame carrying the
// response code and data. Like the chip (§6.2.1.2), it uses a normal frame
// when TFI + packet data fit in LEN (≤ 255 bytes) and an extended frame
// above that. The caller keeps the packet data within 264 bytes.
func responseFrame(code byte, data []byte) []byte {
	length := 2 + len(data) // TFI, response code, data
	out := make([]byte, 0, length+10)
	out = append(out, 0x00, 0x00, 0xFF)
	if length <= 0xFF {
		out = append(out, byte(length), -byte(length))
	} else {
		m, l := byte(length>>8), byte(length)
		out = append(out, 0xFF, 0xFF, m, l, -(m + l))
	}
	sum := tfiDevice + code
	out = append(out, tfiDevice, code)
	for _, b := range data {
		sum += b
	}
	out = append(out, data...)
	out = append(out, -sum, 0x00)
	return out
}
