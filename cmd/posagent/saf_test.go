package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

type stubAcquirer struct{ err error }

func (s stubAcquirer) Authorize(context.Context, payment.AuthRequest) (payment.AuthResponse, error) {
	return payment.AuthResponse{}, s.err
}

func (s stubAcquirer) Reverse(context.Context, txn.Record) (txn.Outcome, error) {
	return txn.Outcome{}, s.err
}

type markLog struct{ ups, downs int }

func (m *markLog) MarkUp()        { m.ups++ }
func (m *markLog) MarkDown(error) { m.downs++ }

// The engine's requests tell the link monitor what they learnt: an answer
// means up, an unreachable host means down, and no answer says nothing.
func TestReportingAcquirer(t *testing.T) {
	cases := []struct {
		err         error
		ups, downs  int
		description string
	}{
		{nil, 1, 0, "answered"},
		{fmt.Errorf("dial: %w", payment.ErrUnreachable), 0, 1, "unreachable"},
		{fmt.Errorf("read: %w", payment.ErrNoResponse), 0, 0, "no answer"},
		{context.Canceled, 0, 0, "canceled"},
	}
	for _, c := range cases {
		m := &markLog{}
		r := reportingAcquirer{Acquirer: stubAcquirer{c.err}, mon: m}
		if _, err := r.Authorize(context.Background(), payment.AuthRequest{}); !errors.Is(err, c.err) {
			t.Errorf("%s: Authorize error %v not passed through", c.description, err)
		}
		if _, err := r.Reverse(context.Background(), txn.Record{}); !errors.Is(err, c.err) {
			t.Errorf("%s: Reverse error %v not passed through", c.description, err)
		}
		if m.ups != 2*c.ups || m.downs != 2*c.downs {
			t.Errorf("%s: %d ups %d downs, want %d and %d", c.description, m.ups, m.downs, 2*c.ups, 2*c.downs)
		}
	}
}
