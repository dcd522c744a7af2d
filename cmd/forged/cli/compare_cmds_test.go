package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/forged-dev/forged/dag"
)

// forged compare prints, after the table, a line per column whose stats
// differ, with only the figures that differ; --all prints every column.
func TestComparePrintsColumnStats(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	amount := func(mean, max float64) *dag.ColumnStats {
		return &dag.ColumnStats{Name: "amount", Type: "double", Count: 6, Min: f(5.5), Max: f(max), Mean: f(mean), Std: f(3)}
	}
	status := &dag.ColumnStats{Name: "status", Type: "utf8", Count: 6, Distinct: 2}
	c := &dag.Comparison{
		Runs: []dag.RunSummary{{ID: "r1", Status: dag.RunSucceeded}, {ID: "r2", Status: dag.RunSucceeded}},
		Outputs: []dag.OutputCompare{{Name: "orders.out", Rows: []int64{6, 6}, Columns: []dag.ColumnCompare{
			{Name: "amount", Stats: []*dag.ColumnStats{amount(25.1234, 100), amount(31, 2000000)}, Differs: true},
			{Name: "status", Stats: []*dag.ColumnStats{status, status}},
			{Name: "note", Stats: []*dag.ColumnStats{nil, {Name: "note", Type: "utf8", Count: 5, Nulls: 1, Distinct: 1000, DistinctCapped: true}}, Differs: true},
		}}},
	}
	var out bytes.Buffer
	g := &globals{stdout: &out}
	if err := printComparison(g, c, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"column stats (r1 | r2)",
		"  orders.out amount  max 100 | 2000000  mean 25.12 | 31",
		"  orders.out note  count - | 5  nulls - | 1  distinct - | >1000",
	}
	if len(lines) < len(want) || strings.Join(lines[len(lines)-len(want):], "\n") != strings.Join(want, "\n") {
		t.Fatalf("output:\n%s\nwant it to end with:\n%s", out.String(), strings.Join(want, "\n"))
	}
	if !strings.Contains(lines[len(lines)-len(want)-1], "orders.out rows") {
		t.Fatalf("the stats do not follow the outputs:\n%s", out.String())
	}
	out.Reset()
	if err := printComparison(g, c, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "  orders.out status  count 6 | 6  nulls 0 | 0  distinct 2 | 2\n") {
		t.Fatalf("--all output:\n%s", out.String())
	}
	// Without stats, nothing is added.
	c.Outputs[0].Columns = nil
	out.Reset()
	if err := printComparison(g, c, true); err != nil || strings.Contains(out.String(), "column stats") {
		t.Fatalf("output without stats:\n%s", out.String())
	}
}
