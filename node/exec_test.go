package node_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// mixedSpec prepares data with built-in ops, scales it in Python, and
// filters the result with an op again.
const mixedSpec = `name: mixed
params:
  factor: {type: float, default: 2}
tasks:
  - name: load
    op: read_csv
    with: {path: orders.csv}
  - name: paid
    op: filter
    needs: [load]
    with: {expr: "status == 'paid'"}
  - name: scale
    needs: [paid]
    format: csv
    exec: [python3, -c, "${params.factor}"]
  - name: big
    op: filter
    needs: [scale]
    with: {expr: "scaled > 45"}
`

// scaleScript is the Python step: the factor comes as an argument.
const scaleScript = `
import csv, json, os, sys
factor = float(sys.argv[1])
rows = list(csv.DictReader(open(os.environ["FORGE_INPUT_PAID"])))
with open(os.environ["FORGE_OUTPUT_OUT"], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["order_id", "scaled"])
    for r in rows:
        w.writerow([r["order_id"], float(r["amount"]) * factor])
json.dump({"scaled_rows": len(rows), "factor": factor}, open(os.environ["FORGE_METRICS"], "w"))
print("scaled", len(rows), "rows")
`

func TestExecTaskInAMixedPipeline(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed (CI installs it)")
	}
	cfg := nodetest.Config(t)
	cfg.EnableExec = true
	n := nodetest.Open(t, cfg)
	writeOrders(t, n)
	// The script is the -c argument; ${params.factor} follows it.
	spec := strings.Replace(mixedSpec, `exec: [python3, -c, "${params.factor}"]`,
		fmt.Sprintf("exec: [python3, -c, %q, \"${params.factor}\"]", scaleScript), 1)
	c := client.New(n.URL(), "")
	id, err := c.Submit(context.Background(), []byte(spec), map[string]any{"factor": 3})
	if err != nil {
		var apiErr *client.APIError
		if errors.As(err, &apiErr) {
			t.Fatalf("%v: %s\n%s", err, apiErr.Details, spec)
		}
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded {
		t.Fatalf("run %s: scale %s: %s\n%s", run.Status, run.Task("scale").Status, run.Task("scale").Error, run.Task("scale").LogTail)
	}
	scale := run.Task("scale")
	// Paid orders: 5.5, 25, 100, 19.99, 20; times 3 over 45: 75, 300, 59.97, 60.
	if scale.Metrics["scaled_rows"] != float64(5) || scale.Metrics["factor"] != float64(3) {
		t.Fatalf("scale's metrics = %v", scale.Metrics)
	}
	if !strings.Contains(scale.LogTail, "scaled 5 rows") {
		t.Fatalf("scale's log:\n%s", scale.LogTail)
	}
	big := run.Task("big").Outputs[0]
	if big.Rows != 4 || big.Preview == nil || len(big.Preview.Rows) != 4 {
		t.Fatalf("big: %d rows, preview %+v", big.Rows, big.Preview)
	}
	if constraint := scale.Constraints.Labels[dag.ExecLabel]; constraint != "true" {
		t.Fatalf("scale's constraints = %+v", scale.Constraints)
	}
}

// A node without exec refuses a pipeline that needs it, at submission.
func TestExecRefusedWhenNoNodeAllowsIt(t *testing.T) {
	n := nodetest.Open(t, nodetest.Config(t))
	_, err := client.New(n.URL(), "").Submit(context.Background(), []byte("name: x\ntasks:\n  - name: a\n    script: echo hi\n"), nil)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Message, "--enable-exec") {
		t.Fatalf("submit = %v, want a 400 that says to start a node with --enable-exec", err)
	}
}

// In a cluster where one node allows exec, every exec task runs there,
// and ops run anywhere.
func TestExecTasksArePlacedOnExecNodes(t *testing.T) {
	nodes := nodetest.OpenCluster(t, 3, func(c *node.Config) { c.EnableExec = c.Name == "n2" })
	nodetest.WaitForLeader(t, nodes)
	var spec strings.Builder
	spec.WriteString("name: spread\ntasks:\n")
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&spec, "  - {name: e%d, script: \"sleep 0.1; printf 'x\\\\n1\\\\n' > \\\"$FORGE_OUTPUT_OUT\\\"\", format: csv}\n", i)
		fmt.Fprintf(&spec, "  - {name: o%d, op: sleep, with: {duration: 100ms}}\n", i)
	}
	c := client.New(nodes[0].URL(), "")
	id, err := c.Submit(context.Background(), []byte(spec.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded {
		t.Fatalf("run %s: %v", run.Status, taskStatuses(run))
	}
	opNodes := map[string]bool{}
	for _, task := range run.Tasks {
		if strings.HasPrefix(task.Name, "e") && task.Node != "n2" {
			t.Fatalf("exec task %s ran on %s, which does not allow exec", task.Name, task.Node)
		}
		if strings.HasPrefix(task.Name, "o") {
			opNodes[task.Node] = true
		}
	}
	if len(opNodes) < 2 {
		t.Fatalf("op tasks ran only on %v", opNodes)
	}
}
