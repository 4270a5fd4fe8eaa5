package emv

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/emv/emvtest"
)

func FuzzParseTLV(f *testing.F) {
	for _, s := range []string{
		ppseFCI,
		sensitiveRecord,
		"00 FF 5F34 01 01 00 9F36 02 0021 FF",
		"90 81 03 010203",
		"90 82 0002 0102",
		"90 83 000001 01",
		"70 80 0000",
		"DF 81 82 83 04 00",
		"9F",
		"6F 06 A5 04 50 05 4142",
		"BF0C 03 61 01 4F",
	} {
		f.Add(mustHex(f, s))
	}
	for _, c := range emvtest.Cards() {
		for _, e := range c.Script {
			f.Add(e.Response[:len(e.Response)-2])
		}
		for _, a := range c.Apps {
			f.Add(a.FCI[:len(a.FCI)-2])
			for _, e := range a.Script {
				f.Add(e.Response[:len(e.Response)-2])
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tlvs, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Offset < 0 || pe.Offset > len(data) {
				t.Fatalf("offset %d outside input of %d bytes", pe.Offset, len(data))
			}
			return
		}
		enc, err := Encode(tlvs...)
		if err != nil {
			t.Fatalf("Encode of a parsed tree failed: %v", err)
		}
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of % X failed: %v", enc, err)
		}
		if !reflect.DeepEqual(tlvs, again) {
			t.Fatalf("round trip changed the tree:\n%#v\n%#v", tlvs, again)
		}
		if len(enc) > len(data) {
			t.Fatalf("encoding grew from %d to %d bytes", len(data), len(enc))
		}
		_ = Dump(tlvs, DumpOptions{})
		if _, err := DumpJSON(tlvs, DumpOptions{Unmasked: true}); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseDOL(f *testing.F) {
	for _, s := range []string{
		"9F6604 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F7A01",
		"9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F3501 9F4502 9F4C08 9F3403 9F2103 9F7C14",
		"5A0A 5700 70FF",
		"9F66",
		"00",
		"DF81828304 01",
	} {
		f.Add(mustHex(f, s))
	}
	values, err := testTerminal().Values()
	if err != nil {
		f.Fatal(err)
	}
	values[TagPAN] = mustHex(f, "4761730000000011")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDOL(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if !bytes.Equal(d.Bytes(), data) {
			t.Fatalf("Bytes = % X, want % X", d.Bytes(), data)
		}
		if got := d.Build(values); len(got) != d.Len() {
			t.Fatalf("Build gave %d bytes, Len %d", len(got), d.Len())
		}
	})
}

func FuzzParseAFL(f *testing.F) {
	f.Add(mustHex(f, "08010100 10010201 18010100"))
	f.Add(mustHex(f, "0801FF00"))
	f.Add(mustHex(f, "080101"))
	f.Fuzz(func(t *testing.T, data []byte) {
		afl, err := ParseAFL(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v", err)
			}
			return
		}
		for _, e := range afl {
			if e.SFI < 1 || e.SFI > 30 || e.First == 0 || e.Last < e.First || int(e.ODA) > int(e.Last-e.First)+1 {
				t.Fatalf("accepted bad entry %+v", e)
			}
		}
	})
}

// fuzzCard answers each APDU with the next length-prefixed chunk of its
// input (one length byte, then that many bytes), and reports the card
// gone when the input runs out.
type fuzzCard struct{ data []byte }

func (c *fuzzCard) Transceive(_ context.Context, _ []byte) ([]byte, error) {
	if len(c.data) == 0 {
		return nil, ErrCardGone
	}
	n := int(c.data[0])
	c.data = c.data[1:]
	if n > len(c.data) {
		n = len(c.data)
	}
	resp := c.data[:n]
	c.data = c.data[n:]
	return resp, nil
}

// tapeRecorder records a real card's answers as a fuzzCard input.
type tapeRecorder struct {
	card Card
	tape []byte
}

func (r *tapeRecorder) Transceive(ctx context.Context, apdu []byte) ([]byte, error) {
	resp, err := r.card.Transceive(ctx, apdu)
	if err == nil && len(resp) <= 255 {
		r.tape = append(r.tape, byte(len(resp)))
		r.tape = append(r.tape, resp...)
	}
	return resp, err
}

func FuzzReadFlow(f *testing.F) {
	// Seeds: the full answer tapes of the virtual cards.
	for _, c := range emvtest.Cards() {
		rec := &tapeRecorder{card: c}
		_, _ = Read(context.Background(), rec, testTerminal(), Options{})
		f.Add(rec.tape)
	}
	f.Add([]byte{})
	f.Add([]byte{2, 0x61, 0x00, 2, 0x61, 0x00, 2, 0x6C, 0x00})
	outcomes := []error{ErrNoApplication, ErrCardRemoved, ErrCommunication, ErrDeclinedByCard, ErrMalformed}
	f.Fuzz(func(t *testing.T, data []byte) {
		term := testTerminal()
		term.Amount = 150000 // exercise the CVM path too
		r, err := Read(context.Background(), &fuzzCard{data: data}, term, Options{})
		if r.Stats.APDUs > MaxAPDUs {
			t.Fatalf("%d APDUs, limit %d", r.Stats.APDUs, MaxAPDUs)
		}
		if err != nil {
			known := false
			for _, o := range outcomes {
				known = known || errors.Is(err, o)
			}
			if !known {
				t.Fatalf("error outside the documented outcomes: %v", err)
			}
			if !errors.Is(err, ErrDeclinedByCard) && (r.PAN != "" || r.Field55 != nil) {
				t.Fatalf("data returned with error %v", err)
			}
			return
		}
		if card.ValidPAN(r.PAN) != nil || len(r.Expiry) != 4 || r.Cryptogram == "" {
			t.Fatalf("accepted a bad result: PAN valid %v, expiry %q, cryptogram %q", card.ValidPAN(r.PAN), r.Expiry, r.Cryptogram)
		}
		if _, err := Parse(r.Field55); err != nil {
			t.Fatalf("field 55 does not parse: %v", err)
		}
	})
}
