package iso8583

import (
	"bytes"
	"maps"
	"slices"
)

// Message is one ISO 8583 message: its MTI and its field values, keyed by
// field number (2..128). Values are the logical content (see the package
// documentation); the bitmap is derived from which fields are present.
//
// A Message handed to a transport or journal should be treated as immutable:
// Clone it before changing it.
type Message struct {
	MTI    string
	Fields map[int][]byte
}

// NewMessage returns an empty message with the given MTI.
func NewMessage(mti string) *Message {
	return &Message{MTI: mti, Fields: make(map[int][]byte, 16)}
}

// Set stores v as the value of field n.
func (m *Message) Set(n int, v string) { m.SetBytes(n, []byte(v)) }

// SetBytes stores a copy of v as the value of field n (binary fields and
// anything else). A nil v stores an empty, present value.
func (m *Message) SetBytes(n int, v []byte) {
	if m.Fields == nil {
		m.Fields = make(map[int][]byte, 16)
	}
	c := make([]byte, len(v))
	copy(c, v)
	m.Fields[n] = c
}

// Get returns the value of field n as a string, and whether it is present.
func (m *Message) Get(n int) (string, bool) {
	v, ok := m.Fields[n]
	return string(v), ok
}

// GetBytes returns the value of field n, and whether it is present. The
// slice is the message's own; do not modify it.
func (m *Message) GetBytes(n int) ([]byte, bool) {
	v, ok := m.Fields[n]
	return v, ok
}

// Has reports whether field n is present.
func (m *Message) Has(n int) bool {
	_, ok := m.Fields[n]
	return ok
}

// Unset removes field n.
func (m *Message) Unset(n int) { delete(m.Fields, n) }

// Numbers returns the present field numbers in ascending order.
func (m *Message) Numbers() []int {
	return slices.Sorted(maps.Keys(m.Fields))
}

// Clone returns a deep copy of m.
func (m *Message) Clone() *Message {
	c := &Message{MTI: m.MTI, Fields: make(map[int][]byte, len(m.Fields))}
	for k, v := range m.Fields {
		c.Fields[k] = bytes.Clone(v)
		if c.Fields[k] == nil {
			c.Fields[k] = []byte{}
		}
	}
	return c
}

// Equal reports whether m and o have the same MTI and the same fields with
// the same values.
func (m *Message) Equal(o *Message) bool {
	if m.MTI != o.MTI || len(m.Fields) != len(o.Fields) {
		return false
	}
	for k, v := range m.Fields {
		w, ok := o.Fields[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}
