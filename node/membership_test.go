package node_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/forged-dev/forged/api"
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
