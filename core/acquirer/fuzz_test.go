package acquirer

import (
	"bytes"
	"context"
	"testing"

	"github.com/posagent/posagent/core/iso8583"
)

// fuzzAcquirer is an Acquirer with working keys in place and no network.
func fuzzAcquirer(f *testing.F) (*Acquirer, *sessionKeys) {
	a, err := New(Config{Primary: "127.0.0.1:1", TID: testTID, MID: testMID}, Deps{
		Keys:        NewMemKeyStore(testTMK),
		BatchSource: func(context.Context) (uint32, error) { return 1, nil },
	})
	if err != nil {
		f.Fatal(err)
	}
	k, err := newSessionKeys(iso8583.MACUnionPayECB, keysFor(1), a.clk.Now())
	if err != nil {
		f.Fatal(err)
	}
	a.keys = k
	return a, k
}

// FuzzParseResponse feeds arbitrary bytes through the whole answer path:
// frame, unpack, match key, MAC check, response parsing (financial,
// sign-in, settlement). Nothing may panic; whatever is accepted must be
// self-consistent.
func FuzzParseResponse(f *testing.F) {
	a, k := fuzzAcquirer(f)
	spec := iso8583.UnionPay
	req, err := SaleRequest(testRecord(5, 1234), testSensitive(), "")
	if err != nil {
		f.Fatal(err)
	}
	frame := func(body []byte) []byte {
		b, err := iso8583.AppendFrame(nil, iso8583.Frame{TPDU: DefaultTPDU, Header: DefaultHeader, Body: body})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	x := &hostExchange{Req: req}
	ans := x.Answer("00")
	body, err := spec.PackMAC(ans, k.mac)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(frame(body))
	bad := append([]byte(nil), body...)
	bad[len(bad)-1] ^= 1
	f.Add(frame(bad))
	a0 := x.Answer("A0")
	f.Add(frame(mustPack(f, spec, a0)))
	si := iso8583.NewMessage("0810")
	si.Set(11, "000001")
	si.Set(39, "00")
	si.Set(41, testTID)
	si.Set(60, "00000009004")
	f62, _ := iso8583.SignInKeysField(testTMK, keysFor(2))
	si.SetBytes(62, f62)
	f.Add(frame(mustPack(f, spec, si)))
	f48, _ := Totals{Domestic: SchemeTotals{DebitAmount: 5, DebitCount: 1}}.Field48()
	st := settlementAnswer(f48[:30]+"1"+f48[31:61]+"2", "00")
	f.Add(frame(mustPack(f, spec, st)))
	f.Add([]byte{0x00, 0x0B, 0x60, 0, 0, 0, 0, 0x60, 0x31, 0, 0, 0, 0})
	f.Add([]byte{0xFF, 0xFF, 0x02})
	f.Add([]byte{})

	key, _ := RequestKey(req)
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := iso8583.ReadFrame(bytes.NewReader(data), DefaultMaxFrame)
		bodies := [][]byte{data}
		if err == nil {
			bodies = append(bodies, fr.Body)
		}
		for _, b := range bodies {
			rk, m, err := decodeAnswer(spec, b)
			if err != nil {
				continue
			}
			if rk.Class != m.MTI[:3] {
				t.Fatalf("key %v for MTI %s", rk, m.MTI)
			}
			if vm, err := a.verify(key, req, Answer{Body: b, Msg: m}, k); err == nil {
				if r, err := a.parseAnswer(req, vm); err == nil {
					_ = r.Txn()
					if r.Outcome.Code == "" && vm.Has(39) {
						t.Fatalf("response code lost")
					}
				}
			}
			_, _ = ParseSignInResponse(m, testTMK)
			_, _ = ParseSettlementResponse(m)
			_, _ = ParseResponse(m)
		}
	})
}
