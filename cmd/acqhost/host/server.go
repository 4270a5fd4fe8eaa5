package host

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/iso8583"
)

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("acqhost: server closed")

// Connection limits.
const (
	// MaxFrame is the largest frame the host reads (length prefix value);
	// a longer one closes the connection.
	MaxFrame = 8192
	// MaxInFlight is how many requests of one connection are handled at
	// once; the reader waits for a slot beyond that (back-pressure).
	MaxInFlight = 1024
	// writeTimeout bounds one answer's write.
	writeTimeout = 10 * time.Second
	// handshakeTimeout bounds a TLS handshake.
	handshakeTimeout = 10 * time.Second
)

// Options are the dependencies of a Server; zero values take defaults.
type Options struct {
	// Clock gives the host time (fields 12, 13, 15, records) and runs the
	// latency fault; nil means clock.System.
	Clock clock.Clock
	// Logger receives one line per answer (masked PANs only); nil
	// discards.
	Logger *slog.Logger
	// Rand is the source of working keys and auth codes, safe for
	// concurrent use; nil means crypto/rand.
	Rand io.Reader
	// Spec is the dialect; nil means iso8583.UnionPay.
	Spec *iso8583.Spec
}

// Server is the reference acquirer host. Create it with New, run it with
// Serve (one or more listeners), stop it with Close. Safe for concurrent
// use.
type Server struct {
	cfg     Config
	spec    *iso8583.Spec
	store   *Store
	clk     clock.Clock
	log     *slog.Logger
	rand    io.Reader
	tls     *tls.Config
	terms   map[string]*terminal
	started time.Time
	ctx     context.Context
	cancel  context.CancelFunc

	fmu       sync.Mutex
	faults    Faults
	answerSeq int64 // answers counted for DropEvery since the last SetFaults

	stats counters

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// terminal is a configured terminal and its current session keys.
type terminal struct {
	cfg    Terminal
	tmkKCV []byte
	mu     sync.Mutex // serialises sign-ins
	keys   atomic.Pointer[sessionKeys]
}

// sessionKeys are a terminal's working keys in clear, in memory only.
type sessionKeys struct {
	wk  iso8583.WorkingKeys
	mac iso8583.MACFunc
}

type counters struct {
	connections, open, requests, answers, dropped, noAnswer, repeats,
	badMAC, unknownTerminal, malformed, rejected, signIns atomic.Int64
}

// New opens the store at cfg.DB and returns a server that has not started
// listening. Working keys kept in the store from an earlier run are loaded
// (decrypted under the configured TMKs), so terminals need not sign in
// again after a host restart.
func New(cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tc, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, spec: opts.Spec, clk: opts.Clock, log: opts.Logger, rand: opts.Rand, tls: tc,
		terms: map[string]*terminal{}, faults: cfg.Faults,
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{},
	}
	if s.spec == nil {
		s.spec = iso8583.UnionPay
	}
	if s.clk == nil {
		s.clk = clock.System{}
	}
	if s.log == nil {
		s.log = discard
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.started = s.clk.Now().UTC()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, t := range cfg.Terminals {
		kcv, err := iso8583.KCV(t.TMK)
		if err != nil {
			return nil, fmt.Errorf("%w: terminal %s TMK: %w", ErrConfig, t.TID, err)
		}
		s.terms[t.TID] = &terminal{cfg: t, tmkKCV: kcv}
	}
	if s.store, err = OpenStore(cfg.DB, false); err != nil {
		return nil, err
	}
	if err := s.loadKeys(); err != nil {
		s.store.Close()
		return nil, err
	}
	return s, nil
}

// loadKeys restores the working keys of the last sign-in of each
// terminal from the store.
func (s *Server) loadKeys() error {
	return s.store.view(func(t *stx) error {
		for tid, term := range s.terms {
			r, err := t.terminal(tid)
			if err != nil {
				return err
			}
			s.log.Info("terminal", "tid", tid, "name", term.cfg.Name, "tmk_kcv", fmt.Sprintf("%X", term.tmkKCV))
			if r == nil || r.Keys == nil {
				continue
			}
			wk, err := s.restoreKeys(term, r.Keys)
			if err != nil {
				s.log.Warn("stored working keys unusable; the terminal must sign in", "tid", tid, "err", err)
				continue
			}
			sk, err := s.sessionKeys(wk)
			if err != nil {
				return err
			}
			term.keys.Store(sk)
		}
		return nil
	})
}

func (s *Server) restoreKeys(term *terminal, k *storedKeys) (iso8583.WorkingKeys, error) {
	var wk iso8583.WorkingKeys
	if k.TMKKCV != hex.EncodeToString(term.tmkKCV) {
		return wk, fmt.Errorf("keys were issued under another TMK (KCV %s, configured %X)", k.TMKKCV, term.tmkKCV)
	}
	for _, p := range []struct {
		name string
		hex  string
		dst  *[]byte
	}{{"PIK", k.PIK, &wk.PIK}, {"MAK", k.MAK, &wk.MAK}, {"TDK", k.TDK, &wk.TDK}} {
		b, err := hex.DecodeString(p.hex)
		if err != nil || len(b) != 16+iso8583.KCVSize {
			return wk, fmt.Errorf("%s: stored cryptogram malformed", p.name)
		}
		if *p.dst, err = iso8583.DecryptWorkingKey(term.cfg.TMK, b[:16], b[16:]); err != nil {
			return wk, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return wk, nil
}

// sessionKeys builds the MAC function for wk: the UnionPay ECB and X9.9
// MACs use the first 8 MAK bytes (the dialect's single-DES MAK), X9.19 all
// 16.
func (s *Server) sessionKeys(wk iso8583.WorkingKeys) (*sessionKeys, error) {
	key := wk.MAK[:8]
	if s.cfg.MAC == iso8583.MACX919 {
		key = wk.MAK
	}
	mac, err := iso8583.NewMAC(s.cfg.MAC, key)
	if err != nil {
		return nil, err
	}
	return &sessionKeys{wk: wk, mac: mac}, nil
}

// Faults returns the current fault settings.
func (s *Server) Faults() Faults {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults
}

// SetFaults changes the fault settings at run time and restarts the
// DropEvery count.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrFaults, err)
	}
	s.fmu.Lock()
	s.faults, s.answerSeq = f, 0
	s.fmu.Unlock()
	s.log.Info("faults set", "latency", f.Latency, "drop_every", f.DropEvery, "close_after", f.CloseAfter, "no_answer_98", f.NoAnswer98)
	return nil
}

// dropThis counts an answer about to be written and says whether the
// DropEvery fault eats it.
func (s *Server) dropThis() bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.answerSeq++
	return s.faults.DropEvery > 0 && s.answerSeq%int64(s.faults.DropEvery) == 0
}

// Serve accepts connections on ln (wrapped in TLS when the config has a
// certificate) until Close, then returns ErrClosed. Each connection has
// one reader goroutine; its requests are handled concurrently and their
// answers written one at a time, TPDU addresses swapped.
func (s *Server) Serve(ln net.Listener) error {
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.tls != nil)
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, ln)
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			return fmt.Errorf("acqhost: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops the listeners, closes every connection, waits for requests
// being handled to finish and closes the store. It is safe to call more
// than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.store.Close()
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	s.stats.connections.Add(1)
	s.stats.open.Add(1)
	defer s.stats.open.Add(-1)
	peer := c.RemoteAddr().String()
	if tc, ok := c.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(s.ctx, handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.log.Warn("TLS handshake failed", "peer", peer, "err", err)
			return
		}
	}
	s.log.Info("connection", "peer", peer)

	var wmu sync.Mutex
	var inflight sync.WaitGroup
	slots := make(chan struct{}, MaxInFlight)
	n := 0
	closing := false
	for !closing {
		f, err := iso8583.ReadFrame(c, MaxFrame)
		if err != nil {
			if !errors.Is(err, io.EOF) && s.ctx.Err() == nil {
				s.log.Info("connection read ended", "peer", peer, "err", err)
			}
			break
		}
		n++
		slots <- struct{}{}
		inflight.Add(1)
		go func() {
			defer func() { <-slots; inflight.Done() }()
			s.answer(c, &wmu, f)
		}()
		if ca := s.Faults().CloseAfter; ca > 0 && n >= ca {
			s.log.Info("closing connection after its messages (close-after fault)", "peer", peer, "messages", n)
			closing = true
		}
	}
	inflight.Wait()
	if closing {
		linger(c)
	}
}

// closeGrace is how long a connection closed by the close-after fault
// waits for the peer to close its side.
const closeGrace = 2 * time.Second

// linger half-closes c after the close-after fault's answers are written
// and discards whatever the peer still sends (those requests are never
// handled), so that closing does not reset the connection and wipe
// answers the peer has not read yet.
func linger(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	// A network deadline is wall-clock by nature (net.Conn), not logic.
	c.SetReadDeadline(time.Now().Add(closeGrace))
	io.Copy(io.Discard, c)
}

// answer handles one frame and writes its answer, unless a fault or the
// rules say otherwise.
func (s *Server) answer(c net.Conn, wmu *sync.Mutex, f iso8583.Frame) {
	r := s.handle(f.Body)
	if r.body == nil {
		return
	}
	if lat := s.Faults().Latency; lat > 0 {
		select {
		case <-s.clk.After(lat):
		case <-s.ctx.Done():
			return
		}
	}
	if s.dropThis() {
		s.stats.dropped.Add(1)
		s.log.Info("answer dropped (drop-every fault)")
		return
	}
	wmu.Lock()
	defer wmu.Unlock()
	// A network deadline is wall-clock by nature (net.Conn), not logic.
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := iso8583.WriteFrame(c, f.Reply(r.body)); err != nil {
		s.log.Info("answer not written", "peer", c.RemoteAddr().String(), "err", err)
		return
	}
	s.stats.answers.Add(1)
}

// Stats are the host's counters since start plus the store's transaction
// counts.
type Stats struct {
	Started         time.Time `json:"started"`
	Connections     int64     `json:"connections"`
	OpenConnections int64     `json:"open_connections"`
	Requests        int64     `json:"requests"`
	Answers         int64     `json:"answers"`
	// Dropped answers (drop-every fault) and requests left unanswered by
	// the amount-98 rule.
	Dropped  int64 `json:"dropped"`
	NoAnswer int64 `json:"no_answer"`
	// Repeats answered from the store (never counted twice).
	Repeats         int64 `json:"repeats"`
	SignIns         int64 `json:"sign_ins"`
	BadMAC          int64 `json:"bad_mac"`
	UnknownTerminal int64 `json:"unknown_terminal"`
	// Malformed requests were dropped; Rejected ones answered (30, 77,
	// 94, 12, 03, 96) and not recorded.
	Malformed int64 `json:"malformed"`
	Rejected  int64 `json:"rejected"`
	// Transactions counts recorded messages by "type/state".
	Transactions map[string]int `json:"transactions"`
	Faults       Faults         `json:"faults"`
}

// Stats returns the counters.
func (s *Server) Stats() (Stats, error) {
	c := &s.stats
	st := Stats{
		Started: s.started, Connections: c.connections.Load(), OpenConnections: c.open.Load(),
		Requests: c.requests.Load(), Answers: c.answers.Load(), Dropped: c.dropped.Load(),
		NoAnswer: c.noAnswer.Load(), Repeats: c.repeats.Load(), SignIns: c.signIns.Load(),
		BadMAC: c.badMAC.Load(), UnknownTerminal: c.unknownTerminal.Load(),
		Malformed: c.malformed.Load(), Rejected: c.rejected.Load(), Faults: s.Faults(),
	}
	var err error
	st.Transactions, err = s.store.counts()
	return st, err
}

// Transactions returns the recorded messages (of one terminal when tid is
// not empty), oldest first.
func (s *Server) Transactions(tid string) ([]Txn, error) { return s.store.Transactions(tid) }

// Batches returns the batches (of one terminal when tid is not empty) with
// the host's totals.
func (s *Server) Batches(tid string) ([]Batch, error) { return s.store.Batches(tid) }
