package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests must not depend on the machine's zoneinfo

	"github.com/BurntSushi/toml"

	"github.com/posagent/posagent/core/money"
)

// doc builds a TOML document from "section.key", "raw TOML value" pairs.
// The terminal identity is filled in with valid values unless a pair sets
// it; a value of "-" leaves the key out.
func doc(pairs ...string) string {
	vals := map[string]string{
		"terminal.tid":           `"12345678"`,
		"terminal.mid":           `"123456789012345"`,
		"terminal.merchant_name": `"测试商户"`,
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		vals[pairs[i]] = pairs[i+1]
	}
	bySection := map[string][]string{}
	var sections []string
	for k, v := range vals {
		if v == "-" {
			continue
		}
		sec, key, _ := strings.Cut(k, ".")
		if _, ok := bySection[sec]; !ok {
			sections = append(sections, sec)
		}
		bySection[sec] = append(bySection[sec], key+" = "+v)
	}
	sort.Strings(sections)
	var b strings.Builder
	for _, s := range sections {
		lines := bySection[s]
		sort.Strings(lines)
		b.WriteString("[" + s + "]\n" + strings.Join(lines, "\n") + "\n\n")
	}
	return b.String()
}

func minimal() *Config {
	c := Default()
	c.Terminal.TID = "12345678"
	c.Terminal.MID = "123456789012345"
	c.Terminal.MerchantName = "测试商户"
	return c
}

func TestMinimalConfigIsDefaults(t *testing.T) {
	c, err := Parse([]byte(doc()))
	if err != nil {
		t.Fatal(err)
	}
	if want := minimal(); !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant Default() with the identity set:\n%+v", c, want)
	}
}

func TestDefaultNeedsIdentity(t *testing.T) {
	err := Default().Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Default().Validate() = %v, want ErrInvalid", err)
	}
	for _, k := range []string{"terminal.tid", "terminal.mid", "terminal.merchant_name"} {
		if !strings.Contains(err.Error(), k+": required") {
			t.Errorf("error %q does not say %s is required", err, k)
		}
	}
	if err := minimal().Validate(); err != nil {
		t.Errorf("minimal().Validate() = %v", err)
	}
}

func TestSampleParses(t *testing.T) {
	c, err := Parse([]byte(Sample()))
	if err != nil {
		t.Fatalf("Parse(Sample()) = %v", err)
	}
	want := minimal()
	want.Payment.MaxAmountMinor = 5000000 // the sample shows 50000.00
	if !reflect.DeepEqual(c, want) {
		t.Errorf("sample =\n%+v\nwant\n%+v", c, want)
	}

	// The sample lists every key, and nothing else.
	var m map[string]any
	md, err := toml.Decode(Sample(), &m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range md.Keys() {
		if len(k) == 2 {
			got = append(got, k.String())
		}
	}
	if want := Keys(); !reflect.DeepEqual(got, want) {
		t.Errorf("sample keys\n%v\nwant\n%v", got, want)
	}
}

func TestFullConfig(t *testing.T) {
	in := doc(
		"terminal.tid", `"AB12cd34"`,
		"terminal.currency", `"344"`,
		"terminal.timezone", `"Asia/Hong_Kong"`,
		"journal.path", `"/data/j.db"`,
		"journal.key_file", `"/data/k"`,
		"journal.lock_timeout", `"250ms"`,
		"board.profile", `"sim"`,
		"board.sim_dir", `"/tmp/possim"`,
		"api.socket", `""`,
		"api.tcp", `"[::1]:8080"`,
		"api.token_file", `"/etc/posagent/token"`,
		"payment.card_timeout", `"45s"`,
		"payment.auth_timeout", `"1m"`,
		"payment.reversal_retries", `2`,
		"payment.reversal_spacing", `"40s"`,
		"payment.max_amount", `"20000"`,
		"payment.cvm_limit", `"500.5"`,
		"payment.daily_max", `"100000"`,
		"payment.max_contactless", `"1000.00"`,
		"payment.max_keyed", `"500"`,
		"payment.max_qr", `""`,
		"offline.enabled", `true`,
		"offline.max_amount", `"100.00"`,
		"offline.max_total", `"1000.00"`,
		"offline.max_count", `50`,
		"offline.forward_window", `"12h"`,
		"offline.hard_stop", `"48h"`,
		"offline.max_signin_age", `"72h"`,
		"acquirer.primary", `"acq.example.com:5000"`,
		"acquirer.backup", `"10.0.0.2:5000"`,
		"acquirer.tpdu", `"600a0B0000"`,
		"acquirer.connect_timeout", `"5s"`,
		"acquirer.tls", `true`,
		"acquirer.tls_ca", `"/etc/posagent/acq-ca.pem"`,
		"acquirer.tls_cert", `"/etc/posagent/term.pem"`,
		"acquirer.tls_key", `"/etc/posagent/term.key"`,
		"acquirer.header", `"613100311108"`,
		"acquirer.mac", `"x9.19"`,
		"acquirer.signin_interval", `"12h"`,
		"log.level", `"DEBUG"`,
	)
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatalf("Parse = %v\n%s", err, in)
	}
	want := &Config{
		Terminal: Terminal{TID: "AB12cd34", MID: "123456789012345", MerchantName: "测试商户",
			Currency: money.HKD, Timezone: "Asia/Hong_Kong"},
		Journal: Journal{Path: "/data/j.db", KeyFile: "/data/k", LockTimeout: 250 * time.Millisecond},
		Board:   Board{Profile: ProfileSim, SimDir: "/tmp/possim"},
		API:     API{TCP: "[::1]:8080", TokenFile: "/etc/posagent/token"},
		Payment: Payment{CardTimeout: 45 * time.Second, AuthTimeout: time.Minute, ReversalRetries: 2, ReversalSpacing: 40 * time.Second, MaxAmountMinor: 2000000, CVMLimitMinor: 50050,
			DailyMaxMinor: 10000000, MaxContactlessMinor: 100000, MaxKeyedMinor: 50000},
		Offline: Offline{Enabled: true, MaxAmountMinor: 10000, MaxTotalMinor: 100000, MaxCount: 50, ForwardWindow: 12 * time.Hour, HardStop: 48 * time.Hour, MaxSignInAge: 72 * time.Hour},
		Acquirer: Acquirer{Primary: "acq.example.com:5000", Backup: "10.0.0.2:5000", TPDU: [5]byte{0x60, 0x0a, 0x0b, 0, 0}, ConnectTimeout: 5 * time.Second, TLS: true,
			Header: [6]byte{0x61, 0x31, 0x00, 0x31, 0x11, 0x08}, MAC: "x9.19", SignInInterval: 12 * time.Hour,
			TLSCA: "/etc/posagent/acq-ca.pem", TLSCert: "/etc/posagent/term.pem", TLSKey: "/etc/posagent/term.key"},
		Log: Log{Level: slog.LevelDebug},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	loc, err := c.Terminal.Location()
	if err != nil || loc.String() != "Asia/Hong_Kong" {
		t.Errorf("Location() = %v, %v", loc, err)
	}
}

// TestProblems checks one bad value at a time: the parse fails with
// ErrInvalid, exactly the expected keys have a problem, and each message
// names its key and says what is wrong.
func TestProblems(t *testing.T) {
	tests := []struct {
		name  string
		pairs []string
		want  map[string]string // key -> substring of its message
	}{
		{"tid short", []string{"terminal.tid", `"12345"`},
			map[string]string{"terminal.tid": "must be exactly 8 characters, got 5"}},
		{"tid long", []string{"terminal.tid", `"123456789"`},
			map[string]string{"terminal.tid": "must be exactly 8 characters, got 9"}},
		{"tid missing", []string{"terminal.tid", `-`},
			map[string]string{"terminal.tid": "required"}},
		{"tid punctuation", []string{"terminal.tid", `"1234-678"`},
			map[string]string{"terminal.tid": `found '-' at byte 4`}},
		{"tid non-ASCII counted in characters", []string{"terminal.tid", `"1234567é"`},
			map[string]string{"terminal.tid": `found 'é' at byte 7`}},
		{"tid wrong type", []string{"terminal.tid", `12345678`},
			map[string]string{"terminal.tid": "must be a string, got an integer"}},
		{"tid is a table", []string{"terminal.tid", `{ a = 1 }`},
			map[string]string{"terminal.tid": "must be a string, got a table"}},
		{"mid short", []string{"terminal.mid", `"12345"`},
			map[string]string{"terminal.mid": "must be exactly 15 characters, got 5"}},
		{"mid missing", []string{"terminal.mid", `""`},
			map[string]string{"terminal.mid": "required"}},
		{"merchant name too long", []string{"terminal.merchant_name", `"` + strings.Repeat("商", 41) + `"`},
			map[string]string{"terminal.merchant_name": "at most 40 characters, got 41"}},
		{"merchant name control char", []string{"terminal.merchant_name", `"Shop\u001b@"`},
			map[string]string{"terminal.merchant_name": "control characters, found U+001B"}},
		{"merchant name blank", []string{"terminal.merchant_name", `"   "`},
			map[string]string{"terminal.merchant_name": "blank"}},
		{"currency unknown", []string{"terminal.currency", `"999"`},
			map[string]string{"terminal.currency": "999 is not a currency this terminal knows (known: 048 BHD, 156 CNY"}},
		{"currency alpha", []string{"terminal.currency", `"CNY"`},
			map[string]string{"terminal.currency": `3-digit ISO 4217 numeric code like "156", got "CNY"`}},
		{"currency integer out of range", []string{"terminal.currency", `1560`},
			map[string]string{"terminal.currency": "got 1560"}},
		{"timezone unknown", []string{"terminal.timezone", `"Mars/Olympus"`},
			map[string]string{"terminal.timezone": `"Mars/Olympus" does not load`}},
		{"timezone empty", []string{"terminal.timezone", `""`},
			map[string]string{"terminal.timezone": "required"}},
		{"journal path empty", []string{"journal.path", `""`},
			map[string]string{"journal.path": "required"}},
		{"key file is the journal", []string{"journal.path", `"/x"`, "journal.key_file", `"/x"`},
			map[string]string{"journal.key_file": "must not be the same file as journal.path"}},
		{"lock timeout zero", []string{"journal.lock_timeout", `"0s"`},
			map[string]string{"journal.lock_timeout": "must be above zero, got 0s"}},
		{"lock timeout negative", []string{"journal.lock_timeout", `"-1s"`},
			map[string]string{"journal.lock_timeout": "must be above zero, got -1s"}},
		{"lock timeout no unit", []string{"journal.lock_timeout", `"5"`},
			map[string]string{"journal.lock_timeout": `"5" is not a duration`}},
		{"lock timeout integer", []string{"journal.lock_timeout", `5`},
			map[string]string{"journal.lock_timeout": "must be a duration string"}},
		{"board profile empty", []string{"board.profile", `""`},
			map[string]string{"board.profile": "required"}},
		{"board profile slash", []string{"board.profile", `"../etc"`},
			map[string]string{"board.profile": `found '/' at byte 2`}},
		{"no api listener", []string{"api.socket", `""`},
			map[string]string{"api.socket": "must be set when api.tcp is empty"}},
		{"socket path too long", []string{"api.socket", `"/` + strings.Repeat("s", 107) + `"`},
			map[string]string{"api.socket": "path is 108 bytes, a unix socket path must be at most 107"}},
		{"tcp not loopback", []string{"api.tcp", `"0.0.0.0:8080"`, "api.token_file", `"/t"`},
			map[string]string{"api.tcp": `"0.0.0.0" is not a loopback IP address`}},
		{"tcp hostname", []string{"api.tcp", `"localhost:8080"`, "api.token_file", `"/t"`},
			map[string]string{"api.tcp": `"localhost" is not a loopback IP address`}},
		{"tcp no port", []string{"api.tcp", `"127.0.0.1"`, "api.token_file", `"/t"`},
			map[string]string{"api.tcp": "missing port"}},
		{"tcp port zero", []string{"api.tcp", `"127.0.0.1:0"`, "api.token_file", `"/t"`},
			map[string]string{"api.tcp": `port "0" in "127.0.0.1:0" must be a number from 1 to 65535`}},
		{"tcp without token", []string{"api.tcp", `"127.0.0.1:8080"`},
			map[string]string{"api.token_file": "required when api.tcp is set"}},
		{"card timeout zero", []string{"payment.card_timeout", `"0"`},
			map[string]string{"payment.card_timeout": "must be above zero"}},
		{"auth timeout garbage", []string{"payment.auth_timeout", `"soon"`},
			map[string]string{"payment.auth_timeout": `"soon" is not a duration`}},
		{"reversal retries zero", []string{"payment.reversal_retries", `0`},
			map[string]string{"payment.reversal_retries": "must be between 1 and 3, got 0"}},
		{"reversal retries four", []string{"payment.reversal_retries", `4`},
			map[string]string{"payment.reversal_retries": "must be between 1 and 3, got 4"}},
		{"reversal spacing too short", []string{"payment.reversal_spacing", `"500ms"`},
			map[string]string{"payment.reversal_spacing": "must be between 1s and 10m, got 500ms"}},
		{"reversal retries huge", []string{"payment.reversal_retries", `9999999999`},
			map[string]string{"payment.reversal_retries": "9999999999 is out of range"}},
		{"reversal retries string", []string{"payment.reversal_retries", `"3"`},
			map[string]string{"payment.reversal_retries": "must be an integer, got a string"}},
		{"max amount three decimals", []string{"payment.max_amount", `"12.345"`},
			map[string]string{"payment.max_amount": `"12.345": CNY has 2 decimal places`}},
		{"max amount float", []string{"payment.max_amount", `50000.00`},
			map[string]string{"payment.max_amount": `must be a decimal string like "300.00", got a float`}},
		{"max amount above field 4", []string{"payment.max_amount", `"99999999999999"`},
			map[string]string{"payment.max_amount": "above the maximum"}},
		{"cvm limit empty", []string{"payment.cvm_limit", `""`},
			map[string]string{"payment.cvm_limit": "must not be empty"}},
		{"cvm limit negative", []string{"payment.cvm_limit", `"-1.00"`},
			map[string]string{"payment.cvm_limit": "only digits"}},
		{"daily max three decimals", []string{"payment.daily_max", `"1.001"`},
			map[string]string{"payment.daily_max": `"1.001": CNY has 2 decimal places`}},
		{"daily max number", []string{"payment.daily_max", `100000`},
			map[string]string{"payment.daily_max": `must be a decimal string like "300.00", got an integer`}},
		{"daily max below max amount", []string{"payment.daily_max", `"1000.00"`, "payment.max_amount", `"2000.00"`},
			map[string]string{"payment.daily_max": "1000.00 CNY is below payment.max_amount 2000.00 CNY"}},
		{"max contactless above max amount", []string{"payment.max_contactless", `"2000.01"`, "payment.max_amount", `"2000.00"`},
			map[string]string{"payment.max_contactless": "2000.01 CNY is above payment.max_amount 2000.00 CNY"}},
		{"max keyed negative", []string{"payment.max_keyed", `"-5"`},
			map[string]string{"payment.max_keyed": "only digits"}},
		{"max qr above field 4", []string{"payment.max_qr", `"99999999999999"`},
			map[string]string{"payment.max_qr": "above the maximum"}},
		{"offline enabled not bool", []string{"offline.enabled", `"yes"`},
			map[string]string{"offline.enabled": "must be true or false, got a string"}},
		{"offline max zero when enabled", []string{"offline.enabled", `true`, "offline.max_amount", `"0"`},
			map[string]string{"offline.max_amount": "must be above 0 when offline.enabled is true"}},
		{"offline total below max", []string{"offline.enabled", `true`, "offline.max_total", `"100.00"`},
			map[string]string{"offline.max_total": "100.00 CNY is below offline.max_amount 300.00 CNY"}},
		{"offline max above payment max", []string{"offline.enabled", `true`, "payment.max_amount", `"200.00"`},
			map[string]string{"offline.max_amount": "300.00 CNY is above payment.max_amount 200.00 CNY"}},
		{"offline count zero when enabled", []string{"offline.enabled", `true`, "offline.max_count", `0`},
			map[string]string{"offline.max_count": "must be at least 1, got 0"}},
		{"offline count negative", []string{"offline.max_count", `-5`},
			map[string]string{"offline.max_count": "must be at least 1, got -5"}},
		{"forward window beyond hard stop", []string{"offline.forward_window", `"96h"`},
			map[string]string{"offline.forward_window": "96h0m0s is longer than offline.hard_stop 72h0m0s"}},
		{"hard stop zero", []string{"offline.hard_stop", `"0s"`},
			map[string]string{"offline.hard_stop": "must be above zero"}},
		{"signin age negative", []string{"offline.max_signin_age", `"-168h"`},
			map[string]string{"offline.max_signin_age": "must be above zero"}},
		{"primary no port", []string{"acquirer.primary", `"acq.example.com"`},
			map[string]string{"acquirer.primary": `must be "host:port"`}},
		{"primary no host", []string{"acquirer.primary", `":5000"`},
			map[string]string{"acquirer.primary": "has no host"}},
		{"primary bad port", []string{"acquirer.primary", `"h:http"`},
			map[string]string{"acquirer.primary": `port "http"`}},
		{"backup without primary", []string{"acquirer.backup", `"h:1"`},
			map[string]string{"acquirer.backup": "set without acquirer.primary"}},
		{"backup same as primary", []string{"acquirer.primary", `"h:1"`, "acquirer.backup", `"h:1"`},
			map[string]string{"acquirer.backup": "same as acquirer.primary"}},
		{"tpdu short", []string{"acquirer.tpdu", `"600000"`},
			map[string]string{"acquirer.tpdu": "must be exactly 10 hex digits, got 6 characters"}},
		{"tpdu not hex", []string{"acquirer.tpdu", `"60000000G0"`},
			map[string]string{"acquirer.tpdu": `found 'G' at position 9`}},
		{"connect timeout zero", []string{"acquirer.connect_timeout", `"0ms"`},
			map[string]string{"acquirer.connect_timeout": "must be above zero"}},
		{"tls without files", []string{"acquirer.primary", `"127.0.0.1:5000"`, "acquirer.tls", `true`},
			map[string]string{"acquirer.tls_ca": "required when acquirer.tls", "acquirer.tls_cert": "required", "acquirer.tls_key": "required"}},
		{"bad mac", []string{"acquirer.mac", `"md5"`},
			map[string]string{"acquirer.mac": `"unionpay-ecb", "x9.19" or "x9.9"`}},
		{"bad header", []string{"acquirer.header", `"6031"`},
			map[string]string{"acquirer.header": "exactly 12 hex digits"}},
		{"tls not bool", []string{"acquirer.tls", `1`},
			map[string]string{"acquirer.tls": "must be true or false, got an integer"}},
		{"log level unknown", []string{"log.level", `"verbose"`},
			map[string]string{"log.level": `must be one of debug, info, warn, error; got "verbose"`}},
		{"unknown key", []string{"terminal.tdi", `"12345678"`},
			map[string]string{"terminal.tdi": "unknown key"}},
		{"unknown key wrong case", []string{"terminal.TID", `"12345678"`, "terminal.tid", `-`},
			map[string]string{"terminal.TID": "did you mean terminal.tid?", "terminal.tid": "required"}},
		{"unknown section wrong case", []string{"Terminal.tid", `"12345678"`},
			map[string]string{"Terminal": "did you mean terminal?"}},
		{"unknown section", []string{"printer.port", `"/dev/ttyACM0"`},
			map[string]string{"printer": "unknown key"}},
		{"unknown nested table", []string{"board.pins", `{ paper = 17 }`},
			map[string]string{"board.pins": "unknown key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkProblems(t, doc(tc.pairs...), tc.want)
		})
	}
	// A section that is not a table needs a top-level key, which doc
	// cannot write.
	t.Run("section of wrong type", func(t *testing.T) {
		checkProblems(t, "log = \"debug\"\n"+doc(), map[string]string{"log": "must be a table ([log]), got a string"})
	})
}

func checkProblems(t *testing.T, in string, want map[string]string) {
	t.Helper()
	c, err := Parse([]byte(in))
	if err == nil {
		t.Fatalf("Parse succeeded (%+v), want problems %v\ninput:\n%s", c, want, in)
	}
	if c != nil {
		t.Errorf("Parse returned a config with an error")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not match ErrInvalid", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T is not a *ValidationError", err)
	}
	got := map[string]string{}
	for _, p := range ve.Problems {
		got[p.Key] = p.Error()
		if !strings.HasPrefix(p.Error(), p.Key+": ") {
			t.Errorf("message %q does not start with its key %q", p.Error(), p.Key)
		}
		if !strings.Contains(err.Error(), p.Error()) {
			t.Errorf("error text %q lacks problem %q", err, p)
		}
	}
	for k, sub := range want {
		msg, ok := got[k]
		if !ok {
			t.Errorf("no problem for %s; got %v", k, err)
			continue
		}
		if !strings.Contains(msg, sub) {
			t.Errorf("%s: message %q does not contain %q", k, msg, sub)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected problem %q", got[k])
		}
	}
}

func TestAllProblemsCollected(t *testing.T) {
	in := doc(
		"terminal.tid", `"12345"`,
		"terminal.mid", `42`,
		"payment.max_amount", `"12.345"`,
		"payment.reversal_retries", `7`,
		"offline.hard_stop", `"0s"`,
		"log.levle", `"info"`,
	)
	_, err := Parse([]byte(in))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse = %v, want *ValidationError", err)
	}
	var keys []string
	for _, p := range ve.Problems {
		keys = append(keys, p.Key)
	}
	want := []string{"log.levle", "terminal.tid", "terminal.mid", "payment.max_amount",
		"payment.reversal_retries", "offline.hard_stop"}
	sort.Strings(keys)
	sort.Strings(want)
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("problems for %v, want %v\n%v", keys, want, err)
	}
	if !strings.HasPrefix(err.Error(), "invalid config (6 problems):\n  ") {
		t.Errorf("error text:\n%v", err)
	}
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("error with an unknown key does not match ErrUnknownKey")
	}
	if !errors.Is(err, money.ErrSyntax) {
		t.Errorf("error with a bad amount does not match money.ErrSyntax")
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key == "" {
		t.Errorf("errors.As(*FieldError) = %v", fe)
	}
}

func TestUnknownKeyOnlyIsNotUnknownOtherwise(t *testing.T) {
	_, err := Parse([]byte(doc("terminal.tid", `"1"`)))
	if errors.Is(err, ErrUnknownKey) {
		t.Errorf("%v matches ErrUnknownKey", err)
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	tests := []struct {
		in        string
		line, col int
	}{
		{"[terminal]\ntid = \"123\nmid = \"x\"\n", 2, 11},
		{"[terminal]\ntid = \"1\"\n[journal]\n  path = = 3\n", 4, 10},
		{"[terminal]\ntid = '1'\ntid = '2'\n", 3, 11},
		{"[terminal]\ntid = \"12345678\" mid = \"1\"\n", 2, 17},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.in))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want *SyntaxError", tc.in, err)
			continue
		}
		if !errors.Is(err, ErrSyntax) || errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): %v: Is(ErrSyntax) = %v, Is(ErrInvalid) = %v", tc.in, err,
				errors.Is(err, ErrSyntax), errors.Is(err, ErrInvalid))
		}
		if se.Line != tc.line || se.Column != tc.col {
			t.Errorf("Parse(%q) at line %d column %d, want %d:%d (%v)", tc.in, se.Line, se.Column, tc.line, tc.col, err)
		}
		if want := fmt.Sprintf("line %d, column %d", tc.line, tc.col); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestTooLarge(t *testing.T) {
	big := []byte("# " + strings.Repeat("x", MaxSize))
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse(%d bytes) = %v, want ErrTooLarge", len(big), err)
	}
}

func TestOtherCurrency(t *testing.T) {
	// JPY has no minor units, and the CNY defaults of the amount keys do
	// not apply.
	t.Run("cvm limit required", func(t *testing.T) {
		checkProblems(t, doc("terminal.currency", `"392"`), map[string]string{
			"payment.cvm_limit": "required when terminal.currency is 392 (JPY): the default 1000.00 is in CNY",
		})
	})
	t.Run("offline amounts required when enabled", func(t *testing.T) {
		checkProblems(t, doc("terminal.currency", `"392"`, "payment.cvm_limit", `"10000"`, "offline.enabled", "true"),
			map[string]string{
				"offline.max_amount": "required when terminal.currency is 392",
				"offline.max_total":  "required when terminal.currency is 392",
			})
	})
	t.Run("decimals", func(t *testing.T) {
		checkProblems(t, doc("terminal.currency", `392`, "payment.cvm_limit", `"10000.00"`),
			map[string]string{"payment.cvm_limit": "JPY has no minor units"})
	})
	t.Run("valid", func(t *testing.T) {
		c, err := Parse([]byte(doc("terminal.currency", `392`, "payment.cvm_limit", `"10000"`)))
		if err != nil {
			t.Fatal(err)
		}
		if c.Terminal.Currency != money.JPY || c.Payment.CVMLimitMinor != 10000 ||
			c.Offline.MaxAmountMinor != 0 || c.Offline.MaxTotalMinor != 0 || c.Payment.MaxAmountMinor != 0 {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("bad currency skips amounts", func(t *testing.T) {
		checkProblems(t, doc("terminal.currency", `"000"`, "payment.cvm_limit", `"1.234"`),
			map[string]string{"terminal.currency": "000 is not a currency"})
	})
}

func TestValidateProgrammatic(t *testing.T) {
	c := minimal()
	c.Log.Level = slog.Level(2)
	c.Offline.MaxCount = -1
	c.Payment.CVMLimitMinor = money.MaxMinor + 1
	c.Payment.DailyMaxMinor = -1
	c.Payment.MaxQRMinor = money.MaxMinor + 1
	err := c.Validate()
	for _, want := range []string{
		"payment.daily_max: -1 minor units is outside 0..999999999999",
		"payment.max_qr: 1000000000000 minor units is outside 0..999999999999",
		"log.level: must be one of debug, info, warn, error; got INFO+2",
		"offline.max_count: must be at least 1, got -1",
		"payment.cvm_limit: 1000000000000 minor units is outside 0..999999999999",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
}

// TestPaymentLimitEdges: a per-mode or daily maximum equal to
// payment.max_amount is accepted, "" means no limit, and in a currency
// other than CNY the keys may be left out (their default is no limit).
func TestPaymentLimitEdges(t *testing.T) {
	c, err := Parse([]byte(doc("payment.max_amount", `"500.00"`, "payment.daily_max", `"500.00"`,
		"payment.max_contactless", `"500.00"`, "payment.max_keyed", `"0.01"`, "payment.max_qr", `""`)))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Payment; p.DailyMaxMinor != 50000 || p.MaxContactlessMinor != 50000 || p.MaxKeyedMinor != 1 || p.MaxQRMinor != 0 {
		t.Fatalf("payment = %+v", p)
	}
	c, err = Parse([]byte(doc("terminal.currency", `"392"`, "payment.cvm_limit", `"10000"`, "payment.max_keyed", `"3000"`)))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Payment; p.MaxKeyedMinor != 3000 || p.DailyMaxMinor != 0 || p.MaxContactlessMinor != 0 {
		t.Fatalf("JPY payment = %+v", p)
	}
}

func TestLocationErrors(t *testing.T) {
	for _, tz := range []string{"", "Nowhere/Else"} {
		if _, err := (Terminal{Timezone: tz}).Location(); !errors.Is(err, ErrInvalid) ||
			!strings.Contains(err.Error(), "terminal.timezone") {
			t.Errorf("Location(%q) = %v", tz, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte(Sample()), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(good); err != nil || c.Terminal.TID != "12345678" {
		t.Errorf("Load(sample) = %+v, %v", c, err)
	}

	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte(doc("terminal.tid", `"1"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "terminal.tid") {
		t.Errorf("Load(bad) = %v", err)
	}

	if _, err := Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(Sample()))
	f.Add([]byte(doc()))
	f.Add([]byte(doc("offline.enabled", "true", "api.tcp", `"127.0.0.1:1"`, "api.token_file", `"t"`)))
	f.Add([]byte(doc("terminal.currency", `392`, "payment.cvm_limit", `"10000"`)))
	f.Add([]byte("[terminal]\ntid = \"123\n"))
	f.Add([]byte("terminal = 5\n[[log]]\n"))
	f.Add([]byte{})
	f.Add([]byte("[a.b.c]\nd = [1, [2, {e = 3}]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error matches no sentinel: %v", err)
			}
			var ve *ValidationError
			if errors.As(err, &ve) {
				for _, p := range ve.Problems {
					if p.Key == "" || !strings.HasPrefix(p.Error(), p.Key+": ") {
						t.Fatalf("problem without its key: %q", p)
					}
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse succeeded but Validate fails: %v", err)
		}
		if len(c.Terminal.TID) != TIDLength || len(c.Terminal.MID) != MIDLength || c.Terminal.MerchantName == "" {
			t.Fatalf("bad identity %+v", c.Terminal)
		}
		if !c.Terminal.Currency.Known() {
			t.Fatalf("unknown currency %v", c.Terminal.Currency)
		}
		if _, err := c.Terminal.Location(); err != nil {
			t.Fatal(err)
		}
		for _, d := range []time.Duration{c.Journal.LockTimeout, c.Payment.CardTimeout, c.Payment.AuthTimeout,
			c.Offline.ForwardWindow, c.Offline.HardStop, c.Offline.MaxSignInAge, c.Acquirer.ConnectTimeout} {
			if d <= 0 {
				t.Fatalf("duration %v <= 0 in %+v", d, c)
			}
		}
		if c.Offline.ForwardWindow > c.Offline.HardStop {
			t.Fatalf("forward window beyond hard stop")
		}
		for _, a := range []int64{c.Payment.MaxAmountMinor, c.Payment.CVMLimitMinor, c.Offline.MaxAmountMinor, c.Offline.MaxTotalMinor} {
			if a < 0 || a > money.MaxMinor {
				t.Fatalf("amount %d out of range", a)
			}
		}
		if r := c.Payment.ReversalRetries; r < 1 || r > MaxReversalRetries {
			t.Fatalf("reversal retries %d", r)
		}
		if c.Offline.Enabled && (c.Offline.MaxAmountMinor <= 0 || c.Offline.MaxTotalMinor < c.Offline.MaxAmountMinor || c.Offline.MaxCount < 1) {
			t.Fatalf("offline limits inconsistent: %+v", c.Offline)
		}
		if c.API.Socket == "" && c.API.TCP == "" {
			t.Fatal("API listens nowhere")
		}
		if c.API.TCP != "" && c.API.TokenFile == "" {
			t.Fatal("TCP API without a token")
		}
	})
}
