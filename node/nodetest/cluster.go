package nodetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/forged-dev/forged/node"
)

// FreeGossipAddr returns a 127.0.0.1 address whose port is free for both
// TCP and UDP, as memberlist needs, so a node's gossip address is known
// before it starts.
func FreeGossipAddr(t testing.TB) string {
	t.Helper()
	addr, err := node.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// ClusterConfigs returns configs for n nodes named n1..nN that bootstrap
// one cluster together: every node is a server expecting n voters and
// joins n1.
func ClusterConfigs(t testing.TB, n int) []node.Config {
	t.Helper()
	first := FreeGossipAddr(t)
	cfgs := make([]node.Config, n)
	for i := range cfgs {
		cfg := Config(t)
		cfg.Name = fmt.Sprintf("n%d", i+1)
		cfg.Logger = cfg.Logger.With("node", cfg.Name)
		cfg.BootstrapExpect = n
		cfg.DeadServerGrace = 2 * time.Second
		if i == 0 {
			cfg.GossipAddr = first
		} else {
			cfg.Join = []string{first}
		}
		cfgs[i] = cfg
	}
	return cfgs
}

// MakeCluster starts n real nodes on 127.0.0.1 (Raft, gossip and HTTP on
// free ports, data in temp dirs), waits until they agree on a leader and
// closes them when the test ends.
func MakeCluster(t testing.TB, n int) []*node.Node {
	t.Helper()
	return OpenAll(t, ClusterConfigs(t, n))
}

// OpenAll starts nodes concurrently (a node's Open waits for the cluster to
// form) and closes them when the test ends.
func OpenAll(t testing.TB, cfgs []node.Config) []*node.Node {
	t.Helper()
	nodes := make([]*node.Node, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			nodes[i], errs[i] = node.Open(ctx, cfg)
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		if n != nil {
			t.Cleanup(func() { n.Close() })
		}
		if errs[i] != nil {
			t.Fatalf("open %s: %v", cfgs[i].Name, errs[i])
		}
	}
	WaitForLeader(t, nodes)
	return nodes
}

// WaitForLeader waits until every node names the same leader and returns
// it.
func WaitForLeader(t testing.TB, nodes []*node.Node) *node.Node {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var leader string
		agree := true
		for _, n := range nodes {
			h := n.Health()
			if h.Leader == "" || (leader != "" && h.Leader != leader) {
				agree = false
				break
			}
			leader = h.Leader
		}
		if agree {
			for _, n := range nodes {
				if n.Name() == leader {
					return n
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the nodes did not agree on a leader within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
