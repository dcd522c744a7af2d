package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
	"github.com/forged-dev/forged/node/nodetest"
)

// BenchmarkFailover measures recovery on three in-process nodes with the
// default LAN timings, each iteration on a fresh cluster:
//
//   - worker: from a crash of a node running tasks to all of them running
//     again elsewhere (gossip declares it dead, the leader queues new
//     attempts, another node starts them);
//   - leader: from a crash of the leader to the next task assignment the
//     new leader commits.
func BenchmarkFailover(b *testing.B) {
	b.Run("worker", func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			total += workerFailover(b)
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/recovery")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("leader", func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			total += leaderFailover(b)
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/recovery")
		b.ReportMetric(0, "ns/op")
	})
}

// workerFailover crashes a follower that runs tasks and times until every
// one of them runs again on another node.
func workerFailover(b *testing.B) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	cfgs := nodetest.ClusterConfigs(b, 3)
	for i := range cfgs {
		cfgs[i].Slots = 4
	}
	nodes := nodetest.OpenAll(b, cfgs)
	leader := nodetest.WaitForLeader(b, nodes)
	// Six long tasks spread two to a node, leaving room for the lost ones.
	var sb strings.Builder
	sb.WriteString("name: hold\ntasks:\n")
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&sb, "  - {name: s%d, op: sleep, with: {duration: 1m}}\n", i)
	}
	id, err := leader.SubmitSpec(context.Background(), []byte(sb.String()), nil)
	if err != nil {
		b.Fatal(err)
	}
	var victim *node.Node
	var lost []string
	waitBench(b, 30*time.Second, "tasks running on a follower", func() bool {
		r, err := leader.Run(id)
		if err != nil {
			return false
		}
		for _, n := range nodes {
			var on []string
			for _, t := range r.Tasks {
				if t.Status == dag.TaskRunning && t.Node == n.Name() {
					on = append(on, t.Name)
				}
			}
			if n != leader && len(on) > 0 {
				victim, lost = n, on
				return true
			}
		}
		return false
	})
	killed := time.Now()
	if err := node.Crash(victim); err != nil {
		b.Fatal(err)
	}
	waitBench(b, time.Minute, "the lost tasks running again", func() bool {
		r, err := leader.Run(id)
		if err != nil {
			return false
		}
		for _, name := range lost {
			t := r.Task(name)
			if t.Attempt < 2 || t.Node == victim.Name() || t.Status != dag.TaskRunning {
				return false
			}
		}
		return true
	})
	return time.Since(killed)
}

// leaderFailover crashes the leader while a follower works through a chain
// of short tasks and times until the new leader assigns the next one.
func leaderFailover(b *testing.B) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	cfgs := nodetest.ClusterConfigs(b, 3)
	nodes := nodetest.OpenAll(b, cfgs)
	leader := nodetest.WaitForLeader(b, nodes)
	var worker *node.Node
	for _, n := range nodes {
		if n != leader {
			worker = n
		}
	}
	var sb strings.Builder
	sb.WriteString("name: steady\ntasks:\n")
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&sb, "  - {name: c%d, op: sleep, with: {duration: 50ms}, constraints: {node: %s}", i, worker.Name())
		if i > 0 {
			fmt.Fprintf(&sb, ", needs: [c%d]", i-1)
		}
		sb.WriteString("}\n")
	}
	id, err := leader.SubmitSpec(context.Background(), []byte(sb.String()), nil)
	if err != nil {
		b.Fatal(err)
	}
	waitBench(b, 30*time.Second, "the chain under way", func() bool {
		r, err := worker.Run(id)
		return err == nil && r.Task("c3").Status == dag.TaskSucceeded
	})
	killed := time.Now()
	if err := node.Crash(leader); err != nil {
		b.Fatal(err)
	}
	var assigned time.Time
	waitBench(b, time.Minute, "an assignment by the new leader", func() bool {
		r, err := worker.Run(id)
		if err != nil {
			return false
		}
		for _, t := range r.Tasks {
			if t.QueuedAt != nil && t.QueuedAt.After(killed) {
				assigned = *t.QueuedAt
				return true
			}
		}
		return false
	})
	return assigned.Sub(killed)
}

// waitBench polls cond until it holds or the deadline passes.
func waitBench(b *testing.B, within time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
