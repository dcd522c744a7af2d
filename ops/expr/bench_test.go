package expr

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func BenchmarkEval(b *testing.B) {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}, {Name: "y", Type: arrow.PrimitiveTypes.Float64}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	for i := 0; i < 65536; i++ {
		bld.Field(0).(*array.Int64Builder).Append(int64(i))
		bld.Field(1).(*array.Float64Builder).Append(float64(i) / 3)
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	defer rec.Release()
	e, err := Parse("x % 7 == 3 and y * 2 > 100 or x in (1, 2, 3)")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		arr, err := Eval(context.Background(), mem, e, rec)
		if err != nil {
			b.Fatal(err)
		}
		arr.Release()
	}
	b.ReportMetric(float64(65536*b.N)/b.Elapsed().Seconds(), "rows/s")
}
