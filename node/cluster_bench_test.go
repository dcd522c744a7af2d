package node_test

import (
	"context"

	"strings"
	"testing"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node/nodetest"
)

// BenchmarkClusterThroughput runs on three in-process nodes (real Raft,
// gossip and HTTP on 127.0.0.1): 2000 independent noop tasks, reported as
// tasks/s, and a chain of 300 noop tasks, reported as ms per hop (one
// task's end to the next one's end: report, commit, assign, run).
func BenchmarkClusterThroughput(b *testing.B) {
	nodes := nodetest.MakeCluster(b, 3)
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
	b.Run("independent=200", func(b *testing.B) {
		runAll(b, []byte(chainSpec(200, 1)))
		b.ReportMetric(float64(200*b.N)/b.Elapsed().Seconds(), "tasks/s")
	})
	b.Run("chain=30", func(b *testing.B) {
		runAll(b, []byte(strings.Replace(chainSpec(1, 30), "name: bench", "name: chain", 1)))
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(30*b.N), "ms/hop")
	})
}
