package pn532

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// reply scripts what the fake PN532 does with one command frame.
type reply struct {
	pre    []byte // raw bytes sent before anything else (noise, stale frames)
	noACK  bool   // swallow the command: no ACK, no response
	nack   bool   // answer NACK instead of ACK (not in the manual; clones)
	resp   []byte // raw bytes after the ACK: usually a response frame
	resend []byte // what a host NACK gets; nil means resp again
}

// fakePN532 is a scripted PN532 at the byte level: it decodes the host's
// frames with DecodeHostFrame, answers each command through handle, resends
// the last response on a NACK and drops pending output on an abort ACK.
// An empty Read advances the fake clock by the read timeout and returns
// (0, nil), go.bug.st/serial's timeout, so tests run without sleeping. In
// blocking mode an empty Read waits for the read timeout in real time
// instead (and for Close), with the clock left alone.
type fakePN532 struct {
	t      testing.TB
	clk    *clock.Fake
	handle func(cmd byte, params []byte) reply

	mu       sync.Mutex
	in, out  []byte
	last     []byte
	timeout  time.Duration
	chunk    int  // bytes per Read, 0 = all available
	blocking bool // real-time empty reads
	closed   bool
	closeCh  chan struct{}

	// observations
	cmds       []byte   // command codes received, resends included
	params     [][]byte // their parameters
	aborts     int      // ACK frames from the host
	nacks      int      // NACK frames from the host
	hostBad    int      // undecodable host frames
	written    []byte   // everything the host wrote
	emptyReads int
	onEmpty    func(n int) // called after each empty read (unlocked)

	readErr  error // returned by the next Read
	readN    int   // byte count returned with readErr
	writeErr error
}

func newFake(t testing.TB, handle func(cmd byte, params []byte) reply) *fakePN532 {
	return &fakePN532{
		t:       t,
		clk:     clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		handle:  handle,
		closeCh: make(chan struct{}),
	}
}

func (f *fakePN532) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errors.New("fake: closed")
	}
	if f.writeErr != nil {
		return 0, f.writeErr
	}
	f.written = append(f.written, p...)
	f.in = append(f.in, p...)
	for {
		fr, n, err := DecodeHostFrame(f.in)
		f.in = f.in[n:]
		if errors.Is(err, ErrNeedMore) {
			return len(p), nil
		}
		if err != nil {
			f.hostBad++
			continue
		}
		switch fr.Kind {
		case KindACK:
			f.aborts++
			f.out = nil
		case KindNACK:
			f.nacks++
			f.out = append(f.out, f.last...)
		case KindInfo:
			cmd := fr.Data[0]
			params := append([]byte(nil), fr.Data[1:]...)
			f.cmds = append(f.cmds, cmd)
			f.params = append(f.params, params)
			r := f.handle(cmd, params)
			f.out = append(f.out, r.pre...)
			switch {
			case r.noACK:
			case r.nack:
				f.out = append(f.out, NACK...)
			default:
				f.out = append(f.out, ACK...)
				f.out = append(f.out, r.resp...)
				f.last = r.resp
				if r.resend != nil {
					f.last = r.resend
				}
			}
		default:
			f.hostBad++
		}
	}
}

func (f *fakePN532) Read(p []byte) (int, error) {
	f.mu.Lock()
	if f.readErr != nil {
		err, n := f.readErr, f.readN
		f.readErr = nil
		f.mu.Unlock()
		return n, err
	}
	if f.closed {
		f.mu.Unlock()
		return 0, errors.New("fake: port closed")
	}
	if len(f.out) > 0 {
		n := len(f.out)
		if f.chunk > 0 && n > f.chunk {
			n = f.chunk
		}
		n = copy(p, f.out[:n])
		f.out = f.out[n:]
		f.mu.Unlock()
		return n, nil
	}
	f.emptyReads++
	n, hook, blocking, d := f.emptyReads, f.onEmpty, f.blocking, f.timeout
	if !blocking {
		f.clk.Advance(d)
	}
	f.mu.Unlock()
	if blocking {
		select {
		case <-time.After(d):
		case <-f.closeCh:
			return 0, errors.New("fake: port closed")
		}
	}
	if hook != nil {
		hook(n)
	}
	return 0, nil
}

func (f *fakePN532) SetReadTimeout(d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		f.t.Errorf("SetReadTimeout(%v): the driver must never ask for a non-positive timeout", d)
	}
	f.timeout = d
	return nil
}

func (f *fakePN532) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.closeCh)
	}
	return nil
}

// count returns how many times cmd was received.
func (f *fakePN532) count(cmd byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.cmds {
		if c == cmd {
			n++
		}
	}
	return n
}

// resp builds a response frame or fails the test.
func resp(t testing.TB, code byte, data ...byte) []byte {
	t.Helper()
	b, err := EncodeResponse(code, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Card data the standard chip reports: a contactless EMV card (SAK 0x20,
// ISO/IEC 14443-4) with a 4-byte UID and ATS 05 78 80 70 02.
var (
	cardUID = []byte{0x08, 0x12, 0x34, 0x56}
	cardATS = []byte{0x05, 0x78, 0x80, 0x70, 0x02}
)

// chip answers like a healthy PN532 V1.6 with one EMV card in the field;
// exchange computes the card's answer to an APDU.
func chip(t testing.TB, exchange func(apdu []byte) []byte) func(cmd byte, params []byte) reply {
	return func(cmd byte, params []byte) reply {
		switch cmd {
		case cmdSAMConfiguration:
			return reply{resp: resp(t, 0x15)}
		case cmdGetFirmwareVersion:
			return reply{resp: resp(t, 0x03, 0x32, 0x01, 0x06, 0x07)}
		case cmdInListPassiveTarget:
			data := []byte{1, 1, 0x00, 0x04, 0x20, byte(len(cardUID))}
			data = append(data, cardUID...)
			data = append(data, cardATS...)
			return reply{resp: resp(t, 0x4B, data...)}
		case cmdInDataExchange:
			return reply{resp: resp(t, 0x41, append([]byte{0x00}, exchange(params[1:])...)...)}
		case cmdInRelease:
			return reply{resp: resp(t, 0x53, 0x00)}
		}
		return reply{resp: ErrorFrame}
	}
}

// okCard answers every APDU with 90 00.
func okCard([]byte) []byte { return []byte{0x90, 0x00} }
