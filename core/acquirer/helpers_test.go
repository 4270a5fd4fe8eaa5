package acquirer

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// Test terminal identity and master key (test values, not real keys).
const (
	testTID = "12345678"
	testMID = "123456789012345"
)

var testTMK = mustHex("0123456789ABCDEFFEDCBA9876543210")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// unhex decodes hex written with spaces, newlines and // comments.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var sb strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// testRecord is a journaled contactless sale (test data, not a real card).
func testRecord(stan uint32, minor int64) txn.Record {
	return txn.Record{
		ID:     txn.ID(fmt.Sprintf("%016x", stan)),
		Type:   txn.Sale,
		Entry:  txn.Contactless,
		Amount: money.Amount{Minor: minor, Currency: money.CNY},
		State:  txn.Pending,
		Identity: txn.Identity{
			TID: testTID, MID: testMID, Batch: 1, STAN: stan, Invoice: stan,
		},
		Scheme:    "UnionPay",
		MaskedPAN: "621234******0123",
		Created:   time.Date(2026, 3, 14, 6, 7, 8, 0, time.UTC),
	}
}

// testSensitive is the clear card data of testRecord's card.
func testSensitive() txn.Sensitive {
	return txn.Sensitive{
		PAN:    "6212349876543210123",
		Expiry: "2812",
		Track2: "6212349876543210123D28122010000123456F", // F pad as in EMV tag 57
		PANSeq: "01",
		ICC:    []byte{0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x9F, 0x27, 0x01, 0x80},
	}
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// ---- scripted host ----

// testHost is a small scripted acquirer host on 127.0.0.1: it signs
// terminals in (new working keys at every sign-in), checks request MACs
// (answering A0 without a MAC when one fails, as the dialect says), and
// answers everything else through handle, which may reply at once, late,
// out of order, never, or close the connection.
type testHost struct {
	t    testing.TB
	ln   net.Listener
	addr string
	spec *iso8583.Spec

	// handle decides what happens to each request that is not a
	// sign-in (nil: answer approved at once). It runs on the
	// connection's reader goroutine; it may start goroutines.
	handle   func(x *hostExchange)
	mu       sync.Mutex
	signIn   func(resp *iso8583.Message) // see SetSignIn
	discard  bool                        // do not keep received messages (benchmarks)
	keys     iso8583.WorkingKeys
	gen      int
	signIns  int
	accepts  int
	received []*iso8583.Message
	conns    []net.Conn
	closed   bool
}

// hostExchange is one request on the host.
type hostExchange struct {
	h     *testHost
	conn  net.Conn
	wmu   *sync.Mutex
	frame iso8583.Frame
	Req   *iso8583.Message
}

func newTestHost(t testing.TB, handle func(x *hostExchange)) *testHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startHost(t, ln, handle)
}

func startHost(t testing.TB, ln net.Listener, handle func(x *hostExchange)) *testHost {
	h := &testHost{t: t, ln: ln, addr: ln.Addr().String(), spec: iso8583.UnionPay, handle: handle}
	go h.acceptLoop()
	t.Cleanup(h.Close)
	return h
}

func (h *testHost) Close() {
	h.mu.Lock()
	h.closed = true
	conns := h.conns
	h.mu.Unlock()
	h.ln.Close()
	for _, c := range conns {
		c.Close()
	}
}

func (h *testHost) acceptLoop() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			c.Close()
			return
		}
		h.accepts++
		h.conns = append(h.conns, c)
		h.mu.Unlock()
		go h.serve(c)
	}
}

// SetSignIn sets a hook that may change each 0810 before it is sent.
func (h *testHost) SetSignIn(hook func(resp *iso8583.Message)) {
	h.mu.Lock()
	h.signIn = hook
	h.mu.Unlock()
}

func (h *testHost) Accepts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accepts
}

func (h *testHost) SignIns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.signIns
}

// Received returns the requests received so far (with MTI filter "" =
// all).
func (h *testHost) Received(mti string) []*iso8583.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*iso8583.Message
	for _, m := range h.received {
		if mti == "" || m.MTI == mti {
			out = append(out, m)
		}
	}
	return out
}

// MAK returns the MAC key of the current working keys (first 8 bytes,
// the dialect's single-DES MAK).
func (h *testHost) MAK() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keys.MAK[:8]
}

func (h *testHost) serve(c net.Conn) {
	var wmu sync.Mutex
	for {
		f, err := iso8583.ReadFrame(c, 0)
		if err != nil {
			return
		}
		m, err := h.spec.Unpack(f.Body)
		if err != nil {
			h.t.Errorf("host: request does not unpack: %v", err)
			return
		}
		h.mu.Lock()
		if !h.discard {
			h.received = append(h.received, m.Clone())
		}
		h.mu.Unlock()
		x := &hostExchange{h: h, conn: c, wmu: &wmu, frame: f, Req: m}
		switch {
		case m.MTI == "0800":
			x.Reply(h.signInAnswer(m))
			continue
		case needsMAC(m.MTI):
			if _, err := h.spec.UnpackVerify(f.Body, h.macFunc()); err != nil {
				a := x.Answer("A0")
				a.Unset(64)
				x.replyPacked(mustPack(h.t, h.spec, a))
				continue
			}
		}
		if h.handle == nil {
			x.Reply(x.Answer("00"))
			continue
		}
		h.handle(x)
	}
}

func (h *testHost) macFunc() iso8583.MACFunc {
	mac, err := iso8583.NewMAC(iso8583.MACUnionPayECB, h.MAK())
	if err != nil {
		panic(err)
	}
	return mac
}

// keysFor returns generation gen's working keys (test keys).
func keysFor(gen int) iso8583.WorkingKeys {
	fill := func(seed byte) []byte {
		k := make([]byte, 16)
		for i := range k {
			k[i] = seed + byte(i*17+gen*31)
		}
		return k
	}
	return iso8583.WorkingKeys{PIK: fill(0x11), MAK: fill(0x5A), TDK: fill(0xA3)}
}

func (h *testHost) signInAnswer(req *iso8583.Message) *iso8583.Message {
	h.mu.Lock()
	h.signIns++
	wk := keysFor(h.gen + 1)
	h.mu.Unlock()
	f62, err := iso8583.SignInKeysField(testTMK, wk)
	if err != nil {
		h.t.Errorf("host: %v", err)
	}
	r := iso8583.NewMessage("0810")
	for _, n := range []int{11, 41, 42} {
		v, _ := req.Get(n)
		r.Set(n, v)
	}
	r.Set(12, "060708")
	r.Set(13, "0314")
	r.Set(37, "000000000001")
	r.Set(39, "00")
	r.Set(60, "00000007004") // host batch 000007
	r.SetBytes(62, f62)
	h.mu.Lock()
	hook := h.signIn
	h.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	if rc, _ := r.Get(39); rc == "00" { // the host changes keys only when it says so
		h.mu.Lock()
		h.gen++
		h.keys = wk
		h.mu.Unlock()
	}
	return r
}

func mustPack(t testing.TB, spec *iso8583.Spec, m *iso8583.Message) []byte {
	b, err := spec.Pack(m)
	if err != nil {
		t.Errorf("host: pack %s: %v", m.MTI, err)
	}
	return b
}

// responseMTI is the answer's MTI for a request MTI (0200 → 0210, 0401 →
// 0410, 0221 → 0230).
func responseMTI(mti string) string {
	return mti[:2] + string(mti[2]+1) + "0"
}

// Answer returns a standard answer to the request with response code rc:
// echoed identity and amount, host time, RRN from batch and STAN, an auth
// code when approved. Reply MACs it.
func (x *hostExchange) Answer(rc string) *iso8583.Message {
	req := x.Req
	r := iso8583.NewMessage(responseMTI(req.MTI))
	for _, n := range []int{3, 4, 11, 25, 41, 42, 48, 49, 60} {
		if v, ok := req.GetBytes(n); ok {
			r.SetBytes(n, v)
		}
	}
	stan, _ := req.Get(11)
	r.Set(12, "101112")
	r.Set(13, "0314")
	r.Set(37, "000001"+stan)
	if rc == "00" && strings.HasPrefix(req.MTI, "02") {
		r.Set(38, "A"+stan[1:])
	}
	r.Set(39, rc)
	if req.MTI == "0500" {
		f48, _ := req.Get(48)
		b := []byte(f48)
		b[30], b[61] = '1', '1'
		r.Set(48, string(b))
		r.Set(15, "0314")
	}
	if strings.HasPrefix(req.MTI, "02") {
		r.Set(63, "CUP")
	}
	return r
}

// Reply MACs (unless 08xx) and sends m.
func (x *hostExchange) Reply(m *iso8583.Message) {
	var body []byte
	var err error
	if needsMAC(m.MTI) {
		body, err = x.h.spec.PackMAC(m, x.h.macFunc())
	} else {
		body, err = x.h.spec.Pack(m)
	}
	if err != nil {
		x.h.t.Errorf("host: pack %s: %v", m.MTI, err)
		return
	}
	x.replyPacked(body)
}

// ReplyBadMAC sends m with a MAC that does not verify.
func (x *hostExchange) ReplyBadMAC(m *iso8583.Message) {
	body, err := x.h.spec.PackMAC(m, x.h.macFunc())
	if err != nil {
		x.h.t.Errorf("host: %v", err)
		return
	}
	body[len(body)-1] ^= 0x01
	x.replyPacked(body)
}

func (x *hostExchange) replyPacked(body []byte) {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	_ = iso8583.WriteFrame(x.conn, x.frame.Reply(body))
}

// Drop closes the connection the request came on.
func (x *hostExchange) Drop() { x.conn.Close() }

// STAN returns the request's field 11.
func (x *hostExchange) STAN() string { v, _ := x.Req.Get(11); return v }

// ---- terminal side ----

type fixture struct {
	acq  *Acquirer
	host *testHost
	logs *logBuffer
	keys *MemKeyStore

	mu         sync.Mutex
	hostBatch  []uint32
	unsealed   map[txn.ID]txn.Sensitive
	unsealErrs int
}

// newFixture starts a scripted host and an Acquirer pointed at it.
func newFixture(t testing.TB, handle func(x *hostExchange), mod ...func(*Config, *Deps)) *fixture {
	t.Helper()
	h := newTestHost(t, handle)
	return newFixtureFor(t, h, h.addr, "", mod...)
}

func newFixtureFor(t testing.TB, h *testHost, primary, backup string, mod ...func(*Config, *Deps)) *fixture {
	t.Helper()
	f := &fixture{host: h, logs: &logBuffer{}, keys: NewMemKeyStore(testTMK), unsealed: map[txn.ID]txn.Sensitive{}}
	cfg := Config{
		Primary: primary, Backup: backup,
		TID: testTID, MID: testMID,
		ConnectTimeout:  2 * time.Second,
		ResponseTimeout: 5 * time.Second,
	}
	deps := Deps{
		Keys:        f.keys,
		BatchSource: func(context.Context) (uint32, error) { return 1, nil },
		OnHostBatch: func(_ context.Context, b uint32) error {
			f.mu.Lock()
			f.hostBatch = append(f.hostBatch, b)
			f.mu.Unlock()
			return nil
		},
		Unseal: func(_ context.Context, id txn.ID) (txn.Sensitive, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, ok := f.unsealed[id]
			if !ok {
				f.unsealErrs++
				return txn.Sensitive{}, errors.New("wiped")
			}
			return s, nil
		},
		Log: f.logs.logger(),
	}
	for _, m := range mod {
		m(&cfg, &deps)
	}
	a, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	f.acq = a
	return f
}

// ctxTimeout is a context with a real-time limit for network tests (a
// bound on a hung test, not a timing assertion).
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
