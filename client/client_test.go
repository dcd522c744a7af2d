package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/forged-dev/forged/dag"
)

// newTestClient serves handler on 127.0.0.1 and returns a client for it.
func newTestClient(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return New(srv.URL, "secret")
}

func TestNewAddsScheme(t *testing.T) {
	if c := New("127.0.0.1:8080/", ""); c.BaseURL != "http://127.0.0.1:8080" {
		t.Fatalf("BaseURL = %q", c.BaseURL)
	}
	if c := New("https://forged.example", ""); c.BaseURL != "https://forged.example" {
		t.Fatalf("BaseURL = %q", c.BaseURL)
	}
}

func TestAPIErrorDecoding(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/pipelines/bad":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error": {"code": "invalid_spec", "message": "the pipeline spec is invalid",
				"details": [{"path": "tasks[0].op", "line": 4, "message": "unknown op"},
				            {"path": "tasks[1].needs[0]", "line": 7, "message": "unknown task"}]}}`)
		case "/api/v1/pipelines/proxy":
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "upstream went away\n")
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ctx := context.Background()

	_, err := c.PutPipeline(ctx, "bad", []byte("name: bad"))
	var aerr *APIError
	if !errors.As(err, &aerr) {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	if aerr.Status != 400 || aerr.Code != "invalid_spec" || aerr.Message != "the pipeline spec is invalid" {
		t.Fatalf("APIError = %+v", aerr)
	}
	fe := aerr.FieldErrors()
	if len(fe) != 2 || fe[0].Path != "tasks[0].op" || fe[1].Line != 7 || fe[1].Message != "unknown task" {
		t.Fatalf("FieldErrors = %+v", fe)
	}
	if got := aerr.Error(); !strings.Contains(got, "400") || !strings.Contains(got, "invalid_spec") {
		t.Fatalf("Error() = %q", got)
	}

	// A body that is not ours (a proxy's page) still gives an APIError.
	_, err = c.PutPipeline(ctx, "proxy", []byte("name: proxy"))
	if !errors.As(err, &aerr) || aerr.Status != 502 || aerr.Code != "http_error" || aerr.Message != "upstream went away" {
		t.Fatalf("non-JSON error body: %v", err)
	}
	if aerr.FieldErrors() != nil {
		t.Fatalf("FieldErrors without details = %v", aerr.FieldErrors())
	}

	// An empty body falls back to the status line.
	_, err = c.PutPipeline(ctx, "empty", []byte("name: empty"))
	if !errors.As(err, &aerr) || aerr.Status != 503 || !strings.Contains(aerr.Message, "503") {
		t.Fatalf("empty error body: %v", err)
	}
}

func TestSubmitSendsSpecAndParams(t *testing.T) {
	var got map[string]json.RawMessage
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/runs" {
			t.Errorf("request = %s %s, want POST /api/v1/runs", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if auth := r.Header.Get("Authorization"); auth != "Bearer secret" {
			t.Errorf("Authorization = %q", auth)
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode body: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"run_id": "r-42"}`)
	})
	spec := "name: etl\ntasks: []\n"
	id, err := c.Submit(context.Background(), []byte(spec), map[string]any{"min_amount": 10, "region": "eu"})
	if err != nil || id != "r-42" {
		t.Fatalf("Submit = %q, %v", id, err)
	}
	if len(got) != 2 {
		t.Fatalf("body keys = %v, want spec and params only", got)
	}
	var gotSpec string
	var gotParams map[string]any
	if err := json.Unmarshal(got["spec"], &gotSpec); err != nil || gotSpec != spec {
		t.Fatalf("spec = %s (%v)", got["spec"], err)
	}
	if err := json.Unmarshal(got["params"], &gotParams); err != nil || gotParams["min_amount"] != 10.0 || gotParams["region"] != "eu" {
		t.Fatalf("params = %s (%v)", got["params"], err)
	}
}

// sse writes a server-sent event the way the API does.
func sse(w io.Writer, event string, data any) {
	b, _ := json.Marshal(data)
	io.WriteString(w, "event: "+event+"\ndata: "+string(b)+"\n\n")
}

func TestWatchParsesRunEventsUntilEnd(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/runs/r1/events" || r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("request = %s Accept %q", r.URL.Path, r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		sse(w, "run", dag.Run{ID: "r1", Status: dag.RunRunning, Tasks: []dag.TaskRun{{Name: "a", Status: dag.TaskRunning, Attempt: 1}}})
		io.WriteString(w, ": keep-alive\n\n")
		sse(w, "run", dag.Run{ID: "r1", Status: dag.RunSucceeded, Tasks: []dag.TaskRun{{Name: "a", Status: dag.TaskSucceeded, Attempt: 1}}})
		sse(w, "end", map[string]string{"status": "succeeded"})
		// Anything after end must not reach the callback.
		sse(w, "run", dag.Run{ID: "r1", Status: dag.RunFailed})
	})
	var seen []*dag.Run
	err := c.Watch(context.Background(), "r1", func(r *dag.Run) error {
		seen = append(seen, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if len(seen) != 2 || seen[0].Status != dag.RunRunning || seen[1].Status != dag.RunSucceeded {
		t.Fatalf("events = %+v", seen)
	}
	if seen[1].Tasks[0].Status != dag.TaskSucceeded {
		t.Fatalf("second event tasks = %+v", seen[1].Tasks)
	}
}

func TestWatchErrors(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/runs/cut/events":
			sse(w, "run", dag.Run{ID: "cut", Status: dag.RunRunning})
		case "/api/v1/runs/garbled/events":
			io.WriteString(w, "event: run\ndata: {not json\n\n")
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error": {"code": "not_found", "message": "no run"}}`)
		}
	})
	ctx := context.Background()
	noop := func(*dag.Run) error { return nil }
	if err := c.Watch(ctx, "cut", noop); err == nil || !strings.Contains(err.Error(), "ended before the run did") {
		t.Fatalf("stream cut short: %v", err)
	}
	if err := c.Watch(ctx, "garbled", noop); err == nil || !strings.Contains(err.Error(), "decode run event") {
		t.Fatalf("garbled event: %v", err)
	}
	stop := errors.New("stop")
	if err := c.Watch(ctx, "cut", func(*dag.Run) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("callback error: %v", err)
	}
	var aerr *APIError
	if err := c.Watch(ctx, "nope", noop); !errors.As(err, &aerr) || aerr.Status != 404 {
		t.Fatalf("unknown run: %v", err)
	}
}

func TestOutputReadsTotalRows(t *testing.T) {
	const body = "id,amount\n1,20.5\n2,31\n"
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/runs/r1/tasks/big/outputs/kept" {
			t.Errorf("path = %s", r.URL.Path)
		}
		if q := r.URL.Query(); q.Get("format") != "csv" || q.Get("limit") != "2" {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		w.Header().Set("Content-Type", "text/csv")
		w.Header().Set("X-Forged-Rows", "1234")
		io.WriteString(w, body)
	})
	var buf bytes.Buffer
	total, err := c.Output(context.Background(), "r1", "big", "kept", "csv", 2, &buf)
	if err != nil || total != 1234 {
		t.Fatalf("Output = %d, %v", total, err)
	}
	if buf.String() != body {
		t.Fatalf("body = %q", buf.String())
	}
}
