package acquirer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/payment"
)

// Transport defaults.
const (
	DefaultConnectTimeout  = 10 * time.Second
	DefaultResponseTimeout = 30 * time.Second
	// DefaultMaxFrame limits the length of a received frame; a longer one
	// breaks the connection (the stream position is lost).
	DefaultMaxFrame = 8192
)

// ClientConfig configures the transport.
type ClientConfig struct {
	// Primary and Backup are "host:port". The backup is tried when the
	// primary cannot be connected; Backup may be empty.
	Primary, Backup string
	// TPDU and Header are sent before every message (docs/dialect.md).
	TPDU   [iso8583.TPDUSize]byte
	Header [iso8583.HeaderSize]byte
	// ConnectTimeout bounds the TCP connect and TLS handshake per host
	// (zero: DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds one request from write to answer when the
	// context allows longer (zero: DefaultResponseTimeout).
	ResponseTimeout time.Duration
	// TLS, when not nil, makes the link TLS (see NewTLSConfig). An empty
	// ServerName is set to the host part of the address dialled.
	TLS *tls.Config
	// Spec decodes answers (nil: iso8583.UnionPay).
	Spec *iso8583.Spec
	// MaxFrame limits a received frame's length (zero: DefaultMaxFrame).
	MaxFrame int
}

// Key matches an answer to its request: the response MTI class (the
// first three digits of the response MTI: "021" for 0210, "041" for 0410
// answering a 0400 or a 0401), field 11 and field 41.
type Key struct {
	Class string
	STAN  string
	TID   string
}

// String renders the key for logs.
func (k Key) String() string { return k.Class + "x/" + k.STAN + "/" + k.TID }

// RequestKey returns the key under which the answer to request m is
// expected: response MTI = request MTI + 10 (0200 → 021x, 0221 → 023x,
// 0401 → 041x).
func RequestKey(m *iso8583.Message) (Key, error) {
	mti := m.MTI
	if len(mti) != 4 || !isDigits(mti) || (mti[2]-'0')%2 != 0 {
		return Key{}, fmt.Errorf("%w: MTI %q is not a request", ErrBadRequest, mti)
	}
	stan, ok := m.Get(11)
	if !ok {
		return Key{}, badRequest(11, "request has no STAN")
	}
	tid, ok := m.Get(41)
	if !ok {
		return Key{}, badRequest(41, "request has no TID")
	}
	return Key{Class: mti[:2] + string(mti[2]+1), STAN: stan, TID: tid}, nil
}

// ResponseKey returns the key of an answer.
func ResponseKey(m *iso8583.Message) (Key, error) {
	if !isResponseMTI(m.MTI) {
		return Key{}, fmt.Errorf("%w: MTI %q is not a response", ErrBadResponse, m.MTI)
	}
	stan, ok := m.Get(11)
	if !ok {
		return Key{}, fmt.Errorf("%w: %s has no field 11", ErrBadResponse, m.MTI)
	}
	tid, ok := m.Get(41)
	if !ok {
		return Key{}, fmt.Errorf("%w: %s has no field 41", ErrBadResponse, m.MTI)
	}
	return Key{Class: m.MTI[:3], STAN: stan, TID: tid}, nil
}

// Answer is an answer as received: the body (MTI onward, for MAC
// verification) and its decoded form.
type Answer struct {
	Body []byte
	Msg  *iso8583.Message
	Host string // the address it came from
}

// ClientState is a snapshot of the transport.
type ClientState struct {
	Connected bool
	Host      string // the address of the live connection, or the last one
	InFlight  int
	LastError string
}

// Client is the transport to the acquirer host. Safe for concurrent use;
// many requests may be in flight on its one connection.
type Client struct {
	cfg  ClientConfig
	spec *iso8583.Spec
	clk  clock.Clock
	log  *slog.Logger

	dialSem chan struct{} // one dial at a time

	mu       sync.Mutex
	cur      *conn
	lastHost string
	lastErr  string
	closed   bool
}

// NewClient returns a client; it connects on the first request. clk
// measures the response and connect timeouts (nil: clock.System); log
// nil discards.
func NewClient(cfg ClientConfig, clk clock.Clock, log *slog.Logger) (*Client, error) {
	if cfg.Primary == "" {
		return nil, errors.New("acquirer: ClientConfig.Primary is empty")
	}
	for _, h := range []string{cfg.Primary, cfg.Backup} {
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			return nil, fmt.Errorf("acquirer: host %q: %w", h, err)
		}
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	spec := cfg.Spec
	if spec == nil {
		spec = iso8583.UnionPay
	}
	if clk == nil {
		clk = clock.System{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, spec: spec, clk: clk, log: log, dialSem: make(chan struct{}, 1)}, nil
}

var errTimeout = errors.New("timed out")

// withTimeout is a context that ends d after now on clk, with cause
// errTimeout (context.Cause); d <= 0 adds no limit.
func withTimeout(parent context.Context, clk clock.Clock, d time.Duration, what string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	if d > 0 {
		timer := clk.After(d)
		go func() {
			select {
			case <-timer:
				cancel(fmt.Errorf("%s %w after %v", what, errTimeout, d))
			case <-ctx.Done():
			}
		}()
	}
	return ctx, func() { cancel(context.Canceled) }
}

// cause returns why ctx ended.
func cause(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}

// Do sends one request body (MTI onward, MAC included) and waits for the
// answer matching key. Errors wrap payment.ErrUnreachable when the
// request provably did not leave (no host could be connected, the
// connection was known dead before the write, ctx ended before it, or
// the key is already in flight), and payment.ErrNoResponse otherwise
// (timeout, connection lost after or during the write).
func (c *Client) Do(ctx context.Context, key Key, body []byte) (Answer, error) {
	ctx, cancel := withTimeout(ctx, c.clk, c.cfg.ResponseTimeout, "response")
	defer cancel()
	frame, err := iso8583.AppendFrame(nil, iso8583.Frame{TPDU: c.cfg.TPDU, Header: c.cfg.Header, Body: body})
	if err != nil {
		return Answer{}, fmt.Errorf("%w: %w: %w", payment.ErrUnreachable, ErrBadRequest, err)
	}
	var cn *conn
	var ch chan result
	for attempt := 0; ; attempt++ {
		cn, err = c.connect(ctx)
		if err != nil {
			return Answer{}, err
		}
		ch, err = cn.register(key)
		if err == nil {
			break
		}
		if errors.Is(err, ErrDuplicateInFlight) || attempt == 1 {
			return Answer{}, fmt.Errorf("%w: %s not sent: %w", payment.ErrUnreachable, key, err)
		}
		// The connection died between connect and register: redial once.
	}
	if ctx.Err() != nil {
		if !cn.unregister(key, ch) {
			<-ch // the connection failed meanwhile; nothing was written
		}
		return Answer{}, fmt.Errorf("%w: %s not sent: %w", payment.ErrUnreachable, key, cause(ctx))
	}
	if err := cn.write(ctx, frame); err != nil {
		cn.fail(fmt.Errorf("write: %w", err))
		return Answer{}, fmt.Errorf("%w: write of %s to %s failed, it may have partly left: %w", payment.ErrNoResponse, key, cn.host, err)
	}
	select {
	case r := <-ch:
		return r.ans, r.err
	case <-ctx.Done():
		if !cn.unregister(key, ch) {
			r := <-ch // delivered (or failed) just now
			return r.ans, r.err
		}
		c.log.Warn("no answer in time", "key", key.String(), "host", cn.host, "cause", cause(ctx))
		return Answer{}, fmt.Errorf("%w: %s sent to %s, no answer: %w", payment.ErrNoResponse, key, cn.host, cause(ctx))
	}
}

// connect returns the live connection, dialling the primary and then the
// backup host if there is none.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	if cn, err := c.live(); cn != nil || err != nil {
		return cn, err
	}
	select {
	case c.dialSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: not connected: %w", payment.ErrUnreachable, cause(ctx))
	}
	defer func() { <-c.dialSem }()
	if cn, err := c.live(); cn != nil || err != nil {
		return cn, err
	}
	var errs []error
	for _, host := range []string{c.cfg.Primary, c.cfg.Backup} {
		if host == "" {
			continue
		}
		nc, err := c.dial(ctx, host)
		if err != nil {
			c.log.Warn("acquirer host not reachable", "host", host, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", host, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		cn := &conn{client: c, nc: nc, host: host, pending: make(map[Key]chan result)}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			nc.Close()
			return nil, fmt.Errorf("%w: %w", payment.ErrUnreachable, ErrClosed)
		}
		c.cur, c.lastHost, c.lastErr = cn, host, ""
		c.mu.Unlock()
		go cn.readLoop()
		c.log.Info("connected to acquirer host", "host", host, "tls", c.cfg.TLS != nil)
		return cn, nil
	}
	err := fmt.Errorf("%w: no host could be connected: %w", payment.ErrUnreachable, errors.Join(errs...))
	c.noteErr(err)
	return nil, err
}

// live returns the current connection if it is alive, or ErrClosed.
func (c *Client) live() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("%w: %w", payment.ErrUnreachable, ErrClosed)
	}
	if c.cur != nil && !c.cur.isDead() {
		return c.cur, nil
	}
	return nil, nil
}

func (c *Client) dial(ctx context.Context, host string) (net.Conn, error) {
	ctx, cancel := withTimeout(ctx, c.clk, c.cfg.ConnectTimeout, "connect")
	defer cancel()
	d := net.Dialer{Timeout: c.cfg.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		if ctx.Err() != nil {
			return nil, cause(ctx)
		}
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(true)
	}
	if c.cfg.TLS == nil {
		return nc, nil
	}
	cfg := c.cfg.TLS.Clone()
	if cfg.ServerName == "" {
		h, _, _ := net.SplitHostPort(host)
		cfg.ServerName = h
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("TLS handshake: %w", cause(ctx))
		}
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

func (c *Client) noteErr(err error) {
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
}

// State returns a snapshot of the transport.
func (c *Client) State() ClientState {
	c.mu.Lock()
	cur, host, lastErr := c.cur, c.lastHost, c.lastErr
	c.mu.Unlock()
	st := ClientState{Host: host, LastError: lastErr}
	if cur != nil {
		cur.mu.Lock()
		st.Connected = !cur.dead
		st.InFlight = len(cur.pending)
		cur.mu.Unlock()
	}
	return st
}

// Close closes the connection; requests in flight fail with
// payment.ErrNoResponse and later ones with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cur := c.cur
	c.mu.Unlock()
	if cur != nil {
		cur.fail(ErrClosed)
	}
	return nil
}

type result struct {
	ans Answer
	err error
}

// conn is one connection and the requests waiting on it.
type conn struct {
	client *Client
	nc     net.Conn
	host   string

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	pending map[Key]chan result
	dead    bool
}

func (cn *conn) isDead() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.dead
}

var errConnDead = errors.New("connection already closed")

func (cn *conn) register(k Key) (chan result, error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.dead {
		return nil, errConnDead
	}
	if _, dup := cn.pending[k]; dup {
		return nil, ErrDuplicateInFlight
	}
	ch := make(chan result, 1)
	cn.pending[k] = ch
	return ch, nil
}

// unregister removes k if it still waits with ch; false means an answer
// or a failure was delivered to ch meanwhile.
func (cn *conn) unregister(k Key, ch chan result) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.pending[k] == ch {
		delete(cn.pending, k)
		return true
	}
	return false
}

func (cn *conn) deliver(k Key, a Answer) bool {
	cn.mu.Lock()
	ch, ok := cn.pending[k]
	if ok {
		delete(cn.pending, k)
	}
	cn.mu.Unlock()
	if ok {
		ch <- result{ans: a}
	}
	return ok
}

// fail marks the connection dead, closes it and fails every request in
// flight on it with payment.ErrNoResponse: they may have been received.
func (cn *conn) fail(why error) {
	cn.mu.Lock()
	if cn.dead {
		cn.mu.Unlock()
		return
	}
	cn.dead = true
	p := cn.pending
	cn.pending = nil
	cn.mu.Unlock()
	cn.nc.Close()
	if !errors.Is(why, ErrClosed) {
		cn.client.log.Warn("acquirer connection lost", "host", cn.host, "in_flight", len(p), "err", why)
	}
	cn.client.noteErr(fmt.Errorf("connection to %s: %w", cn.host, why))
	for k, ch := range p {
		ch <- result{err: fmt.Errorf("%w: connection to %s lost with %s in flight: %w", payment.ErrNoResponse, cn.host, k, why)}
	}
}

// longAgo is a deadline in the past: setting it aborts a blocked write.
var longAgo = time.Unix(1, 0)

// write writes one frame, serialised with other writers, aborted when
// ctx ends.
func (cn *conn) write(ctx context.Context, frame []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	var mu sync.Mutex
	done, fired := false, false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			fired = true
			_ = cn.nc.SetWriteDeadline(longAgo)
		}
	})
	_, err := cn.nc.Write(frame)
	mu.Lock()
	done = true
	f := fired
	mu.Unlock()
	stop()
	if f {
		if err == nil {
			_ = cn.nc.SetWriteDeadline(time.Time{})
		} else {
			err = fmt.Errorf("%w (%w)", err, cause(ctx))
		}
	}
	return err
}

// readLoop is the connection's one reader: it matches every answer to
// the request waiting for it, and logs and drops the others.
func (cn *conn) readLoop() {
	c := cn.client
	for {
		f, err := iso8583.ReadFrame(cn.nc, c.cfg.MaxFrame)
		if err != nil {
			cn.fail(fmt.Errorf("read: %w", err))
			return
		}
		k, m, err := decodeAnswer(c.spec, f.Body)
		if err != nil {
			c.log.Warn("undecodable or unmatchable answer dropped", "host", cn.host, "len", len(f.Body), "err", err)
			continue
		}
		if !cn.deliver(k, Answer{Body: f.Body, Msg: m, Host: cn.host}) {
			rc, _ := m.Get(39)
			c.log.Warn("late or unmatched answer dropped", "host", cn.host, "key", k.String(), "mti", m.MTI, "rc", sanitizeCode(rc))
		}
	}
}

// decodeAnswer unpacks an answer body and returns its match key.
func decodeAnswer(spec *iso8583.Spec, body []byte) (Key, *iso8583.Message, error) {
	m, err := spec.Unpack(body)
	if err != nil {
		return Key{}, nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	k, err := ResponseKey(m)
	if err != nil {
		return Key{}, m, err
	}
	return k, m, nil
}
