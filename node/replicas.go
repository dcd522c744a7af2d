package node

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// replicate copies a succeeded attempt's file outputs to replicas-1 other
// live nodes with Flight DoPut, before the attempt is reported, and
// records on each output the nodes that now hold a copy. Copies are best
// effort: a node that refuses or fails is skipped, and the task still
// succeeds with the copies it got (the log says which are missing).
func (n *Node) replicate(ctx context.Context, runID string, task *dag.Task, outputs []dag.OutputMeta, logw *taskLog) {
	want := task.Replicas - 1
	if want <= 0 {
		return
	}
	for i := range outputs {
		if len(outputs[i].Inline) > 0 {
			continue // in the state: on every node already
		}
		ref := dataplane.OutputRef{Run: runID, Task: task.Name, Output: outputs[i].Name}
		outputs[i].Replicas = n.copyToPeers(ctx, ref, runID+"/"+task.Name, want, func(node string, err error) {
			logw.Printf("copy of output %s to node %s failed: %v", outputs[i].Name, node, err)
		})
		if got := len(outputs[i].Replicas); got < want {
			logw.Printf("output %s has %d of the %d copies asked for", outputs[i].Name, got, want)
		}
	}
}

// copyToPeers copies a stored output to up to want other live nodes
// (chosen by key, see replicaTargets) with Flight DoPut and returns the
// nodes that have it; failed copies go to failed.
func (n *Node) copyToPeers(ctx context.Context, ref dataplane.OutputRef, key string, want int, failed func(node string, err error)) []string {
	var got []string
	for _, t := range n.replicaTargets(key, want) {
		if err := n.data.PutFlight(ctx, t.flight, ref); err != nil {
			failed(t.name, err)
			continue
		}
		got = append(got, t.name)
	}
	return got
}

type replicaTarget struct{ name, flight string }

// replicaTargets picks up to want live nodes other than this one, spread
// by key so that different tasks copy to different nodes.
func (n *Node) replicaTargets(key string, want int) []replicaTarget {
	var all []replicaTarget
	for _, m := range n.gossip.list() {
		if m.Name != n.cfg.Name && m.Status == statusAlive && m.Meta.Flight != "" {
			all = append(all, replicaTarget{name: m.Name, flight: m.Meta.Flight})
		}
	}
	if len(all) == 0 {
		return nil
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	h := fnv.New32a()
	fmt.Fprint(h, key)
	start := int(h.Sum32() % uint32(len(all)))
	out := make([]replicaTarget, 0, min(want, len(all)))
	for i := 0; i < len(all) && len(out) < want; i++ {
		out = append(out, all[(start+i)%len(all)])
	}
	return out
}
