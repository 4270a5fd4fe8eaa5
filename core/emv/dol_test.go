package emv

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestParseDOL(t *testing.T) {
	// The usual qVSDC PDOL (EMV Book C-3).
	raw := mustHex(t, "9F6604 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704")
	d, err := ParseDOL(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := DOL{{0x9F66, 4}, {0x9F02, 6}, {0x9F03, 6}, {0x9F1A, 2}, {0x95, 5}, {0x5F2A, 2}, {0x9A, 3}, {0x9C, 1}, {0x9F37, 4}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("ParseDOL = %v, want %v", d, want)
	}
	if d.Len() != 33 {
		t.Fatalf("Len = %d, want 33", d.Len())
	}
	if !bytes.Equal(d.Bytes(), raw) {
		t.Fatalf("Bytes = %X, want %X", d.Bytes(), raw)
	}
	if d, err := ParseDOL(nil); err != nil || len(d) != 0 {
		t.Fatalf("empty DOL: %v %v", d, err)
	}
}

func TestParseDOLErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		err    error
		offset int
	}{
		{"no length", "9F6604 9F02", ErrTruncated, 3},
		{"cut tag", "9F6604 9F", ErrTruncated, 3},
		{"zero byte", "9F6604 00 04", ErrBadTag, 3},
		{"long tag", "9F6604 DF81828304 01", ErrBadTag, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDOL(mustHex(t, tc.in))
			var pe *ParseError
			if !errors.Is(err, tc.err) || !errors.As(err, &pe) || pe.Offset != tc.offset {
				t.Fatalf("err = %v, want %v at offset %d", err, tc.err, tc.offset)
			}
		})
	}
}

func TestDOLBuildRules(t *testing.T) {
	values := map[Tag][]byte{
		TagAmount:        mustHex(t, "000000012345"),
		TagCountry:       mustHex(t, "0156"),
		TagPAN:           mustHex(t, "4761730000000011"),
		TagUnpredictable: mustHex(t, "1A2B3C4D"),
		TagLabel:         []byte("VISA"),
		0x70:             {1, 2, 3},
	}
	tests := []struct {
		name string
		dol  DOL
		want string
	}{
		// Exact length: copied.
		{"exact", DOL{{TagAmount, 6}}, "000000012345"},
		// n, longer in the DOL: leading zeros.
		{"n padded left", DOL{{TagAmount, 8}}, "0000000000012345"},
		// n, shorter in the DOL: leftmost bytes dropped.
		{"n truncated left", DOL{{TagAmount, 4}}, "00012345"},
		// cn (PAN), longer: trailing FF.
		{"cn padded right with F", DOL{{TagPAN, 10}}, "4761730000000011FFFF"},
		// cn, shorter: rightmost bytes dropped.
		{"cn truncated right", DOL{{TagPAN, 4}}, "47617300"},
		// b, longer: trailing zeros; shorter: rightmost dropped.
		{"b padded right", DOL{{TagUnpredictable, 6}}, "1A2B3C4D0000"},
		{"b truncated right", DOL{{TagUnpredictable, 2}}, "1A2B"},
		// ans, longer: trailing zeros.
		{"ans padded right", DOL{{TagLabel, 6}}, "564953410000"},
		// Unknown to the terminal: zeros.
		{"unknown zero-filled", DOL{{0x9F7A, 1}, {0xDF60, 3}}, "00000000"},
		// Constructed: zeros even when a value exists.
		{"constructed zero-filled", DOL{{0x70, 3}}, "000000"},
		{"zero length entry", DOL{{TagAmount, 0}, {TagCountry, 2}}, "0156"},
		{"sequence", DOL{{TagCountry, 2}, {0x9F7A, 1}, {TagAmount, 6}}, "0156" + "00" + "000000012345"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.dol.Build(values)
			if !bytes.Equal(got, mustHex(t, tc.want)) {
				t.Fatalf("Build = %X, want %s", got, tc.want)
			}
			if len(got) != tc.dol.Len() {
				t.Fatalf("len %d != Len() %d", len(got), tc.dol.Len())
			}
		})
	}
}
