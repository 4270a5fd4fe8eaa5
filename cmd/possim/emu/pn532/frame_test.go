package pn532

import (
	"bytes"
	"testing"
)

func TestScanHostGolden(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		kind     hostKind
		data     string
		consumed int
	}{
		{"ACK", "00 00 FF 00 FF 00", hostACK, "", 5},
		{"NACK", "00 00 FF FF 00 00", hostNACK, "", 5},
		{"GetFirmwareVersion", "00 00 FF 02 FE D4 02 2A 00", hostCommand, "02", 8},
		{"SAMConfiguration", "00 00 FF 05 FB D4 14 01 14 01 02 00", hostCommand, "14 01 14 01", 11},
		{"after noise", "55 55 00 00 00 7E 00 00 FF 02 FE D4 02 2A 00", hostCommand, "02", 14},
		{"no preamble", "00 FF 02 FE D4 02 2A", hostCommand, "02", 7},
		{"extended form of a short frame", "00 00 FF FF FF 00 02 FE D4 02 2A 00", hostCommand, "02", 11},
		{"half", "00 00 FF 02 FE D4", hostNeedMore, "", 1},
		{"noise only", "12 34 56", hostNeedMore, "", 3},
		{"noise then 00", "12 34 00", hostNeedMore, "", 2},
		{"bad LCS", "00 00 FF 02 FD D4 02 2A 00", hostBad, "", 3},
		{"bad DCS", "00 00 FF 02 FE D4 02 2B 00", hostBad, "", 3},
		{"bad TFI", "00 00 FF 02 FE D5 02 29 00", hostBad, "", 8},
		{"zero length", "00 00 FF 00 00", hostBad, "", 3},
		{"error frame", "00 00 FF 01 FF 7F 81 00", hostBad, "", 3},
		{"extended too long", "00 00 FF FF FF 01 0A F5", hostBad, "", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, n := scanHost(unhex(t, c.in))
			if f.kind != c.kind || n != c.consumed || !bytes.Equal(f.data, unhex(t, c.data)) {
				t.Fatalf("kind %d data % X consumed %d; want %d %s %d", f.kind, f.data, n, c.kind, c.data, c.consumed)
			}
		})
	}
}

// TestScanHostExtended: a 300-parameter host frame (LENGTH 302 would be
// too long; 263 parameters is the limit) is found and checked.
func TestScanHostExtended(t *testing.T) {
	params := make([]byte, 263)
	for i := range params {
		params[i] = byte(i * 7)
	}
	fr := hostFrameBytes(0x40, params...)
	if fr[3] != 0xFF || fr[4] != 0xFF {
		t.Fatalf("test helper built no extended frame: % X", fr[:8])
	}
	f, n := scanHost(fr)
	if f.kind != hostCommand || !f.extended || n != len(fr)-1 || !bytes.Equal(f.data, append([]byte{0x40}, params...)) {
		t.Fatalf("kind %d extended %v consumed %d of %d", f.kind, f.extended, n, len(fr))
	}
	f, _ = scanHost(hostFrameBytes(0x40, append(params, 0x00)...))
	if f.kind != hostBad || f.why != "length" {
		t.Fatalf("264 parameters: kind %d why %q, want a length error", f.kind, f.why)
	}
}

// TestScanHostFindsFrameBehindDamage: a frame whose length byte was hit
// must not swallow the good frame after it.
func TestScanHostFindsFrameBehindDamage(t *testing.T) {
	good := hostFrameBytes(0x02)
	damaged := hostFrameBytes(0x40, 0x01, 0x00, 0xA4, 0x04, 0x00)
	// LEN now claims 12 bytes, reaching into the good frame's start code,
	// and LCS agrees: only the DCS can tell. (A LEN that only adds 00
	// bytes would pass the DCS: an additive checksum cannot see zeros.)
	damaged[3] = 0x0C
	damaged[4] = 0xF4
	buf := append(damaged, good...)
	for range 10 {
		f, n := scanHost(buf)
		buf = buf[n:]
		if f.kind == hostCommand {
			if !bytes.Equal(f.data, []byte{0x02}) {
				t.Fatalf("found % X", f.data)
			}
			return
		}
		if f.kind == hostNeedMore {
			break
		}
	}
	t.Fatal("the good frame after the damaged one was lost")
}

// TestResponseFrame checks the chip's frames by the manual's rules,
// against frames captured from real PN532 boards.
func TestResponseFrame(t *testing.T) {
	if got, want := responseFrame(0x03, []byte{0x32, 0x01, 0x06, 0x07}), unhex(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00"); !bytes.Equal(got, want) {
		t.Fatalf("got % X want % X", got, want)
	}
	if got, want := responseFrame(0x15, nil), unhex(t, "00 00 FF 02 FE D5 15 16 00"); !bytes.Equal(got, want) {
		t.Fatalf("got % X want % X", got, want)
	}
	// Normal frame up to LEN 255 (253 data bytes), extended from 254.
	for _, n := range []int{253, 254, 262} {
		data := bytes.Repeat([]byte{0xAB}, n)
		fr := responseFrame(0x41, data)
		ext := fr[3] == 0xFF && fr[4] == 0xFF
		if ext != (n > 253) {
			t.Fatalf("%d data bytes: extended=%v", n, ext)
		}
		var sum byte
		start := 5
		if ext {
			start = 8
			if byte(fr[5]+fr[6]+fr[7]) != 0 || int(fr[5])<<8|int(fr[6]) != n+2 {
				t.Fatalf("%d: bad extended length % X", n, fr[:8])
			}
		}
		for _, b := range fr[start : len(fr)-1] {
			sum += b
		}
		if sum != 0 || fr[len(fr)-1] != 0 || len(fr) != start+n+2+2 {
			t.Fatalf("%d: DCS/postamble/length wrong", n)
		}
	}
}

// FuzzScanHost: whatever the host sends, scanning never panics, always
// makes progress on a frame or an error, never claims more than it has,
// and a command frame it returns passes the manual's checksum rules.
func FuzzScanHost(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00})
	f.Add([]byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00})
	f.Add([]byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00})
	f.Add([]byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00})
	f.Add([]byte{0x55, 0x55, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x01})
	f.Add([]byte{0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02})
	f.Fuzz(func(t *testing.T, buf []byte) {
		for guard := 0; len(buf) > 0 && guard < 4096; guard++ {
			fr, n := scanHost(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("consumed %d of %d", n, len(buf))
			}
			if fr.kind == hostNeedMore {
				return
			}
			if n == 0 {
				t.Fatalf("kind %d consumed nothing", fr.kind)
			}
			if fr.kind == hostCommand && (len(fr.data) < 1 || len(fr.data) > 264) {
				t.Fatalf("command data of %d bytes", len(fr.data))
			}
			buf = buf[n:]
		}
	})
}
