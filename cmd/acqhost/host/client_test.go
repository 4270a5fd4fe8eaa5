package host

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/iso8583"
)

// The test terminal and cards.
const (
	testTID    = "10000001"
	testMID    = "898100012340001"
	testTMKHex = "0123456789ABCDEFFEDCBA9876543210"
	tid2       = "10000002"
	mid2       = "898100012340002"
	tmk2Hex    = "00112233445566778899AABBCCDDEEFF"

	panCUP   = "6212345678901232" // UnionPay, Luhn-valid
	panVisa  = "4761739001010010" // Visa, Luhn-valid
	panMC    = "5413330089600010" // Mastercard, Luhn-valid
	panNoLuh = "6212345678901231" // fails Luhn
)

var testTPDU = [5]byte{0x60, 0x00, 0x03, 0x00, 0x00}
var testHeader = [6]byte{0x60, 0x31, 0x00, 0x00, 0x00, 0x00}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// testConfig is a host config with two terminals and a db in dir.
func testConfig(dir string) Config {
	return Config{
		Listen: "127.0.0.1:0", DB: filepath.Join(dir, "acqhost.db"),
		MAC: iso8583.MACUnionPayECB, AcquirerID: "12345678", Location: time.UTC,
		Faults: Faults{NoAnswer98: true},
		Terminals: []Terminal{
			{TID: testTID, MID: testMID, TMK: mustHex(testTMKHex), Name: "test 1"},
			{TID: tid2, MID: mid2, TMK: mustHex(tmk2Hex), Name: "test 2"},
		},
	}
}

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testHost is a running server and its address.
type testHost struct {
	s    *Server
	addr string
	logs *lockedBuffer
	clk  *clock.Fake
}

var hostEpoch = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// startHost runs a Server on 127.0.0.1:0 until the test ends.
func startHost(t testing.TB, cfg Config) *testHost {
	t.Helper()
	h := &testHost{logs: &lockedBuffer{}, clk: clock.NewFake(hostEpoch)}
	s, err := New(cfg, Options{
		Clock:  h.clk,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	})
	return h
}

// client is a small terminal built on core/iso8583, for the tests.
type client struct {
	t      testing.TB
	conn   net.Conn
	tid    string
	mid    string
	tmk    []byte
	keys   iso8583.WorkingKeys
	mac    iso8583.MACFunc
	batch  string
	mu     sync.Mutex
	stan   int
	readMu sync.Mutex
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, tid: testTID, mid: testMID, tmk: mustHex(testTMKHex), batch: "000001"}
}

func dialTLS(t testing.TB, addr string, tc *tls.Config) (*client, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, tid: testTID, mid: testMID, tmk: mustHex(testTMKHex), batch: "000001"}, nil
}

// as makes the client speak for terminal 2 (same connection).
func (c *client) as(tid, mid, tmkHex string) *client {
	return &client{t: c.t, conn: c.conn, tid: tid, mid: mid, tmk: mustHex(tmkHex), batch: "000001"}
}

func (c *client) nextSTAN() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stan++
	return fmt.Sprintf("%06d", c.stan)
}

// send packs m (with a MAC under the session MAK when mac) and writes it.
func (c *client) send(m *iso8583.Message, mac bool) {
	c.t.Helper()
	var body []byte
	var err error
	if mac {
		body, err = iso8583.UnionPay.PackMAC(m, c.mac)
	} else {
		body, err = iso8583.UnionPay.Pack(m)
	}
	if err != nil {
		c.t.Fatalf("pack %s: %v", m.MTI, err)
	}
	c.sendBody(body)
}

func (c *client) sendBody(body []byte) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := iso8583.WriteFrame(c.conn, iso8583.Frame{TPDU: testTPDU, Header: testHeader, Body: body}); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one answer within d; errTimeout when none came.
func (c *client) recv(d time.Duration) (*iso8583.Message, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	c.conn.SetReadDeadline(time.Now().Add(d))
	f, err := iso8583.ReadFrame(c.conn, 0)
	if err != nil {
		return nil, err
	}
	if f.TPDU != iso8583.SwapTPDU(testTPDU) {
		return nil, fmt.Errorf("answer TPDU %X, want %X (swapped)", f.TPDU, iso8583.SwapTPDU(testTPDU))
	}
	if f.Header != testHeader {
		return nil, fmt.Errorf("answer header %X, want %X", f.Header, testHeader)
	}
	m, err := iso8583.UnionPay.Unpack(f.Body)
	if err != nil {
		return nil, err
	}
	if m.Has(64) {
		if c.mac == nil {
			return nil, errors.New("answer has a MAC but the client has no MAK")
		}
		if _, err := iso8583.UnionPay.UnpackVerify(f.Body, c.mac); err != nil {
			return nil, fmt.Errorf("answer %s: %w", m.MTI, err)
		}
	}
	return m, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// call sends m and returns the answer (fatal when none comes in 5 s).
func (c *client) call(m *iso8583.Message, mac bool) *iso8583.Message {
	c.t.Helper()
	c.send(m, mac)
	a, err := c.recv(5 * time.Second)
	if err != nil {
		c.t.Fatalf("%s STAN %s: no answer: %v", m.MTI, get(m, 11), err)
	}
	if want := m.MTI[:2] + string(m.MTI[2]+1) + "0"; a.MTI != want {
		c.t.Fatalf("answer MTI %s, want %s", a.MTI, want)
	}
	if get(a, 11) != get(m, 11) || get(a, 41) != get(m, 41) {
		c.t.Fatalf("answer 11/41 %s/%s, want %s/%s", get(a, 11), get(a, 41), get(m, 11), get(m, 41))
	}
	return a
}

func get(m *iso8583.Message, n int) string {
	v, _ := m.Get(n)
	return v
}

// signIn performs 0800/0810 and adopts keys and batch.
func (c *client) signIn() *iso8583.Message {
	c.t.Helper()
	m := iso8583.NewMessage("0800")
	m.Set(11, c.nextSTAN())
	m.Set(41, c.tid)
	m.Set(42, c.mid)
	m.Set(60, "00"+c.batch+"004")
	m.Set(63, "001")
	a := c.call(m, false)
	if rc := get(a, 39); rc != "00" {
		c.t.Fatalf("sign-in: F39 %s", rc)
	}
	f62, _ := a.GetBytes(62)
	wk, err := iso8583.ParseSignInKeys(f62, c.tmk)
	if err != nil {
		c.t.Fatalf("sign-in keys: %v", err)
	}
	c.keys = wk
	// The dialect: MAK = first 8 bytes of the 16 delivered.
	if c.mac, err = iso8583.NewMAC(iso8583.MACUnionPayECB, wk.MAK[:8]); err != nil {
		c.t.Fatal(err)
	}
	f60, err := iso8583.ParseField60(get(a, 60))
	if err != nil {
		c.t.Fatal(err)
	}
	c.batch = f60.Batch
	return a
}

// track2 is a track 2 equivalent for pan.
func track2(pan string) string { return pan + "=29122010000000000" }

// iccFor is a small field 55 with an AID.
func iccFor(aid string) []byte {
	a := mustHex(aid)
	b := []byte{0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0x02, 0x7C, 0x00, 0x84, byte(len(a))}
	return append(b, a...)
}

func aidFor(pan string) string {
	switch pan[0] {
	case '4':
		return "A0000000031010"
	case '5':
		return "A0000000041010"
	}
	return "A000000333010101"
}

// sale builds a contactless card sale 0200 (docs/dialect.md).
func (c *client) sale(amount int64, pan string) *iso8583.Message {
	m := iso8583.NewMessage("0200")
	m.Set(2, pan)
	m.Set(3, "000000")
	m.Set(4, fmt.Sprintf("%012d", amount))
	m.Set(11, c.nextSTAN())
	m.Set(14, "2912")
	m.Set(22, "072")
	m.Set(23, "001")
	m.Set(25, "00")
	m.Set(35, track2(pan))
	m.Set(41, c.tid)
	m.Set(42, c.mid)
	m.Set(49, "156")
	m.SetBytes(55, iccFor(aidFor(pan)))
	m.Set(60, "22"+c.batch+"000"+"6"+"0")
	return m
}

// qrSale builds a QR sale 0200.
func (c *client) qrSale(amount int64, code string) *iso8583.Message {
	m := iso8583.NewMessage("0200")
	m.Set(3, "000000")
	m.Set(4, fmt.Sprintf("%012d", amount))
	m.Set(11, c.nextSTAN())
	m.Set(22, "032")
	m.Set(25, "00")
	m.Set(41, c.tid)
	m.Set(42, c.mid)
	m.Set(49, "156")
	m.Set(60, "22"+c.batch+"000"+"0"+"0")
	m.SetBytes(62, []byte(fmt.Sprintf("92QR%03d%s", len(code), code)))
	return m
}

// void builds the void of sale (answered ans).
func (c *client) void(sale, ans *iso8583.Message) *iso8583.Message {
	m := sale.Clone()
	m.Unset(64)
	m.Set(3, "200000")
	m.Set(11, c.nextSTAN())
	m.Set(37, get(ans, 37))
	if v, ok := ans.Get(38); ok {
		m.Set(38, v)
	}
	f60, _ := iso8583.ParseField60(get(sale, 60))
	m.Set(60, "23"+c.batch+"000"+f60.ReadCap+f60.ICCCond)
	m.Set(61, f60.Batch+get(sale, 11))
	return m
}

// refund builds a refund 0220 of amount against sale.
func (c *client) refund(sale, ans *iso8583.Message, amount int64) *iso8583.Message {
	m := c.void(sale, ans)
	m.MTI = "0220"
	m.Set(4, fmt.Sprintf("%012d", amount))
	f60, _ := iso8583.ParseField60(get(sale, 60))
	m.Set(60, "25"+c.batch+"000"+f60.ReadCap+f60.ICCCond)
	m.Set(61, f60.Batch+get(sale, 11)+"0314")
	return m
}

// reversal builds the 0400 of req (same STAN, same 60), reason 98.
func reversal(req *iso8583.Message) *iso8583.Message {
	m := iso8583.NewMessage("0400")
	copyFields(m, req, 2, 3, 4, 11, 14, 22, 23, 25, 35, 38, 41, 42, 49, 55, 60)
	m.Set(39, "98")
	return m
}

// offline builds an offline sale advice 0220.
func (c *client) offline(amount int64, pan string) *iso8583.Message {
	m := c.sale(amount, pan)
	m.MTI = "0220"
	m.Set(12, "101112")
	m.Set(13, "0313")
	m.Set(60, "30"+c.batch+"000"+"6"+"0")
	return m
}

func totals48(d, f Totals) string {
	half := func(t Totals) string {
		return fmt.Sprintf("%012d%03d%012d%03d0", t.DebitAmount, t.DebitCount, t.CreditAmount, t.CreditCount)
	}
	return half(d) + half(f)
}

// settle builds a 0500 with the given totals.
func (c *client) settle(d, f Totals) *iso8583.Message {
	m := iso8583.NewMessage("0500")
	m.Set(11, c.nextSTAN())
	m.Set(41, c.tid)
	m.Set(42, c.mid)
	m.Set(48, totals48(d, f))
	m.Set(49, "156")
	m.Set(60, "00"+c.batch+"201")
	m.Set(63, "001")
	return m
}

// upload builds a batch upload 0320 with n records.
func (c *client) upload(n int) *iso8583.Message {
	m := iso8583.NewMessage("0320")
	m.Set(11, c.nextSTAN())
	m.Set(41, c.tid)
	m.Set(42, c.mid)
	rec := ""
	for i := 0; i < n; i++ {
		rec += fmt.Sprintf("00%06d%020d%012d", i+1, 0, 100)
	}
	m.Set(48, fmt.Sprintf("%02d", n)+rec)
	m.Set(60, "00"+c.batch+"203")
	return m
}

// batchEnd builds a batch end 0320 announcing total records.
func (c *client) batchEnd(total int, code string) *iso8583.Message {
	m := iso8583.NewMessage("0320")
	m.Set(11, c.nextSTAN())
	m.Set(41, c.tid)
	m.Set(42, c.mid)
	m.Set(48, fmt.Sprintf("%04d", total))
	m.Set(60, "00"+c.batch+code)
	return m
}

func (c *client) echo() *iso8583.Message {
	m := iso8583.NewMessage("0820")
	m.Set(11, c.nextSTAN())
	m.Set(41, c.tid)
	m.Set(42, c.mid)
	m.Set(60, "00"+c.batch+"301")
	return m
}

// expectSilence fails if an answer arrives within d.
func (c *client) expectSilence(d time.Duration) {
	c.t.Helper()
	a, err := c.recv(d)
	if err == nil {
		c.t.Fatalf("unexpected answer %s STAN %s F39 %s", a.MTI, get(a, 11), get(a, 39))
	}
	if !isTimeout(err) {
		c.t.Fatalf("waiting for silence: %v", err)
	}
}

// expectClosed fails unless the host closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	_, err := c.recv(5 * time.Second)
	if !errors.Is(err, io.EOF) {
		c.t.Fatalf("want the connection closed (EOF), got %v", err)
	}
}

// txnOf finds the recorded transaction TID + STAN + class.
func txnOf(t testing.TB, s *Server, tid, stan string, class Class) Txn {
	t.Helper()
	ts, err := s.Transactions(tid)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if x.STAN == stan && x.Class == class {
			return x
		}
	}
	t.Fatalf("no %s transaction %s/%s recorded; have %d", class, tid, stan, len(ts))
	return Txn{}
}

// answer is one frame read by a reader goroutine.
type answer struct {
	m    *iso8583.Message
	body []byte
	err  error
}

// reader reads answers in the background until the connection ends; the
// channel is closed then. MACs are not checked here (see verifyWith).
func (c *client) reader() <-chan answer {
	ch := make(chan answer, 1024)
	go func() {
		defer close(ch)
		for {
			f, err := iso8583.ReadFrame(c.conn, 0)
			if err != nil {
				ch <- answer{err: err}
				return
			}
			m, err := iso8583.UnionPay.Unpack(f.Body)
			ch <- answer{m: m, body: f.Body, err: err}
		}
	}()
	return ch
}

// verifyWith checks the MAC of a with mac.
func verifyWith(t testing.TB, a answer, mac iso8583.MACFunc) {
	t.Helper()
	if _, err := iso8583.UnionPay.UnpackVerify(a.body, mac); err != nil {
		t.Fatalf("answer %s STAN %s: %v", a.m.MTI, get(a.m, 11), err)
	}
}

func testSpecPackMAC(c *client, m *iso8583.Message) ([]byte, error) {
	return iso8583.UnionPay.PackMAC(m, c.mac)
}
