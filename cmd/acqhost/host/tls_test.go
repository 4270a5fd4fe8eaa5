package host

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a throw-away CA with a server and a client certificate.
type pki struct {
	caPool     *x509.CertPool
	caFile     string
	serverCert string
	serverKey  string
	client     tls.Certificate
	stranger   tls.Certificate // signed by another CA
}

func newCert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key, der
}

func tmpl(serial int64, cn string, ca bool, usage x509.ExtKeyUsage) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if ca {
		t.IsCA, t.BasicConstraintsValid = true, true
		t.KeyUsage |= x509.KeyUsageCertSign
	} else {
		t.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	return t
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tlsCert(t *testing.T, der []byte, key *ecdsa.PrivateKey) tls.Certificate {
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPKI(t *testing.T, dir string) *pki {
	ca, caKey, caDER := newCert(t, tmpl(1, "test acquirer CA", true, 0), nil, nil)
	st := tmpl(2, "acqhost", false, x509.ExtKeyUsageServerAuth)
	st.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	_, sKey, sDER := newCert(t, st, ca, caKey)
	_, cKey, cDER := newCert(t, tmpl(3, "terminal 10000001", false, x509.ExtKeyUsageClientAuth), ca, caKey)
	other, otherKey, _ := newCert(t, tmpl(4, "other CA", true, 0), nil, nil)
	_, xKey, xDER := newCert(t, tmpl(5, "stranger", false, x509.ExtKeyUsageClientAuth), other, otherKey)

	p := &pki{caPool: x509.NewCertPool(), caFile: filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "host.pem"), serverKey: filepath.Join(dir, "host.key")}
	p.caPool.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	writePEM(t, p.serverCert, "CERTIFICATE", sDER)
	kd, _ := x509.MarshalECPrivateKey(sKey)
	writePEM(t, p.serverKey, "EC PRIVATE KEY", kd)
	p.client = tlsCert(t, cDER, cKey)
	p.stranger = tlsCert(t, xDER, xKey)
	return p
}

func TestTLSClientCertificateRequired(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	cfg := testConfig(dir)
	cfg.TLS = TLSFiles{Cert: p.serverCert, Key: p.serverKey, ClientCA: p.caFile}
	h := startHost(t, cfg)

	// With the terminal's certificate: sign-in and a sale work.
	c, err := dialTLS(t, h.addr, &tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.client}})
	if err != nil {
		t.Fatal(err)
	}
	c.signIn()
	if a := c.call(c.sale(1000, panCUP), true); get(a, 39) != "00" {
		t.Fatalf("sale over TLS: F39 %s", get(a, 39))
	}
	if v := c.conn.(*tls.Conn).ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want 1.3", v)
	}

	// Without a certificate, or with one from another CA: no answer, the
	// host ends the handshake (TLS 1.3 reports it on the first read).
	for name, certs := range map[string][]tls.Certificate{"none": nil, "stranger": {p.stranger}} {
		d, err := dialTLS(t, h.addr, &tls.Config{RootCAs: p.caPool, Certificates: certs})
		if err != nil {
			continue // refused at once: fine
		}
		d.send(d.echo(), false)
		if a, err := d.recv(5 * time.Second); err == nil {
			t.Errorf("%s: answered %s without a valid client certificate", name, a.MTI)
		}
	}

	// TLS 1.2 is refused.
	_, err = tls.Dial("tcp", h.addr, &tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.client}, MaxVersion: tls.VersionTLS12})
	if err == nil {
		t.Error("TLS 1.2 accepted")
	}
	waitFor(t, "the refused handshakes in the log", func() bool {
		return strings.Count(h.logs.String(), "TLS handshake failed") >= 3
	})
	if ts, _ := h.s.Transactions(""); len(ts) != 1 {
		t.Errorf("%d transactions recorded, want the one sale", len(ts))
	}
}

func TestConfigTLSErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.TLS = TLSFiles{Cert: filepath.Join(dir, "missing.pem"), Key: filepath.Join(dir, "missing.key")}
	if _, err := New(cfg, Options{}); !errors.Is(err, ErrConfig) {
		t.Errorf("missing cert: %v", err)
	}
	cfg.TLS = TLSFiles{ClientCA: "ca.pem"}
	if _, err := New(cfg, Options{}); !errors.Is(err, ErrConfig) {
		t.Errorf("client CA without cert: %v", err)
	}
}
