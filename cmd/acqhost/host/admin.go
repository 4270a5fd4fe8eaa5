package host

import (
	"encoding/json"
	"io"
	"net/http"
)

// maxAdminBody bounds a PUT /faults body.
const maxAdminBody = 4096

// Admin returns the admin HTTP API (JSON; serve it on loopback only):
//
//	GET  /transactions[?tid=T]  recorded messages, oldest first ([]Txn)
//	GET  /batches[?tid=T]       batches with host totals ([]Batch)
//	GET  /stats                 counters (Stats)
//	GET  /faults                fault settings (Faults)
//	PUT  /faults                change some or all of them, e.g.
//	                            {"latency":"60ms","drop_every":3}
//
// Card numbers appear masked only.
func (s *Server) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /transactions", func(w http.ResponseWriter, r *http.Request) {
		ts, err := s.Transactions(r.URL.Query().Get("tid"))
		if ts == nil {
			ts = []Txn{}
		}
		writeJSON(w, ts, err)
	})
	mux.HandleFunc("GET /batches", func(w http.ResponseWriter, r *http.Request) {
		bs, err := s.Batches(r.URL.Query().Get("tid"))
		if bs == nil {
			bs = []Batch{}
		}
		writeJSON(w, bs, err)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Stats()
		writeJSON(w, st, err)
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Faults(), nil)
	})
	setFaults := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
		if err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		f := s.Faults()
		if err := json.Unmarshal(body, &f); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		if err := s.SetFaults(f); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, f, nil)
	}
	mux.HandleFunc("PUT /faults", setFaults)
	mux.HandleFunc("POST /faults", setFaults)
	return mux
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
