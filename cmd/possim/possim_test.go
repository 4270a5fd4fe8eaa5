package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.bug.st/serial"
)

// TestControlAPI runs the simulator with every device and drives it the way
// the possim CLI does, over its unix control socket.
func TestControlAPI(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Options{Dir: dir, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.PlugAll(ctx); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "possim.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	c := client(dir)
	var out bytes.Buffer

	if err := c.show(ctx, http.MethodGet, "/devices", nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{DevReader, DevPrinter, DevScanner, DevModem} {
		if !strings.Contains(out.String(), `"name": "`+n+`"`) {
			t.Errorf("device %s missing from %s", n, out.String())
		}
	}
	out.Reset()
	if err := c.show(ctx, http.MethodPost, "/reader/tap", map[string]string{"card": "visa"}, &out); err != nil || !strings.Contains(out.String(), "Visa") {
		t.Fatalf("tap: %v %s", err, out.String())
	}
	if err := c.show(ctx, http.MethodPost, "/reader/tap", map[string]string{"card": "nope"}, &out); err == nil {
		t.Fatal("tapping an unknown card succeeded")
	}
	// Two cards, then one of them leaves.
	if err := c.show(ctx, http.MethodPost, "/reader/two", map[string]string{"a": "unionpay", "b": "visa"}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := c.show(ctx, http.MethodPost, "/reader/remove", map[string]string{"card": "unionpay"}, &out); err != nil || s.Reader.Present() != "visa-qvsdc" {
		t.Fatalf("remove one of two: %v %s (present %q)", err, out.String(), s.Reader.Present())
	}
	if err := c.show(ctx, http.MethodPost, "/reader/remove", map[string]string{"card": "unionpay"}, &out); err == nil {
		t.Fatal("removing a card that is not in the field succeeded")
	}
	if err := c.show(ctx, http.MethodPost, "/reader/remove", nil, &out); err != nil || s.Reader.Present() != "" {
		t.Fatalf("remove all: %v (present %q)", err, s.Reader.Present())
	}
	if err := c.show(ctx, http.MethodPost, "/printer/state", map[string]bool{"PaperOut": true}, &out); err != nil || !s.Printer.State().PaperOut {
		t.Fatalf("paper out: %v", err)
	}

	// A scan injected through the API comes out of the scanner's port.
	p, err := serial.Open(filepath.Join(dir, DevScanner), &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_ = p.SetReadTimeout(100 * time.Millisecond)
	if err := c.show(ctx, http.MethodPost, "/scanner/scan", map[string]string{"code": "6901234567892"}, &out); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 64)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !bytes.Contains(got, []byte("\r")); {
		n, _ := p.Read(buf)
		got = append(got, buf[:n]...)
	}
	if !bytes.HasPrefix(got, []byte("6901234567892")) {
		t.Fatalf("scanner port gave %q", got)
	}

	// Unplug and replug: the link disappears and comes back elsewhere.
	before, _ := s.Device(DevModem)
	if err := c.show(ctx, http.MethodPost, "/devices/modem/unplug", nil, &out); err != nil || before.Plugged() {
		t.Fatalf("unplug: %v", err)
	}
	if err := c.show(ctx, http.MethodPost, "/devices/modem/replug", nil, &out); err != nil || !before.Plugged() {
		t.Fatalf("replug: %v", err)
	}
	if before.Path() == "" {
		t.Fatal("no path after replug")
	}
	if err := c.show(ctx, http.MethodPost, "/modem/state", map[string]any{"csq": 40}, &out); err == nil {
		t.Fatal("csq 40 accepted")
	}
	if err := c.show(ctx, http.MethodPost, "/modem/state", map[string]any{"registered": false}, &out); err != nil || s.Modem.State().Reg != 0 {
		t.Fatalf("detach: %v", err)
	}
}

// TestModemDetachCutsTheLink: with --link, detaching the emulated modem
// cuts the data path to the acquirer and attaching restores it.
func TestModemDetachCutsTheLink(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c) }()
		}
	}()
	dir := t.TempDir()
	s, err := New(Options{Dir: dir, Unpaced: true, LinkListen: "127.0.0.1:0", LinkUpstream: up.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.link.addr
	echo := func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		b := make([]byte, 4)
		_, err = io.ReadFull(c, b)
		return err
	}
	if err := echo(); err != nil {
		t.Fatalf("link up: %v", err)
	}
	h := s.Handler()
	post := func(body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/modem/state", strings.NewReader(body)))
		if rec.Code != http.StatusOK {
			t.Fatalf("modem state: %d %s", rec.Code, rec.Body)
		}
	}
	post(`{"registered":false}`)
	// No radio: the connect itself is refused (never accepted and then
	// dropped, which would look like a request that may have left).
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("a connection was accepted with the modem detached")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect with the modem detached: %v, want connection refused", err)
	}
	post(`{"registered":true}`)
	if err := echo(); err != nil {
		t.Fatalf("after attach: %v", err)
	}
}
