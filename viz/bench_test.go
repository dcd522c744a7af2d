package viz

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/forged-dev/forged/dag"
)

// BenchmarkSVG2000 lays out a 2000-task pipeline: 20 chains of 100 tasks,
// each task also needing the one two back.
func BenchmarkSVG2000(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("name: big\ntasks:\n")
	for c := 0; c < 20; c++ {
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&sb, "  - {name: t%d_%d, op: noop", c, i)
			if i > 0 {
				fmt.Fprintf(&sb, ", needs: [t%d_%d", c, i-1)
				if i > 1 {
					fmt.Fprintf(&sb, ", t%d_%d", c, i-2)
				}
				sb.WriteString("]")
			}
			sb.WriteString("}\n")
		}
	}
	p, err := dag.Parse([]byte(sb.String()), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		svg, err := SVG(context.Background(), p, nil)
		if err != nil || strings.Count(string(svg), "data-task=") != 2000 {
			b.Fatalf("%v", err)
		}
	}
}
