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
	pre     []byte        // raw bytes sent before anything else (noise, stale frames)
	noACK   bool          // swallow the command: no ACK, no response
	lostACK bool          // run the command but lose its ACK on the line: only resp arrives
	nack    bool          // answer NACK instead of ACK (not in the manual; clones)
	resp    []byte        // raw bytes after the ACK: usually a response frame
	resend  []byte        // what a host NACK gets; nil means resp again
	delay   time.Duration // resp is sent this long after the ACK (the card is slow)
}

// chunk is bytes the fake chip sends at a time.
type chunk struct {
	sent time.Time
	b    []byte
}

// fakePN532 is a scripted PN532 at the byte level: it decodes the host's
// frames with DecodeHostFrame, answers each command through handle, resends
// the last response on a NACK and, on an abort ACK, drops the output it
// has not sent yet (bytes already on the line still arrive). Bytes reach
// the host lag after the chip sends them, as through a USB-serial
// adapter or a busy host. An empty Read advances the fake clock up to the
// read timeout (to the moment the next bytes arrive, if sooner) and
// returns (0, nil), go.bug.st/serial's timeout, so tests run without
// sleeping. In blocking mode an empty Read waits for the read timeout in
// real time instead (and for Close), with the clock left alone.
type fakePN532 struct {
	t      testing.TB
	clk    *clock.Fake
	handle func(cmd byte, params []byte) reply

	mu       sync.Mutex
	in       []byte
	out      []chunk // sent or scheduled by the chip, not yet read
	last     []byte
	lag      time.Duration // delivery delay of every byte the chip sends
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
		now := f.clk.Now()
		switch fr.Kind {
		case KindACK:
			f.aborts++
			kept := f.out[:0]
			for _, c := range f.out {
				if !c.sent.After(now) {
					kept = append(kept, c)
				}
			}
			f.out = kept
		case KindNACK:
			f.nacks++
			f.send(now, f.last)
		case KindInfo:
			cmd := fr.Data[0]
			params := append([]byte(nil), fr.Data[1:]...)
			f.cmds = append(f.cmds, cmd)
			f.params = append(f.params, params)
			r := f.handle(cmd, params)
			f.send(now, r.pre)
			switch {
			case r.noACK:
			case r.nack:
				f.send(now, NACK)
			default:
				if !r.lostACK {
					f.send(now, ACK)
				}
				f.send(now.Add(r.delay), r.resp)
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

// send queues b (if any) as sent by the chip at t. Called with mu held.
func (f *fakePN532) send(t time.Time, b []byte) {
	if len(b) > 0 {
		f.out = append(f.out, chunk{sent: t, b: append([]byte(nil), b...)})
	}
}

// take copies into p the bytes that have reached the host by now, at most
// f.chunk of them when set. Called with mu held.
func (f *fakePN532) take(p []byte) int {
	now := f.clk.Now()
	if f.chunk > 0 && len(p) > f.chunk {
		p = p[:f.chunk]
	}
	n := 0
	for len(f.out) > 0 && n < len(p) && !f.out[0].sent.Add(f.lag).After(now) {
		k := copy(p[n:], f.out[0].b)
		n += k
		if f.out[0].b = f.out[0].b[k:]; len(f.out[0].b) == 0 {
			f.out = f.out[1:]
		}
	}
	return n
}

// pending returns how many bytes the chip has sent or scheduled that the
// host has not read.
func (f *fakePN532) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.out {
		n += len(c.b)
	}
	return n
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
	if n := f.take(p); n > 0 {
		f.mu.Unlock()
		return n, nil
	}
	if !f.blocking && len(f.out) > 0 {
		// Bytes on their way arrive within this read's timeout: the
		// read returns when they do.
		if wait := f.out[0].sent.Add(f.lag).Sub(f.clk.Now()); wait <= f.timeout {
			f.clk.Advance(wait)
			n := f.take(p)
			f.mu.Unlock()
			return n, nil
		}
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
