package dataplane

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestOutputsCarryAPreview(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	batch := func(start, n int) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for i := start; i < start+n; i++ {
			if i == 1 {
				b.Field(0).(*array.Int64Builder).AppendNull()
			} else {
				b.Field(0).(*array.Int64Builder).Append(int64(i))
			}
			x := float64(i) / 2
			if i == 2 {
				x = math.NaN()
			}
			b.Field(1).(*array.Float64Builder).Append(x)
			b.Field(2).(*array.StringBuilder).Append(strings.Repeat("é", 40+i))
			b.Field(3).(*array.Date32Builder).Append(arrow.Date32(19000 + i))
		}
		return b.NewRecordBatch()
	}
	for _, tc := range []struct {
		name      string
		sizes     []int
		rows      int
		truncated bool
	}{{"small", []int{3}, 3, false}, {"two batches", []int{4, 30}, PreviewRows, true}, {"exactly full", []int{PreviewRows}, PreviewRows, false}} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := s.Create(OutputRef{Run: "r", Task: strings.ReplaceAll(tc.name, " ", "-"), Output: "out"}, schema)
			if err != nil {
				t.Fatal(err)
			}
			start := 0
			for _, n := range tc.sizes {
				rec := batch(start, n)
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
				rec.Release()
				start += n
			}
			meta, err := w.Commit()
			if err != nil {
				t.Fatal(err)
			}
			p := meta.Preview
			if p == nil || len(p.Rows) != tc.rows || p.Truncated != tc.truncated {
				t.Fatalf("preview = %+v", p)
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("preview is not JSON: %v", err)
			}
			js := string(b)
			for _, want := range []string{`[0,0,"` + strings.Repeat("é", 32) + `…","2022-01-08"]`, `[null,0.5,`, `,"NaN",`} {
				if !strings.Contains(js, want) {
					t.Errorf("preview %s lacks %s", js, want)
				}
			}
		})
	}
}

// A wide table's preview keeps fewer rows, within its size bound.
func TestPreviewStaysSmall(t *testing.T) {
	var fields []arrow.Field
	for i := 0; i < 40; i++ {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("c%d", i), Type: arrow.BinaryTypes.String})
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for r := 0; r < 20; r++ {
		for i := range fields {
			b.Field(i).(*array.StringBuilder).Append(strings.Repeat("x", 100))
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var p previewer
	p.add(rec)
	got := p.preview()
	js, _ := json.Marshal(got)
	if got == nil || len(got.Rows) == 0 || len(got.Rows) >= PreviewRows || !got.Truncated || len(js) > previewBytesMax {
		t.Fatalf("preview of a wide table: %d rows, %d bytes, truncated %v", len(got.Rows), len(js), got.Truncated)
	}
}
