package escpos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/receipt"
)

// fakePrinter is an in-memory ESC/POS printer at the transport boundary.
// It answers DLE EOT n with status[n-1], records every byte written, and
// simulates read timeouts by advancing a fake clock.
type fakePrinter struct {
	mu  sync.Mutex
	clk *clock.Fake

	status  [4]byte // replies to DLE EOT 1-4
	silent  bool    // never answer
	noise   []byte  // sent before every reply
	in      []byte  // bytes waiting to be read
	timeout time.Duration

	written  []byte
	writes   int
	maxWrite int   // accept at most this many bytes per Write (0: all)
	writeErr error // returned by Write once set
	stallJob bool  // Write of more than 3 bytes accepts nothing
	reqState int   // DLE EOT parser: 0 idle, 1 saw DLE, 2 saw DLE EOT

	reads       int
	onRead      func(n int)     // called with the read count
	onWrite     func(p []byte)  // called with the accepted bytes
	setTimeouts []time.Duration // every SetReadTimeout
	requests    []int           // DLE EOT n seen, in order
	closed      bool
}

var idle = [4]byte{0x12, 0x12, 0x12, 0x12}

func newFake(status [4]byte) *fakePrinter {
	return &fakePrinter{clk: clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), status: status}
}

func (f *fakePrinter) Read(p []byte) (int, error) {
	f.mu.Lock()
	f.reads++
	n, hook := f.reads, f.onRead
	if len(f.in) > 0 {
		k := copy(p, f.in)
		f.in = f.in[k:]
		f.mu.Unlock()
		if hook != nil {
			hook(n)
		}
		return k, nil
	}
	d := f.timeout
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	f.clk.Advance(d) // the read timeout passes with nothing to read
	return 0, nil
}

func (f *fakePrinter) Write(p []byte) (int, error) {
	f.mu.Lock()
	f.writes++
	if f.writeErr != nil {
		f.mu.Unlock()
		return 0, f.writeErr
	}
	n := len(p)
	if f.stallJob && n > 3 {
		n = 0
	}
	if f.maxWrite > 0 && n > f.maxWrite {
		n = f.maxWrite
	}
	acc := p[:n]
	f.written = append(f.written, acc...)
	for _, c := range acc {
		switch {
		case f.reqState == 0 && c == DLE:
			f.reqState = 1
		case f.reqState == 1 && c == EOT:
			f.reqState = 2
		case f.reqState == 2 && c >= 1 && c <= 4:
			f.requests = append(f.requests, int(c))
			if !f.silent {
				f.in = append(f.in, f.noise...)
				f.in = append(f.in, f.status[c-1])
			}
			f.reqState = 0
		default:
			f.reqState = 0
		}
	}
	hook := f.onWrite
	f.mu.Unlock()
	if hook != nil {
		hook(acc)
	}
	return n, nil
}

func (f *fakePrinter) SetReadTimeout(d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timeout = d
	f.setTimeouts = append(f.setTimeouts, d)
	return nil
}

func (f *fakePrinter) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakePrinter) setStatus(s [4]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = s
}

func (f *fakePrinter) bytesWritten() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.written)
}

var _ Transport = (*fakePrinter)(nil)

// statusRequests is what Status writes: DLE EOT 1, 2, 3, 4.
var statusRequests = []byte{0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x03, 0x10, 0x04, 0x04}

func newPrinter(t *testing.T, f *fakePrinter, o Options) *Printer {
	t.Helper()
	if o.Profile.Name == "" {
		o.Profile = Generic80
	}
	o.Clock = f.clk
	p, err := New(f, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStatusOK(t *testing.T) {
	f := newFake([4]byte{0x16, 0x12, 0x12, 0x1E})
	p := newPrinter(t, f, Options{})
	st, err := p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Online || !st.DrawerPin3High || !st.PaperNearEnd || st.PaperOut {
		t.Errorf("status %+v", st)
	}
	if !bytes.Equal(f.bytesWritten(), statusRequests) {
		t.Errorf("wrote % X, want % X", f.bytesWritten(), statusRequests)
	}
	// Each reply read uses at most the read slice.
	for _, d := range f.setTimeouts {
		if d > DefaultReadSlice {
			t.Errorf("read timeout %v exceeds the slice", d)
		}
	}
}

// python-escpos#143, node-thermal-printer#211: status reads that never
// return. A printer that does not answer gives ErrNoResponse once the
// response timeout has passed on the (fake) clock, after only the first
// request.
func TestStatusNoResponse(t *testing.T) {
	f := newFake(idle)
	f.silent = true
	p := newPrinter(t, f, Options{ResponseTimeout: 300 * time.Millisecond, ReadSlice: 40 * time.Millisecond})
	start := f.clk.Now()
	_, err := p.Status(context.Background())
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v, want ErrNoResponse", err)
	}
	if !strings.Contains(err.Error(), "printer not answering") || !strings.Contains(err.Error(), "DLE EOT 1") {
		t.Errorf("error text %q", err)
	}
	if waited := f.clk.Now().Sub(start); waited != 300*time.Millisecond {
		t.Errorf("waited %v on the clock, want exactly the 300ms response timeout", waited)
	}
	if !bytes.Equal(f.bytesWritten(), statusRequests[:3]) {
		t.Errorf("wrote % X, want only DLE EOT 1", f.bytesWritten())
	}
}

// The context ends while waiting: the error wraps both ErrNoResponse and
// the context's error, and the wait stops at the next read slice.
func TestStatusContextEnds(t *testing.T) {
	f := newFake(idle)
	f.silent = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onRead = func(n int) {
		if n == 3 { // the drain poll, then two slices of waiting
			cancel()
		}
	}
	p := newPrinter(t, f, Options{ResponseTimeout: time.Hour})
	_, err := p.Status(ctx)
	if !errors.Is(err, ErrNoResponse) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrNoResponse and context.Canceled", err)
	}
	if f.reads != 3 {
		t.Errorf("%d reads, want 3", f.reads)
	}
	// A context already done sends nothing.
	f2 := newFake(idle)
	p2 := newPrinter(t, f2, Options{})
	if _, err := p2.Status(ctx); !errors.Is(err, context.Canceled) || len(f2.bytesWritten()) != 0 {
		t.Errorf("done context: err %v, wrote % X", err, f2.bytesWritten())
	}
}

// XON/XOFF and other bytes that fail the fixed-bit check are skipped;
// stale input is discarded before the first request (a stale 1A would
// otherwise read as "offline").
func TestStatusNoiseAndStale(t *testing.T) {
	f := newFake(idle)
	f.noise = []byte{0x11, 0x13} // XON, XOFF
	f.in = []byte{0x1A, 0x1A}    // late replies from an earlier exchange
	p := newPrinter(t, f, Options{})
	st, err := p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Online || st.Raw != idle {
		t.Errorf("status %v, want idle", st)
	}
	// Endless noise: ErrNotStatus.
	f = newFake(idle)
	f.noise = bytes.Repeat([]byte{0xFF}, maxNoise+1)
	p = newPrinter(t, f, Options{})
	if _, err := p.Status(context.Background()); !errors.Is(err, ErrNotStatus) {
		t.Errorf("err = %v, want ErrNotStatus", err)
	}
}

// Odoo PR #208611: query status before printing and do not send a job on
// error. With no paper only the status requests are written.
func TestPrintRefusedBeforeSending(t *testing.T) {
	tests := []struct {
		name   string
		status [4]byte
		want   error
	}{
		{"paper out", [4]byte{0x1A, 0x32, 0x12, 0x7E}, ErrPaperOut},
		{"cover open", [4]byte{0x1A, 0x16, 0x12, 0x12}, ErrCoverOpen},
		{"offline", [4]byte{0x3A, 0x12, 0x12, 0x12}, ErrOffline},
		{"cutter error", [4]byte{0x1A, 0x52, 0x1A, 0x12}, ErrFault},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(tc.status)
			p := newPrinter(t, f, Options{})
			err := p.Print(context.Background(), sampleReceipt())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if errors.Is(err, ErrMaybeIncomplete) || !IsCondition(err) {
				t.Errorf("err = %v: nothing was sent, so not 'maybe incomplete'", err)
			}
			if !bytes.Equal(f.bytesWritten(), statusRequests) {
				t.Errorf("wrote % X, want only the status requests", f.bytesWritten())
			}
		})
	}
}

func TestPrintNoResponse(t *testing.T) {
	f := newFake(idle)
	f.silent = true
	p := newPrinter(t, f, Options{})
	err := p.Print(context.Background(), sampleReceipt())
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v, want ErrNoResponse", err)
	}
	if !bytes.Equal(f.bytesWritten(), statusRequests[:3]) {
		t.Errorf("wrote % X", f.bytesWritten())
	}
}

// Short writes: the transport takes 7 bytes at a time; every byte of the
// rendered job arrives, in order, between the two status checks.
func TestPrintShortWritesAllDelivered(t *testing.T) {
	r := sampleReceipt()
	for i := 0; i < 30; i++ {
		r.Lines = append(r.Lines, receipt.Line{Text: fmt.Sprintf("行 LINE %d", i)})
	}
	for _, prof := range Profiles() {
		t.Run(prof.Name, func(t *testing.T) {
			job, _, err := Render(prof, r)
			if err != nil {
				t.Fatal(err)
			}
			f := newFake(idle)
			f.maxWrite = 7
			p := newPrinter(t, f, Options{Profile: prof, ChunkSize: 64})
			if err := p.Print(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			want := slices.Concat(statusRequests, job, statusRequests)
			if got := f.bytesWritten(); !bytes.Equal(got, want) {
				t.Fatalf("delivered %d bytes, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
			}
			if f.writes < len(job)/7 {
				t.Errorf("only %d writes for %d bytes in 7-byte pieces", f.writes, len(job))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Paper runs out while printing: the check after the job reports
// ErrPaperOut together with ErrMaybeIncomplete.
func TestPrintPaperOutAfter(t *testing.T) {
	f := newFake(idle)
	p := newPrinter(t, f, Options{})
	f.onWrite = func(b []byte) {
		if bytes.Contains(b, []byte{GS, 'V', 66}) { // the cut: job done
			f.setStatus([4]byte{0x1A, 0x32, 0x12, 0x7E})
		}
	}
	err := p.Print(context.Background(), sampleReceipt())
	if !errors.Is(err, ErrPaperOut) || !errors.Is(err, ErrMaybeIncomplete) {
		t.Fatalf("err = %v, want ErrPaperOut and ErrMaybeIncomplete", err)
	}
}

// The context is honoured between chunks, and a stopped job ends on a
// command boundary, never inside a command.
func TestPrintCancelledBetweenChunks(t *testing.T) {
	r := sampleReceipt()
	b, _, err := render(Generic80, r)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(idle)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jobWrites := 0
	f.onWrite = func(p []byte) {
		if !bytes.Equal(p, statusRequests[:3]) && len(p) != 3 {
			jobWrites++
			if jobWrites == 2 {
				cancel()
			}
		}
	}
	p := newPrinter(t, f, Options{ChunkSize: 40})
	err = p.Print(ctx, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	sent := len(f.bytesWritten()) - len(statusRequests)
	if sent <= 0 || sent >= b.Len() {
		t.Fatalf("sent %d of %d job bytes", sent, b.Len())
	}
	if !slices.Contains(b.Boundaries(), sent) {
		t.Errorf("job stopped at %d, not a command boundary %v", sent, b.Boundaries())
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("after %d of %d bytes", sent, b.Len())) {
		t.Errorf("error %q does not say how far the job got", err)
	}
}

func TestChunkEnd(t *testing.T) {
	marks := []int{0, 2, 5, 6, 20, 21, 30}
	tests := []struct{ pos, size, want int }{
		{0, 4, 2},     // last boundary within 4
		{0, 5, 5},     // boundary exactly at the limit
		{6, 4, 20},    // one command longer than the chunk: send it whole
		{20, 100, 40}, // the rest fits
		{21, 5, 30},   // 21..26 has no boundary: to the next one
		{30, 5, 40},   // the last command runs to the end
	}
	for _, tc := range tests {
		if got := chunkEnd(tc.pos, 40, tc.size, marks); got != tc.want {
			t.Errorf("chunkEnd(%d, size %d) = %d, want %d", tc.pos, tc.size, got, tc.want)
		}
	}
	if got := chunkEnd(3, 40, 10, nil); got != 13 {
		t.Errorf("without marks: %d, want 13", got)
	}
}

// A raster strip (8 + 48×100 bytes) is longer than a chunk but is written
// as one unit: the job goes out as ESC @, then one write per strip.
func TestPrintBuiltRasterWhole(t *testing.T) {
	var b Builder
	b.Init()
	if err := b.Raster(NewBitmap(384, 250), 100); err != nil {
		t.Fatal(err)
	}
	f := newFake(idle)
	var sizes []int
	f.onWrite = func(p []byte) {
		if len(p) != 3 { // not a status request
			sizes = append(sizes, len(p))
		}
	}
	p := newPrinter(t, f, Options{Profile: Generic58, ChunkSize: 256})
	if err := p.PrintBuilt(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if got := f.bytesWritten(); !bytes.Equal(got, slices.Concat(statusRequests, b.Bytes(), statusRequests)) {
		t.Fatal("raster job not delivered intact")
	}
	if want := []int{2, 8 + 4800, 8 + 4800, 8 + 2400}; !slices.Equal(sizes, want) {
		t.Errorf("chunks %v, want %v", sizes, want)
	}
}

func TestPrintWriteErrors(t *testing.T) {
	f := newFake(idle)
	f.stallJob = true
	p := newPrinter(t, f, Options{})
	if err := p.Print(context.Background(), sampleReceipt()); !errors.Is(err, ErrWriteStalled) {
		t.Errorf("stalled transport: err = %v, want ErrWriteStalled", err)
	}
	boom := errors.New("device unplugged")
	f = newFake(idle)
	f.writeErr = boom
	p = newPrinter(t, f, Options{})
	if err := p.Print(context.Background(), sampleReceipt()); !errors.Is(err, boom) {
		t.Errorf("write error: err = %v, want it wrapped", err)
	}
}

// countingClock fires After at once and counts the calls.
type countingClock struct {
	*clock.Fake
	mu     sync.Mutex
	afters []time.Duration
}

func (c *countingClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.afters = append(c.afters, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// Paced writes: a pause after every chunk but the last.
func TestPrintChunkDelay(t *testing.T) {
	f := newFake(idle)
	cc := &countingClock{Fake: f.clk}
	chunks := 0
	f.onWrite = func(p []byte) {
		if len(p) != 3 {
			chunks++
		}
	}
	p, err := New(f, Options{Profile: Generic80, Clock: cc, ChunkSize: 64, ChunkDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Print(context.Background(), sampleReceipt()); err != nil {
		t.Fatal(err)
	}
	if len(cc.afters) != chunks-1 || chunks < 3 {
		t.Errorf("%d pauses for %d chunks, want chunks-1", len(cc.afters), chunks)
	}
	for _, d := range cc.afters {
		if d != 5*time.Millisecond {
			t.Errorf("pause %v", d)
		}
	}
}

func TestSendAndClose(t *testing.T) {
	f := newFake(idle)
	p := newPrinter(t, f, Options{})
	var b Builder
	if err := b.DrawerKick(DrawerPin2, 100*time.Millisecond, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.bytesWritten(), unhex(t, "1B 70 00 32 32")) {
		t.Errorf("wrote % X", f.bytesWritten())
	}
	if err := p.Close(); err != nil || !f.closed {
		t.Errorf("Close: %v, closed %v", err, f.closed)
	}
	if p.Profile().Name != Generic80.Name {
		t.Error("Profile() wrong")
	}
}

func TestNewValidates(t *testing.T) {
	f := newFake(idle)
	if _, err := New(nil, Options{Profile: Generic80}); !errors.Is(err, ErrParam) {
		t.Errorf("nil transport: %v", err)
	}
	if _, err := New(f, Options{}); !errors.Is(err, ErrProfile) {
		t.Errorf("no profile: %v", err)
	}
	if _, err := New(f, Options{Profile: Generic80, ChunkSize: -1}); !errors.Is(err, ErrParam) {
		t.Errorf("negative chunk: %v", err)
	}
	// A small receive buffer lowers the default chunk size.
	prof := Generic80
	prof.BufferBytes = 45
	p, err := New(f, Options{Profile: prof})
	if err != nil || p.o.ChunkSize != 45 {
		t.Errorf("chunk size %d, err %v; want 45", p.o.ChunkSize, err)
	}
}
