package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/posagent/posagent/core/payment"
	"github.com/posagent/posagent/core/receipt"
	coresync "github.com/posagent/posagent/core/sync"
	"github.com/posagent/posagent/core/txn"
)

// ErrAgentDown is returned by Client calls when no agent answers on the
// socket.
var ErrAgentDown = errors.New("api: agent not reachable")

// Client talks to a running agent's local API.
type Client struct {
	base  string
	token string
	hc    *http.Client
	addr  string
}

// NewUnixClient returns a client for the unix socket at path.
func NewUnixClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{base: "http://posagent", hc: &http.Client{Transport: tr}, addr: path}
}

// NewTCPClient returns a client for a loopback TCP address with a token.
func NewTCPClient(addr, token string) *Client {
	return &Client{base: "http://" + addr, token: token, hc: &http.Client{}, addr: addr}
}

// APIError is an error answer from the agent.
type APIError struct {
	Status int
	Body   ErrorBody
}

func (e *APIError) Error() string {
	return fmt.Sprintf("agent refused (%s): %s", e.Body.Code, e.Body.Error)
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, rd)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readAPIError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("api: decoding %s %s answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) || errors.As(err, &ne) || strings.Contains(err.Error(), "connect") {
			return nil, fmt.Errorf("%w at %s: %v", ErrAgentDown, c.addr, err)
		}
		return nil, err
	}
	return resp, nil
}

func readAPIError(resp *http.Response) error {
	e := &APIError{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(b, &e.Body) != nil || e.Body.Error == "" {
		e.Body = ErrorBody{Error: strings.TrimSpace(string(b)), Code: http.StatusText(resp.StatusCode)}
	}
	return e
}

// StartSale starts a sale and returns its session ID.
func (c *Client) StartSale(ctx context.Context, amount string, modes []txn.EntryMode) (string, error) {
	var out struct {
		Session string `json:"session"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/sales", SaleBody{Amount: amount, Modes: modes}, &out); err != nil {
		return "", err
	}
	return out.Session, nil
}

// Follow streams a sale's events to fn until the final one (or ctx ends).
func (c *Client) Follow(ctx context.Context, session string, fn func(payment.Event)) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/sales/"+session+"/events", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readAPIError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev payment.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("api: bad event line: %w", err)
		}
		fn(ev)
		if ev.Final {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("api: event stream ended before the sale's final event")
}

// Cancel asks the agent to cancel a sale still waiting for a card.
func (c *Client) Cancel(ctx context.Context, session string) error {
	return c.do(ctx, http.MethodPost, "/v1/sales/"+session+"/cancel", nil, nil)
}

// Status returns the agent's status as raw JSON (the CLI prints it).
func (c *Client) Status(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &out)
	return out, err
}

// Transactions returns the newest transactions, masked.
func (c *Client) Transactions(ctx context.Context, limit int) ([]txn.Record, error) {
	var out []txn.Record
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/transactions?limit=%d", limit), nil, &out)
	return out, err
}

// Transaction returns one transaction, masked.
func (c *Client) Transaction(ctx context.Context, id string) (txn.Record, error) {
	var out txn.Record
	err := c.do(ctx, http.MethodGet, "/v1/transactions/"+id, nil, &out)
	return out, err
}

// Verify asks the agent to verify its open journal; the report is raw JSON.
func (c *Client) Verify(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/journal/verify", nil, &out)
	return out, err
}

// Post sends a JSON body to a path and decodes the answer into out
// (used for the development endpoints under /v1/sim/).
func (c *Client) Post(ctx context.Context, path string, body, out any) error {
	return c.do(ctx, http.MethodPost, path, body, out)
}

// Diag runs the agent's device self-test; the answer is raw JSON.
func (c *Client) Diag(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/diag", nil, &out)
	return out, err
}

// ClearTamper asks the agent to clear the tamper latch.
func (c *Client) ClearTamper(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/tamper/clear", nil, nil)
}

// SyncKick asks the agent to drain its outbox now.
func (c *Client) SyncKick(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/sync", nil, nil)
}

// SyncDrain drains the outbox now, calling fn with each progress update,
// and returns the pass's report.
func (c *Client) SyncDrain(ctx context.Context, fn func(coresync.Progress)) (coresync.Report, error) {
	resp, err := c.send(ctx, http.MethodPost, "/v1/sync/drain", nil)
	if err != nil {
		return coresync.Report{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return coresync.Report{}, readAPIError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var line SyncLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return coresync.Report{}, fmt.Errorf("api: bad sync line: %w", err)
		}
		if line.Progress != nil {
			fn(*line.Progress)
		}
		if line.Report != nil {
			if line.Error != "" {
				return *line.Report, errors.New(line.Error)
			}
			return *line.Report, nil
		}
	}
	if err := sc.Err(); err != nil {
		return coresync.Report{}, err
	}
	return coresync.Report{}, errors.New("api: sync stream ended without a report")
}

// RetryReversal puts a reversal flagged for manual handling back in the
// queue.
func (c *Client) RetryReversal(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/reversals/"+id+"/retry", nil, nil)
}

// Reprint queues a receipt again: id names the transaction, or "last" the
// newest one with a receipt; c is the copy ("" for the customer's).
func (c *Client) Reprint(ctx context.Context, id string, cp receipt.Copy) (ReprintResponse, error) {
	var out ReprintResponse
	err := c.do(ctx, http.MethodPost, "/v1/transactions/"+id+"/reprint", ReprintRequest{Copy: cp}, &out)
	return out, err
}
