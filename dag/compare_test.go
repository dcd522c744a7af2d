package dag

import (
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(90 * time.Second)
	mk := func(id string, lr float64, acc, loss any, rows int64, schema []Field) *Run {
		return &Run{ID: id, Pipeline: "p", Version: 1, Status: RunSucceeded, Params: map[string]any{"lr": lr, "depth": 3},
			StartedAt: &t0, FinishedAt: &t1,
			Tasks: []TaskRun{{Name: "eval", Metrics: map[string]any{"accuracy": acc, "log_loss": loss, "curve": []any{1.0, 2.0}, "note": "x"},
				Outputs: []OutputMeta{{Name: "out", Rows: rows, Schema: schema}}}}}
	}
	a := []Field{{Name: "x", Type: "int64"}}
	b := []Field{{Name: "x", Type: "double"}}
	c := Compare([]*Run{mk("r1", 0.1, 0.8, 0.5, 10, a), mk("r2", 0.01, 0.9, 0.7, 12, a), mk("r3", 1.0, nil, 0.3, 10, b)})
	if len(c.Runs) != 3 || c.Runs[0].Seconds != 90 {
		t.Fatalf("runs = %+v", c.Runs)
	}
	byName := map[string]CompareRow{}
	for _, r := range append(c.Params, c.Metrics...) {
		byName[r.Name] = r
	}
	if r := byName["lr"]; !r.Differs || r.Values[1] != 0.01 {
		t.Fatalf("lr = %+v", r)
	}
	if r := byName["depth"]; r.Differs {
		t.Fatalf("depth = %+v", r)
	}
	if r := byName["eval.accuracy"]; r.Goal != "max" || r.Best != 1 || r.Values[2] != nil {
		t.Fatalf("accuracy = %+v", r)
	}
	if r := byName["eval.log_loss"]; r.Goal != "min" || r.Best != 2 {
		t.Fatalf("log_loss = %+v", r)
	}
	if r := byName["eval.note"]; r.Goal != "" || r.Best != -1 || r.Differs {
		t.Fatalf("note = %+v", r)
	}
	if _, ok := byName["eval.curve"]; ok {
		t.Fatal("a series is in the table")
	}
	if len(c.Series) != 1 || c.Series[0].Name != "eval.curve" || len(c.Series[0].Values) != 3 || c.Series[0].Values[2][1] != 2 {
		t.Fatalf("series = %+v", c.Series)
	}
	if len(c.Outputs) != 1 || !c.Outputs[0].SchemaChanged || c.Outputs[0].Rows[1] != 12 {
		t.Fatalf("outputs = %+v", c.Outputs)
	}
}
