package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/payment/standin"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

// storeView adapts the real journal to the API's Journal interface, as
// cmd/posagent does.
type storeView struct{ j *store.Journal }

func (v storeView) Recent(ctx context.Context, n int) ([]txn.Record, error) {
	return v.j.List(ctx, store.Filter{Limit: n, Newest: true})
}
func (v storeView) Get(ctx context.Context, id txn.ID) (txn.Record, error) { return v.j.Get(ctx, id) }
func (v storeView) Stats(ctx context.Context) (any, error)                 { return v.j.Stats(ctx) }
func (v storeView) Verify(ctx context.Context) (any, error)                { return v.j.Check(ctx) }

type rig struct {
	srv   *Server
	cards *standin.Cards
	cl    *Client
	j     *store.Journal
}

// newRig wires the API to a real engine, a real bbolt journal and the
// stand-in devices, served on a real unix socket.
func newRig(t *testing.T, token string) *rig {
	t.Helper()
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	j, err := store.Open(store.Options{Path: filepath.Join(dir, "j.db"), Key: key, TID: "12345678", MID: "123456789012345"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	clk := clock.System{}
	cards := standin.NewCards(clk, 0)
	var printed bytes.Buffer
	eng, err := payment.New(payment.Config{Currency: money.CNY, Merchant: receipt.Merchant{Name: "t"}, AuthTimeout: 2 * time.Second},
		payment.Deps{Journal: j, Cards: cards, Acquirer: standin.NewAcquirer(clk), Printer: standin.NewPrinter(&printed), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Currency: money.CNY, Version: "test", Token: token}, eng, storeView{j}, nil)
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return &rig{srv: srv, cards: cards, cl: NewUnixClient(sock), j: j}
}

func TestSaleOverSocketStreamsEventsToTheOutcome(t *testing.T) {
	r := newRig(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sid, err := r.cl.StartSale(ctx, "12.34", nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second sale while the first waits for its card is refused as busy.
	if _, err := r.cl.StartSale(ctx, "1.00", nil); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("second sale: %v, want busy", err)
	}
	var steps []payment.Step
	done := make(chan error, 1)
	go func() {
		done <- r.cl.Follow(ctx, sid, func(ev payment.Event) { steps = append(steps, ev.Step) })
	}()
	// Tap once the sale waits for a card.
	for {
		if err := r.cards.Tap(standin.TestCards["Visa"]); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := strings.Join(func() []string {
		s := make([]string, len(steps))
		for i, v := range steps {
			s[i] = string(v)
		}
		return s
	}(), ",")
	for _, want := range []string{"amount_confirmed", "waiting_for_card", "card_read", "authorising", "approved", "done"} {
		if !strings.Contains(got, want) {
			t.Errorf("events %s lack %s", got, want)
		}
	}
	recs, err := r.cl.Transactions(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].State != txn.Approved || len(recs[0].Sealed) != 0 || !strings.Contains(recs[0].MaskedPAN, "*") {
		t.Fatalf("transactions = %+v", recs)
	}
	one, err := r.cl.Transaction(ctx, string(recs[0].ID))
	if err != nil || one.ID != recs[0].ID {
		t.Fatalf("transaction %s: %v", recs[0].ID, err)
	}
	rep, err := r.cl.Verify(ctx)
	if err != nil || !strings.Contains(string(rep), `"ok": true`) {
		t.Errorf("verify: %v %s", err, rep)
	}
	st, err := r.cl.Status(ctx)
	if err != nil || !strings.Contains(string(st), `"records": 1`) {
		t.Errorf("status: %v %s", err, st)
	}
}

func TestRefusalsNameTheProblem(t *testing.T) {
	r := newRig(t, "")
	ctx := context.Background()
	cases := []struct{ amount, want string }{
		{"12.345", "amount"},
		{"-1", "amount"},
		{"", "amount"},
		{"0", "amount"},
	}
	for _, c := range cases {
		_, err := r.cl.StartSale(ctx, c.amount, nil)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Error(), c.want) {
			t.Errorf("sale %q: %v, want a 400 naming %q", c.amount, err, c.want)
		}
	}
	if _, err := r.cl.StartSale(ctx, "1.00", []txn.EntryMode{"swipe"}); err == nil || !strings.Contains(err.Error(), "modes[0]") {
		t.Errorf("bad mode: %v", err)
	}
	if err := r.cl.Follow(ctx, "nope", func(payment.Event) {}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown session: %v", err)
	}
	if _, err := r.cl.Transaction(ctx, "ffff"); err == nil {
		t.Error("unknown transaction found")
	}
}

func TestCancelWhileWaitingForCard(t *testing.T) {
	r := newRig(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sid, err := r.cl.StartSale(ctx, "5.00", nil)
	if err != nil {
		t.Fatal(err)
	}
	var last payment.Event
	done := make(chan error, 1)
	go func() { done <- r.cl.Follow(ctx, sid, func(ev payment.Event) { last = ev }) }()
	for {
		st := r.srv.payments.Status()
		if st.Step == payment.StepWaitingForCard {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.cl.Cancel(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if last.Step != payment.StepCancelled {
		t.Fatalf("last event %s, want cancelled", last.Step)
	}
	if recs, _ := r.j.List(ctx, store.Filter{}); len(recs) != 0 {
		t.Fatalf("a cancelled sale journaled %d records", len(recs))
	}
}

func TestTokenRequired(t *testing.T) {
	r := newRig(t, "s3cret")
	h := r.srv
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/status", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("right token: %d %s", rec.Code, rec.Body)
	}
	var body Status
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Version != "test" {
		t.Fatalf("status body: %v %s", err, rec.Body)
	}
}

func TestNoJournal(t *testing.T) {
	r := newRig(t, "")
	srv := New(Config{Currency: money.CNY}, r.srv.payments, nil, nil)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/transactions", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "journal") {
		t.Fatalf("transactions without journal: %d %s", rec.Code, rec.Body)
	}
}

// FuzzDecodeSale: the sale body decoder never panics, and anything it
// accepts is a positive-or-zero amount within range in the terminal's
// currency with known entry modes.
func FuzzDecodeSale(f *testing.F) {
	for _, s := range []string{`{"amount":"12.34"}`, `{"amount":"1","modes":["qr"]}`, `{"amount":12}`, `[]`, `{"amount":"1e3"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeSale(b, money.CNY)
		if err != nil {
			return
		}
		if req.Amount.Minor < 0 || req.Amount.Minor > money.MaxMinor || req.Amount.Currency != money.CNY {
			t.Fatalf("accepted %q as %+v", b, req)
		}
		for _, m := range req.Modes {
			if !m.Valid() {
				t.Fatalf("accepted mode %q", m)
			}
		}
	})
}

func TestGateLocksSales(t *testing.T) {
	r := newRig(t, "")
	locked := errors.New("terminal case was opened")
	cleared := false
	srv := New(Config{Currency: money.CNY, Gate: func() error {
		if cleared {
			return nil
		}
		return locked
	}, ClearTamper: func() error { cleared = true; return nil }}, r.srv.payments, nil, nil)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/sales", strings.NewReader(`{"amount":"1.00"}`)))
	if rec.Code != http.StatusLocked || !strings.Contains(rec.Body.String(), "case was opened") {
		t.Fatalf("locked sale: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/status", nil))
	if !strings.Contains(rec.Body.String(), `"locked"`) {
		t.Fatalf("status does not show the lock: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/tamper/clear", nil))
	if rec.Code != http.StatusOK || !cleared {
		t.Fatalf("clear: %d %s", rec.Code, rec.Body)
	}
}

func TestRetryReversal(t *testing.T) {
	r := newRig(t, "")
	var got txn.ID
	srv := New(Config{Currency: money.CNY, RetryReversal: func(ctx context.Context, id txn.ID) error {
		if id == "bad" {
			return errors.New("transaction bad is approved, not reversal_failed")
		}
		got = id
		return nil
	}}, r.srv.payments, nil, nil)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/reversals/00000000000000a1/retry", nil))
	if rec.Code != http.StatusAccepted || got != "00000000000000a1" {
		t.Fatalf("retry: %d %s (got %q)", rec.Code, rec.Body, got)
	}
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/reversals/bad/retry", nil))
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "not reversal_failed") {
		t.Fatalf("retry of a non-failed one: %d %s", rec.Code, rec.Body)
	}
}

func TestStatusTimeFromInjectedClock(t *testing.T) {
	r := newRig(t, "")
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.FixedZone("CST", 8*3600))
	srv := New(Config{Currency: money.CNY, Clock: clock.NewFake(at)}, r.srv.payments, nil, nil)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/status", nil))
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("status: %v %s", err, rec.Body)
	}
	if !st.Time.Equal(at) || st.Time.Location() != time.UTC {
		t.Fatalf("status time %v, want %v in UTC", st.Time, at)
	}
}

func TestReprintEndpoint(t *testing.T) {
	r := newRig(t, "")
	post := func(path, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		return rec
	}
	if rec := post("/v1/transactions/last/reprint", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("reprint last with no sale: %d %s", rec.Code, rec.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := r.cl.StartSale(ctx, "12.34", nil)
	if err != nil {
		t.Fatal(err)
	}
	var last payment.Event
	done := make(chan error, 1)
	go func() { done <- r.cl.Follow(ctx, id, func(ev payment.Event) { last = ev }) }()
	for r.cards.Tap(standin.TestCards["UnionPay"]) != nil {
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-done; err != nil || last.Record == nil {
		t.Fatalf("sale: %v %+v", err, last)
	}
	res, err := r.cl.Reprint(ctx, "last", receipt.MerchantCopy)
	if err != nil || res.TxnID != last.Record.ID || res.Copy != receipt.MerchantCopy || res.Job == 0 {
		t.Fatalf("reprint: %+v %v", res, err)
	}
	if rec := post("/v1/transactions/"+string(last.Record.ID)+"/reprint", `{"copy":"both"}`); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "both") {
		t.Fatalf("bad copy: %d %s", rec.Code, rec.Body)
	}
	if rec := post("/v1/transactions/"+string(last.Record.ID)+"/reprint", `{"copy":`); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad body: %d %s", rec.Code, rec.Body)
	}
	if rec := post("/v1/transactions/0000000000000999/reprint", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown id: %d %s", rec.Code, rec.Body)
	}
}
