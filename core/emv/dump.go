package emv

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/posagent/posagent/core/card"
)

// DumpOptions controls Dump and Describe.
type DumpOptions struct {
	// Unmasked shows sensitive values (PAN, track 1/2, cardholder name)
	// in clear. For a technician's bench only; never for logs.
	Unmasked bool
}

// Node is one TLV object described for people: the JSON form of Dump.
type Node struct {
	Tag    string `json:"tag"`
	Name   string `json:"name"`
	Len    int    `json:"len"`
	Format Format `json:"format,omitempty"`
	// Value is the value in hex; empty for constructed and masked objects.
	Value string `json:"value,omitempty"`
	// Text is the value decoded for reading: digits for n/cn, the string
	// for a/an/ans, a masked form for sensitive tags.
	Text     string `json:"text,omitempty"`
	Masked   bool   `json:"masked,omitempty"`
	Children []Node `json:"children,omitempty"`
}

// Describe turns a TLV tree into Nodes with tag names and decoded values.
// Sensitive tags (see TagInfo.Sensitive) are masked unless opts.Unmasked.
func Describe(tlvs []TLV, opts DumpOptions) []Node {
	var out []Node
	for _, t := range tlvs {
		info, ok := LookupTag(t.Tag)
		if !ok {
			info = TagInfo{Name: "Unknown", Format: FormatB}
			if t.Tag.Constructed() {
				info.Format = FormatTemplate
			}
		}
		n := Node{Tag: t.Tag.String(), Name: info.Name, Len: contentLen(t)}
		if t.Tag.Constructed() {
			n.Format = FormatTemplate
			n.Children = Describe(t.Children, opts)
			out = append(out, n)
			continue
		}
		n.Format = info.Format
		if info.Sensitive && !opts.Unmasked {
			n.Text = maskValue(t.Tag, t.Value)
			n.Masked = true
		} else {
			n.Value = strings.ToUpper(hex.EncodeToString(t.Value))
			n.Text = textValue(t.Tag, info.Format, t.Value)
		}
		out = append(out, n)
	}
	return out
}

// Dump renders a TLV tree as indented text, one object per line, with tag
// names and decoded values; what `posagent tlv decode HEX` prints.
// Sensitive values are masked unless opts.Unmasked.
func Dump(tlvs []TLV, opts DumpOptions) string {
	var sb strings.Builder
	writeNodes(&sb, Describe(tlvs, opts), 0)
	return sb.String()
}

// DumpJSON is the JSON form of Dump: an indented array of Nodes.
func DumpJSON(tlvs []TLV, opts DumpOptions) ([]byte, error) {
	nodes := Describe(tlvs, opts)
	if nodes == nil {
		nodes = []Node{}
	}
	return json.MarshalIndent(nodes, "", "  ")
}

func writeNodes(sb *strings.Builder, nodes []Node, depth int) {
	for _, n := range nodes {
		sb.WriteString(strings.Repeat("  ", depth))
		fmt.Fprintf(sb, "%s %s [%d]", n.Tag, n.Name, n.Len)
		switch {
		case n.Format == FormatTemplate:
			sb.WriteByte('\n')
			writeNodes(sb, n.Children, depth+1)
			continue
		case n.Masked:
			fmt.Fprintf(sb, ": %s (masked)", n.Text)
		default:
			sb.WriteString(": ")
			sb.WriteString(n.Value)
			if n.Text != "" && n.Text != n.Value {
				fmt.Fprintf(sb, " (%s)", n.Text)
			}
		}
		sb.WriteByte('\n')
	}
}

// contentLen is the encoded length of t's value (for constructed objects,
// of its encoded children).
func contentLen(t TLV) int {
	if !t.Tag.Constructed() {
		return len(t.Value)
	}
	n := 0
	for _, c := range t.Children {
		l := contentLen(c)
		n += len(c.Tag.Bytes()) + len(appendLength(nil, l)) + l
	}
	return n
}

// textValue decodes v for reading according to its format.
func textValue(tag Tag, f Format, v []byte) string {
	switch f {
	case FormatN:
		s := strings.ToUpper(hex.EncodeToString(v))
		if isDigits(s) {
			return s
		}
	case FormatCN:
		s := strings.TrimRight(strings.ToUpper(hex.EncodeToString(v)), "F")
		if isDigits(s) {
			return s
		}
	case FormatA, FormatAN, FormatANS:
		if printable(v) {
			return fmt.Sprintf("%q", string(v))
		}
	case FormatB:
		switch tag {
		case TagCID:
			if len(v) == 1 {
				return cidName(v[0])
			}
		case TagDFName, TagAID, TagTerminalAID:
			if len(v) >= 4 && printable(v) {
				return fmt.Sprintf("%q", string(v))
			}
		}
	}
	return ""
}

// cidName names the cryptogram type in a CID byte (EMV Book 3 Table 15).
func cidName(cid byte) string {
	switch cid & 0xC0 {
	case 0x00:
		return "AAC"
	case 0x40:
		return "TC"
	case 0x80:
		return "ARQC"
	}
	return "RFU"
}

// maskValue shows a sensitive value without the data: a PAN as first 6 /
// last 4, track 2 as masked PAN + separator + stars, anything else as its
// length only.
func maskValue(tag Tag, v []byte) string {
	switch tag {
	case TagPAN:
		pan := strings.TrimRight(strings.ToUpper(hex.EncodeToString(v)), "F")
		if isDigits(pan) {
			return card.Mask(pan)
		}
	case TagTrack2, TagTrack2MC:
		t2 := strings.TrimRight(strings.ToUpper(hex.EncodeToString(v)), "F")
		if i := strings.IndexByte(t2, 'D'); i > 0 && isDigits(t2[:i]) {
			return card.Mask(t2[:i]) + "D" + strings.Repeat("*", len(t2)-i-1)
		}
	}
	return fmt.Sprintf("<%d bytes>", len(v))
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func printable(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}
