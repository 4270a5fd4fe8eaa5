package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const usage = `possim — device emulators for posagent on pseudo-terminals

usage:
  possim run [--dir DIR] [--unpaced] [--link LISTEN=UPSTREAM]
                                       create the devices (DIR/pn532, printer, scanner, modem)
                                       and serve the control API on DIR/possim.sock; --link
                                       adds the 4G data path to the acquirer, cut while the
                                       modem is detached
  possim devices                       list devices and their current pseudo-terminals
  possim tap [CARD]                    tap a virtual card (unionpay, visa, mastercard, ...)
  possim remove [CARD]                 take the card away (CARD: one of two)
  possim two [CARD CARD]               put two cards in the field
  possim paper out|in                  paper end sensor
  possim cover open|closed             printer cover
  possim receipts                      what the printer printed (text; PNGs in DIR/receipts)
  possim scan CODE                     the scanner reads CODE
  possim modem detach|attach|signal N  registration and signal (CSQ)
  possim unplug NAME | replug NAME     a device node disappears / comes back

Client commands take --dir DIR (default $POSSIM_DIR or ./run/possim).
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", envOr("POSSIM_DIR", "run/possim"), "device directory")
	unpaced := fs.Bool("unpaced", false, "no baud-rate pacing")
	linkFlag := fs.String("link", "", "LISTEN=UPSTREAM: the simulated 4G data path to the acquirer, cut while the modem is detached")
	// Flags may come before or after the positional arguments.
	var pos []string
	for {
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "run":
		return serve(ctx, *dir, *unpaced, *linkFlag, stdout, stderr)
	}
	c := client(*dir)
	arg := func(i int, def string) string {
		if i < len(pos) {
			return pos[i]
		}
		return def
	}
	switch cmd {
	case "devices":
		return c.show(ctx, http.MethodGet, "/devices", nil, stdout)
	case "tap":
		return c.show(ctx, http.MethodPost, "/reader/tap", map[string]string{"card": arg(0, "unionpay")}, stdout)
	case "remove":
		if len(pos) > 0 {
			return c.show(ctx, http.MethodPost, "/reader/remove", map[string]string{"card": pos[0]}, stdout)
		}
		return c.show(ctx, http.MethodPost, "/reader/remove", nil, stdout)
	case "two":
		return c.show(ctx, http.MethodPost, "/reader/two", map[string]string{"a": arg(0, "unionpay"), "b": arg(1, "visa")}, stdout)
	case "paper":
		return c.show(ctx, http.MethodPost, "/printer/state", map[string]bool{"PaperOut": arg(0, "out") == "out"}, stdout)
	case "cover":
		return c.show(ctx, http.MethodPost, "/printer/state", map[string]bool{"CoverOpen": arg(0, "open") == "open"}, stdout)
	case "receipts":
		return c.receipts(ctx, stdout)
	case "scan":
		if len(pos) != 1 {
			return errors.New("scan: want one code")
		}
		return c.show(ctx, http.MethodPost, "/scanner/scan", map[string]string{"code": pos[0]}, stdout)
	case "modem":
		body := map[string]any{}
		switch arg(0, "") {
		case "detach":
			body["registered"] = false
		case "attach":
			body["registered"] = true
		case "signal":
			var n int
			if _, err := fmt.Sscan(arg(1, ""), &n); err != nil {
				return errors.New("modem signal: want a CSQ value 0-31 or 99")
			}
			body["csq"] = n
		default:
			return errors.New("modem: want detach, attach or signal N")
		}
		return c.show(ctx, http.MethodPost, "/modem/state", body, stdout)
	case "unplug", "replug":
		if len(pos) != 1 {
			return fmt.Errorf("%s: want a device name", cmd)
		}
		return c.show(ctx, http.MethodPost, "/devices/"+pos[0]+"/"+cmd, nil, stdout)
	}
	return fmt.Errorf("unknown command %q (possim help)", cmd)
}

func serve(ctx context.Context, dir string, unpaced bool, link string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	opts := Options{Dir: dir, Unpaced: unpaced, Logger: log}
	if link != "" {
		l, u, ok := strings.Cut(link, "=")
		if !ok {
			return fmt.Errorf("--link: want LISTEN=UPSTREAM, got %q", link)
		}
		opts.LinkListen, opts.LinkUpstream = l, u
	}
	s, err := New(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.PlugAll(ctx); err != nil {
		return err
	}
	sock := filepath.Join(dir, "possim.sock")
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	for _, n := range s.Names() {
		d, _ := s.Device(n)
		fmt.Fprintf(stdout, "possim %-8s %s -> %s\n", n, d.Link(), d.Path())
	}
	fmt.Fprintf(stdout, "possim control %s\n", sock)
	<-ctx.Done()
	return nil
}

type ctl struct {
	hc   *http.Client
	sock string
}

func client(dir string) *ctl {
	sock := filepath.Join(dir, "possim.sock")
	return &ctl{sock: sock, hc: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}}
}

func (c *ctl) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://possim"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("possim not running at %s: %w", c.sock, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("possim: %s", strings.TrimSpace(string(out)))
	}
	return out, nil
}

func (c *ctl) show(ctx context.Context, method, path string, body any, w io.Writer) error {
	out, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

func (c *ctl) receipts(ctx context.Context, w io.Writer) error {
	out, err := c.do(ctx, http.MethodGet, "/printer/receipts", nil)
	if err != nil {
		return err
	}
	var rs []struct {
		Seq      int      `json:"seq"`
		Text     string   `json:"text"`
		Problems []string `json:"problems"`
		Bytes    int      `json:"bytes"`
		PNG      string   `json:"png"`
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintf(w, "── receipt %d (%d bytes) %s\n%s", r.Seq, r.Bytes, r.PNG, r.Text)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "   problem: %s\n", p)
		}
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
