package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/posagent/posagent/core/acquirer"
	"github.com/posagent/posagent/core/clock"
	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/iso8583"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

// journalKeys lets the link keep the terminal master key sealed in the
// journal.
type journalKeys struct{ j *store.Journal }

func (k journalKeys) TMK(ctx context.Context) ([]byte, error) {
	key, err := k.j.TMK(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", acquirer.ErrNoTMK, err)
	}
	return key, nil
}

func (k journalKeys) SaveTMK(ctx context.Context, key []byte) error { return k.j.SaveTMK(ctx, key) }

// openLink builds the ISO 8583 acquirer link from the config, backed by
// the journal (TMK, batch, STANs for network messages, sealed card data
// for reversals).
func openLink(cfg *config.Config, j *store.Journal, loc *time.Location, clk clock.Clock, log *slog.Logger) (*acquirer.Acquirer, error) {
	mac, err := iso8583.ParseMACAlgorithm(cfg.Acquirer.MAC)
	if err != nil {
		return nil, fmt.Errorf("acquirer.mac: %w", err)
	}
	ac := acquirer.Config{
		Primary: cfg.Acquirer.Primary, Backup: cfg.Acquirer.Backup,
		TPDU: cfg.Acquirer.TPDU, Header: cfg.Acquirer.Header,
		ConnectTimeout: cfg.Acquirer.ConnectTimeout, ResponseTimeout: cfg.Payment.AuthTimeout,
		MAC: mac, TID: cfg.Terminal.TID, MID: cfg.Terminal.MID,
		SignInInterval: cfg.Acquirer.SignInInterval, Location: loc,
	}
	if cfg.Acquirer.TLS {
		ca, err := os.ReadFile(cfg.Acquirer.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("acquirer.tls_ca: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(cfg.Acquirer.TLSCert, cfg.Acquirer.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("acquirer.tls_cert/tls_key: %w", err)
		}
		if ac.TLS, err = acquirer.NewTLSConfig(ca, cert); err != nil {
			return nil, err
		}
	}
	deps := acquirer.Deps{
		Keys: journalKeys{j},
		BatchSource: func(ctx context.Context) (uint32, error) {
			c, err := j.Counters(ctx)
			return c.Batch, err
		},
		OnHostBatch: func(ctx context.Context, batch uint32) error {
			// Called on every successful sign-in: adopt the host's batch,
			// and remember when, so a terminal that boots with the host
			// unreachable knows how fresh its keys are (offline rule).
			if err := j.AdoptBatch(ctx, batch); err != nil {
				return err
			}
			return j.SetLastSignIn(ctx, clk.Now())
		},
		Unseal:  func(ctx context.Context, id txn.ID) (txn.Sensitive, error) { return j.Unseal(ctx, id) },
		NetSTAN: j.ReserveSTAN,
		Clock:   clk,
		Log:     log,
	}
	return acquirer.New(ac, deps)
}
