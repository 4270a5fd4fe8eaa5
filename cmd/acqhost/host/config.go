package host

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/posagent/posagent/core/iso8583"
)

// ErrConfig is wrapped by every configuration error; the message names the
// key at fault.
var ErrConfig = errors.New("acqhost: invalid config")

// Defaults.
const (
	DefaultListen     = "127.0.0.1:5000"
	DefaultDB         = "acqhost.db"
	DefaultAcquirerID = "99990000"
)

// Config is a validated host configuration.
type Config struct {
	// Listen is the TCP address of the terminal link (127.0.0.1 unless
	// the operator names another interface).
	Listen string
	// Admin is the loopback address of the admin HTTP API; empty: none.
	Admin string
	// DB is the path of the bbolt file.
	DB string
	// MAC is the field-64 algorithm (unionpay-ecb by default).
	MAC iso8583.MACAlgorithm
	// AcquirerID goes in field 32 of financial answers (n..11).
	AcquirerID string
	// Location is the zone of the host time in fields 12, 13 and 15.
	Location *time.Location
	// TLS, when Cert is set, makes the link TLS 1.3; with ClientCA the
	// host requires and verifies client certificates.
	TLS TLSFiles
	// Faults are the initial fault settings.
	Faults Faults
	// Terminals are the terminals the host knows.
	Terminals []Terminal
}

// TLSFiles are PEM file paths.
type TLSFiles struct {
	Cert     string
	Key      string
	ClientCA string
}

// Terminal is one terminal the host knows.
type Terminal struct {
	TID  string // field 41, 8 characters
	MID  string // field 42, 15 characters
	TMK  []byte // terminal master key, 16 bytes (double-length 3DES)
	Name string // for people
}

// fileConfig is the TOML form.
type fileConfig struct {
	Listen     string `toml:"listen"`
	Admin      string `toml:"admin"`
	DB         string `toml:"db"`
	MAC        string `toml:"mac"`
	AcquirerID string `toml:"acquirer_id"`
	Timezone   string `toml:"timezone"`
	TLS        struct {
		Cert     string `toml:"cert"`
		Key      string `toml:"key"`
		ClientCA string `toml:"client_ca"`
	} `toml:"tls"`
	Faults struct {
		Latency    string `toml:"latency"`
		DropEvery  int    `toml:"drop_every"`
		CloseAfter int    `toml:"close_after"`
		NoAnswer98 *bool  `toml:"no_answer_98"`
	} `toml:"faults"`
	Terminals []struct {
		TID  string `toml:"tid"`
		MID  string `toml:"mid"`
		TMK  string `toml:"tmk"`
		Name string `toml:"name"`
	} `toml:"terminals"`
}

// SampleConfig is a commented configuration for a first run.
const SampleConfig = `# acqhost — reference acquirer host (docs/acqhost.md)
listen = "127.0.0.1:5000"      # terminal link; 127.0.0.1 unless you mean otherwise
admin = "127.0.0.1:5080"       # admin HTTP API (loopback only); omit for none
db = "acqhost.db"              # bbolt file, relative to this file
mac = "unionpay-ecb"           # or "x9.19" (uses all 16 MAK bytes) or "x9.9"
acquirer_id = "99990000"       # field 32
timezone = "Asia/Shanghai"     # host time in fields 12/13/15 (default UTC)

# [tls]                        # TLS 1.3; client_ca makes client certificates mandatory
# cert = "host.pem"
# key = "host.key"
# client_ca = "terminals-ca.pem"

[faults]
latency = "0s"                 # added to every answer
drop_every = 0                 # drop every Nth answer (0: never)
close_after = 0                # close a connection after N messages (0: never)
no_answer_98 = true            # amount (or payment code) ending in 98: no answer

[[terminals]]
tid = "10000001"
mid = "898100012340001"
tmk = "0123456789ABCDEFFEDCBA9876543210"
name = "dev terminal"
`

// LoadConfig reads and validates the TOML file at path. Relative paths in
// it (db, TLS files) are relative to the file's directory.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg, err := ParseConfig(data, filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses and validates TOML; baseDir resolves relative paths.
// Unknown keys are errors.
func ParseConfig(data []byte, baseDir string) (Config, error) {
	var fc fileConfig
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&fc)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("%w: unknown key(s) %s", ErrConfig, strings.Join(keys, ", "))
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) || baseDir == "" {
			return p
		}
		return filepath.Join(baseDir, p)
	}
	cfg := Config{
		Listen:     fc.Listen,
		Admin:      fc.Admin,
		DB:         rel(fc.DB),
		AcquirerID: fc.AcquirerID,
		TLS:        TLSFiles{Cert: rel(fc.TLS.Cert), Key: rel(fc.TLS.Key), ClientCA: rel(fc.TLS.ClientCA)},
		Faults: Faults{
			DropEvery:  fc.Faults.DropEvery,
			CloseAfter: fc.Faults.CloseAfter,
			NoAnswer98: fc.Faults.NoAnswer98 == nil || *fc.Faults.NoAnswer98,
		},
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if fc.DB == "" {
		cfg.DB = rel(DefaultDB)
	}
	if cfg.AcquirerID == "" {
		cfg.AcquirerID = DefaultAcquirerID
	}
	cfg.MAC = iso8583.MACUnionPayECB
	if fc.MAC != "" {
		if cfg.MAC, err = iso8583.ParseMACAlgorithm(fc.MAC); err != nil {
			return Config{}, fmt.Errorf("%w: mac: %w", ErrConfig, err)
		}
	}
	cfg.Location = time.UTC
	if fc.Timezone != "" {
		if cfg.Location, err = time.LoadLocation(fc.Timezone); err != nil {
			return Config{}, fmt.Errorf("%w: timezone: %w", ErrConfig, err)
		}
	}
	if fc.Faults.Latency != "" {
		if cfg.Faults.Latency, err = time.ParseDuration(fc.Faults.Latency); err != nil {
			return Config{}, fmt.Errorf("%w: faults.latency: %w", ErrConfig, err)
		}
	}
	for i, t := range fc.Terminals {
		tmk, err := hex.DecodeString(t.TMK)
		if err != nil || len(t.TMK) != 32 {
			return Config{}, fmt.Errorf("%w: terminals[%d].tmk: want 32 hex digits, got %d characters", ErrConfig, i, len(t.TMK))
		}
		cfg.Terminals = append(cfg.Terminals, Terminal{TID: t.TID, MID: t.MID, TMK: tmk, Name: t.Name})
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks a Config built in Go (ParseConfig calls it).
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("%w: listen %q: %w", ErrConfig, c.Listen, err)
	}
	if c.Admin != "" {
		if err := CheckLoopback(c.Admin); err != nil {
			return fmt.Errorf("%w: admin: %w", ErrConfig, err)
		}
	}
	if c.DB == "" {
		return fmt.Errorf("%w: db: empty path", ErrConfig)
	}
	switch c.MAC {
	case iso8583.MACUnionPayECB, iso8583.MACX919, iso8583.MACX99:
	default:
		return fmt.Errorf("%w: mac: unknown algorithm %d", ErrConfig, c.MAC)
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if n := len(c.AcquirerID); n == 0 || n > 11 || strings.Trim(c.AcquirerID, "0123456789") != "" {
		return fmt.Errorf("%w: acquirer_id %q: want 1 to 11 digits", ErrConfig, c.AcquirerID)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return fmt.Errorf("%w: tls: cert and key go together", ErrConfig)
	}
	if c.TLS.ClientCA != "" && c.TLS.Cert == "" {
		return fmt.Errorf("%w: tls.client_ca needs tls.cert and tls.key", ErrConfig)
	}
	if err := c.Faults.validate(); err != nil {
		return fmt.Errorf("%w: faults.%w", ErrConfig, err)
	}
	if len(c.Terminals) == 0 {
		return fmt.Errorf("%w: terminals: none configured", ErrConfig)
	}
	seen := map[string]int{}
	for i, t := range c.Terminals {
		if len(t.TID) != 8 || !printable(t.TID) {
			return fmt.Errorf("%w: terminals[%d].tid %q: want 8 printable characters", ErrConfig, i, t.TID)
		}
		if len(t.MID) != 15 || !printable(t.MID) {
			return fmt.Errorf("%w: terminals[%d].mid %q: want 15 printable characters", ErrConfig, i, t.MID)
		}
		if len(t.TMK) != 16 {
			return fmt.Errorf("%w: terminals[%d].tmk: want 16 bytes, got %d", ErrConfig, i, len(t.TMK))
		}
		if j, dup := seen[t.TID]; dup {
			return fmt.Errorf("%w: terminals[%d].tid %q: already used by terminals[%d]", ErrConfig, i, t.TID, j)
		}
		seen[t.TID] = i
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// CheckLoopback returns an error unless addr is host:port with a loopback
// host (127.0.0.0/8, ::1 or localhost).
func CheckLoopback(addr string) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	if h == "localhost" {
		return nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	return nil
}

// TLSConfig returns the server TLS configuration (TLS 1.3 minimum; client
// certificates required and verified against ClientCA when it is set), or
// nil when TLS is off.
func (c *Config) TLSConfig() (*tls.Config, error) {
	if c.TLS.Cert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: tls.cert/tls.key: %w", ErrConfig, err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	if c.TLS.ClientCA != "" {
		pem, err := os.ReadFile(c.TLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.client_ca: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls.client_ca %s: no PEM certificate found", ErrConfig, c.TLS.ClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
