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

// waitLocal polls an in-process node until the run ends.
func waitLocal(b testing.TB, n *node.Node, id string) *dag.Run {
	changes, unsubscribe := n.Subscribe()
	defer unsubscribe()
	deadline := time.After(time.Minute)
	for {
		h, err := n.RunHeader(id)
		if err != nil {
			b.Fatal(err)
		}
		if h.Status.Terminal() {
			r, err := n.Run(id)
			if err != nil {
				b.Fatal(err)
			}
			return r
		}
		select {
		case <-changes:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			b.Fatalf("run %s did not end within a minute", id)
		}
	}
}

// chainSpec is a pipeline of width parallel chains of depth noop tasks.
func chainSpec(width, depth int) string {
	var sb strings.Builder
	sb.WriteString("name: bench\ntasks:\n")
	for w := 0; w < width; w++ {
		for d := 0; d < depth; d++ {
			fmt.Fprintf(&sb, "  - {name: t%d_%d, op: noop", w, d)
			if d > 0 {
				fmt.Fprintf(&sb, ", needs: [t%d_%d]", w, d-1)
			}
			sb.WriteString("}\n")
		}
	}
	return sb.String()
}

// BenchmarkRunNoopPipeline measures one node's end-to-end overhead per
// run and per task: submit (one Raft commit), schedule, execute, report.
func BenchmarkRunNoopPipeline(b *testing.B) {
	for _, shape := range []struct{ width, depth int }{{1, 1}, {1, 10}, {10, 1}, {10, 10}} {
		b.Run(fmt.Sprintf("width=%d/depth=%d", shape.width, shape.depth), func(b *testing.B) {
			cfg := nodetest.Config(b)
			cfg.HTTPAddr = ""
			n := nodetest.Open(b, cfg)
			spec := []byte(chainSpec(shape.width, shape.depth))
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id, err := n.SubmitSpec(ctx, spec, nil)
				if err != nil {
					b.Fatal(err)
				}
				if r := waitLocal(b, n, id); r.Status != dag.RunSucceeded {
					b.Fatalf("run %s: %s", id, r.Status)
				}
			}
			b.ReportMetric(float64(b.N*shape.width*shape.depth)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
