package escpos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// Defaults for zero Config fields.
const (
	DefaultWidth       = 576  // dots: 80 mm paper at 203 dpi
	DefaultBufferBytes = 4096 // receive buffer
	DefaultSpeedMMs    = 100  // print speed, mm/s
	DefaultKeep        = 16   // receipts kept in memory
	DefaultEncoding    = EncodingGBK
)

// Encodings of Chinese mode (FS &): a per-printer setting, as on the
// real parts.
const (
	EncodingGBK     = "gbk"     // 2-byte GBK codes only (most Chinese firmware)
	EncodingGB18030 = "gb18030" // 2- and 4-byte GB18030 codes
	EncodingUTF8    = "utf8"    // UTF-8 sequences
)

// ErrConfig is returned (wrapped) by New for an invalid Config; the text
// names the field.
var ErrConfig = errors.New("escpos emulator: invalid config")

// ErrServing is returned by Serve when the printer already serves a line
// (one printer, one cable).
var ErrServing = errors.New("escpos emulator: already serving a line")

// ErrNoReceipt is returned by WaitReceipt for a receipt that is no longer
// kept in memory.
var ErrNoReceipt = errors.New("escpos emulator: receipt not kept")

// Config describes the emulated printer.
type Config struct {
	// Width is the printable width in dots: 384 (58 mm) or 576 (80 mm)
	// at 8 dots/mm. 0 means DefaultWidth.
	Width int
	// Columns is the number of font A characters per line, used to
	// place aligned text in Receipt.Text (32 or 48). 0 means Width/12.
	Columns int
	// Encoding is how Chinese mode decodes bytes: EncodingGBK (default),
	// EncodingGB18030 or EncodingUTF8.
	Encoding string
	// BufferBytes is the receive buffer (default 4096). While it is full
	// the emulator does not read the line, so the sender's writes back
	// up in the pseudo-terminal and then block.
	BufferBytes int
	// SpeedMMs is the print speed in mm/s (default 100): the buffer
	// drains as the paper moves at this speed, 8 dots per mm.
	SpeedMMs int
	// Baud is the line rate the buffer fills at (10 bits per byte, 8N1).
	// 0 reads as fast as bytes come.
	Baud int
	// Unpaced turns timing off for fast tests: no line rate, no print
	// speed. The buffer limit, paper-out and the other stop conditions
	// still apply.
	Unpaced bool
	// FontPaths are tried in order for the GNU Unifont .hex font; nil
	// means DefaultFontPaths.
	FontPaths []string
	// Dir, when set, receives every receipt as receipt-NNNN.txt and
	// receipt-NNNN.png.
	Dir string
	// Keep is how many receipts are kept in memory (default 16).
	Keep int
	// AutoTear, when positive, ends the receipt of a printer without a
	// cutter after the paper has stood still this long with something
	// printed on it (a person tearing it off). 0 means only GS V and Tear
	// end a receipt.
	AutoTear time.Duration
	// Clock times the line rate, the print speed and AutoTear; nil means
	// the system clock.
	Clock clock.Clock
	// Logger gets drawer kicks, problems and saved files; nil discards.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Width == 0 {
		c.Width = DefaultWidth
	}
	if c.Width < 48 || c.Width > 4096 || c.Width%8 != 0 {
		return fmt.Errorf("%w: Width %d (want a multiple of 8 in 48-4096, e.g. 384 or 576)", ErrConfig, c.Width)
	}
	if c.Columns == 0 {
		c.Columns = c.Width / FontAWidth
	}
	if c.Columns < 1 || c.Columns > c.Width {
		return fmt.Errorf("%w: Columns %d (want 1-%d)", ErrConfig, c.Columns, c.Width)
	}
	if c.Encoding == "" {
		c.Encoding = DefaultEncoding
	}
	switch c.Encoding {
	case EncodingGBK, EncodingGB18030, EncodingUTF8:
	default:
		return fmt.Errorf("%w: Encoding %q (want %s, %s or %s)", ErrConfig, c.Encoding, EncodingGBK, EncodingGB18030, EncodingUTF8)
	}
	if c.BufferBytes == 0 {
		c.BufferBytes = DefaultBufferBytes
	}
	if c.BufferBytes < 64 || c.BufferBytes > 1<<20 {
		return fmt.Errorf("%w: BufferBytes %d (want 64-1048576)", ErrConfig, c.BufferBytes)
	}
	if c.SpeedMMs == 0 {
		c.SpeedMMs = DefaultSpeedMMs
	}
	if c.SpeedMMs < 1 || c.SpeedMMs > 2000 {
		return fmt.Errorf("%w: SpeedMMs %d (want 1-2000)", ErrConfig, c.SpeedMMs)
	}
	if c.Baud < 0 || c.Baud > 4000000 {
		return fmt.Errorf("%w: Baud %d (want 0-4000000)", ErrConfig, c.Baud)
	}
	if c.Keep == 0 {
		c.Keep = DefaultKeep
	}
	if c.Keep < 1 {
		return fmt.Errorf("%w: Keep %d (want at least 1)", ErrConfig, c.Keep)
	}
	if c.AutoTear < 0 {
		return fmt.Errorf("%w: AutoTear %v is negative", ErrConfig, c.AutoTear)
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// State is what the printer's sensors report; the control API sets it.
type State struct {
	PaperOut     bool // roll paper end: printing stops, the printer goes offline
	PaperNearEnd bool // near-end sensor: a warning only
	CoverOpen    bool // printing stops, offline
	Offline      bool // offline for another reason (e.g. the feed button)
	CutterError  bool // autocutter error: printing stops, offline, error
	DrawerOpen   bool // drawer kick-out connector pin 3 high
}

// online reports whether the printer can print in this state.
func (s State) online() bool {
	return !s.PaperOut && !s.CoverOpen && !s.Offline && !s.CutterError
}

// StatusByte is the printer's answer to DLE EOT n (n = 1-4): the fixed
// bits (bit 1 on, bit 4 on, bits 0 and 7 off, Epson's "not used, fixed")
// plus the bits of the state:
//
//	n = 1 printer:       bit 2 drawer pin 3 high, bit 3 offline
//	n = 2 offline cause: bit 2 cover open, bit 5 printing stopped by paper end, bit 6 error
//	n = 3 error cause:   bit 3 autocutter error
//	n = 4 paper sensor:  bits 2-3 near end, bits 5-6 paper end
//
// (Epson TM-T88III/TM-U220A/TM-L60II specifications, DLE EOT.) Any other
// n is not a status request; StatusByte returns 0 and false.
func (s State) StatusByte(n byte) (byte, bool) {
	b := byte(0x12)
	switch n {
	case 1:
		if s.DrawerOpen {
			b |= 0x04
		}
		if !s.online() {
			b |= 0x08
		}
	case 2:
		if s.CoverOpen {
			b |= 0x04
		}
		if s.PaperOut {
			b |= 0x20
		}
		if s.CutterError {
			b |= 0x40
		}
	case 3:
		if s.CutterError {
			b |= 0x08
		}
	case 4:
		if s.PaperNearEnd {
			b |= 0x0C
		}
		if s.PaperOut {
			b |= 0x60
		}
	default:
		return 0, false
	}
	return b, true
}

// Stats are counters of the emulated printer since New.
type Stats struct {
	Received       int64 // bytes read from the line
	Processed      int64 // bytes taken out of the receive buffer
	Buffered       int   // bytes waiting in the receive buffer now
	MaxBuffered    int   // the most bytes ever waiting
	BufferFull     int64 // times reading stopped because the buffer was full
	StatusRequests int64 // DLE EOT n answered
	Dots           int64 // paper fed, in dots
	Receipts       int   // receipts finished
	DrawerKicks    int64 // ESC p / DLE DC4 pulses
}

// Printer is an emulated ESC/POS thermal receipt printer. It serves a
// serial line (ptydev.Handler), parses what arrives into receipts and
// answers real-time status requests from its State. Its methods are safe
// for concurrent use.
type Printer struct {
	cfg  Config
	clk  clock.Clock
	log  *slog.Logger
	font *Font
	ferr error

	mu       sync.Mutex
	state    State
	stateCh  chan struct{} // closed and replaced when state changes
	queued   []byte        // received, not yet taken by the engine
	inWork   int           // taken by the engine, not yet consumed
	dataCh   chan struct{} // bytes were queued (capacity 1)
	spaceCh  chan struct{} // bytes were consumed (capacity 1)
	idle     bool          // the engine waits for data with nothing queued
	idleCh   chan struct{} // closed and replaced when idle becomes true
	stats    Stats
	serving  bool
	receipts []Receipt
	rcptCh   chan struct{} // closed and replaced when a receipt is added

	// pageMu guards the paper being printed (owned by the engine while
	// it prints, by Tear otherwise).
	pageMu sync.Mutex
	pg     *page
	kicks  int
	seq    int // number of the last receipt finished
}

// New returns a printer. A missing font is not an error: text then
// prints as placeholder boxes and every receipt carries the problem
// "font missing".
func New(cfg Config) (*Printer, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	p := &Printer{
		cfg: cfg, clk: cfg.Clock, log: cfg.Logger,
		stateCh: make(chan struct{}), dataCh: make(chan struct{}, 1), spaceCh: make(chan struct{}, 1),
		idleCh: make(chan struct{}), rcptCh: make(chan struct{}), idle: true,
	}
	p.font, p.ferr = LoadFont(cfg.FontPaths...)
	if p.ferr != nil {
		p.log.Warn("printer font missing: text renders as boxes", "err", p.ferr)
	}
	p.pg = p.newPage()
	return p, nil
}

// Config returns the printer's configuration with defaults filled in.
func (p *Printer) Config() Config { return p.cfg }

// Font returns the loaded font, or nil and why it is missing.
func (p *Printer) Font() (*Font, error) { return p.font, p.ferr }

func (p *Printer) newPage() *page {
	return newPage(p.cfg.Width, p.cfg.Columns, p.font, p.ferr)
}

// State returns the sensor state.
func (p *Printer) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// SetState replaces the sensor state. Printing stops while the printer
// is offline (paper out, cover open, offline, cutter error) and resumes
// with the buffered data when it is back.
func (p *Printer) SetState(s State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s == p.state {
		return
	}
	p.state = s
	close(p.stateCh)
	p.stateCh = make(chan struct{})
}

func (p *Printer) update(f func(*State)) {
	s := p.State()
	f(&s)
	p.SetState(s)
}

// SetPaperOut sets the roll paper end sensor: with no paper the printer
// stops printing and goes offline; buffered data waits.
func (p *Printer) SetPaperOut(v bool) { p.update(func(s *State) { s.PaperOut = v }) }

// SetPaperNearEnd sets the near-end sensor (a warning; printing goes on).
func (p *Printer) SetPaperNearEnd(v bool) { p.update(func(s *State) { s.PaperNearEnd = v }) }

// SetCoverOpen opens or closes the cover: open stops printing (offline).
func (p *Printer) SetCoverOpen(v bool) { p.update(func(s *State) { s.CoverOpen = v }) }

// SetOffline takes the printer offline for another reason.
func (p *Printer) SetOffline(v bool) { p.update(func(s *State) { s.Offline = v }) }

// SetCutterError sets an autocutter error: printing stops, offline.
func (p *Printer) SetCutterError(v bool) { p.update(func(s *State) { s.CutterError = v }) }

// Stats returns the counters.
func (p *Printer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Buffered = len(p.queued) + p.inWork
	return s
}

// Receipts returns the receipts kept in memory, oldest first.
func (p *Printer) Receipts() []Receipt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.receipts)
}

// Last returns the newest receipt.
func (p *Printer) Last() (Receipt, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.receipts) == 0 {
		return Receipt{}, false
	}
	return p.receipts[len(p.receipts)-1], true
}

// WaitReceipt waits until receipt number seq (counted from 1 since New)
// is finished and returns it. It fails with ErrNoReceipt when that
// receipt has already been dropped from memory (see Config.Keep), and
// with the context's error when ctx ends first.
func (p *Printer) WaitReceipt(ctx context.Context, seq int) (Receipt, error) {
	for {
		p.mu.Lock()
		if p.stats.Receipts >= seq {
			defer p.mu.Unlock()
			for _, r := range p.receipts {
				if r.Seq == seq {
					return r, nil
				}
			}
			return Receipt{}, fmt.Errorf("%w: receipt %d (keeping the last %d)", ErrNoReceipt, seq, p.cfg.Keep)
		}
		ch := p.rcptCh
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Receipt{}, fmt.Errorf("escpos emulator: waiting for receipt %d: %w", seq, ctx.Err())
		}
	}
}

// WaitIdle waits until everything received has been printed: the
// receive buffer is empty and the mechanism stands still. Bytes still in
// the line (not yet read) do not count.
func (p *Printer) WaitIdle(ctx context.Context) error {
	for {
		p.mu.Lock()
		idle := p.idle && len(p.queued) == 0
		ch := p.idleCh
		p.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("escpos emulator: waiting for idle: %w", ctx.Err())
		}
	}
}

// Tear ends the current receipt with what has printed so far, as a
// person tearing the paper off a printer without a cutter. It reports
// false when nothing has printed since the last cut.
func (p *Printer) Tear() (Receipt, bool) {
	p.pageMu.Lock()
	defer p.pageMu.Unlock()
	if p.pg.height == 0 && len(p.pg.text) == 0 && len(p.pg.problems) == 0 {
		return Receipt{}, false
	}
	return p.finishLocked("tear"), true
}

// finishLocked turns the current page into a receipt and starts a new
// one. Callers hold pageMu.
func (p *Printer) finishLocked(cut string) Receipt {
	pg := p.pg
	p.pg = p.newPage()
	r, err := pg.finish()
	if err != nil {
		p.log.Error("receipt not rendered", "err", err)
		r.Problems = append(r.Problems, err.Error())
	}
	r.Cut = cut
	r.DrawerKicks = p.kicks
	p.kicks = 0
	p.seq++
	r.Seq = p.seq
	for _, pr := range r.Problems {
		p.log.Warn("receipt problem", "receipt", r.Seq, "problem", pr)
	}
	if p.cfg.Dir != "" {
		p.save(r)
	}

	p.mu.Lock()
	p.stats.Receipts++
	p.receipts = append(p.receipts, r)
	if len(p.receipts) > p.cfg.Keep {
		p.receipts = slices.Delete(p.receipts, 0, len(p.receipts)-p.cfg.Keep)
	}
	close(p.rcptCh)
	p.rcptCh = make(chan struct{})
	p.mu.Unlock()
	return r
}

func (p *Printer) save(r Receipt) {
	if err := os.MkdirAll(p.cfg.Dir, 0o755); err != nil {
		p.log.Error("receipt not saved", "dir", p.cfg.Dir, "err", err)
		return
	}
	base := filepath.Join(p.cfg.Dir, fmt.Sprintf("receipt-%04d", r.Seq))
	for _, f := range []struct {
		ext  string
		data []byte
	}{{".txt", []byte(r.Text)}, {".png", r.PNG}} {
		if err := os.WriteFile(base+f.ext, f.data, 0o644); err != nil {
			p.log.Error("receipt not saved", "file", base+f.ext, "err", err)
			return
		}
	}
	p.log.Info("receipt printed", "receipt", r.Seq, "text", base+".txt", "image", base+".png", "bytes", r.Bytes)
}

// signal wakes a waiter on a capacity-1 channel without blocking.
func (p *Printer) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Serve implements ptydev.Handler: it runs one session of the printer on
// rw (a power-on: the receive buffer and the unprinted line start empty;
// the paper and the receipts are kept) until ctx ends or rw fails.
//
// Reading: at most the free space of the receive buffer is read, paced
// at Config.Baud; a full buffer stops reading. Every DLE EOT n (10 04 n,
// n = 1-4) is answered at once when it arrives, wherever it is in the
// stream (like Epson firmware, also inside image data). The engine takes
// bytes out of the buffer as it prints them at Config.SpeedMMs.
func (p *Printer) Serve(ctx context.Context, rw io.ReadWriter) error {
	p.mu.Lock()
	if p.serving {
		p.mu.Unlock()
		return ErrServing
	}
	p.serving = true
	p.queued, p.inWork, p.idle = p.queued[:0], 0, true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.serving = false
		p.queued, p.inWork, p.idle = p.queued[:0], 0, true
		p.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e := newEngine(p, ctx)
	done := make(chan error, 1)
	go func() { done <- e.run() }()
	err := p.readLoop(ctx, rw)
	cancel()
	<-done
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Schedules. The line and the mechanism each keep a schedule (when they
// will have finished what they were given) and wait for it, so a timer
// that fires late does not slow the emulated part down: the next wait is
// shorter. The schedule restarts from "now" only after the part stood
// still: the line when a read had to wait for the sender (longer than
// lineWaited) or for room in the buffer, the mechanism when the engine waited for data or for the
// printer to come back online; or when it is more than maxBehind late.
const (
	lineWaited = 5 * time.Millisecond
	maxBehind  = time.Second
)

// readChunk is how many bytes one read takes at most: about 10 ms of the
// line when paced, so bytes arrive spread over time, not in bursts.
func (p *Printer) readChunk() int {
	if p.cfg.Unpaced || p.cfg.Baud == 0 {
		return 4096
	}
	return max(1, p.cfg.Baud/10/100)
}

func (p *Printer) readLoop(ctx context.Context, rw io.ReadWriter) error {
	buf := make([]byte, p.readChunk())
	var rt realtime
	var line time.Time // when the line has delivered every byte read so far
	byteTime := time.Duration(0)
	if !p.cfg.Unpaced && p.cfg.Baud > 0 {
		byteTime = time.Second * 10 / time.Duration(p.cfg.Baud)
	}
	for {
		free, full, err := p.waitSpace(ctx)
		if err != nil {
			return err
		}
		before := p.clk.Now()
		n, rerr := rw.Read(buf[:min(free, len(buf))])
		if n > 0 {
			if byteTime > 0 {
				now := p.clk.Now()
				if full || now.Sub(before) > lineWaited || now.Sub(line) > maxBehind {
					// The line stood still (flow-controlled by a full
					// buffer, or waiting for the sender): count from now.
					line = now
				}
				line = line.Add(time.Duration(n) * byteTime)
				select {
				case <-p.clk.After(line.Sub(now)):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			answers := p.receive(buf[:n], &rt)
			if len(answers) > 0 {
				if _, err := rw.Write(answers); err != nil {
					return fmt.Errorf("escpos emulator: answering status: %w", err)
				}
			}
		}
		if rerr != nil {
			return rerr
		}
	}
}

// waitSpace waits until the receive buffer has room and returns how
// much, and whether it was full.
func (p *Printer) waitSpace(ctx context.Context) (int, bool, error) {
	full := false
	for {
		p.mu.Lock()
		free := p.cfg.BufferBytes - len(p.queued) - p.inWork
		if free <= 0 && !full {
			p.stats.BufferFull++
			full = true
		}
		p.mu.Unlock()
		if free > 0 {
			return free, full, nil
		}
		select {
		case <-p.spaceCh:
		case <-ctx.Done():
			return 0, full, ctx.Err()
		}
	}
}

// realtime recognises DLE EOT n across reads.
type realtime struct{ state int }

// receive queues bytes for the engine and returns the answers to the
// status requests among them.
func (p *Printer) receive(b []byte, rt *realtime) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []byte
	for _, c := range b {
		switch {
		case c == dle:
			rt.state = 1
		case rt.state == 1 && c == eot:
			rt.state = 2
		case rt.state == 2:
			if s, ok := p.state.StatusByte(c); ok {
				out = append(out, s)
				p.stats.StatusRequests++
			}
			rt.state = 0
		default:
			rt.state = 0
		}
	}
	p.queued = append(p.queued, b...)
	p.stats.Received += int64(len(b))
	p.stats.MaxBuffered = max(p.stats.MaxBuffered, len(p.queued)+p.inWork)
	p.idle = false
	p.signal(p.dataCh)
	return out
}

// take moves the queued bytes to the engine's work slice. It returns
// false when nothing is queued.
func (p *Printer) take(work []byte) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queued) == 0 {
		return work, false
	}
	work = append(work, p.queued...)
	p.inWork += len(p.queued)
	p.queued = p.queued[:0]
	return work, true
}

// markIdle records that the engine is about to wait for data, unless
// data has come meanwhile.
func (p *Printer) markIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queued) == 0 && !p.idle {
		p.idle = true
		close(p.idleCh)
		p.idleCh = make(chan struct{})
	}
}

// consumed frees n bytes of the receive buffer.
func (p *Printer) consumed(n int) {
	p.mu.Lock()
	p.inWork -= n
	p.stats.Processed += int64(n)
	p.mu.Unlock()
	p.signal(p.spaceCh)
}

// bufferFull reports whether the engine holds the whole buffer.
func (p *Printer) bufferFull() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inWork >= p.cfg.BufferBytes
}

// waitPrintable blocks while the printer is offline. It reports whether
// it had to wait.
func (p *Printer) waitPrintable(ctx context.Context) (bool, error) {
	waited := false
	for {
		p.mu.Lock()
		ok := p.state.online()
		ch := p.stateCh
		p.mu.Unlock()
		if ok {
			return waited, nil
		}
		waited = true
		select {
		case <-ch:
		case <-ctx.Done():
			return waited, ctx.Err()
		}
	}
}

// MechanismTime is how long the paper takes to move dots at speed mm/s
// and 8 dots per mm.
func MechanismTime(dots, speedMMs int) time.Duration {
	if speedMMs <= 0 || dots <= 0 {
		return 0
	}
	return time.Duration(dots) * time.Second / time.Duration(DotsPerMM*speedMMs)
}
