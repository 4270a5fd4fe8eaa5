package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/core/clock"
)

// Port is the byte link to the modem's AT port: drivers/serialio's
// SerialPort in production, go.bug.st/serial on a pseudo-terminal in
// tests. Read, Write and SetReadTimeout are called from the driver's
// reader goroutine and its command path; Close may come from any
// goroutine and must unblock a pending Read.
type Port interface {
	// Read reads available bytes into p, waiting up to the read timeout.
	// When the timeout passes with nothing received it returns (0, nil)
	// (go.bug.st/serial) or an error that Options.IsTimeout recognises
	// (drivers/serialio's ErrTimeout). Any other error means the port is
	// gone.
	Read(p []byte) (int, error)
	// Write writes p.
	Write(p []byte) (int, error)
	// SetReadTimeout sets how long Read waits for the first byte.
	SetReadTimeout(d time.Duration) error
	// Close releases the port and unblocks a pending Read.
	Close() error
}

// DefaultIsTimeout reports whether a Read error is only "no byte before
// the read timeout": errors.Is(err, os.ErrDeadlineExceeded), or any error
// in the chain with a Timeout() bool method returning true (net.Error
// style; drivers/serialio's *Error has one). A (0, nil) Read is always
// taken as a timeout, whatever this function says.
func DefaultIsTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// URC is an unsolicited result code, or any line that arrived while no
// command was waiting for it.
type URC struct {
	// Name is the code: "RDY", "POWERED DOWN", "+CEREG", "+QIND", … or ""
	// for a line the driver does not know as a URC.
	Name string
	// Line is the whole line, without CR/LF.
	Line string
	// At is when the line was complete.
	At time.Time
}

// urcWords are the bare-word URCs (V.25ter, 27.007 and Quectel).
var urcWords = [...]string{
	"RDY", "POWERED DOWN", "NORMAL POWER DOWN", "RING", "NO CARRIER",
	"UNDER_VOLTAGE POWER DOWN", "UNDER_VOLTAGE WARNING",
	"OVER_VOLTAGE POWER DOWN", "OVER_VOLTAGE WARNING",
	"OVER_TEMPERATURE POWER DOWN",
}

// urcPrefixes are the prefixed URCs this driver recognises. A line with
// one of them is a URC unless the pending command asked for that prefix
// and the line has the command's solicited form.
var urcPrefixes = [...]string{
	"+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:", "+CPIN:", "+QIND:",
	"+QUSIM:", "+CFUN:", "+CMTI:", "+CMT:", "+CDS:", "+CBM:", "+CTZV:",
	"+CTZE:", "+CGEV:", "+CUSD:", "+CRING:", "+CLIP:", "+QIURC:",
	"+QGPSURC:", "+QSIMSTAT:", "+QNETDEVSTATUS:",
}

// urcName returns the URC name of a line, "" when it is not a known URC.
func urcName(line string) string {
	for _, w := range urcWords {
		if line == w {
			return w
		}
	}
	for _, p := range urcPrefixes {
		if strings.HasPrefix(line, p) {
			return strings.TrimSuffix(p, ":")
		}
	}
	return ""
}

// finalResult reports whether line is a final result code and, if so,
// the command's outcome (nil for OK).
func finalResult(cmd, line string) (bool, error) {
	switch line {
	case "OK":
		return true, nil
	case "ERROR":
		return true, fmt.Errorf("modem: %s: ERROR: %w", cmd, ErrCommand)
	case "NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER":
		return true, fmt.Errorf("modem: %s: %s: %w", cmd, line, ErrCommand)
	}
	if e, ok := ParseCMEError(line); ok {
		e.Cmd = cmd
		return true, e
	}
	return false, nil
}

// cmdSpec describes a command for exec.
type cmdSpec struct {
	// text is the command line without CR.
	text string
	// prefix is the information response prefix ("+CSQ:"); lines with
	// it are the answer.
	prefix string
	// accept, when set, must also accept a prefixed line (the solicited
	// form of +CREG/+CEREG).
	accept func(string) bool
	// raw takes every line that is not a known URC (ATI, AT+CGSN).
	raw bool
	// timeout overrides Options.CommandTimeout.
	timeout time.Duration
}

// pending is the command waiting for its final result.
type pending struct {
	spec  cmdSpec
	lines []string
	err   error
	done  chan struct{}
	// drain marks the resynchronisation probe: it swallows every answer
	// line and final result code (stale ones included) and signals each
	// final on finals.
	drain  bool
	finals chan struct{}
}

func (p *pending) wants(line string) bool {
	if p.spec.prefix != "" && strings.HasPrefix(line, p.spec.prefix) {
		return p.spec.accept == nil || p.spec.accept(line)
	}
	return p.spec.raw && urcName(line) == ""
}

// isEcho reports whether line is the modem echoing the command (ATE1):
// before any answer line, identical to what was sent.
func (p *pending) isEcho(line string) bool {
	return len(p.lines) == 0 && strings.EqualFold(strings.TrimSpace(line), p.spec.text)
}

// conn is one attached port and its reader goroutine.
type conn struct {
	port     Port
	lost     chan struct{} // closed when the port failed
	stop     chan struct{} // closed to stop the reader deliberately
	done     chan struct{} // closed when the reader has exited
	stopOnce sync.Once
	err      error // why lost; guarded by client.mu
}

func (cn *conn) halt() {
	cn.stopOnce.Do(func() {
		close(cn.stop)
		_ = cn.port.Close()
	})
}

// client is the AT command engine: one reader goroutine per port, one
// command at a time, URCs demultiplexed.
type client struct {
	o   Options
	log *slog.Logger
	clk clock.Clock
	sem chan struct{} // one command at a time

	urc  chan URC
	poke chan struct{} // registration/SIM/boot URC seen; for Watch

	mu        sync.Mutex
	cn        *conn // nil when no port is attached
	pend      *pending
	closed    bool
	unsynced  bool      // a command timed out; its answer may still come
	lastFinal time.Time // last final result code
	lastURC   time.Time // last URC
	boot      chan struct{}

	st counters
}

type counters struct {
	tx, rx, commands, timeouts, urcs, urcDropped, stray, echoes, longLines, lost atomic.Int64
}

func newClient(o Options) *client {
	return &client{
		o:    o,
		log:  o.Logger,
		clk:  o.Clock,
		sem:  make(chan struct{}, 1),
		urc:  make(chan URC, o.URCBuffer),
		poke: make(chan struct{}, 1),
		boot: make(chan struct{}),
	}
}

// attach makes p the current port, stopping the previous one.
func (c *client) attach(p Port) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	old := c.cn
	cn := &conn{port: p, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	c.cn = cn
	if old != nil && old.err == nil {
		old.err = errors.New("port replaced by Reattach")
		close(old.lost)
	}
	c.pend = nil
	c.unsynced = false
	c.mu.Unlock()
	if old != nil {
		old.halt()
		<-old.done
	}
	go c.read(cn)
	return nil
}

// read is the reader goroutine of cn.
func (c *client) read(cn *conn) {
	defer close(cn.done)
	if err := cn.port.SetReadTimeout(c.o.ReadSlice); err != nil {
		c.lose(cn, fmt.Errorf("set read timeout: %w", err))
		return
	}
	sp := splitter{max: maxLine}
	buf := make([]byte, 512)
	for {
		select {
		case <-cn.stop:
			return
		default:
		}
		n, err := cn.port.Read(buf)
		if n < 0 || n > len(buf) { // go-serial#55: -1 after an unplug
			n = 0
			if err == nil {
				err = fmt.Errorf("read returned an impossible count")
			}
		}
		if n > 0 {
			c.st.rx.Add(int64(n))
			sp.feed(buf[:n], c.line, func() { c.st.longLines.Add(1) })
		}
		if err != nil {
			if c.o.IsTimeout(err) {
				continue
			}
			select {
			case <-cn.stop:
				return
			default:
			}
			c.lose(cn, err)
			return
		}
	}
}

// lose marks cn as failed.
func (c *client) lose(cn *conn, err error) {
	c.mu.Lock()
	first := cn.err == nil
	if first {
		cn.err = err
		close(cn.lost)
	}
	c.mu.Unlock()
	if first {
		c.st.lost.Add(1)
		c.log.Warn("modem: port lost; waiting for Reattach", "err", err)
	}
}

// line dispatches one received line.
func (c *client) line(s string) {
	now := c.clk.Now()
	c.mu.Lock()
	if p := c.pend; p != nil && p.drain {
		if urcName(s) == "" {
			final, _ := finalResult("", s)
			c.mu.Unlock()
			if final {
				select {
				case p.finals <- struct{}{}:
				default:
				}
			}
			c.log.Debug("modem: resync dropped", "line", s)
			return
		}
	} else if p != nil {
		if p.isEcho(s) {
			c.mu.Unlock()
			c.st.echoes.Add(1)
			return
		}
		if final, err := finalResult(p.spec.text, s); final {
			p.err = err
			c.pend = nil
			c.lastFinal = now
			close(p.done)
			c.mu.Unlock()
			return
		}
		if p.wants(s) {
			p.lines = append(p.lines, s)
			c.mu.Unlock()
			return
		}
	}
	name := urcName(s)
	if name == "" {
		if final, _ := finalResult("", s); final {
			// A final result code nobody waits for: the late answer to a
			// command that timed out.
			c.mu.Unlock()
			c.st.stray.Add(1)
			c.log.Debug("modem: stray final result code", "line", s)
			return
		}
	}
	c.lastURC = now
	var boot chan struct{}
	if name == "RDY" {
		boot = c.boot
		c.boot = make(chan struct{})
	}
	c.mu.Unlock()
	if boot != nil {
		close(boot)
	}
	c.deliver(URC{Name: name, Line: s, At: now})
}

// deliver puts u on the URC channel; when the channel is full the oldest
// URC is dropped so the reader never blocks.
func (c *client) deliver(u URC) {
	c.st.urcs.Add(1)
	switch u.Name {
	case "RDY", "+CREG", "+CGREG", "+CEREG", "+CPIN", "+CFUN", "+QUSIM", "POWERED DOWN":
		select {
		case c.poke <- struct{}{}:
		default:
		}
	}
	if u.Name == "" {
		c.log.Debug("modem: unsolicited line", "line", u.Line)
	}
	for range 2 {
		select {
		case c.urc <- u:
			return
		default:
		}
		select {
		case <-c.urc:
			c.st.urcDropped.Add(1)
		default:
		}
	}
	c.st.urcDropped.Add(1)
}

// bootSignal returns a channel closed when the next RDY arrives.
func (c *client) bootSignal() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.boot
}

// current returns the attached conn, or an error when there is none or
// it is lost.
func (c *client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.cn == nil {
		return nil, fmt.Errorf("%w: no port attached", ErrGone)
	}
	if c.cn.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGone, c.cn.err)
	}
	return c.cn, nil
}

// maxCmd is the longest command line accepted (Quectel's AT buffer is
// larger; nothing this driver sends comes near).
const maxCmd = 256

func validCmd(s string) error {
	if len(s) < 2 || len(s) > maxCmd || !strings.EqualFold(s[:2], "AT") || !printable(s) {
		v := s
		if len(v) > 40 {
			v = v[:40]
		}
		return fmt.Errorf("%w: command %q: want printable ASCII starting with AT, at most %d bytes", ErrInvalid, v, maxCmd)
	}
	return nil
}

// exec sends one command and waits for its final result code.
func (c *client) exec(ctx context.Context, spec cmdSpec) ([]string, error) {
	if err := validCmd(spec.text); err != nil {
		return nil, err
	}
	timeout := spec.timeout
	if timeout <= 0 {
		timeout = c.o.CommandTimeout
	}
	start := c.clk.Now()
	// tmo first bounds the wait for the command slot and the pacing gap;
	// it is renewed once the command is on the wire.
	tmo := c.clk.After(timeout)
	timeoutErr := func(cause error) error {
		c.st.timeouts.Add(1)
		return &TimeoutError{Cmd: spec.text, Waited: c.clk.Now().Sub(start), Cause: cause}
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, timeoutErr(ctx.Err())
	case <-tmo:
		return nil, timeoutErr(nil)
	}
	defer func() { <-c.sem }()

	cn, err := c.current()
	if err != nil {
		return nil, err
	}
	err = c.settle(ctx, tmo, cn)
	if err == nil && c.isUnsynced() {
		err = c.resync(ctx, cn)
	}
	if err != nil {
		if errors.Is(err, ErrTimeout) {
			return nil, timeoutErr(nil)
		}
		if ctx.Err() != nil {
			return nil, timeoutErr(ctx.Err())
		}
		return nil, err
	}
	p := &pending{spec: spec, done: make(chan struct{})}
	c.mu.Lock()
	if c.cn != cn || cn.err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: port changed", ErrGone)
	}
	c.pend = p
	c.mu.Unlock()
	tmo = c.clk.After(timeout)
	c.st.commands.Add(1)
	c.log.Debug("modem: >", "cmd", spec.text)
	if err := c.write(cn, spec.text+"\r"); err != nil {
		c.abandon(p)
		if c.o.IsTimeout(err) {
			return nil, timeoutErr(nil)
		}
		c.lose(cn, fmt.Errorf("write: %w", err))
		return nil, fmt.Errorf("%w: %s: write: %w", ErrGone, spec.text, err)
	}
	select {
	case <-p.done:
	case <-tmo:
		if !c.abandon(p) {
			return nil, timeoutErr(nil)
		}
	case <-ctx.Done():
		if !c.abandon(p) {
			return nil, timeoutErr(ctx.Err())
		}
	case <-cn.lost:
		if !c.abandon(p) {
			c.mu.Lock()
			why := cn.err
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: %s: %w", ErrGone, spec.text, why)
		}
	}
	if p.err != nil {
		c.log.Debug("modem: <", "cmd", spec.text, "err", p.err)
	}
	return p.lines, p.err
}

// abandon withdraws p. It returns true when p had finished meanwhile (its
// result stands), false when it was still waiting.
func (c *client) abandon(p *pending) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pend != p {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	c.pend = nil
	c.unsynced = true
	return false
}

// write writes all of s to cn's port.
func (c *client) write(cn *conn, s string) error {
	b := []byte(s)
	for len(b) > 0 {
		n, err := cn.port.Write(b)
		if n < 0 || n > len(b) {
			return fmt.Errorf("write returned an impossible count %d", n)
		}
		c.st.tx.Add(int64(n))
		b = b[n:]
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("write made no progress")
		}
	}
	return nil
}

// settle waits until the next command may be sent: Pace after the last
// final result code or URC.
func (c *client) settle(ctx context.Context, tmo <-chan time.Time, cn *conn) error {
	for {
		c.mu.Lock()
		ready := c.lastFinal
		if c.lastURC.After(ready) {
			ready = c.lastURC
		}
		ready = ready.Add(c.o.Pace)
		c.mu.Unlock()
		d := ready.Sub(c.clk.Now())
		if d <= 0 {
			return nil
		}
		select {
		case <-c.clk.After(d):
		case <-tmo:
			return ErrTimeout
		case <-ctx.Done():
			return ctx.Err()
		case <-cn.lost:
			return fmt.Errorf("%w: while settling", ErrGone)
		}
	}
}

func (c *client) isUnsynced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unsynced
}

// resync runs after a command timed out, before the next one: the
// timed-out command's answer may still be on its way (a slow modem), and
// taken for the next command's it would shift every answer by one. It
// sends "AT" and swallows every line and final result code until one
// final has arrived and then none for ResyncQuiet. The stale answer and
// the probe's own OK are both consumed, in whatever order they come. The
// probe has its own deadline, LivenessTimeout, before the command's.
func (c *client) resync(ctx context.Context, cn *conn) error {
	tmo := c.clk.After(c.o.LivenessTimeout)
	p := &pending{spec: cmdSpec{text: "AT"}, done: make(chan struct{}), drain: true, finals: make(chan struct{}, 16)}
	c.mu.Lock()
	c.pend = p
	c.mu.Unlock()
	finish := func(synced bool) {
		c.mu.Lock()
		if c.pend == p {
			c.pend = nil
		}
		if synced {
			c.unsynced = false
			c.lastFinal = c.clk.Now()
		}
		c.mu.Unlock()
	}
	c.log.Debug("modem: resynchronising after a timeout")
	if err := c.write(cn, "AT\r"); err != nil {
		finish(false)
		if c.o.IsTimeout(err) {
			return ErrTimeout
		}
		c.lose(cn, fmt.Errorf("write: %w", err))
		return fmt.Errorf("%w: resync: write: %w", ErrGone, err)
	}
	var quiet <-chan time.Time // nil until the first final
	finals := 0
	defer func() {
		// All but one of the finals were stale (all, if the probe failed).
		if n := int64(finals); n > 0 {
			if c.isUnsynced() {
				c.st.stray.Add(n)
			} else {
				c.st.stray.Add(n - 1)
			}
		}
	}()
	for {
		select {
		case <-p.finals:
			finals++
			quiet = c.clk.After(c.o.ResyncQuiet)
		case <-quiet:
			finish(true)
			return nil
		case <-tmo:
			finish(false)
			return ErrTimeout
		case <-ctx.Done():
			finish(false)
			return ctx.Err()
		case <-cn.lost:
			finish(false)
			return fmt.Errorf("%w: while resynchronising", ErrGone)
		}
	}
}

// close stops the reader and closes the port.
func (c *client) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cn := c.cn
	if cn != nil && cn.err == nil {
		cn.err = ErrClosed
		close(cn.lost) // releases a pending command
	}
	c.mu.Unlock()
	if cn != nil {
		cn.halt()
		<-cn.done
	}
	close(c.urc)
	return nil
}

// maxLine bounds one response line; a longer line is dropped whole.
const maxLine = 1024

// splitter cuts the byte stream into lines at CR or LF. Empty lines
// (the CR LF framing around every response) are skipped.
type splitter struct {
	buf      []byte
	max      int
	overflow bool // the current line exceeded max and is being dropped
}

func (s *splitter) feed(p []byte, emit func(string), long func()) {
	for _, b := range p {
		if b == '\r' || b == '\n' {
			if !s.overflow && len(s.buf) > 0 {
				if l := strings.TrimRight(string(s.buf), " "); l != "" {
					emit(l)
				}
			}
			s.buf = s.buf[:0]
			s.overflow = false
			continue
		}
		if s.overflow {
			continue
		}
		if len(s.buf) >= s.max {
			s.overflow = true
			s.buf = s.buf[:0]
			long()
			continue
		}
		s.buf = append(s.buf, b)
	}
}
