package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/cmd/acqhost/host"
	"github.com/posagent/posagent/core/iso8583"
)

const (
	tid    = "10000001"
	mid    = "898100012340001"
	tmkHex = "0123456789ABCDEFFEDCBA9876543210"
	pan    = "6212345678901232"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "acqhost.toml")
	cfg := fmt.Sprintf(`listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
db = "host.db"
[[terminals]]
tid = %q
mid = %q
tmk = %q
name = "cli test"
`, tid, mid, tmkHex)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// terminal is the smallest client that signs in and sells.
type terminal struct {
	t    *testing.T
	conn net.Conn
	mac  iso8583.MACFunc
	stan int
}

func (c *terminal) call(m *iso8583.Message) *iso8583.Message {
	c.t.Helper()
	var body []byte
	var err error
	if c.mac != nil {
		body, err = iso8583.UnionPay.PackMAC(m, c.mac)
	} else {
		body, err = iso8583.UnionPay.Pack(m)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	tpdu := [5]byte{0x60, 0, 3, 0, 0}
	if err := iso8583.WriteFrame(c.conn, iso8583.Frame{TPDU: tpdu, Body: body}); err != nil {
		c.t.Fatal(err)
	}
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := iso8583.ReadFrame(c.conn, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	a, err := iso8583.UnionPay.Unpack(f.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

func (c *terminal) msg(mti, f60 string) *iso8583.Message {
	c.stan++
	m := iso8583.NewMessage(mti)
	m.Set(11, fmt.Sprintf("%06d", c.stan))
	m.Set(41, tid)
	m.Set(42, mid)
	m.Set(60, f60)
	return m
}

func (c *terminal) signIn() {
	a := c.call(c.msg("0800", "00000001004"))
	f62, _ := a.GetBytes(62)
	k, _ := hex.DecodeString(tmkHex)
	wk, err := iso8583.ParseSignInKeys(f62, k)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mac, _ = iso8583.NewMAC(iso8583.MACUnionPayECB, wk.MAK[:8])
}

func (c *terminal) sale(amount int64) *iso8583.Message {
	m := c.msg("0200", "22000001000")
	m.Set(2, pan)
	m.Set(3, "000000")
	m.Set(4, fmt.Sprintf("%012d", amount))
	m.Set(49, "156")
	return c.call(m)
}

var reAddr = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
var reAdmin = regexp.MustCompile(`admin on (http://127\.0\.0\.1:\d+)`)

func TestServeLsExportBatches(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir)
	db := filepath.Join(dir, "host.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath, "--drop-every", "0"}, &out, &errOut) }()
	var addr, admin string
	for i := 0; i < 500 && admin == ""; i++ {
		time.Sleep(10 * time.Millisecond)
		if m := reAddr.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		if m := reAdmin.FindStringSubmatch(out.String()); m != nil {
			admin = m[1]
		}
	}
	if admin == "" || addr == "" {
		t.Fatalf("serve did not start: %s %s", out.String(), errOut.String())
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &terminal{t: t, conn: conn}
	c.signIn()
	if a := c.sale(1234); mustGet(a, 39) != "00" {
		t.Fatalf("sale F39 %s", mustGet(a, 39))
	}
	if a := c.sale(2051); mustGet(a, 39) != "51" {
		t.Fatalf("sale F39 %s", mustGet(a, 39))
	}

	// While serve runs, the file is locked: views go through --admin.
	var o1, e1 bytes.Buffer
	err = run(ctx, []string{"ls", "--db", db}, &o1, &e1)
	if !errors.Is(err, host.ErrLocked) || !strings.Contains(err.Error(), "--admin") {
		t.Errorf("ls --db while serving: %v", err)
	}
	viaAdmin := map[string]string{}
	for _, args := range [][]string{{"ls"}, {"export", "--csv"}, {"export", "--json"}, {"batches"}, {"batches", "--json"}} {
		var o, e bytes.Buffer
		if err := run(ctx, append(args, "--admin", admin, "--db", db), &o, &e); err != nil {
			t.Fatalf("%v via admin: %v %s", args, err, e.String())
		}
		viaAdmin[strings.Join(args, " ")] = o.String()
	}
	ls := viaAdmin["ls"]
	for _, want := range []string{"621234******1232", "12.34", "20.51", "approved", "declined", "2 messages", "STAN"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls lacks %q:\n%s", want, ls)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(viaAdmin["export --csv"])).ReadAll()
	if err != nil || len(rows) != 3 || len(rows[0]) != len(csvHeader) || rows[1][11] != "621234******1232" || rows[2][14] != "51" {
		t.Errorf("csv %v %v", rows, err)
	}
	var ts []host.Txn
	if err := json.Unmarshal([]byte(viaAdmin["export --json"]), &ts); err != nil || len(ts) != 2 {
		t.Errorf("json export %v", err)
	}
	if !strings.Contains(viaAdmin["batches"], "000001") || !strings.Contains(viaAdmin["batches"], "12.34 × 1") {
		t.Errorf("batches:\n%s", viaAdmin["batches"])
	}
	for k, v := range viaAdmin {
		if strings.Contains(v, pan) {
			t.Errorf("%s shows the full PAN", k)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	// Stopped: the file itself gives the same views.
	for _, args := range [][]string{{"ls"}, {"export", "--csv"}, {"batches"}} {
		var o, e bytes.Buffer
		if err := run(context.Background(), append(args, "--db", db), &o, &e); err != nil {
			t.Fatalf("%v from file: %v", args, err)
		}
		if o.String() != viaAdmin[strings.Join(args, " ")] {
			t.Errorf("%v from the file differs from the admin view:\n%s\n---\n%s", args, o.String(), viaAdmin[strings.Join(args, " ")])
		}
	}
	if strings.Contains(errOut.String(), pan) {
		t.Error("the server log shows the full PAN")
	}
}

func mustGet(m *iso8583.Message, n int) string {
	v, _ := m.Get(n)
	return v
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	cases := [][]string{
		nil, {"frobnicate"}, {"ls"}, {"export", "--db", "x"}, {"export", "--db", "x", "--csv", "--json"},
		{"serve"}, {"serve", "--config", cfg, "--log-level", "loud"}, {"ls", "--db", "x", "extra"},
		{"config"}, {"batches", "--bogus"},
	}
	for _, args := range cases {
		var o, e bytes.Buffer
		err := run(context.Background(), args, &o, &e)
		if exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	for _, args := range [][]string{
		{"--drop-every", "-1"}, {"--admin", "0.0.0.0:9999"}, {"--latency", "-5s"},
	} {
		var o, e bytes.Buffer
		err := run(context.Background(), append([]string{"serve", "--config", cfg}, args...), &o, &e)
		if !errors.Is(err, host.ErrConfig) {
			t.Errorf("%v: %v, want ErrConfig", args, err)
		}
	}
	var o, e bytes.Buffer
	if err := run(context.Background(), []string{"ls", "--db", filepath.Join(dir, "none.db")}, &o, &e); !errors.Is(err, host.ErrStore) {
		t.Errorf("ls of a missing file: %v", err)
	}
}

func TestConfigSampleAndCheck(t *testing.T) {
	dir := t.TempDir()
	var o, e bytes.Buffer
	if err := run(context.Background(), []string{"config", "sample"}, &o, &e); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "sample.toml")
	os.WriteFile(p, o.Bytes(), 0o600)
	o.Reset()
	if err := run(context.Background(), []string{"config", "check", p}, &o, &e); err != nil || !strings.Contains(o.String(), "ok (1 terminals") {
		t.Errorf("config check: %v %s", err, o.String())
	}
	os.WriteFile(p, []byte("mac = \"md5\"\n"), 0o600)
	if err := run(context.Background(), []string{"config", "check", p}, &o, &e); !errors.Is(err, host.ErrConfig) {
		t.Errorf("bad config: %v", err)
	}
}
