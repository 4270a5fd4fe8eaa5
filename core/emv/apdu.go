package emv

import (
	"context"
	"errors"
	"fmt"
)

// Command is a command APDU (ISO/IEC 7816-4 section 5.1), short form only,
// as EMV contactless uses.
type Command struct {
	CLA, INS, P1, P2 byte
	// Data is the command data; Lc is its length (0..255).
	Data []byte
	// Le is the maximum response length expected: 0 means no Le byte,
	// 1..255 that value, 256 is encoded as Le = 00.
	Le int
}

// Bytes encodes the APDU: CLA INS P1 P2 [Lc Data] [Le]. It fails with
// ErrBadCommand when Data is longer than 255 bytes or Le is outside 0..256.
func (c Command) Bytes() ([]byte, error) {
	if len(c.Data) > 255 {
		return nil, fmt.Errorf("%w: %s data is %d bytes, short APDUs carry at most 255", ErrBadCommand, c.Name(), len(c.Data))
	}
	if c.Le < 0 || c.Le > 256 {
		return nil, fmt.Errorf("%w: %s Le %d outside 0..256", ErrBadCommand, c.Name(), c.Le)
	}
	b := make([]byte, 0, 6+len(c.Data))
	b = append(b, c.CLA, c.INS, c.P1, c.P2)
	if len(c.Data) > 0 {
		b = append(b, byte(len(c.Data)))
		b = append(b, c.Data...)
	}
	if c.Le > 0 {
		b = append(b, byte(c.Le)) // 256 wraps to 00
	}
	return b, nil
}

// Name names the command for errors and logs ("SELECT", "READ RECORD").
func (c Command) Name() string {
	switch {
	case c.CLA == 0x00 && c.INS == 0xA4:
		return "SELECT"
	case c.CLA == 0x80 && c.INS == 0xA8:
		return "GET PROCESSING OPTIONS"
	case c.CLA == 0x00 && c.INS == 0xB2:
		return "READ RECORD"
	case c.CLA == 0x80 && c.INS == 0xAE:
		return "GENERATE AC"
	case c.CLA == 0x00 && c.INS == 0xC0:
		return "GET RESPONSE"
	}
	return fmt.Sprintf("command %02X %02X", c.CLA, c.INS)
}

// PPSE is the name of the contactless Proximity Payment System
// Environment selected first (EMV Book B section 3.3).
var PPSE = []byte("2PAY.SYS.DDF01")

// SelectCommand is SELECT by name, first or only occurrence:
// 00 A4 04 00 Lc name 00.
func SelectCommand(name []byte) Command {
	return Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: name, Le: 256}
}

// GPOCommand is GET PROCESSING OPTIONS with the PDOL data wrapped in the
// command template 83: 80 A8 00 00 Lc 83 len data 00.
func GPOCommand(pdolData []byte) Command {
	data := []byte{byte(TagCommand)}
	data = appendLength(data, len(pdolData))
	data = append(data, pdolData...)
	return Command{CLA: 0x80, INS: 0xA8, P1: 0x00, P2: 0x00, Data: data, Le: 256}
}

// ReadRecordCommand is READ RECORD of record rec in short file sfi:
// 00 B2 rec (sfi<<3)|4 00.
func ReadRecordCommand(sfi, rec byte) Command {
	return Command{CLA: 0x00, INS: 0xB2, P1: rec, P2: sfi<<3 | 0x04, Le: 256}
}

// Reference control parameters for GENERATE AC P1 (EMV Book 3 Table 12).
const (
	RefAAC  byte = 0x00 // ask for an AAC (decline)
	RefTC   byte = 0x40 // ask for a TC (offline approval)
	RefARQC byte = 0x80 // ask for an ARQC (go online)
	RefCDA  byte = 0x10 // CDA signature requested
)

// GenerateACCommand is GENERATE AC: 80 AE p1 00 Lc data 00, where p1 is
// one of RefAAC, RefTC, RefARQC (optionally | RefCDA) and data the CDOL
// data.
func GenerateACCommand(p1 byte, cdolData []byte) Command {
	return Command{CLA: 0x80, INS: 0xAE, P1: p1, P2: 0x00, Data: cdolData, Le: 256}
}

// GetResponseCommand is GET RESPONSE for n bytes (1..256): 00 C0 00 00 Le.
func GetResponseCommand(n int) Command {
	return Command{CLA: 0x00, INS: 0xC0, P1: 0x00, P2: 0x00, Le: n}
}

// Response is a response APDU: data and the status word SW1 SW2.
type Response struct {
	Data []byte
	SW   uint16
}

// OK reports whether the status word is 9000.
func (r Response) OK() bool { return r.SW == 0x9000 }

// ParseResponse splits a response APDU into data and status word. The
// data is copied. A response shorter than the 2 status bytes wraps
// ErrMalformed.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("%w: response APDU is %d bytes, need at least SW1 SW2", ErrMalformed, len(b))
	}
	n := len(b) - 2
	return Response{
		Data: append([]byte(nil), b[:n]...),
		SW:   uint16(b[n])<<8 | uint16(b[n+1]),
	}, nil
}

// Limits for Transceive's status-word handling, so that a card answering
// 61xx or 6Cxx forever cannot hold the reader.
const (
	// MaxGetResponse is how many GET RESPONSE commands one Transceive
	// sends at most after 61xx.
	MaxGetResponse = 16
	// MaxResponse is the largest response (data bytes) Transceive
	// assembles from GET RESPONSE chaining.
	MaxResponse = 64 << 10
)

// Card is the contactless card in the field, as a reader driver presents
// it: one command APDU in, one response APDU (data + SW1 SW2) out.
type Card interface {
	// Transceive sends apdu and returns the card's complete response
	// including the status word. It must return by ctx's deadline. When
	// the card has left the field it returns an error wrapping
	// ErrCardGone. The returned slice may be reused by the next call.
	Transceive(ctx context.Context, apdu []byte) ([]byte, error)
}

// Transceive sends cmd and returns the response data for status 9000,
// handling the transport-level status words on the way:
//
//   - 61xx: the card has xx more bytes (00 = 256); GET RESPONSE
//     (00 C0 00 00 xx) is sent and the data appended, at most
//     MaxGetResponse times;
//   - 6Cxx: wrong Le; the same command is sent again once with Le = xx.
//
// Any other status returns the data received so far and an SWError. A
// transport error is returned as is (wrapped with the command name).
func Transceive(ctx context.Context, c Card, cmd Command) ([]byte, error) {
	name := cmd.Name()
	apdu, err := cmd.Bytes()
	if err != nil {
		return nil, err
	}
	resp, err := exchange(ctx, c, name, apdu)
	if err != nil {
		return nil, err
	}
	if resp.SW>>8 == 0x6C {
		retry := cmd
		retry.Le = leFromSW2(resp.SW)
		if apdu, err = retry.Bytes(); err != nil {
			return nil, err
		}
		if resp, err = exchange(ctx, c, name, apdu); err != nil {
			return nil, err
		}
	}
	data := resp.Data
	for n := 0; resp.SW>>8 == 0x61; n++ {
		if n >= MaxGetResponse {
			return nil, fmt.Errorf("%w: %s: card still has data after %d GET RESPONSE commands", ErrMalformed, name, MaxGetResponse)
		}
		gr := GetResponseCommand(leFromSW2(resp.SW))
		apdu, _ := gr.Bytes() // a valid Le 1..256 always encodes
		if resp, err = exchange(ctx, c, name+" / GET RESPONSE", apdu); err != nil {
			return nil, err
		}
		if resp.SW>>8 == 0x6C {
			gr.Le = leFromSW2(resp.SW)
			apdu, _ = gr.Bytes()
			if resp, err = exchange(ctx, c, name+" / GET RESPONSE", apdu); err != nil {
				return nil, err
			}
		}
		data = append(data, resp.Data...)
		if len(data) > MaxResponse {
			return nil, fmt.Errorf("%w: %s: chained response exceeds %d bytes", ErrMalformed, name, MaxResponse)
		}
	}
	if resp.SW != 0x9000 {
		return data, fmt.Errorf("%s: %w", name, SWError{SW: resp.SW})
	}
	return data, nil
}

// leFromSW2 is the Le a 61xx/6Cxx status asks for: SW2, 00 meaning 256.
func leFromSW2(sw uint16) int {
	if n := int(sw & 0xFF); n > 0 {
		return n
	}
	return 256
}

// exchange is one APDU round trip with the context checked first.
func exchange(ctx context.Context, c Card, name string, apdu []byte) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("%s: %w", name, err)
	}
	raw, err := c.Transceive(ctx, apdu)
	if err != nil {
		return Response{}, fmt.Errorf("%s: %w", name, err)
	}
	resp, err := ParseResponse(raw)
	if err != nil {
		return Response{}, fmt.Errorf("%s: %w", name, err)
	}
	return resp, nil
}

// swOf returns the status word carried by err, if it is an SWError.
func swOf(err error) (uint16, bool) {
	var sw SWError
	if errors.As(err, &sw) {
		return sw.SW, true
	}
	return 0, false
}
