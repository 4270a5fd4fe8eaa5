package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/posagent/posagent/core/money"
)

// The file is decoded into plain maps, and every value is looked up by its
// exact key: the TOML decoder matches struct fields case-insensitively, so a
// struct would take "TID" for "tid", and with both "Terminal" and
// "terminal" in a file would fill the struct from either, depending on map
// order. A value of the wrong type is reported by this package, with its
// key, together with every other problem.

// Parse decodes a TOML config, fills in defaults for the keys it leaves out
// and validates the result (see Validate). It does no I/O.
//
// It returns a *SyntaxError (matching ErrSyntax) when data is not TOML, and
// a *ValidationError (matching ErrInvalid) listing every unknown key, value
// of the wrong type and invalid value otherwise.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), MaxSize)
	}
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &SyntaxError{Line: pe.Position.Line, Column: pe.Position.Col, Msg: pe.Message}
		}
		// Any TOML document decodes into a map, so this is not expected.
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}

	c := Default()
	p := &problems{}
	d := &decoder{md: md, p: p}
	d.unknownKeys()

	t := d.section(raw, "terminal")
	d.str("terminal.tid", t["tid"], &c.Terminal.TID)
	d.str("terminal.mid", t["mid"], &c.Terminal.MID)
	d.str("terminal.merchant_name", t["merchant_name"], &c.Terminal.MerchantName)
	d.currency("terminal.currency", t["currency"], &c.Terminal.Currency)
	d.str("terminal.timezone", t["timezone"], &c.Terminal.Timezone)

	j := d.section(raw, "journal")
	d.str("journal.path", j["path"], &c.Journal.Path)
	d.str("journal.key_file", j["key_file"], &c.Journal.KeyFile)
	d.duration("journal.lock_timeout", j["lock_timeout"], &c.Journal.LockTimeout)

	b := d.section(raw, "board")
	d.str("board.profile", b["profile"], &c.Board.Profile)
	d.str("board.sim_dir", b["sim_dir"], &c.Board.SimDir)
	d.duration("board.sim_autotap", b["sim_autotap"], &c.Board.SimAutoTap)

	a := d.section(raw, "api")
	d.str("api.socket", a["socket"], &c.API.Socket)
	d.str("api.tcp", a["tcp"], &c.API.TCP)
	d.str("api.token_file", a["token_file"], &c.API.TokenFile)

	pay := d.section(raw, "payment")
	d.duration("payment.card_timeout", pay["card_timeout"], &c.Payment.CardTimeout)
	d.duration("payment.auth_timeout", pay["auth_timeout"], &c.Payment.AuthTimeout)
	d.integer("payment.reversal_retries", pay["reversal_retries"], &c.Payment.ReversalRetries)
	d.duration("payment.reversal_spacing", pay["reversal_spacing"], &c.Payment.ReversalSpacing)

	off := d.section(raw, "offline")
	d.boolean("offline.enabled", off["enabled"], &c.Offline.Enabled)
	d.integer("offline.max_count", off["max_count"], &c.Offline.MaxCount)
	d.duration("offline.forward_window", off["forward_window"], &c.Offline.ForwardWindow)
	d.duration("offline.hard_stop", off["hard_stop"], &c.Offline.HardStop)
	d.duration("offline.max_signin_age", off["max_signin_age"], &c.Offline.MaxSignInAge)

	acq := d.section(raw, "acquirer")
	d.str("acquirer.primary", acq["primary"], &c.Acquirer.Primary)
	d.str("acquirer.backup", acq["backup"], &c.Acquirer.Backup)
	d.hexBytes("acquirer.tpdu", acq["tpdu"], c.Acquirer.TPDU[:])
	d.hexBytes("acquirer.header", acq["header"], c.Acquirer.Header[:])
	d.duration("acquirer.connect_timeout", acq["connect_timeout"], &c.Acquirer.ConnectTimeout)
	d.str("acquirer.mac", acq["mac"], &c.Acquirer.MAC)
	d.duration("acquirer.signin_interval", acq["signin_interval"], &c.Acquirer.SignInInterval)
	d.boolean("acquirer.tls", acq["tls"], &c.Acquirer.TLS)
	d.str("acquirer.tls_ca", acq["tls_ca"], &c.Acquirer.TLSCA)
	d.str("acquirer.tls_cert", acq["tls_cert"], &c.Acquirer.TLSCert)
	d.str("acquirer.tls_key", acq["tls_key"], &c.Acquirer.TLSKey)

	l := d.section(raw, "log")
	d.level("log.level", l["level"], &c.Log.Level)

	// Amounts last: they are in the terminal currency. When the currency
	// itself is bad there is nothing to parse them against; that problem
	// is already reported.
	if !p.has("terminal.currency") && c.Terminal.Currency.Known() {
		cur := c.Terminal.Currency
		d.amount("payment.max_amount", pay["max_amount"], cur, true, true, &c.Payment.MaxAmountMinor)
		d.amount("payment.cvm_limit", pay["cvm_limit"], cur, false, true, &c.Payment.CVMLimitMinor)
		d.amount("payment.daily_max", pay["daily_max"], cur, true, true, &c.Payment.DailyMaxMinor)
		d.amount("payment.max_contactless", pay["max_contactless"], cur, true, true, &c.Payment.MaxContactlessMinor)
		d.amount("payment.max_keyed", pay["max_keyed"], cur, true, true, &c.Payment.MaxKeyedMinor)
		d.amount("payment.max_qr", pay["max_qr"], cur, true, true, &c.Payment.MaxQRMinor)
		d.amount("offline.max_amount", off["max_amount"], cur, false, c.Offline.Enabled, &c.Offline.MaxAmountMinor)
		d.amount("offline.max_total", off["max_total"], cur, false, c.Offline.Enabled, &c.Offline.MaxTotalMinor)
	}

	c.validate(p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// knownKeys lists every key of the format, by section, in file order.
var knownKeys = []struct {
	section string
	keys    []string
}{
	{"terminal", []string{"tid", "mid", "merchant_name", "currency", "timezone"}},
	{"journal", []string{"path", "key_file", "lock_timeout"}},
	{"board", []string{"profile", "sim_dir", "sim_autotap"}},
	{"api", []string{"socket", "tcp", "token_file"}},
	{"payment", []string{"card_timeout", "auth_timeout", "reversal_retries", "reversal_spacing", "max_amount", "cvm_limit",
		"daily_max", "max_contactless", "max_keyed", "max_qr"}},
	{"offline", []string{"enabled", "max_amount", "max_total", "max_count", "forward_window", "hard_stop", "max_signin_age"}},
	{"acquirer", []string{"primary", "backup", "tpdu", "header", "connect_timeout", "mac", "signin_interval", "tls", "tls_ca", "tls_cert", "tls_key"}},
	{"log", []string{"level"}},
}

// Keys returns every key of the config format as "section.key", in the
// order the sample config lists them.
func Keys() []string {
	var out []string
	for _, s := range knownKeys {
		for _, k := range s.keys {
			out = append(out, s.section+"."+k)
		}
	}
	return out
}

func isKnown(k toml.Key) bool {
	for _, s := range knownKeys {
		if s.section != k[0] {
			continue
		}
		if len(k) == 1 {
			return true
		}
		for _, name := range s.keys {
			if name == k[1] {
				return true
			}
		}
	}
	return false
}

type decoder struct {
	md toml.MetaData
	p  *problems
}

// unknownKeys reports every key the format does not have, once: a key
// below an unknown key is not reported again.
//
// It walks MetaData.Keys (every key of the file, in file order) against the
// key list. MetaData.Undecoded cannot tell: the file is decoded into maps,
// which take every key. A key is known only when it is spelt exactly as in
// the format; "TID" is reported with a hint.
func (d *decoder) unknownKeys() {
	reported := map[string]bool{}
	report := func(k toml.Key) {
		if reported[k.String()] || (len(k) > 1 && reported[k[:1].String()]) {
			return
		}
		reported[k.String()] = true
		hint := ""
		if s := suggest(k); s != "" {
			hint = fmt.Sprintf(" (keys are case-sensitive: did you mean %s?)", s)
		}
		d.p.add(k.String(), ErrUnknownKey, "unknown key%s", hint)
	}
	for _, k := range d.md.Keys() {
		switch {
		case len(k) == 0:
		case !isKnown(k[:1]):
			report(k[:1])
		case len(k) >= 2 && !isKnown(k[:2]):
			report(k[:2])
			// Keys deeper below a known key mean that key holds a table;
			// the conversion reports its wrong type.
		}
	}
}

// suggest returns the known key that equals k except for case, if any.
func suggest(k toml.Key) string {
	for _, s := range knownKeys {
		if len(k) == 1 {
			if strings.EqualFold(s.section, k[0]) {
				return s.section
			}
			continue
		}
		for _, name := range s.keys {
			if strings.EqualFold(s.section, k[0]) && strings.EqualFold(name, k[1]) {
				return s.section + "." + name
			}
		}
	}
	return ""
}

// section returns the table name of the file, or nil when the file has no
// such table or it is not a table (which is reported). Looking a key up in
// a nil map gives nil, "not set".
func (d *decoder) section(file map[string]any, name string) map[string]any {
	v, ok := file[name]
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.p.add(name, nil, "must be a table ([%s]), got %s", name, typeOf(v))
		return nil
	}
	return m
}

// typeOf names the TOML type of a decoded value.
func typeOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case time.Time:
		return "a date/time"
	}
	return fmt.Sprintf("%T", v)
}

func (d *decoder) str(key string, v any, dst *string) {
	if v == nil {
		return
	}
	s, ok := v.(string)
	if !ok {
		d.p.add(key, nil, "must be a string, got %s", typeOf(v))
		return
	}
	*dst = s
}

func (d *decoder) boolean(key string, v any, dst *bool) {
	if v == nil {
		return
	}
	b, ok := v.(bool)
	if !ok {
		d.p.add(key, nil, "must be true or false, got %s", typeOf(v))
		return
	}
	*dst = b
}

func (d *decoder) integer(key string, v any, dst *int) {
	if v == nil {
		return
	}
	n, ok := v.(int64)
	if !ok {
		d.p.add(key, nil, "must be an integer, got %s", typeOf(v))
		return
	}
	// int is 32 bits on armv7.
	if n < math.MinInt32 || n > math.MaxInt32 {
		d.p.add(key, nil, "%d is out of range", n)
		return
	}
	*dst = int(n)
}

func (d *decoder) duration(key string, v any, dst *time.Duration) {
	if v == nil {
		return
	}
	s, ok := v.(string)
	if !ok {
		d.p.add(key, nil, `must be a duration string like "30s" or "24h", got %s`, typeOf(v))
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.p.add(key, err, `%q is not a duration (use a number and a unit: "500ms", "30s", "24h")`, s)
		return
	}
	*dst = dur
}

func (d *decoder) currency(key string, v any, dst *money.Currency) {
	var n int64
	switch x := v.(type) {
	case nil:
		return
	case string:
		if len(x) != 3 || !allDigits(x) {
			d.p.add(key, nil, `must be a 3-digit ISO 4217 numeric code like "156", got %q`, x)
			return
		}
		n = int64(x[0]-'0')*100 + int64(x[1]-'0')*10 + int64(x[2]-'0')
	case int64:
		if x < 0 || x > 999 {
			d.p.add(key, nil, `must be a 3-digit ISO 4217 numeric code like "156", got %d`, x)
			return
		}
		n = x
	default:
		d.p.add(key, nil, `must be a 3-digit ISO 4217 numeric code like "156", got %s`, typeOf(v))
		return
	}
	*dst = money.Currency(n)
}

// hexBytes decodes a string of exactly 2*len(dst) hex digits into dst.
func (d *decoder) hexBytes(key string, v any, dst []byte) {
	if v == nil {
		return
	}
	want := 2 * len(dst)
	s, ok := v.(string)
	if !ok {
		d.p.add(key, nil, `must be a string of %d hex digits, got %s`, want, typeOf(v))
		return
	}
	if len(s) != want {
		d.p.add(key, nil, "must be exactly %d hex digits, got %d characters", want, len(s))
		return
	}
	out := make([]byte, len(dst))
	for i := 0; i < want; i++ {
		h, ok := unhex(s[i])
		if !ok {
			d.p.add(key, nil, "must be exactly %d hex digits, found %q at position %d", want, s[i], i+1)
			return
		}
		out[i/2] = out[i/2]<<4 | h
	}
	copy(dst, out)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (d *decoder) level(key string, v any, dst *slog.Level) {
	if v == nil {
		return
	}
	s, ok := v.(string)
	if !ok {
		d.p.add(key, nil, "must be one of debug, info, warn, error; got %s", typeOf(v))
		return
	}
	l, ok := levels[strings.ToLower(s)]
	if !ok {
		d.p.add(key, nil, "must be one of debug, info, warn, error; got %q", s)
		return
	}
	*dst = l
}

// amount parses a decimal amount string into minor units of cur.
//
// A key the file leaves out keeps its default, which is in the default
// currency (CNY); with another currency the key must be given when it is
// used (needed), and is set to 0 otherwise. emptyOK allows "" (meaning no
// limit, stored as 0).
func (d *decoder) amount(key string, v any, cur money.Currency, emptyOK, needed bool, dst *int64) {
	if v == nil {
		if cur == money.DefaultCurrency {
			return
		}
		if *dst == 0 {
			return // the default is "no limit", which has no currency
		}
		if needed {
			def, _ := money.Format(*dst, money.DefaultCurrency)
			d.p.add(key, nil, "required when terminal.currency is %s (%s): the default %s is in %s",
				cur.Numeric(), cur, def, money.DefaultCurrency)
			return
		}
		*dst = 0
		return
	}
	s, ok := v.(string)
	if !ok {
		d.p.add(key, nil, `must be a decimal string like "300.00", got %s`, typeOf(v))
		return
	}
	if s == "" {
		if emptyOK {
			*dst = 0
			return
		}
		d.p.add(key, nil, `must not be empty (write "0" for zero)`)
		return
	}
	n, err := money.Parse(s, cur)
	if err != nil {
		d.p.add(key, err, "%v", err)
		return
	}
	*dst = n
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
