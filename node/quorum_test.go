package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// With two of three voters crashed, a write to the survivor is refused
// with an error that still maps to 503 (it wraps ErrNotLeader) and says in
// words that the quorum is lost and how many voters must come back.
func TestWriteWithoutQuorumSaysSo(t *testing.T) {
	nodes := nodetest.OpenCluster(t, 3, func(c *node.Config) { c.GossipTiming = quickGossip() })
	nodetest.WaitForLeader(t, nodes)
	survivor := nodes[0]
	for _, n := range nodes[1:] {
		if err := node.Crash(n); err != nil {
			t.Fatalf("crash %s: %v", n.Name(), err)
		}
	}
	spec := []byte("name: q\ntasks:\n  - {name: a, op: noop}\n")
	// Gossip needs a moment to find both dead; until then the message
	// may only say that no leader was found. Every try is bounded by its
	// context, the loop by its deadline. Once gossip knows, a write is
	// refused at once, well before the forwarding timeout, even though
	// the caller would wait longer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if node.QuorumLost(survivor) {
			cancel()
			ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		}
		began := time.Now()
		_, err := survivor.SubmitSpec(ctx, spec, nil)
		took := time.Since(began)
		cancel()
		if err == nil {
			t.Fatal("a write was accepted by one voter of three")
		}
		if !errors.Is(err, consensus.ErrNotLeader) {
			t.Fatalf("error does not wrap ErrNotLeader (so no 503): %v", err)
		}
		msg := err.Error()
		if strings.Contains(msg, "lost its quorum (1 of 3 voters alive, 2 needed)") {
			if !strings.Contains(msg, "reads are still served") {
				t.Fatalf("message: %s", msg)
			}
			if node.QuorumLost(survivor) && took >= node.ForwardTimeout {
				t.Fatalf("the refusal waited %s, the whole forwarding timeout", took)
			}
			return
		}
		if !strings.HasPrefix(msg, "no leader: ") || time.Now().After(deadline) {
			t.Fatalf("no quorum explanation within 30s: %s", msg)
		}
	}
}
