package node_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/forged-dev/forged/dataplane"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

func followerOf(t *testing.T, nodes []*node.Node) (leader, follower *node.Node) {
	t.Helper()
	leader = nodetest.WaitForLeader(t, nodes)
	for _, n := range nodes {
		if n != leader {
			return leader, n
		}
	}
	t.Fatal("no follower")
	return nil, nil
}

func TestClusterFormsAndFollowersForwardWrites(t *testing.T) {
	nodes := nodetest.MakeCluster(t, 3)
	leader, follower := followerOf(t, nodes)

	info := follower.Cluster()
	roles := map[string]string{}
	for _, m := range info.Members {
		roles[m.Name] = m.Role + "/" + m.Status
	}
	if len(info.Members) != 3 || info.Leader != leader.Name() {
		t.Fatalf("cluster seen from %s: leader %q members %v", follower.Name(), info.Leader, roles)
	}
	voters := 0
	for _, r := range roles {
		if r == "voter/alive" {
			voters++
		}
	}
	if roles[leader.Name()] != "leader/alive" || voters != 2 {
		t.Fatalf("roles = %v, want one leader and two voters, all alive", roles)
	}

	c := client.New(follower.URL(), "")
	id, err := c.Submit(context.Background(), []byte("name: hello\ntasks:\n  - {name: a, op: noop}\n  - {name: b, op: noop, needs: [a]}\n"), nil)
	if err != nil {
		t.Fatalf("submit to a follower: %v", err)
	}
	// A consistent read through another follower sees the new run.
	for _, n := range nodes {
		if n != leader && n != follower {
			if _, err := client.New(n.URL()+"/", "").RunConsistent(context.Background(), id); err != nil {
				t.Fatalf("consistent read on %s: %v", n.Name(), err)
			}
		}
	}
	// The follower answered only after applying the write: it reads it back.
	if _, err := follower.Run(id); err != nil {
		t.Fatalf("follower cannot read the run it acknowledged: %v", err)
	}
	if run := waitRun(t, c, id); run.Status != dag.RunSucceeded {
		t.Fatalf("run = %s %v", run.Status, taskStatuses(run))
	}
	// Every replica has the same run.
	for _, n := range nodes {
		waitFor(t, func() bool {
			r, err := n.Run(id)
			return err == nil && r.Status == dag.RunSucceeded
		})
	}
}

func TestTasksSpreadAcrossNodesAndInputsMoveBetweenThem(t *testing.T) {
	nodes := nodetest.MakeCluster(t, 3)
	_, follower := followerOf(t, nodes)
	c := client.New(follower.URL(), "")

	var spec strings.Builder
	spec.WriteString("name: wide\ntasks:\n")
	for i := 0; i < 24; i++ {
		fmt.Fprintf(&spec, "  - {name: t%02d, op: sleep, with: {duration: 150ms}}\n", i)
	}
	id, err := c.Submit(context.Background(), []byte(spec.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	used := map[string]int{}
	for _, task := range run.Tasks {
		used[task.Node]++
		if task.Status != dag.TaskSucceeded || task.Attempt != 1 {
			t.Fatalf("task %s: %s attempt %d", task.Name, task.Status, task.Attempt)
		}
	}
	if len(used) != 3 {
		t.Fatalf("tasks ran on %v; want all three nodes used", used)
	}

	// A producer pinned to n1 and a consumer pinned to n3: the consumer
	// pulls its input from n1.
	for _, n := range nodes {
		writeOrders(t, n)
	}
	id, err = c.Submit(context.Background(), []byte(pinnedSpec), nil)
	if err != nil {
		t.Fatal(err)
	}
	run = waitRun(t, c, id)
	if run.Status != dag.RunSucceeded || run.Task("make").Node != "n1" || run.Task("use").Node != "n3" {
		t.Fatalf("pinned run %s: make on %s, use on %s (%s)", run.Status, run.Task("make").Node, run.Task("use").Node, run.Task("use").Error)
	}
	if o := run.Task("use").Outputs[0]; o.Rows != bigOrdersOver20 || o.Bytes <= dataplane.DefaultInlineMax {
		t.Fatalf("use has %d rows in %d bytes, want %d rows in a file (not inline)", o.Rows, o.Bytes, bigOrdersOver20)
	}
	// A node that holds nothing serves an output another node holds, over
	// the API and over Flight, pulling a copy from the holder.
	waitReplica(t, nodes[1], id)
	var viaAPI bytes.Buffer
	if _, err := client.New(nodes[1].URL(), "").Output(context.Background(), id, "make", "out", "csv", 0, &viaAPI); err != nil ||
		strings.Count(viaAPI.String(), "\n") != bigOrders+1 {
		t.Fatalf("n1's output through n2's API = %q, %v", viaAPI.String(), err)
	}
	if rows := doGetRows(t, nodes[1].FlightAddr(), id+"/use/out"); rows != bigOrdersOver20 {
		t.Fatalf("DoGet of n3's output from n2 gave %d rows, want %d", rows, bigOrdersOver20)
	}

	// Any node serves the output that n3 holds, once it has a copy; reads
	// are from the local replica, so first wait for n3 to apply the end.
	waitReplica(t, nodes[2], id)
	var buf bytes.Buffer
	if _, err := client.New(nodes[2].URL(), "").Output(context.Background(), id, "use", "out", "csv", 0, &buf); err != nil || strings.Count(buf.String(), "\n") != bigOrdersOver20+1 {
		t.Fatalf("output from its holder = %q, %v", buf.String(), err)
	}
}

// bigOrders rows of big_orders.csv, bigOrdersOver20 of them with an
// amount over 20: large enough that outputs made from it are files, not
// inline.
const (
	bigOrders       = 600
	bigOrdersOver20 = 348
)

func bigOrdersCSV() string {
	var sb strings.Builder
	sb.WriteString("order_id,customer,amount,status\n")
	for i := 0; i < bigOrders; i++ {
		fmt.Fprintf(&sb, "%d,customer-%d,%d,paid\n", i, i%17, i%50)
	}
	return sb.String()
}

func writeOrders(t *testing.T, n *node.Node) {
	t.Helper()
	root := n.DataRoots()[0]
	if err := writeFile(root+"/big_orders.csv", bigOrdersCSV()); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(root+"/orders.csv", ordersCSV); err != nil {
		t.Fatal(err)
	}
}

func TestLateNodeJoinsAsNonvoterAndTakesWork(t *testing.T) {
	cfgs := nodetest.ClusterConfigs(t, 3)
	nodes := nodetest.OpenAll(t, cfgs)
	worker := nodetest.Config(t)
	worker.Name = "w4"
	worker.BootstrapExpect = 0
	worker.Join = []string{nodes[0].GossipAddr()}
	worker.Labels = map[string]string{"disk": "ssd"}
	w := nodetest.Open(t, worker)

	waitFor(t, func() bool {
		for _, m := range nodes[0].Cluster().Members {
			if m.Name == "w4" && m.Role == "nonvoter" && m.Status == "alive" {
				return true
			}
		}
		return false
	})
	c := client.New(w.URL(), "")
	id, err := c.Submit(context.Background(), []byte("name: ssd\ntasks:\n  - {name: a, op: noop, constraints: {labels: {disk: ssd}}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if run := waitRun(t, c, id); run.Status != dag.RunSucceeded || run.Task("a").Node != "w4" {
		t.Fatalf("run %s on %s", run.Status, run.Task("a").Node)
	}
}

func TestTasksOfANodeThatLeavesAreReassigned(t *testing.T) {
	nodes := nodetest.MakeCluster(t, 3)
	leader, _ := followerOf(t, nodes)
	var victim *node.Node
	for _, n := range nodes {
		if n != leader {
			victim = n
		}
	}
	c := client.New(leader.URL(), "")
	// Fill the victim: many naps spread over all nodes, some on the victim.
	var sb strings.Builder
	sb.WriteString("name: moving\ntasks:\n")
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&sb, "  - {name: nap%02d, op: sleep, with: {duration: 1500ms}}\n", i)
	}
	id, err := c.Submit(context.Background(), []byte(sb.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		r, _ := leader.Run(id)
		for _, task := range r.Tasks {
			if task.Node == victim.Name() && task.Status == dag.TaskRunning {
				return true
			}
		}
		return false
	})
	start := time.Now()
	victim.Close()
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded {
		t.Fatalf("run after %s left: %s %v", victim.Name(), run.Status, taskStatuses(run))
	}
	moved := 0
	for _, task := range run.Tasks {
		if task.Node == victim.Name() {
			t.Fatalf("task %s still finished on %s, which left", task.Name, victim.Name())
		}
		if task.Attempt > 1 {
			moved++
			if !strings.Contains(task.Attempts[0].Error, victim.Name()) {
				t.Fatalf("first attempt of %s: %q", task.Name, task.Attempts[0].Error)
			}
		}
	}
	if moved == 0 {
		t.Fatal("no task moved off the node that left")
	}
	t.Logf("%d tasks moved off %s; run done %s after it left", moved, victim.Name(), time.Since(start).Round(time.Millisecond))
}

// waitReplica waits until n's own replica shows the run finished.
func waitReplica(t *testing.T, n *node.Node, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err := n.Run(id); err == nil && r.Status.Terminal() && !r.HasActiveTask() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not apply the end of run %s", n.Name(), id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A small output travels inline in the state: its consumer on another node
// reads it without a fetch, and any node serves it, with no file anywhere.
func TestSmallOutputsTravelInline(t *testing.T) {
	nodes := nodetest.MakeCluster(t, 3)
	nodetest.WaitForLeader(t, nodes)
	for _, n := range nodes {
		writeOrders(t, n)
	}
	spec := `name: inline
tasks:
  - {name: load, op: read_csv, with: {path: orders.csv}, constraints: {node: n1}}
  - {name: few, op: filter, needs: [load], with: {expr: "amount > 20"}, constraints: {node: n1}}
  - {name: stats, op: describe, needs: [few], constraints: {node: n3}}
`
	c := client.New(nodes[1].URL(), "")
	id, err := c.Submit(context.Background(), []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := waitRun(t, c, id)
	if run.Status != dag.RunSucceeded {
		t.Fatalf("run %s: %s", run.Status, run.Task("stats").Error)
	}
	if o := run.Task("few").Outputs[0]; o.Rows != 3 || len(o.Inline) != 0 {
		t.Fatalf("few over the API: %d rows, %d inline bytes; want 3 rows and the bytes left out", o.Rows, len(o.Inline))
	}
	for _, n := range nodes {
		waitReplica(t, n, id)
		r, err := n.Run(id)
		if err != nil {
			t.Fatal(err)
		}
		if o := r.Task("few").Outputs[0]; len(o.Inline) == 0 {
			t.Fatalf("node %s: the 3-row output is not inline (%d bytes)", n.Name(), o.Bytes)
		}
		if matches, _ := filepath.Glob(filepath.Join(n.DataDir(), "outputs", id, "few=*")); len(matches) != 0 {
			t.Fatalf("node %s holds files for an inline output: %v", n.Name(), matches)
		}
	}
	waitReplica(t, nodes[1], id)
	var buf bytes.Buffer
	if _, err := c.Output(context.Background(), id, "few", "out", "csv", 0, &buf); err != nil || strings.Count(buf.String(), "\n") != 4 {
		t.Fatalf("inline output from a node that never ran it = %q, %v", buf.String(), err)
	}
}

// doGetRows reads a whole output over Flight, as a pyarrow client would,
// and counts its rows.
func doGetRows(t *testing.T, addr, ticket string) int64 {
	t.Helper()
	c, err := dataplane.DialFlight(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stream, err := c.DoGet(context.Background(), &flight.Ticket{Ticket: []byte(ticket)})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := flight.NewRecordReader(stream)
	if err != nil {
		t.Fatalf("DoGet %s from %s: %v", ticket, addr, err)
	}
	defer rr.Release()
	var rows int64
	for rr.Next() {
		rows += rr.RecordBatch().NumRows()
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// pinnedSpec pins a producer to n1 and its consumer to n3, so that the
// consumer's input crosses the data plane.
const pinnedSpec = `name: pinned
tasks:
  - name: make
    op: read_csv
    with: {path: big_orders.csv}
    constraints: {node: n1}
  - name: use
    op: filter
    needs: [make]
    with: {expr: "amount > 20"}
    constraints: {node: n3}
`
