package redact

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
)

// handler is the slog.Handler NewHandler returns.
type handler struct {
	next slog.Handler
}

// NewHandler returns a slog.Handler that passes every record to next with
// all PANs masked (see String) in:
//   - the message;
//   - every attribute key and group name, including those added with
//     WithAttrs and WithGroup;
//   - every string value, at any depth of groups, after LogValuer values
//     are resolved;
//   - integer and float values whose decimal form is a PAN;
//   - values of kind Any: an error becomes its redacted Error() text.
//     Any other value is rendered the ways the standard handlers render it
//     (fmt's %+v, which uses String() for a fmt.Stringer; JSON; MarshalText;
//     the text of a []byte) and, if any rendering holds a PAN, it is
//     replaced by its redacted %+v (or String(), or []byte text) rendering;
//     otherwise it is passed on unchanged, so its JSON structure is kept.
//
// Time, duration and bool values are passed on as they are.
func NewHandler(next slog.Handler) slog.Handler {
	if h, ok := next.(*handler); ok {
		return h // already redacting
	}
	return &handler{next: next}
}

// Enabled implements slog.Handler.
func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, nr)
}

// WithAttrs implements slog.Handler.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(redactAttrs(attrs))}
}

// WithGroup implements slog.Handler.
func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{next: h.next.WithGroup(String(name))}
}

func redactAttrs(attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = redactAttr(a)
	}
	return out
}

func redactAttr(a slog.Attr) slog.Attr {
	return slog.Attr{Key: String(a.Key), Value: redactValue(a.Value)}
}

// panFree reports whether s holds nothing String would mask.
func panFree(s string) bool { return String(s) == s }

// bigNumber is the smallest magnitude with 13 digits; smaller numbers
// cannot be a PAN.
const bigNumber = 1e12

func redactValue(v slog.Value) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		if r := String(s); r != s {
			return slog.StringValue(r)
		}
	case slog.KindGroup:
		return slog.GroupValue(redactAttrs(v.Group())...)
	case slog.KindInt64:
		if n := v.Int64(); n >= bigNumber || n <= -bigNumber {
			if s := strconv.FormatInt(n, 10); !panFree(s) {
				return slog.StringValue(String(s))
			}
		}
	case slog.KindUint64:
		if n := v.Uint64(); n >= bigNumber {
			if s := strconv.FormatUint(n, 10); !panFree(s) {
				return slog.StringValue(String(s))
			}
		}
	case slog.KindFloat64:
		if f := v.Float64(); f >= bigNumber || f <= -bigNumber {
			// The handlers print 'g' (6.212345678901232e+15), which
			// carries all the digits; check the plain form too.
			g := strconv.FormatFloat(f, 'g', -1, 64)
			if p := strconv.FormatFloat(f, 'f', -1, 64); !panFree(p) || !panFree(g) {
				return slog.StringValue(String(p))
			}
		}
	case slog.KindAny:
		return redactAny(v)
	}
	return v
}

func redactAny(v slog.Value) slog.Value {
	x := v.Any()
	if err, ok := x.(error); ok {
		return slog.StringValue(String(fmt.Sprint(err)))
	}
	// What a handler may print for x: fmt's %+v (the text handler, and
	// String() for a Stringer), the text of a []byte, MarshalText, JSON.
	plus := fmt.Sprintf("%+v", x) // String() for a fmt.Stringer
	primary := plus
	if b, ok := x.([]byte); ok {
		primary = string(b)
	}
	clean := panFree(primary) && (len(primary) == len(plus) && primary == plus || panFree(plus))
	if clean {
		if tm, ok := x.(encoding.TextMarshaler); ok {
			if t, ok := safeCall(tm.MarshalText); ok {
				clean = panFree(string(t))
			}
		}
	}
	if clean {
		if j, ok := safeCall(func() ([]byte, error) { return json.Marshal(x) }); ok {
			clean = panFree(string(j))
		}
	}
	if clean {
		return v
	}
	return slog.StringValue(String(primary))
}

// safeCall runs a marshaling method, turning an error or a panic into
// ok == false: a broken value must not take the logger down.
func safeCall(f func() ([]byte, error)) (b []byte, ok bool) {
	defer func() {
		if recover() != nil {
			b, ok = nil, false
		}
	}()
	b, err := f()
	return b, err == nil
}
