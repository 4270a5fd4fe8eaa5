package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/posagent/posagent/core/payment"
	coresync "github.com/posagent/posagent/core/sync"
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

// Without a terminal, sync --wait prints a line per phase and per tenth of
// the records, not one per update.
func TestLineThrottle(t *testing.T) {
	var l lineThrottle
	printed := 0
	feed := func(phase string, done, total int) {
		if l.due(coresync.Progress{Phase: phase, Done: done, Total: total}) {
			printed++
		}
	}
	feed("expiry", 0, 0)
	feed("reversals", 0, 100)
	for i := 0; i <= 100; i++ {
		feed("forwarding", i, 100)
	}
	feed("", 100, 100)
	// expiry, reversals, forwarding at 0..10 tenths (11 lines), idle.
	if printed != 14 {
		t.Fatalf("%d lines for a 100-record drain, want 14", printed)
	}
	var again lineThrottle
	if !again.due(coresync.Progress{}) || again.due(coresync.Progress{}) {
		t.Fatal("the first update prints, an identical one does not")
	}
}
