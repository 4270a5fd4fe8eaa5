package emvtest_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/emv"
	"github.com/posagent/posagent/core/emv/emvtest"
)

func h(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func apdu(t *testing.T, c emv.Command) []byte {
	t.Helper()
	b, err := c.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sw(b []byte) uint16 { return uint16(b[len(b)-2])<<8 | uint16(b[len(b)-1]) }

// Every scripted answer is well-formed: a status word, and for 9000 a
// single BER-TLV template that parses.
func TestScriptsWellFormed(t *testing.T) {
	names := map[string]bool{}
	for _, c := range emvtest.Cards() {
		if names[c.Name] {
			t.Fatalf("duplicate card name %q", c.Name)
		}
		names[c.Name] = true
		if err := card.ValidPAN(c.PAN); err != nil {
			t.Errorf("%s: PAN: %v", c.Name, err)
		}
		var answers [][]byte
		for _, e := range c.Script {
			answers = append(answers, e.Response)
		}
		for _, a := range c.Apps {
			answers = append(answers, a.FCI)
			for _, e := range a.Script {
				answers = append(answers, e.Response)
			}
		}
		for i, r := range answers {
			if len(r) < 2 || sw(r) != 0x9000 {
				t.Errorf("%s: answer %d has no 9000: % X", c.Name, i, r)
				continue
			}
			tlvs, err := emv.Parse(r[:len(r)-2])
			if err != nil || len(tlvs) != 1 {
				t.Errorf("%s: answer %d: %d objects, %v", c.Name, i, len(tlvs), err)
			}
			// Short APDUs: at most 256 data bytes per answer.
			if len(r)-2 > 256 {
				t.Errorf("%s: answer %d is %d bytes", c.Name, i, len(r)-2)
			}
		}
	}
}

// Read takes from each supported card exactly what the card says it holds.
func TestCardsReadBack(t *testing.T) {
	term := emv.Terminal{Amount: 100, Currency: 156, Country: 156, Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Unpredictable: [4]byte{9, 8, 7, 6}}
	for _, c := range emvtest.Cards() {
		t.Run(c.Name, func(t *testing.T) {
			r, err := emv.Read(context.Background(), c, term, emv.Options{})
			if c.Name == emvtest.NameJCBOnly {
				if !errors.Is(err, emv.ErrNoApplication) {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.PAN != c.PAN || r.Expiry != c.Expiry || r.PANSeq != c.PANSeq || r.AID != c.AID ||
				r.Scheme != c.Scheme || r.Label != c.Label || r.Product != c.Product {
				t.Fatalf("read %s (label %q, product %q, seq %q), card says %s/%s/%s/%q/%q/%q",
					r, r.Label, r.Product, r.PANSeq, c.Scheme, c.AID, c.Expiry, c.Label, c.Product, c.PANSeq)
			}
		})
	}
	if emvtest.Lookup("no-such-card") != nil {
		t.Fatal("Lookup of an unknown name")
	}
}

func TestDefaultAnswers(t *testing.T) {
	c := emvtest.Lookup(emvtest.NameVisa)
	tests := []struct {
		name string
		apdu []byte
		sw   uint16
	}{
		{"short APDU", []byte{0x00, 0xA4}, 0x6700},
		{"GPO before SELECT", apdu(t, emv.GPOCommand(make([]byte, 33))), 0x6985},
		{"READ RECORD before SELECT", apdu(t, emv.ReadRecordCommand(3, 1)), 0x6A83},
		{"unknown application", apdu(t, emv.SelectCommand(h(t, "A0000000651010"))), 0x6A82},
		{"GET RESPONSE with nothing pending", apdu(t, emv.GetResponseCommand(16)), 0x6985},
		{"unknown class", []byte{0x94, 0xB2, 0x01, 0x0C, 0x00}, 0x6E00},
		{"unknown instruction", []byte{0x00, 0x84, 0x00, 0x00, 0x08}, 0x6D00},
	}
	for _, tc := range tests {
		if got := sw(c.Respond(tc.apdu)); got != tc.sw {
			t.Errorf("%s: %04X, want %04X", tc.name, got, tc.sw)
		}
	}
	// Selected, with the wrong PDOL length.
	c.Respond(apdu(t, emv.SelectCommand(h(t, emvtest.AIDVisa))))
	if got := sw(c.Respond(apdu(t, emv.GPOCommand(make([]byte, 2))))); got != 0x6700 {
		t.Errorf("GPO with wrong PDOL length: %04X", got)
	}
	if got := c.Respond(apdu(t, emv.ReadRecordCommand(3, 9))); sw(got) != 0x6A83 {
		t.Errorf("missing record: % X", got)
	}
}

// The card remembers which application is selected: the dual card's two
// applications both have an SFI 3 record 1, with different content.
func TestSelectionState(t *testing.T) {
	c := emvtest.Lookup(emvtest.NameDual)
	rr := apdu(t, emv.ReadRecordCommand(3, 1))
	c.Respond(apdu(t, emv.SelectCommand(h(t, emvtest.AIDVisa))))
	visa := c.Respond(rr)
	c.Respond(apdu(t, emv.SelectCommand(h(t, emvtest.AIDUnionPayCredit))))
	up := c.Respond(rr)
	if sw(visa) != 0x9000 || sw(up) != 0x9000 || bytes.Equal(visa, up) {
		t.Fatalf("records: visa % X, unionpay % X", visa, up)
	}
	c.Respond(apdu(t, emv.SelectCommand(h(t, "A0000000651010"))))
	if got := sw(c.Respond(rr)); got != 0x6A83 {
		t.Fatalf("after a failed SELECT: %04X", got)
	}
	c.Respond(apdu(t, emv.SelectCommand(h(t, emvtest.AIDVisa))))
	c.Reset()
	if got := sw(c.Respond(rr)); got != 0x6A83 {
		t.Fatalf("after Reset: %04X", got)
	}
}

func TestCopiesAreIndependent(t *testing.T) {
	a, b := emvtest.Visa(), emvtest.Visa()
	a.Script[0].Response[0] ^= 0xFF
	a.Script = nil
	if sw(b.Respond(apdu(t, emv.SelectCommand(emv.PPSE)))) != 0x9000 {
		t.Fatal("changing one copy changed another")
	}
}

func TestTransceiveContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := emvtest.UnionPay().Transceive(ctx, apdu(t, emv.SelectCommand(emv.PPSE))); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := emvtest.Mastercard()
	sel := apdu(t, emv.SelectCommand(h(t, emvtest.AIDMastercard)))
	rr := apdu(t, emv.ReadRecordCommand(1, 1))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				c.Respond(sel)
				c.Respond(rr)
				c.Reset()
			}
		}()
	}
	wg.Wait()
}
