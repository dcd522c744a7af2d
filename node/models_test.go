package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// churnSpec trains, registers and evaluates the bundled churn model, and
// scores the test rows with it in the same run.
func churnSpec(t *testing.T, root string) []byte {
	t.Helper()
	src, err := os.ReadFile("../examples/data/churn.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "data", "churn.csv"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile("../examples/churn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// A model trained and registered by a pipeline on one node is served by
// every node of the cluster; aliases move and keep their history.
func TestModelsAreServedFromEveryNode(t *testing.T) {
	nodes := nodetest.OpenCluster(t, 3, nil)
	leader := nodetest.WaitForLeader(t, nodes)
	var spec []byte
	for _, n := range nodes {
		spec = churnSpec(t, n.DataRoots()[0])
	}
	// Train on n1 only.
	spec = bytes.Replace(spec, []byte("    op: train_logistic\n"), []byte("    op: train_logistic\n    constraints: {node: n1}\n"), 1)
	c := client.New(leader.URL(), "")
	ctx := context.Background()
	id, err := c.Submit(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded {
		t.Fatalf("run %s: %v %s", run.Status, taskStatuses(run), run.Task("train").Error)
	}
	eval := run.Task("evaluate").Metrics
	if acc, _ := eval["accuracy"].(float64); acc < 0.6 {
		t.Fatalf("evaluate metrics %v", eval)
	}

	models, err := c.Models(ctx)
	if err != nil || len(models) != 1 || models[0].Name != "churn" || models[0].Latest.Version != 1 || models[0].Latest.Source.Run != id {
		t.Fatalf("models = %+v, %v", models, err)
	}
	body := []byte(`{"records": [{"tenure_months": 2, "monthly_charges": 110, "support_calls": 6, "month_to_month": true},
		{"tenure_months": 70, "monthly_charges": 25, "support_calls": 0, "month_to_month": false}]}`)
	var first []any
	for _, n := range nodes {
		waitReplica(t, n, id)
		p, err := client.New(n.URL(), "").Predict(ctx, "churn", body, false)
		if err != nil {
			t.Fatalf("predict on %s: %v", n.Name(), err)
		}
		if len(p.Predictions) != 2 || p.Version != 1 {
			t.Fatalf("predict on %s: %+v", n.Name(), p)
		}
		hi, _ := p.Predictions[0].(json.Number).Float64()
		lo, _ := p.Predictions[1].(json.Number).Float64()
		if !(hi > 0.5 && lo < 0.5) {
			t.Fatalf("predict on %s: a likely churner %v, a loyal customer %v", n.Name(), hi, lo)
		}
		if first == nil {
			first = p.Predictions
		} else if fmt.Sprint(first) != fmt.Sprint(p.Predictions) {
			t.Fatalf("%s predicts %v, another node %v", n.Name(), p.Predictions, first)
		}
		labels, err := client.New(n.URL(), "").Predict(ctx, "churn", body, true)
		if err != nil || fmt.Sprint(labels.Predictions) != "[yes no]" {
			t.Fatalf("labels on %s: %+v, %v", n.Name(), labels, err)
		}
	}

	// Train again: version 2; aliases move and their history is kept.
	id2, err := c.Submit(ctx, spec, map[string]any{"l2": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { m, err := c.Model(ctx, "churn"); return err == nil && len(m.Versions) == 2 })
	waitRun(t, c, id2)

	// The two runs side by side: the param that differs, and the best of
	// each metric.
	cmp, err := c.Compare(ctx, []string{id, id2})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]dag.CompareRow{}
	for _, r := range append(cmp.Params, cmp.Metrics...) {
		rows[r.Name] = r
	}
	if r := rows["l2"]; !r.Differs || r.Values[1] != 0.5 {
		t.Fatalf("l2 row = %+v", r)
	}
	if r := rows["evaluate.log_loss"]; r.Goal != "min" || r.Best < 0 || len(r.Values) != 2 {
		t.Fatalf("log_loss row = %+v", r)
	}
	for _, step := range []struct {
		alias   string
		version int
	}{{"production", 1}, {"staging", 2}, {"production", 2}, {"staging", 0}} {
		if err := c.SetAlias(ctx, "churn", step.alias, step.version); err != nil {
			t.Fatal(err)
		}
	}
	m, err := c.Model(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, mv := range m.AliasHistory {
		moves = append(moves, fmt.Sprintf("%s:%d->%d", mv.Alias, mv.From, mv.To))
	}
	if got := strings.Join(moves, " "); got != "production:0->1 staging:0->2 production:1->2 staging:2->0" || len(m.Aliases) != 1 || m.Aliases["production"] != 2 {
		t.Fatalf("aliases %v, history %s", m.Aliases, got)
	}
	for ref, want := range map[string]int{"churn@production": 2, "churn@1": 1, "churn": 2} {
		p, err := client.New(nodes[2].URL(), "").Predict(ctx, ref, body, false)
		if err != nil || p.Version != want {
			t.Fatalf("%s: version %v, %v", ref, p, err)
		}
	}
	var apiErr *client.APIError
	if _, err := c.Predict(ctx, "churn@staging", body, false); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("a removed alias: %v", err)
	}
	if _, err := c.Predict(ctx, "churn", []byte(`{"records": [{"tenure_months": 2}]}`), false); !errors.As(err, &apiErr) ||
		apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Message, `missing feature "monthly_charges"`) {
		t.Fatalf("a record without a feature: %v", err)
	}
	if err := c.SetAlias(ctx, "churn", "production", 9); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("alias to a missing version: %v", err)
	}
}

// XGBoost and LightGBM files registered by upload are served with the
// predictions their own libraries give (XGBoost: reference predictions
// computed by xgboost 1.7.4, to 1e-6), missing values included.
func TestUploadedTreeModelsPredictLikeTheirLibraries(t *testing.T) {
	n := nodetest.Open(t, nodetest.Config(t))
	c := client.New(n.URL(), "")
	ctx := context.Background()
	for _, name := range []string{"binary", "regression", "multiclass"} {
		t.Run(name, func(t *testing.T) {
			file, err := os.ReadFile("../model/testdata/xgboost/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.RegisterModel(ctx, "xgb-"+name, "xgboost", nil, "", bytes.NewReader(file)); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile("../model/testdata/xgboost/" + name + ".expected.json")
			if err != nil {
				t.Fatal(err)
			}
			var ref struct {
				Rows        [][]*float64 `json:"rows"`
				Predictions []any        `json:"predictions"`
			}
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]any{"instances": ref.Rows}) // nil → null: missing
			p, err := c.Predict(ctx, "xgb-"+name, body, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Predictions) != len(ref.Predictions) {
				t.Fatalf("%d predictions, want %d", len(p.Predictions), len(ref.Predictions))
			}
			for i := range ref.Predictions {
				got, want := flatten(p.Predictions[i]), flatten(ref.Predictions[i])
				if len(got) != len(want) {
					t.Fatalf("row %d: %v, want %v", i, got, want)
				}
				for j := range want {
					if d := got[j] - want[j]; d > 1e-6 || d < -1e-6 {
						t.Fatalf("row %d: %v, xgboost says %v", i, got, want)
					}
				}
			}
		})
	}
	// A cut-off file is refused, and the node serves on.
	file, _ := os.ReadFile("../model/testdata/xgboost/binary.json")
	var apiErr *client.APIError
	if _, err := c.RegisterModel(ctx, "cut", "xgboost", nil, "", bytes.NewReader(file[:len(file)/2])); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("a truncated model: %v", err)
	}
	if _, err := c.Predict(ctx, "xgb-binary", []byte(`{"instances": [[1, 2, 3, 4, 5]]}`), false); err != nil {
		t.Fatalf("after a refused upload: %v", err)
	}
}

// flatten reads a prediction: a number or a list of numbers.
func flatten(v any) []float64 {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return []float64{f}
	case float64:
		return []float64{x}
	case []any:
		var out []float64
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}

// An exec task that leaves a model file among its artifacts registers it
// with register: {artifact, format}; the version names its run and task.
func TestExecTaskRegistersItsArtifact(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.EnableExec = true
	n := nodetest.Open(t, cfg)
	fixture, err := filepath.Abs("../model/testdata/xgboost/regression.json")
	if err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf(`name: xgb
tasks:
  - name: train
    format: csv
    script: |
      cp %q "$FORGE_ARTIFACTS/model.json"
      printf 'trained\n1\n' > "$FORGE_OUTPUT_OUT"
    register: {model: prices, artifact: model.json, format: xgboost, features: [a, b, c, e]}
  - name: missing
    format: csv
    script: printf 'x\n1\n' > "$FORGE_OUTPUT_OUT"
    register: {model: nothing, artifact: model.json, format: xgboost}
`, fixture)
	c := client.New(n.URL(), "")
	ctx := context.Background()
	id, err := c.Submit(ctx, []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Task("train").Status != dag.TaskSucceeded {
		t.Fatalf("train: %s", run.Task("train").Error)
	}
	if m := run.Task("missing"); m.Status != dag.TaskFailed || !strings.Contains(m.Error, "register model nothing: the task left no model at $FORGE_ARTIFACTS/model.json") {
		t.Fatalf("missing: %s %q", m.Status, m.Error)
	}
	m, err := c.Model(ctx, "prices")
	if err != nil || len(m.Versions) != 1 || m.Versions[0].Source.Run != id || m.Versions[0].Source.Task != "train" || m.Versions[0].Format != "xgboost" {
		t.Fatalf("model = %+v, %v", m, err)
	}
	if !strings.Contains(string(m.Versions[0].Signature), `"name":"e"`) {
		t.Fatalf("signature %s", m.Versions[0].Signature)
	}
	if _, err := c.Predict(ctx, "prices", []byte(`{"records": [{"a": 1, "b": 2, "c": 3, "e": 5}]}`), false); err != nil {
		t.Fatal(err)
	}
}

// A sweep starts the grid of runs as one experiment, whose comparison
// shows the swept params and the best metric.
func TestSweepStartsAnExperiment(t *testing.T) {
	n := nodetest.Open(t, nodetest.Config(t))
	c := client.New(n.URL(), "")
	ctx := context.Background()
	spec := []byte("name: grid\nparams:\n  a: {type: int, default: 1}\n  b: {type: string, default: x}\n" +
		"tasks:\n  - {name: t, op: noop}\n")
	exp, runs, err := c.SubmitSweep(ctx, spec, map[string]any{"b": "fixed"}, map[string][]any{"a": {1, 2, 3}, "b": {"p", "q"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 6 || exp == "" {
		t.Fatalf("experiment %q with runs %v", exp, runs)
	}
	for _, id := range runs {
		if r := waitRun(t, c, id); r.Status != dag.RunSucceeded || r.Experiment != exp {
			t.Fatalf("run %s: %s, experiment %q", id, r.Status, r.Experiment)
		}
	}
	e, err := c.Experiment(ctx, exp)
	if err != nil {
		t.Fatal(err)
	}
	var grid []string
	for _, r := range e.Comparison.Params {
		for _, v := range r.Values {
			grid = append(grid, fmt.Sprint(r.Name, "=", v))
		}
	}
	// Params in name order, values in the order given: a then b.
	if got := strings.Join(grid, " "); got != "a=1 a=1 a=2 a=2 a=3 a=3 b=p b=q b=p b=q b=p b=q" {
		t.Fatalf("grid: %s", got)
	}
	var apiErr *client.APIError
	if _, _, err := c.SubmitSweep(ctx, spec, nil, map[string][]any{"a": {"not-a-number"}}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("a bad sweep value: %v", err)
	}
	if rs, _, err := c.Runs(ctx, client.RunQuery{Pipeline: "grid"}); err != nil || len(rs) != 6 {
		t.Fatalf("a refused sweep left runs behind: %d, %v", len(rs), err)
	}

	// The run drawn, its task coloured by state; the pipeline drawn.
	for path, want := range map[string]string{
		"/api/v1/runs/" + runs[0] + "/dag.svg": `data-task="t" data-status="succeeded"`,
		"/api/v1/pipelines/grid/dag.svg":       `data-task="t"`,
	} {
		resp, err := http.Get(n.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %s: %.300s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}

	// Tags: set, removed, and found by.
	if err := c.SetTags(ctx, runs[0], map[string]string{"best": "yes", "note": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTags(ctx, runs[0], nil, []string{"note"}); err != nil {
		t.Fatal(err)
	}
	rs, _, err := c.Runs(ctx, client.RunQuery{Tag: "best=yes"})
	if err != nil || len(rs) != 1 || rs[0].ID != runs[0] || len(rs[0].Tags) != 1 {
		t.Fatalf("runs tagged best=yes: %v, %v", rs, err)
	}
}

// A deleted run is gone from the state and its files from every node:
// at once on the node that deleted it, at the next sweep elsewhere.
func TestDeleteRunRemovesItsFilesEverywhere(t *testing.T) {
	nodes := nodetest.OpenCluster(t, 2, nil)
	nodetest.WaitForLeader(t, nodes)
	for _, n := range nodes {
		writeOrders(t, n)
	}
	spec := []byte(`name: del
tasks:
  - {name: make, op: read_csv, with: {path: big_orders.csv}, constraints: {node: n2}}
  - {name: use, op: filter, needs: [make], with: {expr: "amount > 20"}, constraints: {node: n1}}
`)
	c := client.New(nodes[0].URL(), "")
	ctx := context.Background()
	id, err := c.Submit(ctx, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run := waitRun(t, c, id); run.Status != dag.RunSucceeded {
		t.Fatalf("run %s", run.Status)
	}
	waitReplica(t, nodes[1], id)
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(n.DataDir(), "outputs", id)); err != nil {
			t.Fatalf("%s holds no outputs of the run: %v", n.Name(), err)
		}
	}
	var apiErr *client.APIError
	if err := client.New(nodes[0].URL(), "").DeleteRun(ctx, "nope"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("delete an unknown run: %v", err)
	}
	if err := c.DeleteRun(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(ctx, id); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("the deleted run reads as %v", err)
	}
	if _, err := os.Stat(filepath.Join(nodes[0].DataDir(), "outputs", id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("n1 still holds the run's outputs: %v", err)
	}
	waitFor(t, func() bool { _, err := nodes[1].Run(id); return err != nil })
	if removed, err := node.SweepDeleted(nodes[1]); err != nil || removed != 1 {
		t.Fatalf("sweep on n2: %d, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(nodes[1].DataDir(), "outputs", id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("n2 still holds the run's outputs: %v", err)
	}
}
