package node_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// ordersCSV is a small input the pipelines below read.
const ordersCSV = `order_id,customer,amount,status
1,acme,5.5,paid
2,acme,25,paid
3,globex,40,refunded
4,initech,100,paid
5,hooli,19.99,paid
6,stark,20,paid
`

const etlSpec = `name: etl
description: filter orders
params:
  min_amount: {type: float, default: 20}
tasks:
  - name: load
    op: read_csv
    with: {path: orders.csv}
  - name: big
    op: filter
    needs: [load]
    with: {expr: "amount >= ${params.min_amount} and status != 'refunded'"}
  - name: cols
    op: select
    needs: [big]
    with: {columns: [order_id, amount]}
  - name: stats
    op: describe
    needs: [cols]
`

// startNode opens a node whose data root holds orders.csv.
func startNode(t *testing.T) (*node.Node, *client.Client, node.Config) {
	t.Helper()
	cfg := nodetest.Config(t)
	root := filepath.Join(cfg.DataDir, "data")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "orders.csv"), []byte(ordersCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	n := nodetest.Open(t, cfg)
	return n, client.New(n.URL(), ""), cfg
}

// waitRun follows a run until it ends, failing the test after a minute.
func waitRun(t *testing.T, c *client.Client, id string) *dag.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Watch(ctx, id, func(*dag.Run) error { return nil }); err != nil {
		t.Fatalf("watch run %s: %v", id, err)
	}
	run, err := c.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func taskStatuses(r *dag.Run) map[string]dag.TaskStatus {
	m := map[string]dag.TaskStatus{}
	for _, t := range r.Tasks {
		m[t.Name] = t.Status
	}
	return m
}

func TestPipelineRunsEndToEndOverHTTP(t *testing.T) {
	_, c, _ := startNode(t)
	ctx := context.Background()

	pv, err := c.PutPipeline(ctx, "etl", []byte(etlSpec))
	if err != nil {
		t.Fatalf("put pipeline: %v", err)
	}
	if pv.Version != 1 {
		t.Fatalf("version = %d, want 1", pv.Version)
	}
	id, err := c.SubmitStored(ctx, "etl", 0, map[string]any{"min_amount": 20})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded {
		t.Fatalf("run status = %s (%s), tasks %v", run.Status, run.Error, taskStatuses(run))
	}
	for _, task := range run.Tasks {
		if task.Status != dag.TaskSucceeded || task.Attempt != 1 || task.Node != "test" || task.StartedAt == nil || task.FinishedAt == nil {
			t.Errorf("task %s: status %s attempt %d node %q started %v finished %v", task.Name, task.Status, task.Attempt, task.Node, task.StartedAt, task.FinishedAt)
		}
	}
	cols := run.Task("cols")
	if len(cols.Outputs) != 1 || cols.Outputs[0].Name != "out" || cols.Outputs[0].Rows != 3 || len(cols.Outputs[0].Schema) != 2 {
		t.Fatalf("cols outputs = %+v, want one output 'out' of 3 rows and 2 columns", cols.Outputs)
	}
	// The output carries its column stats through the state: amounts 25,
	// 100 and 20.
	if st := cols.Outputs[0].Stats; len(st) != 2 || st[0].Name != "order_id" || st[0].Count != 3 || st[1].Name != "amount" ||
		st[1].Min == nil || *st[1].Min != 20 || st[1].Max == nil || *st[1].Max != 100 ||
		st[1].Mean == nil || math.Abs(*st[1].Mean-145.0/3) > 1e-9 || st[1].Std == nil || st[1].Nulls != 0 {
		t.Fatalf("cols stats = %+v", st)
	}

	var buf bytes.Buffer
	if _, err := c.Output(ctx, id, "cols", "out", "csv", 0, &buf); err != nil {
		t.Fatalf("output: %v", err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("read csv output: %v\n%s", err, buf.String())
	}
	var got []string
	for _, rec := range records[1:] {
		got = append(got, rec[0])
	}
	if strings.Join(records[0], ",") != "order_id,amount" || strings.Join(got, ",") != "2,4,6" {
		t.Fatalf("csv output = %q", records)
	}

	buf.Reset()
	if _, err := c.Output(ctx, id, "cols", "out", "jsonl", 1, &buf); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"order_id":2`) {
		t.Fatalf("jsonl with limit 1 = %q", buf.String())
	}

	buf.Reset()
	if err := c.Logs(ctx, id, "load", 0, false, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "attempt 1 of "+id+"/load") || !strings.Contains(buf.String(), "succeeded") {
		t.Fatalf("log of load = %q", buf.String())
	}

	runs, _, err := c.Runs(ctx, client.RunQuery{Pipeline: "etl", Status: "succeeded"})
	if err != nil || len(runs) != 1 || runs[0].ID != id {
		t.Fatalf("runs listing = %v, %v", runs, err)
	}
}

func TestInlineSpecAndParamsAreValidatedAtSubmission(t *testing.T) {
	_, c, _ := startNode(t)
	ctx := context.Background()
	_, err := c.Submit(ctx, []byte(etlSpec), map[string]any{"min_amount": "lots"})
	assertAPIError(t, err, http.StatusBadRequest, "invalid_spec")
	_, err = c.Submit(ctx, []byte(etlSpec), map[string]any{"nope": 1})
	assertAPIError(t, err, http.StatusBadRequest, "invalid_spec")
	runs, _, err := c.Runs(ctx, client.RunQuery{})
	if err != nil || len(runs) != 0 {
		t.Fatalf("runs after refused submissions = %d, %v; want none", len(runs), err)
	}

	id, err := c.Submit(ctx, []byte(etlSpec), map[string]any{"min_amount": "50"})
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded || run.Task("cols").Outputs[0].Rows != 1 {
		t.Fatalf("run = %s, cols rows %+v", run.Status, run.Task("cols").Outputs)
	}
	if run.Params["min_amount"] != 50.0 {
		t.Fatalf("params = %#v, want min_amount 50 as a float", run.Params)
	}
}

func assertAPIError(t *testing.T, err error, status int, code string) *client.APIError {
	t.Helper()
	var aerr *client.APIError
	if !errors.As(err, &aerr) {
		t.Fatalf("err = %v, want an API error %d %s", err, status, code)
	}
	if aerr.Status != status || aerr.Code != code {
		t.Fatalf("err = %d %s (%s), want %d %s", aerr.Status, aerr.Code, aerr.Message, status, code)
	}
	return aerr
}

func TestBadInputGetsClearErrorsAndChangesNothing(t *testing.T) {
	n, c, _ := startNode(t)
	ctx := context.Background()
	cases := []struct {
		name, spec string
		status     int
		code, want string
	}{
		{"malformed yaml", "name: x\ntasks: [\n", 400, "invalid_spec", ""},
		{"cycle", "name: x\ntasks:\n  - {name: a, op: noop, needs: [b]}\n  - {name: b, op: noop, needs: [a]}\n", 400, "invalid_spec", "a -> b -> a"},
		{"unknown op", "name: x\ntasks:\n  - {name: a, op: frobnicate}\n", 400, "invalid_spec", "frobnicate"},
		{"name mismatch", "name: y\ntasks:\n  - {name: a, op: noop}\n", 400, "invalid_spec", "sent to pipeline"},
		{"oversize", "name: x\ndescription: " + strings.Repeat("a", 5<<20) + "\ntasks:\n  - {name: a, op: noop}\n", 413, "too_large", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.PutPipeline(ctx, "x", []byte(tc.spec))
			aerr := assertAPIError(t, err, tc.status, tc.code)
			if tc.want != "" && !strings.Contains(string(aerr.Details)+aerr.Message, tc.want) {
				t.Fatalf("error %s %s does not mention %q", aerr.Message, aerr.Details, tc.want)
			}
			if tc.code == "invalid_spec" {
				fes := aerr.FieldErrors()
				if len(fes) == 0 || (fes[0].Line == 0 && fes[0].Path == "") {
					t.Fatalf("want field errors with a line or path, got %s", aerr.Details)
				}
			}
		})
	}
	t.Run("line numbers", func(t *testing.T) {
		_, err := c.PutPipeline(ctx, "x", []byte("name: x\ntasks:\n  - name: a\n    op: noop\n  - name: b\n    op: nope\n"))
		aerr := assertAPIError(t, err, 400, "invalid_spec")
		fes := aerr.FieldErrors()
		if len(fes) != 1 || fes[0].Line != 6 || fes[0].Path != "tasks[1].op" {
			t.Fatalf("field errors = %+v, want tasks[1].op at line 6", fes)
		}
	})
	t.Run("bad json body", func(t *testing.T) {
		resp, err := http.Post(n.URL()+"/api/v1/runs", "application/json", strings.NewReader("{nope"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != 400 || json.Unmarshal(body, &eb) != nil || eb.Error.Code != "bad_request" {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
	})
	t.Run("unknown run", func(t *testing.T) {
		_, err := c.Run(ctx, "nope")
		assertAPIError(t, err, 404, "not_found")
	})
	ps, err := n.Pipelines()
	if err != nil || len(ps) != 0 {
		t.Fatalf("pipelines after bad input = %v, %v; want none", ps, err)
	}
}

func TestFailureRetriesAndSkipsDownstream(t *testing.T) {
	_, c, _ := startNode(t)
	spec := `name: flaky
tasks:
  - {name: start, op: noop}
  - {name: ok, op: sleep, needs: [start], with: {duration: 50ms}}
  - {name: broken, op: fail, needs: [start], retries: 2, retry_backoff: 20ms, with: {message: boom}}
  - {name: after, op: noop, needs: [broken]}
  - {name: after_after, op: noop, needs: [after]}
`
	id, err := c.Submit(context.Background(), []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	want := map[string]dag.TaskStatus{"start": "succeeded", "ok": "succeeded", "broken": "failed", "after": "skipped", "after_after": "skipped"}
	if got := taskStatuses(run); run.Status != dag.RunFailed || !equalStatuses(got, want) {
		t.Fatalf("run %s tasks %v, want failed with %v", run.Status, got, want)
	}
	broken := run.Task("broken")
	if broken.Attempt != 3 || len(broken.Attempts) != 3 || !strings.Contains(broken.Error, "boom") {
		t.Fatalf("broken: attempt %d, history %d, error %q; want 3 attempts failing with boom", broken.Attempt, len(broken.Attempts), broken.Error)
	}
	if !strings.Contains(broken.LogTail, "boom") {
		t.Fatalf("log tail %q lacks the error", broken.LogTail)
	}
}

func equalStatuses(a, b map[string]dag.TaskStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTimeoutStopsTheTask(t *testing.T) {
	_, c, _ := startNode(t)
	spec := "name: slow\ntasks:\n  - {name: nap, op: sleep, timeout: 100ms, with: {duration: 1h}}\n"
	id, err := c.Submit(context.Background(), []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	nap := run.Task("nap")
	if run.Status != dag.RunFailed || nap.Status != dag.TaskFailed || !strings.Contains(nap.Error, "timed out after 100ms") {
		t.Fatalf("run %s, nap %s: %q", run.Status, nap.Status, nap.Error)
	}
	if d := nap.FinishedAt.Sub(*nap.StartedAt); d > 30*time.Second {
		t.Fatalf("the task ran %s: the timeout did not stop it", d)
	}
}

func TestCancelStopsARunningTask(t *testing.T) {
	n, c, _ := startNode(t)
	ctx := context.Background()
	spec := "name: long\ntasks:\n  - {name: nap, op: sleep, with: {duration: 1h}}\n  - {name: next, op: noop, needs: [nap]}\n"
	id, err := c.Submit(ctx, []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		r, _ := n.Run(id)
		return r != nil && r.Task("nap").Status == dag.TaskRunning
	})
	if _, err := c.Cancel(ctx, id, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunCancelled || run.Task("nap").Status != dag.TaskCancelled || run.Task("next").Status != dag.TaskCancelled {
		t.Fatalf("after cancel: run %s tasks %v", run.Status, taskStatuses(run))
	}
	if run.Error != "changed my mind" {
		t.Fatalf("run error = %q", run.Error)
	}
	_, err = c.Cancel(ctx, id, "")
	assertAPIError(t, err, 409, "conflict")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitUntil(t, 30*time.Second, "condition", cond)
}

func TestRestartKeepsStateAndResumesInterruptedRuns(t *testing.T) {
	cfg := nodetest.Config(t)
	root := filepath.Join(cfg.DataDir, "data")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "orders.csv"), []byte(ordersCSV), 0o644)
	ctx := context.Background()

	n1, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(n1.URL(), "")
	done, err := c.Submit(ctx, []byte(etlSpec), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, c, done)
	// A run whose task is running when the node stops.
	slow := "name: slow\ntasks:\n  - {name: nap, op: sleep, with: {duration: 400ms}}\n  - {name: after, op: noop, needs: [nap]}\n"
	interrupted, err := c.Submit(ctx, []byte(slow), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		r, _ := n1.Run(interrupted)
		return r != nil && r.Task("nap").Status == dag.TaskRunning
	})
	before, _ := c.Run(ctx, done)
	if err := n1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := n1.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	n2 := nodetest.Open(t, cfg)
	c2 := client.New(n2.URL(), "")
	after, err := c2.Run(ctx, done)
	if err != nil {
		t.Fatalf("finished run lost over restart: %v", err)
	}
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("finished run changed over restart:\n%s\n%s", b1, b2)
	}
	var buf bytes.Buffer
	if _, err := c2.Output(ctx, done, "cols", "out", "csv", 0, &buf); err != nil || strings.Count(buf.String(), "\n") != 4 {
		t.Fatalf("output after restart = %q, %v", buf.String(), err)
	}
	buf.Reset()
	if err := c2.Logs(ctx, done, "big", 0, false, &buf); err != nil || !strings.Contains(buf.String(), "succeeded") {
		t.Fatalf("log after restart = %q, %v", buf.String(), err)
	}

	run := waitRun(t, c2, interrupted)
	nap := run.Task("nap")
	if run.Status != dag.RunSucceeded || nap.Attempt != 2 || len(nap.Attempts) != 2 || !strings.Contains(nap.Attempts[0].Error, "restarted") {
		t.Fatalf("interrupted run after restart: %s, nap attempt %d history %+v", run.Status, nap.Attempt, nap.Attempts)
	}
}

func TestFollowLogStreamsUntilTheAttemptEnds(t *testing.T) {
	n, c, _ := startNode(t)
	ctx := context.Background()
	spec := `{"name": "napper", "tasks": [{"name": "nap", "op": "sleep", "with": {"duration": "300ms"}}]}`
	id, err := c.Submit(ctx, []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		r, _ := n.Run(id)
		return r != nil && r.Task("nap").Status == dag.TaskRunning
	})
	var buf bytes.Buffer
	if err := c.Logs(ctx, id, "nap", 0, true, &buf); err != nil {
		t.Fatal(err)
	}
	// Following returns only once the attempt ended, so its last line is in.
	if !strings.Contains(buf.String(), "attempt 1 of") || !strings.Contains(buf.String(), "succeeded in") {
		t.Fatalf("followed log = %q", buf.String())
	}
	h, err := c.Health(ctx)
	if err != nil || h.Status != "ok" || h.Node != "test" || h.RaftState != "leader" || h.AppliedIndex == 0 {
		t.Fatalf("health = %+v, %v", h, err)
	}
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

func TestMetricsCountTasksAndRaftState(t *testing.T) {
	n, c, _ := startNode(t)
	id, err := c.Submit(context.Background(), []byte("name: m\ntasks:\n  - {name: a, op: noop}\n  - {name: b, op: fail, needs: [a]}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, c, id)
	resp, err := http.Get(n.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`forged_tasks_finished_total{result="succeeded"} 1`,
		`forged_tasks_finished_total{result="failed"} 1`,
		"forged_raft_leader 1",
		"forged_scheduler_assignments_total 2",
		"forged_scheduler_queue_depth 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// GET /runs?summary=true lists runs without their tasks, with how many of
// them are in each state.
func TestRunsSummaryCountsTasks(t *testing.T) {
	n, c, _ := startNode(t)
	spec := "name: flaky\ntasks:\n  - {name: a, op: noop}\n  - {name: b, op: fail, needs: [a], with: {message: boom}}\n  - {name: c, op: noop, needs: [b]}\n"
	id, err := c.Submit(context.Background(), []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, c, id)
	resp, err := http.Get(n.URL() + "/api/v1/runs?summary=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Runs []map[string]json.RawMessage `json:"runs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Runs) != 1 {
		t.Fatalf("%d runs listed", len(body.Runs))
	}
	r := body.Runs[0]
	if _, has := r["tasks"]; has {
		t.Errorf("the summary carries the tasks: %s", r["tasks"])
	}
	var counts map[string]int
	if err := json.Unmarshal(r["task_counts"], &counts); err != nil || counts["succeeded"] != 1 || counts["failed"] != 1 || counts["skipped"] != 1 ||
		string(r["task_count"]) != "3" || string(r["id"]) != `"`+id+`"` || string(r["status"]) != `"failed"` {
		t.Errorf("summary %s: counts %v (%v), total %s", r["id"], counts, err, r["task_count"])
	}
}
