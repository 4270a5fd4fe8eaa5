package iso8583

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/posagent/posagent/core/card"
)

// DumpOptions control Spec.Dump and Spec.DumpJSON.
type DumpOptions struct {
	// Unmasked shows PAN, track data, PIN block and sensitive ICC tags in
	// full. For a technician on the device only; never for logs.
	Unmasked bool
}

// DumpField is one field of a dump.
type DumpField struct {
	Field  int    `json:"field"`
	Name   string `json:"name"`
	Format string `json:"format"`
	Length int    `json:"length"`
	// Value is text for n/z/a/an/ans fields and upper-case hex for b
	// fields (Hex true).
	Value  string `json:"value"`
	Hex    bool   `json:"hex,omitempty"`
	Masked bool   `json:"masked,omitempty"`
}

// DumpMessage is the JSON form of a dump.
type DumpMessage struct {
	Spec   string      `json:"spec"`
	MTI    string      `json:"mti"`
	Fields []DumpField `json:"fields"`
}

// Describe returns the dump of m as data. Fields the spec lacks are listed
// as binary, named "unknown".
func (s *Spec) Describe(m *Message, opts DumpOptions) DumpMessage {
	d := DumpMessage{Spec: s.Name, MTI: m.MTI, Fields: []DumpField{}}
	for _, n := range m.Numbers() {
		v := m.Fields[n]
		f := s.fieldSpec(n)
		df := DumpField{Field: n, Length: len(v)}
		if f == nil {
			df.Name, df.Format, df.Hex = "unknown", "?", true
			df.Value = strings.ToUpper(hex.EncodeToString(v))
			d.Fields = append(d.Fields, df)
			continue
		}
		df.Name, df.Format = f.Name, f.Format()
		df.Value, df.Hex, df.Masked = render(f, v, opts)
		d.Fields = append(d.Fields, df)
	}
	return d
}

func render(f *FieldSpec, v []byte, opts DumpOptions) (val string, isHex, masked bool) {
	isHex = f.Content == B
	mask := f.Mask
	if opts.Unmasked {
		mask = MaskNone
	}
	switch mask {
	case MaskPAN:
		return card.Mask(string(v)), isHex, true
	case MaskTrack:
		return maskTrack(string(v)), isHex, true
	case MaskSecret:
		return strings.Repeat("*", 2*len(v)), isHex, true
	case MaskTLV:
		return maskTLV(v), true, true
	}
	if isHex {
		return strings.ToUpper(hex.EncodeToString(v)), true, false
	}
	return string(v), false, false
}

// maskTrack masks the PAN part of track data with card.Mask and replaces
// everything from the separator on with '*'.
func maskTrack(t string) string {
	i := strings.IndexAny(t, "=Dd")
	if i < 0 {
		return strings.Repeat("*", len(t))
	}
	return card.Mask(t[:i]) + "=" + strings.Repeat("*", len(t)-i-1)
}

// sensitiveTags carry cardholder data inside ICC data (EMV Book 3 annex A):
// PAN, track 2 equivalent, track 1 equivalent, cardholder name, track 1 and
// track 2 discretionary data, Mastercard track 2 data.
var sensitiveTags = map[string]bool{"5A": true, "57": true, "56": true, "5F20": true, "9F1F": true, "9F20": true, "9F6B": true}

// maskTLV renders BER-TLV data as hex with the values of sensitiveTags
// replaced by '*'. Data that does not parse is masked entirely.
func maskTLV(v []byte) string {
	var sb strings.Builder
	if !maskTLVInto(&sb, v, 0) {
		return strings.Repeat("*", 2*len(v))
	}
	return sb.String()
}

func maskTLVInto(sb *strings.Builder, v []byte, depth int) bool {
	if depth > 8 {
		return false
	}
	const hx = "0123456789ABCDEF"
	put := func(b []byte) {
		for _, c := range b {
			sb.WriteByte(hx[c>>4])
			sb.WriteByte(hx[c&0x0F])
		}
	}
	for i := 0; i < len(v); {
		if v[i] == 0x00 || v[i] == 0xFF { // inter-TLV padding (EMV Book 3 5.2)
			put(v[i : i+1])
			i++
			continue
		}
		ts := i
		constructed := v[i]&0x20 != 0
		if v[i]&0x1F == 0x1F {
			i++
			for i < len(v) && v[i]&0x80 != 0 {
				i++
			}
			if i-ts > 3 {
				return false
			}
		}
		i++
		if i > len(v) {
			return false
		}
		tag := v[ts:i]
		if i >= len(v) {
			return false
		}
		ls := i
		n := int(v[i])
		i++
		if n&0x80 != 0 {
			k := n & 0x7F
			if k < 1 || k > 2 || i+k > len(v) {
				return false
			}
			n = 0
			for _, c := range v[i : i+k] {
				n = n<<8 | int(c)
			}
			i += k
		}
		if n > len(v)-i {
			return false
		}
		val := v[i : i+n]
		put(tag)
		put(v[ls:i])
		switch {
		case sensitiveTags[strings.ToUpper(hex.EncodeToString(tag))]:
			sb.WriteString(strings.Repeat("*", 2*n))
		case constructed:
			if !maskTLVInto(sb, val, depth+1) {
				return false
			}
		default:
			put(val)
		}
		i += n
	}
	return true
}

// Dump renders m as text, one field per line, for people: this is what
// `posagent iso8583 decode` prints. Sensitive fields are masked unless
// opts.Unmasked.
func (s *Spec) Dump(m *Message, opts DumpOptions) string {
	d := s.Describe(m, opts)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s MTI %s\n", d.Spec, d.MTI)
	for _, f := range d.Fields {
		val := f.Value
		if fs := s.fieldSpec(f.Field); fs != nil && !f.Hex && (fs.Content == A || fs.Content == AN || fs.Content == ANS) {
			val = strconv.Quote(val) // shows padding spaces and escapes control bytes
		}
		note := ""
		if f.Masked {
			note = " (masked)"
		}
		fmt.Fprintf(&sb, "  %3d %-26s %-16s %4d  %s%s\n", f.Field, f.Name, f.Format, f.Length, val, note)
	}
	return sb.String()
}

func (s *Spec) fieldSpec(n int) *FieldSpec {
	if n < 0 || n > 128 {
		return nil
	}
	return s.Fields[n]
}

// DumpJSON is Dump as JSON (a DumpMessage).
func (s *Spec) DumpJSON(m *Message, opts DumpOptions) ([]byte, error) {
	return json.Marshal(s.Describe(m, opts))
}
