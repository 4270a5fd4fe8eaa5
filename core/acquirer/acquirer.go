package acquirer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// Defaults of the dialect (docs/dialect.md, framing) and of the link.
var (
	// DefaultTPDU is 60 0000 0000.
	DefaultTPDU = [iso8583.TPDUSize]byte{0x60, 0x00, 0x00, 0x00, 0x00}
	// DefaultHeader is 60 31 00 00 00 00 (ours; acquirer-assigned).
	DefaultHeader = [iso8583.HeaderSize]byte{0x60, 0x31, 0x00, 0x00, 0x00, 0x00}
)

// DefaultSignInInterval is how often the terminal signs in again when
// Config.SignInInterval is zero.
const DefaultSignInInterval = 24 * time.Hour

// signInRetry is how long after a failed periodic sign-in the link keeps
// using its current keys before trying again.
const signInRetry = time.Minute

// Config configures the acquirer link.
type Config struct {
	// Primary and Backup are the hosts as "host:port"; Backup may be
	// empty.
	Primary, Backup string
	// TPDU and Header precede every message; zero values mean
	// DefaultTPDU and DefaultHeader.
	TPDU   [iso8583.TPDUSize]byte
	Header [iso8583.HeaderSize]byte
	// ConnectTimeout (per host) and ResponseTimeout (per request, an
	// upper bound on top of the caller's context); zero: the defaults.
	ConnectTimeout, ResponseTimeout time.Duration
	// TLS enables TLS (see NewTLSConfig); nil is plain TCP.
	TLS *tls.Config
	// MAC is the field-64 algorithm; zero means iso8583.MACUnionPayECB.
	MAC iso8583.MACAlgorithm
	// TID (8) and MID (15) identify the terminal in network management
	// messages; financial messages carry the identity journaled with
	// their record.
	TID, MID string
	// SignInInterval: sign in again when the last sign-in is this old.
	// Zero means DefaultSignInInterval; negative disables it.
	SignInInterval time.Duration
	// Location is the terminal's time zone, for the local time and date
	// of offline advices (fields 12 and 13); nil means UTC.
	Location *time.Location
	// Spec is the dialect's field layout; nil means iso8583.UnionPay.
	Spec *iso8583.Spec
	// MaxFrame limits a received frame; zero means DefaultMaxFrame.
	MaxFrame int
}

// Unsealer returns the sealed card data of a journaled transaction
// (wired to payment.Journal.Unseal).
type Unsealer func(ctx context.Context, id txn.ID) (txn.Sensitive, error)

// OriginalSource returns the original transaction's RRN, auth code and
// date for a void or refund record (rec.Original names it).
type OriginalSource func(ctx context.Context, rec txn.Record) (Original, error)

// Deps are what the link needs from the rest of the agent.
type Deps struct {
	// Keys holds the terminal master key. Required.
	Keys KeyStore
	// BatchSource returns the terminal's current batch number, sent in
	// the sign-in (60.2). Required.
	BatchSource func(ctx context.Context) (uint32, error)
	// OnHostBatch is called with the batch number of a successful
	// sign-in answer (60.2 of the 0810) so the journal can adopt it. A
	// failing hook fails the sign-in. Nil: ignored (the batch stays the
	// journal's).
	OnHostBatch func(ctx context.Context, batch uint32) error
	// Unseal gives Reverse the card data for fields 2, 14, 23, 35, 55.
	// Nil, or an error, sends the reversal without them.
	Unseal Unsealer
	// Original gives Authorize what a void or refund needs about its
	// original. Nil: voids and refunds are refused (ErrBadRequest).
	Original OriginalSource
	// NetSTAN returns the STAN of a sign-in or echo test. Nil: the link
	// counts its own, from 1 (these messages are matched on MTI class
	// 081/083, so they never meet a journaled transaction's STAN).
	NetSTAN func(ctx context.Context) (uint32, error)
	// Clock (nil: clock.System) and Log (nil: discard).
	Clock clock.Clock
	Log   *slog.Logger
}

// LinkStatus is what `posagent status` shows about the link.
type LinkStatus struct {
	Connected bool
	Host      string // the host of the live (or last) connection
	// LastSignIn is when the last sign-in succeeded (UTC); zero if none
	// since start.
	LastSignIn time.Time
	LastError  string
	InFlight   int
	// SignedIn reports whether working keys are loaded.
	SignedIn bool
	// TerminalUnknown is set when the host answered 97 or 03 ("terminal
	// unknown to host") and cleared by the next successful sign-in.
	TerminalUnknown bool
}

// Acquirer is the ISO 8583 acquirer link; it implements
// payment.Acquirer. Safe for concurrent use.
type Acquirer struct {
	cfg    Config
	deps   Deps
	spec   *iso8583.Spec
	client *Client
	clk    clock.Clock
	log    *slog.Logger

	signSem chan struct{} // one sign-in at a time

	mu           sync.Mutex
	keys         *sessionKeys
	lastSignIn   time.Time
	signFailedAt time.Time
	lastErr      string
	unknown      bool
	netSTAN      uint32

	reasons reasonMemory

	revMu     sync.Mutex
	revFlight map[txn.Identity]*reversalCall
}

// reversalCall is a reversal in flight that other callers may join.
type reversalCall struct {
	done chan struct{}
	out  txn.Outcome
	err  error
}

// New returns the link; nothing is dialled until the first request.
func New(cfg Config, deps Deps) (*Acquirer, error) {
	if len(cfg.TID) != 8 {
		return nil, fmt.Errorf("acquirer: Config.TID is %d characters, want 8", len(cfg.TID))
	}
	if len(cfg.MID) != 15 {
		return nil, fmt.Errorf("acquirer: Config.MID is %d characters, want 15", len(cfg.MID))
	}
	if deps.Keys == nil {
		return nil, errors.New("acquirer: Deps.Keys is nil")
	}
	if deps.BatchSource == nil {
		return nil, errors.New("acquirer: Deps.BatchSource is nil")
	}
	if cfg.MAC == 0 {
		cfg.MAC = iso8583.MACUnionPayECB
	}
	if _, err := cfg.MAC.MarshalText(); err != nil {
		return nil, fmt.Errorf("acquirer: Config.MAC: %w", err)
	}
	if cfg.TPDU == ([iso8583.TPDUSize]byte{}) {
		cfg.TPDU = DefaultTPDU
	}
	if cfg.Header == ([iso8583.HeaderSize]byte{}) {
		cfg.Header = DefaultHeader
	}
	if cfg.SignInInterval == 0 {
		cfg.SignInInterval = DefaultSignInInterval
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Spec == nil {
		cfg.Spec = iso8583.UnionPay
	}
	if deps.Clock == nil {
		deps.Clock = clock.System{}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	log := deps.Log.With("component", "acquirer")
	client, err := NewClient(ClientConfig{
		Primary: cfg.Primary, Backup: cfg.Backup, TPDU: cfg.TPDU, Header: cfg.Header,
		ConnectTimeout: cfg.ConnectTimeout, ResponseTimeout: cfg.ResponseTimeout,
		TLS: cfg.TLS, Spec: cfg.Spec, MaxFrame: cfg.MaxFrame,
	}, deps.Clock, log)
	if err != nil {
		return nil, err
	}
	return &Acquirer{
		cfg: cfg, deps: deps, spec: cfg.Spec, client: client, clk: deps.Clock, log: log,
		signSem: make(chan struct{}, 1),
		reasons: reasonMemory{max: reasonMemorySize},
	}, nil
}

// Close closes the connection. Requests in flight fail with
// payment.ErrNoResponse.
func (a *Acquirer) Close() error { return a.client.Close() }

// Status returns the link's state.
func (a *Acquirer) Status() LinkStatus {
	cs := a.client.State()
	a.mu.Lock()
	defer a.mu.Unlock()
	st := LinkStatus{
		Connected: cs.Connected, Host: cs.Host, InFlight: cs.InFlight,
		LastSignIn: a.lastSignIn, LastError: a.lastErr, SignedIn: a.keys != nil,
		TerminalUnknown: a.unknown,
	}
	if st.LastError == "" {
		st.LastError = cs.LastError
	}
	return st
}

func (a *Acquirer) noteErr(err error) {
	a.mu.Lock()
	a.lastErr = err.Error()
	a.mu.Unlock()
}

func (a *Acquirer) noteOK() {
	a.mu.Lock()
	a.lastErr = ""
	a.mu.Unlock()
}

func (a *Acquirer) setUnknown() {
	a.mu.Lock()
	a.unknown = true
	a.mu.Unlock()
}

// ---- keys and sign-in ----

// keyState returns the current keys and whether a periodic sign-in is
// due.
func (a *Acquirer) keyState() (*sessionKeys, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.keys == nil || a.cfg.SignInInterval < 0 {
		return a.keys, false
	}
	now := a.clk.Now()
	due := now.Sub(a.keys.at) >= a.cfg.SignInInterval
	if due && !a.signFailedAt.IsZero() && now.Sub(a.signFailedAt) < signInRetry {
		due = false
	}
	return a.keys, due
}

// dropKeys forgets k if it is still the current key set, so the next
// request signs in again.
func (a *Acquirer) dropKeys(k *sessionKeys) {
	a.mu.Lock()
	if a.keys == k {
		a.keys = nil
	}
	a.mu.Unlock()
}

func (a *Acquirer) currentKeys() *sessionKeys {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys
}

// ensureKeys returns working keys, signing in first when there are none
// or the interval has passed.
func (a *Acquirer) ensureKeys(ctx context.Context) (*sessionKeys, error) {
	if k, due := a.keyState(); k != nil && !due {
		return k, nil
	}
	select {
	case a.signSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for sign-in: %w", ErrSignIn, cause(ctx))
	}
	defer func() { <-a.signSem }()
	k, due := a.keyState()
	if k != nil && !due {
		return k, nil // signed in by someone else meanwhile
	}
	if err := a.signIn(ctx); err != nil {
		if k != nil {
			a.mu.Lock()
			a.signFailedAt = a.clk.Now()
			a.mu.Unlock()
			a.log.Warn("periodic sign-in failed; keeping the current working keys", "err", err)
			return k, nil
		}
		return nil, err
	}
	return a.currentKeys(), nil
}

// SignIn signs in now (0800/0810): new working keys, checked against
// their check values, replace the current ones. Errors wrap ErrSignIn.
func (a *Acquirer) SignIn(ctx context.Context) error {
	select {
	case a.signSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for sign-in: %w", ErrSignIn, cause(ctx))
	}
	defer func() { <-a.signSem }()
	return a.signIn(ctx)
}

func (a *Acquirer) signIn(ctx context.Context) error {
	err := a.doSignIn(ctx)
	if err != nil {
		a.noteErr(err)
		a.log.Warn("sign-in failed", "err", err)
	}
	return err
}

func (a *Acquirer) doSignIn(ctx context.Context) error {
	tmk, err := a.deps.Keys.TMK(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignIn, err)
	}
	if err := CheckTMK(tmk); err != nil {
		return fmt.Errorf("%w: %w", ErrSignIn, err)
	}
	batch, err := a.deps.BatchSource(ctx)
	if err != nil {
		return fmt.Errorf("%w: current batch: %w", ErrSignIn, err)
	}
	stan, err := a.nextNetSTAN(ctx)
	if err != nil {
		return fmt.Errorf("%w: STAN: %w", ErrSignIn, err)
	}
	req, err := SignInRequest(txn.Identity{TID: a.cfg.TID, MID: a.cfg.MID, Batch: batch, STAN: stan})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignIn, err)
	}
	key, err := RequestKey(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignIn, err)
	}
	m, err := a.send(ctx, key, req, nil)
	if err != nil {
		// Text only: a sign-in that got no answer must not make the
		// financial request it precedes look sent (ErrNoResponse).
		return fmt.Errorf("%w: %v", ErrSignIn, err)
	}
	res, err := ParseSignInResponse(m, tmk)
	if err != nil {
		if errors.Is(err, ErrNotRegistered) {
			a.setUnknown()
		}
		return err
	}
	if res.HasBatch && a.deps.OnHostBatch != nil {
		if err := a.deps.OnHostBatch(ctx, res.HostBatch); err != nil {
			return fmt.Errorf("%w: adopting host batch %06d: %w", ErrSignIn, res.HostBatch, err)
		}
	}
	now := a.clk.Now() // keeps the monotonic reading for the interval
	k, err := newSessionKeys(a.cfg.MAC, res.Keys, now)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.keys, a.lastSignIn, a.signFailedAt, a.unknown, a.lastErr = k, now.UTC(), time.Time{}, false, ""
	a.mu.Unlock()
	attrs := []any{"stan", stan, "host_batch", res.HostBatch, "has_tdk", len(res.Keys.TDK) > 0}
	if kcv, err := iso8583.KCV(res.Keys.MAK); err == nil {
		attrs = append(attrs, "mak_kcv", fmt.Sprintf("%X", kcv)) // a check value, not the key
	}
	a.log.Info("signed in", attrs...)
	return nil
}

func (a *Acquirer) nextNetSTAN(ctx context.Context) (uint32, error) {
	if a.deps.NetSTAN != nil {
		return a.deps.NetSTAN(ctx)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.netSTAN = a.netSTAN%999999 + 1
	return a.netSTAN, nil
}

// ---- exchange ----

// needsMAC reports whether messages of this MTI carry field 64: all but
// network management (08xx: sign-in, echo).
func needsMAC(mti string) bool { return !strings.HasPrefix(mti, "08") }

// Exchange sends req and returns the host's verified answer. A MACed
// request (all but 08xx) is preceded by a sign-in when the link has no
// working keys or the sign-in interval has passed; an answer 77 or A0
// makes it sign in again and send req once more, unchanged (the host did
// not process it, so the same STAN is right). Errors wrap
// payment.ErrUnreachable (not sent) or payment.ErrNoResponse (sent, no
// valid answer, including a response MAC failure).
func (a *Acquirer) Exchange(ctx context.Context, req *iso8583.Message) (*iso8583.Message, error) {
	key, err := RequestKey(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", payment.ErrUnreachable, err)
	}
	macd := needsMAC(req.MTI)
	for attempt := 0; ; attempt++ {
		var k *sessionKeys
		if macd {
			if k, err = a.ensureKeys(ctx); err != nil {
				err = fmt.Errorf("%w: %s not sent: %w", payment.ErrUnreachable, key, err)
				a.noteErr(err)
				return nil, err
			}
		}
		m, err := a.send(ctx, key, req, k)
		if err != nil {
			return nil, err
		}
		rc, _ := m.Get(39)
		if macd && Classify(rc).Kind == ReSignIn {
			a.dropKeys(k) // keys or batch out of step: the next request signs in
			if attempt == 0 {
				a.log.Warn("host asks for a new sign-in; signing in and sending again", "key", key.String(), "rc", sanitizeCode(rc))
				continue
			}
			a.log.Warn("host asks for a new sign-in again after one; giving its answer back", "key", key.String(), "rc", sanitizeCode(rc))
		}
		a.noteOK()
		return m, nil
	}
}

// send packs req (with a MAC under k when k is not nil), sends it and
// verifies the answer's MAC.
func (a *Acquirer) send(ctx context.Context, key Key, req *iso8583.Message, k *sessionKeys) (*iso8583.Message, error) {
	var body []byte
	var err error
	if k != nil {
		body, err = a.spec.PackMAC(req, k.mac)
	} else {
		body, err = a.spec.Pack(req)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", payment.ErrUnreachable, ErrBadRequest, err)
	}
	ans, err := a.client.Do(ctx, key, body)
	if err != nil {
		a.noteErr(err)
		return nil, err
	}
	return a.verify(key, req, ans, k)
}

// verify checks the MAC of an answer to req sent under k (nil: no MAC).
func (a *Acquirer) verify(key Key, req *iso8583.Message, ans Answer, k *sessionKeys) (*iso8583.Message, error) {
	if k == nil {
		return ans.Msg, nil
	}
	m, verr := a.spec.UnpackVerify(ans.Body, k.mac)
	if verr == nil {
		return m, nil
	}
	if m != nil && errors.Is(verr, iso8583.ErrNoMAC) {
		if rc, _ := m.Get(39); rc == "A0" {
			return m, nil // the host could not verify our MAC and says so without one
		}
	}
	if m != nil && errors.Is(verr, iso8583.ErrBadMAC) {
		// A sign-in by a concurrent request may have changed the host's
		// keys while this request was in flight.
		if cur := a.currentKeys(); cur != nil && cur != k {
			if m2, err2 := a.spec.UnpackVerify(ans.Body, cur.mac); err2 == nil {
				return m2, nil
			}
		}
	}
	a.reasons.set(reasonKeyOf(req), ReasonBadMAC)
	a.log.Warn("answer failed its MAC check; treated as no answer, a reversal follows",
		"key", key.String(), "host", ans.Host, "err", verr)
	err := fmt.Errorf("%w: %w: %s from %s: %w", payment.ErrNoResponse, ErrResponseMAC, key, ans.Host, verr)
	a.noteErr(err)
	return nil, err
}

// parseAnswer decodes an answer to a financial request and checks that
// it fits (response code present, amount echoed unchanged). A misfit is
// no valid answer.
func (a *Acquirer) parseAnswer(req, m *iso8583.Message) (Response, error) {
	r, err := ParseResponse(m)
	if err == nil && r.Amount != "" {
		if want, ok := req.Get(4); ok && want != r.Amount {
			err = fmt.Errorf("%w: amount %s answered for a request of %s", ErrBadResponse, r.Amount, want)
		}
	}
	if err != nil {
		a.log.Error("answer does not fit its request; treated as no answer", "mti", m.MTI, "stan", stanOf(req), "err", err)
		err = fmt.Errorf("%w: %w", payment.ErrNoResponse, err)
		a.noteErr(err)
		return r, err
	}
	switch r.Outcome.Code {
	case "30":
		a.log.Error("host reports a format error (30): the request does not fit the dialect", "alarm", "format_error", "mti", req.MTI, "stan", stanOf(req))
	}
	if r.Outcome.Kind == NotRegistered {
		a.setUnknown()
		a.noteErr(fmt.Errorf("%w (response code %s)", ErrNotRegistered, r.Outcome.Code))
	}
	return r, nil
}

// ---- payment.Acquirer ----

// Authorize implements payment.Acquirer: it sends the sale (card,
// keyed or QR), void or refund of req.Record and maps the answer. A
// decline, "retry later" (91, 96) or "terminal unknown" (97, 03) answer
// is Approved false with the code and message, never an error: the host
// answered, nothing is to be reversed. An answer 94 (duplicate, original
// answer unknown here) is treated as no valid answer.
func (a *Acquirer) Authorize(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
	msg, err := a.buildAuth(ctx, req)
	if err != nil {
		if errors.Is(err, ErrBadRequest) {
			return payment.AuthResponse{}, fmt.Errorf("%w: %w: %w", payment.ErrUnreachable, payment.ErrCardData, err)
		}
		return payment.AuthResponse{}, fmt.Errorf("%w: %w", payment.ErrUnreachable, err)
	}
	m, err := a.Exchange(ctx, msg)
	if err != nil {
		return payment.AuthResponse{}, err
	}
	r, err := a.parseAnswer(msg, m)
	if err != nil {
		return payment.AuthResponse{}, err
	}
	if r.Outcome.Code == "94" {
		a.log.Warn("host answered 94 (duplicate) without the original answer; treated as no answer", "stan", stanOf(msg))
		return payment.AuthResponse{}, fmt.Errorf("%w: host answered 94 (duplicate transmission) for STAN %06d", payment.ErrNoResponse, stanOf(msg))
	}
	// The host answered: a later reversal of this request is the
	// terminal's own decision.
	a.reasons.set(reasonKeyOf(msg), ReasonOther)
	out := r.Txn()
	return payment.AuthResponse{Approved: r.Outcome.Kind == Approved, Outcome: out}, nil
}

func (a *Acquirer) buildAuth(ctx context.Context, req payment.AuthRequest) (*iso8583.Message, error) {
	rec := req.Record
	switch rec.Type {
	case txn.Sale:
		return SaleRequest(rec, req.Sensitive, req.CVV)
	case txn.Void, txn.Refund:
		if a.deps.Original == nil {
			return nil, fmt.Errorf("%w: %s needs the original transaction and no OriginalSource is configured", ErrBadRequest, rec.Type)
		}
		orig, err := a.deps.Original(ctx, rec)
		if err != nil {
			return nil, fmt.Errorf("%w: original of %s: %w", ErrBadRequest, rec.ID, err)
		}
		if rec.Type == txn.Void {
			return VoidRequest(rec, req.Sensitive, orig)
		}
		return RefundRequest(rec, req.Sensitive, orig)
	}
	return nil, badRequest(3, "record type %q", rec.Type)
}

// Reverse implements payment.Acquirer: a 0400, or 0401 when rec.Attempts
// > 0, for the request rec was sent with. Field 39 is the reason the link
// remembers for that STAN (A0 after a response MAC failure, 06 when the
// host had answered), else 06 when the record holds a host response code
// and 98 otherwise. Card data comes from Deps.Unseal when it can. The
// host acknowledging (00, or 94 for a reversal it already has) is a nil
// error; any other answer wraps ErrReversalRefused.
func (a *Acquirer) Reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	// One reversal per transaction on the wire at a time: a second caller
	// (the engine's reversal-first step while the forwarder is already
	// sending it) joins the one in flight and gets its answer, instead of
	// failing on the duplicate match key.
	key := rec.Identity
	a.revMu.Lock()
	if a.revFlight == nil {
		a.revFlight = map[txn.Identity]*reversalCall{}
	}
	if c, ok := a.revFlight[key]; ok {
		a.revMu.Unlock()
		select {
		case <-c.done:
			if c.err != nil {
				// One request on the wire: its sender counts the attempt.
				return c.out, fmt.Errorf("%w: %w", payment.ErrSharedAttempt, c.err)
			}
			return c.out, nil
		case <-ctx.Done():
			return txn.Outcome{}, fmt.Errorf("%w: waiting for the reversal already in flight: %w", payment.ErrNoResponse, ctx.Err())
		}
	}
	c := &reversalCall{done: make(chan struct{})}
	a.revFlight[key] = c
	a.revMu.Unlock()
	c.out, c.err = a.reverse(ctx, rec)
	a.revMu.Lock()
	delete(a.revFlight, key)
	a.revMu.Unlock()
	close(c.done)
	return c.out, c.err
}

func (a *Acquirer) reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	var s *txn.Sensitive
	if a.deps.Unseal != nil {
		sens, err := a.deps.Unseal(ctx, rec.ID)
		if err != nil {
			a.log.Warn("card data not available for the reversal; sending it without fields 2, 14, 23, 35, 55",
				"txn", rec.ID, "stan", rec.Identity.STAN, "err", err)
		} else {
			s = &sens
		}
	}
	reason := a.reasonFor(rec)
	msg, err := ReversalRequest(rec, s, reason)
	if err != nil {
		return txn.Outcome{}, fmt.Errorf("%w: %w", payment.ErrUnreachable, err)
	}
	m, err := a.Exchange(ctx, msg)
	if err != nil {
		return txn.Outcome{}, err
	}
	r, err := ParseResponse(m)
	if err != nil {
		return txn.Outcome{}, fmt.Errorf("%w: %w", payment.ErrNoResponse, err)
	}
	switch r.Outcome.Code {
	case "00", "94":
		a.reasons.del(reasonKeyOf(msg))
		a.log.Info("reversal acknowledged", "txn", rec.ID, "stan", rec.Identity.STAN, "reason", reason, "rc", r.Outcome.Code, "mti", msg.MTI)
		out := r.Txn()
		out.Message = "reversal accepted / 冲正成功"
		return out, nil
	}
	return r.Txn(), fmt.Errorf("%w: STAN %06d answered %s (%s)", ErrReversalRefused, rec.Identity.STAN, sanitizeCode(r.Outcome.Code), r.Outcome.Message)
}

// Forward sends the advice of a sale approved offline (0220, or 0221 when
// rec.Attempts > 0) and returns the host's answer; its Outcome.Kind tells
// the forwarder what to do (Approved, Declined, RetryLater, ...).
func (a *Acquirer) Forward(ctx context.Context, rec txn.Record, s txn.Sensitive) (Response, error) {
	msg, err := OfflineSaleRequest(rec, s, a.cfg.Location)
	if err != nil {
		return Response{}, fmt.Errorf("%w: %w", payment.ErrUnreachable, err)
	}
	m, err := a.Exchange(ctx, msg)
	if err != nil {
		return Response{}, err
	}
	return a.parseAnswer(msg, m)
}

// Echo sends an echo test (0820/0830) and returns nil when the host
// answers 00. It does not need working keys.
func (a *Acquirer) Echo(ctx context.Context) error {
	batch, err := a.deps.BatchSource(ctx)
	if err != nil {
		return fmt.Errorf("%w: echo: current batch: %w", payment.ErrUnreachable, err)
	}
	stan, err := a.nextNetSTAN(ctx)
	if err != nil {
		return fmt.Errorf("%w: echo: STAN: %w", payment.ErrUnreachable, err)
	}
	req, err := EchoRequest(txn.Identity{TID: a.cfg.TID, MID: a.cfg.MID, Batch: batch, STAN: stan})
	if err != nil {
		return fmt.Errorf("%w: %w", payment.ErrUnreachable, err)
	}
	return a.expect00(ctx, req)
}

func (a *Acquirer) expect00(ctx context.Context, req *iso8583.Message) error {
	m, err := a.Exchange(ctx, req)
	if err != nil {
		return err
	}
	r, err := ParseResponse(m)
	if err != nil {
		return fmt.Errorf("%w: %w", payment.ErrNoResponse, err)
	}
	if r.Outcome.Kind != Approved {
		if r.Outcome.Kind == NotRegistered {
			a.setUnknown()
		}
		return fmt.Errorf("%w: %s answered %s (%s)", ErrRefused, r.MTI, sanitizeCode(r.Outcome.Code), r.Outcome.Message)
	}
	return nil
}

// BatchUpload sends one batch upload 0320 (60.3 = 203) with up to
// MaxBatchRecords records; id is the message's journaled identity.
func (a *Acquirer) BatchUpload(ctx context.Context, id txn.Identity, recs []BatchRecord) error {
	req, err := BatchUploadRequest(id, recs)
	if err != nil {
		return fmt.Errorf("%w: %w", payment.ErrUnreachable, err)
	}
	return a.expect00(ctx, req)
}

// BatchEnd sends the batch-end 0320 (60.3 = 202, or 207 when the
// settlement was not balanced) with the number of records uploaded.
func (a *Acquirer) BatchEnd(ctx context.Context, id txn.Identity, total int, notBalanced bool) error {
	req, err := BatchEndRequest(id, total, notBalanced)
	if err != nil {
		return fmt.Errorf("%w: %w", payment.ErrUnreachable, err)
	}
	return a.expect00(ctx, req)
}

// Settle sends the settlement 0500 with the batch totals and returns the
// host's reconciliation.
func (a *Acquirer) Settle(ctx context.Context, id txn.Identity, t Totals, currency money.Currency) (SettleResult, error) {
	req, err := SettlementRequest(id, t, currency)
	if err != nil {
		return SettleResult{}, fmt.Errorf("%w: %w", payment.ErrUnreachable, err)
	}
	m, err := a.Exchange(ctx, req)
	if err != nil {
		return SettleResult{}, err
	}
	res, err := ParseSettlementResponse(m)
	if err != nil && !errors.Is(err, ErrRefused) {
		return res, fmt.Errorf("%w: %w", payment.ErrNoResponse, err)
	}
	return res, err
}

// ---- reversal reasons ----

// reasonMemorySize bounds how many STANs the link remembers a reversal
// reason for.
const reasonMemorySize = 1024

type reasonKey struct {
	tid         string
	batch, stan uint32
}

func reasonKeyOf(m *iso8583.Message) reasonKey {
	tid, _ := m.Get(41)
	k := reasonKey{tid: tid, stan: stanOf(m)}
	if v, ok := m.Get(60); ok {
		if f, err := iso8583.ParseField60(v); err == nil {
			b, _ := strconv.ParseUint(f.Batch, 10, 32)
			k.batch = uint32(b)
		}
	}
	return k
}

func (a *Acquirer) reasonFor(rec txn.Record) string {
	if r, ok := a.reasons.get(reasonKey{tid: rec.Identity.TID, batch: rec.Identity.Batch, stan: rec.Identity.STAN}); ok {
		return r
	}
	if rec.Outcome.ResponseCode != "" {
		return ReasonOther // the host had answered; undoing it was our decision
	}
	return ReasonNoResponse
}

// reasonMemory remembers, per TID + batch + STAN, why a request failed
// (or that it was answered), bounded to max entries (oldest dropped).
type reasonMemory struct {
	mu    sync.Mutex
	max   int
	m     map[reasonKey]string
	order []reasonKey
}

func (r *reasonMemory) set(k reasonKey, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[reasonKey]string)
	}
	if _, ok := r.m[k]; !ok {
		for len(r.order) >= r.max && len(r.order) > 0 {
			delete(r.m, r.order[0])
			r.order = r.order[1:]
		}
		r.order = append(r.order, k)
	}
	r.m[k] = code
}

func (r *reasonMemory) get(k reasonKey) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[k]
	return v, ok
}

func (r *reasonMemory) del(k reasonKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[k]; !ok {
		return
	}
	delete(r.m, k)
	for i, o := range r.order {
		if o == k {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

var _ payment.Acquirer = (*Acquirer)(nil)
