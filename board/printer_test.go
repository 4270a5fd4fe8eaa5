//go:build linux

package board

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	emu "github.com/posagent/posagent/cmd/possim/emu/escpos"
	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/drivers/escpos"
	"github.com/posagent/posagent/drivers/serialio"
)

// plugPrinter puts handler on a pseudo-terminal and returns a
// ReceiptPrinter on it through serialio and the escpos driver.
func plugPrinter(t *testing.T, h ptydev.Handler, baud int, o escpos.Options) *ReceiptPrinter {
	t.Helper()
	dev := ptydev.New(ptydev.Config{Name: "printer", Link: filepath.Join(t.TempDir(), "printer"), Baud: baud}, h)
	if err := dev.Plug(context.Background()); err != nil {
		t.Skipf("no pseudo-terminal available here: %v", err)
	}
	t.Cleanup(func() { dev.Close() })
	port, err := serialio.Open(context.Background(), serialio.Config{Path: dev.Link(), Baud: max(baud, 9600)})
	if err != nil {
		t.Fatal(err)
	}
	if o.Profile.Name == "" {
		o.Profile = escpos.Generic80
	}
	p, err := escpos.New(port, o)
	if err != nil {
		t.Fatal(err)
	}
	rp := NewReceiptPrinter(p, nil)
	t.Cleanup(func() { rp.Close() })
	return rp
}

// emulated is an unpaced 80 mm emulated printer behind a ReceiptPrinter.
func emulated(t *testing.T) (*emu.Printer, *ReceiptPrinter) {
	t.Helper()
	em, err := emu.New(emu.Config{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	return em, plugPrinter(t, em, 0, escpos.Options{ResponseTimeout: 2 * time.Second})
}

func sample() receipt.Receipt {
	rec := txn.Record{
		ID: "0000000000000007", Type: txn.Sale, Entry: txn.Contactless, State: txn.Approved,
		Amount:    money.Amount{Minor: 1234, Currency: money.CNY},
		Identity:  txn.Identity{TID: "12345678", MID: "123456789012345", Batch: 1, STAN: 7, Invoice: 7},
		MaskedPAN: "622202******1234", Scheme: "UnionPay",
		Created: time.Date(2025, 3, 1, 4, 5, 6, 0, time.UTC),
	}
	return receipt.Build(receipt.Merchant{Name: "测试商户"}, rec, receipt.MerchantCopy, time.UTC)
}

func waitReceipt(t *testing.T, em *emu.Printer, seq int) emu.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := em.WaitReceipt(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReceiptPrinterPrints(t *testing.T) {
	em, rp := emulated(t)
	if err := rp.Print(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	got := waitReceipt(t, em, 1)
	for _, want := range []string{"商户名称 MERCHANT: 测试商户", "卡号 CARD: 622202******1234", "金额 AMOUNT:\nCNY 12.34"} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("printed text lacks %q:\n%s", want, got.Text)
		}
	}
	st, err := rp.Status(context.Background())
	if err != nil || !st.Online {
		t.Errorf("Status = %v, %v", st, err)
	}
}

// Paper out before printing is payment.ErrPaperOut (the engine keeps the
// job queued and says "paper out"), with the driver's error inside; with
// paper back the same receipt prints.
func TestReceiptPrinterPaperOut(t *testing.T) {
	em, rp := emulated(t)
	em.SetPaperOut(true)
	err := rp.Print(context.Background(), sample())
	if !errors.Is(err, payment.ErrPaperOut) || !errors.Is(err, escpos.ErrPaperOut) {
		t.Fatalf("Print = %v, want payment.ErrPaperOut wrapping escpos.ErrPaperOut", err)
	}
	if errors.Is(err, ErrPrinterNotReady) {
		t.Errorf("paper out also reported as not ready: %v", err)
	}
	if em.Stats().Received != 12 {
		t.Errorf("printer received %d bytes, want only the status requests", em.Stats().Received)
	}
	em.SetPaperOut(false)
	if err := rp.Print(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	waitReceipt(t, em, 1)
}

// Paper runs out while the job is on the line: payment.ErrPaperOut too
// (the receipt stays queued and prints again), with ErrMaybeIncomplete.
func TestReceiptPrinterPaperOutWhilePrinting(t *testing.T) {
	// 2400 baud: the 600-byte job is 2.5 s on the line, time enough to
	// pull the paper after it started.
	em, err := emu.New(emu.Config{Baud: 2400, SpeedMMs: 200})
	if err != nil {
		t.Fatal(err)
	}
	rp := plugPrinter(t, em, 2400, escpos.Options{Profile: withBaud(escpos.Generic80, 2400), ResponseTimeout: 3 * time.Second})
	done := make(chan error, 1)
	go func() { done <- rp.Print(context.Background(), sample()) }()
	deadline := time.Now().Add(10 * time.Second)
	for em.Stats().Received <= 12 { // past the status check, into the job
		if time.Now().After(deadline) {
			t.Fatal("the job never started")
		}
		time.Sleep(time.Millisecond)
	}
	em.SetPaperOut(true)
	err = <-done
	if !errors.Is(err, payment.ErrPaperOut) || !errors.Is(err, escpos.ErrMaybeIncomplete) {
		t.Fatalf("Print = %v, want payment.ErrPaperOut and escpos.ErrMaybeIncomplete (printer %+v)", err, em.Stats())
	}
}

func withBaud(p escpos.Profile, baud int) escpos.Profile {
	p.Baud = baud
	return p
}

// Cover open, offline and a cutter error hold the job like paper out does
// (the engine retries every printer error) but are not reported as paper
// out: ErrPrinterNotReady with the driver's condition.
func TestReceiptPrinterNotReady(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*emu.Printer, bool)
		want error
	}{
		{"cover open", (*emu.Printer).SetCoverOpen, escpos.ErrCoverOpen},
		{"offline", (*emu.Printer).SetOffline, escpos.ErrOffline},
		{"cutter error", (*emu.Printer).SetCutterError, escpos.ErrFault},
	} {
		t.Run(c.name, func(t *testing.T) {
			em, rp := emulated(t)
			c.set(em, true)
			err := rp.Print(context.Background(), sample())
			if !errors.Is(err, ErrPrinterNotReady) || !errors.Is(err, c.want) || errors.Is(err, payment.ErrPaperOut) {
				t.Fatalf("Print = %v, want ErrPrinterNotReady wrapping %v, not paper out", err, c.want)
			}
			c.set(em, false)
			if err := rp.Print(context.Background(), sample()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// silent reads and never answers: a printer that is not responding.
type silent struct{}

func (silent) Serve(ctx context.Context, rw io.ReadWriter) error {
	_, err := io.Copy(io.Discard, rw)
	return err
}

// A printer that does not answer is an error (queued and retried), not
// paper out and not "not ready"; a cancelled context ends Print at once.
func TestReceiptPrinterNoResponse(t *testing.T) {
	rp := plugPrinter(t, silent{}, 0, escpos.Options{ResponseTimeout: 150 * time.Millisecond, ReadSlice: 20 * time.Millisecond})
	err := rp.Print(context.Background(), sample())
	if !errors.Is(err, escpos.ErrNoResponse) || errors.Is(err, payment.ErrPaperOut) || errors.Is(err, ErrPrinterNotReady) {
		t.Fatalf("Print = %v, want escpos.ErrNoResponse only", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rp.Print(ctx, sample()); !errors.Is(err, context.Canceled) {
		t.Errorf("Print with a cancelled context = %v", err)
	}
}
