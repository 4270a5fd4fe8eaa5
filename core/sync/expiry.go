package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/posagent/posagent/core/risk"
	"github.com/posagent/posagent/core/txn"
)

// age is core/risk.Age: now − then, clamped to 0 (a record stamped "in
// the future" by a clock that has since been set back is new, not
// negative-old). The offline decision measures the oldest stored sale
// with the same function, so the two agree on every edge.
func age(now, then time.Time) time.Duration { return risk.Age(now, then) }

// sighting is when this run of the agent first saw a record in the
// outbox: its wall-clock age then, and the monotonic time then.
type sighting struct {
	wallAge time.Duration
	mono    time.Duration
}

// expiryAges returns a record's wall-clock age and its trusted age: the
// wall-clock age at the record's first sighting in this run plus the
// monotonic time since. A wall-clock step after the sighting moves the
// first but not the second. Callers hold f.mu.
func (f *Forwarder) expiryAges(rec txn.Record, now time.Time, mono time.Duration, seen map[txn.ID]sighting) (wall, trusted time.Duration) {
	wall = age(now, rec.Created)
	s, ok := f.seen[rec.ID]
	if !ok {
		s = sighting{wallAge: wall, mono: mono}
	}
	seen[rec.ID] = s
	return wall, s.wallAge + max(mono-s.mono, 0)
}

// expire moves the records past the hard stop to txn.Expired, in one
// commit, and returns the others in their order. A record expires only
// when both its wall-clock age and its trusted age exceed HardStop
// (docs/forwarder.md, "Expiry and clock jumps").
func (f *Forwarder) expire(ctx context.Context, recs []txn.Record, rep *Report) ([]txn.Record, error) {
	now, mono := f.clk.Now(), f.elapsed()
	seen := make(map[txn.ID]sighting, len(recs))
	var keep []txn.Record
	var changes []Change
	var ages []time.Duration
	f.mu.Lock()
	for _, r := range recs {
		wall, trusted := f.expiryAges(r, now, mono, seen)
		if wall > f.cfg.HardStop && trusted > f.cfg.HardStop {
			changes = append(changes, Change{ID: r.ID, To: txn.Expired,
				Outcome: txn.Outcome{Message: "expired: not forwarded in time / 超时未上送"},
				Reason: fmt.Sprintf("expired: stored %s ago, hard stop %s; not forwarded",
					wall.Truncate(time.Minute), f.cfg.HardStop)})
			ages = append(ages, wall)
			continue
		}
		keep = append(keep, r)
	}
	f.seen = seen
	for id := range f.alarmed {
		if _, ok := seen[id]; !ok {
			delete(f.alarmed, id)
		}
	}
	f.mu.Unlock()
	if len(changes) == 0 {
		return keep, nil
	}
	out, errs, err := f.j.TransitionMany(context.WithoutCancel(ctx), changes)
	rep.Commits++
	if err != nil {
		return nil, fmt.Errorf("%w: expiring %d records: %w", ErrJournal, len(changes), err)
	}
	for i, c := range changes {
		if errs[i] != nil {
			rep.Rejected++
			f.log.Error("could not expire a stored sale", "txn", c.ID, "err", errs[i])
			continue
		}
		rec := out[i]
		rep.Expired++
		f.log.Error("stored sale expired: not forwarded before the hard stop", "alarm", "offline_expired",
			"txn", rec.ID, "stan", rec.Identity.STAN, "amount", rec.Amount.String(),
			"age", ages[i].Truncate(time.Minute), "hard_stop", f.cfg.HardStop)
		f.notify(noticeFor(NoticeExpired, rec, "stored sale expired before it could be forwarded / 离线交易超时未上送"))
	}
	return keep, nil
}
