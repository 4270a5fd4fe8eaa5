package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/posagent/posagent/core/emv"
	"github.com/posagent/posagent/core/iso8583"
)

// decodeHex reads hex from the argument, or from stdin when it is "-",
// ignoring white space.
func decodeHex(arg string) ([]byte, error) {
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		if err != nil {
			return nil, err
		}
		arg = string(b)
	}
	arg = strings.Join(strings.Fields(arg), "")
	b, err := hex.DecodeString(arg)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	return b, nil
}

// cmdISO8583: posagent iso8583 decode [--spec FILE] [--frame] [--json]
// [--unmasked] HEX. HEX is a message body (MTI, bitmap, fields) or, with
// --frame, a whole wire frame (length, TPDU, header, body).
func cmdISO8583(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "decode" {
		return usagef("iso8583: want decode [--spec FILE] [--frame] [--json] [--unmasked] HEX")
	}
	fs := newFlags("iso8583 decode")
	specFile := fs.String("spec", "", "field layout as JSON (default: the UnionPay terminal dialect)")
	frame := fs.Bool("frame", false, "HEX is a whole frame: 2-byte length, TPDU, header, body")
	jsonOut := fs.Bool("json", false, "print JSON")
	unmasked := fs.Bool("unmasked", false, "show PAN and track data in full (for a test card only)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("iso8583 decode: want one HEX argument (or - for stdin)")
	}
	spec := iso8583.UnionPay
	if *specFile != "" {
		f, err := os.Open(*specFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if spec, err = iso8583.LoadSpec(f); err != nil {
			return fmt.Errorf("--spec %s: %w", *specFile, err)
		}
	}
	b, err := decodeHex(fs.Arg(0))
	if err != nil {
		return err
	}
	if *frame {
		f, err := iso8583.ParseFrame(b)
		if err != nil {
			return err
		}
		if !*jsonOut {
			fmt.Fprintf(stdout, "frame: %s\n", f.String())
		}
		b = f.Body
	}
	m, err := spec.Unpack(b)
	if err != nil {
		return err
	}
	opts := iso8583.DumpOptions{Unmasked: *unmasked}
	if *jsonOut {
		out, err := spec.DumpJSON(m, opts)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(out))
		return err
	}
	_, err = fmt.Fprint(stdout, spec.Dump(m, opts))
	return err
}

// cmdTLV: posagent tlv decode [--json] [--unmasked] HEX — a BER-TLV tree
// (EMV data, field 55) with tag names.
func cmdTLV(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "decode" {
		return usagef("tlv: want decode [--json] [--unmasked] HEX")
	}
	fs := newFlags("tlv decode")
	jsonOut := fs.Bool("json", false, "print JSON")
	unmasked := fs.Bool("unmasked", false, "show PAN and track data in full (for a test card only)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("tlv decode: want one HEX argument (or - for stdin)")
	}
	b, err := decodeHex(fs.Arg(0))
	if err != nil {
		return err
	}
	tlvs, err := emv.Parse(b)
	if err != nil {
		return err
	}
	opts := emv.DumpOptions{Unmasked: *unmasked}
	if *jsonOut {
		out, err := emv.DumpJSON(tlvs, opts)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(out))
		return err
	}
	_, err = fmt.Fprint(stdout, emv.Dump(tlvs, opts))
	return err
}
