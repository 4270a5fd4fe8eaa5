// Package api is the terminal's local API: an HTTP/JSON interface that the
// CLI (posagent pay, status, journal) and the merchant's screen use, served
// by cmd/posagent on a unix socket and optionally on loopback TCP with a
// bearer token.
//
// Endpoints (all JSON; errors are {"error": "...", "code": "..."}):
//
//	POST /v1/sales                 {"amount":"12.34","modes":["contactless"]} -> 202 {"session":"..."}
//	GET  /v1/sales/{id}/events     NDJSON stream of payment.Event, past then live, ends after the final one
//	POST /v1/sales/{id}/cancel     cancel a sale that is still waiting for a card
//	GET  /v1/status                engine and journal status
//	GET  /v1/transactions?limit=N  newest first, masked
//	GET  /v1/transactions/{id}     one transaction, masked
//	POST /v1/transactions/{id}/reprint  {"copy":"merchant"} optional -> 202; {id} "last": the newest with a receipt
//	GET  /v1/journal/verify        runs the journal's consistency check in the agent
//	GET  /v1/diag                  the board's device self-test
//	POST /v1/tamper/clear          a technician clears the tamper latch
//	POST /v1/sync                  drain the outbox now (returns at once)
//	POST /v1/reversals/{id}/retry  put a reversal_failed transaction back in the reversal queue
//	POST /v1/sync/drain            drain now, streaming NDJSON {"progress":…} lines, then {"report":…}
//
// Card data never crosses this API: records are returned with their sealed
// blob removed and the PAN only masked.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	coresync "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/core/txn"
)

// Payments is what the API needs from the payment engine.
type Payments interface {
	StartSale(ctx context.Context, r payment.SaleRequest) (*payment.Session, error)
	Status() payment.Status
	Reprint(ctx context.Context, rec txn.Record, c receipt.Copy) (payment.PrintJob, error)
}

// Journal is what the API needs from the journal for reading.
type Journal interface {
	Recent(ctx context.Context, limit int) ([]txn.Record, error)
	Get(ctx context.Context, id txn.ID) (txn.Record, error)
	Stats(ctx context.Context) (any, error)
	Verify(ctx context.Context) (any, error)
}

// Config configures the API server.
type Config struct {
	Currency money.Currency
	Version  string
	// Token, when not empty, is required as "Authorization: Bearer <token>"
	// (used for the loopback TCP listener).
	Token string
	// Extra is mounted under /v1/sim/ when not nil (development stand-ins).
	Extra http.Handler
	// Diag, when set, runs the board's device self-test for GET /v1/diag:
	// the report and whether every required device passed.
	Diag func(ctx context.Context) (report any, ok bool)
	// Gate, when set, is asked before every sale: a non-nil error (the
	// tamper switch latched, say) refuses the sale with that reason.
	Gate func() error
	// ClearTamper, when set, serves POST /v1/tamper/clear.
	ClearTamper func() error
	// Forwarder, when set, serves the store-and-forward endpoints.
	Forwarder Forwarder
	// RetryReversal, when set, serves POST /v1/reversals/{id}/retry: a
	// technician puts a reversal flagged for manual handling back in the
	// queue.
	RetryReversal func(ctx context.Context, id txn.ID) error
	// Clock stamps the status; nil means the system clock.
	Clock clock.Clock
}

// Forwarder is what the API needs from the store-and-forward drain
// (core/sync.Forwarder).
type Forwarder interface {
	Kick()
	Drain(ctx context.Context) (coresync.Report, error)
	Status(ctx context.Context) (coresync.Status, error)
	WatchProgress() (<-chan coresync.Progress, func())
}

// Server implements http.Handler.
type Server struct {
	cfg      Config
	payments Payments
	journal  Journal
	log      *slog.Logger
	mux      *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*payment.Session
	order    []string
}

// maxSessions bounds how many finished sessions are kept for late readers.
const maxSessions = 32

// New returns a Server. journal may be nil when it could not be opened;
// the endpoints that need it then answer 503 with the reason from status.
func New(cfg Config, p Payments, j Journal, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, payments: p, journal: j, log: log, mux: http.NewServeMux(), sessions: map[string]*payment.Session{}}
	s.mux.HandleFunc("POST /v1/sales", s.startSale)
	s.mux.HandleFunc("GET /v1/sales/{id}/events", s.events)
	s.mux.HandleFunc("POST /v1/sales/{id}/cancel", s.cancel)
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("GET /v1/transactions", s.transactions)
	s.mux.HandleFunc("GET /v1/transactions/{id}", s.transaction)
	s.mux.HandleFunc("POST /v1/transactions/{id}/reprint", s.reprint)
	s.mux.HandleFunc("GET /v1/journal/verify", s.verify)
	s.mux.HandleFunc("GET /v1/diag", s.diag)
	s.mux.HandleFunc("POST /v1/tamper/clear", s.clearTamper)
	s.mux.HandleFunc("POST /v1/sync", s.syncKick)
	s.mux.HandleFunc("POST /v1/reversals/{id}/retry", s.retryReversal)
	s.mux.HandleFunc("POST /v1/sync/drain", s.syncDrain)
	if cfg.Extra != nil {
		s.mux.Handle("/v1/sim/", cfg.Extra)
	}
	return s
}

// now is the API's clock: Config.Clock, or the system clock.
func (s *Server) now() time.Time {
	if s.cfg.Clock != nil {
		return s.cfg.Clock.Now()
	}
	return clock.System{}.Now()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token != "" {
		got := r.Header.Get("Authorization")
		want := "Bearer " + s.cfg.Token
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			writeErr(w, http.StatusUnauthorized, "unauthorized", errors.New("missing or wrong bearer token"))
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// SaleBody is the body of POST /v1/sales.
type SaleBody struct {
	Amount string          `json:"amount"`
	Modes  []txn.EntryMode `json:"modes,omitempty"`
}

// maxBody bounds request bodies.
const maxBody = 64 << 10

// DecodeSale parses and validates a POST /v1/sales body.
func DecodeSale(body []byte, cur money.Currency) (payment.SaleRequest, error) {
	var b SaleBody
	if err := json.Unmarshal(body, &b); err != nil {
		return payment.SaleRequest{}, fmt.Errorf("body: %w", err)
	}
	minor, err := money.Parse(b.Amount, cur)
	if err != nil {
		return payment.SaleRequest{}, fmt.Errorf("amount: %w", err)
	}
	for i, m := range b.Modes {
		if !m.Valid() {
			return payment.SaleRequest{}, fmt.Errorf("modes[%d]: unknown entry mode %q", i, m)
		}
	}
	return payment.SaleRequest{Amount: money.Amount{Minor: minor, Currency: cur}, Modes: b.Modes}, nil
}

func (s *Server) startSale(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeErr(w, http.StatusBadRequest, "bad_request", fmt.Errorf("body: unreadable or over %d bytes", maxBody))
		return
	}
	req, err := DecodeSale(body, s.cfg.Currency)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_request", err)
		return
	}
	if s.cfg.Gate != nil {
		if err := s.cfg.Gate(); err != nil {
			writeErr(w, http.StatusLocked, "locked", err)
			return
		}
	}
	// The sale outlives this request: the client follows it via /events.
	sess, err := s.payments.StartSale(context.WithoutCancel(r.Context()), req)
	if err != nil {
		code, status := "refused", http.StatusConflict
		switch {
		case errors.Is(err, payment.ErrBusy):
			code = "busy"
		case errors.Is(err, payment.ErrJournal):
			code, status = "journal_untrusted", http.StatusServiceUnavailable
		case errors.Is(err, payment.ErrAmount):
			code, status = "amount", http.StatusBadRequest
		}
		writeErr(w, status, code, err)
		return
	}
	s.mu.Lock()
	s.sessions[sess.ID()] = sess
	s.order = append(s.order, sess.ID())
	if len(s.order) > maxSessions {
		delete(s.sessions, s.order[0])
		s.order = s.order[1:]
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]string{"session": sess.ID()})
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) (*payment.Session, bool) {
	s.mu.Lock()
	sess, ok := s.sessions[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, "not_found", fmt.Errorf("sale session %q not found", r.PathValue("id")))
	}
	return sess, ok
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.session(w, r)
	if !ok {
		return
	}
	past, live, unsubscribe := sess.Subscribe()
	defer unsubscribe()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	for _, ev := range past {
		if enc.Encode(ev) != nil {
			return
		}
	}
	flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-live:
			if !ok {
				return
			}
			if enc.Encode(ev) != nil {
				return
			}
			flush()
		}
	}
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.session(w, r)
	if !ok {
		return
	}
	sess.Cancel()
	writeJSON(w, http.StatusAccepted, map[string]string{"session": sess.ID(), "status": "cancel requested"})
}

// Status is the answer of GET /v1/status.
type Status struct {
	Version string         `json:"version"`
	Time    time.Time      `json:"time"`
	Engine  payment.Status `json:"engine"`
	// Sync is the store-and-forward state: link, outbox, reversals.
	Sync *coresync.Status `json:"sync,omitempty"`
	// Locked says why the board refuses payments (tamper), if it does.
	Locked  string `json:"locked,omitempty"`
	Journal any    `json:"journal,omitempty"`
	// JournalError says why the journal cannot be read, if it cannot.
	JournalError string `json:"journal_error,omitempty"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := Status{Version: s.cfg.Version, Time: s.now().UTC(), Engine: s.payments.Status()}
	if s.cfg.Gate != nil {
		if err := s.cfg.Gate(); err != nil {
			st.Locked = err.Error()
		}
	}
	if s.cfg.Forwarder != nil {
		if ss, err := s.cfg.Forwarder.Status(r.Context()); err == nil {
			st.Sync = &ss
		}
	}
	if s.journal == nil {
		st.JournalError = "journal not open"
	} else if js, err := s.journal.Stats(r.Context()); err != nil {
		st.JournalError = err.Error()
	} else {
		st.Journal = js
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) needJournal(w http.ResponseWriter) bool {
	if s.journal == nil {
		writeErr(w, http.StatusServiceUnavailable, "journal_unavailable", errors.New("journal not open: see posagent status"))
		return false
	}
	return true
}

func (s *Server) transactions(w http.ResponseWriter, r *http.Request) {
	if !s.needJournal(w) {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeErr(w, http.StatusBadRequest, "bad_request", fmt.Errorf("limit: want 1-10000, got %q", v))
			return
		}
		limit = n
	}
	recs, err := s.journal.Recent(r.Context(), limit)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "journal", err)
		return
	}
	for i := range recs {
		recs[i] = Masked(recs[i])
	}
	writeJSON(w, http.StatusOK, recs)
}

func (s *Server) transaction(w http.ResponseWriter, r *http.Request) {
	if !s.needJournal(w) {
		return
	}
	rec, err := s.journal.Get(r.Context(), txn.ID(r.PathValue("id")))
	if err != nil {
		writeErr(w, http.StatusNotFound, "not_found", err)
		return
	}
	writeJSON(w, http.StatusOK, Masked(rec))
}

// ReprintRequest is the optional body of POST /v1/transactions/{id}/reprint.
type ReprintRequest struct {
	// Copy is "customer" (default) or "merchant".
	Copy receipt.Copy `json:"copy,omitempty"`
}

// ReprintResponse answers POST /v1/transactions/{id}/reprint.
type ReprintResponse struct {
	TxnID txn.ID       `json:"txn_id"`
	Copy  receipt.Copy `json:"copy"`
	Job   uint64       `json:"job"`
}

// reprint queues a receipt again: {id} names the transaction, or "last"
// the newest one that has a receipt.
func (s *Server) reprint(w http.ResponseWriter, r *http.Request) {
	if !s.needJournal(w) {
		return
	}
	var req ReprintRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeErr(w, http.StatusBadRequest, "bad_request", fmt.Errorf("reprint body: %w", err))
			return
		}
	}
	if req.Copy == "" {
		req.Copy = receipt.CustomerCopy
	}
	var rec txn.Record
	if id := r.PathValue("id"); id == "last" {
		recent, err := s.journal.Recent(r.Context(), 50)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, "journal", err)
			return
		}
		i := slices.IndexFunc(recent, func(x txn.Record) bool { return payment.Reprintable(x.State) })
		if i < 0 {
			writeErr(w, http.StatusNotFound, "not_found", errors.New("no recent transaction has a receipt to reprint"))
			return
		}
		rec = recent[i]
	} else {
		var err error
		if rec, err = s.journal.Get(r.Context(), txn.ID(id)); err != nil {
			writeErr(w, http.StatusNotFound, "not_found", err)
			return
		}
	}
	job, err := s.payments.Reprint(r.Context(), rec, req.Copy)
	switch {
	case errors.Is(err, payment.ErrNoReceipt):
		writeErr(w, http.StatusConflict, "no_receipt", err)
		return
	case err != nil:
		writeErr(w, http.StatusBadRequest, "reprint", err)
		return
	}
	writeJSON(w, http.StatusAccepted, ReprintResponse{TxnID: rec.ID, Copy: req.Copy, Job: job.Seq})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	if !s.needJournal(w) {
		return
	}
	rep, err := s.journal.Verify(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "journal", err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) clearTamper(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ClearTamper == nil {
		writeErr(w, http.StatusNotImplemented, "no_tamper", errors.New("this board has no tamper switch"))
		return
	}
	if err := s.cfg.ClearTamper(); err != nil {
		writeErr(w, http.StatusConflict, "tamper", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"tamper": "cleared"})
}

func (s *Server) retryReversal(w http.ResponseWriter, r *http.Request) {
	if s.cfg.RetryReversal == nil {
		writeErr(w, http.StatusNotImplemented, "no_retry", errors.New("no acquirer link configured"))
		return
	}
	id := txn.ID(r.PathValue("id"))
	if err := s.cfg.RetryReversal(r.Context(), id); err != nil {
		writeErr(w, http.StatusConflict, "retry", err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"reversal": string(id), "status": "queued"})
}

func (s *Server) syncKick(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Forwarder == nil {
		writeErr(w, http.StatusNotImplemented, "no_forwarder", errors.New("no acquirer link configured: nothing to forward to"))
		return
	}
	s.cfg.Forwarder.Kick()
	writeJSON(w, http.StatusAccepted, map[string]string{"sync": "started"})
}

// SyncLine is one line of POST /v1/sync/drain's stream.
type SyncLine struct {
	Progress *coresync.Progress `json:"progress,omitempty"`
	Report   *coresync.Report   `json:"report,omitempty"`
	Error    string             `json:"error,omitempty"`
}

func (s *Server) syncDrain(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Forwarder == nil {
		writeErr(w, http.StatusNotImplemented, "no_forwarder", errors.New("no acquirer link configured: nothing to forward to"))
		return
	}
	progress, stop := s.cfg.Forwarder.WatchProgress()
	defer stop()
	type result struct {
		rep coresync.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := s.cfg.Forwarder.Drain(r.Context())
		done <- result{rep, err}
	}()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	for {
		select {
		case p := <-progress:
			_ = enc.Encode(SyncLine{Progress: &p})
			flush()
		case res := <-done:
			line := SyncLine{Report: &res.rep}
			if res.err != nil {
				line.Error = res.err.Error()
			}
			_ = enc.Encode(line)
			flush()
			return
		case <-r.Context().Done():
			return
		}
	}
}

// DiagAnswer is the answer of GET /v1/diag.
type DiagAnswer struct {
	OK     bool `json:"ok"`
	Report any  `json:"report"`
}

func (s *Server) diag(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Diag == nil {
		writeErr(w, http.StatusNotImplemented, "no_diag", errors.New("this board has no device self-test"))
		return
	}
	rep, ok := s.cfg.Diag(r.Context())
	writeJSON(w, http.StatusOK, DiagAnswer{OK: ok, Report: rep})
}

// Masked returns a copy of rec fit to leave the agent: no sealed data.
// (Records never hold a clear PAN; the masked PAN stays.)
func Masked(rec txn.Record) txn.Record {
	rec.Sealed = nil
	return rec
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeErr(w http.ResponseWriter, status int, code string, err error) {
	writeJSON(w, status, ErrorBody{Error: err.Error(), Code: code})
}
