package standin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
)

// PrinterWidth is the stand-in printer's line width in columns (a 58 mm
// thermal printer's 32 characters of font A).
const PrinterWidth = 32

// Printer is the stand-in receipt printer, replaced by the ESC/POS
// driver. It writes each receipt as receipt.Text(PrinterWidth) followed by
// a tear line. Safe for concurrent use.
type Printer struct {
	mu       sync.Mutex
	w        io.Writer
	paperOut bool
	printed  int
}

// NewPrinter returns a printer writing to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// SetPaperOut opens (true) or closes (false) the paper-out switch.
func (p *Printer) SetPaperOut(out bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paperOut = out
}

// Printed returns how many receipts were printed.
func (p *Printer) Printed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.printed
}

// Print implements payment.Printer. With paper out it returns an error
// wrapping payment.ErrPaperOut and writes nothing.
func (p *Printer) Print(ctx context.Context, r receipt.Receipt) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("standin printer: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paperOut {
		return fmt.Errorf("standin printer: %w", payment.ErrPaperOut)
	}
	text := r.Text(PrinterWidth) + strings.Repeat("-", PrinterWidth) + "\n"
	if _, err := io.WriteString(p.w, text); err != nil {
		return fmt.Errorf("standin printer: writing receipt for %s: %w", r.TxnID, err)
	}
	p.printed++
	return nil
}

var _ payment.Printer = (*Printer)(nil)
