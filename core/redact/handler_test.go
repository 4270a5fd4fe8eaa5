package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/money"
)

// The raw forms of the PANs used below; none may reach the output.
var secrets = []string{pan16, visa, mc, amex, pan19, "6212 3456 7890 1232", "5555-5555-5555-4444"}

func noTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func newJSON(buf *bytes.Buffer) *slog.Logger {
	return slog.New(NewHandler(slog.NewJSONHandler(buf, &slog.HandlerOptions{
		Level: slog.LevelDebug, ReplaceAttr: noTime,
	})))
}

func checkClean(t *testing.T, out string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output holds %q:\n%s", s, out)
		}
	}
	if String(out) != out {
		t.Errorf("output still has something to mask:\n%s\n%s", out, String(out))
	}
}

// panError is an error that carries a PAN in its text.
type panError struct{ pan string }

func (e panError) Error() string { return "card " + e.pan + " declined" }

// stringer hides its PAN from String() but not from JSON.
type stringer struct {
	PAN string `json:"pan"`
}

func (s stringer) String() string { return "card " + s.PAN[:6] }

// valuer produces a group holding a PAN when the handler resolves it.
type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("pan", visa), slog.Any("inner", lazy{}))
}

type lazy struct{}

func (lazy) LogValue() slog.Value { return slog.StringValue("nested " + mc) }

// textPAN prints its PAN only through MarshalText.
type textPAN struct{ N int }

func (textPAN) MarshalText() ([]byte, error) { return []byte(pan16), nil }

// sensitive mimics a record with an unexported PAN: JSON does not show it,
// fmt does.
type sensitive struct {
	Scheme string
	pan    string
}

func TestHandlerJSON(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want []string // fragments that must appear (the masked forms)
	}{
		{"message", func(l *slog.Logger) { l.Info("read card " + pan16) },
			[]string{`"msg":"read card 621234******1232"`}},
		{"string attr", func(l *slog.Logger) { l.Info("ok", "pan", pan16, "stan", "000123") },
			[]string{`"pan":"621234******1232"`, `"stan":"000123"`}},
		{"spaced PAN attr", func(l *slog.Logger) { l.Info("ok", "card", "6212 3456 7890 1232") },
			[]string{`"card":"6212 34** **** 1232"`}},
		{"key", func(l *slog.Logger) { l.Info("ok", "seen_"+visa, true) },
			[]string{`"seen_411111******1111":true`}},
		{"group", func(l *slog.Logger) {
			l.Info("ok", slog.Group("card", slog.String("pan", mc), slog.Group("deep", slog.String("x", amex))))
		}, []string{`"card":{"pan":"555555******4444","deep":{"x":"378282*****0005"}}`}},
		{"error", func(l *slog.Logger) { l.Error("failed", "err", fmt.Errorf("acquirer: %w", panError{pan16})) },
			[]string{`"err":"acquirer: card 621234******1232 declined"`}},
		{"joined error", func(l *slog.Logger) { l.Error("failed", "err", errors.Join(errors.New(visa), panError{mc})) },
			[]string{`411111******1111\ncard 555555******4444 declined`}},
		{"stringer with PAN in JSON", func(l *slog.Logger) { l.Info("ok", "card", stringer{PAN: pan16}) },
			[]string{`"card":"card 621234"`}},
		{"LogValuer", func(l *slog.Logger) { l.Info("ok", "v", valuer{}) },
			[]string{`"v":{"pan":"411111******1111","inner":"nested 555555******4444"}`}},
		{"bytes", func(l *slog.Logger) { l.Info("ok", "raw", []byte("pan="+pan16)) },
			[]string{`"raw":"pan=621234******1232"`}},
		{"TextMarshaler", func(l *slog.Logger) { l.Info("ok", "t", textPAN{}) },
			[]string{`"t":"{N:0}"`}},
		{"unexported field", func(l *slog.Logger) { l.Info("ok", "s", sensitive{Scheme: "Visa", pan: visa}) },
			[]string{`"s":"{Scheme:Visa pan:411111******1111}"`}},
		{"map", func(l *slog.Logger) { l.Info("ok", "m", map[string]string{"pan": mc}) },
			[]string{`"m":"map[pan:555555******4444]"`}},
		{"int64", func(l *slog.Logger) { l.Info("ok", "n", int64(4111111111111111)) },
			[]string{`"n":"411111******1111"`}},
		{"uint64", func(l *slog.Logger) { l.Info("ok", "n", uint64(5555555555554444)) },
			[]string{`"n":"555555******4444"`}},
		{"float64", func(l *slog.Logger) { l.Info("ok", "f", float64(4111111111111111)) },
			[]string{`"f":"411111******1111"`}},
		{"WithAttrs", func(l *slog.Logger) { l.With("pan", pan19).Info("ok") },
			[]string{`"pan":"` + pan19[:6] + "*********" + pan19[15:] + `"`}},
		{"WithAttrs error", func(l *slog.Logger) { l.With("err", panError{visa}).Info("ok") },
			[]string{`"err":"card 411111******1111 declined"`}},
		{"WithGroup", func(l *slog.Logger) {
			l.WithGroup("pan"+mc).With("a", "5555-5555-5555-4444").Info("ok", "b", visa)
		}, []string{`"pan555555******4444":{"a":"5555-55**-****-4444","b":"411111******1111"}`}},
		{"clean values keep their form", func(l *slog.Logger) {
			l.Info("ok", "amount", money.Amount{Minor: 1234, Currency: money.CNY}, "n", 42,
				"big", int64(1234567890123456), "err", errors.New("timeout"), "stan", 123)
		}, []string{`"amount":{"minor":1234,"currency":156}`, `"n":42`, `"big":1234567890123456`,
			`"err":"timeout"`, `"stan":123`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(newJSON(&buf))
			out := buf.String()
			checkClean(t, out)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %s:\n%s", w, out)
				}
			}
			if !json.Valid(bytes.TrimSpace(buf.Bytes())) {
				t.Errorf("not JSON: %s", out)
			}
		})
	}
}

func TestHandlerText(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: noTime})))
	l.With("card", stringer{PAN: mc}).WithGroup("g").Info("read "+pan16, "err", panError{visa},
		"raw", []byte(amex), "t", textPAN{}, "s", sensitive{pan: pan19})
	out := buf.String()
	checkClean(t, out)
	for _, w := range []string{`msg="read 621234******1232"`, `card="card 555555"`,
		`g.err="card 411111******1111 declined"`, `g.raw=378282*****0005`, `g.t={N:0}`} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %s:\n%s", w, out)
		}
	}
}

// recorder is a handler that keeps what it was given.
type recorder struct {
	level   slog.Level
	records []slog.Record
	attrs   []slog.Attr
	groups  []string
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.records = append(r.records, rec)
	return nil
}
func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	r.attrs = append(r.attrs, as...)
	return r
}
func (r *recorder) WithGroup(name string) slog.Handler {
	r.groups = append(r.groups, name)
	return r
}

func TestHandlerPlumbing(t *testing.T) {
	rec := &recorder{level: slog.LevelWarn}
	h := NewHandler(rec)
	if NewHandler(h) != h {
		t.Error("NewHandler wraps a redacting handler twice")
	}
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled does not follow the wrapped handler")
	}
	if h.WithGroup("") != h {
		t.Error(`WithGroup("") does not return the receiver`)
	}

	// WithAttrs must not write into the caller's slice.
	attrs := []slog.Attr{slog.String("pan", pan16)}
	h.WithAttrs(attrs)
	if attrs[0].Value.String() != pan16 {
		t.Error("WithAttrs modified the caller's attrs")
	}
	if got := rec.attrs[0].Value.String(); got != "621234******1232" {
		t.Errorf("WithAttrs passed %q", got)
	}

	r := slog.NewRecord(testTime, slog.LevelError, "x "+visa, 42)
	r.AddAttrs(slog.Int("stan", 7))
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got := rec.records[0]
	if got.Message != "x 411111******1111" || got.Level != slog.LevelError || got.PC != 42 ||
		!got.Time.Equal(testTime) || got.NumAttrs() != 1 {
		t.Errorf("record passed as %+v", got)
	}
}

var testTime = time.Date(2024, 1, 15, 10, 20, 30, 0, time.UTC)

func BenchmarkHandler(b *testing.B) {
	var buf bytes.Buffer
	l := newJSON(&buf)
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		l.Info("payment approved", "tid", "12345678", "stan", 123, "pan", pan16, "amount", "12.34")
	}
}
