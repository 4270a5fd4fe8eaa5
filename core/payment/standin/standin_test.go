package standin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

func TestTestCards(t *testing.T) {
	for _, scheme := range []string{UnionPay, Visa, Mastercard} {
		t.Run(scheme, func(t *testing.T) {
			d, ok := TestCard(scheme)
			if !ok {
				t.Fatal("missing")
			}
			s := d.Sensitive
			if err := card.ValidPAN(s.PAN); err != nil || len(s.PAN) != 16 {
				t.Fatalf("PAN: %v", err)
			}
			if got := card.SchemeByPAN(s.PAN); got != scheme || d.Scheme != scheme {
				t.Fatalf("scheme %q / by PAN %q", d.Scheme, got)
			}
			if d.MaskedPAN != card.Mask(s.PAN) || d.Entry != txn.Contactless || s.PANSeq != "01" || len(s.Expiry) != 4 {
				t.Fatalf("card = %+v", d)
			}
			if want := s.PAN + "D" + s.Expiry + "201"; !strings.HasPrefix(s.Track2, want) || len(s.Track2)%2 != 0 {
				t.Fatalf("track 2 %q, want prefix %q and whole bytes", s.Track2, want)
			}
			for _, tag := range []uint16{0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A, 0x84, 0x5F34} {
				if tlvValue(s.ICC, tag) == nil {
					t.Errorf("field 55 lacks tag %X", tag)
				}
			}
			if aid := tlvValue(s.ICC, 0x84); !bytes.Equal(aid, mustHex(d.AID)) {
				t.Errorf("84 = %X, want AID %s", aid, d.AID)
			}
		})
	}
	qr, _ := TestCard(WeChatPay)
	if qr.Entry != txn.QR || qr.Sensitive.QRCode == "" {
		t.Fatalf("QR card = %+v", qr)
	}
	// TestCard returns a copy.
	c, _ := TestCard(Visa)
	c.Sensitive.ICC[0] ^= 0xFF
	if TestCards[Visa].Sensitive.ICC[0] == c.Sensitive.ICC[0] {
		t.Fatal("TestCard shares the ICC bytes with TestCards")
	}
}

func TestTLVAndBCD(t *testing.T) {
	b := tlv(nil, 0x9F02, bcd("000000001234"))
	if want := []byte{0x9F, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34}; !bytes.Equal(b, want) {
		t.Fatalf("tlv = % X, want % X", b, want)
	}
	b = tlv(b, 0x95, make([]byte, 5))
	if got := tlvValue(b, 0x95); len(got) != 5 {
		t.Fatalf("95 = % X", got)
	}
	if tlvValue([]byte{0x9F, 0x02, 0x09, 0x00}, 0x9F02) != nil {
		t.Fatal("truncated value accepted")
	}
	if got := bcd("156"); !bytes.Equal(got, []byte{0x01, 0x56}) {
		t.Fatalf("bcd(156) = % X", got)
	}
}

// afterClock is a clock.Fake that signals each After, so a test advances
// only once the timer is armed.
type afterClock struct {
	*clock.Fake
	armed chan time.Duration
}

func (c *afterClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	c.armed <- d
	return ch
}

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func request(minor int64) payment.CardRequest {
	return payment.CardRequest{
		Amount: money.Amount{Minor: minor, Currency: money.CNY}, Type: txn.Sale,
		Modes: []txn.EntryMode{txn.Contactless, txn.QR}, Date: t0, Unpredictable: [4]byte{0xDE, 0xAD, 0xBE, 0xEF},
	}
}

func TestCardsTap(t *testing.T) {
	c := NewCards(clock.NewFake(t0), 0)
	visa, _ := TestCard(Visa)
	if err := c.Tap(visa); err != nil {
		t.Fatal(err)
	}
	if err := c.Tap(visa); !errors.Is(err, ErrCardPresent) {
		t.Fatalf("second tap: %v", err)
	}
	d, err := c.ReadCard(context.Background(), request(1234))
	if err != nil {
		t.Fatal(err)
	}
	if d.Sensitive.PAN != visa.Sensitive.PAN || d.Scheme != Visa {
		t.Fatalf("read %+v", d)
	}
	icc := d.Sensitive.ICC
	if got := tlvValue(icc, 0x9F02); !bytes.Equal(got, []byte{0, 0, 0, 0, 0x12, 0x34}) {
		t.Errorf("9F02 = % X, want the request's amount", got)
	}
	if got := tlvValue(icc, 0x9F37); !bytes.Equal(got, []byte{0xDE, 0xAD, 0xBE, 0xEF}) {
		t.Errorf("9F37 = % X, want the request's unpredictable number", got)
	}
	if got := tlvValue(icc, 0x9A); !bytes.Equal(got, []byte{0x25, 0x03, 0x04}) {
		t.Errorf("9A = % X, want 250304", got)
	}
	if got := tlvValue(icc, 0x5F2A); !bytes.Equal(got, []byte{0x01, 0x56}) {
		t.Errorf("5F2A = % X", got)
	}
	if got := tlvValue(icc, 0x9F10); !bytes.Equal(got, tlvValue(visa.Sensitive.ICC, 0x9F10)) {
		t.Errorf("9F10 changed: % X", got)
	}
	// A second read: new ATC, new cryptogram.
	_ = c.Tap(visa)
	d2, err := c.ReadCard(context.Background(), request(1234))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(tlvValue(d2.Sensitive.ICC, 0x9F36), tlvValue(icc, 0x9F36)) ||
		bytes.Equal(tlvValue(d2.Sensitive.ICC, 0x9F26), tlvValue(icc, 0x9F26)) {
		t.Error("ATC and cryptogram did not change between reads")
	}
	if c.Clear() {
		t.Error("Clear found a card after it was read")
	}
}

func TestCardsCancelAndModes(t *testing.T) {
	c := NewCards(clock.NewFake(t0), 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ReadCard(ctx, request(100)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	qr, _ := TestCard(WeChatPay)
	_ = c.Tap(qr)
	req := request(100)
	req.Modes = []txn.EntryMode{txn.Contactless}
	if _, err := c.ReadCard(context.Background(), req); !errors.Is(err, ErrModeNotAccepted) {
		t.Fatalf("QR on a contactless-only read: %v", err)
	}
	_ = c.Tap(qr)
	if !c.Clear() || c.Clear() {
		t.Fatal("Clear should take the card exactly once")
	}
}

func TestCardsAutoTap(t *testing.T) {
	clk := &afterClock{Fake: clock.NewFake(t0), armed: make(chan time.Duration, 1)}
	c := NewCards(clk, 2*time.Second)
	type result struct {
		d   card.Data
		err error
	}
	got := make(chan result, 1)
	go func() {
		d, err := c.ReadCard(context.Background(), request(100))
		got <- result{d, err}
	}()
	if d := <-clk.armed; d != 2*time.Second {
		t.Fatalf("armed %v", d)
	}
	clk.Advance(2 * time.Second)
	r := <-got
	if r.err != nil || r.d.Sensitive.PAN != TestCards[UnionPay].Sensitive.PAN {
		t.Fatalf("auto tap: %+v, %v", r.d, r.err)
	}
}

func authReq(minor int64, pan string) payment.AuthRequest {
	return payment.AuthRequest{
		Record: txn.Record{
			ID: "0000000000000001", Type: txn.Sale, Amount: money.Amount{Minor: minor, Currency: money.CNY},
			Identity: txn.Identity{TID: "12345678", Batch: 7, STAN: 42},
		},
		Sensitive: txn.Sensitive{PAN: pan},
	}
}

func TestAcquirerRules(t *testing.T) {
	good := TestCards[UnionPay].Sensitive.PAN
	tests := []struct {
		minor    int64
		pan      string
		approved bool
		code     string
		message  string
		err      error
	}{
		{1234, good, true, "00", "approved", nil},
		{100, good, true, "00", "approved", nil},
		{1051, good, false, "51", "insufficient funds", nil},
		{51, good, false, "51", "insufficient funds", nil},
		{205, good, false, "05", "do not honour", nil},
		{1014, good, false, "14", "invalid card number", nil},
		{1096, good, false, "96", "system malfunction", nil},
		{1098, good, false, "", "", payment.ErrNoResponse},
		{1099, good, false, "", "", payment.ErrUnreachable},
		{1234, "6212345678901233", false, "14", "invalid card number", nil}, // Luhn fails
		{1234, "", true, "00", "approved", nil},                             // QR or reader-encrypted: no clear PAN
	}
	for _, tc := range tests {
		t.Run(strings.Join([]string{money.Amount{Minor: tc.minor, Currency: money.CNY}.String(), tc.pan}, " "), func(t *testing.T) {
			a := NewAcquirer(clock.NewFake(t0))
			ctx := context.Background()
			if tc.err == payment.ErrNoResponse {
				// Rule 98 waits for the context; give it a done one.
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			resp, err := a.Authorize(ctx, authReq(tc.minor, tc.pan))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := resp.Outcome
			if resp.Approved != tc.approved || o.ResponseCode != tc.code || o.Message != tc.message {
				t.Fatalf("response = %+v", resp)
			}
			if tc.approved {
				// Derived from STAN 42 (batch 7): 42*7919 mod 10^6 = 332598.
				if o.AuthCode != "332598" || o.RRN != "000007000042" || o.HostTime != "0506070304" {
					t.Fatalf("auth code %q, RRN %q", o.AuthCode, o.RRN)
				}
			} else if o.AuthCode != "" || o.RRN != "" {
				t.Fatalf("decline with auth data: %+v", o)
			}
		})
	}
}

func TestAcquirerDownAndReverse(t *testing.T) {
	a := NewAcquirer(nil)
	a.SetLogger(nil)
	ctx := context.Background()
	rec := authReq(1234, "").Record
	if out, err := a.Reverse(ctx, rec); err != nil || out.ResponseCode != "00" {
		t.Fatalf("reverse: %+v, %v", out, err)
	}
	a.SetDown(true)
	if _, err := a.Reverse(ctx, rec); !errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("reverse while down: %v", err)
	}
	if _, err := a.Authorize(ctx, authReq(1234, "")); !errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("authorize while down: %v", err)
	}
	a.SetDown(false)
	if _, err := a.Reverse(ctx, rec); err != nil {
		t.Fatalf("reverse after up: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Authorize(cancelled, authReq(1234, "")); !errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("authorize with a done context: %v", err)
	}
	if auths, revs := a.Counts(); auths != 0 || revs != 2 {
		t.Fatalf("counts %d, %d", auths, revs)
	}
}

func TestAcquirerNoAnswerWaitsForTheDeadline(t *testing.T) {
	a := NewAcquirer(nil)
	a.SetLogger(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Authorize(ctx, authReq(2098, ""))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("answered before the context was done: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, payment.ErrNoResponse) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("usb gone") }

func TestPrinter(t *testing.T) {
	var buf bytes.Buffer
	p := NewPrinter(&buf)
	r := receipt.Receipt{TxnID: "0000000000000001", Copy: receipt.CustomerCopy, Lines: []receipt.Line{
		{Text: "POS RECEIPT", Align: receipt.Center}, {Text: "CARD: 621234******1232"},
	}, QR: "12345678/000001/000042"}
	ctx := context.Background()

	p.SetPaperOut(true)
	if err := p.Print(ctx, r); !errors.Is(err, payment.ErrPaperOut) {
		t.Fatalf("paper out: %v", err)
	}
	if buf.Len() != 0 || p.Printed() != 0 {
		t.Fatal("printed with paper out")
	}
	p.SetPaperOut(false)
	if err := p.Print(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := r.Text(32) + strings.Repeat("-", 32) + "\n"
	if buf.String() != want || p.Printed() != 1 {
		t.Fatalf("printed %q, want %q", buf.String(), want)
	}
	if !strings.HasPrefix(buf.String(), "          POS RECEIPT\n") {
		t.Fatalf("not centred on 32 columns: %q", buf.String())
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Print(cancelled, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if err := NewPrinter(failWriter{}).Print(ctx, r); err == nil || !strings.Contains(err.Error(), "usb gone") {
		t.Fatalf("write error: %v", err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestIndicator(t *testing.T) {
	var buf lockedBuffer
	i := NewIndicator(slog.New(slog.NewTextHandler(&buf, nil)))
	if i.Last() != payment.SignalIdle {
		t.Fatalf("initial %q", i.Last())
	}
	i.Indicate(context.Background(), payment.SignalReady)
	i.Indicate(context.Background(), payment.SignalSuccess)
	if i.Last() != payment.SignalSuccess {
		t.Fatalf("last %q", i.Last())
	}
	if s := buf.b.String(); !strings.Contains(s, "signal=ready") || !strings.Contains(s, "signal=success") {
		t.Fatalf("log %q", s)
	}
}

// FuzzTLVValue: the field 55 reader never panics and only returns values
// that lie inside its input.
func FuzzTLVValue(f *testing.F) {
	f.Add(TestCards[UnionPay].Sensitive.ICC, uint16(0x9F02))
	f.Add([]byte{0x9F}, uint16(0x9F02))
	f.Add([]byte{0x9F, 0x02, 0xFF}, uint16(0x9F02))
	f.Add([]byte{0x82, 0x02, 0x7C, 0x00}, uint16(0x82))
	f.Fuzz(func(t *testing.T, b []byte, tag uint16) {
		v := tlvValue(b, tag)
		if len(v) > len(b) || (v != nil && !bytes.Contains(b, v)) {
			t.Fatalf("value % X not inside input % X", v, b)
		}
	})
}
