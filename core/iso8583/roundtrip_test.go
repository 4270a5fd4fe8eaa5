package iso8583

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomValue returns a valid value for f.
func randomValue(r *rand.Rand, f *FieldSpec) []byte {
	n := f.Max
	if f.Length != Fixed {
		n = r.IntN(f.Max + 1) // empty values are valid too
	}
	v := make([]byte, n)
	for i := range v {
		switch f.Content {
		case N:
			v[i] = byte('0' + r.IntN(10))
		case Z:
			if r.IntN(8) == 0 {
				v[i] = '='
			} else {
				v[i] = byte('0' + r.IntN(10))
			}
		case A:
			v[i] = " ABCXYZabcxyz"[r.IntN(13)]
		case AN:
			v[i] = " 09AZaz"[r.IntN(7)]
		case ANS:
			c := byte(0x20 + r.IntN(0xE0))
			if c == 0x7F {
				c = '~'
			}
			v[i] = c
		case B:
			v[i] = byte(r.IntN(256))
		}
	}
	return v
}

func randomMessage(r *rand.Rand, s *Spec) *Message {
	m := NewMessage(fmt.Sprintf("%04d", r.IntN(10000)))
	for i, f := range s.Fields {
		if f != nil && r.IntN(2) == 0 {
			m.Fields[i] = randomValue(r, f)
		}
	}
	return m
}

// TestRoundTripProperty: for random valid messages over every field of each
// spec, Unpack(Pack(m)) == m and Pack(Unpack(b)) == b.
func TestRoundTripProperty(t *testing.T) {
	specs := []*Spec{UnionPay, testASCIISpec(t), testBinarySpec(t)}
	for _, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(8583, uint64(len(s.Name))))
			seen := map[int]int{}
			for iter := 0; iter < 3000; iter++ {
				m := randomMessage(r, s)
				b, err := s.Pack(m)
				if err != nil {
					t.Fatalf("iteration %d: Pack: %v", iter, err)
				}
				u, err := s.Unpack(b)
				if err != nil {
					t.Fatalf("iteration %d: Unpack(%X): %v", iter, b, err)
				}
				if !u.Equal(m) {
					t.Fatalf("iteration %d: Unpack(Pack(m)) != m\n m=%v\n u=%v", iter, m, u)
				}
				b2, err := s.Pack(u)
				if err != nil || !bytes.Equal(b, b2) {
					t.Fatalf("iteration %d: Pack(Unpack(b)) != b: %v", iter, err)
				}
				for k := range m.Fields {
					seen[k]++
				}
			}
			for i, f := range s.Fields {
				if f != nil && seen[i] == 0 {
					t.Errorf("field %d never generated", i)
				}
			}
		})
	}
}
