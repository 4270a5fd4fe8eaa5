package emv

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCommandGolden(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		// protocols.md section 7: 00 A4 04 00 0E "2PAY.SYS.DDF01" 00.
		{"SELECT PPSE", SelectCommand(PPSE), "00A404000E 325041592E5359532E4444463031 00"},
		{"SELECT AID", SelectCommand(mustHex(t, "A0000000031010")), "00A4040007 A0000000031010 00"},
		{"GPO empty PDOL", GPOCommand(nil), "80A8000002 8300 00"},
		{"GPO", GPOCommand(mustHex(t, "22804000")), "80A8000006 8304 22804000 00"},
		{"READ RECORD SFI 1 rec 1", ReadRecordCommand(1, 1), "00B2010C00"},
		{"READ RECORD SFI 3 rec 2", ReadRecordCommand(3, 2), "00B2021C00"},
		{"GENERATE AC ARQC", GenerateACCommand(RefARQC, mustHex(t, "0102")), "80AE800002 0102 00"},
		{"GET RESPONSE 256", GetResponseCommand(256), "00C0000000"},
		{"GET RESPONSE 0x1C", GetResponseCommand(0x1C), "00C000001C"},
		{"no data no Le", Command{CLA: 0x00, INS: 0x70}, "00700000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cmd.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, mustHex(t, tc.want)) {
				t.Fatalf("Bytes = %X, want %s", got, strings.ReplaceAll(tc.want, " ", ""))
			}
		})
	}
	// A PDOL data block over 127 bytes uses the 81 length form in 83.
	big, err := GPOCommand(make([]byte, 200)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(big, mustHex(t, "80A80000CB 8381C8")) || len(big) != 5+203+1 {
		t.Fatalf("big GPO = % X...", big[:8])
	}
}

func TestCommandErrors(t *testing.T) {
	for _, c := range []Command{
		{CLA: 0x80, INS: 0xAE, Data: make([]byte, 256)},
		{CLA: 0x00, INS: 0xB2, Le: 257},
		{CLA: 0x00, INS: 0xB2, Le: -1},
	} {
		if _, err := c.Bytes(); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: err = %v, want ErrBadCommand", c.Name(), err)
		}
	}
	if _, err := GPOCommand(make([]byte, 253)).Bytes(); !errors.Is(err, ErrBadCommand) {
		t.Errorf("GPO with 253 bytes of PDOL data: err = %v", err)
	}
}

func TestParseResponse(t *testing.T) {
	r, err := ParseResponse(mustHex(t, "5A01009000"))
	if err != nil || r.SW != 0x9000 || !r.OK() || !bytes.Equal(r.Data, mustHex(t, "5A0100")) {
		t.Fatalf("ParseResponse = %+v, %v", r, err)
	}
	r, err = ParseResponse(mustHex(t, "6A82"))
	if err != nil || r.SW != 0x6A82 || r.OK() || len(r.Data) != 0 {
		t.Fatalf("ParseResponse(6A82) = %+v, %v", r, err)
	}
	for _, in := range [][]byte{nil, {0x90}} {
		if _, err := ParseResponse(in); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseResponse(% X) err = %v", in, err)
		}
	}
}

func TestSWError(t *testing.T) {
	err := error(SWError{SW: 0x6A82})
	if !strings.Contains(err.Error(), "6A82") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("message %q", err)
	}
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, SWError{SW: 0x6A82}) || errors.Is(wrapped, SWError{SW: 0x6985}) {
		t.Fatal("errors.Is on SWError values")
	}
	for sw, want := range map[uint16]string{
		0x6985: "conditions of use not satisfied",
		0x6A83: "record not found",
		0x6110: "16 more bytes",
		0x6C20: "exact length 32",
		0x63C2: "2 tries left",
		0x6F12: "unknown status",
	} {
		if got := (SWError{SW: sw}).Error(); !strings.Contains(got, want) {
			t.Errorf("SWError %04X = %q, want it to contain %q", sw, got, want)
		}
	}
}

// scriptCard answers APDUs from a list of responses in order and records
// the commands; past the end it returns the last response again.
type scriptCard struct {
	resp [][]byte
	sent [][]byte
	err  error
}

func (s *scriptCard) Transceive(_ context.Context, apdu []byte) ([]byte, error) {
	s.sent = append(s.sent, append([]byte(nil), apdu...))
	if s.err != nil {
		return nil, s.err
	}
	i := len(s.sent) - 1
	if i >= len(s.resp) {
		i = len(s.resp) - 1
	}
	return s.resp[i], nil
}

func TestTransceiveStatusWords(t *testing.T) {
	ctx := context.Background()
	cmd := SelectCommand(PPSE)

	t.Run("9000", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{mustHex(t, "0102 9000")}}
		data, err := Transceive(ctx, c, cmd)
		if err != nil || !bytes.Equal(data, mustHex(t, "0102")) || len(c.sent) != 1 {
			t.Fatalf("data %X err %v sent %d", data, err, len(c.sent))
		}
	})
	t.Run("61xx chained twice", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{
			mustHex(t, "6103"),
			mustHex(t, "010203 6102"),
			mustHex(t, "0405 9000"),
		}}
		data, err := Transceive(ctx, c, cmd)
		if err != nil || !bytes.Equal(data, mustHex(t, "0102030405")) {
			t.Fatalf("data %X err %v", data, err)
		}
		if !bytes.Equal(c.sent[1], mustHex(t, "00C0000003")) || !bytes.Equal(c.sent[2], mustHex(t, "00C0000002")) {
			t.Fatalf("GET RESPONSE commands % X, % X", c.sent[1], c.sent[2])
		}
	})
	t.Run("6100 means 256", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{mustHex(t, "6100"), mustHex(t, "AA 9000")}}
		if _, err := Transceive(ctx, c, cmd); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.sent[1], mustHex(t, "00C0000000")) {
			t.Fatalf("GET RESPONSE % X", c.sent[1])
		}
	})
	t.Run("6Cxx resend with Le", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{mustHex(t, "6C05"), mustHex(t, "0102030405 9000")}}
		data, err := Transceive(ctx, c, ReadRecordCommand(1, 1))
		if err != nil || len(data) != 5 {
			t.Fatalf("data %X err %v", data, err)
		}
		if !bytes.Equal(c.sent[1], mustHex(t, "00B2010C05")) {
			t.Fatalf("resent % X, want 00B2010C05", c.sent[1])
		}
	})
	t.Run("6Cxx after GET RESPONSE", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{mustHex(t, "6110"), mustHex(t, "6C02"), mustHex(t, "0102 9000")}}
		data, err := Transceive(ctx, c, cmd)
		if err != nil || !bytes.Equal(data, mustHex(t, "0102")) || !bytes.Equal(c.sent[2], mustHex(t, "00C0000002")) {
			t.Fatalf("data %X err %v sent % X", data, err, c.sent)
		}
	})
	t.Run("6Cxx forever stops", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{mustHex(t, "6C05")}}
		_, err := Transceive(ctx, c, cmd)
		if !errors.Is(err, SWError{SW: 0x6C05}) || len(c.sent) != 2 {
			t.Fatalf("err %v after %d APDUs", err, len(c.sent))
		}
	})
	t.Run("61xx forever stops", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{mustHex(t, "AA 6101")}}
		_, err := Transceive(ctx, c, cmd)
		if !errors.Is(err, ErrMalformed) || len(c.sent) != 1+MaxGetResponse {
			t.Fatalf("err %v after %d APDUs", err, len(c.sent))
		}
	})
	t.Run("error status", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{mustHex(t, "6A82")}}
		_, err := Transceive(ctx, c, cmd)
		var sw SWError
		if !errors.As(err, &sw) || sw.SW != 0x6A82 || !strings.Contains(err.Error(), "SELECT") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("short response", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{{0x90}}}
		if _, err := Transceive(ctx, c, cmd); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("transport error", func(t *testing.T) {
		c := &scriptCard{err: ErrCardGone}
		if _, err := Transceive(ctx, c, cmd); !errors.Is(err, ErrCardGone) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("cancelled context sends nothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		c := &scriptCard{resp: [][]byte{mustHex(t, "9000")}}
		if _, err := Transceive(cctx, c, cmd); !errors.Is(err, context.Canceled) || len(c.sent) != 0 {
			t.Fatalf("err %v, sent %d", err, len(c.sent))
		}
	})
	t.Run("bad command", func(t *testing.T) {
		c := &scriptCard{resp: [][]byte{mustHex(t, "9000")}}
		if _, err := Transceive(ctx, c, Command{Data: make([]byte, 300)}); !errors.Is(err, ErrBadCommand) || len(c.sent) != 0 {
			t.Fatalf("err %v", err)
		}
	})
}
