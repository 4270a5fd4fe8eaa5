package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/posagent/posagent/core/api"
	"github.com/posagent/posagent/core/config"
	"github.com/posagent/posagent/core/txn"
	"github.com/posagent/posagent/store"
)

// maxAPIExport is the most records an export through the running agent's
// API carries (the API's list limit).
const maxAPIExport = 10000

// journalSource reads the journal through the running agent's API, or,
// when no agent answers, from the file itself (read-only).
type journalSource struct {
	cl   *api.Client
	path string
	key  []byte
	j    *store.Journal
}

func openJournalSource(ctx context.Context, cf *clientFlags, file string) (*journalSource, error) {
	if file == "" {
		cl, err := cf.client()
		if err != nil {
			return nil, err
		}
		if _, err := cl.Status(ctx); err == nil {
			return &journalSource{cl: cl}, nil
		} else if !errors.Is(err, api.ErrAgentDown) {
			return nil, err
		}
	}
	cfg, err := cf.loadConfig()
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = config.Default()
	}
	src := &journalSource{path: file}
	if src.path == "" {
		src.path = cfg.Journal.Path
	}
	// The key is optional here: without it, verify cannot check seals.
	if key, err := store.LoadDeviceKey(cfg.Journal.KeyFile, false); err == nil {
		src.key = key
	}
	return src, nil
}

func (s *journalSource) open() (*store.Journal, error) {
	if s.j != nil {
		return s.j, nil
	}
	j, err := store.OpenReadOnly(s.path, s.key)
	if err != nil {
		return nil, fmt.Errorf("no agent answering, and the journal file cannot be read: %w", err)
	}
	s.j = j
	return j, nil
}

func (s *journalSource) close() {
	if s.j != nil {
		s.j.Close()
	}
}

func (s *journalSource) recent(ctx context.Context, limit int) ([]txn.Record, error) {
	if s.cl != nil {
		return s.cl.Transactions(ctx, limit)
	}
	j, err := s.open()
	if err != nil {
		return nil, err
	}
	recs, err := j.List(ctx, store.Filter{Limit: limit, Newest: true})
	for i := range recs {
		recs[i] = api.Masked(recs[i])
	}
	return recs, err
}

func (s *journalSource) get(ctx context.Context, id string) (txn.Record, error) {
	if s.cl != nil {
		return s.cl.Transaction(ctx, id)
	}
	j, err := s.open()
	if err != nil {
		return txn.Record{}, err
	}
	return j.Get(ctx, txn.ID(id))
}

func (s *journalSource) export(ctx context.Context, w io.Writer, format string) error {
	if s.cl != nil {
		// The agent streams nothing sensitive; exporting through it avoids
		// stopping the agent. JSON only over the API; CSV from the list.
		recs, err := s.cl.Transactions(ctx, maxAPIExport)
		if err != nil {
			return err
		}
		if len(recs) >= maxAPIExport {
			// Never hand over a silently truncated export.
			return fmt.Errorf("the journal holds %d or more transactions, more than an export through the agent carries; stop the agent and run posagent journal export --file %s", maxAPIExport, "<journal path>")
		}
		if format == "csv" {
			return store.WriteCSV(w, recs)
		}
		return writeJSONOut(w, recs)
	}
	j, err := s.open()
	if err != nil {
		return err
	}
	return j.Export(ctx, w, format)
}

// verify returns the report as JSON-able data and whether it passed.
func (s *journalSource) verify(ctx context.Context) (any, bool, error) {
	if s.cl != nil {
		raw, err := s.cl.Verify(ctx)
		if err != nil {
			return nil, false, err
		}
		var rep store.Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			return nil, false, err
		}
		return rep, rep.OK, nil
	}
	rep, err := store.Verify(s.path, s.key)
	if err != nil && len(rep.Problems) == 0 {
		return nil, false, err
	}
	return rep, rep.OK, nil
}

func describeReport(rep any, ok bool) string {
	r, isRep := rep.(store.Report)
	if !isRep {
		return fmt.Sprint(rep)
	}
	var b strings.Builder
	if ok {
		b.WriteString("journal ok")
	} else {
		b.WriteString("journal has problems:")
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Where, p.What)
	}
	return b.String()
}
