//go:build linux

package escpos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	emu "github.com/posagent/posagent/cmd/possim/emu/escpos"
	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/drivers/serialio"
)

// The real driver against possim's printer emulator over a real
// pseudo-terminal, opened with drivers/serialio (the production
// transport, go.bug.st/serial underneath).

// rig is a driver and the emulated printer it talks to.
type rig struct {
	em   *emu.Printer
	dev  *ptydev.Device
	port *serialio.SerialPort
	p    *Printer
}

// newRig plugs an emulated printer shaped like prof (width, columns,
// buffer, speed) into a pseudo-terminal and opens it with serialio.
// paced: the emulator reads at the profile's baud and prints at its speed,
// and ptydev paces the answers at the baud; otherwise no timing at all.
func newRig(t testing.TB, prof Profile, paced bool, o Options, mod func(*emu.Config)) *rig {
	t.Helper()
	cfg := emu.Config{
		Width: prof.DotsPerLine, Columns: prof.Columns, BufferBytes: prof.BufferBytes,
		SpeedMMs: prof.SpeedMMs, Baud: prof.Baud, Unpaced: !paced,
	}
	if mod != nil {
		mod(&cfg)
	}
	em, err := emu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	baud := 0
	if paced {
		baud = prof.Baud
	}
	dev := ptydev.New(ptydev.Config{Name: "printer", Link: filepath.Join(t.TempDir(), "printer"), Baud: baud}, em)
	if err := dev.Plug(context.Background()); err != nil {
		t.Skipf("no pseudo-terminal available here: %v", err)
	}
	t.Cleanup(func() { dev.Close() })
	port, err := serialio.Open(context.Background(), serialio.Config{Path: dev.Link(), Baud: prof.Baud})
	if err != nil {
		t.Fatalf("serialio.Open(%s): %v", dev.Link(), err)
	}
	t.Cleanup(func() { port.Close() })
	o.Profile = prof
	p, err := New(port, o)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{em: em, dev: dev, port: port, p: p}
}

// emuProblems returns the emulator's problems without "font missing",
// which only says Unifont is not installed here (logged instead).
func emuProblems(t testing.TB, r emu.Receipt) []string {
	t.Helper()
	var out []string
	for _, pr := range r.Problems {
		if strings.HasPrefix(pr, "font missing") {
			t.Log("emulator font missing: text renders as boxes (apt-get install unifont)")
			continue
		}
		out = append(out, pr)
	}
	return out
}

func waitReceipt(t testing.TB, em *emu.Printer, seq int) emu.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := em.WaitReceipt(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// chineseReceipt is receipt.Build's customer copy with a Chinese merchant
// name, a masked PAN and the amount, plus a line with ¥ (which GBK has no
// 2-byte code for: the driver sends ￥, A3 A4).
func chineseReceipt() receipt.Receipt {
	rc := receipt.Build(receipt.Merchant{Name: "测试商户 Test Shop"}, sampleRecord(), receipt.CustomerCopy, time.UTC)
	rc.Lines = append(rc.Lines, receipt.Line{Text: "合计 TOTAL: ¥12.34", Bold: true})
	return rc
}

// printedLines is what each receipt line should look like on paper at
// the given width: receipt.Text's layout (centring in columns, CJK two
// columns wide), with ¥ as the ￥ the driver sends.
func printedLines(rc receipt.Receipt, cols int) []string {
	text := strings.ReplaceAll(rc.Text(cols), "¥", "￥")
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if !strings.HasPrefix(l, "[QR ") {
			out = append(out, l)
		}
	}
	return out
}

// A receipt from receipt.Build prints on the emulated 80 mm printer: every
// line as laid out (Chinese merchant name, masked PAN, amount), ¥ as ￥
// without a problem, the QR code, a PNG of the right width whose text
// lines all carry ink, and exactly the bytes Render made.
func TestPossimReceipt(t *testing.T) {
	r := newRig(t, Generic80, false, Options{ResponseTimeout: 2 * time.Second}, nil)
	rc := chineseReceipt()
	job, probs, err := Render(Generic80, rc)
	if err != nil || len(probs) != 0 {
		t.Fatalf("render: %v %v", err, probs)
	}
	if !bytes.Contains(job, []byte{0xA3, 0xA4, '1', '2'}) || bytes.Contains(job, []byte{0x81, 0x30, 0x84, 0x36}) {
		t.Fatal("the job does not carry ¥ as ￥ (A3 A4)")
	}
	if err := r.p.Print(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	got := waitReceipt(t, r.em, 1)
	if len(emuProblems(t, got)) != 0 {
		t.Errorf("emulator problems: %q", emuProblems(t, got))
	}
	if got.Bytes != len(job) || got.Cut != "partial" {
		t.Errorf("emulator received %d print bytes (cut %q), driver rendered %d", got.Bytes, got.Cut, len(job))
	}
	lines := strings.Split(got.Text, "\n")
	i := 0
	for _, want := range printedLines(rc, Generic80.Columns) {
		for i < len(lines) && lines[i] != want {
			i++
		}
		if i == len(lines) {
			t.Fatalf("printed text lacks %q (in order); printed:\n%s", want, got.Text)
		}
	}
	for _, want := range []string{"商户名称 MERCHANT:\n测试商户 Test Shop", "卡号 CARD: 622202******1234", "金额 AMOUNT:\nCNY 12.34", "合计 TOTAL: ￥12.34"} {
		if !strings.Contains(got.Text, want+"\n") {
			t.Errorf("printed text lacks the line %q", want)
		}
	}
	if !strings.Contains(got.Text, "[QR "+rc.QR+"]") {
		t.Errorf("printed text lacks the QR code %q", rc.QR)
	}

	img, err := png.Decode(bytes.NewReader(got.PNG))
	if err != nil {
		t.Fatalf("receipt PNG: %v", err)
	}
	if img.Bounds().Dx() != Generic80.DotsPerLine {
		t.Errorf("PNG width %d, want %d", img.Bounds().Dx(), Generic80.DotsPerLine)
	}
	// Each text line is at least 34 dots (1/6 inch) tall; every one of
	// the first len(rc.Lines) bands must have ink.
	inked := 0
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				inked++
				break
			}
		}
	}
	if inked < len(rc.Lines)*16 {
		t.Errorf("only %d of %d PNG rows have ink for %d text lines", inked, img.Bounds().Dy(), len(rc.Lines))
	}
	if bin, err := exec.LookPath("zbarimg"); err == nil {
		f := filepath.Join(t.TempDir(), "receipt.png")
		if err := os.WriteFile(f, got.PNG, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "--raw", "-q", f).Output()
		if err != nil || strings.TrimSpace(string(out)) != rc.QR {
			t.Errorf("zbarimg read %q (%v), want %q", out, err, rc.QR)
		}
	} else {
		t.Log("zbarimg not installed (apt-get install zbar-tools): QR scannability not checked")
	}
}

// Paper out: Status reports it, Print refuses with ErrPaperOut and sends
// nothing but the status requests; paper back, the receipt prints.
func TestPossimPaperOut(t *testing.T) {
	r := newRig(t, Generic80, false, Options{ResponseTimeout: 2 * time.Second}, nil)
	ctx := context.Background()
	r.em.SetPaperOut(true)
	st, err := r.p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.PaperOut || st.Online || !st.PaperEndStop {
		t.Errorf("status %v, want paper out, offline", st)
	}
	err = r.p.Print(ctx, chineseReceipt())
	if !errors.Is(err, ErrPaperOut) || errors.Is(err, ErrMaybeIncomplete) {
		t.Fatalf("Print = %v, want ErrPaperOut before sending", err)
	}
	// Two status checks (Status, then Print's), 12 bytes each: no job.
	if got := r.em.Stats().Received; got != 24 {
		t.Errorf("printer received %d bytes, want only the 24 of two status checks", got)
	}
	if _, ok := r.em.Last(); ok {
		t.Error("a receipt printed without paper")
	}
	r.em.SetPaperOut(false)
	if err := r.p.Print(ctx, chineseReceipt()); err != nil {
		t.Fatalf("Print with paper back: %v", err)
	}
	if got := waitReceipt(t, r.em, 1); !strings.Contains(got.Text, "测试商户 Test Shop") {
		t.Errorf("receipt after paper came back:\n%s", got.Text)
	}
}

// Cover open: ErrCoverOpen, nothing sent; near end alone still prints.
func TestPossimCoverOpenAndNearEnd(t *testing.T) {
	r := newRig(t, Generic80, false, Options{ResponseTimeout: 2 * time.Second}, nil)
	ctx := context.Background()
	r.em.SetCoverOpen(true)
	if err := r.p.Print(ctx, chineseReceipt()); !errors.Is(err, ErrCoverOpen) {
		t.Fatalf("Print = %v, want ErrCoverOpen", err)
	}
	r.em.SetCoverOpen(false)
	r.em.SetCutterError(true)
	if err := r.p.Print(ctx, chineseReceipt()); !errors.Is(err, ErrFault) {
		t.Fatalf("Print = %v, want ErrFault", err)
	}
	r.em.SetCutterError(false)
	r.em.SetPaperNearEnd(true)
	if err := r.p.Print(ctx, chineseReceipt()); err != nil {
		t.Fatalf("Print with paper near end: %v", err)
	}
	st, err := r.p.Status(ctx)
	if err != nil || !st.PaperNearEnd || !st.Online {
		t.Errorf("status %v, %v: want online, near end", st, err)
	}
	waitReceipt(t, r.em, 1)
	if n := r.em.Stats().Receipts; n != 1 {
		t.Errorf("%d receipts, want 1", n)
	}
}

// longJob is a long 58 mm receipt: a 384×64 raster logo (strips sized to
// the 4 KiB buffer), every line of the Chinese receipt three times, its QR
// code as a raster image (the 58 mm profile has no native QR) and the
// tear-off feed.
func longJob(t testing.TB) *Builder {
	t.Helper()
	prof := Generic58
	b, err := NewBuilder(prof.Encoding)
	if err != nil {
		t.Fatal(err)
	}
	b.Init()
	logo := NewBitmap(prof.DotsPerLine, 64)
	for y := range logo.Height {
		for x := range logo.Width {
			logo.Set(x, y, (x/16+y/16)%2 == 0 || y < 4 || y >= 60)
		}
	}
	_ = b.Align(AlignCenter)
	if err := b.Raster(logo, prof.stripRows(logo.Stride)); err != nil {
		t.Fatal(err)
	}
	_ = b.Align(AlignLeft)
	rc := chineseReceipt()
	for range 3 {
		for _, l := range rc.Lines {
			for _, seg := range wrap(l.Text, prof.Columns, true) {
				if probs := b.Line(l.Text[seg.start:seg.end]); len(probs) != 0 {
					t.Fatalf("line %q: %v", l.Text, probs)
				}
			}
		}
	}
	qr, err := qrBitmap(rc.QR, prof.qrModule(), prof.DotsPerLine)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Align(AlignCenter)
	if err := b.Raster(qr, prof.stripRows(qr.Stride)); err != nil {
		t.Fatal(err)
	}
	b.Feed(4)
	// A DLE EOT n inside image data is answered by the printer as a
	// real-time request (Epson firmware does the same); it would be taken
	// for a reply. The fixture must not contain one.
	for n := byte(1); n <= 4; n++ {
		if bytes.Contains(b.Bytes(), []byte{DLE, EOT, n}) {
			t.Fatalf("fixture contains DLE EOT %d in its data", n)
		}
	}
	return b
}

// A long receipt with a raster logo, more than the printer's 4 KiB
// buffer, at 9600 baud with pacing on (the emulator reads at the line
// rate and prints at 60 mm/s): it completes and not a byte is lost.
func TestPossimLongReceiptPaced(t *testing.T) {
	if testing.Short() {
		t.Skip("takes the ~6 s a 5.6 KB job needs at 9600 baud")
	}
	// The status check after the job allows its 6 s of line on top of the
	// response timeout; 3 s of response timeout leave room for a loaded
	// machine (the emulator is a process competing for the CPU).
	r := newRig(t, Generic58, true, Options{ResponseTimeout: 3 * time.Second}, nil)
	b := longJob(t)
	if b.Len() <= Generic58.BufferBytes {
		t.Fatalf("job of %d bytes does not exceed the %d-byte buffer", b.Len(), Generic58.BufferBytes)
	}
	ctx := context.Background()
	if err := r.p.PrintBuilt(ctx, b); err != nil {
		t.Fatalf("PrintBuilt: %v (job %d bytes, printer %+v)", err, b.Len(), r.em.Stats())
	}
	if err := r.em.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	got, ok := r.em.Tear() // no cutter on 58 mm: tear it off
	if !ok {
		t.Fatal("nothing printed")
	}
	st := r.em.Stats()
	if want := int64(b.Len() + 2*len(statusRequests)); st.Received != want {
		t.Errorf("printer received %d bytes, driver sent %d", st.Received, want)
	}
	if got.Bytes != b.Len() {
		t.Errorf("receipt made of %d print bytes, job has %d", got.Bytes, b.Len())
	}
	if st.MaxBuffered > Generic58.BufferBytes {
		t.Errorf("buffer held %d bytes, more than %d", st.MaxBuffered, Generic58.BufferBytes)
	}
	if len(emuProblems(t, got)) != 0 {
		t.Errorf("problems: %q", emuProblems(t, got))
	}
	if !strings.HasPrefix(got.Text, "[IMAGE 384x64]\n") || strings.Count(got.Text, "MERCHANT:\n测试商户 Test Shop\n") != 3 {
		t.Errorf("printed text:\n%s", got.Text)
	}
	if st.Dots < 64+int64(3*len(chineseReceipt().Lines)*34) {
		t.Errorf("paper moved %d dots", st.Dots)
	}
}

// Back-pressure through the pty: while the printer is offline its 4 KiB
// buffer fills, then the pseudo-terminal's own buffer, and the driver's
// write blocks (it is not dropped); back online, every byte arrives.
func TestPossimBackPressure(t *testing.T) {
	r := newRig(t, Generic80, false, Options{}, nil)
	r.em.SetOffline(true)
	data := bytes.Repeat([]byte("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghij\n"), 1000) // 48 KB
	done := make(chan error, 1)
	go func() { done <- r.p.Send(context.Background(), data) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.em.Stats().BufferFull == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the printer's buffer never filled")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Send returned (%v) with the printer offline and 48 KB to write", err)
	default:
	}
	// The buffer holds 4096 bytes; the first line's 47 characters are in
	// the line buffer, waiting for the printer to come back.
	if st := r.em.Stats(); st.Received > int64(Generic80.BufferBytes+48) || st.Dots != 0 {
		t.Fatalf("offline printer read %d bytes, printed %d dots", st.Received, st.Dots)
	}
	r.em.SetOffline(false)
	if err := <-done; err != nil {
		t.Fatalf("Send: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for r.em.Stats().Received < int64(len(data)) {
		if ctx.Err() != nil {
			t.Fatalf("printer received %d of %d bytes", r.em.Stats().Received, len(data))
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.em.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := r.em.Tear()
	if n := strings.Count(got.Text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghij\n"); n != 1000 {
		t.Errorf("%d of 1000 lines printed", n)
	}
}

// timeoutErr is a read timeout the way drivers/serialio reports one: an
// error with Timeout() true instead of (0, nil).
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "serialio: read /dev/ttyX: timed out" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// errTransport wraps the fake printer and reports read timeouts as err.
type errTransport struct {
	*fakePrinter
	err error
}

func (e *errTransport) Read(p []byte) (int, error) {
	n, err := e.fakePrinter.Read(p)
	if n == 0 && err == nil {
		return 0, e.err
	}
	return n, err
}

// A read timeout reported as an error (serialio's Timeout() error, or
// os.ErrDeadlineExceeded) is a timeout like (0, nil): status works, a
// silent printer is ErrNoResponse after the response timeout; any other
// read error is a link failure.
func TestReadTimeoutErrors(t *testing.T) {
	for _, terr := range []error{
		fmt.Errorf("wrapped: %w", timeoutErr{}),
		os.ErrDeadlineExceeded,
		&os.PathError{Op: "read", Path: "/dev/ttyX", Err: os.ErrDeadlineExceeded},
	} {
		f := newFake(idle)
		f.in = []byte{0x1A} // a stale byte: drained until the timeout
		tr := &errTransport{fakePrinter: f, err: terr}
		p, err := New(tr, Options{Profile: Generic80, Clock: f.clk, ResponseTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		st, err := p.Status(context.Background())
		if err != nil || !st.Online {
			t.Errorf("%v: Status = %v, %v", terr, st, err)
		}
		f.silent = true
		start := f.clk.Now()
		_, err = p.Status(context.Background())
		if !errors.Is(err, ErrNoResponse) {
			t.Errorf("%v: silent printer: %v, want ErrNoResponse", terr, err)
		}
		if waited := f.clk.Now().Sub(start); waited != 300*time.Millisecond {
			t.Errorf("%v: waited %v, want the 300ms response timeout", terr, waited)
		}
	}
	// Not a timeout: a link failure, reported at once.
	f := newFake(idle)
	broken := errors.New("device gone")
	p, err := New(&errTransport{fakePrinter: f, err: broken}, Options{Profile: Generic80, Clock: f.clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Status(context.Background()); !errors.Is(err, broken) || errors.Is(err, ErrNoResponse) {
		t.Errorf("Status = %v, want the link error", err)
	}
	// The same over the production transport: serialio on a pty whose
	// other end never answers.
	silentRig(t)
}

// silent is a device that reads and never answers.
type silent struct{}

func (silent) Serve(ctx context.Context, rw io.ReadWriter) error {
	_, err := io.Copy(io.Discard, rw)
	return err
}

func silentRig(t *testing.T) {
	t.Helper()
	dev := ptydev.New(ptydev.Config{Name: "silent", Link: filepath.Join(t.TempDir(), "silent")}, silent{})
	if err := dev.Plug(context.Background()); err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer dev.Close()
	port, err := serialio.Open(context.Background(), serialio.Config{Path: dev.Link()})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	p, err := New(port, Options{Profile: Generic80, ResponseTimeout: 150 * time.Millisecond, ReadSlice: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Status(context.Background())
	if !errors.Is(err, ErrNoResponse) || errors.Is(err, serialio.ErrTimeout) {
		t.Fatalf("Status over serialio to a silent device = %v, want ErrNoResponse (not a raw serialio timeout)", err)
	}
}

// BenchmarkReceiptPrintPTY prints receipt.Build's receipt through the
// real driver, serialio and a pseudo-terminal to the paced emulator (line
// rate = the profile's baud, print speed = its mm/s, its buffer), until
// the paper stands still. Metrics: the job's bytes, its wire time
// (bytes × 10 / baud, the serial limit) and the mechanism time (dots moved
// / 8 dots per mm / speed), against which ns/op is the measured print
// time.
func BenchmarkReceiptPrintPTY(b *testing.B) {
	for _, prof := range Profiles() {
		b.Run(prof.Name, func(b *testing.B) {
			r := newRig(b, prof, true, Options{}, nil)
			rc := chineseReceipt()
			job, _, err := Render(prof, rc)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var dots int64
			for b.Loop() {
				before := r.em.Stats().Dots
				if err := r.p.Print(ctx, rc); err != nil {
					b.Fatal(err)
				}
				if err := r.em.WaitIdle(ctx); err != nil {
					b.Fatal(err)
				}
				dots = r.em.Stats().Dots - before
				if !prof.SupportsCut {
					r.em.Tear()
				}
			}
			b.ReportMetric(float64(len(job)), "job-bytes")
			b.ReportMetric(float64(prof.TransferTime(len(job)).Microseconds())/1000, "wire-ms")
			b.ReportMetric(float64(emu.MechanismTime(int(dots), prof.SpeedMMs).Microseconds())/1000, "mech-ms")
		})
	}
}
