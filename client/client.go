// Package client is a Go client for forged's HTTP API, used by the CLI and
// the end-to-end tests, and usable by anyone's programs.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/forged-dev/forged/dag"
)

// Client talks to one forged node.
type Client struct {
	// BaseURL is the node's address, such as http://127.0.0.1:8080.
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token string
	// HTTP is the client used for requests; default http.DefaultClient.
	HTTP *http.Client
}

// New returns a client for the node at addr ("host:port" or a URL).
func New(addr, token string) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{BaseURL: strings.TrimRight(addr, "/"), Token: token, HTTP: http.DefaultClient}
}

// APIError is an error response from the API.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details holds structured details, such as every spec problem.
	Details json.RawMessage `json:"details,omitempty"`
}

// Error renders the message with the status.
func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// FieldErrors decodes validation details, if the error has them.
func (e *APIError) FieldErrors() []dag.FieldError {
	var fe []dag.FieldError
	if len(e.Details) > 0 {
		json.Unmarshal(e.Details, &fe)
	}
	return fe
}

// do sends a request and returns the response when its status is 2xx.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb struct {
			Error APIError `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error.Message == "" {
			eb.Error = APIError{Code: "http_error", Message: strings.TrimSpace(string(b))}
			if eb.Error.Message == "" {
				eb.Error.Message = resp.Status
			}
		}
		eb.Error.Status = resp.StatusCode
		return nil, &eb.Error
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *Client) sendJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.do(ctx, method, path, body, "application/json", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Health is the node's health report.
type Health struct {
	Status       string `json:"status"`
	Node         string `json:"node"`
	Version      string `json:"version"`
	Leader       string `json:"leader"`
	RaftState    string `json:"raft_state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Slots        int    `json:"slots"`
	Running      int    `json:"running"`
	// FlightAddr is the node's Arrow Flight server (host:port), where
	// outputs can be read with DoGet.
	FlightAddr string `json:"flight_addr,omitempty"`
	// FlightTLS says the Flight server speaks TLS (grpc+tls): dial it
	// with the cluster's CA.
	FlightTLS bool `json:"flight_tls,omitempty"`
}

// Health asks the node how it is.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.getJSON(ctx, "/api/v1/health", &h)
}

// PipelineVersion is one stored version of a pipeline.
type PipelineVersion struct {
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	Description string    `json:"description"`
	Format      string    `json:"format"`
	Source      string    `json:"source"`
	Digest      string    `json:"digest"`
	CreatedAt   time.Time `json:"created_at"`
}

// PutPipeline stores a pipeline spec (YAML or JSON) as a new version.
func (c *Client) PutPipeline(ctx context.Context, name string, spec []byte) (*PipelineVersion, error) {
	resp, err := c.do(ctx, http.MethodPut, "/api/v1/pipelines/"+url.PathEscape(name), bytes.NewReader(spec), "application/yaml", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var pv PipelineVersion
	return &pv, json.NewDecoder(resp.Body).Decode(&pv)
}

// Submit stores spec as a pipeline version and starts a run of it.
func (c *Client) Submit(ctx context.Context, spec []byte, params map[string]any) (string, error) {
	var out struct {
		RunID string `json:"run_id"`
	}
	err := c.sendJSON(ctx, http.MethodPost, "/api/v1/runs", map[string]any{"spec": string(spec), "params": params}, &out)
	return out.RunID, err
}

// SubmitStored starts a run of a stored pipeline (version 0: the latest).
func (c *Client) SubmitStored(ctx context.Context, pipeline string, version int, params map[string]any) (string, error) {
	var out struct {
		RunID string `json:"run_id"`
	}
	body := map[string]any{"params": params}
	if version > 0 {
		body["version"] = version
	}
	err := c.sendJSON(ctx, http.MethodPost, "/api/v1/pipelines/"+url.PathEscape(pipeline)+"/runs", body, &out)
	return out.RunID, err
}

// Run reads one run.
func (c *Client) Run(ctx context.Context, id string) (*dag.Run, error) {
	var r dag.Run
	return &r, c.getJSON(ctx, "/api/v1/runs/"+url.PathEscape(id), &r)
}

// RunConsistent reads one run after the node has caught up with the
// leader, so it sees every write acknowledged anywhere before the call.
func (c *Client) RunConsistent(ctx context.Context, id string) (*dag.Run, error) {
	var r dag.Run
	return &r, c.getJSON(ctx, "/api/v1/runs/"+url.PathEscape(id)+"?consistent=true", &r)
}

// RunQuery filters a run listing.
type RunQuery struct {
	Pipeline string
	Status   string
	// Tag keeps runs with the tag "key=value", or "key" with any value.
	Tag    string
	Limit  int
	Cursor string
}

// Runs lists runs, newest first, and returns the cursor of the next page.
func (c *Client) Runs(ctx context.Context, q RunQuery) ([]*dag.Run, string, error) {
	v := url.Values{}
	if q.Pipeline != "" {
		v.Set("pipeline", q.Pipeline)
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if q.Tag != "" {
		v.Set("tag", q.Tag)
	}
	var out struct {
		Runs       []*dag.Run `json:"runs"`
		NextCursor string     `json:"next_cursor"`
	}
	err := c.getJSON(ctx, "/api/v1/runs?"+v.Encode(), &out)
	return out.Runs, out.NextCursor, err
}

// Cancel cancels a run.
func (c *Client) Cancel(ctx context.Context, id, reason string) (*dag.Run, error) {
	var r dag.Run
	return &r, c.sendJSON(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(id)+"/cancel", map[string]string{"reason": reason}, &r)
}

// Retry runs a failed or cancelled run again from where it failed: its
// tasks that did not succeed and everything downstream of them.
func (c *Client) Retry(ctx context.Context, id string) (*dag.Run, error) {
	var r dag.Run
	return &r, c.sendJSON(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(id)+"/retry", struct{}{}, &r)
}

// Watch follows a run's events and calls fn with each new state of the
// run until the run ends, fn returns an error, or ctx is done.
func (c *Client) Watch(ctx context.Context, id string, fn func(*dag.Run) error) error {
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(id)+"/events", nil, "", http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if event == "end" {
				return nil
			}
			if event == "run" {
				var r dag.Run
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &r); err != nil {
					return fmt.Errorf("decode run event: %w", err)
				}
				if err := fn(&r); err != nil {
					return err
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("the event stream ended before the run did")
}

// Logs writes a task attempt's log to w (attempt 0: the current one);
// with follow it streams until the attempt ends.
func (c *Client) Logs(ctx context.Context, run, task string, attempt int, follow bool, w io.Writer) error {
	v := url.Values{}
	if attempt > 0 {
		v.Set("attempt", strconv.Itoa(attempt))
	}
	if follow {
		v.Set("follow", "true")
	}
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(run)+"/tasks/"+url.PathEscape(task)+"/logs?"+v.Encode(), nil, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Output streams a task output to w in format (arrow, csv or jsonl), at
// most limit rows when limit > 0, and returns the output's total rows.
func (c *Client) Output(ctx context.Context, run, task, output, format string, limit int, w io.Writer) (int64, error) {
	v := url.Values{}
	v.Set("format", format)
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	path := "/api/v1/runs/" + url.PathEscape(run) + "/tasks/" + url.PathEscape(task) + "/outputs/" + url.PathEscape(output) + "?" + v.Encode()
	resp, err := c.do(ctx, http.MethodGet, path, nil, "", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	total, _ := strconv.ParseInt(resp.Header.Get("X-Forged-Rows"), 10, 64)
	_, err = io.Copy(w, resp.Body)
	return total, err
}

// DeleteRun deletes a finished run for good, outputs, logs and artifacts
// included, on every node.
func (c *Client) DeleteRun(ctx context.Context, id string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/api/v1/runs/"+url.PathEscape(id), nil, "", nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// SetTags sets and removes tags of a run.
func (c *Client) SetTags(ctx context.Context, id string, set map[string]string, remove []string) error {
	return c.sendJSON(ctx, http.MethodPut, "/api/v1/runs/"+url.PathEscape(id)+"/tags", map[string]any{"set": set, "remove": remove}, nil)
}
