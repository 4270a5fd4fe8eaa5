package pn532

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// hx parses "00 00 FF …" into bytes.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// checkSums verifies a normal information frame's checksums the way the
// user manual states them (§6.2.1.1), independently of the codec: the low
// byte of LEN+LCS is 0, the low byte of TFI+PD0+…+PDn+DCS is 0, and LEN
// counts TFI and data.
func checkSums(t *testing.T, frame []byte) {
	t.Helper()
	if len(frame) < 8 || !bytes.Equal(frame[:3], []byte{0, 0, 0xFF}) || frame[len(frame)-1] != 0 {
		t.Fatalf("% X: not a normal frame with preamble, start code and postamble", frame)
	}
	ln, lcs := int(frame[3]), int(frame[4])
	if (ln+lcs)&0xFF != 0 {
		t.Errorf("% X: LEN 0x%02X + LCS 0x%02X = 0x%X, low byte not 0", frame, ln, lcs, ln+lcs)
	}
	if ln != len(frame)-7 {
		t.Errorf("% X: LEN %d, frame carries %d TFI+data bytes", frame, ln, len(frame)-7)
	}
	sum := 0
	for _, b := range frame[5 : len(frame)-1] { // TFI … DCS
		sum += int(b)
	}
	if sum&0xFF != 0 {
		t.Errorf("% X: TFI+data+DCS = 0x%X, low byte not 0", frame, sum)
	}
}

// Golden command frames: from the PN532 user manual examples and from
// traces of real devices quoted in public issue threads.
func TestEncodeFrameGolden(t *testing.T) {
	tests := []struct {
		name   string
		cmd    byte
		params string
		want   string
	}{
		// UM0701-02 §7.2.2 GetFirmwareVersion.
		{"GetFirmwareVersion", 0x02, "", "00 00 FF 02 FE D4 02 2A 00"},
		// UM0701-02 §7.2.10, normal mode, timeout 0x14 (1 s), IRQ used.
		{"SAMConfiguration 5-byte", 0x14, "01 14 01", "00 00 FF 05 FB D4 14 01 14 01 02 00"},
		// The minimal form clone boards accept (nfcpy#158).
		{"SAMConfiguration minimal", 0x14, "01", "00 00 FF 03 FD D4 14 01 17 00"},
		// InListPassiveTarget MaxTg 1, 106 kbps type A (NXP community thread 474941).
		{"InListPassiveTarget", 0x4A, "01 00", "00 00 FF 04 FC D4 4A 01 00 E1 00"},
		// libnfc traces (nfc-tools/libnfc#617, #167).
		{"SetParameters", 0x12, "04", "00 00 FF 03 FD D4 12 04 16 00"},
		{"ReadRegister", 0x06, "63 3D", "00 00 FF 04 FC D4 06 63 3D 86 00"},
		{"InDeselect", 0x44, "00", "00 00 FF 03 FD D4 44 00 E8 00"},
		{"RFConfiguration", 0x32, "01 00", "00 00 FF 04 FC D4 32 01 00 F9 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := hx(t, tt.want)
			checkSums(t, want) // the golden bytes themselves obey the manual
			got, err := EncodeFrame(tt.cmd, hx(t, tt.params))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("EncodeFrame(0x%02X, %s) = % X, want % X", tt.cmd, tt.params, got, want)
			}
			f, n, err := DecodeHostFrame(got)
			if err != nil || n != len(got) || f.Kind != KindInfo || f.TFI != TFIHost {
				t.Fatalf("DecodeHostFrame = %+v, %d, %v", f, n, err)
			}
			if f.Data[0] != tt.cmd || !bytes.Equal(f.Data[1:], hx(t, tt.params)) {
				t.Errorf("round trip data % X", f.Data)
			}
		})
	}
}

func TestDecodeFrameGolden(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind FrameKind
		data string
	}{
		// UM0701-02 §7.2.2: PN532 V1.6, supports ISO 14443A/B and ISO 18092.
		{"GetFirmwareVersion response", "00 00 FF 06 FA D5 03 32 01 06 07 E8 00", KindInfo, "03 32 01 06 07"},
		// libnfc traces (nfc-tools/libnfc#167, #617).
		{"RFConfiguration response", "00 00 FF 02 FE D5 33 F8 00", KindInfo, "33"},
		{"SetParameters response", "00 00 FF 02 FE D5 13 18 00", KindInfo, "13"},
		{"InCommunicateThru response", "00 00 FF 04 FC D5 43 00 01 E7 00", KindInfo, "43 00 01"},
		{"ACK", "00 00 FF 00 FF 00", KindACK, ""},
		{"NACK", "00 00 FF FF 00 00", KindNACK, ""},
		{"error frame", "00 00 FF 01 FF 7F 81 00", KindError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := hx(t, tt.in)
			if tt.kind == KindInfo || tt.kind == KindError {
				checkSums(t, in)
			}
			f, n, err := DecodeFrame(in)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(in) || f.Kind != tt.kind || f.Skipped != 0 {
				t.Fatalf("got kind %v consumed %d skipped %d, want %v %d 0", f.Kind, n, f.Skipped, tt.kind, len(in))
			}
			if !bytes.Equal(f.Data, hx(t, tt.data)) {
				t.Errorf("data % X, want %s", f.Data, tt.data)
			}
			if tt.kind == KindInfo {
				re, err := EncodeResponse(f.Data[0], f.Data[1:])
				if err != nil || !bytes.Equal(re, in) {
					t.Errorf("EncodeResponse round trip = % X, %v", re, err)
				}
			}
		})
	}
	if !bytes.Equal(ACK, hx(t, "00 00 FF 00 FF 00")) || !bytes.Equal(NACK, hx(t, "00 00 FF FF 00 00")) ||
		!bytes.Equal(ErrorFrame, hx(t, "00 00 FF 01 FF 7F 81 00")) {
		t.Error("ACK, NACK or ErrorFrame constant differs from UM §6.2.1.3-5")
	}
	if !bytes.Equal(ackFrame, ACK) || !bytes.Equal(nackFrame, NACK) {
		t.Error("the driver's private ACK/NACK copies differ from the exported frames")
	}
}

func TestExtendedFrames(t *testing.T) {
	// A 262-byte APDU to target 1: TFI + 40 + Tg + 262 = 265 bytes, the
	// firmware maximum, in an extended frame.
	apdu := make([]byte, 262)
	for i := range apdu {
		apdu[i] = byte(i * 7)
	}
	params := append([]byte{0x01}, apdu...)
	fr, err := EncodeFrame(0x40, params)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fr[:8], hx(t, "00 00 FF FF FF 01 09 F6")) {
		t.Fatalf("extended header % X, want 00 00 FF FF FF 01 09 F6 (LEN 265, LCS -(01+09))", fr[:8])
	}
	if len(fr) != 265+extendedOverhead {
		t.Fatalf("frame length %d", len(fr))
	}
	sum := 0
	for _, b := range fr[8 : len(fr)-1] {
		sum += int(b)
	}
	if sum&0xFF != 0 || fr[len(fr)-1] != 0 {
		t.Fatalf("DCS or postamble wrong")
	}
	f, n, err := DecodeHostFrame(fr)
	if err != nil || n != len(fr) || !f.Extended || !bytes.Equal(f.Data[1:], params) {
		t.Fatalf("decode extended: %v, n=%d, extended=%v", err, n, f.Extended)
	}

	// Boundary: 253 parameter bytes still fit a normal frame (LEN 255),
	// 254 need an extended one.
	for _, tc := range []struct {
		n        int
		extended bool
	}{{253, false}, {254, true}, {MaxParams, true}} {
		fr, err := EncodeFrame(0x40, make([]byte, tc.n))
		if err != nil {
			t.Fatal(err)
		}
		ext := fr[3] == 0xFF && fr[4] == 0xFF
		if ext != tc.extended {
			t.Errorf("%d params: extended=%v, want %v", tc.n, ext, tc.extended)
		}
		if !tc.extended {
			checkSums(t, fr)
		}
		if len(fr) != frameLen(1+tc.n) {
			t.Errorf("%d params: frameLen says %d, frame is %d", tc.n, frameLen(1+tc.n), len(fr))
		}
	}
	if _, err := EncodeFrame(0x40, make([]byte, MaxParams+1)); !errors.Is(err, ErrTooLong) ||
		!strings.Contains(err.Error(), "264 parameter bytes") || !strings.Contains(err.Error(), "limit 263") {
		t.Errorf("EncodeFrame over the limit: %v", err)
	}
	if _, err := EncodeResponse(0x41, make([]byte, MaxParams+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("EncodeResponse over the limit: %v", err)
	}

	// A host may send short data in an extended frame (§6.2.1.2); the
	// decoder accepts it.
	short := hx(t, "00 00 FF FF FF 00 02 FE D5 03 28 00")
	f, n, err = DecodeFrame(short)
	if err != nil || n != len(short) || !f.Extended || !bytes.Equal(f.Data, []byte{0x03}) {
		t.Errorf("short extended frame: %+v %d %v", f, n, err)
	}
}

func TestDecodeStream(t *testing.T) {
	fw := hx(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
	stream := append(append([]byte{}, ACK...), fw...)

	// Every proper prefix of a frame is incomplete; what the decoder drops
	// of it (a preamble zero) does not stop the frame from decoding once
	// the rest arrives.
	for i := 0; i < len(fw); i++ {
		_, n, err := DecodeFrame(fw[:i])
		if !errors.Is(err, ErrNeedMore) {
			t.Fatalf("prefix %d: err %v, want ErrNeedMore", i, err)
		}
		if n > 1 {
			t.Fatalf("prefix %d: consumed %d bytes of a good frame", i, n)
		}
		joined := append(append([]byte{}, fw[n:i]...), fw[i:]...)
		if f, _, err := DecodeFrame(joined); err != nil || f.Kind != KindInfo {
			t.Fatalf("prefix %d then the rest: %v", i, err)
		}
	}

	// Two frames back to back come out one after the other.
	f, n, err := DecodeFrame(stream)
	if err != nil || f.Kind != KindACK || n != len(ACK) {
		t.Fatalf("first: %v %v %d", f.Kind, err, n)
	}
	f, n2, err := DecodeFrame(stream[n:])
	if err != nil || f.Kind != KindInfo || n2 != len(fw) {
		t.Fatalf("second: %v %v %d", f.Kind, err, n2)
	}

	// Garbage and extra preamble zeros before a frame are skipped and the
	// non-zero bytes counted; the postamble may be followed by more zeros.
	noisy := append(hx(t, "55 55 00 00 00 13 FF 00 00 00"), fw...)
	noisy = append(noisy, 0x00, 0x00)
	f, n, err = DecodeFrame(noisy)
	if err != nil || f.Kind != KindInfo || n != len(noisy)-2 {
		t.Fatalf("noisy: %v %v consumed %d of %d", f.Kind, err, n, len(noisy))
	}
	if f.Skipped != 4 {
		t.Errorf("skipped %d, want 4 (55 55 13 FF)", f.Skipped)
	}
	if _, n, err = DecodeFrame(noisy[n:]); !errors.Is(err, ErrNeedMore) || n != 1 {
		t.Errorf("trailing zeros: consumed %d, %v; want 1 dropped, 1 kept", n, err)
	}

	// Garbage without any start code is dropped, except a trailing 00.
	f, n, err = DecodeFrame(hx(t, "12 34 56 00"))
	if !errors.Is(err, ErrNeedMore) || n != 3 || f.Skipped != 3 {
		t.Errorf("garbage: %d %d %v", n, f.Skipped, err)
	}
	f, n, err = DecodeFrame(hx(t, "12 34 56"))
	if !errors.Is(err, ErrNeedMore) || n != 3 || f.Skipped != 3 {
		t.Errorf("garbage without 00: %d %d %v", n, f.Skipped, err)
	}
	if _, n, err := DecodeFrame(nil); !errors.Is(err, ErrNeedMore) || n != 0 {
		t.Errorf("empty: %d %v", n, err)
	}
}

func TestDecodeBadFrames(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     error
		consumed int
		msg      string
	}{
		{"LCS mismatch", "00 00 FF 06 FB D5 03 32 01 06 07 E8 00", ErrChecksum, 3, "LCS 0xFB for LEN 0x06"},
		{"DCS mismatch", "00 00 FF 06 FA D5 03 32 01 06 07 E9 00", ErrChecksum, 3, "DCS 0xE9"},
		{"postamble not 00", "00 00 FF 06 FA D5 03 32 01 06 07 E8 01", ErrBadFrame, 13, "postamble 0x01"},
		{"host TFI from device", "00 00 FF 02 FE D4 02 2A 00", ErrBadFrame, 9, "TFI 0xD4"},
		{"zero length", "00 00 FF 00 00 00 00", ErrBadFrame, 3, "zero length"},
		{"no command code", "00 00 FF 01 FF D5 2B 00", ErrBadFrame, 8, "without a command code"},
		{"ACK bad postamble", "00 00 FF 00 FF 01", ErrBadFrame, 3, "ACK postamble"},
		{"NACK bad postamble", "00 00 FF FF 00 FF", ErrBadFrame, 3, "NACK postamble"},
		{"extended LCS mismatch", "00 00 FF FF FF 01 09 F7", ErrChecksum, 3, "extended LCS"},
		{"extended too long", "00 00 FF FF FF 01 0A F5", ErrBadFrame, 3, "limit 265"},
		{"extended zero length", "00 00 FF FF FF 00 00 00", ErrBadFrame, 3, "zero length"},
		{"garbage then LCS mismatch", "AA BB 00 FF 10 10", ErrChecksum, 4, "offset 5"},
		{"extended error TFI", "00 00 FF FF FF 00 01 FF 7F 81 00", ErrBadFrame, 11, "TFI 0x7F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := hx(t, tt.in)
			_, n, err := DecodeFrame(in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if n != tt.consumed {
				t.Errorf("consumed %d, want %d", n, tt.consumed)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// A damaged frame costs only itself: a good frame right behind it is found
// after the skip, even when the damage is a lost byte that makes the first
// frame's length reach into the second.
func TestDecodeResyncAfterDamage(t *testing.T) {
	good := hx(t, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
	lost := append(hx(t, "00 00 FF 06 FA D5 03 32 06 07 E8 00"), good...) // byte 01 lost
	var frames []Frame
	buf := lost
	for len(buf) > 0 {
		f, n, err := DecodeFrame(buf)
		if errors.Is(err, ErrNeedMore) && n == 0 {
			break
		}
		if err == nil {
			frames = append(frames, f)
		}
		buf = buf[n:]
	}
	if len(frames) != 1 || !bytes.Equal(frames[0].Data, hx(t, "03 32 01 06 07")) {
		t.Fatalf("after a lost byte got %d frames, want the good one", len(frames))
	}
}

func FuzzDecodeFrame(f *testing.F) {
	seeds := []string{
		"00 00 FF 06 FA D5 03 32 01 06 07 E8 00",
		"00 00 FF 00 FF 00 00 00 FF 02 FE D5 33 F8 00",
		"00 00 FF FF 00 00",
		"00 00 FF 01 FF 7F 81 00",
		"00 00 FF FF FF 00 02 FE D5 03 28 00",
		"00 00 FF FF FF 01 09 F6 D5 41 00",
		"55 55 00 00 00 FF 10 10 00 FF",
		"00 FF",
		"",
	}
	for _, s := range seeds {
		f.Add(hx(f, s))
	}
	big, _ := EncodeResponse(0x41, make([]byte, 263))
	f.Add(big)
	f.Fuzz(func(t *testing.T, buf []byte) {
		fuzzDecoder(t, buf, DecodeFrame, TFIDevice)
	})
}

func FuzzDecodeHostFrame(f *testing.F) {
	for _, s := range []string{
		"00 00 FF 02 FE D4 02 2A 00",
		"00 00 FF 05 FB D4 14 01 14 01 02 00",
		"55 55 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 FF 03 FD D4 14 01 17 00",
		"00 00 FF 00 FF 00",
	} {
		f.Add(hx(f, s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		fuzzDecoder(t, buf, DecodeHostFrame, TFIHost)
	})
}

// fuzzDecoder checks the decoder contract on arbitrary input: no panic,
// consumed within bounds, progress on every error but ErrNeedMore, a
// decoded information frame re-encodes to the bytes it came from, and a
// decode loop over the buffer ends.
func fuzzDecoder(t *testing.T, buf []byte, dec func([]byte) (Frame, int, error), tfi byte) {
	fr, n, err := dec(buf)
	if n < 0 || n > len(buf) {
		t.Fatalf("consumed %d of %d", n, len(buf))
	}
	switch {
	case err == nil:
		if n == 0 {
			t.Fatal("a frame consumed nothing")
		}
		if fr.Kind == KindInfo {
			if fr.TFI != tfi || len(fr.Data) == 0 || len(fr.Data) > MaxPacketData {
				t.Fatalf("info frame TFI %02X with %d data bytes", fr.TFI, len(fr.Data))
			}
			re := appendFrame(nil, tfi, fr.Data[0], fr.Data[1:])
			if fr.Extended && len(fr.Data)+1 <= MaxNormalLen {
				break // a short extended frame re-encodes as a normal one
			}
			re = re[1:] // the decoder needs only the 00 FF start code, not the preamble
			if !bytes.Equal(re, buf[n-len(re):n]) {
				t.Fatalf("re-encoded % X, decoded from % X", re, buf[n-len(re):n])
			}
		}
	case errors.Is(err, ErrNeedMore):
	case errors.Is(err, ErrChecksum), errors.Is(err, ErrBadFrame):
		if n == 0 {
			t.Fatalf("%v consumed nothing: a decode loop would spin", err)
		}
	default:
		t.Fatalf("unexpected error kind %v", err)
	}
	// The driver's loop: decode until only an incomplete tail is left.
	rest, steps := buf, 0
	for {
		_, n, err := dec(rest)
		rest = rest[n:]
		if errors.Is(err, ErrNeedMore) && n == 0 {
			break
		}
		steps++
		if steps > len(buf)+1 {
			t.Fatalf("decode loop did not end after %d steps on %d bytes", steps, len(buf))
		}
	}
}

func TestFrameKindString(t *testing.T) {
	for k, want := range map[FrameKind]string{KindInfo: "info", KindACK: "ACK", KindNACK: "NACK", KindError: "error", 9: "FrameKind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}
