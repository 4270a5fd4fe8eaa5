package payment_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

// The fakes below are unit-level stand-ins: an in-memory journal that
// follows the Journal contract (txn.CanTransition, identities, history,
// print queue), and scriptable card source, acquirer, printer and
// indicator. Every call is written to a shared call log (to check order)
// and rings a bell (to let tests wait for a condition without sleeping).

// bell is a broadcast: ring wakes everyone waiting on the current channel.
type bell struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBell() *bell { return &bell{ch: make(chan struct{})} }

func (b *bell) ring() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
}

func (b *bell) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

// callLog records calls in the order they happened.
type callLog struct {
	mu   sync.Mutex
	list []string
}

func (c *callLog) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, s)
}

func (c *callLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// index returns the position of the first call named s, or -1.
func (c *callLog) index(s string) int { return slices.Index(c.all(), s) }

func (c *callLog) count(s string) int {
	n := 0
	for _, x := range c.all() {
		if x == s {
			n++
		}
	}
	return n
}

// memJournal is an in-memory Journal.
type memJournal struct {
	clk   clock.Clock
	calls *callLog
	bell  *bell

	mu     sync.Mutex
	recs   []*txn.Record
	byID   map[txn.ID]*txn.Record
	sens   map[txn.ID]txn.Sensitive
	drafts []payment.Draft
	stan   uint32
	jobs   []payment.PrintJob
	seq    uint64
	health error

	// Failure injection and gates, set by tests before use.
	createErr     error
	transitionErr func(id txn.ID, to txn.State) error
	queuePrintErr error
	totalsErr     error
	// gateCreate, when set, makes Create wait for it before committing.
	gateCreate chan struct{}
	// gateTransition makes Transition to the key state wait before committing.
	gateTransition map[txn.State]chan struct{}
	inGate         string
}

func newMemJournal(clk clock.Clock, calls *callLog, b *bell) *memJournal {
	return &memJournal{clk: clk, calls: calls, bell: b, sens: map[txn.ID]txn.Sensitive{}, byID: map[txn.ID]*txn.Record{}, gateTransition: map[txn.State]chan struct{}{}}
}

func (j *memJournal) note(call string) {
	j.calls.add(call)
	j.bell.ring()
}

func (j *memJournal) gate(name string, ch chan struct{}) {
	if ch == nil {
		return
	}
	j.mu.Lock()
	j.inGate = name
	j.mu.Unlock()
	j.bell.ring()
	<-ch
	j.mu.Lock()
	j.inGate = ""
	j.mu.Unlock()
}

func (j *memJournal) blockedIn() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.inGate
}

func (j *memJournal) find(id txn.ID) (*txn.Record, error) {
	if r, ok := j.byID[id]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("memjournal: no transaction %s", id)
}

func cloneRec(r *txn.Record) txn.Record {
	c := *r
	c.History = slices.Clone(r.History)
	c.Sealed = slices.Clone(r.Sealed)
	return c
}

func (j *memJournal) Create(ctx context.Context, d payment.Draft, s *txn.Sensitive) (txn.Record, error) {
	j.note("journal.Create")
	j.gate("Create", j.gateCreate)
	j.mu.Lock()
	defer j.bell.ring()
	defer j.mu.Unlock()
	if j.createErr != nil {
		return txn.Record{}, j.createErr
	}
	j.stan++
	now := j.clk.Now().UTC()
	r := &txn.Record{
		ID: txn.ID(fmt.Sprintf("%016x", len(j.recs)+1)), Type: d.Type, Entry: d.Entry, Amount: d.Amount,
		State:     txn.Pending,
		Identity:  txn.Identity{TID: "12345678", MID: "123456789012345", Batch: 1, STAN: j.stan, Invoice: j.stan},
		Original:  d.Original,
		Scheme:    d.Scheme,
		MaskedPAN: d.MaskedPAN,
		PANHash:   "hash",
		Sealed:    []byte("sealed-card-data"),
		Created:   now, Updated: now,
		History: []txn.Change{{At: now, To: txn.Pending, Reason: "created"}},
	}
	j.recs = append(j.recs, r)
	j.byID[r.ID] = r
	j.drafts = append(j.drafts, d)
	if s != nil {
		j.sens[r.ID] = *s
	}
	j.calls.add("journal.Create.done")
	return cloneRec(r), nil
}

func (j *memJournal) Transition(ctx context.Context, id txn.ID, to txn.State, out txn.Outcome, reason string) (txn.Record, error) {
	j.note("journal.Transition(" + string(to) + ")")
	j.gate("Transition("+string(to)+")", j.gateTransition[to])
	j.mu.Lock()
	defer j.bell.ring()
	defer j.mu.Unlock()
	if j.transitionErr != nil {
		if err := j.transitionErr(id, to); err != nil {
			return txn.Record{}, err
		}
	}
	r, err := j.find(id)
	if err != nil {
		return txn.Record{}, err
	}
	if err := txn.CanTransition(r.State, to); err != nil {
		return txn.Record{}, err
	}
	now := j.clk.Now().UTC()
	r.History = append(r.History, txn.Change{At: now, From: r.State, To: to, Reason: reason})
	r.State = to
	if to == txn.StoredOffline {
		r.Offline = true // as the store does, in the same commit
	}
	if out != (txn.Outcome{}) {
		r.Outcome = out
	}
	r.Updated = now
	if to.Acknowledged() {
		r.Sealed = nil
	}
	j.calls.add("journal.Transition(" + string(to) + ").done")
	return cloneRec(r), nil
}

func (j *memJournal) NoteAttempt(ctx context.Context, id txn.ID, note string) (txn.Record, error) {
	j.note("journal.NoteAttempt")
	j.mu.Lock()
	defer j.mu.Unlock()
	r, err := j.find(id)
	if err != nil {
		return txn.Record{}, err
	}
	r.Attempts++
	r.Updated = j.clk.Now().UTC() // as the store does: ReversalDue reads it
	r.History = append(r.History, txn.Change{At: r.Updated, From: r.State, To: r.State, Reason: note})
	return cloneRec(r), nil
}

func (j *memJournal) Get(ctx context.Context, id txn.ID) (txn.Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, err := j.find(id)
	if err != nil {
		return txn.Record{}, err
	}
	return cloneRec(r), nil
}

func (j *memJournal) Unseal(ctx context.Context, id txn.ID) (txn.Sensitive, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, err := j.find(id)
	if err != nil {
		return txn.Sensitive{}, err
	}
	if r.Sealed == nil {
		return txn.Sensitive{}, errors.New("memjournal: sealed data wiped")
	}
	return j.sens[id], nil
}

func (j *memJournal) list(keep func(txn.State) bool) []txn.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []txn.Record
	for _, r := range j.recs {
		if keep(r.State) {
			out = append(out, cloneRec(r))
		}
	}
	return out
}

func (j *memJournal) PendingReversals(ctx context.Context) ([]txn.Record, error) {
	return j.list(txn.State.NeedsReversal), nil
}

func (j *memJournal) Pending(ctx context.Context) ([]txn.Record, error) {
	j.note("journal.Pending")
	return j.list(func(s txn.State) bool { return s == txn.Pending }), nil
}

func (j *memJournal) QueuePrint(ctx context.Context, rs ...receipt.Receipt) ([]payment.PrintJob, error) {
	j.note("journal.QueuePrint")
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.queuePrintErr != nil {
		return nil, j.queuePrintErr
	}
	var out []payment.PrintJob
	for _, r := range rs {
		j.seq++
		job := payment.PrintJob{Seq: j.seq, Receipt: r, Queued: j.clk.Now().UTC()}
		j.jobs = append(j.jobs, job)
		out = append(out, job)
	}
	return out, nil
}

func (j *memJournal) PrintQueue(ctx context.Context) ([]payment.PrintJob, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.jobs), nil
}

func (j *memJournal) PrintDone(ctx context.Context, seq uint64) error {
	defer j.bell.ring()
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, job := range j.jobs {
		if job.Seq == seq {
			j.jobs = slices.Delete(j.jobs, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("memjournal: no print job %d", seq)
}

func (j *memJournal) Health() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.health
}

// OfflineTotals implements payment.OutboxStats from the records in
// StoredOffline, as the store does.
func (j *memJournal) OfflineTotals(ctx context.Context) (payment.OutboxTotals, error) {
	j.note("journal.OfflineTotals")
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.totalsErr != nil {
		return payment.OutboxTotals{}, j.totalsErr
	}
	tot := payment.OutboxTotals{Amount: map[money.Currency]int64{}}
	for _, r := range j.recs {
		if r.State != txn.StoredOffline {
			continue
		}
		tot.Count++
		tot.Amount[r.Amount.Currency] += r.Amount.Minor
		if tot.Oldest.IsZero() || r.Created.Before(tot.Oldest) {
			tot.Oldest = r.Created
		}
	}
	return tot, nil
}

// SalesTotal implements payment.OutboxStats.
func (j *memJournal) SalesTotal(ctx context.Context, c money.Currency, from, to time.Time) (int64, error) {
	j.note("journal.SalesTotal")
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.totalsErr != nil {
		return 0, j.totalsErr
	}
	var sum int64
	for _, r := range j.recs {
		switch r.State {
		case txn.Approved, txn.StoredOffline, txn.ForwardedApproved:
		default:
			continue
		}
		if r.Type == txn.Sale && r.Amount.Currency == c && !r.Created.Before(from) && r.Created.Before(to) {
			sum += r.Amount.Minor
		}
	}
	return sum, nil
}

// add journals a record directly in state st (for queue tests).
func (j *memJournal) add(st txn.State, minor int64) txn.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stan++
	now := j.clk.Now().UTC()
	r := &txn.Record{
		ID: txn.ID(fmt.Sprintf("%016x", len(j.recs)+1)), Type: txn.Sale, Entry: txn.Contactless,
		Amount: money.Amount{Minor: minor, Currency: money.CNY}, State: st,
		Identity: txn.Identity{TID: "12345678", MID: "123456789012345", Batch: 1, STAN: j.stan, Invoice: j.stan},
		Sealed:   []byte("sealed"), Created: now, Updated: now,
		History: []txn.Change{{At: now, To: st}},
		Offline: st == txn.StoredOffline,
	}
	j.recs = append(j.recs, r)
	j.byID[r.ID] = r
	return cloneRec(r)
}

func (j *memJournal) get(id txn.ID) txn.Record {
	r, err := j.Get(context.Background(), id)
	if err != nil {
		panic(err)
	}
	return r
}

func (j *memJournal) state(id txn.ID) txn.State { return j.get(id).State }

func (j *memJournal) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.recs)
}

func (j *memJournal) queue() []payment.PrintJob {
	q, _ := j.PrintQueue(context.Background())
	return q
}

// fakeCards hands out the cards tests put in taps.
type fakeCards struct {
	calls *callLog
	bell  *bell
	taps  chan card.Data

	mu       sync.Mutex
	err      error         // returned at once instead of waiting, when set
	wedged   chan struct{} // when set, ReadCard ignores ctx and waits for it (a misbehaving driver)
	reads    int
	waiting  bool
	lastReq  payment.CardRequest
	deadline time.Time
	prompts  []string // said through req.Prompt before waiting, when set
}

func (c *fakeCards) ReadCard(ctx context.Context, req payment.CardRequest) (card.Data, error) {
	c.calls.add("cards.ReadCard")
	c.mu.Lock()
	c.reads++
	c.lastReq = req
	c.deadline, _ = ctx.Deadline()
	err := c.err
	wedged := c.wedged
	c.waiting = err == nil
	prompts := c.prompts
	c.mu.Unlock()
	if req.Prompt != nil {
		for _, p := range prompts {
			req.Prompt(p)
		}
	}
	c.bell.ring()
	defer func() {
		c.mu.Lock()
		c.waiting = false
		c.mu.Unlock()
		c.bell.ring()
	}()
	if err != nil {
		return card.Data{}, err
	}
	if wedged != nil {
		<-wedged
		return card.Data{}, errors.New("fake reader: came back after being wedged")
	}
	select {
	case d := <-c.taps:
		return d, nil
	case <-ctx.Done():
		return card.Data{}, fmt.Errorf("fake reader: %w", ctx.Err())
	}
}

func (c *fakeCards) isWaiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting
}

func (c *fakeCards) readCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// fakeAcquirer answers with auth and reverse, which tests replace.
type fakeAcquirer struct {
	calls *callLog
	bell  *bell

	mu       sync.Mutex
	auth     func(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error)
	reverse  func(ctx context.Context, rec txn.Record) (txn.Outcome, error)
	authReqs []payment.AuthRequest
	revs     []txn.ID
	inAuth   bool
}

func approve(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
	return payment.AuthResponse{Approved: true, Outcome: txn.Outcome{ResponseCode: "00", AuthCode: "654321", RRN: "000001000001"}}, nil
}

func ackReversal(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	return txn.Outcome{ResponseCode: "00"}, nil
}

func (a *fakeAcquirer) Authorize(ctx context.Context, req payment.AuthRequest) (payment.AuthResponse, error) {
	a.calls.add("acquirer.Authorize")
	a.mu.Lock()
	a.authReqs = append(a.authReqs, req)
	a.inAuth = true
	fn := a.auth
	a.mu.Unlock()
	a.bell.ring()
	defer func() {
		a.mu.Lock()
		a.inAuth = false
		a.mu.Unlock()
		a.bell.ring()
	}()
	return fn(ctx, req)
}

func (a *fakeAcquirer) Reverse(ctx context.Context, rec txn.Record) (txn.Outcome, error) {
	a.calls.add("acquirer.Reverse")
	a.mu.Lock()
	a.revs = append(a.revs, rec.ID)
	fn := a.reverse
	a.mu.Unlock()
	defer a.bell.ring()
	return fn(ctx, rec)
}

func (a *fakeAcquirer) authorising() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inAuth
}

func (a *fakeAcquirer) reversals() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.revs)
}

func (a *fakeAcquirer) requests() []payment.AuthRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.authReqs)
}

// fakePrinter prints into a slice, or reports paper out.
type fakePrinter struct {
	calls *callLog
	bell  *bell

	mu       sync.Mutex
	paperOut bool
	wedged   chan struct{} // when set, Print ignores ctx and waits for it
	attempts int
	printed  []receipt.Receipt
}

func (p *fakePrinter) Print(ctx context.Context, r receipt.Receipt) error {
	p.calls.add("printer.Print")
	defer p.bell.ring()
	p.mu.Lock()
	wedged := p.wedged
	p.mu.Unlock()
	if wedged != nil {
		p.bell.ring()
		<-wedged
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts++
	if p.paperOut {
		return fmt.Errorf("fake printer: %w", payment.ErrPaperOut)
	}
	p.printed = append(p.printed, r)
	return nil
}

func (p *fakePrinter) setPaperOut(out bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paperOut = out
}

func (p *fakePrinter) got() []receipt.Receipt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.printed)
}

func (p *fakePrinter) tries() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts
}

// fakeIndicator records signals.
type fakeIndicator struct {
	mu      sync.Mutex
	signals []payment.Signal
}

func (i *fakeIndicator) Indicate(ctx context.Context, s payment.Signal) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.signals = append(i.signals, s)
}

func (i *fakeIndicator) got() []payment.Signal {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.signals)
}

// notifyClock is a clock.Fake that records every After so tests know a
// timer is armed before they advance the clock.
type notifyClock struct {
	*clock.Fake
	bell *bell

	mu     sync.Mutex
	afters map[time.Duration]int
}

func (c *notifyClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	c.mu.Lock()
	c.afters[d]++
	c.mu.Unlock()
	c.bell.ring()
	return ch
}

func (c *notifyClock) armed(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.afters[d]
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	bell *bell
	mu   sync.Mutex
	b    bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	defer s.bell.ring()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one engine wired to fresh fakes.
type env struct {
	t     testing.TB
	bell  *bell
	calls *callLog
	clk   *notifyClock
	j     *memJournal
	cards *fakeCards
	acq   *fakeAcquirer
	prn   *fakePrinter
	ind   *fakeIndicator
	logs  *syncBuffer
	link  *fakeLink
	e     *payment.Engine
	cfg   payment.Config
}

// fakeLink is the acquirer link's sign-in state, as LinkInfo reports it.
type fakeLink struct {
	mu         sync.Mutex
	lastSignIn time.Time
}

func (l *fakeLink) info() risk.Link {
	l.mu.Lock()
	defer l.mu.Unlock()
	return risk.Link{LastSignIn: l.lastSignIn}
}

func (l *fakeLink) set(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastSignIn = t
}

var epoch = time.Date(2025, 6, 1, 2, 3, 4, 0, time.UTC)

func newEnv(t testing.TB, tweak ...func(*payment.Config)) *env {
	t.Helper()
	b := newBell()
	calls := &callLog{}
	clk := &notifyClock{Fake: clock.NewFake(epoch), bell: b, afters: map[time.Duration]int{}}
	en := &env{
		t: t, bell: b, calls: calls, clk: clk,
		j:     newMemJournal(clk, calls, b),
		cards: &fakeCards{calls: calls, bell: b, taps: make(chan card.Data, 1)},
		acq:   &fakeAcquirer{calls: calls, bell: b, auth: approve, reverse: ackReversal},
		prn:   &fakePrinter{calls: calls, bell: b},
		ind:   &fakeIndicator{},
		logs:  &syncBuffer{bell: b},
		link:  &fakeLink{lastSignIn: epoch.Add(-2 * time.Hour)},
	}
	en.cfg = payment.Config{Merchant: receipt.Merchant{Name: "Test Shop"}, Location: time.UTC}
	for _, f := range tweak {
		f(&en.cfg)
	}
	e, err := payment.New(en.cfg, payment.Deps{
		Journal: en.j, Cards: en.cards, Acquirer: en.acq, Printer: en.prn, Indicator: en.ind,
		Clock: clk, Log: slog.New(slog.NewTextHandler(en.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Outbox: en.j, LinkInfo: en.link.info,
	})
	if err != nil {
		t.Fatal(err)
	}
	en.e = e
	return en
}

// hangGuard bounds how long a test waits for something that must happen;
// it is a guard against a hung test, not a timing assertion.
const hangGuard = 10 * time.Second

// until waits until cond holds, re-checking after every fake call.
func (en *env) until(what string, cond func() bool) {
	en.t.Helper()
	guard := time.After(hangGuard)
	for {
		ch := en.bell.wait()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-guard:
			en.t.Fatalf("gave up waiting for %s; calls: %v", what, en.calls.all())
		}
	}
}

// await waits for the session to end and returns its result.
func (en *env) await(s *payment.Session) payment.Result {
	en.t.Helper()
	select {
	case <-s.Done():
	case <-time.After(hangGuard):
		en.t.Fatalf("sale did not end; calls: %v; events: %v", en.calls.all(), steps(events(s)))
	}
	return s.Result()
}

func (en *env) start(minor int64) *payment.Session {
	en.t.Helper()
	s, err := en.e.StartSale(context.Background(), payment.SaleRequest{Amount: cny(minor)})
	if err != nil {
		en.t.Fatalf("StartSale(%d): %v", minor, err)
	}
	return s
}

// runBackground starts Run and stops it at the end of the test.
func (en *env) runBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- en.e.Run(ctx) }()
	en.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			en.t.Errorf("Run: %v", err)
		}
	})
}

func cny(minor int64) money.Amount { return money.Amount{Minor: minor, Currency: money.CNY} }

const testPAN = "6212345678901232"

func unionPayCard() card.Data {
	return card.Data{
		Entry: txn.Contactless, Scheme: "UnionPay", AID: "A000000333010101",
		MaskedPAN: card.Mask(testPAN),
		Sensitive: txn.Sensitive{PAN: testPAN, Expiry: "2912", Track2: testPAN + "D29122010000000000000F", PANSeq: "01",
			ICC: []byte{0x9F, 0x27, 0x01, 0x80}},
	}
}

func events(s *payment.Session) []payment.Event {
	past, _, unsub := s.Subscribe()
	unsub()
	return past
}

func steps(evs []payment.Event) []payment.Step {
	out := make([]payment.Step, len(evs))
	for i, e := range evs {
		out[i] = e.Step
	}
	return out
}

func hasStep(evs []payment.Event, st payment.Step) bool {
	return slices.Contains(steps(evs), st)
}

func equalSteps(t *testing.T, got []payment.Event, want ...payment.Step) {
	t.Helper()
	if !slices.Equal(steps(got), want) {
		t.Fatalf("steps:\n got  %v\n want %v\n messages: %v", steps(got), want, messages(got))
	}
}

func messages(evs []payment.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Step) + ": " + e.Message
	}
	return out
}

func contains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%s = %q, want it to contain %q", what, s, sub)
	}
}
