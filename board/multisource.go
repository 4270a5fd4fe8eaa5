package board

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/drivers/scanner"
)

// modal is a card source that says which entry modes it serves.
type modal interface {
	payment.CardSource
	Modes() []txn.EntryMode
}

// MultiSource waits on several card sources at once (the contactless
// reader and the QR scanner): the first card or payment code wins and the
// others are cancelled.
type MultiSource struct {
	log     *slog.Logger
	sources []payment.CardSource
}

// NewMultiSource combines sources; nil ones are skipped.
func NewMultiSource(log *slog.Logger, sources ...payment.CardSource) *MultiSource {
	m := &MultiSource{log: log}
	for _, s := range sources {
		if s != nil {
			m.sources = append(m.sources, s)
		}
	}
	return m
}

// serves reports whether s can deliver one of the requested modes.
func serves(s payment.CardSource, want []txn.EntryMode) bool {
	if len(want) == 0 {
		return true
	}
	md, ok := s.(modal)
	if !ok {
		return slices.Contains(want, txn.Contactless)
	}
	for _, m := range md.Modes() {
		if slices.Contains(want, m) {
			return true
		}
	}
	return false
}

// ReadCard implements payment.CardSource.
func (m *MultiSource) ReadCard(ctx context.Context, req payment.CardRequest) (card.Data, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		d   card.Data
		err error
	}
	results := make(chan result, len(m.sources))
	n := 0
	for _, s := range m.sources {
		if !serves(s, req.Modes) {
			continue
		}
		n++
		go func(s payment.CardSource) {
			d, err := s.ReadCard(ctx, req)
			results <- result{d, err}
		}(s)
	}
	if n == 0 {
		return card.Data{}, ErrEntryMode
	}
	var first error
	for i := 0; i < n; i++ {
		r := <-results
		if r.err == nil {
			cancel()
			return r.d, nil
		}
		if first == nil || (errors.Is(first, context.Canceled) && !errors.Is(r.err, context.Canceled)) {
			first = r.err
		}
		if ctx.Err() == nil && !errors.Is(r.err, context.Canceled) && !errors.Is(r.err, context.DeadlineExceeded) {
			// One source failed for good (e.g. the card was declined by
			// the card): that decides the sale.
			cancel()
			return card.Data{}, r.err
		}
	}
	return card.Data{}, first
}

// Prompts of the scanner source (CardRequest.Prompt): the sale goes on
// waiting, and the customer learns why the scan did nothing.
const (
	// PromptNotPaymentCode: a product barcode or another code that is not
	// a customer's payment code was scanned.
	PromptNotPaymentCode = "not a payment code: show the payment code in your wallet app"
	// PromptScanAgain: the scan was unreadable or too long.
	PromptScanAgain = "scan not readable, scan again"
)

// prompt tells the sale's screen, when it listens.
func prompt(req payment.CardRequest, msg string) {
	if req.Prompt != nil {
		req.Prompt(msg)
	}
}

// scannerSource turns the customer's payment code, read by the scanner,
// into card data (QR entry, online only). Product barcodes are ignored,
// with a prompt saying so.
type scannerSource struct {
	s   *scanner.Serial
	log *slog.Logger
}

func (q *scannerSource) Modes() []txn.EntryMode { return []txn.EntryMode{txn.QR} }

func (q *scannerSource) ReadCard(ctx context.Context, req payment.CardRequest) (card.Data, error) {
	for {
		code, err := q.s.Scan(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return card.Data{}, ctx.Err()
			}
			if errors.Is(err, scanner.ErrBadScan) {
				q.log.Warn("bad scan ignored", "err", err)
				prompt(req, PromptScanAgain)
				continue
			}
			return card.Data{}, err
		}
		if !code.Kind.IsPayment() {
			q.log.Info("scanned a code that is not a payment code; ignored", "kind", code.Kind.String(), "code", code.Masked())
			prompt(req, PromptNotPaymentCode)
			continue
		}
		return card.Data{
			Entry:     txn.QR,
			Scheme:    code.Kind.String(),
			MaskedPAN: code.Masked(),
			Sensitive: txn.Sensitive{QRCode: code.Text()},
		}, nil
	}
}
