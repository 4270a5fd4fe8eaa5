package scanner

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func checkResults(t *testing.T, rs []Result, max int) {
	t.Helper()
	for _, r := range rs {
		if r.Err != nil {
			if !errors.Is(r.Err, ErrBadScan) {
				t.Fatalf("error %v does not wrap ErrBadScan", r.Err)
			}
			continue
		}
		s := r.Code.Text()
		if len(s) == 0 || len(s) > max {
			t.Fatalf("code of %d bytes, max %d", len(s), max)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7E {
				t.Fatalf("code %q has byte 0x%02X at %d", s, s[i], i)
			}
		}
		if r.Code.Kind != Classify(s) {
			t.Fatalf("code %q kind %v, Classify says %v", s, r.Code.Kind, Classify(s))
		}
	}
}

func lineOutcomes(p []byte, maxLen int, cuts ...int) ([]Result, []string) {
	r := NewLineReader(maxLen)
	var rs []Result
	prev := 0
	for _, c := range cuts {
		c = min(max(c, prev), len(p))
		rs = r.Feed(rs, p[prev:c])
		prev = c
	}
	rs = r.Feed(rs, p[prev:])
	if res, ok := r.Idle(); ok {
		rs = append(rs, res)
	}
	return rs, outcome(rs)
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("4006381333931\r\n134567890123456789\n"), uint16(0), uint16(5))
	f.Add([]byte("A\rB\n\rC\r\r\n\nD"), uint16(2), uint16(1))
	f.Add([]byte("\x00\xff\r\n12345678901234567890\r"), uint16(8), uint16(3))
	f.Add([]byte(strings.Repeat("9", 600)+"\r"), uint16(0), uint16(300))
	f.Add([]byte("\r"), uint16(1), uint16(0))
	f.Fuzz(func(t *testing.T, p []byte, maxLen, cut uint16) {
		m := int(maxLen % 1024)
		if m == 0 {
			m = DefaultMaxLen
		}
		whole, want := lineOutcomes(p, m)
		checkResults(t, whole, m)
		// How the bytes are cut into reads never changes the outcome.
		_, split := lineOutcomes(p, m, int(cut))
		if fmt.Sprint(split) != fmt.Sprint(want) {
			t.Fatalf("split at %d: %q, whole: %q", cut, split, want)
		}
		r := NewLineReader(m)
		var bytewise []Result
		for i := range p {
			bytewise = r.Feed(bytewise, p[i:i+1])
		}
		if res, ok := r.Idle(); ok {
			bytewise = append(bytewise, res)
		}
		if got := outcome(bytewise); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("byte by byte: %q, whole: %q", got, want)
		}
		if cap(r.buf) > m {
			t.Fatalf("buffer grew to %d, MaxLen %d", cap(r.buf), m)
		}
		// At most one result per terminator, plus the one Idle made.
		if terms := bytes.Count(p, []byte{'\r'}) + bytes.Count(p, []byte{'\n'}); len(whole) > terms+1 {
			t.Fatalf("%d results from %d terminators", len(whole), terms)
		}
	})
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add(unhex(f, goldenEvents[0].rec64), uint8(0))
	f.Add(unhex(f, goldenEvents[1].rec32+goldenEvents[0].rec32), uint8(1))
	var typed []byte
	for _, e := range seq(key(KeyLeftShift, KeyPress), tap(kA, k1, KeyCapsLock, kB), key(KeyLeftShift, KeyRelease), tap(KeyEnter)) {
		typed = AppendEvent(typed, e, Layout64)
	}
	f.Add(typed, uint8(9))
	f.Add([]byte{1, 2, 3}, uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, maxLen uint8) {
		for _, l := range []Layout{Layout64, Layout32} {
			evs, err := DecodeEvents(b, l)
			size := l.Size()
			if len(evs) != len(b)/size {
				t.Fatalf("%v: %d events from %d bytes", l, len(evs), len(b))
			}
			if (err != nil) != (len(b)%size != 0) || (err != nil && !errors.Is(err, ErrBadEvent)) {
				t.Fatalf("%v: %d bytes, err %v", l, len(b), err)
			}
			var enc []byte
			for _, e := range evs {
				enc = AppendEvent(enc, e, l)
			}
			if !bytes.Equal(enc, b[:len(evs)*size]) {
				t.Fatalf("%v: round trip differs", l)
			}
			m := int(maxLen) + 1
			d := NewKeyDecoder(m)
			var rs []Result
			for _, e := range evs {
				rs = d.Push(rs, e)
			}
			if r, ok := d.Idle(); ok {
				rs = append(rs, r)
			}
			checkResults(t, rs, m)
			if cap(d.buf) > m {
				t.Fatalf("key buffer grew to %d, MaxLen %d", cap(d.buf), m)
			}
			// The byte-stream adapter agrees with record-by-record decoding.
			h := &hidDecoder{layout: l, keys: NewKeyDecoder(m)}
			var hrs []Result
			for p := b; len(p) > 0; {
				n := min(len(p), 1+int(maxLen)%(2*size))
				hrs = h.Feed(hrs, p[:n])
				p = p[n:]
			}
			if r, ok := h.Idle(); ok {
				hrs = append(hrs, r)
			}
			if fmt.Sprint(outcome(hrs)) != fmt.Sprint(outcome(rs)) {
				t.Fatalf("%v: stream %q, records %q", l, outcome(hrs), outcome(rs))
			}
		}
	})
}

// refClassify is the payment/product rules written a second way.
func refClassify(s string) Kind {
	for _, c := range s {
		if c < '0' || c > '9' {
			return KindOther
		}
	}
	n := len(s)
	switch {
	case n == 19 && strings.HasPrefix(s, "62"):
		return KindUnionPay
	case n == 18 && s[0] == '1' && s[1] <= '5':
		return KindWeChatPay
	case n >= 16 && n <= 24 && (s >= "25" && s[:2] <= "30"):
		return KindAlipay
	case n == 12 || n == 13:
		sum := 0
		for i := range n - 1 {
			w := 1
			if (n-1-i)%2 == 1 {
				w = 3
			}
			sum += int(s[i]-'0') * w
		}
		if (sum+int(s[n-1]-'0'))%10 == 0 {
			if n == 12 {
				return KindUPCA
			}
			return KindEAN13
		}
	}
	return KindOther
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"4006381333931", "036000291452", "6212345678901234567", "134567890123456789",
		"2500000000000000", "300000000000000000000000", "", "62", "abc", "4006381333932"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := Classify(s)
		if want := refClassify(s); k != want {
			t.Fatalf("Classify(%q) = %v, reference says %v", s, k, want)
		}
		c := NewCode(s, t0)
		m := c.Masked()
		if len(m) != len(s) {
			t.Fatalf("masked length %d, code %d", len(m), len(s))
		}
		if k.IsPayment() && (m[:2] != s[:2] || strings.Trim(m[2:len(m)-4], "*") != "" || m[len(m)-4:] != s[len(s)-4:]) {
			t.Fatalf("payment code masked as %q", m)
		}
		if k.IsPayment() && strings.Contains(c.String()+c.GoString(), s[2:len(s)-4]) {
			t.Fatalf("String shows the middle of %q", s)
		}
	})
}
