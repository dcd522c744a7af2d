package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node/nodetest"
)

// benchSlots is each benchmark node's task slots. noop tasks use no CPU,
// so the benchmark measures scheduling, not the worker's concurrency cap.
const benchSlots = 128

// BenchmarkClusterThroughput runs on three in-process nodes (real Raft,
// gossip and HTTP on 127.0.0.1): 2000 independent noop tasks, reported as
// tasks/s, and a chain of 300 noop tasks, reported as ms per hop (one
// task's end to the next one's end: report, commit, assign, run).
func BenchmarkClusterThroughput(b *testing.B) {
	cfgs := nodetest.ClusterConfigs(b, 3)
	for i := range cfgs {
		cfgs[i].Slots = benchSlots
	}
	nodes := nodetest.OpenAll(b, cfgs)
	leader := nodetest.WaitForLeader(b, nodes)
	ctx := context.Background()

	runAll := func(b *testing.B, spec []byte) {
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			id, err := leader.SubmitSpec(ctx, spec, nil)
			if err != nil {
				b.Fatal(err)
			}
			if r := waitLocal(b, leader, id); r.Status != dag.RunSucceeded {
				b.Fatalf("run %s", r.Status)
			}
		}
	}
	const width, depth = 2000, 300
	b.Run("independent=2000", func(b *testing.B) {
		runAll(b, []byte(chainSpec(width, 1)))
		b.ReportMetric(float64(width*b.N)/b.Elapsed().Seconds(), "tasks/s")
	})
	b.Run("chain=300", func(b *testing.B) {
		runAll(b, []byte(strings.Replace(chainSpec(1, depth), "name: bench", "name: chain", 1)))
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(depth*b.N), "ms/hop")
	})
}
