package node_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/forged-dev/forged/api"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// memberOf returns the named member as n sees it.
func memberOf(n *node.Node, name string) (api.Member, bool) {
	for _, m := range n.Cluster().Members {
		if m.Name == name {
			return m, true
		}
	}
	return api.Member{}, false
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A server that crashes is marked dead by gossip and, once the grace
// period is over, removed from the Raft configuration by the leader.
func TestCrashedServerRemovedAfterGrace(t *testing.T) {
	cfgs := nodetest.ClusterConfigs(t, 4)
	for i := range cfgs {
		cfgs[i].DeadServerGrace = time.Second
	}
	nodes := nodetest.OpenAll(t, cfgs)
	leader := nodetest.WaitForLeader(t, nodes)
	var victim *node.Node
	for _, n := range nodes {
		if n != leader {
			victim = n
		}
	}
	waitUntil(t, 10*time.Second, "all four in the configuration", func() bool {
		m, ok := memberOf(leader, victim.Name())
		return ok && m.Role != "none"
	})
	if err := node.Crash(victim); err != nil {
		t.Fatal(err)
	}
	var diedAt time.Time
	waitUntil(t, 15*time.Second, "the crashed node is found dead", func() bool {
		m, _ := memberOf(leader, victim.Name())
		if m.Status == "dead" && diedAt.IsZero() {
			diedAt = time.Now()
		}
		return m.Status == "dead"
	})
	if m, _ := memberOf(leader, victim.Name()); m.Status == "left" {
		t.Fatal("a crash was taken for a graceful leave")
	}
	waitUntil(t, 20*time.Second, "the dead server leaves the Raft configuration", func() bool {
		m, _ := memberOf(leader, victim.Name())
		return m.Role == "none"
	})
	// The rest still commit writes.
	if _, err := leader.SubmitSpec(context.Background(), []byte("name: after\ntasks:\n  - {name: a, op: noop}\n"), nil); err != nil {
		t.Fatalf("submit after the removal: %v", err)
	}
}

// Nodes that share a gossip key form a cluster; a node with another key
// cannot join it.
func TestGossipEncryption(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	cfgs := nodetest.ClusterConfigs(t, 2)
	for i := range cfgs {
		cfgs[i].GossipKey = key
	}
	nodes := nodetest.OpenAll(t, cfgs)
	leader := nodetest.WaitForLeader(t, nodes)
	waitUntil(t, 10*time.Second, "both keyed nodes see each other", func() bool {
		a, okA := memberOf(nodes[0], "n2")
		b, okB := memberOf(nodes[1], "n1")
		return okA && okB && a.Status == "alive" && b.Status == "alive"
	})

	for _, otherKey := range [][]byte{bytes.Repeat([]byte{9}, 32), nil} {
		cfg := nodetest.Config(t)
		cfg.Name = "intruder"
		cfg.GossipKey = otherKey
		cfg.Join = cfgs[1].Join
		cfg.BootstrapExpect = 0
		cfg.LeaderTimeout = 3 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := node.Open(ctx, cfg)
		cancel()
		if err == nil {
			n.Close()
		}
		if _, seen := memberOf(leader, "intruder"); seen {
			t.Fatalf("a node with key %x joined a cluster keyed %x", otherKey, key)
		}
	}
	if _, seen := memberOf(leader, "intruder"); seen {
		t.Fatal("the intruder shows up in the member list")
	}
}

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
