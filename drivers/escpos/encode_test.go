package escpos

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// unhex turns "1B 40" into bytes; spaces are ignored.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func build(t *testing.T, f func(b *Builder) error) []byte {
	t.Helper()
	var b Builder
	if err := f(&b); err != nil {
		t.Fatalf("builder: %v", err)
	}
	return b.Bytes()
}

// TestGoldenCommands checks each command against the bytes its
// definition in the ESC/POS reference gives (the comment names it).
func TestGoldenCommands(t *testing.T) {
	tests := []struct {
		name string
		f    func(b *Builder) error
		want string
	}{
		// ESC @ "Initialize printer": 1B 40.
		{"init", func(b *Builder) error { b.Init(); return nil }, "1B 40"},
		// LF "Print and line feed": 0A.
		{"lf", func(b *Builder) error { b.LF(); return nil }, "0A"},
		// ESC E n "Turn emphasized mode on/off": 1B 45 n, LSB 1 = on.
		{"bold on", func(b *Builder) error { b.Bold(true); return nil }, "1B 45 01"},
		{"bold off", func(b *Builder) error { b.Bold(false); return nil }, "1B 45 00"},
		// ESC - n "Turn underline mode on/off": 1B 2D n, n = 0, 1, 2 dots.
		{"underline off", func(b *Builder) error { return b.Underline(0) }, "1B 2D 00"},
		{"underline 1", func(b *Builder) error { return b.Underline(1) }, "1B 2D 01"},
		{"underline 2", func(b *Builder) error { return b.Underline(2) }, "1B 2D 02"},
		// GS ! n "Select character size": 1D 21 n, bits 0-3 height-1,
		// bits 4-7 width-1 (Table: width 2 = 10h, height 2 = 01h).
		{"size 1x1", func(b *Builder) error { return b.Size(1, 1) }, "1D 21 00"},
		{"size 2x2", func(b *Builder) error { return b.Size(2, 2) }, "1D 21 11"},
		{"size 2w 1h", func(b *Builder) error { return b.Size(2, 1) }, "1D 21 10"},
		{"size 1w 3h", func(b *Builder) error { return b.Size(1, 3) }, "1D 21 02"},
		{"size 8x8", func(b *Builder) error { return b.Size(8, 8) }, "1D 21 77"},
		// ESC a n "Select justification": 1B 61 n, 0 left 1 centre 2 right.
		{"align left", func(b *Builder) error { return b.Align(AlignLeft) }, "1B 61 00"},
		{"align center", func(b *Builder) error { return b.Align(AlignCenter) }, "1B 61 01"},
		{"align right", func(b *Builder) error { return b.Align(AlignRight) }, "1B 61 02"},
		// ESC 3 n "Set line spacing": 1B 33 n.
		{"line spacing 30", func(b *Builder) error { b.LineSpacing(30); return nil }, "1B 33 1E"},
		// ESC 2 "Select default line spacing": 1B 32.
		{"default spacing", func(b *Builder) error { b.DefaultLineSpacing(); return nil }, "1B 32"},
		// ESC d n "Print and feed n lines": 1B 64 n.
		{"feed 3", func(b *Builder) error { b.Feed(3); return nil }, "1B 64 03"},
		// ESC t n "Select character code table": 1B 74 n, page 0 PC437,
		// 2 PC850, 5 PC865.
		{"code page 437", func(b *Builder) error { return b.CodePage(PC437) }, "1B 74 00"},
		{"code page 850", func(b *Builder) error { return b.CodePage(PC850) }, "1B 74 02"},
		{"code page 865", func(b *Builder) error { return b.CodePage(PC865) }, "1B 74 05"},
		// GS V m "Select cut mode and cut paper": 1D 56 m, 0 full, 1 partial.
		{"full cut", func(b *Builder) error { b.Cut(false); return nil }, "1D 56 00"},
		{"partial cut", func(b *Builder) error { b.Cut(true); return nil }, "1D 56 01"},
		// GS V m n with m = 66: feed to cutting position + n, partial cut.
		{"feed and cut", func(b *Builder) error { b.FeedCut(0); return nil }, "1D 56 42 00"},
		{"feed 10 and cut", func(b *Builder) error { b.FeedCut(10); return nil }, "1D 56 42 0A"},
		// ESC p m t1 t2 "Generate pulse": 1B 70 m t1 t2, m 0 = pin 2,
		// 1 = pin 5, ON t1×2 ms, OFF t2×2 ms.
		{"drawer pin 2 100/100ms", func(b *Builder) error {
			return b.DrawerKick(DrawerPin2, 100*time.Millisecond, 100*time.Millisecond)
		}, "1B 70 00 32 32"},
		{"drawer pin 5 50/250ms", func(b *Builder) error {
			return b.DrawerKick(DrawerPin5, 50*time.Millisecond, 250*time.Millisecond)
		}, "1B 70 01 19 7D"},
		// GS H n "Select print position of HRI characters": 1D 48 n.
		{"hri below", func(b *Builder) error { return b.BarcodeHRI(HRIBelow) }, "1D 48 02"},
		// GS h n "Set bar code height": 1D 68 n dots.
		{"barcode height 80", func(b *Builder) error { return b.BarcodeHeight(80) }, "1D 68 50"},
		// GS w n "Set bar code width": 1D 77 n, 2-6.
		{"barcode width 3", func(b *Builder) error { return b.BarcodeWidth(3) }, "1D 77 03"},
		// GS k m n d1…dn with m = 73 CODE128: n counts the "{B" code-set
		// selector that must start the data.
		{"code128 ABC-123", func(b *Builder) error { return b.Code128("ABC-123") },
			"1D 6B 49 09 7B 42 41 42 43 2D 31 32 33"},
		// '{' in the data is sent as "{{".
		{"code128 brace", func(b *Builder) error { return b.Code128("a{b") },
			"1D 6B 49 06 7B 42 61 7B 7B 62"},
		// GS ( k QR code, cn = 49: fn 65 model (pL=4: n1 50 = model 2,
		// n2 0), fn 67 module size, fn 69 error level (49 = M), fn 80 store
		// (pL pH = k+3, m = 48), fn 81 print (m = 48).
		{"qr HELLO", func(b *Builder) error { return b.QR([]byte("HELLO"), QROptions{Module: 6, Level: QRLevelM}) },
			"1D 28 6B 04 00 31 41 32 00" +
				"1D 28 6B 03 00 31 43 06" +
				"1D 28 6B 03 00 31 45 31" +
				"1D 28 6B 08 00 31 50 30 48 45 4C 4C 4F" +
				"1D 28 6B 03 00 31 51 30"},
		// Text: ASCII passes through unchanged.
		{"text ascii", func(b *Builder) error { b.Text("Hi 1.00"); return nil }, "48 69 20 31 2E 30 30"},
		{"line ascii", func(b *Builder) error { b.Line("OK"); return nil }, "4F 4B 0A"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := build(t, tc.f)
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("got  % X\nwant % X", got, want)
			}
		})
	}
}

// The pL pH of the QR store function is little-endian and counts cn, fn,
// m and the data: 300 bytes of data → 303 = 0x012F → pL 2F, pH 01.
func TestQRStoreLengthTwoBytes(t *testing.T) {
	data := bytes.Repeat([]byte{'7'}, 300)
	got := build(t, func(b *Builder) error { return b.QR(data, QROptions{}) })
	store := unhex(t, "1D 28 6B 2F 01 31 50 30")
	i := bytes.Index(got, store)
	if i < 0 {
		t.Fatalf("store header % X not found in % X", store, got[:40])
	}
	if !bytes.Equal(got[i+len(store):i+len(store)+300], data) {
		t.Error("data does not follow the store header")
	}
	// Defaults: module 4, level M.
	if !bytes.Contains(got, unhex(t, "1D 28 6B 03 00 31 43 04")) || !bytes.Contains(got, unhex(t, "1D 28 6B 03 00 31 45 31")) {
		t.Error("default module size 4 and level M not applied")
	}
}

func TestBuilderRejectsOutOfRange(t *testing.T) {
	tests := []struct {
		name  string
		f     func(b *Builder) error
		field string
	}{
		{"underline 3", func(b *Builder) error { return b.Underline(3) }, "underline 3"},
		{"underline -1", func(b *Builder) error { return b.Underline(-1) }, "underline -1"},
		{"size 0 width", func(b *Builder) error { return b.Size(0, 1) }, "width 0"},
		{"size 9 height", func(b *Builder) error { return b.Size(1, 9) }, "height 9"},
		{"align 3", func(b *Builder) error { return b.Align(3) }, "justification 3"},
		{"code page 99", func(b *Builder) error { return b.CodePage(99) }, "code page 99"},
		{"drawer pin 2 (selector)", func(b *Builder) error { return b.DrawerKick(2, 2*time.Millisecond, 2*time.Millisecond) }, "selector 2"},
		{"drawer 1ms", func(b *Builder) error { return b.DrawerKick(DrawerPin2, time.Millisecond, 2*time.Millisecond) }, "on time 1ms"},
		{"drawer 3ms", func(b *Builder) error { return b.DrawerKick(DrawerPin2, 2*time.Millisecond, 3*time.Millisecond) }, "off time 3ms"},
		{"drawer 512ms", func(b *Builder) error { return b.DrawerKick(DrawerPin2, 512*time.Millisecond, 2*time.Millisecond) }, "on time 512ms"},
		{"hri 4", func(b *Builder) error { return b.BarcodeHRI(4) }, "HRI position 4"},
		{"height 0", func(b *Builder) error { return b.BarcodeHeight(0) }, "height 0"},
		{"height 256", func(b *Builder) error { return b.BarcodeHeight(256) }, "height 256"},
		{"width 1", func(b *Builder) error { return b.BarcodeWidth(1) }, "width 1"},
		{"width 7", func(b *Builder) error { return b.BarcodeWidth(7) }, "width 7"},
		{"code128 empty", func(b *Builder) error { return b.Code128("") }, "empty"},
		{"code128 control", func(b *Builder) error { return b.Code128("AB\x1bC") }, "offset 2"},
		{"code128 non-ascii", func(b *Builder) error { return b.Code128("¥1") }, "offset 0"},
		{"code128 too long", func(b *Builder) error { return b.Code128(strings.Repeat("9", 254)) }, "254 bytes"},
		{"code128 braces too long", func(b *Builder) error { return b.Code128(strings.Repeat("{", 127)) }, "254 bytes"},
		{"qr empty", func(b *Builder) error { return b.QR(nil, QROptions{}) }, "empty"},
		{"qr too long", func(b *Builder) error { return b.QR(make([]byte, MaxQRData+1), QROptions{}) }, "7090 bytes"},
		{"qr module 17", func(b *Builder) error { return b.QR([]byte("x"), QROptions{Module: 17}) }, "module size 17"},
		{"qr level 52", func(b *Builder) error { return b.QR([]byte("x"), QROptions{Level: 52}) }, "level 52"},
		{"raster nil", func(b *Builder) error { return b.Raster(nil, 0) }, "empty"},
		{"raster strip 256", func(b *Builder) error { return b.Raster(NewBitmap(8, 8), 256) }, "strip height 256"},
		{"raster inconsistent", func(b *Builder) error {
			return b.Raster(&Bitmap{Width: 16, Height: 2, Stride: 2, Pix: make([]byte, 3)}, 0)
		}, "inconsistent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			err := tc.f(&b)
			if !errors.Is(err, ErrParam) {
				t.Fatalf("err = %v, want ErrParam", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %q", err, tc.field)
			}
			if b.Len() != 0 {
				t.Errorf("appended % X on error", b.Bytes())
			}
		})
	}
	// The largest CODE128 payload is accepted.
	var b Builder
	if err := b.Code128(strings.Repeat("9", 253)); err != nil {
		t.Errorf("253-byte CODE128: %v", err)
	}
	if _, err := NewBuilder("big5"); !errors.Is(err, ErrParam) {
		t.Errorf("NewBuilder(big5) err = %v, want ErrParam", err)
	}
}

func TestBoundaries(t *testing.T) {
	b, err := NewBuilder(EncodingGBK)
	if err != nil {
		t.Fatal(err)
	}
	b.Init()            // 0
	b.Line("金额 12.00")  // 2: FS & ... FS . LF is one unit
	_ = b.Size(2, 2)    // after the text run
	b.Raw([]byte{0x0A}) // raw unit
	b.Reset()           // Reset forgets everything
	b.Init()            // 0
	_ = b.Align(1)      // 2
	b.Text("A")         // 5
	b.LF()              // 6
	got := b.Boundaries()
	want := []int{0, 2, 5, 6}
	if len(got) != len(want) {
		t.Fatalf("boundaries %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("boundaries %v, want %v", got, want)
		}
	}
	got[0] = 99
	if b.Boundaries()[0] != 0 {
		t.Error("Boundaries returned the internal slice")
	}
}
