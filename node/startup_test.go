package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// A node told to wait for a leader as long as it takes (as agents are,
// so that a node back before most of its cluster does not give up) keeps
// waiting with no leader in sight, and starts once the rest arrives.
func TestNodeWaitsForTheRestOfItsClusterAtStart(t *testing.T) {
	cfgs := nodetest.ClusterConfigs(t, 2)
	cfgs[0].LeaderTimeout = -1
	type opened struct {
		n   *node.Node
		err error
	}
	first := make(chan opened, 1)
	go func() {
		n, err := node.Open(context.Background(), cfgs[0])
		first <- opened{n, err}
	}()
	select {
	case o := <-first:
		if o.n != nil {
			o.n.Close()
		}
		t.Fatalf("a node of a two-voter cluster started alone: %v", o.err)
	case <-time.After(3 * time.Second):
	}
	second := nodetest.Open(t, cfgs[1])
	select {
	case o := <-first:
		if o.err != nil {
			t.Fatalf("the waiting node failed once its peer came: %v", o.err)
		}
		t.Cleanup(func() { o.n.Close() })
		nodetest.WaitForLeader(t, []*node.Node{o.n, second})
	case <-time.After(60 * time.Second):
		t.Fatal("the waiting node did not start within 60s of its peer")
	}
}
