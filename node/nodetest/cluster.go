package nodetest

import (
	"fmt"
	"os"
	"path/filepath"
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
// form) and closes them when the test ends. When the first node's gossip
// port, picked in advance by ClusterConfigs, was taken by someone else
// before it bound it, it starts over on a fresh port with emptied data
// directories.
func OpenAll(t testing.TB, cfgs []node.Config) []*node.Node {
	t.Helper()
	for attempt := 1; ; attempt++ {
		nodes, err := openEach(cfgs)
		if err == nil {
			for _, n := range nodes {
				t.Cleanup(func() { n.Close() })
			}
			WaitForLeader(t, nodes)
			return nodes
		}
		if !isPortTaken(err) || attempt == portRaceAttempts {
			t.Fatal(err)
		}
		t.Logf("starting the cluster over on another port: %v", err)
		old, fresh := cfgs[0].GossipAddr, FreeGossipAddr(t)
		for i := range cfgs {
			if cfgs[i].GossipAddr == old {
				cfgs[i].GossipAddr = fresh
			}
			for j, addr := range cfgs[i].Join {
				if addr == old {
					cfgs[i].Join[j] = fresh
				}
			}
			if err := emptyDir(cfgs[i].DataDir); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// emptyDir removes what a failed start left in a data directory.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
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
