package dag

import (
	"encoding/json"
	"reflect"
	"strings"
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

func TestCompareColumns(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	amount := func(mean float64) ColumnStats {
		return ColumnStats{Name: "amount", Type: "float64", Count: 3, Min: f(1), Max: f(9), Mean: f(mean), Std: f(2)}
	}
	id := ColumnStats{Name: "id", Type: "int64", Count: 3, Min: f(1), Max: f(3), Mean: f(2), Std: f(1)}
	status := func(distinct int) ColumnStats {
		return ColumnStats{Name: "status", Type: "utf8", Count: 3, Distinct: distinct}
	}
	mk := func(runID string, outs ...OutputMeta) *Run {
		return &Run{ID: runID, Tasks: []TaskRun{{Name: "orders", Outputs: outs}}}
	}
	out := func(stats ...ColumnStats) OutputMeta { return OutputMeta{Name: "out", Rows: 3, Stats: stats} }
	c := Compare([]*Run{
		mk("r1", out(id, amount(4), status(2))),
		// The same mean but for rounding, a new column, status changed.
		mk("r2", out(id, amount(4*(1+1e-12)), status(3), ColumnStats{Name: "note", Type: "utf8", Count: 3, Distinct: 1})),
		// Written before outputs had stats.
		mk("r3", OutputMeta{Name: "out", Rows: 3}),
		// No such output.
		mk("r4"),
		// id is gone.
		mk("r5", out(amount(5), status(2))),
	})
	if len(c.Outputs) != 1 {
		t.Fatalf("outputs = %+v", c.Outputs)
	}
	cols := c.Outputs[0].Columns
	var names []string
	for _, col := range cols {
		names = append(names, col.Name)
		if len(col.Stats) != 5 || col.Stats[2] != nil || col.Stats[3] != nil {
			t.Errorf("%s: stats %v, want 5 with none for r3 and r4", col.Name, col.Stats)
		}
	}
	if got := strings.Join(names, ","); got != "id,amount,status,note" {
		t.Fatalf("columns %s, want id,amount,status,note", got)
	}
	byName := map[string]ColumnCompare{}
	for _, col := range cols {
		byName[col.Name] = col
	}
	if col := byName["id"]; !col.Differs || col.Stats[0] == nil || *col.Stats[0].Mean != 2 || col.Stats[4] != nil {
		t.Errorf("id = %+v", col)
	}
	if col := byName["amount"]; !col.Differs || *col.Stats[4].Mean != 5 {
		t.Errorf("amount = %+v", col)
	}
	if col := byName["note"]; !col.Differs || col.Stats[0] != nil || col.Stats[1].Distinct != 1 {
		t.Errorf("note = %+v", col)
	}

	// Between r1 and r2 only the distinct count of status and the new
	// column differ: a mean off by rounding does not.
	c = Compare([]*Run{mk("r1", out(id, amount(4), status(2))), mk("r2", out(id, amount(4*(1+1e-12)), status(3))), mk("r3", OutputMeta{Name: "out"})})
	differs := map[string]bool{}
	for _, col := range c.Outputs[0].Columns {
		differs[col.Name] = col.Differs
	}
	if want := map[string]bool{"id": false, "amount": false, "status": true}; !reflect.DeepEqual(differs, want) {
		t.Fatalf("differs = %v, want %v", differs, want)
	}
	// Stats are copies: changing the comparison leaves the runs alone.
	r := mk("r", out(id))
	c = Compare([]*Run{r})
	c.Outputs[0].Columns[0].Stats[0].Count = 99
	if r.Tasks[0].Outputs[0].Stats[0].Count != 3 {
		t.Fatal("the comparison points into the run")
	}
	// Outputs without stats have no columns, and the JSON leaves them out.
	c = Compare([]*Run{mk("r1", OutputMeta{Name: "out"})})
	if c.Outputs[0].Columns != nil {
		t.Fatalf("columns = %+v", c.Outputs[0].Columns)
	}
	b, err := json.Marshal(c.Outputs[0])
	if err != nil || strings.Contains(string(b), "columns") {
		t.Fatalf("json %s, %v", b, err)
	}
}
