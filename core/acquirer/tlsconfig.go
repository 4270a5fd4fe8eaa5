package acquirer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ErrTLSConfig wraps problems building the link's TLS configuration.
var ErrTLSConfig = errors.New("acquirer: bad TLS configuration")

// NewTLSConfig returns the link's TLS configuration: TLS 1.3 only, the
// server verified against caPEM alone (the pinned acquirer CA, not the
// system roots), and cert presented as the client certificate. cert may
// be the zero value for a host that does not ask for one.
func NewTLSConfig(caPEM []byte, cert tls.Certificate) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: no PEM certificate in the pinned CA data", ErrTLSConfig)
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    pool,
	}
	if len(cert.Certificate) > 0 {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
