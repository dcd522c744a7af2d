package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// fakeBackend serves fixed runs; writes record what they were given.
type fakeBackend struct {
	runs       map[string]*dag.Run
	submitted  map[string]any
	putErr     error
	barriers   int
	barrierErr error
	predictor  Predictor
	resolved   []any // what ResolveModel was last asked for
}

func (f *fakeBackend) NodeName() string { return "fake" }
func (f *fakeBackend) Health() Health   { return Health{Status: "ok", Node: "fake"} }
func (f *fakeBackend) Cluster() ClusterInfo {
	return ClusterInfo{Leader: "a", Term: 3, CommitIndex: 10, AppliedIndex: 9, QueueDepth: 2, Members: []Member{
		{Name: "a", Address: "127.0.0.1:7946", Status: "alive", Role: "leader", Slots: 2, Running: 1, Version: "dev"},
		{Name: "b", Address: "127.0.0.1:7956", Status: "suspect", Role: "nonvoter", Slots: 4, Labels: map[string]string{"disk": "ssd"}, Version: "dev"},
	}}
}
func (f *fakeBackend) Ops() []dag.OpSpec                               { return []dag.OpSpec{{Name: "noop"}} }
func (f *fakeBackend) Pipelines() ([]consensus.PipelineSummary, error) { return nil, nil }
func (f *fakeBackend) PutPipeline(_ context.Context, name string, src []byte) (*consensus.PipelineVersion, error) {
	if f.putErr != nil {
		return nil, f.putErr
	}
	return &consensus.PipelineVersion{Name: name, Version: 1, Source: string(src)}, nil
}
func (f *fakeBackend) Pipeline(string, int) (*consensus.PipelineVersion, error) {
	return nil, consensus.ErrNotFound
}
func (f *fakeBackend) PipelineVersions(string) ([]consensus.PipelineVersion, error) { return nil, nil }
func (f *fakeBackend) SubmitStored(_ context.Context, p string, v int, params map[string]any) (string, error) {
	f.submitted = params
	return "run1", nil
}
func (f *fakeBackend) SubmitSpec(_ context.Context, src []byte, params map[string]any) (string, error) {
	f.submitted = map[string]any{"spec": string(src)}
	return "run2", nil
}
func (f *fakeBackend) ReadBarrier(context.Context) error {
	f.barriers++
	return f.barrierErr
}
func (f *fakeBackend) CancelRun(context.Context, string, string) error { return nil }
func (f *fakeBackend) RetryRun(context.Context, string) error          { return nil }
func (f *fakeBackend) Run(id string) (*dag.Run, error) {
	if r, ok := f.runs[id]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("read run %s: %w", id, consensus.ErrNotFound)
}
func (f *fakeBackend) Runs(consensus.RunQuery) ([]*dag.Run, string, error) { return nil, "", nil }
func (f *fakeBackend) Subscribe() (<-chan struct{}, func()) {
	return make(chan struct{}), func() {}
}
func (f *fakeBackend) LogFile(run, task string, attempt int) (string, error) {
	return "/nonexistent/" + run, nil
}
func (f *fakeBackend) PutDataset(context.Context, string, string, io.Reader) (*consensus.DatasetVersion, error) {
	return nil, errors.New("no datasets in the fake")
}

func (f *fakeBackend) Datasets() ([]consensus.DatasetVersion, error) { return nil, nil }

func (f *fakeBackend) Dataset(string, int) (*consensus.DatasetVersion, error) {
	return nil, consensus.ErrNotFound
}

func (f *fakeBackend) OpenOutput(context.Context, dataplane.OutputRef) (*dataplane.OutputFile, error) {
	return nil, dataplane.ErrOutputNotFound
}

func newTestServer() (*Server, *fakeBackend) {
	fb := &fakeBackend{runs: map[string]*dag.Run{
		"r1": {ID: "r1", Status: dag.RunRunning, Tasks: []dag.TaskRun{{Name: "a", Status: dag.TaskRunning, Attempt: 1}}},
	}}
	return New(fb, Config{MaxBodyBytes: 1024}), fb
}

func do(s *Server, method, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Message == "" {
		t.Fatalf("body %q is not an error body: %v", rec.Body.String(), err)
	}
	return body.Error.Code
}

func TestErrorResponses(t *testing.T) {
	s, _ := newTestServer()
	cases := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code                     string
	}{
		{"unknown route", "GET", "/api/v1/nope", "", nil, 404, "not_found"},
		{"wrong method", "DELETE", "/api/v1/runs", "", nil, 405, "method_not_allowed"},
		{"unknown run", "GET", "/api/v1/runs/zzz", "", nil, 404, "not_found"},
		{"unknown pipeline", "GET", "/api/v1/pipelines/zzz", "", nil, 404, "not_found"},
		{"bad status filter", "GET", "/api/v1/runs?status=bogus", "", nil, 400, "bad_request"},
		{"bad limit", "GET", "/api/v1/runs?limit=-3", "", nil, 400, "bad_request"},
		{"body too large", "PUT", "/api/v1/pipelines/x", strings.Repeat("x", 2000), nil, 413, "too_large"},
		{"unknown json field", "POST", "/api/v1/pipelines/x/runs", `{"parms": {}}`, nil, 400, "bad_request"},
		{"submit without spec", "POST", "/api/v1/runs", `{"params": {}}`, nil, 400, "bad_request"},
		{"output not ready", "GET", "/api/v1/runs/r1/tasks/a/outputs/out", "", nil, 409, "not_ready"},
		{"output of unknown task", "GET", "/api/v1/runs/r1/tasks/zz/outputs/out", "", nil, 404, "not_found"},
		{"unacceptable format", "GET", "/api/v1/runs/r1/tasks/a/outputs/out", "", []string{"Accept", "image/png"}, 406, "not_acceptable"},
		{"bad format", "GET", "/api/v1/runs/r1/tasks/a/outputs/out?format=xls", "", nil, 400, "bad_request"},
		{"logs of unknown task", "GET", "/api/v1/runs/r1/tasks/zz/logs", "", nil, 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(s, tc.method, tc.path, tc.body, tc.header...)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if got := errorCode(t, rec); got != tc.code {
				t.Fatalf("code = %q, want %q", got, tc.code)
			}
		})
	}
}

func TestValidationErrorsCarryEveryFieldError(t *testing.T) {
	s, fb := newTestServer()
	fb.putErr = &dag.ValidationError{Errors: []dag.FieldError{
		{Path: "tasks[0].op", Line: 4, Message: "unknown op"},
		{Path: "tasks[1].needs[0]", Line: 7, Message: "unknown task"},
	}}
	rec := do(s, "PUT", "/api/v1/pipelines/x", "name: x")
	if rec.Code != 400 {
		t.Fatalf("status = %d", rec.Code)
	}
	var body struct {
		Error struct {
			Code    string           `json:"code"`
			Details []dag.FieldError `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != "invalid_spec" || len(body.Error.Details) != 2 || body.Error.Details[1].Line != 7 {
		t.Fatalf("body = %s", rec.Body.String())
	}
}

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		err    error
		status int
	}{
		{fmt.Errorf("apply: %w", consensus.ErrNotLeader), 503},
		{&consensus.Rejection{Code: "not_found", Message: "no run"}, 404},
		{&consensus.Rejection{Code: "conflict", Message: "done"}, 409},
		{&consensus.Rejection{Code: "invalid", Message: "bad"}, 400},
		{errors.New("disk on fire"), 500},
	}
	for _, tc := range cases {
		if got, _ := statusOf(tc.err); got != tc.status {
			t.Errorf("statusOf(%v) = %d, want %d", tc.err, got, tc.status)
		}
	}
}

func TestSubmitNormalizesJSONNumbers(t *testing.T) {
	s, fb := newTestServer()
	rec := do(s, "POST", "/api/v1/pipelines/x/runs", `{"params": {"n": 3, "lr": 0.5, "name": "a"}}`)
	if rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"run_id":"run1"`) {
		t.Fatalf("status %d body %s", rec.Code, rec.Body.String())
	}
	if fb.submitted["n"] != int64(3) || fb.submitted["lr"] != 0.5 || fb.submitted["name"] != "a" {
		t.Fatalf("params = %#v", fb.submitted)
	}
	rec = do(s, "POST", "/api/v1/runs", `{"spec": "name: x\n"}`)
	if rec.Code != http.StatusAccepted || fb.submitted["spec"] != "name: x\n" {
		t.Fatalf("inline YAML spec: status %d, got %#v", rec.Code, fb.submitted)
	}
	rec = do(s, "POST", "/api/v1/runs", `{"spec": {"name": "x"}}`)
	if rec.Code != http.StatusAccepted || fb.submitted["spec"] != `{"name": "x"}` {
		t.Fatalf("inline JSON spec: status %d, got %#v", rec.Code, fb.submitted)
	}
}

func TestClusterRoutes(t *testing.T) {
	s, _ := newTestServer()

	rec := do(s, "GET", "/api/v1/cluster", "")
	var info ClusterInfo
	if rec.Code != http.StatusOK {
		t.Fatalf("cluster: status %d: %s", rec.Code, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
		t.Fatalf("cluster: %v: %s", err, rec.Body.String())
	}
	if info.Leader != "a" || info.Term != 3 || info.QueueDepth != 2 || len(info.Members) != 2 || info.Members[1].Slots != 4 {
		t.Fatalf("cluster = %+v", info)
	}

	rec = do(s, "GET", "/api/v1/nodes/b", "")
	var node map[string]json.RawMessage
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &node) != nil {
		t.Fatalf("node b: status %d: %s", rec.Code, rec.Body.String())
	}
	var m Member
	if len(node) != 1 || json.Unmarshal(node["member"], &m) != nil {
		t.Fatalf("node b: want only a member key: %s", rec.Body.String())
	}
	if m.Name != "b" || m.Status != "suspect" || m.Role != "nonvoter" || m.Labels["disk"] != "ssd" {
		t.Fatalf("node b = %+v", m)
	}

	rec = do(s, "GET", "/api/v1/nodes/zz", "")
	if rec.Code != http.StatusNotFound || errorCode(t, rec) != "not_found" {
		t.Fatalf("unknown node: status %d: %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(rec.Body.String(), `\"zz\"`) || !strings.Contains(rec.Body.String(), "members: a, b") {
		t.Fatalf("unknown node: the message should name it and list the members: %s", rec.Body.String())
	}
}

func TestConsistentReadsWaitForTheLeader(t *testing.T) {
	s, fb := newTestServer()
	if rec := do(s, "GET", "/api/v1/runs/r1", ""); rec.Code != 200 || fb.barriers != 0 {
		t.Fatalf("plain read: %d, barriers %d", rec.Code, fb.barriers)
	}
	if rec := do(s, "GET", "/api/v1/runs/r1?consistent=true", ""); rec.Code != 200 || fb.barriers != 1 {
		t.Fatalf("consistent read: %d, barriers %d", rec.Code, fb.barriers)
	}
	fb.barrierErr = fmt.Errorf("no leader: %w", consensus.ErrNotLeader)
	if rec := do(s, "GET", "/api/v1/runs/r1?consistent=true", ""); rec.Code != 503 {
		t.Fatalf("consistent read without a leader: %d", rec.Code)
	}
}

func (f *fakeBackend) Models() ([]consensus.ModelSummary, error) { return nil, nil }
func (f *fakeBackend) ModelVersions(string) ([]consensus.ModelVersion, consensus.ModelAliases, error) {
	return nil, consensus.ModelAliases{}, consensus.ErrNotFound
}
func (f *fakeBackend) RegisterModelFile(context.Context, string, string, []string, string, io.Reader) (*consensus.ModelVersion, error) {
	return nil, errors.New("not in the fake")
}
func (f *fakeBackend) SetModelAlias(context.Context, string, string, int) error { return nil }
func (f *fakeBackend) ResolveModel(_ context.Context, name, alias string, version int) (Predictor, error) {
	if f.predictor == nil || name != f.predictor.Name() {
		return nil, consensus.ErrNotFound
	}
	f.resolved = []any{name, alias, version}
	return f.predictor, nil
}
func (f *fakeBackend) SubmitSweep(context.Context, []byte, string, int, map[string]any, map[string][]any) (*consensus.Experiment, error) {
	return nil, errors.New("not in the fake")
}
func (f *fakeBackend) Experiment(string) (*consensus.Experiment, []*dag.Run, error) {
	return nil, nil, consensus.ErrNotFound
}
func (f *fakeBackend) DeleteRun(context.Context, string) error                            { return nil }
func (f *fakeBackend) SetTags(context.Context, string, map[string]string, []string) error { return nil }
func (f *fakeBackend) PipelineGraph(string, int) (*dag.Pipeline, int, error) {
	return nil, 0, consensus.ErrNotFound
}
