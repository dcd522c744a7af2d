package dag

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
)

// Comparison sets runs side by side: their params, their tasks' metrics
// (with the best value of each, where better has a direction) and their
// outputs' sizes and schemas.
type Comparison struct {
	Runs    []RunSummary `json:"runs"`
	Params  []CompareRow `json:"params"`
	Metrics []CompareRow `json:"metrics"`
	// Series are metrics with a value per step (a loss per epoch, say):
	// one list per run, nil where a run has none.
	Series  []SeriesRow     `json:"series"`
	Outputs []OutputCompare `json:"outputs"`
}

// SeriesRow is one series metric across the runs.
type SeriesRow struct {
	Name   string      `json:"name"`
	Values [][]float64 `json:"values"`
}

// RunSummary is one compared run.
type RunSummary struct {
	ID       string    `json:"id"`
	Pipeline string    `json:"pipeline"`
	Version  int       `json:"version"`
	Status   RunStatus `json:"status"`
	// Seconds is the run's duration, when it finished.
	Seconds float64 `json:"seconds,omitempty"`
}

// CompareRow is one param or metric across the runs: a value per run (nil
// where a run has none).
type CompareRow struct {
	Name   string `json:"name"`
	Values []any  `json:"values"`
	// Differs is set when the runs do not all have the same value.
	Differs bool `json:"differs"`
	// Goal is "max" or "min" for metrics where higher or lower is better
	// (from the name: accuracy, f1, auc, r2... or loss, error, rmse...),
	// and Best the index of the run with the best value, or -1.
	Goal string `json:"goal,omitempty"`
	Best int    `json:"best"`
}

// OutputCompare is one task output across the runs.
type OutputCompare struct {
	Name string `json:"name"` // task.output
	// Rows per run; -1 where the run has no such output.
	Rows []int64 `json:"rows"`
	// SchemaChanged is set when the runs' schemas of it differ.
	SchemaChanged bool `json:"schema_changed"`
	// Columns are the output's column stats across the runs, one per
	// column any run has stats of, in order of first appearance.
	Columns []ColumnCompare `json:"columns,omitempty"`
}

// ColumnCompare is one column of an output across the runs.
type ColumnCompare struct {
	Name string `json:"name"`
	// Stats per run; nil where the run has no stats of the column.
	Stats []*ColumnStats `json:"stats"`
	// Differs is set when the runs' stats of the column differ. Runs
	// without stats of the output (it is missing, or was written before
	// outputs had stats) are left out; a run whose output has stats, but
	// none of this column, differs.
	Differs bool `json:"differs"`
}

// Compare builds the comparison of runs, in the order given.
func Compare(runs []*Run) Comparison {
	c := Comparison{Runs: make([]RunSummary, len(runs))}
	params := map[string][]any{}
	metrics := map[string][]any{}
	series := map[string][][]float64{}
	outputs := map[string]*OutputCompare{}
	schemas := map[string][][]Field{}
	columns := map[string]*outputColumns{}
	for i, r := range runs {
		s := RunSummary{ID: r.ID, Pipeline: r.Pipeline, Version: r.Version, Status: r.Status}
		if r.StartedAt != nil && r.FinishedAt != nil {
			s.Seconds = r.FinishedAt.Sub(*r.StartedAt).Seconds()
		}
		c.Runs[i] = s
		for k, v := range r.Params {
			cell(params, k, len(runs))[i] = v
		}
		for _, t := range r.Tasks {
			for k, v := range t.Metrics {
				name := t.Name + "." + k
				if s, ok := seriesOf(v); ok {
					if series[name] == nil {
						series[name] = make([][]float64, len(runs))
					}
					series[name][i] = s
					continue
				}
				cell(metrics, name, len(runs))[i] = v
			}
			for _, o := range t.Outputs {
				name := t.Name + "." + o.Name
				oc := outputs[name]
				if oc == nil {
					oc = &OutputCompare{Name: name, Rows: make([]int64, len(runs))}
					for j := range oc.Rows {
						oc.Rows[j] = -1
					}
					outputs[name] = oc
				}
				oc.Rows[i] = o.Rows
				schemas[name] = append(schemas[name], o.Schema)
				if len(o.Stats) > 0 {
					if columns[name] == nil {
						columns[name] = &outputColumns{at: map[string]int{}}
					}
					columns[name].add(i, len(runs), o.Stats)
				}
			}
		}
	}
	for name, vals := range series {
		c.Series = append(c.Series, SeriesRow{Name: name, Values: vals})
	}
	sort.Slice(c.Series, func(i, j int) bool { return c.Series[i].Name < c.Series[j].Name })
	c.Params = rows(params, false)
	c.Metrics = rows(metrics, true)
	for name, oc := range outputs {
		for _, s := range schemas[name][1:] {
			if !reflect.DeepEqual(s, schemas[name][0]) {
				oc.SchemaChanged = true
			}
		}
		if cols := columns[name]; cols != nil {
			oc.Columns = cols.compare()
		}
		c.Outputs = append(c.Outputs, *oc)
	}
	sort.Slice(c.Outputs, func(i, j int) bool { return c.Outputs[i].Name < c.Outputs[j].Name })
	return c
}

// outputColumns gathers one output's column stats across the runs.
type outputColumns struct {
	cols []ColumnCompare
	at   map[string]int // column name: index in cols
	// withStats are the runs whose output has stats.
	withStats []int
}

func (oc *outputColumns) add(run, runs int, stats []ColumnStats) {
	oc.withStats = append(oc.withStats, run)
	// st is a copy per iteration: the comparison does not point into the
	// runs.
	for _, st := range stats {
		k, ok := oc.at[st.Name]
		if !ok {
			k = len(oc.cols)
			oc.at[st.Name] = k
			oc.cols = append(oc.cols, ColumnCompare{Name: st.Name, Stats: make([]*ColumnStats, runs)})
		}
		if oc.cols[k].Stats[run] == nil { // a duplicate name keeps the first
			oc.cols[k].Stats[run] = &st
		}
	}
}

// compare sets Differs on the columns and returns them.
func (oc *outputColumns) compare() []ColumnCompare {
	for k := range oc.cols {
		col := &oc.cols[k]
		first := col.Stats[oc.withStats[0]]
		for _, r := range oc.withStats[1:] {
			if !sameStats(first, col.Stats[r]) {
				col.Differs = true
				break
			}
		}
	}
	return oc.cols
}

// sameStats says whether two runs' stats of a column agree: counts,
// bounds and distinct counts exactly, mean and deviation up to rounding
// (the same values written in other batches may sum in another order).
func sameStats(a, b *ColumnStats) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Type == b.Type && a.Count == b.Count && a.Nulls == b.Nulls &&
		a.Distinct == b.Distinct && a.DistinctCapped == b.DistinctCapped &&
		sameFloat(a.Min, b.Min, 0) && sameFloat(a.Max, b.Max, 0) &&
		sameFloat(a.Mean, b.Mean, 1e-9) && sameFloat(a.Std, b.Std, 1e-9)
}

func sameFloat(a, b *float64, rel float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b || math.Abs(*a-*b) <= rel*math.Max(math.Abs(*a), math.Abs(*b))
}

func cell(m map[string][]any, k string, n int) []any {
	if m[k] == nil {
		m[k] = make([]any, n)
	}
	return m[k]
}

func rows(m map[string][]any, withBest bool) []CompareRow {
	out := make([]CompareRow, 0, len(m))
	for name, vals := range m {
		r := CompareRow{Name: name, Values: vals, Best: -1}
		for _, v := range vals[1:] {
			if fmt.Sprint(v) != fmt.Sprint(vals[0]) {
				r.Differs = true
			}
		}
		if withBest {
			r.Goal = metricGoal(name)
			r.Best = best(vals, r.Goal)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// metricGoal says whether higher ("max") or lower ("min") is better for a
// metric of this name, or "" when the name does not tell.
func metricGoal(name string) string {
	n := strings.ToLower(name[strings.LastIndexByte(name, '.')+1:])
	for _, s := range []string{"loss", "error", "rmse", "mae", "mse", "inertia", "objective", "seconds"} {
		if strings.Contains(n, s) {
			return "min"
		}
	}
	for _, s := range []string{"accuracy", "precision", "recall", "f1", "auc", "r2", "score"} {
		if strings.Contains(n, s) {
			return "max"
		}
	}
	return ""
}

func best(vals []any, goal string) int {
	if goal == "" {
		return -1
	}
	at, bestV := -1, 0.0
	for i, v := range vals {
		f, ok := metricNumber(v)
		if !ok {
			continue
		}
		if at < 0 || goal == "max" && f > bestV || goal == "min" && f < bestV {
			at, bestV = i, f
		}
	}
	return at
}

func metricNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

// seriesOf reads a series metric: a list of numbers, as JSON decodes it
// ([]any) or as a task recorded it ([]float64).
func seriesOf(v any) ([]float64, bool) {
	switch x := v.(type) {
	case []float64:
		return x, true
	case []any:
		out := make([]float64, 0, len(x))
		for _, e := range x {
			f, ok := metricNumber(e)
			if !ok {
				return nil, false
			}
			out = append(out, f)
		}
		return out, true
	}
	return nil, false
}
