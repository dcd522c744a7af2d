package dataplane

import (
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func benchmarkEncode(b *testing.B, f Format) {
	mem := memory.NewGoAllocator()
	var recs []arrow.RecordBatch
	for i := 0; i < 10; i++ {
		recs = append(recs, makeBatch(mem, i*10000, 10000))
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rr, _ := array.NewRecordReader(testSchema, recs)
		if _, err := Encode(io.Discard, f, rr, 0); err != nil {
			b.Fatal(err)
		}
		rr.Release()
	}
	b.ReportMetric(float64(100000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkEncodeArrow(b *testing.B)  { benchmarkEncode(b, FormatArrow) }
func BenchmarkEncodeCSV(b *testing.B)    { benchmarkEncode(b, FormatCSV) }
func BenchmarkEncodeNDJSON(b *testing.B) { benchmarkEncode(b, FormatNDJSON) }

// BenchmarkCommitSmallOutput commits the small output of a noop task (one
// batch of 10 rows) to a new task directory each time, as the executor
// does. sync=each syncs in every Commit (the default); sync=deferred
// calls Store.Sync once per 64 commits, as a node that syncs before a
// batched report would.
func BenchmarkCommitSmallOutput(b *testing.B) {
	const perSync = 64
	for _, deferSync := range []bool{false, true} {
		name := "sync=each"
		if deferSync {
			name = "sync=deferred"
		}
		b.Run(name, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			s, err := OpenStoreWith(b.TempDir(), StoreOptions{Mem: mem, DeferSync: deferSync})
			if err != nil {
				b.Fatal(err)
			}
			rec := makeBatch(mem, 0, 10)
			defer rec.Release()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w, err := s.Create(OutputRef{Run: "bench", Task: fmt.Sprintf("t%d", i), Output: "out"}, testSchema)
				if err != nil {
					b.Fatal(err)
				}
				if err := w.Write(rec); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Commit(); err != nil {
					b.Fatal(err)
				}
				if (i+1)%perSync == 0 {
					if err := s.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := s.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
