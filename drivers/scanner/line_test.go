package scanner

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// outcome renders results compactly: a code as its text, an error as
// "!" plus the sentinel's text.
func outcome(rs []Result) []string {
	var out []string
	for _, r := range rs {
		if r.Err != nil {
			out = append(out, "!"+sentinelOf(r.Err))
			continue
		}
		out = append(out, r.Code.Text())
	}
	return out
}

func sentinelOf(err error) string {
	for _, s := range []error{ErrTooLong, ErrIncomplete, ErrBadByte, ErrUnmappedKey, ErrDropped} {
		if errors.Is(err, s) {
			if !errors.Is(err, ErrBadScan) {
				return "NOT-A-BAD-SCAN:" + s.Error()
			}
			return s.Error()
		}
	}
	return "unexpected:" + err.Error()
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("7", 9)
	tests := []struct {
		name   string
		max    int
		chunks []string
		idle   bool // call Idle after the chunks
		want   []string
	}{
		{"CR", 0, []string{"4006381333931\r"}, false, []string{"4006381333931"}},
		{"LF", 0, []string{"4006381333931\n"}, false, []string{"4006381333931"}},
		{"CRLF counted once", 0, []string{"A\r\nB\r\n"}, false, []string{"A", "B"}},
		{"CRLF split across reads", 0, []string{"A\r", "\nB\r", "\n"}, false, []string{"A", "B"}},
		{"LFCR is two terminators, no empty code", 0, []string{"A\n\rB\n\r"}, false, []string{"A", "B"}},
		{"empty lines ignored", 0, []string{"\r\r\n\n\r\nA\n\n"}, false, []string{"A"}},
		{"lone CR then LF later", 0, []string{"A\r", "", "\n"}, false, []string{"A"}},
		{"mixed terminators", 0, []string{"A\rB\nC\r\nD\r"}, false, []string{"A", "B", "C", "D"}},
		{"byte by byte", 0, []string{"1", "2", "3", "\r", "\n", "4", "\n"}, false, []string{"123", "4"}},
		{"spaces and punctuation kept", 0, []string{" a~b!\r"}, false, []string{" a~b!"}},
		{"exactly max", 9, []string{long + "\r"}, false, []string{long}},
		{"one over max", 9, []string{long + "7\r"}, false, []string{"!" + ErrTooLong.Error()}},
		{"far over max then good", 9, []string{strings.Repeat("8", 10000) + "\rOK\r"}, false, []string{"!" + ErrTooLong.Error(), "OK"}},
		{"overlong split across reads", 4, []string{"123", "45", "6\n", "7\n"}, false, []string{"!" + ErrTooLong.Error(), "7"}},
		{"NUL", 0, []string{"12\x003\r"}, false, []string{"!" + ErrBadByte.Error()}},
		{"DEL", 0, []string{"12\x7f\r"}, false, []string{"!" + ErrBadByte.Error()}},
		{"high byte", 0, []string{"\xe4\xb8\xad\r"}, false, []string{"!" + ErrBadByte.Error()}},
		{"tab", 0, []string{"a\tb\r"}, false, []string{"!" + ErrBadByte.Error()}},
		{"GS (GS1 FNC1) is not printable", 0, []string{"01\x1d21\r"}, false, []string{"!" + ErrBadByte.Error()}},
		{"garbage costs one code only", 0, []string{"\xff\xfe\x00X\rGOOD\r"}, false, []string{"!" + ErrBadByte.Error(), "GOOD"}},
		{"bad byte then overlong reports bad byte", 3, []string{"\x01234567\r"}, false, []string{"!" + ErrBadByte.Error()}},
		{"partial then idle", 0, []string{"12345"}, true, []string{"!" + ErrIncomplete.Error()}},
		{"idle with nothing pending", 0, []string{"A\r"}, true, []string{"A"}},
		{"overlong then idle", 2, []string{"123"}, true, []string{"!" + ErrTooLong.Error()}},
		{"garbage then idle", 0, []string{"\x00"}, true, []string{"!" + ErrBadByte.Error()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewLineReader(tt.max)
			var rs []Result
			for _, c := range tt.chunks {
				rs = r.Feed(rs, []byte(c))
			}
			if tt.idle {
				if res, ok := r.Idle(); ok {
					rs = append(rs, res)
				}
			}
			if got := outcome(rs); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if r.Pending() {
				t.Errorf("still pending after the last terminator")
			}
		})
	}
}

func TestLineReaderIdleThenTerminator(t *testing.T) {
	// Silence cut "123"; its late terminator must not make a second
	// report or an empty code, and the next code is fine.
	r := NewLineReader(0)
	rs := r.Feed(nil, []byte("123"))
	res, ok := r.Idle()
	if !ok || !errors.Is(res.Err, ErrIncomplete) {
		t.Fatalf("Idle = %v, %v", res, ok)
	}
	rs = r.Feed(rs, []byte("\r\nNEXT\r\n"))
	if got := outcome(rs); fmt.Sprint(got) != "[NEXT]" {
		t.Errorf("got %q", got)
	}
	if _, ok := r.Idle(); ok {
		t.Error("Idle with nothing pending reported something")
	}
}

func TestLineReaderTaint(t *testing.T) {
	r := NewLineReader(0)
	r.Taint(ErrIncomplete)
	rs := r.Feed(nil, []byte("5678\rGOOD\r"))
	if got := outcome(rs); fmt.Sprint(got) != fmt.Sprint([]string{"!" + ErrIncomplete.Error(), "GOOD"}) {
		t.Errorf("got %q", got)
	}
	// A taint followed only by a terminator (the cut code's own CR) is
	// dropped silently.
	r.Taint(ErrIncomplete)
	rs = r.Feed(nil, []byte("\rNEXT\r"))
	if got := outcome(rs); fmt.Sprint(got) != "[NEXT]" {
		t.Errorf("got %q", got)
	}
}

func TestLineReaderErrorText(t *testing.T) {
	r := NewLineReader(8)
	rs := r.Feed(nil, []byte("12\x07456\r123456789\r"))
	if len(rs) != 2 {
		t.Fatalf("results %v", rs)
	}
	for _, want := range []string{"byte 0x07 at offset 2", "6 bytes"} {
		if !strings.Contains(rs[0].Err.Error(), want) {
			t.Errorf("bad byte error %q lacks %q", rs[0].Err, want)
		}
	}
	for _, want := range []string{"MaxLen 8", "9 bytes"} {
		if !strings.Contains(rs[1].Err.Error(), want) {
			t.Errorf("too long error %q lacks %q", rs[1].Err, want)
		}
	}
	// The error never carries the code's characters.
	r = NewLineReader(30)
	rs = r.Feed(nil, []byte("13456789012345678\x01\r"))
	if strings.Contains(rs[0].Err.Error(), "1345678901") {
		t.Errorf("error shows code text: %v", rs[0].Err)
	}
}

func TestLineReaderClassifies(t *testing.T) {
	r := NewLineReader(0)
	rs := r.Feed(nil, []byte("134567890123456789\r4006381333931\r"))
	if len(rs) != 2 || rs[0].Code.Kind != KindWeChatPay || rs[1].Code.Kind != KindEAN13 {
		t.Errorf("got %+v", rs)
	}
}

func TestLineReaderMemoryBounded(t *testing.T) {
	r := NewLineReader(16)
	chunk := []byte(strings.Repeat("9", 4096))
	for range 256 { // 1 MiB without a terminator
		r.Feed(nil, chunk)
	}
	if cap(r.buf) > 16 {
		t.Errorf("buffer grew to %d bytes with MaxLen 16", cap(r.buf))
	}
	res, ok := r.Idle()
	if !ok || !errors.Is(res.Err, ErrTooLong) || !strings.Contains(res.Err.Error(), "1048576 bytes") {
		t.Errorf("Idle = %v", res.Err)
	}
}
