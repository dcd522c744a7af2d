package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkOutputStats writes an output of 1M rows of testSchema's four
// columns (int64; text with nulls; float64; timestamp) in batches of 64K
// rows, with the column stats off and on; collector times the stats alone.
// Syncs are deferred, so that the disk's sync time does not hide the cost.
// Besides the wall time it reports the process's CPU time per output
// (cpu-ms/op), steadier on a busy machine.
func BenchmarkOutputStats(b *testing.B) {
	const rows, batch = 1 << 20, 1 << 16
	mem := memory.NewGoAllocator()
	var recs []arrow.RecordBatch
	for i := 0; i < rows; i += batch {
		recs = append(recs, makeBatch(mem, i, batch))
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, stats := range []bool{false, true} {
		b.Run(fmt.Sprintf("stats=%v", stats), func(b *testing.B) {
			s, err := OpenStoreWith(b.TempDir(), StoreOptions{Mem: mem, DeferSync: true})
			if err != nil {
				b.Fatal(err)
			}
			cpu := processCPU()
			for i := 0; b.Loop(); i++ {
				w, err := s.Create(OutputRef{Run: "bench", Task: fmt.Sprintf("t%d", i%4), Output: "out"}, testSchema)
				if err != nil {
					b.Fatal(err)
				}
				w.stats.off = !stats
				for _, r := range recs {
					if err := w.Write(r); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	b.Run("collector", func(b *testing.B) {
		cpu := processCPU()
		for b.Loop() {
			var c statsCollector
			for _, r := range recs {
				c.add(r)
			}
			c.result(testSchema)
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// reportCPU reports the CPU time used since start, per op.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	}
}
