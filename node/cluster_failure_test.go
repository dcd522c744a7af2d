package node_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// quickGossip detects a silent node faster than the LAN defaults while
// leaving loopback under the race detector enough slack not to suspect a
// healthy one.
func quickGossip() node.GossipTiming {
	return node.GossipTiming{
		ProbeInterval:  200 * time.Millisecond,
		ProbeTimeout:   150 * time.Millisecond,
		GossipInterval: 50 * time.Millisecond,
		SuspicionMult:  3,
	}
}

// memberView is one member as some node reports it: gossip status and
// Raft role ("none" when outside the Raft configuration).
type memberView struct {
	Status string
	Role   string
}

// viewsOf returns every member n knows, by name.
func viewsOf(n *node.Node) map[string]memberView {
	out := map[string]memberView{}
	for _, m := range n.Cluster().Members {
		out[m.Name] = memberView{Status: m.Status, Role: m.Role}
	}
	return out
}

// inRaft tells whether a role means the member is in the Raft
// configuration.
func inRaft(role string) bool { return role != "" && role != "none" }

// A voter that crashes (no gossip leave, no Raft hand-over) is reported
// dead, not left; it keeps its place in the Raft configuration while the
// grace period runs and loses it afterwards, on every replica.
func TestDeadServerRemovedAfterGrace(t *testing.T) {
	const grace = 2 * time.Second
	nodes := nodetest.OpenCluster(t, 3, func(c *node.Config) {
		c.GossipTiming = quickGossip()
		c.DeadServerGrace = grace
	})
	// A fourth node joins as a non-voting worker: it checks that the
	// removal reaches a replica that does not vote on it.
	wcfg := nodetest.Config(t)
	wcfg.Name = "w4"
	wcfg.Logger = wcfg.Logger.With("node", wcfg.Name)
	wcfg.BootstrapExpect = 0
	wcfg.Join = []string{nodes[0].GossipAddr()}
	wcfg.GossipTiming = quickGossip()
	wcfg.DeadServerGrace = grace
	nodes = append(nodes, nodetest.Open(t, wcfg))

	leader := nodetest.WaitForLeader(t, nodes)
	var victim *node.Node
	var survivors []*node.Node
	for _, n := range nodes {
		switch {
		case victim == nil && n != leader && n.Name() != "w4":
			victim = n
		default:
			survivors = append(survivors, n)
		}
	}
	waitUntil(t, 20*time.Second, "three voters and a non-voter, all alive", func() bool {
		v := viewsOf(leader)
		voters := 0
		for _, n := range nodes {
			m := v[n.Name()]
			if m.Status != "alive" {
				return false
			}
			if m.Role == "leader" || m.Role == "voter" {
				voters++
			}
		}
		return voters == 3 && v["w4"].Role == "nonvoter"
	})

	// roundStart is the start of the last poll round in which no survivor
	// had yet found the victim dead. Each survivor's gossip dates the death
	// after that instant, and the leader removes a dead server only once
	// the grace has passed since its own gossip dated the death; so a
	// removal seen before roundStart+grace is early, whatever the timing
	// of gossip, Raft or this goroutine.
	roundStart := time.Now()
	if err := node.Crash(victim); err != nil {
		t.Fatalf("crash %s: %v", victim.Name(), err)
	}
	var (
		seenDeadInRaft bool // dead in gossip, still in the configuration
		removedAt      time.Time
		deadline       = time.Now().Add(20 * time.Second)
	)
	for removedAt.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("%s was not removed from the Raft configuration within 20s of its crash (grace %s); %s sees %+v",
				victim.Name(), grace, leader.Name(), viewsOf(leader))
		}
		start := time.Now()
		anyDead := false
		for _, n := range survivors {
			if m := viewsOf(n)[victim.Name()]; m.Status == "dead" || m.Status == "left" {
				anyDead = true
			}
		}
		if !anyDead {
			roundStart = start
		}
		// Ask whichever survivor leads now (the removal is its decision).
		var v map[string]memberView
		var current *node.Node
		for _, n := range survivors {
			if nv := viewsOf(n); nv[n.Name()].Role == "leader" {
				v, current = nv, n
				break
			}
		}
		seen := time.Now()
		m := v[victim.Name()]
		if m.Status == "left" {
			t.Fatalf("%s took the crash of %s for a graceful leave", current.Name(), victim.Name())
		}
		// The leader's and the other survivors' roles vouch that the
		// configuration was read: a failed read shows every role as none.
		configRead := current != nil
		for _, n := range survivors {
			if configRead && n != current {
				configRead = inRaft(v[n.Name()].Role)
			}
		}
		switch {
		case !configRead:
		case inRaft(m.Role):
			if m.Status == "dead" {
				seenDeadInRaft = true
			}
		default:
			removedAt = seen
			if early := roundStart.Add(grace); removedAt.Before(early) {
				t.Fatalf("%s left the Raft configuration %s before the grace period could have passed",
					victim.Name(), early.Sub(removedAt))
			}
			if m.Status != "dead" {
				t.Fatalf("%s left the Raft configuration while gossip shows it %q", victim.Name(), m.Status)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !seenDeadInRaft {
		t.Fatalf("never saw %s dead yet still in the Raft configuration: removed without a grace period", victim.Name())
	}
	t.Logf("%s left the Raft configuration %s after gossip could first have found it dead (grace %s)",
		victim.Name(), removedAt.Sub(roundStart).Round(10*time.Millisecond), grace)

	// Every survivor finds it dead and, from its own copy of the
	// configuration, removed; the survivors keep their places.
	waitUntil(t, 10*time.Second, "every survivor sees the removal", func() bool {
		for _, n := range survivors {
			v := viewsOf(n)
			if m := v[victim.Name()]; m.Status != "dead" || inRaft(m.Role) {
				return false
			}
			for _, s := range survivors {
				if m := v[s.Name()]; m.Status != "alive" || !inRaft(m.Role) {
					return false
				}
			}
		}
		return true
	})
	// What is left still commits writes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := leader.SubmitSpec(ctx, []byte("name: after\ntasks:\n  - {name: a, op: noop}\n"), nil); err != nil {
		t.Fatalf("submit after the removal: %v", err)
	}
}

// Two nodes sharing a gossip key form a cluster. Nodes with another key or
// none cannot join it: the keyed nodes never list them, a stranger that
// runs a cluster of its own lists only itself, and a stranger that needs
// the cluster to start fails to open. A node with the right key joins, so
// the key is what keeps the others out.
func TestGossipKeyKeepsStrangersOut(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 32)
	keyed := nodetest.OpenCluster(t, 2, func(c *node.Config) {
		c.GossipKey = key
		c.GossipTiming = quickGossip()
	})
	joinAt := []string{keyed[0].GossipAddr()}
	waitUntil(t, 10*time.Second, "the keyed nodes see each other alive", func() bool {
		return viewsOf(keyed[0])["n2"].Status == "alive" && viewsOf(keyed[1])["n1"].Status == "alive"
	})

	stranger := func(name string, key []byte, expect int) node.Config {
		cfg := nodetest.Config(t)
		cfg.Name = name
		cfg.Logger = cfg.Logger.With("node", name)
		cfg.GossipKey = key
		cfg.GossipTiming = quickGossip()
		cfg.Join = joinAt
		cfg.BootstrapExpect = expect
		cfg.LeaderTimeout = 3 * time.Second
		return cfg
	}

	// A server with a 16-byte key of its own: it bootstraps a one-node
	// cluster, so it keeps running (and retrying the join) and can be
	// asked what it sees.
	alone := nodetest.Open(t, stranger("otherkey", bytes.Repeat([]byte{0x33}, 16), 1))

	// A worker without a key can only start inside the keyed cluster.
	keyless := stranger("nokey", nil, 0)
	opened := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		n, err := node.Open(ctx, keyless)
		if err == nil {
			n.Close()
		}
		opened <- err
	}()

	// Both sides for a few seconds: the join loops retry meanwhile.
	watchUntil := time.Now().Add(4 * time.Second)
	for time.Now().Before(watchUntil) {
		for _, n := range keyed {
			v := viewsOf(n)
			for _, name := range []string{"otherkey", "nokey"} {
				if m, ok := v[name]; ok {
					t.Fatalf("%s lists %s (%s), which has a different gossip key", n.Name(), name, m.Status)
				}
			}
			if len(v) != 2 {
				t.Fatalf("%s lists %v, want only n1 and n2", n.Name(), v)
			}
		}
		if v := viewsOf(alone); len(v) != 1 || v["otherkey"].Status != "alive" {
			t.Fatalf("the stranger with another key lists %v, want only itself", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-opened:
		if err == nil {
			t.Fatal("a node without the gossip key opened inside the keyed cluster")
		}
		if !strings.Contains(err.Error(), "leader") {
			t.Logf("the keyless node failed to open, though not for want of a leader: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("opening the keyless node neither failed nor succeeded within 20s")
	}

	// The control: the same join with the right key succeeds.
	good := stranger("w3", key, 0)
	good.LeaderTimeout = 20 * time.Second
	nodetest.Open(t, good)
	waitUntil(t, 10*time.Second, "the node with the right key joins", func() bool {
		for _, n := range keyed {
			if viewsOf(n)["w3"].Status != "alive" {
				return false
			}
		}
		return true
	})
	for _, n := range keyed {
		for _, name := range []string{"otherkey", "nokey"} {
			if _, ok := viewsOf(n)[name]; ok {
				t.Fatalf("%s lists %s after the keyed join", n.Name(), name)
			}
		}
	}
}

// OpenAll starts over on another port when the first node's gossip port,
// picked in advance, is taken before the node binds it.
func TestOpenAllSurvivesATakenGossipPort(t *testing.T) {
	cfgs := nodetest.ClusterConfigs(t, 2)
	squatter, err := net.Listen("tcp", cfgs[0].GossipAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	nodes := nodetest.OpenAll(t, cfgs)
	if nodes[0].GossipAddr() == squatter.Addr().String() {
		t.Fatal("the node claims the squatted port")
	}
	nodetest.WaitForLeader(t, nodes)
}
