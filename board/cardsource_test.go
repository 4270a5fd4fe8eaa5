package board

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	emu "github.com/posagent/posagent/cmd/possim/emu/pn532"
	"github.com/posagent/posagent/cmd/possim/emu/ptydev"
	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/emv"
	"github.com/posagent/posagent/core/emv/emvtest"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/drivers/pn532"
)

// The card source is tested end to end: the real PN532 driver on a real
// pseudo-terminal (go.bug.st/serial), possim's PN532 emulator with the
// virtual EMV cards on the other side.

type sourceRig struct {
	emu *emu.Emulator
	src *PN532Source

	mu      sync.Mutex
	prompts []string
	// onPrompt, when set, reacts to a prompt like a customer would.
	onPrompt func(string)
}

func newSourceRig(t *testing.T) *sourceRig {
	t.Helper()
	e := emu.New(emu.Options{CardTimeout: 10 * time.Millisecond})
	link := filepath.Join(t.TempDir(), "pn532")
	pd := ptydev.New(ptydev.Config{Name: "pn532", Link: link}, e)
	if err := pd.Plug(context.Background()); err != nil {
		t.Fatalf("plug: %v", err)
	}
	t.Cleanup(func() { pd.Close() })
	port, err := serial.Open(link, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("serial.Open: %v", err)
	}
	dev := pn532.New(port, pn532.Options{AckTimeout: 100 * time.Millisecond, PollTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { dev.Close() })
	r := &sourceRig{emu: e}
	r.src = NewPN532Source(dev, CardSourceOptions{
		Terminal:     emv.Terminal{CVMLimit: 100000},
		PollInterval: 5 * time.Millisecond,
		OnPrompt: func(msg string) {
			r.mu.Lock()
			r.prompts = append(r.prompts, msg)
			f := r.onPrompt
			r.mu.Unlock()
			if f != nil {
				f(msg)
			}
		},
	})
	return r
}

func (r *sourceRig) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.prompts)
}

func saleRequest(minor int64) payment.CardRequest {
	return payment.CardRequest{
		Amount:        money.Amount{Minor: minor, Currency: money.CNY},
		Type:          txn.Sale,
		Modes:         []txn.EntryMode{txn.Contactless, txn.QR},
		Date:          time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
		Unpredictable: [4]byte{0xCA, 0xFE, 0xBA, 0xBE},
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkUnionPay checks the card data a UnionPay tap must give.
func checkUnionPay(t *testing.T, d card.Data, amount string) {
	t.Helper()
	want := emvtest.UnionPay()
	if d.Entry != txn.Contactless || d.Scheme != "UnionPay" || d.AID != want.AID {
		t.Fatalf("entry %q scheme %q AID %q", d.Entry, d.Scheme, d.AID)
	}
	if d.MaskedPAN != card.Mask(want.PAN) || strings.Contains(d.MaskedPAN, want.PAN[6:len(want.PAN)-4]) {
		t.Fatalf("masked PAN %q", d.MaskedPAN)
	}
	if d.Sensitive.PAN != want.PAN || d.Sensitive.Expiry != want.Expiry || d.Sensitive.Track2 == "" {
		t.Fatal("sensitive card data missing or wrong")
	}
	tlvs, err := emv.Parse(d.Sensitive.ICC)
	if err != nil {
		t.Fatalf("field 55 does not parse: %v", err)
	}
	ac, okAC := emv.Find(tlvs, emv.TagCryptogram)
	amt, okAmt := emv.Find(tlvs, emv.TagAmount)
	if !okAC || len(ac.Value) != 8 || !okAmt || strings.ToUpper(hex.EncodeToString(amt.Value)) != amount {
		t.Fatalf("field 55: 9F26 %v %X, 9F02 %v %X", okAC, ac.Value, okAmt, amt.Value)
	}
}

func TestPN532SourceUnionPayTap(t *testing.T) {
	r := newSourceRig(t)
	// The customer taps a moment after the terminal started waiting.
	go func() {
		time.Sleep(50 * time.Millisecond)
		r.emu.Tap(emvtest.UnionPay())
	}()
	d, err := r.src.ReadCard(ctxFor(t, 10*time.Second), saleRequest(1234))
	if err != nil {
		t.Fatalf("ReadCard: %v", err)
	}
	checkUnionPay(t, d, "000000001234")
	if d.CVMRequired {
		t.Fatal("12.34 CNY is below the CVM limit")
	}
	if p := r.seen(); len(p) != 0 {
		t.Fatalf("prompts %q for a clean tap", p)
	}
	// A second sale on the same source reuses the awake reader. The card
	// was released (and so halted, as a real card is after S(DESELECT)):
	// the customer presents it again.
	r.emu.Tap(emvtest.UnionPay())
	d, err = r.src.ReadCard(ctxFor(t, 10*time.Second), saleRequest(200000))
	if err != nil {
		t.Fatalf("second ReadCard: %v", err)
	}
	checkUnionPay(t, d, "000000200000")
	if !d.CVMRequired {
		t.Fatal("2000.00 CNY is above the 1000.00 CVM limit: a signature is required")
	}
}

// TestPN532SourceRemoveThenRetap: the card leaves during the read; the
// source says so and reads the card when it comes back.
func TestPN532SourceRemoveThenRetap(t *testing.T) {
	r := newSourceRig(t)
	r.onPrompt = func(msg string) {
		if msg == PromptTapAgain {
			r.emu.Tap(emvtest.UnionPay())
		}
	}
	r.emu.Tap(emvtest.UnionPay())
	r.emu.SetFault(emu.Fault{RemoveDuringExchange: 4}) // during the first READ RECORD
	d, err := r.src.ReadCard(ctxFor(t, 10*time.Second), saleRequest(1234))
	if err != nil {
		t.Fatalf("ReadCard: %v", err)
	}
	checkUnionPay(t, d, "000000001234")
	if p := r.seen(); !slices.Equal(p, []string{PromptTapAgain}) {
		t.Fatalf("prompts %q, want just %q", p, PromptTapAgain)
	}
}

func TestPN532SourceTwoCards(t *testing.T) {
	r := newSourceRig(t)
	up := emvtest.UnionPay()
	r.onPrompt = func(msg string) {
		if msg == PromptOneCard {
			go func() { // the customer takes one card away a little later
				time.Sleep(30 * time.Millisecond)
				r.emu.RemoveCard(up.Name)
			}()
		}
	}
	// The Visa card stays on the reader: released and halted after the
	// two-card poll, it is read once the source has reset the field.
	r.emu.TapTwo(up, emvtest.Visa())
	req := saleRequest(1234)
	var shown []string // what the sale's screen is told (CardRequest.Prompt)
	var mu sync.Mutex
	req.Prompt = func(msg string) { mu.Lock(); shown = append(shown, msg); mu.Unlock() }
	d, err := r.src.ReadCard(ctxFor(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("ReadCard: %v", err)
	}
	if d.Scheme != "Visa" || d.MaskedPAN != card.Mask(emvtest.Visa().PAN) {
		t.Fatalf("read %q %q, want the Visa card", d.Scheme, d.MaskedPAN)
	}
	if p := r.seen(); !slices.Equal(p, []string{PromptOneCard}) {
		t.Fatalf("prompts %q, want %q once", p, PromptOneCard)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(shown, []string{PromptOneCard}) {
		t.Fatalf("the sale was shown %q, want %q once", shown, PromptOneCard)
	}
}

func TestPN532SourceNoCardDeadline(t *testing.T) {
	r := newSourceRig(t)
	_, err := r.src.ReadCard(ctxFor(t, 300*time.Millisecond), saleRequest(1234))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no card: %v, want context.DeadlineExceeded", err)
	}
	// The reader is still usable afterwards.
	r.emu.Tap(emvtest.Mastercard())
	d, err := r.src.ReadCard(ctxFor(t, 10*time.Second), saleRequest(1234))
	if err != nil || d.Scheme != "Mastercard" {
		t.Fatalf("after the deadline: %q %v", d.Scheme, err)
	}
}

// TestPN532SourceFinalOutcomes: the outcomes where waiting for another tap
// would not help.
func TestPN532SourceFinalOutcomes(t *testing.T) {
	declining := emvtest.UnionPay()
	declining.Apps[0].Script = append([]emvtest.Exchange{{
		Command: []byte{0x80, 0xA8, 0x00, 0x00}, Prefix: true, Response: []byte{0x69, 0x85},
	}}, declining.Apps[0].Script...)
	cases := []struct {
		name      string
		card      *emvtest.Card
		req       func(payment.CardRequest) payment.CardRequest
		want, emv error
	}{
		{"unsupported", emvtest.JCBOnly(), nil, ErrCardUnsupported, emv.ErrNoApplication},
		{"declined", declining, nil, ErrCardDeclined, emv.ErrDeclinedByCard},
		{"keyed only", emvtest.Visa(), func(r payment.CardRequest) payment.CardRequest {
			r.Modes = []txn.EntryMode{txn.Keyed}
			return r
		}, ErrEntryMode, nil},
		{"bad type", emvtest.Visa(), func(r payment.CardRequest) payment.CardRequest {
			r.Type = "cashback"
			return r
		}, emv.ErrTerminal, nil},
	}
	r := newSourceRig(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.emu.Tap(c.card)
			req := saleRequest(1234)
			if c.req != nil {
				req = c.req(req)
			}
			_, err := r.src.ReadCard(ctxFor(t, 10*time.Second), req)
			if !errors.Is(err, c.want) || (c.emv != nil && !errors.Is(err, c.emv)) {
				t.Fatalf("ReadCard: %v, want %v / %v", err, c.want, c.emv)
			}
		})
	}
	if p := r.seen(); len(p) != 0 {
		t.Fatalf("final outcomes prompted %q", p)
	}
}

// TestPN532SourceReaderGone: a closed reader is a reader error, not "no
// card".
func TestPN532SourceReaderGone(t *testing.T) {
	r := newSourceRig(t)
	r.src.dev.Close()
	_, err := r.src.ReadCard(ctxFor(t, 5*time.Second), saleRequest(1234))
	if !errors.Is(err, ErrReader) || !errors.Is(err, pn532.ErrClosed) {
		t.Fatalf("closed reader: %v, want ErrReader wrapping pn532.ErrClosed", err)
	}
}

// TestPN532CardAdapterMapping: the adapter's error mapping on its own.
func TestPN532CardAdapterMapping(t *testing.T) {
	for _, code := range []byte{0x01, 0x29, 0x2B} {
		if !errors.Is(mapCardErr(&pn532.StatusError{Cmd: 0x40, Code: code}), emv.ErrCardGone) {
			t.Errorf("status %02X is not mapped to emv.ErrCardGone", code)
		}
	}
	for _, err := range []error{&pn532.StatusError{Cmd: 0x40, Code: 0x02}, pn532.ErrTransport, pn532.ErrNoResponse} {
		if errors.Is(mapCardErr(err), emv.ErrCardGone) {
			t.Errorf("%v mapped to emv.ErrCardGone", err)
		}
	}
}

// TestPN532SourceChipReset: the chip resets between two sales (a
// brown-out; the serial link stays) and comes back asleep. The next read
// sees no ACK, wakes the chip once and reads the card.
func TestPN532SourceChipReset(t *testing.T) {
	r := newSourceRig(t)
	r.emu.Tap(emvtest.Visa())
	if _, err := r.src.ReadCard(ctxFor(t, 10*time.Second), saleRequest(1234)); err != nil {
		t.Fatalf("first ReadCard: %v", err)
	}
	r.emu.Reset()
	d, err := r.src.ReadCard(ctxFor(t, 10*time.Second), saleRequest(1234))
	if err != nil {
		t.Fatalf("ReadCard after a chip reset: %v", err)
	}
	if d.Scheme != "Visa" {
		t.Fatalf("read %q", d.Scheme)
	}
}
