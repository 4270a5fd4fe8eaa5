// Package config holds the agent's configuration: the Go types, their
// defaults, the TOML file format (github.com/BurntSushi/toml) and the
// validation that runs before the agent takes a payment.
//
// Parse does no I/O: it decodes bytes, applies defaults for every key the
// file leaves out, rejects unknown keys, converts durations and amounts, and
// validates the result. It reports every problem it finds in one error (a
// *ValidationError), each naming the TOML key it is about:
//
//	invalid config (2 problems):
//	  terminal.tid: must be exactly 8 characters, got 5
//	  payment.max_amount: money: invalid amount "12.345": CNY has 2 decimal places
//
// Amounts are integer minor units of the terminal currency (DESIGN.md
// invariant 9); they are written in the file as decimal strings and parsed
// with core/money.Parse.
//
// Timezones are loaded with time.LoadLocation. A device has no zoneinfo
// database of its own, so a binary that uses this package must embed one
// (import _ "time/tzdata" in its main package).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/posagent/posagent/core/money"
)

// Board profile names with a fixed meaning. Any other name selects a board
// profile of that name.
const (
	ProfileAuto = "auto" // detect the board from /proc/device-tree/model
	ProfileSim  = "sim"  // use possim's emulated devices
)

// MaxSize is the largest config file Parse accepts, in bytes.
const MaxSize = 1 << 20

// Config is the whole agent configuration. The zero value is not valid;
// start from Default or Parse.
type Config struct {
	Terminal Terminal
	Journal  Journal
	Board    Board
	API      API
	Payment  Payment
	Offline  Offline
	Acquirer Acquirer
	Log      Log
}

// Terminal is the [terminal] table: who the terminal is at the acquirer.
type Terminal struct {
	// TID is the terminal ID (ISO 8583 field 41): exactly 8 letters or digits.
	TID string
	// MID is the merchant ID (ISO 8583 field 42): exactly 15 letters or digits.
	MID string
	// MerchantName is printed on receipts: at most 40 characters (runes).
	MerchantName string
	// Currency is the terminal currency; every amount in the config is in it.
	Currency money.Currency
	// Timezone is an IANA zone name used for receipts and settlement times.
	Timezone string
}

// Location loads t.Timezone with time.LoadLocation. It fails when the zone
// is unknown or the binary has no zoneinfo database (see the package doc).
func (t Terminal) Location() (*time.Location, error) {
	if t.Timezone == "" {
		return nil, fmt.Errorf("%w: terminal.timezone: empty", ErrInvalid)
	}
	loc, err := time.LoadLocation(t.Timezone)
	if err != nil {
		return nil, fmt.Errorf("%w: terminal.timezone: %w", ErrInvalid, err)
	}
	return loc, nil
}

// Journal is the [journal] table: where the bbolt journal and the device key
// live.
type Journal struct {
	Path        string        // journal database file
	KeyFile     string        // device key file the journal's sealing key comes from
	LockTimeout time.Duration // how long to wait for the journal's file lock
}

// Board is the [board] table: which board profile wires the devices.
type Board struct {
	// Profile is ProfileAuto, ProfileSim or a named board profile.
	Profile string
	// SimDir is the directory possim's devices live in, for ProfileSim.
	// Empty means the sim profile's own default.
	SimDir string
	// SimAutoTap, for ProfileSim with the in-process stand-in card reader:
	// present the default test card this long after a sale starts waiting
	// for a card. Zero means wait for an explicit tap.
	SimAutoTap time.Duration
}

// API is the [api] table: where the local API listens.
type API struct {
	Socket    string // unix socket path; may be empty when TCP is set
	TCP       string // optional loopback "ip:port"
	TokenFile string // bearer token file; required when TCP is set
}

// Payment is the [payment] table: online payment limits and timeouts.
type Payment struct {
	CardTimeout     time.Duration // how long to wait for a card or QR code
	AuthTimeout     time.Duration // how long to wait for the acquirer's answer
	ReversalRetries int           // reversal attempts before manual handling, 1..3
	// ReversalSpacing is the least time between two attempts of one
	// reversal, doubled after each (1s..10m, default 15s).
	ReversalSpacing time.Duration
	// MaxAmountMinor is the per-transaction maximum in minor units of
	// Terminal.Currency; 0 means no limit.
	MaxAmountMinor int64
	// CVMLimitMinor is the no-CVM limit (QuickPass): at or below it no
	// signature is asked for. 0 means a signature is always asked for.
	CVMLimitMinor int64
	// DailyMaxMinor caps the local day's sales (approved online plus
	// stored offline, the new one included), minor units; 0 means no limit.
	DailyMaxMinor int64
	// MaxContactlessMinor, MaxKeyedMinor and MaxQRMinor are per-transaction
	// maxima for one entry mode, minor units; 0 means no limit of its own
	// (payment.max_amount still applies).
	MaxContactlessMinor int64
	MaxKeyedMinor       int64
	MaxQRMinor          int64
}

// Offline is the [offline] table: store-and-forward risk limits.
type Offline struct {
	Enabled        bool
	MaxAmountMinor int64 // per transaction, minor units
	MaxTotalMinor  int64 // total stored and not yet forwarded, minor units
	MaxCount       int   // stored transactions not yet forwarded
	// ForwardWindow is the age of the oldest stored transaction after which
	// the terminal warns that the outbox must be forwarded soon; offline
	// sales are still taken until HardStop (see core/risk).
	ForwardWindow time.Duration
	// HardStop is the age after which a stored transaction is given up on
	// (moved to the visible expired state, never deleted); while the oldest
	// stored one is older, no further offline sale is taken.
	HardStop time.Duration
	// MaxSignInAge is how old the last successful sign-in (working keys) may
	// be for offline sales to be taken.
	MaxSignInAge time.Duration
}

// Acquirer is the [acquirer] table: the ISO 8583 host link.
type Acquirer struct {
	// Primary is the host as "host:port"; empty selects the in-process
	// stand-in acquirer, which is for development only.
	Primary string
	// Backup is an optional second "host:port".
	Backup string
	// TPDU is the 5-byte transport protocol data unit sent before the header.
	TPDU [5]byte
	// Header is the 6-byte message header after the TPDU (acquirer-assigned).
	Header         [6]byte
	ConnectTimeout time.Duration
	// MAC names the field-64 algorithm: "unionpay-ecb" (default), "x9.19"
	// or "x9.9".
	MAC string
	// SignInInterval: sign in again when the last sign-in is this old.
	SignInInterval time.Duration
	TLS            bool
	// TLSCA is the PEM file of the acquirer's CA (pinned: the only one
	// trusted); TLSCert and TLSKey are the terminal's client certificate.
	TLSCA, TLSCert, TLSKey string
}

// Log is the [log] table.
type Log struct {
	Level slog.Level // one of slog.LevelDebug, LevelInfo, LevelWarn, LevelError
}

// DefaultHeader is the default 6-byte message header (60 31 00 00 00 00).
var DefaultHeader = [6]byte{0x60, 0x31, 0x00, 0x00, 0x00, 0x00}

// Default values of the keys that have one.
const (
	DefaultJournalPath = "/var/lib/posagent/journal.db"
	DefaultKeyFile     = "/var/lib/posagent/device.key"
	DefaultSocket      = "/run/posagent/api.sock"
	DefaultTimezone    = "Asia/Shanghai"
)

// DefaultTPDU is the default TPDU, 60 0000 0000.
var DefaultTPDU = [5]byte{0x60, 0x00, 0x00, 0x00, 0x00}

// Default returns the default configuration. The terminal identity (TID,
// MID, merchant name) has no default and is empty, so Default().Validate()
// fails until those are set. Amounts are in the default currency, CNY.
func Default() *Config {
	return &Config{
		Terminal: Terminal{
			Currency: money.DefaultCurrency,
			Timezone: DefaultTimezone,
		},
		Journal: Journal{
			Path:        DefaultJournalPath,
			KeyFile:     DefaultKeyFile,
			LockTimeout: time.Second,
		},
		Board: Board{Profile: ProfileAuto},
		API:   API{Socket: DefaultSocket},
		Payment: Payment{
			CardTimeout:     60 * time.Second,
			AuthTimeout:     30 * time.Second,
			ReversalRetries: 3,
			ReversalSpacing: 15 * time.Second,
			MaxAmountMinor:  0,      // no limit
			CVMLimitMinor:   100000, // 1000.00 CNY
		},
		Offline: Offline{
			Enabled:        false,
			MaxAmountMinor: 30000,  // 300.00 CNY
			MaxTotalMinor:  500000, // 5000.00 CNY
			MaxCount:       200,
			ForwardWindow:  24 * time.Hour,
			HardStop:       72 * time.Hour,
			MaxSignInAge:   168 * time.Hour,
		},
		Acquirer: Acquirer{
			TPDU:           DefaultTPDU,
			ConnectTimeout: 10 * time.Second,
			Header:         DefaultHeader,
			MAC:            "unionpay-ecb",
			SignInInterval: 24 * time.Hour,
		},
		Log: Log{Level: slog.LevelInfo},
	}
}

// Load reads the file at path and parses it with Parse. Errors name the
// path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// ErrInvalid is matched (errors.Is) by every error that reports a bad value,
// an unknown key or a wrong type.
var ErrInvalid = errors.New("config: invalid")

// ErrUnknownKey is matched (errors.Is) by an error that reports a key the
// config format does not have. Such an error also matches ErrInvalid.
var ErrUnknownKey = errors.New("config: unknown key")

// ErrSyntax is matched (errors.Is) by a *SyntaxError: the input is not TOML.
var ErrSyntax = errors.New("config: TOML syntax error")

// ErrTooLarge is returned for input larger than MaxSize.
var ErrTooLarge = errors.New("config: input too large")

// SyntaxError is a TOML syntax error with its position in the input.
type SyntaxError struct {
	Line   int    // 1-based
	Column int    // 1-based
	Msg    string // the TOML parser's description
}

// Error implements error: "config: line 3, column 7: <problem>".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("config: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Is reports whether target is ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// FieldError is one problem with one key.
type FieldError struct {
	Key     string // dotted TOML key, e.g. "terminal.tid"
	Problem string // what is wrong, e.g. "must be exactly 8 characters, got 5"
	Err     error  // underlying error (e.g. from core/money), or nil
}

// Error implements error: "terminal.tid: must be exactly 8 characters, got 5".
func (e *FieldError) Error() string { return e.Key + ": " + e.Problem }

// Unwrap returns ErrInvalid and the underlying error, if any.
func (e *FieldError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

// ValidationError holds every problem found in a config. It matches
// ErrInvalid, and each of its problems can be reached with errors.As.
type ValidationError struct {
	Problems []*FieldError
}

// Error lists every problem, one per line after the first.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid config: " + e.Problems[0].Error()
	}
	s := fmt.Sprintf("invalid config (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		s += "\n  " + p.Error()
	}
	return s
}

// Unwrap returns ErrInvalid followed by every problem.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, 0, len(e.Problems)+1)
	out = append(out, ErrInvalid)
	for _, p := range e.Problems {
		out = append(out, p)
	}
	return out
}

// problems collects FieldErrors, remembering which keys already have one.
type problems struct {
	list []*FieldError
	keys map[string]bool
}

func (p *problems) add(key string, err error, format string, args ...any) {
	if p.keys == nil {
		p.keys = map[string]bool{}
	}
	p.keys[key] = true
	p.list = append(p.list, &FieldError{Key: key, Problem: fmt.Sprintf(format, args...), Err: err})
}

func (p *problems) has(key string) bool { return p.keys[key] }

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.list}
}
