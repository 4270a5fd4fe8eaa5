package store

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/posagent/posagent/core/money"
	"github.com/posagent/posagent/core/txn"
)

// ExportRecord is one record as Export writes it: the record without its
// sealed data, and whether it still has some.
type ExportRecord struct {
	txn.Record
	SealedPresent bool `json:"sealed_present"`
}

// exportChunk is how many records Export reads per read transaction; it
// writes them out after the transaction closed, so a slow writer never
// holds a bbolt read transaction open.
const exportChunk = 256

// csvHeader names the CSV columns.
var csvHeader = []string{"id", "created", "updated", "type", "entry", "state", "offline",
	"amount", "amount_minor", "currency", "tid", "mid", "batch", "stan", "invoice",
	"scheme", "masked_pan", "pan_hash", "response_code", "auth_code", "rrn", "message",
	"original_batch", "original_stan", "attempts", "sealed_present"}

// Export writes every record to w in journal order, as one JSON array
// (format "json") or as CSV with a header row (format "csv"). It writes
// masked data only: never sealed bytes, never a PAN (records hold none in
// clear). CSV cells that a spreadsheet would run as a formula are quoted
// with a leading apostrophe.
func (j *Journal) Export(ctx context.Context, w io.Writer, format string) error {
	var enc exporter
	switch format {
	case "json":
		enc = &jsonExporter{w: bufio.NewWriter(w)}
	case "csv":
		enc = &csvExporter{w: csvWriter(w)}
	default:
		return fmt.Errorf("%w: export format %q, want json or csv", ErrInvalid, format)
	}
	if err := enc.begin(); err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	var after []byte // last key written
	for {
		var chunk []txn.Record
		err := j.view(ctx, func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketTxns).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && string(k) == string(after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(chunk) < exportChunk; k, v = c.Next() {
				r, err := decodeRecord(k, v)
				if err != nil {
					return fmt.Errorf("%w: txns/%x: %w", ErrUntrusted, k, err)
				}
				chunk = append(chunk, r)
				after = append(after[:0], k...)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: export: %w", err)
		}
		for i := range chunk {
			e := ExportRecord{Record: chunk[i], SealedPresent: chunk[i].Sealed != nil}
			e.Sealed = nil
			if err := enc.record(&e); err != nil {
				return fmt.Errorf("store: export: %w", err)
			}
		}
		if len(chunk) < exportChunk {
			break
		}
	}
	if err := enc.end(); err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	return nil
}

type exporter interface {
	begin() error
	record(e *ExportRecord) error
	end() error
}

type jsonExporter struct {
	w *bufio.Writer
	n int
}

func (x *jsonExporter) begin() error { _, err := x.w.WriteString("["); return err }

func (x *jsonExporter) record(e *ExportRecord) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	sep := ",\n"
	if x.n == 0 {
		sep = "\n"
	}
	x.n++
	if _, err := x.w.WriteString(sep); err != nil {
		return err
	}
	_, err = x.w.Write(b)
	return err
}

func (x *jsonExporter) end() error {
	end := "\n]\n"
	if x.n == 0 {
		end = "]\n"
	}
	if _, err := x.w.WriteString(end); err != nil {
		return err
	}
	return x.w.Flush()
}

type csvExporter struct{ w *csv.Writer }

func (x *csvExporter) begin() error { return x.w.Write(csvHeader) }

func (x *csvExporter) record(e *ExportRecord) error {
	amount, err := money.Format(e.Amount.Minor, e.Amount.Currency)
	if err != nil {
		amount = ""
	}
	var ob, os string
	if e.Original != nil {
		ob, os = fmt.Sprintf("%06d", e.Original.Batch), fmt.Sprintf("%06d", e.Original.STAN)
	}
	u := func(v uint32) string { return fmt.Sprintf("%06d", v) }
	row := []string{string(e.ID), e.Created.Format(time.RFC3339), e.Updated.Format(time.RFC3339),
		string(e.Type), string(e.Entry), string(e.State), strconv.FormatBool(e.Offline),
		amount, strconv.FormatInt(e.Amount.Minor, 10), e.Amount.Currency.Numeric(),
		safeCell(e.Identity.TID), safeCell(e.Identity.MID), u(e.Identity.Batch), u(e.Identity.STAN), u(e.Identity.Invoice),
		safeCell(e.Scheme), safeCell(e.MaskedPAN), e.PANHash, safeCell(e.Outcome.ResponseCode),
		safeCell(e.Outcome.AuthCode), safeCell(e.Outcome.RRN), safeCell(e.Outcome.Message),
		ob, os, strconv.Itoa(e.Attempts), strconv.FormatBool(e.SealedPresent)}
	return x.w.Write(row)
}

func (x *csvExporter) end() error {
	x.w.Flush()
	return x.w.Error()
}

// safeCell defuses text a spreadsheet would evaluate as a formula.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvWriter(w io.Writer) *csv.Writer { return csv.NewWriter(w) }
