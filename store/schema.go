package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/txn"
)

// SchemaVersion is the journal schema this package reads and writes.
const SchemaVersion = 1

// Bucket names.
var (
	bucketMeta      = []byte("meta")
	bucketTxns      = []byte("txns")
	bucketOutbox    = []byte("outbox")
	bucketReversals = []byte("reversals")
	bucketBatches   = []byte("batches")
	bucketPrintQ    = []byte("printq")
)

// allBuckets lists every bucket of schema 1.
var allBuckets = [][]byte{bucketMeta, bucketTxns, bucketOutbox, bucketReversals, bucketBatches, bucketPrintQ}

// Meta keys. Counters are 8-byte big-endian unsigned integers.
var (
	metaSchema    = []byte("schema")     // SchemaVersion
	metaTID       = []byte("tid")        // terminal ID
	metaMID       = []byte("mid")        // merchant ID
	metaCreated   = []byte("created")    // RFC 3339 UTC, when the journal was made
	metaKeyCheck  = []byte("key_check")  // 16 bytes derived from the device key
	metaSTAN      = []byte("stan")       // last STAN issued, 0 = none yet
	metaSTANExtra = []byte("stan_extra") // STANs reserved (ReserveSTAN) since the newest record
	metaInvoice   = []byte("invoice")    // last invoice number issued, 0 = none yet
	metaBatch     = []byte("batch")      // current (open) batch number
	metaNextSeq   = []byte("next_seq")   // sequence the next record gets
)

// MaxCounter is the largest STAN, batch and invoice number; the next one
// after it is 1.
const MaxCounter = 999999

// advance returns the counter value n steps after last (last = 0 means
// none issued yet), wrapping 999999 to 000001.
func advance(last uint32, n uint64) uint32 {
	if n == 0 {
		return last
	}
	return uint32((uint64(last)+n-1)%MaxCounter) + 1
}

// seqKey is the txns/outbox/reversals/printq key of sequence seq.
func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// idOf is the record ID of sequence seq: 16 lowercase hex digits.
func idOf(seq uint64) txn.ID { return txn.ID(fmt.Sprintf("%016x", seq)) }

// seqOf parses a record ID back into its sequence.
func seqOf(id txn.ID) (uint64, error) {
	if len(id) != 16 {
		return 0, fmt.Errorf("%w: record ID %q is %d characters, want 16 hex digits", ErrNotFound, id, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return 0, fmt.Errorf("%w: record ID %q: character %d is not a lowercase hex digit", ErrNotFound, id, i+1)
		}
	}
	seq, err := strconv.ParseUint(string(id), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: record ID %q: %w", ErrNotFound, id, err)
	}
	return seq, nil
}

func u64(v uint64) []byte { return seqKey(v) }

// getU64 reads an 8-byte counter from meta.
func getU64(meta *bolt.Bucket, key []byte) (uint64, error) {
	v := meta.Get(key)
	if v == nil {
		return 0, fmt.Errorf("meta/%s is missing", key)
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("meta/%s is %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// counters is the meta bucket's counter state.
type counters struct {
	STAN      uint32 // last issued
	STANExtra uint64 // reserved since the newest record
	Invoice   uint32 // last issued
	Batch     uint32 // current
	NextSeq   uint64
}

// readCounters reads and range-checks the counters.
func readCounters(meta *bolt.Bucket) (counters, error) {
	var c counters
	get := func(key []byte, max uint64, min uint64) (uint64, error) {
		v, err := getU64(meta, key)
		if err != nil {
			return 0, err
		}
		if v < min || v > max {
			return 0, fmt.Errorf("meta/%s = %d, outside %d-%d", key, v, min, max)
		}
		return v, nil
	}
	v, err := get(metaSTAN, MaxCounter, 0)
	if err != nil {
		return c, err
	}
	c.STAN = uint32(v)
	if c.STANExtra, err = get(metaSTANExtra, 1<<62, 0); err != nil {
		return c, err
	}
	if v, err = get(metaInvoice, MaxCounter, 0); err != nil {
		return c, err
	}
	c.Invoice = uint32(v)
	if v, err = get(metaBatch, MaxCounter, 1); err != nil {
		return c, err
	}
	c.Batch = uint32(v)
	if c.NextSeq, err = get(metaNextSeq, 1<<62, 1); err != nil {
		return c, err
	}
	return c, nil
}

// writeCounters stores c in meta.
func writeCounters(meta *bolt.Bucket, c counters) error {
	for _, kv := range []struct {
		k []byte
		v uint64
	}{
		{metaSTAN, uint64(c.STAN)},
		{metaSTANExtra, c.STANExtra},
		{metaInvoice, uint64(c.Invoice)},
		{metaBatch, uint64(c.Batch)},
		{metaNextSeq, c.NextSeq},
	} {
		if err := meta.Put(kv.k, u64(kv.v)); err != nil {
			return fmt.Errorf("store: write meta/%s: %w", kv.k, err)
		}
	}
	return nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data: a value the schema does not describe is corruption.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after JSON value at offset %d", dec.InputOffset())
	}
	return nil
}

// maxValueSize bounds a stored value; a record is well under 4 KiB.
const maxValueSize = 1 << 20

// decodeRecord decodes and checks a txns value stored under key.
func decodeRecord(key, value []byte) (txn.Record, error) {
	var r txn.Record
	if len(key) != 8 {
		return r, fmt.Errorf("key is %d bytes, want 8", len(key))
	}
	if len(value) > maxValueSize {
		return r, fmt.Errorf("value is %d bytes, limit %d", len(value), maxValueSize)
	}
	if err := decodeStrict(value, &r); err != nil {
		return r, fmt.Errorf("record JSON: %w", err)
	}
	want := idOf(binary.BigEndian.Uint64(key))
	if r.ID != want {
		return r, fmt.Errorf("record id %q under key %s", r.ID, want)
	}
	if !r.State.Valid() {
		return r, fmt.Errorf("unknown state %q", r.State)
	}
	if !r.Type.Valid() {
		return r, fmt.Errorf("unknown type %q", r.Type)
	}
	if !r.Entry.Valid() {
		return r, fmt.Errorf("unknown entry mode %q", r.Entry)
	}
	if len(r.History) == 0 {
		return r, fmt.Errorf("history is empty")
	}
	if last := r.History[len(r.History)-1].To; last != r.State {
		return r, fmt.Errorf("history ends in %q but state is %q", last, r.State)
	}
	return r, nil
}

// encodeRecord is the txns value of r.
func encodeRecord(r *txn.Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("store: encode record %s: %w", r.ID, err)
	}
	return b, nil
}

// decodePrintJob decodes and checks a printq value stored under key.
func decodePrintJob(key, value []byte) (payment.PrintJob, error) {
	var j payment.PrintJob
	if len(key) != 8 {
		return j, fmt.Errorf("key is %d bytes, want 8", len(key))
	}
	if len(value) > maxValueSize {
		return j, fmt.Errorf("value is %d bytes, limit %d", len(value), maxValueSize)
	}
	if err := decodeStrict(value, &j); err != nil {
		return j, fmt.Errorf("print job JSON: %w", err)
	}
	if seq := binary.BigEndian.Uint64(key); j.Seq != seq {
		return j, fmt.Errorf("print job seq %d under key %d", j.Seq, seq)
	}
	return j, nil
}

// BatchInfo is one batch in the batches bucket.
type BatchInfo struct {
	Number uint32     `json:"number"`
	Opened time.Time  `json:"opened"`
	Closed *time.Time `json:"closed,omitempty"`
}

func batchKey(n uint32) []byte {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], n)
	return k[:]
}

// decodeBatch decodes and checks a batches value stored under key.
func decodeBatch(key, value []byte) (BatchInfo, error) {
	var b BatchInfo
	if len(key) != 4 {
		return b, fmt.Errorf("key is %d bytes, want 4", len(key))
	}
	if len(value) > maxValueSize {
		return b, fmt.Errorf("value is %d bytes, limit %d", len(value), maxValueSize)
	}
	if err := decodeStrict(value, &b); err != nil {
		return b, fmt.Errorf("batch JSON: %w", err)
	}
	n := binary.BigEndian.Uint32(key)
	if b.Number != n {
		return b, fmt.Errorf("batch number %d under key %d", b.Number, n)
	}
	if n < 1 || n > MaxCounter {
		return b, fmt.Errorf("batch number %d outside 1-%d", n, MaxCounter)
	}
	return b, nil
}

func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode: %w", err)
	}
	return b, nil
}
