package acquirer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

func sale(stan uint32, minor int64) payment.AuthRequest {
	return payment.AuthRequest{Record: testRecord(stan, minor), Sensitive: testSensitive()}
}

func TestAuthorizeApprovedAfterLazySignIn(t *testing.T) {
	f := newFixture(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	if st := f.acq.Status(); st.SignedIn || !st.LastSignIn.IsZero() || st.Connected {
		t.Fatalf("status before first use: %+v", st)
	}
	resp, err := f.acq.Authorize(ctx, sale(5, 1234))
	if err != nil {
		t.Fatal(err)
	}
	want := txn.Outcome{ResponseCode: "00", AuthCode: "A00005", RRN: "000001000005",
		Message: "approved / 交易成功", HostTime: "1011120314"}
	if !resp.Approved || resp.Outcome != want {
		t.Fatalf("resp = %+v, want approved %+v", resp, want)
	}
	got := f.host.Received("")
	if len(got) != 2 || got[0].MTI != "0800" || got[1].MTI != "0200" {
		t.Fatalf("host received %v", mtis(got))
	}
	if v, _ := got[0].Get(60); v != "00000001004" {
		t.Errorf("sign-in field 60 = %q", v)
	}
	f.mu.Lock()
	hb := f.hostBatch
	f.mu.Unlock()
	if len(hb) != 1 || hb[0] != 7 {
		t.Errorf("OnHostBatch got %v, want [7]", hb)
	}
	st := f.acq.Status()
	if !st.SignedIn || st.LastSignIn.IsZero() || !st.Connected || st.Host != f.host.addr || st.InFlight != 0 || st.LastError != "" {
		t.Errorf("status after sale: %+v", st)
	}
	// A second sale reuses keys and connection.
	if _, err := f.acq.Authorize(ctx, sale(6, 1234)); err != nil {
		t.Fatal(err)
	}
	if f.host.SignIns() != 1 || f.host.Accepts() != 1 {
		t.Errorf("sign-ins %d, connections %d; want 1 and 1", f.host.SignIns(), f.host.Accepts())
	}
	if strings.Contains(f.logs.String(), testSensitive().PAN) {
		t.Error("log holds the PAN")
	}
}

func mtis(ms []*iso8583.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.MTI)
	}
	return out
}

func TestSignInKeyCheckFails(t *testing.T) {
	for _, key := range []string{"PIK", "MAK", "TDK"} {
		t.Run(key, func(t *testing.T) {
			f := newFixture(t, nil)
			pos := map[string]int{"PIK": 16, "MAK": 36, "TDK": 56}[key]
			f.host.SetSignIn(func(r *iso8583.Message) {
				b, _ := r.GetBytes(62)
				b = append([]byte(nil), b...)
				b[pos] ^= 0x5A
				r.SetBytes(62, b)
			})
			_, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(5, 1234))
			var ke *iso8583.KeyError
			if !errors.Is(err, payment.ErrUnreachable) || errors.Is(err, payment.ErrNoResponse) ||
				!errors.Is(err, ErrSignIn) || !errors.As(err, &ke) || ke.Key != key {
				t.Fatalf("err = %v; want unreachable, sign-in failed naming %s", err, key)
			}
			if n := len(f.host.Received("0200")); n != 0 {
				t.Fatalf("the sale was sent %d times with unchecked keys", n)
			}
			if st := f.acq.Status(); st.SignedIn || !strings.Contains(st.LastError, key) {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestSignInWithoutTMK(t *testing.T) {
	f := newFixture(t, nil, func(_ *Config, d *Deps) { d.Keys = NewMemKeyStore(nil) })
	_, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(5, 1234))
	if !errors.Is(err, payment.ErrUnreachable) || !errors.Is(err, ErrNoTMK) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.host.Received("")); n != 0 {
		t.Fatalf("host received %d messages", n)
	}
}

func TestReSignInAndRetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(x *hostExchange)
	}{
		{"77", func(x *hostExchange) { x.Reply(x.Answer("77")) }},
		{"A0 without MAC", func(x *hostExchange) {
			a := x.Answer("A0")
			x.replyPacked(mustPack(t, x.h.spec, a))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			f := newFixture(t, func(x *hostExchange) {
				mu.Lock()
				n++
				first := n == 1
				mu.Unlock()
				if first {
					tc.first(x)
					return
				}
				x.Reply(x.Answer("00"))
			})
			resp, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(9, 1234))
			if err != nil || !resp.Approved {
				t.Fatalf("resp %+v err %v", resp, err)
			}
			if got := f.host.SignIns(); got != 2 {
				t.Errorf("sign-ins %d, want 2", got)
			}
			sales := f.host.Received("0200")
			if len(sales) != 2 {
				t.Fatalf("sales sent %d, want 2", len(sales))
			}
			// The same message again: same STAN, same fields, a MAC
			// under the new MAK (the host verified it, else A0).
			a, b := sales[0].Clone(), sales[1].Clone()
			a.Unset(64)
			b.Unset(64)
			if !a.Equal(b) {
				t.Error("the retry differs from the original request")
			}
			m1, _ := sales[0].GetBytes(64)
			m2, _ := sales[1].GetBytes(64)
			if string(m1) == string(m2) {
				t.Error("the retry carries the old MAC")
			}
		})
	}
}

func TestReSignInOnlyOnce(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) { x.Reply(x.Answer("77")) })
	resp, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(9, 1234))
	if err != nil {
		t.Fatalf("err %v: a second 77 is an answer, not a failure", err)
	}
	if resp.Approved || resp.Outcome.ResponseCode != "77" {
		t.Fatalf("resp %+v", resp)
	}
	if f.host.SignIns() != 2 || len(f.host.Received("0200")) != 2 {
		t.Fatalf("sign-ins %d sales %d", f.host.SignIns(), len(f.host.Received("0200")))
	}
	if f.acq.Status().SignedIn {
		t.Error("keys kept after a second 77: the next request must sign in")
	}
}

func TestDeclinesAreAnswers(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) {
		amt, _ := x.Req.Get(4)
		x.Reply(x.Answer(amt[10:])) // the last two digits are the code
	})
	ctx := ctxTimeout(t, 10*time.Second)
	for i, tc := range []struct {
		minor   int64
		code    string
		message string
	}{
		{5151, "51", "insufficient funds / 余额不足"},
		{5105, "05", "do not honour / 不予承兑"},
		{5196, "96", "host busy, try again / 主机繁忙，请稍后重试"},
		{5191, "91", "host busy, try again / 主机繁忙，请稍后重试"},
		{5130, "30", "format error / 报文格式错误"},
		{5197, "97", "terminal unknown to host / 终端未登记"},
	} {
		resp, err := f.acq.Authorize(ctx, sale(uint32(20+i), tc.minor))
		if err != nil {
			t.Fatalf("%s: %v", tc.code, err)
		}
		if resp.Approved || resp.Outcome.ResponseCode != tc.code || resp.Outcome.Message != tc.message {
			t.Errorf("%s: %+v", tc.code, resp)
		}
	}
	if len(f.host.Received("0400")) != 0 {
		t.Error("a decline was reversed")
	}
	if !strings.Contains(f.logs.String(), "format error (30)") {
		t.Error("code 30 not logged loudly")
	}
	if st := f.acq.Status(); !st.TerminalUnknown {
		t.Errorf("97 not in status: %+v", st)
	}
}

func TestBadResponseMACMeansNoResponse(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) {
		if x.Req.MTI == "0200" {
			x.ReplyBadMAC(x.Answer("00"))
			return
		}
		x.Reply(x.Answer("00"))
	})
	ctx := ctxTimeout(t, 10*time.Second)
	req := sale(11, 1234)
	_, err := f.acq.Authorize(ctx, req)
	if !errors.Is(err, payment.ErrNoResponse) || !errors.Is(err, ErrResponseMAC) || errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(f.logs.String(), "failed its MAC check") {
		t.Error("the reason is not logged")
	}
	f.unsealed[req.Record.ID] = req.Sensitive
	out, err := f.acq.Reverse(ctx, req.Record)
	if err != nil {
		t.Fatal(err)
	}
	if out.ResponseCode != "00" {
		t.Errorf("reversal outcome %+v", out)
	}
	revs := f.host.Received("0400")
	if len(revs) != 1 {
		t.Fatalf("reversals %d", len(revs))
	}
	if rc, _ := revs[0].Get(39); rc != ReasonBadMAC {
		t.Errorf("reversal reason %q, want A0", rc)
	}
	if pan, _ := revs[0].Get(2); pan != req.Sensitive.PAN {
		t.Error("reversal without the unsealed PAN")
	}
}

func TestTimeoutThenReversal(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) {
		if x.Req.MTI == "0200" {
			return // never answered
		}
		x.Reply(x.Answer("00"))
	})
	req := sale(12, 9998)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := f.acq.Authorize(ctx, req)
	if !errors.Is(err, payment.ErrNoResponse) || errors.Is(err, payment.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if st := f.acq.Status(); st.InFlight != 0 || !st.Connected {
		t.Errorf("status after timeout: %+v", st)
	}
	// Reversal: the unsealer fails (data wiped), so no card fields; the
	// reason is 98.
	ctx2 := ctxTimeout(t, 10*time.Second)
	if _, err := f.acq.Reverse(ctx2, req.Record); err != nil {
		t.Fatal(err)
	}
	rec := req.Record
	rec.Attempts = 1
	if _, err := f.acq.Reverse(ctx2, rec); err != nil {
		t.Fatal(err)
	}
	r1, r2 := f.host.Received("0400"), f.host.Received("0401")
	if len(r1) != 1 || len(r2) != 1 {
		t.Fatalf("0400 × %d, 0401 × %d", len(r1), len(r2))
	}
	for _, r := range []*iso8583.Message{r1[0], r2[0]} {
		if rc, _ := r.Get(39); rc != ReasonNoResponse {
			t.Errorf("%s reason %q, want 98", r.MTI, rc)
		}
		if r.Has(2) || r.Has(35) || r.Has(55) {
			t.Errorf("%s carries card data it could not have", r.MTI)
		}
		if stan, _ := r.Get(11); stan != "000012" {
			t.Errorf("%s STAN %s, want the original's", r.MTI, stan)
		}
	}
}

func TestReversalAnswers(t *testing.T) {
	codes := map[string]string{"000030": "00", "000031": "94", "000032": "96", "000033": "25"}
	f := newFixture(t, func(x *hostExchange) { x.Reply(x.Answer(codes[x.STAN()])) })
	ctx := ctxTimeout(t, 10*time.Second)
	for stan, ok := range map[uint32]bool{30: true, 31: true, 32: false, 33: false} {
		out, err := f.acq.Reverse(ctx, testRecord(stan, 100))
		if ok != (err == nil) {
			t.Errorf("STAN %d: out %+v err %v", stan, out, err)
		}
		if !ok && !errors.Is(err, ErrReversalRefused) {
			t.Errorf("STAN %d: %v, want ErrReversalRefused", stan, err)
		}
	}
}

func TestAuthorize94IsNoAnswer(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) { x.Reply(x.Answer("94")) })
	_, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(40, 100))
	if !errors.Is(err, payment.ErrNoResponse) {
		t.Fatalf("err = %v", err)
	}
}

func TestAmountMismatchIsNoAnswer(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) {
		a := x.Answer("00")
		a.Set(4, "000000000001")
		x.Reply(a)
	})
	_, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(41, 100))
	if !errors.Is(err, payment.ErrNoResponse) || !errors.Is(err, ErrBadResponse) {
		t.Fatalf("err = %v", err)
	}
}

func TestBothHostsRefused(t *testing.T) {
	f := newFixtureFor(t, nil, refusedAddr(t), refusedAddr(t))
	ctx := ctxTimeout(t, 10*time.Second)
	_, err := f.acq.Authorize(ctx, sale(5, 100))
	if !errors.Is(err, payment.ErrUnreachable) || errors.Is(err, payment.ErrNoResponse) {
		t.Fatalf("Authorize err = %v", err)
	}
	if _, err := f.acq.Reverse(ctx, testRecord(5, 100)); !errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("Reverse err = %v", err)
	}
	if err := f.acq.Echo(ctx); !errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("Echo err = %v", err)
	}
	if st := f.acq.Status(); st.Connected || st.LastError == "" {
		t.Errorf("status %+v", st)
	}
}

func TestBackupUsedWhenPrimaryDown(t *testing.T) {
	h := newTestHost(t, nil)
	f := newFixtureFor(t, h, refusedAddr(t), h.addr)
	resp, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(5, 100))
	if err != nil || !resp.Approved {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if st := f.acq.Status(); st.Host != h.addr || !st.Connected {
		t.Errorf("status %+v, want connected to the backup %s", st, h.addr)
	}
}

func TestManyInFlightAnsweredOutOfOrder(t *testing.T) {
	const n = 5
	got := make(chan *hostExchange, n)
	f := newFixture(t, func(x *hostExchange) { got <- x })
	ctx := ctxTimeout(t, 20*time.Second)
	if err := f.acq.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	type res struct {
		stan uint32
		resp payment.AuthResponse
		err  error
	}
	results := make(chan res, n)
	for i := 0; i < n; i++ {
		stan := uint32(100 + i)
		go func() {
			r, err := f.acq.Authorize(ctx, sale(stan, int64(1000+i)))
			results <- res{stan, r, err}
		}()
	}
	var xs []*hostExchange
	for len(xs) < n {
		select {
		case x := <-got:
			xs = append(xs, x)
		case <-ctx.Done():
			t.Fatal("host did not receive all requests")
		}
	}
	if st := f.acq.Status(); st.InFlight != n {
		t.Errorf("in flight %d, want %d", st.InFlight, n)
	}
	for i := n - 1; i >= 0; i-- { // answer in reverse order of arrival
		xs[i].Reply(xs[i].Answer("00"))
	}
	for i := 0; i < n; i++ {
		r := <-results
		if r.err != nil {
			t.Fatalf("STAN %d: %v", r.stan, r.err)
		}
		if want := fmt.Sprintf("000001%06d", r.stan); r.resp.Outcome.RRN != want {
			t.Errorf("STAN %d got the answer with RRN %s", r.stan, r.resp.Outcome.RRN)
		}
	}
	if f.host.Accepts() != 1 {
		t.Errorf("%d connections, want one", f.host.Accepts())
	}
}

func TestLateAnswerDropped(t *testing.T) {
	held := make(chan *hostExchange, 2)
	f := newFixture(t, func(x *hostExchange) {
		switch x.STAN() {
		case "000001", "000003":
			if x.Req.MTI == "0200" {
				held <- x // answered late, see below
				return
			}
			// The reversal of STAN 3: the late 0210 for STAN 3 comes
			// first, then the 0410.
			late := <-held
			late.Reply(late.Answer("00"))
			x.Reply(x.Answer("00"))
		case "000002":
			late := <-held
			late.Reply(late.Answer("00")) // the late answer for STAN 1 first
			a := x.Answer("00")
			x.Reply(a)
		default:
			x.Reply(x.Answer("00"))
		}
	})
	ctx := ctxTimeout(t, 20*time.Second)
	if err := f.acq.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := f.acq.Authorize(short, sale(1, 100))
	cancel()
	if !errors.Is(err, payment.ErrNoResponse) {
		t.Fatalf("STAN 1: %v", err)
	}
	resp, err := f.acq.Authorize(ctx, sale(2, 200))
	if err != nil || resp.Outcome.RRN != "000001000002" {
		t.Fatalf("STAN 2 got %+v, %v", resp, err)
	}
	if !strings.Contains(f.logs.String(), "late or unmatched answer dropped") || !strings.Contains(f.logs.String(), "021x/000001/"+testTID) {
		t.Errorf("late answer not logged:\n%s", f.logs.String())
	}
	// Same STAN, other class: a late 0210 must not acknowledge a 0400.
	short, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = f.acq.Authorize(short, sale(3, 300))
	cancel()
	if !errors.Is(err, payment.ErrNoResponse) {
		t.Fatalf("STAN 3: %v", err)
	}
	out, err := f.acq.Reverse(ctx, testRecord(3, 300))
	if err != nil || out.Message != "reversal accepted / 冲正成功" {
		t.Fatalf("reversal of STAN 3: %+v %v", out, err)
	}
	if n := strings.Count(f.logs.String(), "late or unmatched answer dropped"); n != 2 {
		t.Errorf("%d late answers logged, want 2", n)
	}
}

func TestConnectionDroppedMidFlight(t *testing.T) {
	var mu sync.Mutex
	dropped := false
	f := newFixture(t, func(x *hostExchange) {
		mu.Lock()
		first := !dropped
		dropped = true
		mu.Unlock()
		if first {
			x.Drop() // read the request, then hang up
			return
		}
		x.Reply(x.Answer("00"))
	})
	ctx := ctxTimeout(t, 10*time.Second)
	_, err := f.acq.Authorize(ctx, sale(7, 100))
	if !errors.Is(err, payment.ErrNoResponse) || errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	resp, err := f.acq.Authorize(ctx, sale(8, 100))
	if err != nil || !resp.Approved {
		t.Fatalf("after reconnect: %+v %v", resp, err)
	}
	if f.host.Accepts() != 2 {
		t.Errorf("%d connections, want 2", f.host.Accepts())
	}
	if f.host.SignIns() != 1 {
		t.Errorf("%d sign-ins: a reconnect does not need new keys", f.host.SignIns())
	}
}

func TestDuplicateKeyInFlight(t *testing.T) {
	got := make(chan *hostExchange, 1)
	f := newFixture(t, func(x *hostExchange) { got <- x })
	ctx := ctxTimeout(t, 10*time.Second)
	if err := f.acq.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { _, err := f.acq.Authorize(ctx, sale(50, 100)); first <- err }()
	x := <-got
	_, err := f.acq.Authorize(ctx, sale(50, 100))
	if !errors.Is(err, ErrDuplicateInFlight) || !errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("second with the same STAN: %v", err)
	}
	x.Reply(x.Answer("00"))
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestEchoSettleBatch(t *testing.T) {
	f := newFixture(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	if err := f.acq.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	if f.host.SignIns() != 0 {
		t.Error("echo signed in")
	}
	id := txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 60}
	res, err := f.acq.Settle(ctx, id, Totals{Domestic: SchemeTotals{DebitAmount: 1000, DebitCount: 2}}, money.CNY)
	if err != nil || !res.Balanced() || res.Totals.Domestic.DebitAmount != 1000 {
		t.Fatalf("settle %+v %v", res, err)
	}
	id.STAN = 61
	if err := f.acq.BatchUpload(ctx, id, []BatchRecord{{STAN: 5, PAN: "6212349876543210123", Amount: 1000}}); err != nil {
		t.Fatal(err)
	}
	id.STAN = 62
	if err := f.acq.BatchEnd(ctx, id, 1, true); err != nil {
		t.Fatal(err)
	}
	if got := mtis(f.host.Received("")); strings.Join(got, " ") != "0820 0800 0500 0320 0320" {
		t.Errorf("host received %v", got)
	}
}

func TestForwardOfflineSale(t *testing.T) {
	f := newFixture(t, nil, func(c *Config, _ *Deps) { c.Location = time.FixedZone("CST", 8*3600) })
	ctx := ctxTimeout(t, 10*time.Second)
	rec := testRecord(70, 100)
	rec.Offline = true
	r, err := f.acq.Forward(ctx, rec, testSensitive())
	if err != nil || r.Outcome.Kind != Approved || r.MTI != "0230" {
		t.Fatalf("%+v %v", r, err)
	}
	rec.Attempts = 1
	if r, err := f.acq.Forward(ctx, rec, testSensitive()); err != nil || r.MTI != "0230" {
		t.Fatalf("repeat: %+v %v", r, err)
	}
	a, b := f.host.Received("0220"), f.host.Received("0221")
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("0220 × %d, 0221 × %d", len(a), len(b))
	}
	if v, _ := a[0].Get(12); v != "140708" {
		t.Errorf("local time %q, want 140708 (06:07:08 UTC in UTC+8)", v)
	}
}

func TestVoidAndRefundThroughAuthorize(t *testing.T) {
	f := newFixture(t, nil, func(_ *Config, d *Deps) {
		d.Original = func(_ context.Context, rec txn.Record) (Original, error) {
			return Original{RRN: fmt.Sprintf("000001%06d", rec.Original.STAN), AuthCode: "A00005", Date: "0313"}, nil
		}
	})
	ctx := ctxTimeout(t, 10*time.Second)
	for _, typ := range []txn.Type{txn.Void, txn.Refund} {
		req := sale(80, 100)
		if typ == txn.Refund {
			req.Record.Identity.STAN = 81
		}
		req.Record.Type = typ
		req.Record.Original = &txn.Identity{TID: testTID, MID: testMID, Batch: 1, STAN: 5}
		resp, err := f.acq.Authorize(ctx, req)
		if err != nil || !resp.Approved {
			t.Fatalf("%s: %+v %v", typ, resp, err)
		}
	}
	v, r := f.host.Received("0200"), f.host.Received("0220")
	if len(v) != 1 || len(r) != 1 {
		t.Fatalf("void × %d, refund × %d", len(v), len(r))
	}
	if f61, _ := r[0].Get(61); f61 != "0000010000050313" {
		t.Errorf("refund field 61 %q", f61)
	}
	// Without an OriginalSource a void is refused before it leaves.
	g := newFixture(t, nil)
	req := sale(82, 100)
	req.Record.Type = txn.Void
	req.Record.Original = &txn.Identity{Batch: 1, STAN: 5}
	if _, err := g.acq.Authorize(ctx, req); !errors.Is(err, ErrBadRequest) || !errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("void without source: %v", err)
	}
}

func TestSignInInterval(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC))
	f := newFixture(t, nil, func(c *Config, d *Deps) {
		d.Clock = clk
		c.SignInInterval = 12 * time.Hour
	})
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := f.acq.Authorize(ctx, sale(1, 100)); err != nil {
		t.Fatal(err)
	}
	first := f.acq.Status().LastSignIn
	clk.Advance(11 * time.Hour)
	if _, err := f.acq.Authorize(ctx, sale(2, 100)); err != nil {
		t.Fatal(err)
	}
	if f.host.SignIns() != 1 {
		t.Fatalf("signed in again before the interval: %d", f.host.SignIns())
	}
	clk.Advance(time.Hour)
	if _, err := f.acq.Authorize(ctx, sale(3, 100)); err != nil {
		t.Fatal(err)
	}
	if f.host.SignIns() != 2 {
		t.Fatalf("sign-ins %d after the interval, want 2", f.host.SignIns())
	}
	if last := f.acq.Status().LastSignIn; !last.Equal(first.Add(12*time.Hour)) || last.Location() != time.UTC {
		t.Errorf("LastSignIn %v, want %v UTC", last, first.Add(12*time.Hour))
	}
}

func TestPeriodicSignInFailureKeepsKeys(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC))
	f := newFixture(t, nil, func(c *Config, d *Deps) {
		d.Clock = clk
		c.SignInInterval = time.Hour
	})
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := f.acq.Authorize(ctx, sale(1, 100)); err != nil {
		t.Fatal(err)
	}
	f.host.SetSignIn(func(r *iso8583.Message) { r.Set(39, "96") })
	clk.Advance(2 * time.Hour)
	resp, err := f.acq.Authorize(ctx, sale(2, 100))
	if err != nil || !resp.Approved {
		t.Fatalf("sale with the old keys: %+v %v", resp, err)
	}
	// Within a minute of the failure it does not try again.
	if _, err := f.acq.Authorize(ctx, sale(3, 100)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.host.Received("0800")); n != 2 {
		t.Errorf("%d sign-ins sent, want 2", n)
	}
}

func TestClose(t *testing.T) {
	got := make(chan *hostExchange, 1)
	f := newFixture(t, func(x *hostExchange) { got <- x })
	ctx := ctxTimeout(t, 10*time.Second)
	if err := f.acq.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	inflight := make(chan error, 1)
	go func() { _, err := f.acq.Authorize(ctx, sale(90, 100)); inflight <- err }()
	<-got
	if err := f.acq.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-inflight; !errors.Is(err, payment.ErrNoResponse) {
		t.Fatalf("in flight at close: %v", err)
	}
	if _, err := f.acq.Authorize(ctx, sale(91, 100)); !errors.Is(err, payment.ErrUnreachable) || !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestGarbageAnswerDropped(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) {
		if x.Req.MTI == "0200" {
			x.replyPacked([]byte{0x02, 0x10, 0xFF}) // not a message
			a := x.Answer("00")
			a.Unset(41) // not matchable (jmeter-iso8583#18)
			x.Reply(a)
			return
		}
		x.Reply(x.Answer("00"))
	})
	ctx := ctxTimeout(t, 10*time.Second)
	if err := f.acq.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := f.acq.Authorize(short, sale(95, 100)); !errors.Is(err, payment.ErrNoResponse) {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(f.logs.String(), "undecodable or unmatchable answer dropped"); n != 2 {
		t.Errorf("%d dropped answers logged, want 2:\n%s", n, f.logs.String())
	}
	// The connection survives a bad frame.
	if err := f.acq.Echo(ctx); err != nil || f.host.Accepts() != 1 {
		t.Fatalf("echo after garbage: %v, %d connections", err, f.host.Accepts())
	}
}

// Two callers reversing the same transaction at once (the forwarder and a
// sale's reversal-first step) share one request on the wire and its answer.
func TestConcurrentReversalsShareOneRequest(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) {
		go func() {
			time.Sleep(100 * time.Millisecond) // answer late, so the second caller arrives meanwhile
			x.Reply(x.Answer("00"))
		}()
	})
	errs := reverseTwice(t, f, testRecord(44, 100))
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := len(f.host.Received("0400")) + len(f.host.Received("0401")); n != 1 {
		t.Errorf("%d reversals on the wire, want 1", n)
	}
}

// Card data that cannot make a request is ErrCardData (and ErrUnreachable:
// nothing left), so the engine neither reverses nor stores it offline.
func TestAuthorizeBadCardDataIsCardData(t *testing.T) {
	f := newFixture(t, nil)
	req := sale(61, 100)
	req.Sensitive.Track2 = req.Sensitive.PAN + "D2812201" + "0000000000000000" // 41 characters: over field 35's 37
	_, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), req)
	if !errors.Is(err, payment.ErrCardData) || !errors.Is(err, payment.ErrUnreachable) || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("err = %v, want ErrCardData, ErrUnreachable and ErrBadRequest", err)
	}
	if n := len(f.host.Received("0200")); n != 0 {
		t.Fatalf("%d requests reached the host", n)
	}
}

// When the shared reversal goes unanswered, only the caller whose request
// it was may count an attempt: the one who joined gets the same error
// wrapped with payment.ErrSharedAttempt (found in make run: the engine and
// the forwarder each counted the one request, burning two of the three
// attempts at once).
func TestJoinedReversalFailureIsMarkedShared(t *testing.T) {
	f := newFixture(t, func(x *hostExchange) {
		go func() {
			time.Sleep(100 * time.Millisecond)
			x.Drop() // the request arrived; the host hangs up without an answer
		}()
	})
	errs := reverseTwice(t, f, testRecord(45, 100))
	if !errors.Is(errs[0], payment.ErrNoResponse) || errors.Is(errs[0], payment.ErrSharedAttempt) {
		t.Errorf("the sender: %v, want ErrNoResponse, not shared", errs[0])
	}
	if !errors.Is(errs[1], payment.ErrNoResponse) || !errors.Is(errs[1], payment.ErrSharedAttempt) {
		t.Errorf("the joiner: %v, want ErrNoResponse marked ErrSharedAttempt", errs[1])
	}
}

// reverseTwice reverses rec from two callers, the second 20 ms after the
// first (while the first is on the wire), and returns their errors.
func reverseTwice(t *testing.T, f *fixture, rec txn.Record) []error {
	t.Helper()
	ctx := ctxTimeout(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = f.acq.Reverse(ctx, rec)
		}(i)
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	return errs
}
