package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
)

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// step is one thing the fake serial line does: after a gap of silence,
// deliver data (and/or fail with err).
type step struct {
	gap  time.Duration
	data string
	err  error
	n    int // when non-zero, Read returns this count instead (e.g. -1)
}

// timeoutErr is a read timeout the way drivers/serialio reports it.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "serialio: read /dev/ttyS1: timed out" }
func (timeoutErr) Timeout() bool { return true }

var errScriptDone = errors.New("fake port: script done")

// fakePort plays a script against a fake clock: a gap longer than the
// read timeout is a timeout (the clock moves by the timeout), otherwise
// the clock moves by the gap and the data is returned. When the script
// is done Read fails with errScriptDone, which ends the reader.
type fakePort struct {
	clk        *clock.Fake
	steps      []step
	timeout    time.Duration
	timeouts   []time.Duration // every SetReadTimeout
	reads      int
	timeoutErr error // returned on timeout instead of (0, nil)
	closed     bool
}

func (p *fakePort) SetReadTimeout(d time.Duration) error {
	p.timeout = d
	p.timeouts = append(p.timeouts, d)
	return nil
}

func (p *fakePort) Read(b []byte) (int, error) {
	p.reads++
	if p.closed {
		return 0, errors.New("fake port: closed")
	}
	if len(p.steps) == 0 {
		return 0, errScriptDone
	}
	s := &p.steps[0]
	if s.gap > p.timeout {
		s.gap -= p.timeout
		p.clk.Advance(p.timeout)
		return 0, p.timeoutErr
	}
	p.clk.Advance(s.gap)
	s.gap = 0
	n := copy(b, s.data)
	s.data = s.data[n:]
	if s.data != "" {
		return n, nil // the rest comes with the next read
	}
	err, forced := s.err, s.n
	p.steps = p.steps[1:]
	if forced != 0 {
		return forced, err
	}
	return n, err
}

func (p *fakePort) Close() error { p.closed = true; return nil }

func newFake(t *testing.T, o Options, steps ...step) (*Serial, *fakePort, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	p := &fakePort{clk: clk, steps: steps}
	o.Clock = clk
	s, err := NewSerial(p, "/dev/ttyFAKE", o)
	if err != nil {
		t.Fatal(err)
	}
	return s, p, clk
}

// drain scans until a final error, returning the outcomes and that error.
func drain(t *testing.T, s *Serial) ([]string, error) {
	t.Helper()
	var got []string
	for range 1000 {
		c, err := s.Scan(context.Background())
		switch {
		case err == nil:
			got = append(got, c.Text())
		case errors.Is(err, ErrBadScan):
			got = append(got, "!"+sentinelOf(err))
		default:
			return got, err
		}
	}
	t.Fatal("no final error after 1000 scans")
	return nil, nil
}

func TestSerialEndsOnTerminatorNotTimeout(t *testing.T) {
	// user-issues §3 item 8: a scale read waited for the full timeout
	// instead of stopping at '\r'. One read must be enough.
	s, p, clk := newFake(t, Options{}, step{gap: 30 * time.Millisecond, data: "4006381333931\r"})
	c, err := s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Text() != "4006381333931" || c.Kind != KindEAN13 {
		t.Errorf("code %v", c)
	}
	if p.reads != 1 {
		t.Errorf("%d reads for one code, want 1", p.reads)
	}
	if want := t0.Add(30 * time.Millisecond); !c.At.Equal(want) || !clk.Now().Equal(want) {
		t.Errorf("At %v, clock %v, want %v", c.At, clk.Now(), want)
	}
}

func TestSerialIdleAndTail(t *testing.T) {
	cut := []step{
		{data: "134567"},
		{gap: 150 * time.Millisecond, data: "890123456789\r"},
		{gap: 2 * time.Second, data: "4006381333931\r"},
	}
	late := []step{
		{data: "134567"},
		{gap: 500 * time.Millisecond, data: "890123456789\r"},
	}
	tests := []struct {
		name  string
		o     Options
		steps []step
		want  []string
	}{
		{"tail within window is discarded", Options{}, cut,
			[]string{"!" + ErrIncomplete.Error(), "!" + ErrIncomplete.Error(), "4006381333931"}},
		{"tail guard disabled", Options{TailWindow: -1}, cut,
			[]string{"!" + ErrIncomplete.Error(), "890123456789", "4006381333931"}},
		{"input after the window is a new code", Options{}, late,
			[]string{"!" + ErrIncomplete.Error(), "890123456789"}},
		{"gap just under the idle timeout keeps the code", Options{}, []step{
			{data: "1345"}, {gap: 99 * time.Millisecond, data: "6789"}, {gap: 99 * time.Millisecond, data: "0123456789\r"}},
			[]string{"134567890123456789"}},
		{"gap just over the idle timeout cuts it", Options{TailWindow: -1}, []step{
			{data: "1345"}, {gap: 101 * time.Millisecond, data: "6789\r"}},
			[]string{"!" + ErrIncomplete.Error(), "6789"}},
		{"longer idle timeout", Options{IdleTimeout: time.Second}, []step{
			{data: "1345"}, {gap: 900 * time.Millisecond, data: "6789\r"}},
			[]string{"13456789"}},
		{"no terminator at all", Options{}, []step{{data: "12345"}, {gap: time.Hour}},
			[]string{"!" + ErrIncomplete.Error()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := append([]step(nil), tt.steps...)
			s, _, _ := newFake(t, tt.o, steps...)
			got, err := drain(t, s)
			if !errors.Is(err, errScriptDone) || !errors.Is(err, ErrPort) {
				t.Errorf("final error %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSerialReadTimeouts(t *testing.T) {
	// Idle: PollInterval. With a partial code: what is left of the
	// inter-character timeout.
	s, p, _ := newFake(t, Options{PollInterval: 200 * time.Millisecond},
		step{gap: 450 * time.Millisecond, data: "12"},
		step{gap: 40 * time.Millisecond, data: "3\r"})
	got, _ := drain(t, s)
	if fmt.Sprint(got) != "[123]" {
		t.Fatalf("got %q", got)
	}
	want := []time.Duration{200 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	if fmt.Sprint(p.timeouts) != fmt.Sprint(want) {
		t.Errorf("timeouts set %v, want %v", p.timeouts, want)
	}
}

func TestSerialTimeoutStyles(t *testing.T) {
	steps := func() []step {
		return []step{{data: "12"}, {gap: time.Second, data: "3\r"}, {gap: 10 * time.Second, data: "OK\r"}}
	}
	want := []string{"!" + ErrIncomplete.Error(), "!" + ErrIncomplete.Error(), "OK"}
	t.Run("(0, nil) like go.bug.st/serial", func(t *testing.T) {
		s, _, _ := newFake(t, Options{TailWindow: 2 * time.Second}, steps()...)
		got, _ := drain(t, s)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %q", got)
		}
	})
	t.Run("error with Timeout() like drivers/serialio", func(t *testing.T) {
		s, p, _ := newFake(t, Options{TailWindow: 2 * time.Second}, steps()...)
		p.timeoutErr = fmt.Errorf("wrapped: %w", timeoutErr{})
		got, err := drain(t, s)
		if fmt.Sprint(got) != fmt.Sprint(want) || !errors.Is(err, errScriptDone) {
			t.Errorf("got %q, %v", got, err)
		}
	})
	t.Run("custom IsTimeout", func(t *testing.T) {
		errT := errors.New("my timeout")
		s, p, _ := newFake(t, Options{TailWindow: 2 * time.Second, IsTimeout: func(err error) bool { return errors.Is(err, errT) }}, steps()...)
		p.timeoutErr = errT
		got, _ := drain(t, s)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %q", got)
		}
	})
	t.Run("an unrecognised timeout error is a port failure", func(t *testing.T) {
		s, p, _ := newFake(t, Options{}, steps()...)
		p.timeoutErr = errors.New("some other error")
		_, err := s.Scan(context.Background())
		if !errors.Is(err, ErrPort) || !errors.Is(err, p.timeoutErr) {
			t.Errorf("err %v", err)
		}
	})
}

func TestSerialPortFailure(t *testing.T) {
	// Bytes that come with the error are used first; the failure is
	// sticky; the partial code is not reported as a code.
	s, _, _ := newFake(t, Options{}, step{data: "GOOD\rPART", err: syscall.EIO})
	c, err := s.Scan(context.Background())
	if err != nil || c.Text() != "GOOD" {
		t.Fatalf("Scan = %v, %v", c, err)
	}
	for range 2 {
		_, err = s.Scan(context.Background())
		if !errors.Is(err, ErrPort) || !errors.Is(err, syscall.EIO) || errors.Is(err, ErrBadScan) {
			t.Errorf("err %v", err)
		}
		if !strings.Contains(err.Error(), "/dev/ttyFAKE") {
			t.Errorf("error %q does not name the device", err)
		}
	}
}

func TestSerialNegativeCount(t *testing.T) {
	// go-serial#55: an unplugged port returned -1; that must not panic or
	// slice with a negative index.
	s, _, _ := newFake(t, Options{}, step{data: "ABC\r", n: -1, err: syscall.ENXIO})
	_, err := s.Scan(context.Background())
	if !errors.Is(err, ErrPort) || !errors.Is(err, syscall.ENXIO) {
		t.Errorf("err %v", err)
	}
}

func TestSerialContext(t *testing.T) {
	s, _, _ := newFake(t, Options{}, step{gap: time.Hour, data: "X\r"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Scan(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestSerialClose(t *testing.T) {
	s, p, _ := newFake(t, Options{}, step{gap: time.Hour, data: "X\r"})
	if err := s.Close(); err != nil || !p.closed {
		t.Fatalf("Close = %v, port closed %v", err, p.closed)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Scan(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v", err)
	}
}

func TestSerialOptions(t *testing.T) {
	for _, o := range []Options{{MaxLen: -1}, {IdleTimeout: -time.Second}, {PollInterval: -1}} {
		_, err := NewSerial(&fakePort{}, "x", o)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v", o, err)
		}
	}
	_, err := NewSerial(&fakePort{}, "x", Options{MaxLen: -1})
	if !strings.Contains(err.Error(), "MaxLen") {
		t.Errorf("error %q does not name the field", err)
	}
	s, _, _ := newFake(t, Options{MaxLen: 4}, step{data: "12345\r1234\r"})
	got, _ := drain(t, s)
	if fmt.Sprint(got) != fmt.Sprint([]string{"!" + ErrTooLong.Error(), "1234"}) {
		t.Errorf("MaxLen 4: got %q", got)
	}
}

func TestSerialRun(t *testing.T) {
	var logs bytes.Buffer
	var bad []error
	s, _, _ := newFake(t, Options{
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnBadScan: func(err error) { bad = append(bad, err) },
	},
		step{data: "134567890123456789\r"},
		step{gap: time.Second, data: "6212345678901234\x01567\r"},
		step{gap: time.Second, data: "036000291452\r"},
	)
	out := make(chan Code, 10)
	err := s.Run(context.Background(), out)
	if !errors.Is(err, ErrPort) || !errors.Is(err, errScriptDone) {
		t.Errorf("Run = %v", err)
	}
	close(out)
	var got []string
	for c := range out {
		got = append(got, c.Kind.String()+"="+c.Text())
	}
	if fmt.Sprint(got) != "[wechatpay=134567890123456789 upca=036000291452]" {
		t.Errorf("codes %q", got)
	}
	if len(bad) != 1 || !errors.Is(bad[0], ErrBadByte) {
		t.Errorf("OnBadScan got %v", bad)
	}
	l := logs.String()
	if !strings.Contains(l, "bad scan") || !strings.Contains(l, "13************6789") {
		t.Errorf("logs lack the bad scan or the masked code:\n%s", l)
	}
	for _, secret := range []string{"134567890123456789", "6212345678901234"} {
		if strings.Contains(l, secret) {
			t.Errorf("logs show %s:\n%s", secret, l)
		}
	}
}

func TestSerialRunStopsOnContext(t *testing.T) {
	s, _, _ := newFake(t, Options{}, step{data: "A\rB\r"})
	out := make(chan Code) // nobody reads: Run blocks on the send
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, out) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
}
