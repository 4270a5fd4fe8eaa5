package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/card"
	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	"github.com/posagent/posagent/core/txn"
)

// MaxAmount is the largest amount in minor units a record may carry (ISO
// 8583 field 4 is twelve digits).
const MaxAmount int64 = 999_999_999_999

// maxText bounds free text kept in a record (reasons, host messages,
// attempt notes); longer text is cut, never refused: an approval must not
// fail to journal because the host's message was long.
const maxText = 256

// now is the clock's time as UTC wall time, without a monotonic reading.
func (j *Journal) now() time.Time { return j.clock.Now().UTC().Round(0) }

// Create journals a new pending transaction (payment.Journal). In one
// bbolt Update it takes the next record sequence, STAN and invoice number,
// stamps the current batch, seals s (bound to the new record ID) and
// stores the record. The masked PAN comes from d, or from s's PAN when d
// has none; the PAN hash from s's PAN. A nil or empty s seals to nothing.
func (j *Journal) Create(ctx context.Context, d payment.Draft, s *txn.Sensitive) (txn.Record, error) {
	if err := checkDraft(&d); err != nil {
		return txn.Record{}, err
	}
	var plain []byte
	var pan string
	if !s.Empty() {
		var err error
		if plain, err = json.Marshal(s); err != nil {
			return txn.Record{}, fmt.Errorf("store: encode sensitive data: %w", err)
		}
		defer clear(plain)
		pan = s.PAN
	}
	masked := d.MaskedPAN
	if masked == "" && pan != "" {
		masked = card.Mask(pan)
	}
	panHash := ""
	if pan != "" {
		panHash = j.keys.panHash(pan)
	}
	now := j.now()
	var rec txn.Record
	err := j.update(ctx, "create", func(tx *bolt.Tx) error {
		if err := j.fail("create", "begin"); err != nil {
			return err
		}
		meta, txns := tx.Bucket(bucketMeta), tx.Bucket(bucketTxns)
		c, err := readCounters(meta)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		seq := c.NextSeq
		key := seqKey(seq)
		if txns.Get(key) != nil {
			return fmt.Errorf("%w: next sequence %d is already used by a record", ErrUntrusted, seq)
		}
		c.NextSeq++
		c.STAN = advance(c.STAN, 1)
		c.STANExtra = 0
		c.Invoice = advance(c.Invoice, 1)
		if err := writeCounters(meta, c); err != nil {
			return err
		}
		if err := j.fail("create", "after-counters"); err != nil {
			return err
		}
		rec = txn.Record{
			ID:        idOf(seq),
			Type:      d.Type,
			Entry:     d.Entry,
			Amount:    d.Amount,
			State:     txn.Pending,
			Identity:  txn.Identity{TID: j.tid, MID: j.mid, Batch: c.Batch, STAN: c.STAN, Invoice: c.Invoice},
			Original:  d.Original,
			Scheme:    d.Scheme,
			MaskedPAN: masked,
			PANHash:   panHash,
			Created:   now,
			Updated:   now,
			History:   []txn.Change{{At: now, To: txn.Pending}},
		}
		if plain != nil {
			if rec.Sealed, err = j.keys.seal(rec.ID, plain); err != nil {
				return err
			}
		}
		val, err := encodeRecord(&rec)
		if err != nil {
			return err
		}
		if pan != "" && bytes.Contains(val, []byte(pan)) {
			return fmt.Errorf("%w: the record would hold the PAN in clear (check Draft.Scheme and Draft.MaskedPAN)", ErrInvalid)
		}
		if err := txns.Put(key, val); err != nil {
			return fmt.Errorf("store: put record: %w", err)
		}
		if err := j.fail("create", "after-record"); err != nil {
			return err
		}
		if err := setIndexes(tx, key, rec.ID, rec.State); err != nil {
			return err
		}
		return j.fail("create", "after-index")
	})
	if err != nil {
		return txn.Record{}, fmt.Errorf("store: create: %w", err)
	}
	j.log.Debug("journaled", "id", rec.ID, "type", rec.Type, "batch", rec.Identity.Batch,
		"stan", rec.Identity.STAN, "amount", rec.Amount.String())
	return rec, nil
}

// checkDraft validates a Draft.
func checkDraft(d *payment.Draft) error {
	switch {
	case !d.Type.Valid():
		return fmt.Errorf("%w: Draft.Type %q is not sale, void or refund", ErrInvalid, d.Type)
	case !d.Entry.Valid():
		return fmt.Errorf("%w: Draft.Entry %q is not contactless, keyed or qr", ErrInvalid, d.Entry)
	case !d.Amount.Currency.Known():
		return fmt.Errorf("%w: Draft.Amount.Currency %d is not a known ISO 4217 currency", ErrInvalid, d.Amount.Currency)
	case d.Amount.Minor < 0 || d.Amount.Minor > MaxAmount:
		return fmt.Errorf("%w: Draft.Amount.Minor %d outside 0-%d", ErrInvalid, d.Amount.Minor, MaxAmount)
	case digits(d.MaskedPAN) > maxMaskedDigits:
		return fmt.Errorf("%w: Draft.MaskedPAN shows %d digits; a masked PAN shows at most %d (first 6, last 4)",
			ErrInvalid, digits(d.MaskedPAN), maxMaskedDigits)
	case len(d.Scheme) > 64:
		return fmt.Errorf("%w: Draft.Scheme is %d bytes, limit 64", ErrInvalid, len(d.Scheme))
	}
	return nil
}

// setIndexes makes the outbox and the reversal queue follow state.
func setIndexes(tx *bolt.Tx, key []byte, id txn.ID, state txn.State) error {
	for _, ix := range []struct {
		b  *bolt.Bucket
		in bool
	}{
		{tx.Bucket(bucketOutbox), state.InOutbox()},
		{tx.Bucket(bucketReversals), state.NeedsReversal()},
	} {
		var err error
		if ix.in {
			err = ix.b.Put(key, []byte(id))
		} else {
			err = ix.b.Delete(key)
		}
		if err != nil {
			return fmt.Errorf("store: index %s: %w", id, err)
		}
	}
	return nil
}

// getRecord reads the record under key.
func getRecord(tx *bolt.Tx, key []byte) (txn.Record, error) {
	v := tx.Bucket(bucketTxns).Get(key)
	if v == nil {
		return txn.Record{}, fmt.Errorf("%w: no record %s", ErrNotFound, idOfKey(key))
	}
	r, err := decodeRecord(key, v)
	if err != nil {
		return r, fmt.Errorf("%w: txns/%s: %w", ErrUntrusted, idOfKey(key), err)
	}
	return r, nil
}

func idOfKey(key []byte) txn.ID {
	if len(key) != 8 {
		return txn.ID(fmt.Sprintf("%x", key))
	}
	return idOf(binary.BigEndian.Uint64(key))
}

// cut makes s valid UTF-8 (JSON would otherwise change it on the way to
// disk) and shortens it to at most maxText bytes on a rune boundary.
func cut(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxText {
		return s
	}
	i := maxText
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// modify runs one read-modify-write of the record id in a single Update.
func (j *Journal) modify(ctx context.Context, op string, id txn.ID, fn func(r *txn.Record) error) (txn.Record, error) {
	seq, err := seqOf(id)
	if err != nil {
		return txn.Record{}, fmt.Errorf("store: %s: %w", op, err)
	}
	key := seqKey(seq)
	var rec txn.Record
	err = j.update(ctx, op, func(tx *bolt.Tx) error {
		if err := j.fail(op, "begin"); err != nil {
			return err
		}
		r, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		val, err := encodeRecord(&r)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketTxns).Put(key, val); err != nil {
			return fmt.Errorf("store: put record: %w", err)
		}
		if err := j.fail(op, "after-record"); err != nil {
			return err
		}
		if err := setIndexes(tx, key, r.ID, r.State); err != nil {
			return err
		}
		if err := j.fail(op, "after-index"); err != nil {
			return err
		}
		rec = r
		return nil
	})
	if err != nil {
		return txn.Record{}, fmt.Errorf("store: %s %s: %w", op, id, err)
	}
	return rec, nil
}

// Transition moves a record to state to (payment.Journal). The move must
// pass txn.CanTransition (else the error wraps txn.ErrIllegalTransition and
// nothing is written). It appends the change to the history, merges the
// non-empty fields of out into the outcome, sets Offline on the move to
// stored_offline, wipes the sealed data on a move to a state that keeps no
// card data (acknowledged, or aborted: txn.State.KeepsNoCardData),
// and updates the outbox and reversal queue, all in one Update.
func (j *Journal) Transition(ctx context.Context, id txn.ID, to txn.State, out txn.Outcome, reason string) (txn.Record, error) {
	now := j.now()
	var from txn.State
	rec, err := j.modify(ctx, "transition", id, func(r *txn.Record) error {
		from = r.State
		return transition(r, to, out, reason, now)
	})
	if err != nil {
		return rec, err
	}
	j.log.Debug("transition", "id", id, "from", from, "to", to, "stan", rec.Identity.STAN, "rc", rec.Outcome.ResponseCode)
	return rec, nil
}

// mergeOutcome copies the non-empty fields of in over out.
func mergeOutcome(out *txn.Outcome, in txn.Outcome) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = cut(v)
		}
	}
	set(&out.ResponseCode, in.ResponseCode)
	set(&out.AuthCode, in.AuthCode)
	set(&out.RRN, in.RRN)
	set(&out.Message, in.Message)
	set(&out.HostTime, in.HostTime)
}

// attemptPrefix starts the history note NoteAttempt keeps.
const attemptPrefix = "attempt "

// NoteAttempt counts one more forward or reversal attempt
// (payment.Journal). The note goes into the history as a same-state entry;
// consecutive attempt notes collapse into the latest one, so retries do not
// grow the record without bound. A record in a final state takes no
// attempts (the error wraps txn.ErrIllegalTransition).
func (j *Journal) NoteAttempt(ctx context.Context, id txn.ID, note string) (txn.Record, error) {
	now := j.now()
	return j.modify(ctx, "note attempt", id, func(r *txn.Record) error {
		return noteAttempt(r, note, now)
	})
}

// QueuePrint adds receipts to the durable print queue, in one Update
// (payment.Journal).
func (j *Journal) QueuePrint(ctx context.Context, rs ...receipt.Receipt) ([]payment.PrintJob, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	now := j.now()
	var jobs []payment.PrintJob
	err := j.update(ctx, "queue print", func(tx *bolt.Tx) error {
		jobs = jobs[:0]
		if err := j.fail("queue print", "begin"); err != nil {
			return err
		}
		pq := tx.Bucket(bucketPrintQ)
		for _, r := range rs {
			seq, err := pq.NextSequence()
			if err != nil {
				return fmt.Errorf("store: print queue sequence: %w", err)
			}
			job := payment.PrintJob{Seq: seq, Receipt: r, Queued: now}
			val, err := encodeJSON(job)
			if err != nil {
				return err
			}
			if err := pq.Put(seqKey(seq), val); err != nil {
				return fmt.Errorf("store: put print job: %w", err)
			}
			jobs = append(jobs, job)
		}
		return j.fail("queue print", "after-record")
	})
	if err != nil {
		return nil, fmt.Errorf("store: queue print: %w", err)
	}
	return jobs, nil
}

// PrintDone removes a printed job from the queue (payment.Journal). An
// unknown seq is an error wrapping ErrNotFound.
func (j *Journal) PrintDone(ctx context.Context, seq uint64) error {
	err := j.update(ctx, "print done", func(tx *bolt.Tx) error {
		pq := tx.Bucket(bucketPrintQ)
		if pq.Get(seqKey(seq)) == nil {
			return fmt.Errorf("%w: no print job %d", ErrNotFound, seq)
		}
		return pq.Delete(seqKey(seq))
	})
	if err != nil {
		return fmt.Errorf("store: print done: %w", err)
	}
	return nil
}

// CloseBatch closes the current batch (after settlement) and opens the
// next one (999999 wraps to 000001), in one Update. New records get the new
// batch number.
func (j *Journal) CloseBatch(ctx context.Context) (closed, opened BatchInfo, err error) {
	now := j.now()
	err = j.update(ctx, "close batch", func(tx *bolt.Tx) error {
		meta, bb := tx.Bucket(bucketMeta), tx.Bucket(bucketBatches)
		c, err := readCounters(meta)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		v := bb.Get(batchKey(c.Batch))
		if v == nil {
			return fmt.Errorf("%w: current batch %06d has no entry", ErrUntrusted, c.Batch)
		}
		if closed, err = decodeBatch(batchKey(c.Batch), v); err != nil {
			return fmt.Errorf("%w: batches/%06d: %w", ErrUntrusted, c.Batch, err)
		}
		closed.Closed = &now
		opened = BatchInfo{Number: advance(c.Batch, 1), Opened: now}
		for _, b := range []BatchInfo{closed, opened} {
			val, err := encodeJSON(b)
			if err != nil {
				return err
			}
			if err := bb.Put(batchKey(b.Number), val); err != nil {
				return fmt.Errorf("store: put batch: %w", err)
			}
		}
		c.Batch = opened.Number
		return writeCounters(meta, c)
	})
	if err != nil {
		return BatchInfo{}, BatchInfo{}, fmt.Errorf("store: close batch: %w", err)
	}
	j.log.Info("batch closed", "closed", closed.Number, "opened", opened.Number)
	return closed, opened, nil
}

// ReserveSTAN issues a STAN for a message that is not a journaled
// transaction (sign-in, echo test, settlement, batch upload), durably, so it
// is never issued again after a crash.
func (j *Journal) ReserveSTAN(ctx context.Context) (uint32, error) {
	var stan uint32
	err := j.update(ctx, "reserve STAN", func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		c, err := readCounters(meta)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		c.STAN = advance(c.STAN, 1)
		c.STANExtra++
		stan = c.STAN
		return writeCounters(meta, c)
	})
	if err != nil {
		return 0, fmt.Errorf("store: reserve STAN: %w", err)
	}
	return stan, nil
}
