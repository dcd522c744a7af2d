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
// default LAN timings, each iteration on a fresh cluster. The timer runs
// only from the crash to the recovery, so ns/op is the recovery time too
// and the default -benchtime ends after one or two iterations.
//
//   - worker: from a crash of a node running tasks to all of them running
//     again elsewhere (gossip declares it dead, the leader queues new
//     attempts, another node starts them);
//   - leader: from a crash of the leader until the next task assignment,
//     committed by the new leader, shows in the worker's replica;
//     s/election is the part until a survivor names the new leader.
func BenchmarkFailover(b *testing.B) {
	b.Run("worker", func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			total += workerFailover(b)
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/worker-failover")
	})
	b.Run("leader", func(b *testing.B) {
		var total, elections time.Duration
		for i := 0; i < b.N; i++ {
			election, assignment := leaderFailover(b)
			elections += election
			total += assignment
		}
		b.ReportMetric(elections.Seconds()/float64(b.N), "s/election")
		b.ReportMetric(total.Seconds()/float64(b.N), "s/leader-failover")
	})
}

// failoverCluster starts three fresh nodes with the default timings and
// returns them with their leader; closeAll stops them again.
func failoverCluster(b *testing.B) (nodes []*node.Node, leader *node.Node, closeAll func()) {
	b.Helper()
	cfgs := nodetest.ClusterConfigs(b, 3)
	for i := range cfgs {
		cfgs[i].Slots = 4
		cfgs[i].GossipTiming = node.DefaultGossipTiming()
		cfgs[i].RaftTiming = node.DefaultRaftTiming()
	}
	nodes = nodetest.OpenAll(b, cfgs)
	leader = nodetest.WaitForLeader(b, nodes)
	return nodes, leader, func() {
		for _, n := range nodes {
			n.Close()
		}
	}
}

// workerFailover crashes a follower that runs tasks and times until every
// one of them runs again on another node.
func workerFailover(b *testing.B) time.Duration {
	b.StopTimer()
	nodes, leader, closeAll := failoverCluster(b)
	defer closeAll()
	// Six long tasks spread over the nodes, leaving room for the lost ones.
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
	waitUntil(b, 30*time.Second, "tasks running on a follower", func() bool {
		r, err := leader.Run(id)
		if err != nil {
			return false
		}
		for _, n := range nodes {
			if n == leader {
				continue
			}
			var on []string
			for _, t := range r.Tasks {
				if t.Status == dag.TaskRunning && t.Node == n.Name() {
					on = append(on, t.Name)
				}
			}
			if len(on) > 0 {
				victim, lost = n, on
				return true
			}
		}
		return false
	})
	b.StartTimer()
	crashed := time.Now()
	if err := node.Crash(victim); err != nil {
		b.Fatal(err)
	}
	waitUntil(b, time.Minute, "the lost tasks running again", func() bool {
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
	b.StopTimer()
	return time.Since(crashed)
}

// leaderFailover crashes the leader while a follower works through a chain
// of short tasks and times until a survivor names a new leader and until
// the new leader assigns the next task.
func leaderFailover(b *testing.B) (election, assignment time.Duration) {
	b.StopTimer()
	nodes, leader, closeAll := failoverCluster(b)
	defer closeAll()
	var worker, other *node.Node
	for _, n := range nodes {
		switch {
		case n == leader:
		case worker == nil:
			worker = n
		default:
			other = n
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
	waitUntil(b, 30*time.Second, "the chain under way", func() bool {
		r, err := worker.Run(id)
		return err == nil && r.Task("c3").Status == dag.TaskSucceeded
	})
	b.StartTimer()
	crashed := time.Now()
	if err := node.Crash(leader); err != nil {
		b.Fatal(err)
	}
	// Once Crash returns the old leader's scheduler and Raft are stopped:
	// an assignment dated later was made by its successor. Its date is when
	// the worker sent the report that led to it, so the time taken is when
	// the worker's replica is first seen to hold it.
	gone := time.Now()
	var elected, assigned time.Time
	waitUntil(b, time.Minute, "an assignment by the new leader", func() bool {
		if elected.IsZero() {
			for _, n := range []*node.Node{worker, other} {
				if l := n.Health().Leader; l != "" && l != leader.Name() {
					elected = time.Now()
				}
			}
		}
		r, err := worker.Run(id)
		if err != nil {
			return false
		}
		for _, t := range r.Tasks {
			if t.QueuedAt != nil && t.QueuedAt.After(gone) {
				assigned = time.Now()
				return !elected.IsZero()
			}
		}
		return false
	})
	b.StopTimer()
	return elected.Sub(crashed), assigned.Sub(crashed)
}
