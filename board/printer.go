package board

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/drivers/escpos"
)

// ErrPrinterNotReady is returned (wrapped, together with the escpos
// condition) when the printer cannot print for a reason other than paper:
// cover open, offline, or a printer error (cutter, head). The engine keeps
// the receipt queued and its background loop retries with backoff, as it
// does for every printer error; only paper out gets payment.ErrPaperOut,
// which the sale reports to the merchant as "paper out".
var ErrPrinterNotReady = errors.New("board: printer not ready")

// ReceiptPrinter is the payment.Printer of a board with an ESC/POS
// receipt printer. It translates the driver's conditions into what the
// payment engine acts on:
//
//   - paper out, found before sending (escpos.ErrPaperOut): wraps
//     payment.ErrPaperOut; nothing was printed, the job stays queued until
//     paper returns.
//   - paper out found after sending (escpos.ErrPaperOut with
//     escpos.ErrMaybeIncomplete): also payment.ErrPaperOut. The receipt
//     may be partly printed; it stays queued and prints again in full
//     when paper returns (a torn half receipt is better than a lost one).
//   - cover open, offline, printer fault (escpos.ErrCoverOpen, ErrOffline,
//     ErrFault): wraps ErrPrinterNotReady; queued and retried.
//   - a printer that does not answer (escpos.ErrNoResponse), a link error
//     or a cancelled context: returned wrapped as is; queued and retried.
//
// Every returned error still wraps the driver's (errors.Is works for the
// escpos sentinels too).
type ReceiptPrinter struct {
	p   *escpos.Printer
	log *slog.Logger
}

var _ payment.Printer = (*ReceiptPrinter)(nil)

// NewReceiptPrinter returns a payment.Printer over an opened driver; log
// may be nil.
func NewReceiptPrinter(p *escpos.Printer, log *slog.Logger) *ReceiptPrinter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ReceiptPrinter{p: p, log: log.With("device", "printer")}
}

// Print implements payment.Printer: it prints r, bounded by ctx (the
// engine gives each receipt its PrintTimeout).
func (rp *ReceiptPrinter) Print(ctx context.Context, r receipt.Receipt) error {
	err := rp.p.Print(ctx, r)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, escpos.ErrPaperOut):
		if errors.Is(err, escpos.ErrMaybeIncomplete) {
			rp.log.Warn("paper ran out while printing; the receipt will print again", "txn", r.TxnID, "copy", r.Copy)
		}
		return fmt.Errorf("%w: %w", payment.ErrPaperOut, err)
	case escpos.IsCondition(err):
		return fmt.Errorf("%w: %w", ErrPrinterNotReady, err)
	}
	return fmt.Errorf("board: printer: %w", err)
}

// Status returns the printer's real-time status.
func (rp *ReceiptPrinter) Status(ctx context.Context) (escpos.Status, error) {
	return rp.p.Status(ctx)
}

// Close closes the printer's transport.
func (rp *ReceiptPrinter) Close() error { return rp.p.Close() }
