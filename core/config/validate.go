package config

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/posagent/posagent/core/money"
)

// Limits the validation enforces.
const (
	TIDLength            = 8  // ISO 8583 field 41
	MIDLength            = 15 // ISO 8583 field 42
	MaxMerchantNameRunes = 40
	MaxReversalRetries   = 3
	MaxUnixSocketPathLen = 107 // sun_path is 108 bytes including the NUL
	maxProfileNameLen    = 64
)

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// Validate checks every value of c and returns a *ValidationError (matching
// ErrInvalid) listing all problems, each naming its TOML key, or nil.
//
// Parse calls it; call it again after changing a Config in code.
func (c *Config) Validate() error {
	p := &problems{}
	c.validate(p)
	return p.err()
}

// validate adds the problems of c to p, skipping keys p already has a
// problem for (a value that did not convert keeps its default, and a second
// message about that default would only confuse).
func (c *Config) validate(p *problems) {
	v := &validator{p: p}

	// [terminal]
	t := c.Terminal
	if v.required("terminal.tid", t.TID) {
		v.exactAlnum("terminal.tid", t.TID, TIDLength)
	}
	if v.required("terminal.mid", t.MID) {
		v.exactAlnum("terminal.mid", t.MID, MIDLength)
	}
	if v.required("terminal.merchant_name", t.MerchantName) {
		name := t.MerchantName
		if n := utf8.RuneCountInString(name); n > MaxMerchantNameRunes {
			v.add("terminal.merchant_name", nil, "must be at most %d characters, got %d", MaxMerchantNameRunes, n)
		}
		for i, r := range name {
			if unicode.IsControl(r) {
				v.add("terminal.merchant_name", nil, "must not contain control characters, found %U at byte %d", r, i)
				break
			}
		}
		if strings.TrimSpace(name) == "" {
			v.add("terminal.merchant_name", nil, "must not be blank")
		}
	}
	if !t.Currency.Known() {
		v.add("terminal.currency", nil, "%03d is not a currency this terminal knows (known: %s)",
			uint16(t.Currency), knownCurrencies())
	}
	if v.required("terminal.timezone", t.Timezone) {
		if _, err := time.LoadLocation(t.Timezone); err != nil {
			v.add("terminal.timezone", err, "%q does not load: %v (is tzdata embedded in the binary?)", t.Timezone, err)
		}
	}

	// [journal]
	v.required("journal.path", c.Journal.Path)
	v.required("journal.key_file", c.Journal.KeyFile)
	if c.Journal.Path != "" && c.Journal.Path == c.Journal.KeyFile {
		v.add("journal.key_file", nil, "must not be the same file as journal.path (%q)", c.Journal.Path)
	}
	v.positive("journal.lock_timeout", c.Journal.LockTimeout)

	// [board]
	if c.Board.SimAutoTap < 0 {
		v.add("board.sim_autotap", nil, "must not be negative, got %s", c.Board.SimAutoTap)
	}
	if v.required("board.profile", c.Board.Profile) {
		prof := c.Board.Profile
		if len(prof) > maxProfileNameLen {
			v.add("board.profile", nil, "must be at most %d characters, got %d", maxProfileNameLen, len(prof))
		} else if i := strings.IndexFunc(prof, func(r rune) bool {
			return !(r < utf8.RuneSelf && (isAlnum(byte(r)) || r == '-' || r == '_' || r == '.'))
		}); i >= 0 {
			r, _ := utf8.DecodeRuneInString(prof[i:])
			v.add("board.profile", nil, `must be "auto", "sim" or a profile name of letters, digits, '-', '_' and '.', found %q at byte %d`, r, i)
		}
	}

	// [api]
	a := c.API
	if a.Socket == "" && a.TCP == "" {
		v.add("api.socket", nil, "must be set when api.tcp is empty (the API would not listen anywhere)")
	}
	if len(a.Socket) > MaxUnixSocketPathLen {
		v.add("api.socket", nil, "path is %d bytes, a unix socket path must be at most %d", len(a.Socket), MaxUnixSocketPathLen)
	}
	if a.TCP != "" {
		v.loopback("api.tcp", a.TCP)
		if a.TokenFile == "" {
			v.add("api.token_file", nil, "required when api.tcp is set")
		}
	}

	// [payment]
	cur := t.Currency
	pay := c.Payment
	v.positive("payment.card_timeout", pay.CardTimeout)
	v.positive("payment.auth_timeout", pay.AuthTimeout)
	if pay.ReversalRetries < 1 || pay.ReversalRetries > MaxReversalRetries {
		v.add("payment.reversal_retries", nil, "must be between 1 and %d, got %d", MaxReversalRetries, pay.ReversalRetries)
	}
	if pay.ReversalSpacing < time.Second || pay.ReversalSpacing > 10*time.Minute {
		v.add("payment.reversal_spacing", nil, "must be between 1s and 10m, got %v", pay.ReversalSpacing)
	}
	v.amountRange("payment.max_amount", pay.MaxAmountMinor)
	v.amountRange("payment.cvm_limit", pay.CVMLimitMinor)
	v.amountRange("payment.daily_max", pay.DailyMaxMinor)
	if pay.DailyMaxMinor > 0 && pay.MaxAmountMinor > pay.DailyMaxMinor {
		v.add("payment.daily_max", nil, "%s is below payment.max_amount %s",
			fmtAmount(pay.DailyMaxMinor, cur), fmtAmount(pay.MaxAmountMinor, cur))
	}
	for _, m := range []struct {
		key   string
		minor int64
	}{
		{"payment.max_contactless", pay.MaxContactlessMinor},
		{"payment.max_keyed", pay.MaxKeyedMinor},
		{"payment.max_qr", pay.MaxQRMinor},
	} {
		v.amountRange(m.key, m.minor)
		if m.minor > 0 && pay.MaxAmountMinor > 0 && m.minor > pay.MaxAmountMinor {
			v.add(m.key, nil, "%s is above payment.max_amount %s",
				fmtAmount(m.minor, cur), fmtAmount(pay.MaxAmountMinor, cur))
		}
	}

	// [offline]
	off := c.Offline
	v.amountRange("offline.max_amount", off.MaxAmountMinor)
	v.amountRange("offline.max_total", off.MaxTotalMinor)
	if off.MaxCount < 0 || (off.Enabled && off.MaxCount == 0) {
		v.add("offline.max_count", nil, "must be at least 1, got %d", off.MaxCount)
	}
	v.positive("offline.forward_window", off.ForwardWindow)
	v.positive("offline.hard_stop", off.HardStop)
	v.positive("offline.max_signin_age", off.MaxSignInAge)
	if off.ForwardWindow > 0 && off.HardStop > 0 && off.ForwardWindow > off.HardStop {
		v.add("offline.forward_window", nil, "%v is longer than offline.hard_stop %v", off.ForwardWindow, off.HardStop)
	}
	if off.Enabled {
		if off.MaxAmountMinor == 0 {
			v.add("offline.max_amount", nil, "must be above 0 when offline.enabled is true")
		}
		if off.MaxTotalMinor < off.MaxAmountMinor {
			v.add("offline.max_total", nil, "%s is below offline.max_amount %s",
				fmtAmount(off.MaxTotalMinor, cur), fmtAmount(off.MaxAmountMinor, cur))
		}
		if pay.MaxAmountMinor > 0 && off.MaxAmountMinor > pay.MaxAmountMinor {
			v.add("offline.max_amount", nil, "%s is above payment.max_amount %s",
				fmtAmount(off.MaxAmountMinor, cur), fmtAmount(pay.MaxAmountMinor, cur))
		}
	}

	// [acquirer]
	acq := c.Acquirer
	if acq.Primary != "" {
		v.hostPort("acquirer.primary", acq.Primary)
	}
	if acq.Backup != "" {
		switch {
		case acq.Primary == "":
			v.add("acquirer.backup", nil, "set without acquirer.primary")
		case acq.Backup == acq.Primary:
			v.add("acquirer.backup", nil, "is the same as acquirer.primary (%s)", acq.Primary)
		default:
			v.hostPort("acquirer.backup", acq.Backup)
		}
	}
	v.positive("acquirer.connect_timeout", acq.ConnectTimeout)
	switch acq.MAC {
	case "unionpay-ecb", "x9.19", "x9.9":
	default:
		v.add("acquirer.mac", nil, `must be "unionpay-ecb", "x9.19" or "x9.9", got %q`, acq.MAC)
	}
	if acq.SignInInterval < 0 {
		v.add("acquirer.signin_interval", nil, "must not be negative, got %s", acq.SignInInterval)
	}
	if acq.TLS {
		for _, kv := range []struct{ key, val string }{{"acquirer.tls_ca", acq.TLSCA}, {"acquirer.tls_cert", acq.TLSCert}, {"acquirer.tls_key", acq.TLSKey}} {
			if kv.val == "" {
				v.add(kv.key, nil, "is required when acquirer.tls is true")
			}
		}
	}

	// [log]
	switch c.Log.Level {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
	default:
		v.add("log.level", nil, "must be one of debug, info, warn, error; got %v", c.Log.Level)
	}
}

type validator struct{ p *problems }

// add records a problem unless the key already has one.
func (v *validator) add(key string, err error, format string, args ...any) {
	if v.p.has(key) {
		return
	}
	v.p.add(key, err, format, args...)
}

// required reports an empty value and returns whether s is set.
func (v *validator) required(key, s string) bool {
	if s == "" {
		v.add(key, nil, "required")
		return false
	}
	return true
}

func (v *validator) exactAlnum(key, s string, n int) {
	if got := utf8.RuneCountInString(s); got != n {
		v.add(key, nil, "must be exactly %d characters, got %d", n, got)
		return
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			v.add(key, nil, "must be letters and digits only (A-Z, a-z, 0-9), found %q at byte %d", r, i)
			return
		}
	}
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(key, nil, "must be above zero, got %v", d)
	}
}

func (v *validator) amountRange(key string, minor int64) {
	if minor < 0 || minor > money.MaxMinor {
		v.add(key, nil, "%d minor units is outside 0..%d", minor, money.MaxMinor)
	}
}

func (v *validator) hostPort(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, err, `must be "host:port", got %q: %v`, addr, err)
		return
	}
	if host == "" {
		v.add(key, nil, "has no host in %q", addr)
		return
	}
	v.port(key, addr, port)
}

func (v *validator) port(key, addr, port string) {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		v.add(key, nil, "port %q in %q must be a number from 1 to 65535", port, addr)
	}
}

func (v *validator) loopback(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, err, `must be "ip:port" on a loopback address like "127.0.0.1:8080", got %q: %v`, addr, err)
		return
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		v.add(key, nil, `%q is not a loopback IP address (use 127.0.0.1 or [::1]); the API must not be reachable from the network`, host)
		return
	}
	v.port(key, addr, port)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func fmtAmount(minor int64, cur money.Currency) string {
	s, err := money.Format(minor, cur)
	if err != nil {
		return fmt.Sprintf("%d minor units", minor)
	}
	return s + " " + cur.String()
}

// knownCurrencies lists the currencies core/money knows, "156 CNY, ...".
func knownCurrencies() string {
	var out []string
	for n := 0; n <= 999; n++ {
		if c := money.Currency(n); c.Known() {
			out = append(out, c.Numeric()+" "+c.String())
		}
	}
	return strings.Join(out, ", ")
}
