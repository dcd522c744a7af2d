package ops

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/forged-dev/forged/dag"
)

func describeOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "describe",
		Description: "Summarizes each input column in one row: type, count, nulls, min, max, mean, stddev " +
			"and distinct values (exact up to a million, estimated above).",
		MinInputs: 1, MaxInputs: 1,
	}, Run: runDescribe}
}

var describeSchema = arrow.NewSchema([]arrow.Field{
	{Name: "column", Type: arrow.BinaryTypes.String},
	{Name: "type", Type: arrow.BinaryTypes.String},
	{Name: "count", Type: arrow.PrimitiveTypes.Int64},
	{Name: "nulls", Type: arrow.PrimitiveTypes.Int64},
	{Name: "min", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "max", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "mean", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "stddev", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "distinct", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func runDescribe(ctx context.Context, env *Env) error {
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	schema := rr.Schema()
	stats := make([]*colStats, schema.NumFields())
	for i, f := range schema.Fields() {
		stats[i] = newColStats(f)
	}
	cctx := compute.WithAllocator(ctx, env.Mem)
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		for i, col := range rec.Columns() {
			if err := stats[i].add(cctx, col); err != nil {
				return fmt.Errorf("describe column %s: %w", schema.Field(i).Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	b := array.NewRecordBuilder(env.Mem, describeSchema)
	defer b.Release()
	for _, s := range stats {
		b.Field(0).(*array.StringBuilder).Append(s.name)
		b.Field(1).(*array.StringBuilder).Append(s.typ.String())
		b.Field(2).(*array.Int64Builder).Append(s.count)
		b.Field(3).(*array.Int64Builder).Append(s.nulls)
		appendOptString(b.Field(4).(*array.StringBuilder), s.min, s.hasMinMax)
		appendOptString(b.Field(5).(*array.StringBuilder), s.max, s.hasMinMax)
		mean, std := s.moments()
		appendOptFloat(b.Field(6).(*array.Float64Builder), mean)
		appendOptFloat(b.Field(7).(*array.Float64Builder), std)
		b.Field(8).(*array.Int64Builder).Append(s.distinct.count())
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	out, err := output(env, describeSchema)
	if err != nil {
		return err
	}
	logf(env, "describe: %d columns over %d rows", len(stats), rows)
	return out.Write(rec)
}

func appendOptString(b *array.StringBuilder, s string, ok bool) {
	if ok {
		b.Append(s)
	} else {
		b.AppendNull()
	}
}

func appendOptFloat(b *array.Float64Builder, v *float64) {
	if v != nil {
		b.Append(*v)
	} else {
		b.AppendNull()
	}
}

// colStats accumulates one column's summary batch by batch.
type colStats struct {
	name     string
	typ      arrow.DataType
	count    int64 // non-null values
	nulls    int64
	measured bool // numeric: mean and stddev apply
	// Welford's running mean and sum of squared deviations, over the
	// values that are not NaN.
	n        int64
	mean, m2 float64
	// min and max are rendered text; numbers and times are ordered by
	// minKey and maxKey, other types by the text itself.
	hasMinMax      bool
	min, max       string
	minKey, maxKey float64
	distinct       distinctCounter
}

func newColStats(f arrow.Field) *colStats {
	return &colStats{name: f.Name, typ: f.Type, distinct: newDistinctCounter()}
}

// moments returns the mean and the sample standard deviation, nil where
// they do not apply.
func (s *colStats) moments() (mean, std *float64) {
	if !s.measured || s.n == 0 {
		return nil, nil
	}
	m := s.mean
	if s.n < 2 {
		return &m, nil
	}
	sd := math.Sqrt(s.m2 / float64(s.n-1))
	return &m, &sd
}

func (s *colStats) add(ctx context.Context, col arrow.Array) error {
	if col.DataType().ID() == arrow.NULL {
		s.nulls += int64(col.Len())
		return nil
	}
	s.nulls += int64(col.NullN())
	s.count += int64(col.Len() - col.NullN())
	switch a := col.(type) {
	case *array.Int8:
		addNumbers(s, a, a.Values(), true)
	case *array.Int16:
		addNumbers(s, a, a.Values(), true)
	case *array.Int32:
		addNumbers(s, a, a.Values(), true)
	case *array.Int64:
		addNumbers(s, a, a.Values(), true)
	case *array.Uint8:
		addNumbers(s, a, a.Values(), true)
	case *array.Uint16:
		addNumbers(s, a, a.Values(), true)
	case *array.Uint32:
		addNumbers(s, a, a.Values(), true)
	case *array.Uint64:
		addNumbers(s, a, a.Values(), true)
	case *array.Float32:
		addNumbers(s, a, a.Values(), true)
	case *array.Float64:
		addNumbers(s, a, a.Values(), true)
	case *array.Date32:
		addNumbers(s, a, a.Values(), false)
	case *array.Date64:
		addNumbers(s, a, a.Values(), false)
	case *array.Timestamp:
		addNumbers(s, a, a.Values(), false)
	case *array.Time32:
		addNumbers(s, a, a.Values(), false)
	case *array.Time64:
		addNumbers(s, a, a.Values(), false)
	case *array.Duration:
		addNumbers(s, a, a.Values(), false)
	case *array.Float16, *array.Decimal32, *array.Decimal64, *array.Decimal128, *array.Decimal256:
		f, err := compute.CastArray(ctx, col, compute.UnsafeCastOptions(arrow.PrimitiveTypes.Float64))
		if err != nil {
			s.addText(col)
			return nil
		}
		defer f.Release()
		fa := f.(*array.Float64)
		addNumbers(s, fa, fa.Values(), true)
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				v := a.Value(i)
				s.distinct.add(boolHash(v))
				s.observeText(strconv.FormatBool(v))
			}
		}
	case *array.String:
		addStrings(s, a)
	case *array.LargeString:
		addStrings(s, a)
	case *array.StringView:
		addStrings(s, a)
	default:
		s.addText(col)
	}
	return nil
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// addNumbers folds values into s; measured says mean and stddev apply
// (not for dates and times, which are ordered but not averaged here).
func addNumbers[T number](s *colStats, col arrow.Array, vals []T, measured bool) {
	s.measured = measured
	for i, v := range vals {
		if col.IsNull(i) {
			continue
		}
		x := float64(v)
		s.distinct.add(numberHash(v))
		if math.IsNaN(x) {
			continue
		}
		if measured {
			s.n++
			d := x - s.mean
			s.mean += d / float64(s.n)
			s.m2 += d * (x - s.mean)
		}
		switch {
		case !s.hasMinMax:
			s.hasMinMax = true
			s.minKey, s.maxKey = x, x
			s.min, s.max = valueText(col, i, measured), valueText(col, i, measured)
		case x < s.minKey:
			s.minKey, s.min = x, valueText(col, i, measured)
		case x > s.maxKey:
			s.maxKey, s.max = x, valueText(col, i, measured)
		}
	}
}

func valueText(col arrow.Array, i int, measured bool) string {
	if !measured {
		return col.ValueStr(i)
	}
	switch a := col.(type) {
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	}
	return col.ValueStr(i)
}

type stringArray interface {
	arrow.Array
	Value(int) string
}

func addStrings(s *colStats, a stringArray) {
	for i := 0; i < a.Len(); i++ {
		if a.IsValid(i) {
			v := a.Value(i)
			s.distinct.add(stringHash(v))
			s.observeText(v)
		}
	}
}

// addText handles any other type through its text form: distinct counts
// work, min and max do not apply.
func (s *colStats) addText(col arrow.Array) {
	for i := 0; i < col.Len(); i++ {
		if col.IsValid(i) {
			s.distinct.add(stringHash(col.ValueStr(i)))
		}
	}
}

func (s *colStats) observeText(v string) {
	switch {
	case !s.hasMinMax:
		s.hasMinMax = true
		s.min, s.max = v, v
	case v < s.min:
		s.min = v
	case v > s.max:
		s.max = v
	}
}
