package escpos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Control codes that start commands.
const (
	ht  = 0x09
	lf  = 0x0A
	cr  = 0x0D
	dle = 0x10
	eot = 0x04
	enq = 0x05
	dc4 = 0x14
	esc = 0x1B
	fs  = 0x1C
	gs  = 0x1D
)

const (
	alignLeft   = 0
	alignCenter = 1
	alignRight  = 2
)

// maxPendingKeep bounds the data a single command may make the printer
// hold (a QR code store is at most 7092 bytes, a full-width raster strip
// of 4095 rows 300 KB); longer data is read and dropped.
const maxPendingKeep = 1 << 20

// maxPageDots bounds one receipt's paper (8 m): a stream of feeds without
// a cut must not grow an image without limit.
const maxPageDots = 65536

// modes are the print settings that ESC @ resets.
type modes struct {
	bold, dstrike bool
	ul            int // underline thickness in dots, 0 off
	mx, my        int // GS ! / ESC ! magnification
	fontB         bool
	align         int
	spacing       int
	codeTable     byte
	chinese       bool
	bcHeight      int // GS h
	bcModule      int // GS w
	hri           byte
	hriFontB      bool
	qrModule      int
	qrLevel       byte
	qrModel       byte
	qrData        []byte
	qrStored      bool
}

func defaultModes() modes {
	return modes{mx: 1, my: 1, spacing: DefaultLineSpacing, bcHeight: 162, bcModule: 3,
		qrModule: 3, qrLevel: 48, qrModel: 50}
}

// pendingCmd is a command whose data is still arriving: the data is moved
// out of the receive buffer as it comes (into the printer's image or
// symbol memory), then handle runs with all of it.
type pendingCmd struct {
	need   int
	keep   bool
	acc    []byte
	handle func(data []byte) error
}

// engine parses the receive buffer and drives the mechanism. It runs in
// one goroutine per Serve session.
type engine struct {
	p   *Printer
	ctx context.Context
	m   modes

	line  []cell
	lineW int

	pending *pendingCmd
	cut     string // set by a cut command; the receipt ends once its bytes are counted
	off     int    // byte offset of the current command in the receipt

	busy    time.Time // the mechanism is busy until then
	stood   bool      // the mechanism stood still since busy was set
	gbk     *encoding.Decoder
	gb18030 *encoding.Decoder
}

func newEngine(p *Printer, ctx context.Context) *engine {
	return &engine{p: p, ctx: ctx, m: defaultModes(),
		gbk: simplifiedchinese.GBK.NewDecoder(), gb18030: simplifiedchinese.GB18030.NewDecoder()}
}

var errNeedMore = errors.New("need more bytes")

// run takes bytes from the receive buffer and executes them until the
// context ends.
func (e *engine) run() error {
	var work []byte
	needMore := false
	for {
		if len(work) == 0 || needMore {
			var got bool
			work, got = e.p.take(work)
			if !got {
				if err := e.waitData(); err != nil {
					return err
				}
				continue
			}
		}
		var err error
		work, needMore, err = e.drain(work)
		if err != nil {
			return err
		}
		if len(work) == 0 {
			work = work[:0]
		}
	}
}

// drain executes the commands in work until it is used up or the next
// command is incomplete (needMore). It returns what is left.
func (e *engine) drain(work []byte) (rest []byte, needMore bool, err error) {
	for len(work) > 0 {
		if e.pending != nil {
			pc := e.pending
			n := min(pc.need-len(pc.acc), len(work))
			if pc.keep {
				pc.acc = append(pc.acc, work[:n]...)
			} else {
				pc.need -= n
			}
			work = e.consume(work, n, true)
			if (pc.keep && len(pc.acc) < pc.need) || (!pc.keep && pc.need > 0) {
				continue
			}
			e.pending = nil
			if err := pc.handle(pc.acc); err != nil {
				return work, false, err
			}
			e.afterCommand()
			continue
		}
		e.p.pageMu.Lock()
		e.off = e.p.pg.bytes
		e.p.pageMu.Unlock()
		n, counted, err := e.step(work)
		switch {
		case errors.Is(err, errNeedMore):
			if !e.p.bufferFull() {
				return work, true, nil
			}
			// A command longer than the whole buffer cannot complete.
			e.problem("command %s longer than the %d-byte receive buffer: first byte skipped", hexPrefix(work, 3), e.p.cfg.BufferBytes)
			n, counted = 1, true
		case err != nil:
			return work, false, err
		}
		work = e.consume(work, n, counted)
		e.afterCommand()
	}
	return work, false, nil
}

// afterCommand ends the receipt after a cut (its bytes counted) or when
// the paper has grown past maxPageDots.
func (e *engine) afterCommand() {
	e.p.pageMu.Lock()
	defer e.p.pageMu.Unlock()
	if e.cut == "" && e.p.pg.height > maxPageDots {
		e.p.pg.problem("receipt longer than %d dots (%d mm) without a cut: ended here", maxPageDots, maxPageDots/DotsPerMM)
		e.cut = "limit"
	}
	if e.cut != "" {
		e.p.finishLocked(e.cut)
		e.cut = ""
	}
}

// waitData waits for bytes, tearing the paper off when AutoTear passes.
func (e *engine) waitData() error {
	var tear <-chan time.Time
	if e.p.cfg.AutoTear > 0 {
		e.p.pageMu.Lock()
		printed := e.p.pg.height > 0
		e.p.pageMu.Unlock()
		if printed {
			tear = e.p.clk.After(e.p.cfg.AutoTear)
		}
	}
	e.p.markIdle()
	e.stood = true
	select {
	case <-e.p.dataCh:
	case <-tear:
		e.p.Tear()
	case <-e.ctx.Done():
		return e.ctx.Err()
	}
	return nil
}

// consume drops n bytes from work and frees them in the receive buffer.
func (e *engine) consume(work []byte, n int, counted bool) []byte {
	if n == 0 {
		return work
	}
	if counted {
		e.p.pageMu.Lock()
		e.p.pg.bytes += n
		e.p.pageMu.Unlock()
	}
	e.p.consumed(n)
	rest := work[n:]
	if len(rest) == 0 {
		return work[:0]
	}
	return rest
}

// problem records something that did not print as sent.
func (e *engine) problem(format string, a ...any) {
	e.p.pageMu.Lock()
	e.p.pg.problem("byte %d: "+format, append([]any{e.off}, a...)...)
	e.p.pageMu.Unlock()
}

func hexPrefix(b []byte, n int) string {
	return fmt.Sprintf("% X", b[:min(n, len(b))])
}

// output waits until the printer can print, draws with the page locked
// and then runs the mechanism for the dots draw returns.
func (e *engine) output(draw func(pg *page) int) error {
	waited, err := e.p.waitPrintable(e.ctx)
	if err != nil {
		return err
	}
	if waited {
		e.stood = true
	}
	e.p.pageMu.Lock()
	dots := draw(e.p.pg)
	e.p.pageMu.Unlock()
	return e.mechanism(dots)
}

// mechanism moves the paper dots forward at the print speed.
func (e *engine) mechanism(dots int) error {
	if dots <= 0 {
		return nil
	}
	e.p.mu.Lock()
	e.p.stats.Dots += int64(dots)
	e.p.mu.Unlock()
	if e.p.cfg.Unpaced {
		return nil
	}
	now := e.p.clk.Now()
	if e.stood || now.Sub(e.busy) > maxBehind {
		e.busy = now // it stood still: start counting now
	}
	e.stood = false
	e.busy = e.busy.Add(MechanismTime(dots, e.p.cfg.SpeedMMs))
	select {
	case <-e.p.clk.After(e.busy.Sub(now)):
		return nil
	case <-e.ctx.Done():
		return e.ctx.Err()
	}
}

// need returns errNeedMore unless b holds n bytes.
func need(b []byte, n int) error {
	if len(b) < n {
		return errNeedMore
	}
	return nil
}

// expect starts a command whose data (n bytes) follows a header of hdr
// bytes; handle runs with the data once it has all arrived.
func (e *engine) expect(hdr, n int, keep bool, handle func([]byte) error) (int, bool, error) {
	if n <= 0 {
		return hdr, true, handle(nil)
	}
	if n > maxPendingKeep {
		keep = false
	}
	e.pending = &pendingCmd{need: n, keep: keep, handle: handle}
	return hdr, true, nil
}

// skip consumes a command this emulator parses but does not carry out.
func (e *engine) skip(b []byte, n int, what string) (int, bool, error) {
	if err := need(b, n); err != nil {
		return 0, false, err
	}
	e.problem("%s (%s) not emulated: skipped", hexPrefix(b, n), what)
	return n, true, nil
}

// step executes the command at the start of b and returns how many bytes
// it used and whether they count as print data.
func (e *engine) step(b []byte) (int, bool, error) {
	c := b[0]
	switch {
	case c == lf:
		return 1, true, e.printLine(true)
	case c == cr:
		return 1, true, nil // ignored on a serial interface without auto line feed
	case c == ht:
		return 1, true, e.tab()
	case c == dle:
		return e.dle(b)
	case c == esc:
		return e.esc(b)
	case c == gs:
		return e.gs(b)
	case c == fs:
		return e.fs(b)
	case c < 0x20 || c == 0x7F:
		e.problem("control byte %02X ignored", c)
		return 1, true, nil
	}
	return e.text(b)
}

// ---- text ----

func (e *engine) newCell(r rune, text string, wide bool) cell {
	c := cell{r: r, text: text, baseW: FontAWidth, baseH: FontAHeight, mx: e.m.mx, my: e.m.my,
		bold: e.m.bold || e.m.dstrike, underline: e.m.ul}
	switch {
	case wide:
		c.baseW, c.baseH = CJKWidth, CJKHeight
	case e.m.fontB:
		c.baseW, c.baseH = FontBWidth, FontBHeight
	}
	return c
}

// add puts a cell in the line buffer, printing the line first when the
// cell does not fit (automatic wrap, as the firmware does).
func (e *engine) add(c cell) error {
	w := c.w()
	if w > e.p.cfg.Width {
		e.problem("character %q %d dots wide does not fit a %d-dot line: dropped", c.text, w, e.p.cfg.Width)
		return nil
	}
	if e.lineW+w > e.p.cfg.Width {
		if err := e.printLine(false); err != nil {
			return err
		}
	}
	e.line = append(e.line, c)
	e.lineW += w
	return nil
}

// printLine prints the line buffer (LF: also an empty one, as a feed).
func (e *engine) printLine(feedEmpty bool) error {
	if len(e.line) == 0 && !feedEmpty {
		return nil
	}
	cells, align, spacing := e.line, e.m.align, e.m.spacing
	e.line, e.lineW = nil, 0
	return e.output(func(pg *page) int { return pg.printLine(cells, align, spacing) })
}

func (e *engine) tab() error {
	step := 8 * FontAWidth * e.m.mx
	next := (e.lineW/step + 1) * step
	if next > e.p.cfg.Width {
		return nil // no tab position left on the line: ignored
	}
	colW := max(1, e.p.cfg.Width/e.p.cfg.Columns)
	c := e.newCell(' ', strings.Repeat(" ", (next-e.lineW)/colW), false)
	c.baseW, c.mx = next-e.lineW, 1
	return e.add(c)
}

// codePages are the single-byte tables of ESC t n this emulator knows,
// by their Epson numbers: 0 PC437, 2 PC850, 3 PC860, 4 PC863, 5 PC865,
// 16 WPC1252, 17 PC866, 18 PC852, 19 PC858 (PC850 with € at D5). 17-19
// were added when esc-pos-encoder (an independent encoder, see
// crosscheck_test.go) selected them for cp866, cp852 and cp858.
var codePages = map[byte]*charmap.Charmap{
	0:  charmap.CodePage437,
	2:  charmap.CodePage850,
	3:  charmap.CodePage860,
	4:  charmap.CodePage863,
	5:  charmap.CodePage865,
	16: charmap.Windows1252,
	17: charmap.CodePage866,
	18: charmap.CodePage852,
	19: charmap.CodePage858,
}

// text prints the character at the start of b.
func (e *engine) text(b []byte) (int, bool, error) {
	c := b[0]
	if c < 0x80 {
		return 1, true, e.add(e.newCell(rune(c), string(rune(c)), false))
	}
	if !e.m.chinese {
		cm := codePages[e.m.codeTable]
		if cm == nil {
			e.problem("byte %02X in code page %d, which the emulator does not have: printed as '?'", c, e.m.codeTable)
			return 1, true, e.add(e.newCell('?', "?", false))
		}
		r := cm.DecodeByte(c)
		return 1, true, e.add(e.newCell(r, string(r), false))
	}
	switch e.p.cfg.Encoding {
	case EncodingUTF8:
		return e.textUTF8(b)
	case EncodingGB18030:
		return e.textGB(b, true)
	}
	return e.textGB(b, false)
}

func (e *engine) textUTF8(b []byte) (int, bool, error) {
	if !utf8.FullRune(b) {
		return 0, false, errNeedMore
	}
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError {
		e.problem("invalid UTF-8 byte %02X in Chinese mode: printed as a box", b[0])
		return 1, true, e.add(e.newCell(utf8.RuneError, "\uFFFD", true))
	}
	return n, true, e.add(e.newCell(r, string(r), true))
}

func isGBKTrail(c byte) bool { return c >= 0x40 && c <= 0xFE && c != 0x7F }

func isDigit(c byte) bool { return c >= 0x30 && c <= 0x39 }

func isLead(c byte) bool { return c >= 0x81 && c <= 0xFE }

// textGB prints a GBK (or GB18030) character. A GBK-only printer takes a
// lead byte with a trail byte outside 40–FE as garbage: the lead prints
// blank and the next byte prints as itself, so the 4-byte GB18030 ¥
// (81 30 84 36) comes out as " 0 6" (node-escpos#332).
func (e *engine) textGB(b []byte, gb18030 bool) (int, bool, error) {
	c := b[0]
	if !isLead(c) {
		e.problem("byte %02X is not a GBK lead byte: printed blank", c)
		return 1, true, e.add(e.blankCell())
	}
	if err := need(b, 2); err != nil {
		return 0, false, err
	}
	if isGBKTrail(b[1]) {
		r := e.decode(b[:2], gb18030)
		if r == utf8.RuneError {
			e.problem("GBK code %02X %02X has no character: printed as a box", b[0], b[1])
		}
		return 2, true, e.add(e.newCell(r, string(r), true))
	}
	if isDigit(b[1]) {
		if err := need(b, 4); err != nil {
			return 0, false, err
		}
		if isLead(b[2]) && isDigit(b[3]) {
			r := e.gb18030Rune(b[:4])
			if gb18030 {
				if r == utf8.RuneError {
					e.problem("GB18030 code % X has no character: printed as a box", b[:4])
				}
				return 4, true, e.add(e.newCell(r, string(r), true))
			}
			e.problem("4-byte GB18030 sequence % X (%U %q) in GBK mode: printed as garbage %q", b[:4], r, r, " "+string(b[1])+" "+string(b[3]))
			for _, x := range []cell{e.blankCell(), e.newCell(rune(b[1]), string(b[1]), false), e.blankCell(), e.newCell(rune(b[3]), string(b[3]), false)} {
				if err := e.add(x); err != nil {
					return 0, false, err
				}
			}
			return 4, true, nil
		}
	}
	e.problem("GBK lead byte %02X followed by %02X (not a trail byte): printed blank", b[0], b[1])
	return 1, true, e.add(e.blankCell())
}

// blankCell is what a garbage byte prints as: an empty half-width cell.
func (e *engine) blankCell() cell {
	c := e.newCell(' ', " ", false)
	c.blank = true
	return c
}

func (e *engine) decode(pair []byte, gb18030 bool) rune {
	d := e.gbk
	if gb18030 {
		d = e.gb18030
	}
	out, err := d.Bytes(pair)
	if err != nil {
		return utf8.RuneError
	}
	r, n := utf8.DecodeRune(out)
	if n != len(out) {
		return utf8.RuneError
	}
	return r
}

func (e *engine) gb18030Rune(seq []byte) rune {
	out, err := e.gb18030.Bytes(seq)
	if err != nil {
		return utf8.RuneError
	}
	r, n := utf8.DecodeRune(out)
	if n != len(out) {
		return utf8.RuneError
	}
	return r
}

// ---- DLE ----

func (e *engine) dle(b []byte) (int, bool, error) {
	if err := need(b, 2); err != nil {
		return 0, false, err
	}
	switch b[1] {
	case eot, enq:
		// Real-time: answered (DLE EOT) when it arrived; not print data.
		if err := need(b, 3); err != nil {
			return 0, false, err
		}
		return 3, false, nil
	case dc4:
		if err := need(b, 3); err != nil {
			return 0, false, err
		}
		n := 5
		if b[2] == 8 {
			n = 10 // DLE DC4 8 d1…d7: clear buffers
		}
		if err := need(b, n); err != nil {
			return 0, false, err
		}
		if b[2] == 1 { // generate pulse in real time: m pin, t × 100 ms
			pulse := time.Duration(b[4]) * 100 * time.Millisecond
			e.kick(b[3], pulse, pulse)
		} else {
			e.problem("DLE DC4 fn %d not emulated: skipped", b[2])
		}
		return n, false, nil
	}
	e.problem("DLE %02X is not a command: DLE ignored", b[1])
	return 1, true, nil
}

// kick records a cash drawer pulse on connector pin m (0/48 pin 2, 1/49
// pin 5).
func (e *engine) kick(pin byte, on, off time.Duration) {
	e.p.mu.Lock()
	e.p.stats.DrawerKicks++
	e.p.mu.Unlock()
	e.p.pageMu.Lock()
	e.p.kicks++
	e.p.pageMu.Unlock()
	e.p.log.Info("cash drawer kick", "pin", map[byte]int{0: 2, 1: 5, 48: 2, 49: 5}[pin], "on", on, "off", off)
}

// ---- ESC ----

// escSkip are ESC commands parsed (to skip their parameters safely) but
// not carried out: command byte → parameter count.
var escSkip = map[byte]int{
	' ': 1, '%': 1, '=': 1, '?': 1, 'R': 1, 'T': 1, 'U': 1, 'V': 1, '{': 1, 'r': 1, 'u': 1, 'e': 1,
	'c': 2, '$': 2, '\\': 2, 'L': 0, 'S': 0, 'W': 8, 'v': 0, '<': 0,
}

func (e *engine) esc(b []byte) (int, bool, error) {
	if err := need(b, 2); err != nil {
		return 0, false, err
	}
	cmd := b[1]
	one := func() (byte, error) {
		if err := need(b, 3); err != nil {
			return 0, err
		}
		return b[2], nil
	}
	switch cmd {
	case '@':
		if len(e.line) > 0 {
			e.problem("ESC @ discarded %d unprinted characters", len(e.line))
		}
		e.line, e.lineW = nil, 0
		e.m = defaultModes()
		return 2, true, nil
	case '2':
		e.m.spacing = DefaultLineSpacing
		return 2, true, nil
	case 'i', 'm': // obsolete full / partial cut
		return 2, true, e.cutPaper(cmd == 'i', 0)
	case 'E', 'G', '-', '!', 'a', '3', 'd', 'J', 't', 'M':
		n, err := one()
		if err != nil {
			return 0, false, err
		}
		return 3, true, e.escN(cmd, n)
	case 'p':
		if err := need(b, 5); err != nil {
			return 0, false, err
		}
		// ESC p m t1 t2: ON t1 × 2 ms, OFF t2 × 2 ms.
		e.kick(b[2], time.Duration(b[3])*2*time.Millisecond, time.Duration(b[4])*2*time.Millisecond)
		return 5, true, nil
	case '*':
		if err := need(b, 5); err != nil {
			return 0, false, err
		}
		cols := int(b[3]) + int(b[4])<<8
		per := 1
		if b[2] == 32 || b[2] == 33 {
			per = 3
		}
		e.problem("ESC * bit image (mode %d, %d columns) not rendered", b[2], cols)
		return e.expect(5, cols*per, false, func([]byte) error { return nil })
	case '&':
		return e.escAmp(b)
	}
	if n, ok := escSkip[cmd]; ok {
		return e.skip(b, 2+n, "ESC "+printable(cmd))
	}
	e.problem("unknown command ESC %02X: skipped ESC and %02X", cmd, cmd)
	return 2, true, nil
}

func printable(c byte) string {
	if c >= 0x21 && c < 0x7F {
		return string(rune(c))
	}
	return fmt.Sprintf("%02X", c)
}

func (e *engine) escN(cmd, n byte) error {
	switch cmd {
	case 'E':
		e.m.bold = n&1 == 1
	case 'G':
		e.m.dstrike = n&1 == 1
	case '-':
		switch n {
		case 0, 48:
			e.m.ul = 0
		case 1, 49:
			e.m.ul = 1
		case 2, 50:
			e.m.ul = 2
		default:
			e.problem("ESC - %d out of range (0-2, 48-50): ignored", n)
		}
	case '!':
		e.m.fontB = n&0x01 != 0
		e.m.bold = n&0x08 != 0
		e.m.my, e.m.mx = 1, 1
		if n&0x10 != 0 {
			e.m.my = 2
		}
		if n&0x20 != 0 {
			e.m.mx = 2
		}
		if n&0x80 != 0 {
			e.m.ul = max(e.m.ul, 1)
		} else {
			e.m.ul = 0
		}
	case 'a':
		a := int(n)
		if a >= 48 {
			a -= 48
		}
		if a > 2 {
			e.problem("ESC a %d out of range: ignored", n)
			return nil
		}
		if len(e.line) > 0 {
			e.problem("ESC a %d not at the beginning of a line: ignored", n)
			return nil
		}
		e.m.align = a
	case '3':
		e.m.spacing = int(n)
	case 'd':
		if err := e.printLine(false); err != nil {
			return err
		}
		spacing := e.m.spacing
		return e.output(func(pg *page) int {
			pg.blankLines(int(n))
			pg.feed(int(n) * spacing)
			return int(n) * spacing
		})
	case 'J':
		if err := e.printLine(false); err != nil {
			return err
		}
		return e.output(func(pg *page) int { pg.feed(int(n)); return int(n) })
	case 't':
		e.m.codeTable = n
		if codePages[n] == nil {
			e.problem("ESC t %d: code page not emulated (bytes 80-FF will print as '?')", n)
		}
	case 'M':
		switch n {
		case 0, 48:
			e.m.fontB = false
		case 1, 49:
			e.m.fontB = true
		default:
			e.problem("ESC M %d: font not emulated: font A kept", n)
		}
	}
	return nil
}

// escAmp skips ESC & y c1 c2 [x d1…d(y×x)]… (define user characters).
func (e *engine) escAmp(b []byte) (int, bool, error) {
	if err := need(b, 5); err != nil {
		return 0, false, err
	}
	y, c1, c2 := int(b[2]), int(b[3]), int(b[4])
	pos := 5
	for c := c1; c <= c2; c++ {
		if err := need(b, pos+1); err != nil {
			return 0, false, err
		}
		pos += 1 + y*int(b[pos])
	}
	if err := need(b, pos); err != nil {
		return 0, false, err
	}
	e.problem("ESC & (user-defined characters %d-%d) not emulated: skipped", c1, c2)
	return pos, true, nil
}

// ---- GS ----

var gsSkip = map[byte]int{
	'B': 1, 'a': 1, 'r': 1, 'I': 1, 'b': 1, '/': 1, 'E': 1, 'L': 2, 'W': 2, 'P': 2, '$': 2, '\\': 2,
	':': 0, '^': 3, 'T': 1, 'c': 0, 'g': 2,
}

func (e *engine) gs(b []byte) (int, bool, error) {
	if err := need(b, 2); err != nil {
		return 0, false, err
	}
	cmd := b[1]
	switch cmd {
	case '!', 'H', 'h', 'w', 'f':
		if err := need(b, 3); err != nil {
			return 0, false, err
		}
		e.gsN(cmd, b[2])
		return 3, true, nil
	case 'V':
		return e.gsCut(b)
	case 'k':
		return e.barcode(b)
	case '(':
		if err := need(b, 5); err != nil {
			return 0, false, err
		}
		n := int(b[3]) + int(b[4])<<8
		if b[2] == 'k' {
			return e.expect(5, n, true, e.symbol)
		}
		e.problem("GS ( %s with %d bytes not emulated: skipped", printable(b[2]), n)
		return e.expect(5, n, false, func([]byte) error { return nil })
	case '8':
		if err := need(b, 7); err != nil {
			return 0, false, err
		}
		n := int(b[3]) | int(b[4])<<8 | int(b[5])<<16 | int(b[6])<<24
		e.problem("GS 8 %s with %d bytes not emulated: skipped", printable(b[2]), n)
		return e.expect(7, n, false, func([]byte) error { return nil })
	case 'v':
		return e.raster(b)
	case '*':
		if err := need(b, 4); err != nil {
			return 0, false, err
		}
		e.problem("GS * (downloaded bit image %d×%d) not emulated: skipped", b[2], b[3])
		return e.expect(4, int(b[2])*int(b[3])*8, false, func([]byte) error { return nil })
	}
	if n, ok := gsSkip[cmd]; ok {
		return e.skip(b, 2+n, "GS "+printable(cmd))
	}
	e.problem("unknown command GS %02X: skipped GS and %02X", cmd, cmd)
	return 2, true, nil
}

func (e *engine) gsN(cmd, n byte) {
	switch cmd {
	case '!':
		w, h := int(n>>4)+1, int(n&0x0F)+1
		if w > 8 || h > 8 {
			e.problem("GS ! %02X out of range (1-8 each): ignored", n)
			return
		}
		e.m.mx, e.m.my = w, h
	case 'H':
		if n >= 48 {
			n -= 48
		}
		if n > 3 {
			e.problem("GS H %d out of range: ignored", n)
			return
		}
		e.m.hri = n
	case 'h':
		if n == 0 {
			e.problem("GS h 0 out of range (1-255): ignored")
			return
		}
		e.m.bcHeight = int(n)
	case 'w':
		if n < 1 || n > 6 {
			e.problem("GS w %d out of range (1-6): ignored", n)
			return
		}
		e.m.bcModule = int(n)
	case 'f':
		e.m.hriFontB = n == 1 || n == 49
	}
}

// gsCut handles GS V m [n]: 0/48 full and 1/49 partial cut; 65/66 feed
// n dots then cut; 97/98 and 103/104 (newer models) likewise.
func (e *engine) gsCut(b []byte) (int, bool, error) {
	if err := need(b, 3); err != nil {
		return 0, false, err
	}
	m := b[2]
	switch m {
	case 0, 48, 1, 49:
		return 3, true, e.cutPaper(m == 0 || m == 48, 0)
	case 65, 66, 97, 98, 103, 104:
		if err := need(b, 4); err != nil {
			return 0, false, err
		}
		return 4, true, e.cutPaper(m%2 == 1, int(b[3]))
	}
	e.problem("GS V %d: unknown cut mode: skipped", m)
	return 3, true, nil
}

// cutPaper prints what is pending, feeds, and ends the receipt.
func (e *engine) cutPaper(full bool, feed int) error {
	if err := e.printLine(false); err != nil {
		return err
	}
	if err := e.output(func(pg *page) int { pg.feed(feed); return feed }); err != nil {
		return err
	}
	e.cut = "partial"
	if full {
		e.cut = "full"
	}
	return nil
}

// atLineStart prints a pending line before a bar code, symbol or image,
// which the firmware prints only at the beginning of a line.
func (e *engine) atLineStart(what string) error {
	if len(e.line) == 0 {
		return nil
	}
	e.problem("%s not at the beginning of a line: pending text printed first", what)
	return e.printLine(false)
}

func (e *engine) barcode(b []byte) (int, bool, error) {
	if err := need(b, 3); err != nil {
		return 0, false, err
	}
	m := b[2]
	var data []byte
	hdr, total := 3, 0
	switch {
	case m <= 6:
		end := -1
		for i := 3; i < len(b) && i < 3+256; i++ {
			if b[i] == 0 {
				end = i
				break
			}
		}
		if end < 0 {
			if len(b) < 3+256 {
				return 0, false, errNeedMore
			}
			e.problem("GS k %d without NUL within 255 bytes: bar code not printed", m)
			return 3, true, nil
		}
		data, total = b[3:end], end+1
	case m >= 65 && m <= 73:
		if err := need(b, 4); err != nil {
			return 0, false, err
		}
		n := int(b[3])
		if err := need(b, 4+n); err != nil {
			return 0, false, err
		}
		hdr, data, total = 4, b[4:4+n], 4+n
	default:
		e.problem("GS k %d: unknown bar code system: skipped", m)
		return 3, true, nil
	}
	name := barcodeName(m)
	var mods modules
	var hri, note string
	var err error
	switch name {
	case "CODE128":
		mods, hri, err = code128(data)
	case "EAN13":
		mods, hri, note, err = ean(data, 13)
	case "UPC-A":
		mods, hri, note, err = ean(data, 12)
	case "EAN8":
		mods, hri, note, err = ean(data, 8)
	default:
		e.problem("bar code %s %q not rendered by the emulator: a placeholder was printed", name, data)
		return total, true, e.printBarcode(nil, name, string(data))
	}
	if err != nil {
		// The firmware prints no bar code and takes the data as text.
		e.problem("GS k %s: %v: the data prints as text", name, err)
		return hdr, true, nil
	}
	if note != "" {
		e.problem("bar code %s: %s", name, note)
	}
	return total, true, e.printBarcode(mods, name, hri)
}

// printBarcode draws the bars (or a placeholder box when mods is nil)
// with the human-readable text where GS H puts it.
func (e *engine) printBarcode(mods modules, name, hri string) error {
	if err := e.atLineStart("GS k"); err != nil {
		return err
	}
	var bars *block
	if mods == nil {
		bars = newBlock(min(e.p.cfg.Width, 160), e.m.bcHeight)
		for x := range bars.w {
			bars.set(x, 0)
			bars.set(x, bars.h-1)
		}
		for y := range bars.h {
			bars.set(0, y)
			bars.set(bars.w-1, y)
		}
	} else {
		bars = drawBars(mods, e.m.bcModule, e.m.bcHeight)
	}
	if bars.w > e.p.cfg.Width {
		e.problem("bar code %s is %d dots wide, more than the %d-dot line: not printed", name, bars.w, e.p.cfg.Width)
		return nil
	}
	var hriCells []cell
	for _, r := range hri {
		c := cell{r: r, text: string(r), baseW: FontAWidth, baseH: FontAHeight, mx: 1, my: 1}
		if e.m.hriFontB {
			c.baseW, c.baseH = FontBWidth, FontBHeight
		}
		hriCells = append(hriCells, c)
	}
	align := e.m.align
	hriLine := func(pg *page) int {
		w := 0
		for _, c := range hriCells {
			w += c.w()
		}
		off := pg.alignOffset(align, bars.w) + (bars.w-w)/2
		return pg.printCellsAt(hriCells, max(0, off))
	}
	return e.output(func(pg *page) int {
		dots := 0
		if e.m.hri&1 != 0 {
			dots += hriLine(pg)
		}
		dots += pg.printBlock(bars, align, symbolText(name, []byte(hri)))
		if e.m.hri&2 != 0 {
			dots += hriLine(pg)
		}
		return dots
	})
}

// symbol runs GS ( k pL pH cn fn … once its data has arrived.
func (e *engine) symbol(d []byte) error {
	if len(d) < 2 {
		e.problem("GS ( k with %d data bytes (need cn and fn): skipped", len(d))
		return nil
	}
	cn, fn, par := d[0], d[1], d[2:]
	if cn != 49 {
		e.problem("GS ( k cn=%d fn=%d (2D symbol other than QR Code) not emulated: skipped", cn, fn)
		return nil
	}
	arg := func(want int) bool {
		if len(par) != want {
			e.problem("GS ( k QR fn %d with %d parameter bytes (want %d): ignored", fn, len(par), want)
			return false
		}
		return true
	}
	switch fn {
	case 65: // select model: n1 = 49 model 1, 50 model 2, 51 micro; n2 = 0
		if arg(2) {
			if par[0] < 49 || par[0] > 51 {
				e.problem("QR model %d out of range (49-51): ignored", par[0])
				return nil
			}
			e.m.qrModel = par[0]
		}
	case 67: // module size n dots, 1-16
		if arg(1) {
			if par[0] < 1 || par[0] > 16 {
				e.problem("QR module size %d out of range (1-16): ignored", par[0])
				return nil
			}
			e.m.qrModule = int(par[0])
		}
	case 69: // error correction 48 L, 49 M, 50 Q, 51 H
		if arg(1) {
			if par[0] < 48 || par[0] > 51 {
				e.problem("QR error correction level %d out of range (48-51): ignored", par[0])
				return nil
			}
			e.m.qrLevel = par[0]
		}
	case 80: // store: m = 48, data
		if len(par) < 1 || par[0] != 48 {
			e.problem("QR store with m != 48: ignored")
			return nil
		}
		e.m.qrData = append(e.m.qrData[:0], par[1:]...)
		e.m.qrStored = true
	case 81: // print: m = 48
		return e.printQR()
	default:
		e.problem("GS ( k QR fn %d not emulated: skipped", fn)
	}
	return nil
}

var qrLevels = map[byte]qrcode.RecoveryLevel{48: qrcode.Low, 49: qrcode.Medium, 50: qrcode.High, 51: qrcode.Highest}

// printQR renders the stored data as a QR Code symbol with the module
// size and error-correction level set by fn 67 and fn 69.
func (e *engine) printQR() error {
	if err := e.atLineStart("QR code"); err != nil {
		return err
	}
	if !e.m.qrStored || len(e.m.qrData) == 0 {
		e.problem("QR print without stored data: nothing printed")
		return nil
	}
	if e.m.qrModel != 50 {
		e.problem("QR model %d printed as model 2", e.m.qrModel)
	}
	q, err := qrcode.New(string(e.m.qrData), qrLevels[e.m.qrLevel])
	if err != nil {
		e.problem("QR data of %d bytes cannot be encoded: %v", len(e.m.qrData), err)
		return nil
	}
	q.DisableBorder = true
	cells := q.Bitmap()
	n, mod := len(cells), e.m.qrModule
	if n*mod > e.p.cfg.Width {
		e.problem("QR symbol %d modules × %d dots exceeds the %d-dot line: not printed", n, mod, e.p.cfg.Width)
		return nil
	}
	blk := newBlock(n*mod, n*mod)
	for y, row := range cells {
		for x, black := range row {
			if black {
				blk.fill(x*mod, y*mod, mod, mod)
			}
		}
	}
	text := symbolText("QR", e.m.qrData)
	align := e.m.align
	return e.output(func(pg *page) int { return pg.printBlock(blk, align, text) })
}

// symbolText is the text view of a barcode or QR symbol: "[KIND data]".
// Symbol data may be any bytes (QR byte mode, ITF or CODABAR fed garbage)
// while the text view stays UTF-8, so data that is not UTF-8 is shown in
// hex: "[KIND hex:E3 81]".
func symbolText(kind string, data []byte) string {
	if utf8.Valid(data) {
		return "[" + kind + " " + string(data) + "]"
	}
	return fmt.Sprintf("[%s hex:% X]", kind, data)
}

// raster handles GS v 0 m xL xH yL yH d1…dk: k = x bytes × y rows; m 0/48
// normal, 1/49 double width, 2/50 double height, 3/51 both.
func (e *engine) raster(b []byte) (int, bool, error) {
	if err := need(b, 3); err != nil {
		return 0, false, err
	}
	if b[2] != '0' {
		e.problem("GS v %s not emulated: skipped GS v", printable(b[2]))
		return 2, true, nil
	}
	if err := need(b, 8); err != nil {
		return 0, false, err
	}
	m, x, y := b[3], int(b[4])+int(b[5])<<8, int(b[6])+int(b[7])<<8
	mode := m
	if mode >= 48 {
		mode -= 48
	}
	if mode > 3 || x < 1 || y < 1 || x > 1024 || y > 4095 {
		// Out of range: the firmware ignores the header, so the data
		// prints as whatever it is.
		e.problem("GS v 0 m=%d x=%d bytes y=%d rows out of range (m 0-3/48-51, x 1-1024, y 1-4095): header ignored", m, x, y)
		return 8, true, nil
	}
	sx, sy := 1, 1
	if mode&1 != 0 {
		sx = 2
	}
	if mode&2 != 0 {
		sy = 2
	}
	return e.expect(8, x*y, true, func(d []byte) error {
		if err := e.atLineStart("GS v 0"); err != nil {
			return err
		}
		w := x * 8 * sx
		if w > e.p.cfg.Width {
			e.problem("raster image %d dots wide on a %d-dot line: clipped", w, e.p.cfg.Width)
		}
		blk := newBlock(min(w, e.p.cfg.Width), y*sy)
		for row := range y {
			for col := range x * 8 {
				if d[row*x+col/8]&(0x80>>(col%8)) != 0 {
					blk.fill(col*sx, row*sy, sx, sy)
				}
			}
		}
		align := e.m.align
		return e.output(func(pg *page) int { return pg.printRaster(blk, align) })
	})
}

// ---- FS ----

var fsSkip = map[byte]int{'!': 1, '-': 1, 'S': 2, 'W': 1, 'C': 1, 'p': 2, '2': 74, 'g': 0}

func (e *engine) fs(b []byte) (int, bool, error) {
	if err := need(b, 2); err != nil {
		return 0, false, err
	}
	switch b[1] {
	case '&':
		e.m.chinese = true
		return 2, true, nil
	case '.':
		e.m.chinese = false
		return 2, true, nil
	case '(':
		if err := need(b, 5); err != nil {
			return 0, false, err
		}
		n := int(b[3]) + int(b[4])<<8
		e.problem("FS ( %s with %d bytes not emulated: skipped", printable(b[2]), n)
		return e.expect(5, n, false, func([]byte) error { return nil })
	case 'q':
		return e.fsQ(b)
	}
	if n, ok := fsSkip[b[1]]; ok {
		return e.skip(b, 2+n, "FS "+printable(b[1]))
	}
	e.problem("unknown command FS %02X: skipped FS and %02X", b[1], b[1])
	return 2, true, nil
}

// fsQ skips FS q n [xL xH yL yH d1…dk]1…[…]n (define NV bit images,
// k = x × y × 8), image by image as the data arrives.
func (e *engine) fsQ(b []byte) (int, bool, error) {
	if err := need(b, 3); err != nil {
		return 0, false, err
	}
	e.problem("FS q (%d NV bit images) not emulated: skipped", b[2])
	return 3, true, e.fsQImages(int(b[2]))
}

func (e *engine) fsQImages(left int) error {
	if left == 0 {
		return nil
	}
	_, _, err := e.expect(0, 4, true, func(h []byte) error {
		x, y := int(h[0])+int(h[1])<<8, int(h[2])+int(h[3])<<8
		_, _, err := e.expect(0, x*y*8, false, func([]byte) error { return e.fsQImages(left - 1) })
		return err
	})
	return err
}
