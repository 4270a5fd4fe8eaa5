package board

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/drivers/scanner"
)

// linesPort is a scanner port that yields its data once, then times out.
type linesPort struct {
	mu   sync.Mutex
	data []byte
}

func (p *linesPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.data) == 0 {
		time.Sleep(5 * time.Millisecond)
		return 0, nil // a read timeout, as go.bug.st/serial reports it
	}
	n := copy(b, p.data)
	p.data = p.data[n:]
	return n, nil
}
func (p *linesPort) SetReadTimeout(time.Duration) error { return nil }
func (p *linesPort) Close() error                       { return nil }

// A product barcode scanned during a sale is not taken as payment, and the
// customer is told why; the payment code scanned next is.
func TestScannerSourcePromptsForProductBarcodes(t *testing.T) {
	port := &linesPort{data: []byte("6901234567892\r134567890123456789\r")}
	s, err := scanner.NewSerial(port, "test-scanner", scanner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &scannerSource{s: s, log: slog.New(slog.DiscardHandler)}
	var shown []string
	req := payment.CardRequest{Amount: money.Amount{Minor: 100, Currency: money.CNY}, Type: txn.Sale,
		Prompt: func(msg string) { shown = append(shown, msg) }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := src.ReadCard(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Entry != txn.QR || d.Sensitive.QRCode != "134567890123456789" {
		t.Fatalf("read %+v", d)
	}
	if !slices.Equal(shown, []string{PromptNotPaymentCode}) {
		t.Fatalf("prompts %q, want %q", shown, PromptNotPaymentCode)
	}
}
