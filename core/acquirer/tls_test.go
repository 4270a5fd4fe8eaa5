package acquirer

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
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/payment"
)

// testCA is a throwaway certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a leaf certificate for a server (IP SAN 127.0.0.1) or a
// client.
func (ca *testCA) issue(t *testing.T, name string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// newTLSHost starts the scripted host behind TLS 1.3 with a certificate
// from serverCA, requiring a client certificate from clientCA.
func newTLSHost(t *testing.T, serverCA, clientCA *testCA, handle func(x *hostExchange)) *testHost {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{serverCA.issue(t, "acqhost", true)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	return startHost(t, ln, handle)
}

func TestTLSMutualPinned(t *testing.T) {
	ca := newTestCA(t, "acquirer CA")
	type seen struct {
		version uint16
		client  string
	}
	peers := make(chan seen, 4)
	h := newTLSHost(t, ca, ca, func(x *hostExchange) {
		st := x.conn.(*tls.Conn).ConnectionState()
		peers <- seen{st.Version, st.PeerCertificates[0].Subject.CommonName}
		x.Reply(x.Answer("00"))
	})
	cfg, err := NewTLSConfig(ca.pem, ca.issue(t, "terminal "+testTID, false))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureFor(t, h, h.addr, "", func(c *Config, _ *Deps) { c.TLS = cfg })
	resp, err := f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(5, 100))
	if err != nil || !resp.Approved {
		t.Fatalf("%+v %v", resp, err)
	}
	p := <-peers
	if p.version != tls.VersionTLS13 || p.client != "terminal "+testTID {
		t.Fatalf("host saw version %#x, client %q", p.version, p.client)
	}
}

func TestTLSUnpinnedServerRefused(t *testing.T) {
	pinned := newTestCA(t, "acquirer CA")
	other := newTestCA(t, "someone else's CA")
	h := newTLSHost(t, other, pinned, nil) // server certificate not from the pinned CA
	cfg, err := NewTLSConfig(pinned.pem, pinned.issue(t, "terminal", false))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureFor(t, h, h.addr, "", func(c *Config, _ *Deps) { c.TLS = cfg })
	ctx := ctxTimeout(t, 10*time.Second)
	err = f.acq.Echo(ctx) // no sign-in in between: the transport error itself
	var uae x509.UnknownAuthorityError
	if !errors.Is(err, payment.ErrUnreachable) || errors.Is(err, payment.ErrNoResponse) || !errors.As(err, &uae) {
		t.Fatalf("echo err = %v; want unreachable with an unknown-authority error", err)
	}
	_, err = f.acq.Authorize(ctx, sale(5, 100))
	if !errors.Is(err, payment.ErrUnreachable) || errors.Is(err, payment.ErrNoResponse) || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("sale err = %v; want unreachable, naming the unknown authority", err)
	}
	if n := len(h.Received("")); n != 0 {
		t.Fatalf("host received %d messages over an unverified link", n)
	}
}

func TestTLSWithoutClientCertificate(t *testing.T) {
	ca := newTestCA(t, "acquirer CA")
	h := newTLSHost(t, ca, ca, nil)
	cfg, err := NewTLSConfig(ca.pem, tls.Certificate{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureFor(t, h, h.addr, "", func(c *Config, _ *Deps) { c.TLS = cfg })
	// In TLS 1.3 the server rejects the missing certificate after the
	// client's side of the handshake is done, so the failure shows on
	// the first exchange (here the sign-in): the sale is not sent.
	_, err = f.acq.Authorize(ctxTimeout(t, 10*time.Second), sale(5, 100))
	if !errors.Is(err, payment.ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.Received("")); n != 0 {
		t.Fatalf("host received %d messages from an unauthenticated client", n)
	}
}

func TestNewTLSConfig(t *testing.T) {
	if _, err := NewTLSConfig([]byte("not PEM"), tls.Certificate{}); !errors.Is(err, ErrTLSConfig) {
		t.Fatalf("err = %v", err)
	}
	ca := newTestCA(t, "acquirer CA")
	cfg, err := NewTLSConfig(ca.pem, tls.Certificate{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || cfg.RootCAs == nil || len(cfg.Certificates) != 0 || cfg.InsecureSkipVerify {
		t.Fatalf("%+v", cfg)
	}
	_ = iso8583.UnionPay
}
