package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/iso8583"
)

func TestSampleConfigParses(t *testing.T) {
	cfg, err := ParseConfig([]byte(SampleConfig), "/srv/acq")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:5000" || cfg.Admin != "127.0.0.1:5080" || cfg.DB != "/srv/acq/acqhost.db" ||
		cfg.MAC != iso8583.MACUnionPayECB || cfg.Location.String() != "Asia/Shanghai" || !cfg.Faults.NoAnswer98 ||
		len(cfg.Terminals) != 1 || cfg.Terminals[0].TID != "10000001" || len(cfg.Terminals[0].TMK) != 16 {
		t.Errorf("sample parsed as %+v", cfg)
	}
}

func TestConfigDefaultsAndFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acqhost.toml")
	os.WriteFile(path, []byte(`
mac = "x9.19"
[faults]
latency = "250ms"
drop_every = 5
no_answer_98 = false
[[terminals]]
tid = "T0000001"
mid = "M00000000000001"
tmk = "00112233445566778899aabbccddeeff"
`), 0o600)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.DB != filepath.Join(dir, DefaultDB) || cfg.AcquirerID != DefaultAcquirerID ||
		cfg.Location != time.UTC || cfg.MAC != iso8583.MACX919 {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.Faults != (Faults{Latency: 250 * time.Millisecond, DropEvery: 5}) {
		t.Errorf("faults %+v", cfg.Faults)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	term := "\n[[terminals]]\ntid = \"10000001\"\nmid = \"898100012340001\"\ntmk = \"0123456789ABCDEFFEDCBA9876543210\"\n"
	cases := map[string]string{
		"lisen = \"x\"" + term:                 "lisen",
		"[faults]\nlatencyy = \"1s\"" + term:   "faults.latencyy",
		"mac = \"md5\"" + term:                 "mac",
		"admin = \"0.0.0.0:80\"" + term:        "admin",
		"listen = \"nope\"" + term:             "listen",
		"timezone = \"Mars/Base\"" + term:      "timezone",
		"acquirer_id = \"12AB\"" + term:        "acquirer_id",
		"[faults]\nlatency = \"-1s\"" + term:   "faults.latency",
		"[faults]\ndrop_every = -2" + term:     "drop_every",
		"[tls]\nclient_ca = \"ca.pem\"" + term: "tls.client_ca",
		"":                                     "terminals",
		"[[terminals]]\ntid = \"1\"\nmid = \"898100012340001\"\ntmk = \"0123456789ABCDEFFEDCBA9876543210\"": "terminals[0].tid",
		"[[terminals]]\ntid = \"10000001\"\nmid = \"8981\"\ntmk = \"0123456789ABCDEFFEDCBA9876543210\"":     "terminals[0].mid",
		"[[terminals]]\ntid = \"10000001\"\nmid = \"898100012340001\"\ntmk = \"0123\"":                      "terminals[0].tmk",
		term + term: "terminals[1].tid",
	}
	for in, key := range cases {
		_, err := ParseConfig([]byte(in), "")
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), key) {
			t.Errorf("config %q: error %v, want one naming %s", in, err, key)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8080", "[::1]:80", "localhost:1", "127.1.2.3:9"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:80", ":80", "10.0.0.1:80", "example.com:80", "127.0.0.1"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestFaultsJSONPartialUpdate(t *testing.T) {
	f := Faults{Latency: time.Second, DropEvery: 2, NoAnswer98: true}
	if err := f.UnmarshalJSON([]byte(`{"close_after":7}`)); err != nil {
		t.Fatal(err)
	}
	if f != (Faults{Latency: time.Second, DropEvery: 2, CloseAfter: 7, NoAnswer98: true}) {
		t.Errorf("%+v", f)
	}
	b, _ := f.MarshalJSON()
	if string(b) != `{"latency":"1s","drop_every":2,"close_after":7,"no_answer_98":true}` {
		t.Errorf("JSON %s", b)
	}
	if err := f.UnmarshalJSON([]byte(`{"latency":"11m"}`)); !errors.Is(err, ErrFaults) {
		t.Errorf("latency over the limit: %v", err)
	}
}
