package iso8583

import (
	"slices"
	"testing"
)

func TestMessageHelpers(t *testing.T) {
	var m Message // zero value is usable
	m.MTI = "0800"
	m.Set(41, "12345678")
	m.SetBytes(62, nil)
	src := []byte{1, 2, 3}
	m.SetBytes(64, src)
	src[0] = 9
	if v, ok := m.GetBytes(64); !ok || v[0] != 1 {
		t.Fatalf("SetBytes did not copy: %v", v)
	}
	if v, ok := m.Get(41); !ok || v != "12345678" {
		t.Fatalf("Get(41) = %q, %v", v, ok)
	}
	if v, ok := m.GetBytes(62); !ok || len(v) != 0 {
		t.Fatalf("empty field 62 = %v, %v", v, ok)
	}
	if _, ok := m.Get(2); ok || m.Has(2) {
		t.Fatal("absent field reported present")
	}
	if got := m.Numbers(); !slices.Equal(got, []int{41, 62, 64}) {
		t.Fatalf("Numbers = %v", got)
	}
	c := m.Clone()
	c.Set(41, "87654321")
	c.Unset(62)
	if v, _ := m.Get(41); v != "12345678" || !m.Has(62) {
		t.Fatal("Clone shares state")
	}
	if m.Equal(c) || !m.Equal(m.Clone()) {
		t.Fatal("Equal wrong")
	}
}
