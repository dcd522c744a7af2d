package model

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// FeatureColumns finds sig's features among a schema's columns, by name;
// other columns are ignored. The error names a missing feature.
func FeatureColumns(schema *arrow.Schema, sig Signature) ([]int, error) {
	cols := make([]int, len(sig.Features))
	for i, f := range sig.Features {
		idx := schema.FieldIndices(f.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("missing feature column %q", f.Name)
		}
		if !numeric(schema.Field(idx[0]).Type) {
			return nil, fmt.Errorf("feature column %q is %s; want numbers or booleans", f.Name, schema.Field(idx[0]).Type)
		}
		cols[i] = idx[0]
	}
	return cols, nil
}

func numeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.FLOAT64, arrow.FLOAT32, arrow.INT64, arrow.INT32, arrow.INT16, arrow.INT8,
		arrow.UINT64, arrow.UINT32, arrow.UINT16, arrow.UINT8, arrow.BOOL:
		return true
	}
	return false
}

// AppendRows appends the batch's rows, features in signature order (cols
// from FeatureColumns), to x: nulls become NaN, booleans 1 and 0.
func AppendRows(x []float64, rec arrow.RecordBatch, cols []int) []float64 {
	rows, d := int(rec.NumRows()), len(cols)
	base := len(x)
	x = append(x, make([]float64, rows*d)...)
	for f, ci := range cols {
		col := rec.Column(ci)
		for i := 0; i < rows; i++ {
			x[base+i*d+f] = value(col, i)
		}
	}
	return x
}

func value(col arrow.Array, i int) float64 {
	if col.IsNull(i) {
		return math.NaN()
	}
	switch a := col.(type) {
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Int64:
		return float64(a.Value(i))
	case *array.Int32:
		return float64(a.Value(i))
	case *array.Int16:
		return float64(a.Value(i))
	case *array.Int8:
		return float64(a.Value(i))
	case *array.Uint64:
		return float64(a.Value(i))
	case *array.Uint32:
		return float64(a.Value(i))
	case *array.Uint16:
		return float64(a.Value(i))
	case *array.Uint8:
		return float64(a.Value(i))
	case *array.Boolean:
		if a.Value(i) {
			return 1
		}
	}
	return 0
}
