package dataplane

import (
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
