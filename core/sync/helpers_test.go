package sync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/link"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	fwd "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

var (
	ctx = context.Background()
	t0  = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	key = bytes.Repeat([]byte{0x42}, store.KeySize)
)

const (
	testTID = "10000001"
	testMID = "898100012340001"
	testPAN = "6212345678901232" // a test card number, not a real card
)

// jumpClock is a fake clock with a monotonic reading of its own: Advance
// moves wall and monotonic time together (time passes), Jump moves only
// the wall clock (an NTP step, a technician setting the date).
type jumpClock struct {
	*clock.Fake
	mu   gosync.Mutex
	mono time.Duration
}

func newClock() *jumpClock { return &jumpClock{Fake: clock.NewFake(t0)} }

func (c *jumpClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.mono += d
	c.mu.Unlock()
	c.Fake.Advance(d)
}

func (c *jumpClock) Jump(d time.Duration) { c.Set(c.Now().Add(d)) }

func (c *jumpClock) Monotonic() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

// openJournal opens (or reopens) a real bbolt journal.
func openJournal(t testing.TB, path string, clk clock.Clock) *store.Journal {
	t.Helper()
	j, err := store.Open(store.Options{Path: path, Key: key, TID: testTID, MID: testMID, Clock: clk, LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func newJournal(t testing.TB, clk clock.Clock) *store.Journal {
	t.Helper()
	return openJournal(t, filepath.Join(t.TempDir(), "journal.db"), clk)
}

// store journals a sale of minor fen and moves it to stored_offline, as
// the engine does for an offline approval.
func storeSale(t testing.TB, j *store.Journal, minor int64) txn.Record {
	t.Helper()
	r, err := j.Create(ctx, payment.Draft{Type: txn.Sale, Entry: txn.Contactless,
		Amount: money.Amount{Minor: minor, Currency: 156}, Scheme: "UnionPay"},
		&txn.Sensitive{PAN: testPAN, Expiry: "2712", Track2: testPAN + "D27122011234567890", PANSeq: "01",
			ICC: []byte{0x9f, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	r, err = j.Transition(ctx, r.ID, txn.StoredOffline, txn.Outcome{AuthCode: "Y1", Message: "stored offline"}, "host unreachable")
	if err != nil {
		t.Fatalf("Transition: %v", err)
	}
	return r
}

// pendingReversal journals a sale whose answer never came.
func pendingReversal(t testing.TB, j *store.Journal, minor int64) txn.Record {
	t.Helper()
	r, err := j.Create(ctx, payment.Draft{Type: txn.Sale, Entry: txn.Contactless,
		Amount: money.Amount{Minor: minor, Currency: 156}, Scheme: "UnionPay"}, &txn.Sensitive{PAN: testPAN})
	if err != nil {
		t.Fatal(err)
	}
	r, err = j.Transition(ctx, r.ID, txn.ReversalPending, txn.Outcome{}, "no answer")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func get(t testing.TB, j *store.Journal, id txn.ID) txn.Record {
	t.Helper()
	r, err := j.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// call is one request the fake host received.
type call struct {
	Op       string // "forward" or "reverse"
	ID       txn.ID
	Identity txn.Identity
	Attempts int
	PAN      string
}

// dedupeKey is the reference host's: TID + batch + STAN + class.
func dedupeKey(op string, id txn.Identity) string {
	return fmt.Sprintf("%s/%06d/%06d/%s", id.TID, id.Batch, id.STAN, op)
}

// host is a fake acquirer behind the Sender interface. It answers by the
// amount's last two digits (51, 05 declined; 96, 91 retry; 97 unknown
// terminal; anything else approved), dedupes like cmd/acqhost (a repeat of
// a key gets the stored answer and changes nothing), counts concurrency,
// and can hold requests at a gate.
type host struct {
	mu        gosync.Mutex
	calls     []call
	answers   map[string]fwd.Answer // decided advices by dedupe key
	charged   map[string]int64      // approved advices: amount, once per key
	repeats   int
	inFlight  int
	maxFlight int
	// gate, when set, holds every request until it is closed or the
	// request's context ends (then ErrNoResponse: it was sent).
	gate chan struct{}
	// arrived receives every request's ID as it arrives (when set).
	arrived chan txn.ID
	// fail, when set, may replace a request's outcome with an error.
	fail func(c call) error
	// reverse decides reversals; nil acknowledges them.
	reverse func(c call) error
	// once decides a record's first answer only, by ID.
	once map[txn.ID]fwd.AnswerKind
	// latency is slept (real time) per request, for benchmarks.
	latency time.Duration
}

func newHost() *host {
	return &host{answers: map[string]fwd.Answer{}, charged: map[string]int64{}, once: map[txn.ID]fwd.AnswerKind{}}
}

func (h *host) enter(c call) {
	h.mu.Lock()
	h.calls = append(h.calls, c)
	h.inFlight++
	h.maxFlight = max(h.maxFlight, h.inFlight)
	arrived := h.arrived
	h.mu.Unlock()
	if arrived != nil {
		arrived <- c.ID
	}
}

func (h *host) leave() {
	h.mu.Lock()
	h.inFlight--
	h.mu.Unlock()
}

func (h *host) wait(ctx context.Context) error {
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if h.latency > 0 {
		t := time.NewTimer(h.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", payment.ErrNoResponse, ctx.Err())
		}
	}
	if gate == nil {
		return nil
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", payment.ErrNoResponse, context.Cause(ctx))
	}
}

func (h *host) Forward(ctx context.Context, rec txn.Record, s txn.Sensitive) (fwd.Answer, error) {
	c := call{Op: "forward", ID: rec.ID, Identity: rec.Identity, Attempts: rec.Attempts, PAN: s.PAN}
	h.enter(c)
	defer h.leave()
	if err := h.wait(ctx); err != nil {
		return fwd.Answer{}, err
	}
	h.mu.Lock()
	fail := h.fail
	h.mu.Unlock()
	if fail != nil {
		if err := fail(c); err != nil {
			return fwd.Answer{}, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := dedupeKey("advice", rec.Identity)
	if a, ok := h.answers[k]; ok {
		h.repeats++
		return a, nil
	}
	kind := kindFor(rec.Amount.Minor)
	if k1, ok := h.once[rec.ID]; ok {
		delete(h.once, rec.ID)
		kind = k1
	}
	a := fwd.Answer{Kind: kind, Outcome: txn.Outcome{ResponseCode: codeFor(kind, rec.Amount.Minor),
		RRN: fmt.Sprintf("%012d", len(h.answers)+1), Message: kind.String()}}
	if kind == fwd.AnswerApproved || kind == fwd.AnswerDeclined {
		h.answers[k] = a // decided: recorded; retry answers are not
		if kind == fwd.AnswerApproved {
			h.charged[k] = rec.Amount.Minor
		}
	}
	return a, nil
}

func (h *host) Reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	c := call{Op: "reverse", ID: rec.ID, Identity: rec.Identity, Attempts: rec.Attempts}
	h.enter(c)
	defer h.leave()
	if err := h.wait(ctx); err != nil {
		return txn.Outcome{}, err
	}
	h.mu.Lock()
	rev := h.reverse
	h.mu.Unlock()
	if rev != nil {
		if err := rev(c); err != nil {
			return txn.Outcome{}, err
		}
	}
	return txn.Outcome{ResponseCode: "00", Message: "reversal accepted"}, nil
}

func kindFor(minor int64) fwd.AnswerKind {
	switch minor % 100 {
	case 51, 5:
		return fwd.AnswerDeclined
	case 96, 91:
		return fwd.AnswerRetry
	case 97:
		return fwd.AnswerNotRegistered
	}
	return fwd.AnswerApproved
}

func codeFor(k fwd.AnswerKind, minor int64) string {
	if k == fwd.AnswerApproved {
		return "00"
	}
	return fmt.Sprintf("%02d", minor%100)
}

func (h *host) snapshot() []call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]call(nil), h.calls...)
}

func (h *host) forwards() []call {
	var out []call
	for _, c := range h.snapshot() {
		if c.Op == "forward" {
			out = append(out, c)
		}
	}
	return out
}

// countingJournal wraps the journal and counts (and can fail) commits.
type countingJournal struct {
	*store.Journal
	mu       gosync.Mutex
	many     int // TransitionMany calls
	changes  int
	attempts int // NoteAttempt calls
	outboxes int // Outbox reads
	failMany error
}

func (c *countingJournal) TransitionMany(ctx context.Context, ch []fwd.Change) ([]txn.Record, []error, error) {
	c.mu.Lock()
	c.many++
	c.changes += len(ch)
	fail := c.failMany
	c.mu.Unlock()
	if fail != nil {
		return nil, nil, fail
	}
	return c.Journal.TransitionMany(ctx, ch)
}

func (c *countingJournal) NoteAttempt(ctx context.Context, id txn.ID, note string) (txn.Record, error) {
	c.mu.Lock()
	c.attempts++
	c.mu.Unlock()
	return c.Journal.NoteAttempt(ctx, id, note)
}

func (c *countingJournal) Outbox(ctx context.Context) ([]txn.Record, error) {
	c.mu.Lock()
	c.outboxes++
	c.mu.Unlock()
	return c.Journal.Outbox(ctx)
}

func (c *countingJournal) counts() (many, changes, attempts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.many, c.changes, c.attempts
}

// fakeLink is a link monitor stand-in.
type fakeLink struct {
	mu    gosync.Mutex
	up    bool
	subs  []chan link.State
	ups   int
	downs []error
}

func (l *fakeLink) Up() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.up }
func (l *fakeLink) State() link.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := "test: down"
	if l.up {
		r = "test: up"
	}
	return link.State{Up: l.up, Reason: r}
}
func (l *fakeLink) Subscribe() (<-chan link.State, func()) {
	ch := make(chan link.State, 1)
	l.mu.Lock()
	l.subs = append(l.subs, ch)
	l.mu.Unlock()
	ch <- l.State()
	return ch, func() {}
}
func (l *fakeLink) MarkUp() { l.mu.Lock(); l.ups++; l.mu.Unlock() }
func (l *fakeLink) MarkDown(err error) {
	l.mu.Lock()
	l.downs = append(l.downs, err)
	l.mu.Unlock()
}
func (l *fakeLink) set(up bool) {
	l.mu.Lock()
	l.up = up
	subs := l.subs
	l.mu.Unlock()
	for _, ch := range subs {
		select {
		case <-ch:
		default:
		}
		ch <- l.State()
	}
}

// newForwarder builds a forwarder over j and h.
func newForwarder(t testing.TB, cfg fwd.Config, j fwd.Journal, h fwd.Sender, clk clock.Clock, l fwd.Link) *fwd.Forwarder {
	t.Helper()
	f, err := fwd.New(cfg, fwd.Deps{Journal: j, Sender: h, Link: l, Clock: clk})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// waitFor polls cond (a hang guard in real time, not a timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var errCrash = errors.New("simulated crash before the commit")
