package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// repairCluster starts four voters that find a silent node dead quickly
// and restore lost copies one second after.
func repairCluster(t *testing.T) []*node.Node {
	t.Helper()
	return nodetest.OpenCluster(t, 4, func(c *node.Config) {
		c.GossipTiming = quickGossip()
		c.ReplicaRepairAfter = time.Second
	})
}

// notLeader returns a node that does not lead.
func notLeader(t *testing.T, nodes []*node.Node) *node.Node {
	t.Helper()
	leader := nodetest.WaitForLeader(t, nodes)
	for _, n := range nodes {
		if n != leader {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}

// without returns nodes but the one named.
func without(nodes []*node.Node, name string) []*node.Node {
	return slices.DeleteFunc(slices.Clone(nodes), func(n *node.Node) bool { return n.Name() == name })
}

// byName finds a node by name among nodes, or nil.
func byName(nodes []*node.Node, name string) *node.Node {
	for _, n := range nodes {
		if n.Name() == name {
			return n
		}
	}
	return nil
}

func holdersOf(o dag.OutputMeta) []string { return append([]string{o.Node}, o.Replicas...) }

// waitNewHolder waits until meta, read from the first live node, lists a
// holder outside orig that is one of the live nodes and has the file, and
// returns it.
func waitNewHolder(t *testing.T, live []*node.Node, what string, orig []string,
	meta func(n *node.Node) (dag.OutputMeta, bool), run, task string) string {
	t.Helper()
	var added string
	waitUntil(t, 30*time.Second, what+": a new live holder with the file", func() bool {
		o, ok := meta(live[0])
		if !ok {
			return false
		}
		for _, h := range holdersOf(o) {
			if n := byName(live, h); n != nil && !slices.Contains(orig, h) && node.HoldsFile(n, run, task, o.Name) {
				added = h
				return true
			}
		}
		return false
	})
	return added
}

// waitOutOfRaft waits until the nodes' leader has removed the dead node
// from the Raft configuration, so that losing one more voter keeps a
// quorum.
func waitOutOfRaft(t *testing.T, live []*node.Node, dead string) {
	t.Helper()
	waitUntil(t, 30*time.Second, dead+" out of the Raft configuration", func() bool {
		leader := nodetest.WaitForLeader(t, live)
		return !inRaft(viewsOf(leader)[dead].Role)
	})
}

// repairsCounted sums forged_replica_repairs_total over the nodes'
// /metrics.
func repairsCounted(t *testing.T, nodes []*node.Node) float64 {
	t.Helper()
	total := 0.0
	for _, n := range nodes {
		resp, err := http.Get(n.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "forged_replica_repairs_total "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("metric line %q: %v", sc.Text(), err)
				}
				total += f
			}
		}
		resp.Body.Close()
	}
	return total
}

// A dataset and a task output with replicas: 2 lose a holder for good:
// after the grace a live node gets a copy and the state lists it, so that
// when the other original holder dies too, the dataset is still read and
// the output still served.
func TestRepairRestoresDatasetAndOutputCopies(t *testing.T) {
	nodes := repairCluster(t)
	for _, n := range nodes {
		writeOrders(t, n)
	}
	ctx := context.Background()
	x := notLeader(t, nodes)
	cx := client.New(x.URL(), "")

	ds, err := cx.PutDataset(ctx, "orders", "csv", strings.NewReader(bigOrdersCSV()))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Output.Node != x.Name() || len(ds.Output.Replicas) != 1 || len(ds.Output.Inline) > 0 {
		t.Fatalf("uploaded dataset = %+v; want a file on %s and one copy", ds.Output, x.Name())
	}
	dsHolders := holdersOf(ds.Output)

	spec := "name: copies\ntasks:\n  - {name: make, op: read_csv, with: {path: big_orders.csv}, constraints: {node: " +
		x.Name() + "}, replicas: 2}\n"
	id, err := cx.Submit(ctx, []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, cx, id)
	out := run.Task("make").Outputs
	if run.Status != dag.RunSucceeded || len(out) != 1 || out[0].Node != x.Name() || len(out[0].Replicas) != 1 || len(out[0].Inline) > 0 {
		t.Fatalf("run %s, outputs %+v", run.Status, out)
	}
	outHolders := holdersOf(out[0])
	for _, n := range nodes {
		waitReplica(t, n, id)
	}
	before := repairsCounted(t, nodes)

	// The holder of both dies for good.
	if err := node.Crash(x); err != nil {
		t.Fatal(err)
	}
	live := without(nodes, x.Name())
	newDS := waitNewHolder(t, live, "dataset", dsHolders, func(n *node.Node) (dag.OutputMeta, bool) {
		v, err := n.Dataset("orders", 1)
		if err != nil {
			return dag.OutputMeta{}, false
		}
		return v.Output, true
	}, node.DatasetsRun, "orders")
	newOut := waitNewHolder(t, live, "task output", outHolders, func(n *node.Node) (dag.OutputMeta, bool) {
		r, err := n.Run(id)
		if err != nil {
			return dag.OutputMeta{}, false
		}
		return r.Task("make").Outputs[0], true
	}, id, "make")
	t.Logf("dataset copied to %s, output to %s", newDS, newOut)
	// Counted when copied, before the state lists the copy.
	if got := repairsCounted(t, live); got < before+2 {
		t.Fatalf("forged_replica_repairs_total over the live nodes = %v, want at least %v", got, before+2)
	}

	// Now the dataset's other original holder dies too.
	waitOutOfRaft(t, live, x.Name())
	y := byName(live, dsHolders[1])
	if err := node.Crash(y); err != nil {
		t.Fatal(err)
	}
	live = without(live, y.Name())
	nodetest.WaitForLeader(t, live)
	c := client.New(live[0].URL(), "")
	id2, err := c.Submit(ctx, []byte("name: reader\ntasks:\n  - {name: r, op: read_dataset, with: {name: orders}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, c, id2); r.Status != dag.RunSucceeded || r.Task("r").Outputs[0].Rows != bigOrders {
		t.Fatalf("reading the dataset after both original holders died: %s %q %+v", r.Status, r.Task("r").Error, r.Task("r").Outputs)
	}
	// The output is served from a holder still alive.
	for _, n := range live {
		var buf bytes.Buffer
		if _, err := client.New(n.URL(), "").Output(ctx, id, "make", "out", "csv", 0, &buf); err != nil || strings.Count(buf.String(), "\n") != bigOrders+1 {
			t.Fatalf("output from %s: %d lines, %v", n.Name(), strings.Count(buf.String(), "\n"), err)
		}
	}
}

// A registered model file (too large to be inline) loses its holder for
// good: a live node gets a copy, and once the other original holder dies
// too, a node that never loaded the model still predicts with it.
func TestRepairRestoresModelCopies(t *testing.T) {
	nodes := repairCluster(t)
	ctx := context.Background()
	x := notLeader(t, nodes)
	file, err := os.ReadFile("../model/testdata/xgboost/binary.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(x.URL(), "").RegisterModel(ctx, "xgb", "xgboost", nil, "", bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	vs, _, err := x.ModelVersions("xgb") // the node written to has applied the write
	if err != nil || len(vs) != 1 {
		t.Fatalf("model versions on %s: %+v, %v", x.Name(), vs, err)
	}
	v := vs[0]
	if v.Output.Node != x.Name() || len(v.Output.Replicas) != 1 || len(v.Output.Inline) > 0 {
		t.Fatalf("registered model file = %+v; want a file on %s and one copy", v.Output, x.Name())
	}
	orig := holdersOf(v.Output)

	if err := node.Crash(x); err != nil {
		t.Fatal(err)
	}
	live := without(nodes, x.Name())
	added := waitNewHolder(t, live, "model", orig, func(n *node.Node) (dag.OutputMeta, bool) {
		vs, _, err := n.ModelVersions("xgb")
		if err != nil || len(vs) != 1 {
			return dag.OutputMeta{}, false
		}
		return vs[0].Output, true
	}, node.ModelsRun, "xgb")
	t.Logf("model file copied to %s", added)

	waitOutOfRaft(t, live, x.Name())
	y := byName(live, orig[1])
	if err := node.Crash(y); err != nil {
		t.Fatal(err)
	}
	live = without(live, y.Name())

	raw, err := os.ReadFile("../model/testdata/xgboost/binary.expected.json")
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
	body, _ := json.Marshal(map[string]any{"instances": ref.Rows})
	// Every survivor predicts: one holds the copy, the other fetches it
	// from there (neither had loaded the model).
	for _, n := range live {
		p, err := client.New(n.URL(), "").Predict(ctx, "xgb", body, false)
		if err != nil {
			t.Fatalf("predict on %s after both original holders died: %v", n.Name(), err)
		}
		if len(p.Predictions) != len(ref.Predictions) {
			t.Fatalf("predict on %s: %d predictions, want %d", n.Name(), len(p.Predictions), len(ref.Predictions))
		}
		for i := range ref.Predictions {
			got, want := flatten(p.Predictions[i]), flatten(ref.Predictions[i])
			if len(got) != len(want) || len(got) == 0 || got[0]-want[0] > 1e-6 || want[0]-got[0] > 1e-6 {
				t.Fatalf("predict on %s, row %d: %v, xgboost says %v", n.Name(), i, got, want)
			}
		}
	}
}

// A node takes copies of a succeeded task's file output (repairs), of
// datasets and of model files, and still refuses copies of outputs of
// tasks that did not succeed or that it does not know.
func TestAcceptPutTakesRepairCopies(t *testing.T) {
	n := nodetest.Open(t, nodetest.Config(t))
	writeOrders(t, n)
	c := client.New(n.URL(), "")
	spec := "name: puts\ntasks:\n  - {name: make, op: read_csv, with: {path: big_orders.csv}}\n  - {name: bad, op: read_csv, with: {path: nope.csv}}\n"
	id, err := c.Submit(context.Background(), []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := waitRun(t, c, id); r.Task("make").Status != dag.TaskSucceeded || r.Task("bad").Status != dag.TaskFailed {
		t.Fatalf("make %s, bad %s", r.Task("make").Status, r.Task("bad").Status)
	}
	waitReplica(t, n, id)
	for _, ok := range [][3]string{{id, "make", "out"}, {node.DatasetsRun, "orders", "u1"}, {node.ModelsRun, "churn", "m1"}} {
		if err := node.AcceptPut(n, ok[0], ok[1], ok[2]); err != nil {
			t.Errorf("put of %v refused: %v", ok, err)
		}
	}
	for _, refused := range [][3]string{{id, "make", "other"}, {id, "bad", "out"}, {"nope", "make", "out"}} {
		if err := node.AcceptPut(n, refused[0], refused[1], refused[2]); err == nil {
			t.Errorf("put of %v taken", refused)
		}
	}
}
