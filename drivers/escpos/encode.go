package escpos

import (
	"fmt"
	"time"
)

// ASCII control codes that start ESC/POS commands.
const (
	NUL = 0x00
	EOT = 0x04
	LF  = 0x0A
	DLE = 0x10
	ESC = 0x1B
	FS  = 0x1C
	GS  = 0x1D
)

// Align is a justification for ESC a n.
type Align byte

// Justifications (ESC a n: 0 left, 1 centred, 2 right).
const (
	AlignLeft   Align = 0
	AlignCenter Align = 1
	AlignRight  Align = 2
)

// Builder appends ESC/POS commands to a byte slice. It does no I/O and
// keeps no state except the text encoding for Text/Line and the offsets
// where each command starts (Boundaries), which the driver uses to split a
// job only between commands.
//
// The zero value is ready to use: no Chinese encoding and code page PC437
// (the printer's default after ESC @). Methods that take a parameter with a
// limited range return an error wrapping ErrParam and append nothing when
// the value is outside it.
type Builder struct {
	buf   []byte
	marks []int
	text  textEncoder
}

// NewBuilder returns a Builder whose Text and Line encode with enc
// (EncodingNone for Latin-only printers).
func NewBuilder(enc Encoding) (*Builder, error) {
	if !enc.Valid() {
		return nil, fmt.Errorf("%w: encoding %q (want gbk, gb18030, utf8 or none)", ErrParam, enc)
	}
	b := &Builder{}
	b.text.enc = enc
	return b, nil
}

// Bytes returns the bytes built so far. The slice aliases the Builder's
// buffer until the next append.
func (b *Builder) Bytes() []byte { return b.buf }

// Len returns the number of bytes built so far.
func (b *Builder) Len() int { return len(b.buf) }

// Reset empties the Builder, keeping its encoding and code page.
func (b *Builder) Reset() {
	b.buf = b.buf[:0]
	b.marks = b.marks[:0]
}

// Boundaries returns the offsets at which each command (or text run)
// starts, in increasing order. Splitting the bytes only at these offsets
// never cuts a command, a raster strip or a double-byte character in two.
func (b *Builder) Boundaries() []int {
	out := make([]int, len(b.marks))
	copy(out, b.marks)
	return out
}

// cmd records a command boundary and appends p.
func (b *Builder) cmd(p ...byte) {
	b.mark()
	b.buf = append(b.buf, p...)
}

func (b *Builder) mark() {
	if n := len(b.marks); n > 0 && b.marks[n-1] == len(b.buf) {
		return
	}
	b.marks = append(b.marks, len(b.buf))
}

// Raw appends bytes as one unit (one boundary before them). It is for
// commands this Builder does not cover; nothing is checked.
func (b *Builder) Raw(p []byte) { b.cmd(p...) }

// Init appends ESC @ (1B 40), "Initialize printer": clears the print
// buffer and returns every mode to its power-on default, including code
// page 0 (PC437).
func (b *Builder) Init() {
	b.cmd(ESC, '@')
	b.text.page = PC437
}

// LF appends LF (0A), "Print and line feed".
func (b *Builder) LF() { b.cmd(LF) }

// Bold appends ESC E n (1B 45 n), "Turn emphasized mode on/off": n = 1
// on, 0 off.
func (b *Builder) Bold(on bool) { b.cmd(ESC, 'E', bit(on)) }

// Underline appends ESC - n (1B 2D n), "Turn underline mode on/off":
// n = 0 off, 1 one dot thick, 2 two dots thick.
func (b *Builder) Underline(n int) error {
	if n < 0 || n > 2 {
		return fmt.Errorf("%w: underline %d (want 0-2)", ErrParam, n)
	}
	b.cmd(ESC, '-', byte(n))
	return nil
}

// Size appends GS ! n (1D 21 n), "Select character size": bits 0-3 hold
// the height magnification minus one and bits 4-7 the width magnification
// minus one, so n = (width-1)<<4 | (height-1). width and height are 1-8
// ("1 ≤ vertical/horizontal number of times ≤ 8"); Size(2, 2) is 0x11,
// double width and height.
func (b *Builder) Size(width, height int) error {
	if width < 1 || width > 8 {
		return fmt.Errorf("%w: character width %d (want 1-8)", ErrParam, width)
	}
	if height < 1 || height > 8 {
		return fmt.Errorf("%w: character height %d (want 1-8)", ErrParam, height)
	}
	b.cmd(GS, '!', byte(width-1)<<4|byte(height-1))
	return nil
}

// Align appends ESC a n (1B 61 n), "Select justification": 0 left,
// 1 centred, 2 right. It takes effect at the beginning of a line and also
// justifies bar codes and raster images.
func (b *Builder) Align(a Align) error {
	if a > AlignRight {
		return fmt.Errorf("%w: justification %d (want 0-2)", ErrParam, a)
	}
	b.cmd(ESC, 'a', byte(a))
	return nil
}

// LineSpacing appends ESC 3 n (1B 33 n), "Set line spacing" to n motion
// units.
func (b *Builder) LineSpacing(n byte) { b.cmd(ESC, '3', n) }

// DefaultLineSpacing appends ESC 2 (1B 32), "Select default line spacing"
// (1/6 inch).
func (b *Builder) DefaultLineSpacing() { b.cmd(ESC, '2') }

// Feed appends ESC d n (1B 64 n), "Print and feed n lines".
func (b *Builder) Feed(n byte) { b.cmd(ESC, 'd', n) }

// Cut appends GS V m (1D 56 m), "Select cut mode and cut paper", without
// feeding: m = 0 full cut, m = 1 partial cut (one point left uncut).
// Models with only a partial cutter treat a full cut as partial.
func (b *Builder) Cut(partial bool) { b.cmd(GS, 'V', bit(partial)) }

// FeedCut appends GS V 66 n (1D 56 42 n): feed the paper to the cutting
// position plus n motion units, then partial cut. With n = 0 the last
// printed line clears the cutter. Without an autocutter the printer only
// feeds.
func (b *Builder) FeedCut(n byte) { b.cmd(GS, 'V', 66, n) }

// DrawerPin selects the drawer kick-out connector pin for ESC p.
type DrawerPin byte

// Drawer kick-out connector pins (ESC p m: m = 0 pin 2, m = 1 pin 5).
const (
	DrawerPin2 DrawerPin = 0
	DrawerPin5 DrawerPin = 1
)

// DrawerKick appends ESC p m t1 t2 (1B 70 m t1 t2), "Generate pulse":
// the ON time is t1 × 2 ms and the OFF time t2 × 2 ms, so on and off
// must be whole multiples of 2 ms between 2 ms and 510 ms. A common
// setting is 100 ms on, 100 ms off (t1 = t2 = 50).
func (b *Builder) DrawerKick(pin DrawerPin, on, off time.Duration) error {
	if pin > DrawerPin5 {
		return fmt.Errorf("%w: drawer pin selector %d (want 0 for pin 2, 1 for pin 5)", ErrParam, pin)
	}
	t1, err := pulseUnits("on", on)
	if err != nil {
		return err
	}
	t2, err := pulseUnits("off", off)
	if err != nil {
		return err
	}
	b.cmd(ESC, 'p', byte(pin), t1, t2)
	return nil
}

func pulseUnits(name string, d time.Duration) (byte, error) {
	const unit = 2 * time.Millisecond
	if d < unit || d > 255*unit || d%unit != 0 {
		return 0, fmt.Errorf("%w: drawer pulse %s time %v (want a multiple of 2ms, 2ms-510ms)", ErrParam, name, d)
	}
	return byte(d / unit), nil
}

// HRIPosition is where GS H prints the human-readable interpretation of a
// bar code.
type HRIPosition byte

// HRI positions (GS H n).
const (
	HRINone  HRIPosition = 0
	HRIAbove HRIPosition = 1
	HRIBelow HRIPosition = 2
	HRIBoth  HRIPosition = 3
)

// BarcodeHRI appends GS H n (1D 48 n), "Select print position of HRI
// characters": 0 none, 1 above, 2 below, 3 both.
func (b *Builder) BarcodeHRI(p HRIPosition) error {
	if p > HRIBoth {
		return fmt.Errorf("%w: HRI position %d (want 0-3)", ErrParam, p)
	}
	b.cmd(GS, 'H', byte(p))
	return nil
}

// BarcodeHeight appends GS h n (1D 68 n), "Set bar code height" in dots,
// 1-255.
func (b *Builder) BarcodeHeight(dots int) error {
	if dots < 1 || dots > 255 {
		return fmt.Errorf("%w: bar code height %d dots (want 1-255)", ErrParam, dots)
	}
	b.cmd(GS, 'h', byte(dots))
	return nil
}

// BarcodeWidth appends GS w n (1D 77 n), "Set bar code width": module
// width n, 2-6.
func (b *Builder) BarcodeWidth(n int) error {
	if n < 2 || n > 6 {
		return fmt.Errorf("%w: bar code module width %d (want 2-6)", ErrParam, n)
	}
	b.cmd(GS, 'w', byte(n))
	return nil
}

// Code128 appends GS k 73 n {B d1…dn (1D 6B 49 n 7B 42 …), "Print bar
// code" in CODE128 code set B. data must be printable ASCII (0x20-0x7E);
// a '{' in data is sent as "{{" as the reference requires, and n counts
// the "{B" prefix, so at most 255 bytes go after n.
func (b *Builder) Code128(data string) error {
	if data == "" {
		return fmt.Errorf("%w: CODE128 data is empty", ErrParam)
	}
	body := []byte{'{', 'B'}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c < 0x20 || c > 0x7E {
			return fmt.Errorf("%w: CODE128 data byte %#02x at offset %d (code set B takes 0x20-0x7E)", ErrParam, c, i)
		}
		if c == '{' {
			body = append(body, '{')
		}
		body = append(body, c)
	}
	if len(body) > 255 {
		return fmt.Errorf("%w: CODE128 data is %d bytes after escaping (max 253)", ErrParam, len(body)-2)
	}
	b.mark()
	b.buf = append(b.buf, GS, 'k', 73, byte(len(body)))
	b.buf = append(b.buf, body...)
	return nil
}

// QRLevel is a QR code error-correction level for GS ( k fn 69.
type QRLevel byte

// QR error-correction levels: n = 48 L (7 %), 49 M (15 %), 50 Q (25 %),
// 51 H (30 %).
const (
	QRLevelL QRLevel = 48
	QRLevelM QRLevel = 49
	QRLevelQ QRLevel = 50
	QRLevelH QRLevel = 51
)

// QROptions are the native QR code settings.
type QROptions struct {
	// Module is the module (cell) size in dots, GS ( k fn 67: 1-16.
	// Zero means 4.
	Module int
	// Level is the error-correction level. Zero means QRLevelM.
	Level QRLevel
}

// MaxQRData is the largest QR payload GS ( k fn 80 can store:
// (pL + pH × 256) ≤ 7092, of which 3 bytes are cn, fn and m.
const MaxQRData = 7092 - 3

// QR appends the native QR code sequence of GS ( k (1D 28 6B pL pH cn fn
// …, cn = 49): fn 65 select model 2 (n1 = 50, n2 = 0), fn 67 module size,
// fn 69 error-correction level, fn 80 store data (m = 48), fn 81 print
// (m = 48). pL pH count the bytes after pH, little-endian. The whole
// sequence is one boundary. Printers without native QR print the command
// bytes as text: check Profile.SupportsQR first.
func (b *Builder) QR(data []byte, o QROptions) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: QR data is empty", ErrParam)
	}
	if len(data) > MaxQRData {
		return fmt.Errorf("%w: QR data is %d bytes (max %d)", ErrParam, len(data), MaxQRData)
	}
	mod := o.Module
	if mod == 0 {
		mod = 4
	}
	if mod < 1 || mod > 16 {
		return fmt.Errorf("%w: QR module size %d dots (want 1-16)", ErrParam, mod)
	}
	lvl := o.Level
	if lvl == 0 {
		lvl = QRLevelM
	}
	if lvl < QRLevelL || lvl > QRLevelH {
		return fmt.Errorf("%w: QR error-correction level %d (want 48-51)", ErrParam, lvl)
	}
	b.mark()
	b.buf = append(b.buf, GS, '(', 'k', 4, 0, 49, 65, 50, 0) // fn 65: model 2
	b.buf = append(b.buf, GS, '(', 'k', 3, 0, 49, 67, byte(mod))
	b.buf = append(b.buf, GS, '(', 'k', 3, 0, 49, 69, byte(lvl))
	p := len(data) + 3
	b.buf = append(b.buf, GS, '(', 'k', byte(p), byte(p>>8), 49, 80, 48)
	b.buf = append(b.buf, data...)
	b.buf = append(b.buf, GS, '(', 'k', 3, 0, 49, 81, 48)
	return nil
}

func bit(on bool) byte {
	if on {
		return 1
	}
	return 0
}
