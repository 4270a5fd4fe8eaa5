package escpos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/receipt"
)

// Transport is the link to the printer, the subset of go.bug.st/serial's
// Port the driver needs (drivers/serialio.Port has the same methods).
type Transport interface {
	// Read reads what the printer sent. It blocks at most the read
	// timeout. A timeout with nothing to read is either (0, nil), as
	// go.bug.st/serial reports it, or an error that says so: one with a
	// Timeout() bool method returning true (drivers/serialio wraps its
	// ErrTimeout that way, as net.Error does) or os.ErrDeadlineExceeded.
	// Any other error is a link failure.
	Read(p []byte) (int, error)
	// Write sends bytes; it may accept fewer than len(p) without an error
	// (the driver writes the rest).
	Write(p []byte) (int, error)
	// SetReadTimeout sets how long Read waits; 0 polls without waiting.
	SetReadTimeout(d time.Duration) error
	// Close releases the link and unblocks a pending Read.
	Close() error
}

// Driver defaults.
const (
	// DefaultResponseTimeout is how long the driver waits for each
	// DLE EOT reply.
	DefaultResponseTimeout = 500 * time.Millisecond
	// DefaultReadSlice is the longest single blocking Read: it bounds how
	// late a cancelled context is noticed while waiting for a reply.
	DefaultReadSlice = 50 * time.Millisecond
	// DefaultChunkSize is the largest write between two context checks
	// (0.27 s at 9600 baud, 22 ms at 115200). It is lowered to the
	// profile's BufferBytes when that is smaller.
	DefaultChunkSize = 256
	// maxNoise is how many non-status bytes a status read skips (XON/XOFF,
	// late data) before giving up with ErrNotStatus.
	maxNoise = 16
	// maxDrain is how many stale bytes are discarded before a status
	// request.
	maxDrain = 256
	// maxZeroWrites is how many (0, nil) writes in a row mean a stall.
	maxZeroWrites = 8
)

// Options configure a Printer.
type Options struct {
	// Profile is the printer model (required; see Profile.Validate).
	Profile Profile
	// Clock measures response timeouts and paces chunks; nil means the
	// system clock.
	Clock clock.Clock
	// Logger gets warnings (near-end, unprintable characters, skipped
	// noise); nil discards.
	Logger *slog.Logger
	// ResponseTimeout bounds the wait for each status reply; 0 means
	// DefaultResponseTimeout.
	ResponseTimeout time.Duration
	// ReadSlice bounds each blocking Read; 0 means DefaultReadSlice.
	ReadSlice time.Duration
	// ChunkSize bounds each write between context checks; 0 means
	// DefaultChunkSize (or Profile.BufferBytes if smaller). A single
	// command longer than this (a raster strip, a QR code) is still
	// written whole: a job is only ever split between commands, so a
	// cancelled job never leaves the printer inside a command.
	ChunkSize int
	// ChunkDelay is a pause after each chunk (paced writes, for links
	// without flow control); 0 means none.
	ChunkDelay time.Duration
}

// Printer drives one ESC/POS printer over a Transport. Its methods are
// safe for concurrent use; they run one at a time.
type Printer struct {
	mu  sync.Mutex
	t   Transport
	o   Options
	clk clock.Clock
	log *slog.Logger
}

// New returns a Printer on t. It does not talk to the printer.
func New(t Transport, o Options) (*Printer, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: nil transport", ErrParam)
	}
	if err := o.Profile.Validate(); err != nil {
		return nil, err
	}
	if o.ResponseTimeout < 0 || o.ReadSlice < 0 || o.ChunkSize < 0 || o.ChunkDelay < 0 {
		return nil, fmt.Errorf("%w: negative option (ResponseTimeout %v, ReadSlice %v, ChunkSize %d, ChunkDelay %v)",
			ErrParam, o.ResponseTimeout, o.ReadSlice, o.ChunkSize, o.ChunkDelay)
	}
	if o.ResponseTimeout == 0 {
		o.ResponseTimeout = DefaultResponseTimeout
	}
	if o.ReadSlice == 0 {
		o.ReadSlice = DefaultReadSlice
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
		if b := o.Profile.BufferBytes; b > 0 && b < o.ChunkSize {
			o.ChunkSize = b
		}
	}
	p := &Printer{t: t, o: o, clk: o.Clock, log: o.Logger}
	if p.clk == nil {
		p.clk = clock.System{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("printer", o.Profile.Name)
	return p, nil
}

// Profile returns the printer's profile.
func (p *Printer) Profile() Profile { return p.o.Profile }

// Close closes the transport.
func (p *Printer) Close() error { return p.t.Close() }

// Status asks the printer for its real-time status (DLE EOT 1, 2, 3, 4,
// one reply byte each). Stale input is discarded first. Bytes that fail
// the fixed-bit check are skipped as noise (up to a limit). If a reply
// does not come within the response timeout, or the context ends first,
// the error wraps ErrNoResponse ("printer not answering").
func (p *Printer) Status(ctx context.Context) (Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status(ctx)
}

func (p *Printer) status(ctx context.Context) (Status, error) {
	return p.statusAfter(ctx, 0)
}

// statusAfter is status with extra time for the first reply: after a
// job the request queues behind the job's bytes on the serial line (at
// 9600 baud a 1.8 KB receipt is 1.9 s of line), so the first reply can
// only come that much later.
func (p *Printer) statusAfter(ctx context.Context, extra time.Duration) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, fmt.Errorf("escpos: status: %w", err)
	}
	if err := p.drain(); err != nil {
		return Status{}, err
	}
	var replies [4]byte
	for n := StatusPrinter; n <= StatusPaperSensor; n++ {
		req, _ := StatusRequest(n) // n in range
		if err := p.writeAll(req); err != nil {
			return Status{}, fmt.Errorf("escpos: sending DLE EOT %d: %w", n, err)
		}
		b, err := p.readStatusByte(ctx, n, extra)
		if err != nil {
			return Status{}, err
		}
		replies[n-1] = b
		extra = 0
	}
	return ParseStatus(replies[:]) // every byte passed CheckStatusByte
}

// drain discards bytes already waiting (a late reply to an earlier
// request, automatic status) so they are not taken for this reply.
func (p *Printer) drain() error {
	if err := p.t.SetReadTimeout(0); err != nil {
		return fmt.Errorf("escpos: set read timeout: %w", err)
	}
	var buf [64]byte
	for dropped := 0; dropped < maxDrain; {
		n, err := p.t.Read(buf[:])
		if err != nil && !isReadTimeout(err) {
			return fmt.Errorf("escpos: reading printer: %w", err)
		}
		if n == 0 {
			return nil // nothing waiting: a timeout, as (0, nil) or as an error
		}
		dropped += n
		p.log.Debug("discarded stale bytes before status request", "bytes", n)
	}
	return nil
}

// isReadTimeout reports whether a Read error only says that the read
// timeout passed: an error with a Timeout() bool method that returns true
// (drivers/serialio's, net.Error's) or os.ErrDeadlineExceeded.
func isReadTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// readStatusByte waits up to ResponseTimeout plus extra for the reply to
// DLE EOT n.
func (p *Printer) readStatusByte(ctx context.Context, n int, extra time.Duration) (byte, error) {
	start := p.clk.Now()
	limit := p.o.ResponseTimeout + extra
	noise := 0
	var buf [1]byte
	for {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("%w: no reply to DLE EOT %d: %w", ErrNoResponse, n, err)
		}
		left := limit - p.clk.Now().Sub(start)
		if left <= 0 {
			return 0, fmt.Errorf("%w: no reply to DLE EOT %d within %v", ErrNoResponse, n, limit)
		}
		if err := p.t.SetReadTimeout(min(left, p.o.ReadSlice)); err != nil {
			return 0, fmt.Errorf("escpos: set read timeout: %w", err)
		}
		k, err := p.t.Read(buf[:])
		if err != nil && !isReadTimeout(err) {
			return 0, fmt.Errorf("escpos: reading reply to DLE EOT %d: %w", n, err)
		}
		if k == 0 {
			continue // read timeout, as (0, nil) or as an error
		}
		if err := CheckStatusByte(buf[0]); err != nil {
			noise++
			p.log.Debug("skipped non-status byte", "request", n, "byte", buf[0])
			if noise > maxNoise {
				return 0, fmt.Errorf("reply to DLE EOT %d: %d bytes without a status byte: %w", n, noise, err)
			}
			continue
		}
		return buf[0], nil
	}
}

// Print prints a receipt. Before sending anything but status requests it
// checks the printer: paper out, cover open, a printer error or offline
// return an error wrapping ErrPaperOut, ErrCoverOpen, ErrFault or
// ErrOffline and nothing is printed. The job is written in chunks split
// only between commands; the context is checked between chunks. After
// the job the status is checked again: a condition found then is returned
// wrapping both its sentinel and ErrMaybeIncomplete. That request queues
// behind the job on the serial line, so its first reply may take the
// job's line time (Profile.TransferTime) on top of ResponseTimeout.
// Characters the
// printer cannot print are logged (they print as '?'); use Render to get
// them as Problems.
func (p *Printer) Print(ctx context.Context, r receipt.Receipt) error {
	b, probs, err := render(p.o.Profile, r)
	if err != nil {
		return err
	}
	for _, pr := range probs {
		p.log.Warn("receipt text not printable as given", "txn", r.TxnID, "problem", pr.String())
	}
	return p.PrintBuilt(ctx, b)
}

// PrintBuilt sends a job made with a Builder, with the same status checks
// and chunking as Print.
func (p *Printer) PrintBuilt(ctx context.Context, b *Builder) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.status(ctx)
	if err != nil {
		return fmt.Errorf("escpos: before printing: %w", err)
	}
	if err := st.Err(); err != nil {
		return err
	}
	if st.PaperNearEnd {
		p.log.Warn("paper near end", "status", st.String())
	}
	if err := p.send(ctx, b.Bytes(), b.marks); err != nil {
		return err
	}
	st, err = p.statusAfter(ctx, p.o.Profile.TransferTime(b.Len()))
	if err != nil {
		return fmt.Errorf("escpos: after printing: %w: %w", ErrMaybeIncomplete, err)
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrMaybeIncomplete, err)
	}
	if st.PaperNearEnd {
		p.log.Warn("paper near end", "status", st.String())
	}
	return nil
}

// Send writes raw bytes (e.g. a drawer kick) in chunks, without status
// checks. Without boundaries it may split anywhere between chunks, so pass
// only complete, small commands.
func (p *Printer) Send(ctx context.Context, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.send(ctx, data, nil)
}

// send writes data chunk by chunk. With marks (command start offsets) a
// chunk ends only at a mark, so a cancelled job stops between commands.
func (p *Printer) send(ctx context.Context, data []byte, marks []int) error {
	for pos := 0; pos < len(data); {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("escpos: job stopped after %d of %d bytes: %w", pos, len(data), err)
		}
		end := chunkEnd(pos, len(data), p.o.ChunkSize, marks)
		if err := p.writeAll(data[pos:end]); err != nil {
			return fmt.Errorf("escpos: job stopped after %d of %d bytes: %w", pos, len(data), err)
		}
		pos = end
		if p.o.ChunkDelay > 0 && pos < len(data) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("escpos: job stopped after %d of %d bytes: %w", pos, len(data), ctx.Err())
			case <-p.clk.After(p.o.ChunkDelay):
			}
		}
	}
	return nil
}

// chunkEnd picks where the chunk starting at pos ends: the last command
// boundary within size bytes, or, when one command is longer than size,
// the end of that command. Without marks it is simply pos+size.
func chunkEnd(pos, total, size int, marks []int) int {
	limit := pos + size
	if limit >= total {
		return total
	}
	if marks == nil {
		return limit
	}
	i := sort.SearchInts(marks, limit+1) - 1 // last mark <= limit
	if i >= 0 && marks[i] > pos {
		return marks[i]
	}
	j := sort.SearchInts(marks, pos+1) // first mark > pos
	if j < len(marks) {
		return marks[j]
	}
	return total
}

// writeAll writes every byte of data, looping on short writes.
func (p *Printer) writeAll(data []byte) error {
	zero := 0
	for len(data) > 0 {
		n, err := p.t.Write(data)
		if n < 0 || n > len(data) {
			return fmt.Errorf("escpos: transport wrote %d of %d bytes", n, len(data))
		}
		data = data[n:]
		if err != nil {
			return fmt.Errorf("escpos: write (%d bytes not sent): %w", len(data), err)
		}
		if n == 0 {
			zero++
			if zero >= maxZeroWrites {
				return fmt.Errorf("%w (%d bytes not sent)", ErrWriteStalled, len(data))
			}
			continue
		}
		zero = 0
	}
	return nil
}

// IsCondition reports whether err is a printer condition (paper out, cover
// open, fault, offline) rather than a link or input problem.
func IsCondition(err error) bool {
	return errors.Is(err, ErrPaperOut) || errors.Is(err, ErrCoverOpen) ||
		errors.Is(err, ErrFault) || errors.Is(err, ErrOffline)
}
