package host

import (
	"path/filepath"
	"testing"

	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/iso8583"
)

// patternRand returns the same bytes on every Read, so every sign-in in a
// fuzz run issues the same keys and MACed seeds stay valid.
type patternRand struct{}

func (patternRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*37 + 11)
	}
	return len(p), nil
}

// fuzzHost is a Server (no listener) signed in for testTID, and the MAC
// function of its session.
func fuzzHost(f *testing.F) (*Server, iso8583.MACFunc) {
	cfg := testConfig(f.TempDir())
	cfg.DB = filepath.Join(f.TempDir(), "fuzz.db")
	s, err := New(cfg, Options{Clock: clock.NewFake(hostEpoch), Rand: patternRand{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	s.store.db.NoSync = true // a fuzz run needs no durability
	in := iso8583.NewMessage("0800")
	in.Set(11, "000001")
	in.Set(41, testTID)
	in.Set(42, testMID)
	in.Set(60, "00000001004")
	body, _ := iso8583.UnionPay.Pack(in)
	r := s.handle(body)
	a, err := iso8583.UnionPay.Unpack(r.body)
	if err != nil || get(a, 39) != "00" {
		f.Fatalf("sign-in: %v", err)
	}
	f62, _ := a.GetBytes(62)
	wk, err := iso8583.ParseSignInKeys(f62, mustHex(testTMKHex))
	if err != nil {
		f.Fatal(err)
	}
	mac, err := iso8583.NewMAC(iso8583.MACUnionPayECB, wk.MAK[:8])
	if err != nil {
		f.Fatal(err)
	}
	return s, mac
}

// FuzzHandle feeds arbitrary bytes to the host's request handler as a
// frame body. It must never panic; it may write to the store only for a
// sign-in of a known terminal or a message whose MAC verifies; whatever
// it answers must decode, and carry a valid MAC when it carries one.
func FuzzHandle(f *testing.F) {
	s, mac := fuzzHost(f)
	c := &client{t: f, tid: testTID, mid: testMID, batch: "000001", mac: mac}
	seed := func(m *iso8583.Message, withMAC bool) {
		var b []byte
		var err error
		if withMAC {
			b, err = iso8583.UnionPay.PackMAC(m, mac)
		} else {
			b, err = iso8583.UnionPay.Pack(m)
		}
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	sale := c.sale(1000, panCUP)
	seed(sale, true)
	seed(sale, false)
	seed(c.sale(1298, panCUP), true)
	seed(c.qrSale(500, "134512345678901234"), true)
	seed(reversal(sale), true)
	seed(c.offline(300, panVisa), true)
	ans := sale.Clone()
	ans.Set(37, "000000000001")
	ans.Set(38, "123456")
	seed(c.refund(sale, ans, 100), true)
	seed(c.void(sale, ans), true)
	seed(c.settle(Totals{DebitAmount: 1000, DebitCount: 1}, Totals{}), true)
	seed(c.upload(2), true)
	seed(c.batchEnd(2, "202"), true)
	seed(c.echo(), false)
	in := iso8583.NewMessage("0800")
	in.Set(11, "000009")
	in.Set(41, testTID)
	in.Set(42, testMID)
	in.Set(60, "00000001004")
	seed(in, false)
	f.Add([]byte{})
	f.Add([]byte{0x02, 0x00})
	f.Add([]byte{0x08, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})

	f.Fuzz(func(t *testing.T, body []byte) {
		before := s.store.writes.Load()
		r := s.handle(body)
		wrote := s.store.writes.Load() != before
		m, uerr := iso8583.UnionPay.Unpack(body)
		if wrote {
			_, verr := iso8583.UnionPay.UnpackVerify(body, mac)
			signIn := uerr == nil && m.MTI == "0800" && get(m, 41) == testTID
			if verr != nil && !signIn {
				t.Fatalf("store written for a message that is neither MACed nor a sign-in (unpack %v, verify %v)", uerr, verr)
			}
		}
		if r.body == nil {
			return
		}
		a, err := iso8583.UnionPay.Unpack(r.body)
		if err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
		if a.Has(64) {
			if _, err := iso8583.UnionPay.UnpackVerify(r.body, mac); err != nil {
				t.Fatalf("answer %s: %v", a.MTI, err)
			}
		}
		if uerr != nil {
			t.Fatalf("answered %s to a body that does not decode (%v)", a.MTI, uerr)
		}
		if get(a, 11) != get(m, 11) || get(a, 41) != get(m, 41) {
			t.Fatalf("answer 11/41 %s/%s for request %s/%s", get(a, 11), get(a, 41), get(m, 11), get(m, 41))
		}
	})
}
