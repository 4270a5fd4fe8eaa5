package scanner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name       string
		code       string
		term       Terminator
		f          Fault
		head, tail string
	}{
		{"CR", "4006381333931", CR, Fault{}, "4006381333931\r", ""},
		{"LF", "4006381333931", LF, Fault{}, "4006381333931\n", ""},
		{"CRLF", "4006381333931", CRLF, Fault{}, "4006381333931\r\n", ""},
		{"no terminator", "123", CRLF, Fault{NoTerminator: true}, "123", ""},
		{"garbage in front", "123", CR, Fault{Garbage: []byte{0xFF, 0x00}}, "\xff\x00123\r", ""},
		{"garbage inside", "123", CR, Fault{Garbage: []byte{0x07}, GarbageAt: 1}, "1\x0723\r", ""},
		{"garbage offset clamped", "123", LF, Fault{Garbage: []byte("!"), GarbageAt: 99}, "123!\n", ""},
		{"overlong", "12", CR, Fault{OverlongTo: 6}, "120000\r", ""},
		{"overlong shorter than code", "12345", CR, Fault{OverlongTo: 3}, "12345\r", ""},
		{"pause mid-code", "134567890123456789", CR, Fault{PauseAfter: 6, Pause: time.Second}, "134567", "890123456789\r"},
		{"pause before the terminator", "12", CRLF, Fault{PauseAfter: 2, Pause: time.Second}, "12", "\r\n"},
		{"pause outside the code", "12", CR, Fault{PauseAfter: 9, Pause: time.Second}, "12\r", ""},
		{"pause without duration", "12", CR, Fault{PauseAfter: 1}, "12\r", ""},
		{"everything", "12", CR, Fault{OverlongTo: 4, Garbage: []byte{1}, GarbageAt: 2, PauseAfter: 3, Pause: time.Second}, "12\x01", "00\r"},
	}
	for _, tt := range tests {
		it := build(tt.code, tt.term, tt.f)
		if string(it.head) != tt.head || string(it.tail) != tt.tail {
			t.Errorf("%s: head %q tail %q, want %q %q", tt.name, it.head, it.tail, tt.head, tt.tail)
		}
		if (tt.tail != "") != (it.pause > 0) {
			t.Errorf("%s: pause %v", tt.name, it.pause)
		}
	}
}

func TestParseTerminator(t *testing.T) {
	for _, tt := range []Terminator{CR, LF, CRLF} {
		got, err := ParseTerminator(tt.String())
		if err != nil || got != tt {
			t.Errorf("ParseTerminator(%q) = %v, %v", tt.String(), got, err)
		}
	}
	if got, err := ParseTerminator("crlf"); err != nil || got != CRLF {
		t.Errorf("lower case: %v, %v", got, err)
	}
	if _, err := ParseTerminator("ETX"); err == nil {
		t.Error("ETX accepted")
	}
}

// syncBuf is a writer the test can read while Serve writes.
type syncBuf struct {
	mu  sync.Mutex
	b   bytes.Buffer
	err error
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	return s.b.Write(p)
}

func (s *syncBuf) Read(p []byte) (int, error) { return 0, io.EOF }

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServeOrderTerminatorsAndFaults(t *testing.T) {
	s := New(nil)
	s.Inject("A")
	s.SetTerminator(CRLF)
	s.Inject("B")
	s.SetFault(Fault{NoTerminator: true})
	s.Inject("C")
	s.SetFault(Fault{})
	s.SetTerminator(LF)
	s.Inject("D")
	if s.Pending() != 4 {
		t.Fatalf("Pending %d", s.Pending())
	}
	var out syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, &out) }()
	waitFor(t, "4 codes", func() bool { return s.Sent() == 4 })
	if got := out.String(); got != "A\rB\r\nCD\n" {
		t.Errorf("wrote %q", got)
	}
	// A code injected while serving goes out too.
	s.Inject("E")
	waitFor(t, "5 codes", func() bool { return s.Sent() == 5 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve = %v", err)
	}
	if got := out.String(); got != "A\rB\r\nCD\nE\n" {
		t.Errorf("wrote %q", got)
	}
}

// afterClock tells the test when a timer was started, so the test
// advances the fake clock only once the emulator waits on it.
type afterClock struct {
	*clock.Fake
	started chan time.Duration
}

func (c afterClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	c.started <- d
	return ch
}

func TestServePause(t *testing.T) {
	clk := afterClock{clock.NewFake(time.Unix(0, 0)), make(chan time.Duration, 1)}
	s := New(clk)
	s.SetFault(Fault{PauseAfter: 3, Pause: 500 * time.Millisecond})
	s.Inject("123456")
	var out syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, &out)
	if d := <-clk.started; d != 500*time.Millisecond {
		t.Fatalf("paused for %v", d)
	}
	if got := out.String(); got != "123" {
		t.Fatalf("head %q", got)
	}
	clk.Advance(499 * time.Millisecond)
	time.Sleep(20 * time.Millisecond) // give Serve a chance to misbehave
	if got := out.String(); got != "123" || s.Sent() != 0 {
		t.Fatalf("before the pause ended: %q, sent %d", got, s.Sent())
	}
	clk.Advance(time.Millisecond)
	waitFor(t, "the tail", func() bool { return s.Sent() == 1 })
	if got := out.String(); got != "123456\r" {
		t.Errorf("wrote %q", got)
	}
}

func TestServeQueueSurvivesReplug(t *testing.T) {
	s := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out syncBuf
	s.Inject("X") // queued while "unplugged"
	if err := s.Serve(ctx, &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve = %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go s.Serve(ctx2, &out)
	waitFor(t, "X", func() bool { return s.Sent() == 1 })
	if out.String() != "X\r" {
		t.Errorf("wrote %q", out.String())
	}
}

func TestServeWriteError(t *testing.T) {
	s := New(nil)
	out := &syncBuf{err: io.ErrClosedPipe}
	s.Inject("A")
	err := s.Serve(context.Background(), out)
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Serve = %v", err)
	}
}

func TestSetFaultCopiesGarbage(t *testing.T) {
	s := New(nil)
	g := []byte{1, 2}
	s.SetFault(Fault{Garbage: g})
	g[0] = 'x'
	s.Inject("A")
	if got := string(s.queue[0].head); got != "\x01\x02A\r" {
		t.Errorf("queued %q", got)
	}
}
