package acquirer

import (
	"bytes"
	"context"
	"crypto/des"
	"errors"
	"strings"
	"testing"

	"github.com/posagent/posagent/core/iso8583"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		code string
		kind Kind
		en   string
	}{
		{"00", Approved, "approved"},
		{"01", Declined, "call issuer"},
		{"02", Declined, "call issuer"},
		{"03", NotRegistered, "invalid merchant"},
		{"05", Declined, "do not honour"},
		{"12", Declined, "invalid transaction"},
		{"13", Declined, "invalid amount"},
		{"14", Declined, "invalid card number"},
		{"25", Declined, "original transaction not found"},
		{"30", Declined, "format error"},
		{"51", Declined, "insufficient funds"},
		{"54", Declined, "expired card"},
		{"55", Declined, "incorrect PIN"},
		{"61", Declined, "exceeds amount limit"},
		{"77", ReSignIn, "batch number mismatch"},
		{"91", RetryLater, "host busy, try again"},
		{"94", Declined, "duplicate transmission"},
		{"96", RetryLater, "host busy, try again"},
		{"97", NotRegistered, "terminal unknown to host"},
		{"A0", ReSignIn, "MAC check failed"},
		{"Q7", Declined, "declined (code Q7)"},
		{"", Declined, "declined (code none)"},
		{"\x1b[", Declined, "declined (code ??)"},
	}
	for _, tc := range tests {
		o := Classify(tc.code)
		if o.Kind != tc.kind || o.Code != tc.code || !strings.HasPrefix(o.Message, tc.en) {
			t.Errorf("Classify(%q) = %+v, want kind %v, message starting %q", tc.code, o, tc.kind, tc.en)
		}
		// Every message carries a Chinese text after " / ".
		if i := strings.Index(o.Message, " / "); i < 0 || len([]rune(o.Message[i+3:])) == 0 {
			t.Errorf("Classify(%q).Message = %q, want English / Chinese", tc.code, o.Message)
		}
	}
}

// TestEncryptTrackRule checks the block selection against the worked
// example of the CUP track encryption rule (doc.xrtinfo.com, "磁道加密算法":
// track 2 "1234567890123456789=0508201781999168302" → TDB2 =
// 08 20 17 81 99 91 68 30) and the cipher against crypto/des directly.
func TestEncryptTrackRule(t *testing.T) {
	const track = "1234567890123456789=0508201781999168302"
	packed, err := PackTrack2(track)
	if err != nil {
		t.Fatal(err)
	}
	wantPacked := unhex(t, "12 34 56 78 90 12 34 56 78 9D 05 08 20 17 81 99 91 68 30 20")
	if !bytes.Equal(packed, wantPacked) {
		t.Fatalf("packed % X", packed)
	}
	tdk := mustHex("1123456789ABCDEF0123456789ABCDEF")
	enc, err := EncryptTrack(tdk, track)
	if err != nil {
		t.Fatal(err)
	}
	block := unhex(t, "08 20 17 81 99 91 68 30") // TDB2 of the worked example
	k := append(append([]byte(nil), tdk...), tdk[:8]...)
	c, err := des.NewTripleDESCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	wantBlock := make([]byte, 8)
	c.Encrypt(wantBlock, block)
	if !bytes.Equal(enc[:11], packed[:11]) || !bytes.Equal(enc[19:], packed[19:]) {
		t.Fatalf("bytes outside the block changed: % X", enc)
	}
	if !bytes.Equal(enc[11:19], wantBlock) {
		t.Fatalf("encrypted block % X, want % X", enc[11:19], wantBlock)
	}
	dec, err := DecryptTrack(tdk, enc)
	if err != nil || !bytes.Equal(dec, packed) {
		t.Fatalf("DecryptTrack = % X, %v", dec, err)
	}
	// Errors.
	if _, err := EncryptTrack(tdk, "12345678901234D"); !errors.Is(err, ErrTrackData) {
		t.Errorf("short track: %v", err)
	}
	if _, err := EncryptTrack(tdk[:8], track); !errors.Is(err, ErrTrackData) {
		t.Errorf("single-length TDK: %v", err)
	}
	if _, err := EncryptTrack(tdk, "1234567890123456789X0508"); !errors.Is(err, ErrTrackData) {
		t.Errorf("bad character: %v", err)
	}
}

func TestTotalsRoundTrip(t *testing.T) {
	tot := Totals{
		Domestic: SchemeTotals{DebitAmount: 999999999999, DebitCount: 999, CreditAmount: 1, CreditCount: 1},
		Foreign:  SchemeTotals{DebitAmount: 42, DebitCount: 2},
	}
	f48, err := tot.Field48()
	if err != nil {
		t.Fatal(err)
	}
	if len(f48) != 62 {
		t.Fatalf("field 48 is %d digits", len(f48))
	}
	got, rd, err := ParseTotals(f48)
	if err != nil || got != tot || rd != [2]byte{'0', '0'} {
		t.Fatalf("ParseTotals = %+v %q %v", got, rd, err)
	}
	for _, bad := range []string{"", f48[:61], f48 + "0", strings.Replace(f48, "9", "A", 1)} {
		if _, _, err := ParseTotals(bad); !errors.Is(err, ErrBadResponse) {
			t.Errorf("ParseTotals(%q): %v", bad, err)
		}
	}
}

func settlementAnswer(f48 string, rc string) *iso8583.Message {
	m := iso8583.NewMessage("0510")
	m.Set(11, "000092")
	m.Set(15, "0314")
	m.Set(39, rc)
	m.Set(41, testTID)
	m.Set(42, testMID)
	if f48 != "" {
		m.Set(48, f48)
	}
	return m
}

func TestParseSettlementResponse(t *testing.T) {
	f48, _ := Totals{Domestic: SchemeTotals{DebitAmount: 500, DebitCount: 1}}.Field48()
	b := []byte(f48)
	b[30], b[61] = '1', '2'
	res, err := ParseSettlementResponse(settlementAnswer(string(b), "00"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Domestic != Balanced || res.Foreign != NotBalanced || res.Balanced() || res.Totals.Domestic.DebitAmount != 500 || res.SettlementDate != "0314" {
		t.Fatalf("%+v", res)
	}
	b[61] = '1'
	if res, _ := ParseSettlementResponse(settlementAnswer(string(b), "00")); !res.Balanced() {
		t.Fatalf("not balanced: %+v", res)
	}
	b[30] = '7'
	if _, err := ParseSettlementResponse(settlementAnswer(string(b), "00")); !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "offset 30") {
		t.Errorf("bad digit: %v", err)
	}
	if _, err := ParseSettlementResponse(settlementAnswer("", "00")); !errors.Is(err, ErrBadResponse) {
		t.Errorf("no 48: %v", err)
	}
	if _, err := ParseSettlementResponse(settlementAnswer(f48, "96")); !errors.Is(err, ErrRefused) {
		t.Errorf("96: %v", err)
	}
}

func signInAnswer(t *testing.T, wk iso8583.WorkingKeys, corrupt string) *iso8583.Message {
	t.Helper()
	f62, err := iso8583.SignInKeysField(testTMK, wk)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]int{"PIK": 16, "MAK": 36, "TDK": 56}
	if i, ok := at[corrupt]; ok {
		f62[i] ^= 0xFF // flip the first byte of that key's check value
	}
	m := iso8583.NewMessage("0810")
	m.Set(11, "000001")
	m.Set(39, "00")
	m.Set(41, testTID)
	m.Set(42, testMID)
	m.Set(60, "00000009004")
	m.SetBytes(62, f62)
	return m
}

func TestParseSignInResponse(t *testing.T) {
	wk := keysFor(1)
	res, err := ParseSignInResponse(signInAnswer(t, wk, ""), testTMK)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Keys.PIK, wk.PIK) || !bytes.Equal(res.Keys.MAK, wk.MAK) || !bytes.Equal(res.Keys.TDK, wk.TDK) {
		t.Fatal("keys differ")
	}
	if !res.HasBatch || res.HostBatch != 9 {
		t.Fatalf("host batch %d %v", res.HostBatch, res.HasBatch)
	}
	for _, key := range []string{"PIK", "MAK", "TDK"} {
		_, err := ParseSignInResponse(signInAnswer(t, wk, key), testTMK)
		var ke *iso8583.KeyError
		if !errors.Is(err, ErrSignIn) || !errors.Is(err, iso8583.ErrKeyCheck) || !errors.As(err, &ke) || ke.Key != key {
			t.Errorf("bad %s check value: %v", key, err)
		}
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
	m := signInAnswer(t, wk, "")
	m.Set(39, "97")
	if _, err := ParseSignInResponse(m, testTMK); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("97: %v", err)
	}
	m = signInAnswer(t, wk, "")
	m.Unset(62)
	if _, err := ParseSignInResponse(m, testTMK); !errors.Is(err, ErrBadResponse) {
		t.Errorf("no 62: %v", err)
	}
	m = signInAnswer(t, wk, "")
	m.MTI = "0830"
	if _, err := ParseSignInResponse(m, testTMK); !errors.Is(err, ErrBadResponse) {
		t.Errorf("0830: %v", err)
	}
}

func TestParseResponse(t *testing.T) {
	m := iso8583.NewMessage("0210")
	m.Set(12, "101112")
	m.Set(13, "0314")
	m.Set(37, "0000010000  ")
	m.Set(38, "A1    ")
	m.Set(39, "00")
	m.Set(63, "CUP")
	r, err := ParseResponse(m)
	if err != nil {
		t.Fatal(err)
	}
	if r.HostTime != "1011120314" || r.RRN != "0000010000" || r.AuthCode != "A1" || r.Org != "CUP" || r.Outcome.Kind != Approved {
		t.Fatalf("%+v", r)
	}
	out := r.Txn()
	if out.ResponseCode != "00" || out.AuthCode != "A1" || out.HostTime != "1011120314" {
		t.Fatalf("%+v", out)
	}
	m.Unset(39)
	if _, err := ParseResponse(m); !errors.Is(err, ErrBadResponse) {
		t.Errorf("no 39: %v", err)
	}
	m.MTI = "0200"
	if _, err := ParseResponse(m); !errors.Is(err, ErrBadResponse) {
		t.Errorf("request MTI: %v", err)
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	s := NewMemKeyStore(nil)
	if _, err := s.TMK(ctx); !errors.Is(err, ErrNoTMK) {
		t.Fatalf("empty store: %v", err)
	}
	if err := s.SaveTMK(ctx, testTMK[:8]); !errors.Is(err, ErrBadTMK) {
		t.Fatalf("8-byte TMK: %v", err)
	}
	if err := s.SaveTMK(ctx, testTMK); err != nil {
		t.Fatal(err)
	}
	k, err := s.TMK(ctx)
	if err != nil || !bytes.Equal(k, testTMK) {
		t.Fatalf("TMK = % X, %v", k, err)
	}
	k[0] ^= 0xFF // a copy: the store is unchanged
	if k2, _ := s.TMK(ctx); !bytes.Equal(k2, testTMK) {
		t.Fatal("TMK returned the store's own slice")
	}
	// MAC key choice: the dialect's single-DES MAK is the first half.
	mak := keysFor(1).MAK
	if k, err := macKey(iso8583.MACUnionPayECB, mak); err != nil || !bytes.Equal(k, mak[:8]) {
		t.Errorf("ECB key % X %v", k, err)
	}
	if k, err := macKey(iso8583.MACX919, mak); err != nil || !bytes.Equal(k, mak) {
		t.Errorf("X9.19 key % X %v", k, err)
	}
	if _, err := macKey(iso8583.MACX919, mak[:8]); !errors.Is(err, ErrSignIn) {
		t.Errorf("X9.19 with a single-length MAK: %v", err)
	}
}

func TestKeys_RequestResponse(t *testing.T) {
	for _, tc := range []struct{ req, resp string }{
		{"0200", "0210"}, {"0220", "0230"}, {"0221", "0230"}, {"0400", "0410"}, {"0401", "0410"},
		{"0320", "0330"}, {"0500", "0510"}, {"0800", "0810"}, {"0820", "0830"},
	} {
		q := iso8583.NewMessage(tc.req)
		q.Set(11, "000001")
		q.Set(41, testTID)
		r := iso8583.NewMessage(tc.resp)
		r.Set(11, "000001")
		r.Set(41, testTID)
		qk, err := RequestKey(q)
		if err != nil {
			t.Fatal(err)
		}
		rk, err := ResponseKey(r)
		if err != nil {
			t.Fatal(err)
		}
		if qk != rk {
			t.Errorf("%s → %v, %s → %v", tc.req, qk, tc.resp, rk)
		}
	}
	if _, err := RequestKey(iso8583.NewMessage("0210")); !errors.Is(err, ErrBadRequest) {
		t.Errorf("response MTI as request: %v", err)
	}
	r := iso8583.NewMessage("0210")
	r.Set(11, "000001")
	if _, err := ResponseKey(r); !errors.Is(err, ErrBadResponse) {
		t.Errorf("answer without 41: %v", err)
	}
}

func TestReasonMemoryBounded(t *testing.T) {
	r := reasonMemory{max: 3}
	for i := uint32(1); i <= 5; i++ {
		r.set(reasonKey{tid: testTID, batch: 1, stan: i}, ReasonBadMAC)
	}
	for i := uint32(1); i <= 5; i++ {
		_, ok := r.get(reasonKey{tid: testTID, batch: 1, stan: i})
		if ok != (i >= 3) {
			t.Errorf("STAN %d remembered = %v", i, ok)
		}
	}
	r.del(reasonKey{tid: testTID, batch: 1, stan: 4})
	if _, ok := r.get(reasonKey{tid: testTID, batch: 1, stan: 4}); ok || len(r.order) != 2 {
		t.Errorf("delete: %v %d", ok, len(r.order))
	}
}
