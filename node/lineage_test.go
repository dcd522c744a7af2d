package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// An output whose only holder crashed is recomputed when a later task
// needs it: its producer runs again on a live node, then the consumer.
// With replicas: 2 a copy on another node serves it and nothing reruns.
func TestLostOutputIsRecomputed(t *testing.T) {
	t.Run("one copy", func(t *testing.T) { lostHolder(t, 1) })
	t.Run("replicas=2", func(t *testing.T) { lostHolder(t, 2) })
}

func lostHolder(t *testing.T, replicas int) {
	cfgs := nodetest.ClusterConfigs(t, 3)
	cfgs[1].Labels = map[string]string{"role": "producer"}
	cfgs[2].Labels = map[string]string{"role": "producer"}
	nodes := nodetest.OpenAll(t, cfgs)
	leader := nodetest.WaitForLeader(t, nodes)
	for _, n := range nodes {
		writeOrders(t, n)
	}
	// make runs on n2 or n3; use, on n1, waits for gate before it starts.
	spec := fmt.Sprintf(`name: lineage
tasks:
  - {name: make, op: read_csv, with: {path: big_orders.csv}, constraints: {labels: {role: producer}}, replicas: %d}
  - {name: gate, op: sleep, with: {duration: 3s}, constraints: {node: n1}}
  - {name: use, op: noop, needs: [make, gate], constraints: {node: n1}}
`, replicas)
	id, err := leader.SubmitSpec(context.Background(), []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	var holder string
	var copies []string
	waitUntil(t, 20*time.Second, "make succeeds", func() bool {
		r, err := leader.Run(id)
		if err != nil || r.Task("make").Status != dag.TaskSucceeded {
			return false
		}
		holder, copies = r.Task("make").Node, r.Task("make").Outputs[0].Replicas
		return true
	})
	if len(copies) != replicas-1 {
		t.Fatalf("make's output has copies on %v, want %d", copies, replicas-1)
	}
	var victim *node.Node
	for _, n := range nodes {
		if n.Name() == holder {
			victim = n
		}
	}
	// The holder may be the leader; then a new leader takes over too. n1,
	// which runs use, is never the one crashed.
	observer := nodes[0]
	if err := node.Crash(victim); err != nil {
		t.Fatal(err)
	}
	var run *dag.Run
	waitUntil(t, time.Minute, "the run ends", func() bool {
		run, err = observer.Run(id)
		return err == nil && run.Status.Terminal()
	})
	mk, use := run.Task("make"), run.Task("use")
	if run.Status != dag.RunSucceeded {
		t.Fatalf("run %s: use %s (%s)", run.Status, use.Status, use.Error)
	}
	if use.Outputs[0].Rows != bigOrders {
		t.Fatalf("use has %d rows, want %d", use.Outputs[0].Rows, bigOrders)
	}
	wantRuns := 2 // lost once, then run again
	if replicas > 1 {
		wantRuns = 1 // the copy served it
	}
	if mk.Attempt != wantRuns || use.Attempt != wantRuns || (wantRuns == 2 && mk.Node == holder) {
		t.Fatalf("make attempt %d on %s (crashed: %s), use attempt %d; want %d each", mk.Attempt, mk.Node, holder, use.Attempt, wantRuns)
	}
}

// A node that closes gracefully is seen as left, not dead, and the leader
// takes a departed server out of the Raft configuration at once, without
// waiting for the dead-server grace.
func TestGracefulCloseIsALeave(t *testing.T) {
	cfgs := nodetest.ClusterConfigs(t, 3)
	for i := range cfgs {
		cfgs[i].DeadServerGrace = time.Hour
	}
	nodes := nodetest.OpenAll(t, cfgs)
	leader := nodetest.WaitForLeader(t, nodes)
	var leaving *node.Node
	for _, n := range nodes {
		if n != leader {
			leaving = n
		}
	}
	if err := leaving.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "the closed node is left and out of the Raft configuration", func() bool {
		for _, m := range leader.Cluster().Members {
			if m.Name == leaving.Name() {
				if m.Status == "dead" {
					t.Fatalf("a graceful close was seen as a failure")
				}
				return m.Status == "left" && m.Role == "none"
			}
		}
		return false
	})
}
