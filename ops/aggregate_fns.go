package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// aggState accumulates one aggregate for every group.
type aggState interface {
	// add folds one batch's column into the groups of its rows; col is
	// nil for count without a column, groups is how many groups exist.
	add(ctx context.Context, col arrow.Array, gids []int32, groups int) error
	// result returns one value per group.
	result(ctx context.Context, mem memory.Allocator, groups int) (arrow.Array, error)
	release()
}

func aggIsInt(dt arrow.DataType) bool { return isIntegerType(dt) }

func aggIsFloat(dt arrow.DataType) bool {
	return dt.ID() == arrow.FLOAT32 || dt.ID() == arrow.FLOAT64
}

func aggIsOrdered(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BOOL,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DURATION:
		return true
	}
	return aggIsInt(dt) || aggIsFloat(dt)
}

// aggResultType returns the type of fn's result over values of type dt,
// or why fn does not apply.
func aggResultType(fn string, dt arrow.DataType) (arrow.DataType, error) {
	numeric := aggIsInt(dt) || aggIsFloat(dt)
	switch fn {
	case "count":
		return arrow.PrimitiveTypes.Int64, nil
	case "count_distinct":
		if !keyable(dt) {
			return nil, fmt.Errorf("values of type %s cannot be compared", dt)
		}
		return arrow.PrimitiveTypes.Int64, nil
	case "sum":
		if aggIsInt(dt) {
			return arrow.PrimitiveTypes.Int64, nil
		}
		if aggIsFloat(dt) {
			return arrow.PrimitiveTypes.Float64, nil
		}
	case "mean", "stddev", "var", "median", "quantile":
		if numeric {
			return arrow.PrimitiveTypes.Float64, nil
		}
	case "min", "max":
		if !aggIsOrdered(dt) {
			return nil, fmt.Errorf("values of type %s have no order", dt)
		}
		return dt, nil
	case "first", "last":
		return dt, nil
	}
	return nil, fmt.Errorf("want a numeric column, got %s", dt)
}

func newAggState(s aggSpec, dt arrow.DataType) aggState {
	switch s.fn {
	case "count":
		return &aggCount{rows: s.col < 0}
	case "count_distinct":
		return &aggDistinct{}
	case "sum":
		if aggIsFloat(dt) {
			return &aggSumFloat{}
		}
		return &aggSumInt{}
	case "mean":
		return &aggMean{}
	case "stddev", "var":
		return &aggVar{std: s.fn == "stddev"}
	case "median", "quantile":
		return &aggQuantile{q: s.q}
	case "first", "last":
		return &aggFirstLast{last: s.fn == "last", pick: aggPicker{dt: dt}}
	}
	isMax := s.fn == "max"
	switch {
	case aggIsFloat(dt):
		return &aggMinMax[float64]{max: isMax, get: aggFloats, pick: aggPicker{dt: dt}}
	case dt.ID() == arrow.UINT8 || dt.ID() == arrow.UINT16 || dt.ID() == arrow.UINT32 || dt.ID() == arrow.UINT64:
		return &aggMinMax[uint64]{max: isMax, get: aggUints, pick: aggPicker{dt: dt}}
	case dt.ID() == arrow.STRING || dt.ID() == arrow.LARGE_STRING || dt.ID() == arrow.STRING_VIEW:
		return &aggMinMax[string]{max: isMax, get: aggStrings, keep: strings.Clone, pick: aggPicker{dt: dt}}
	}
	return &aggMinMax[int64]{max: isMax, get: aggInts, pick: aggPicker{dt: dt}}
}

func aggGrow[T any](s []T, n int, zero T) []T {
	for len(s) < n {
		s = append(s, zero)
	}
	return s
}

func aggConv[T number, R int64 | uint64 | float64](vals []T) func(int) R {
	return func(i int) R { return R(vals[i]) }
}

// aggFloats reads a numeric column as float64 values.
func aggFloats(col arrow.Array) func(int) float64 {
	switch a := col.(type) {
	case *array.Float64:
		return aggConv[float64, float64](a.Values())
	case *array.Float32:
		return aggConv[float32, float64](a.Values())
	case *array.Int8:
		return aggConv[int8, float64](a.Values())
	case *array.Int16:
		return aggConv[int16, float64](a.Values())
	case *array.Int32:
		return aggConv[int32, float64](a.Values())
	case *array.Int64:
		return aggConv[int64, float64](a.Values())
	case *array.Uint8:
		return aggConv[uint8, float64](a.Values())
	case *array.Uint16:
		return aggConv[uint16, float64](a.Values())
	case *array.Uint32:
		return aggConv[uint32, float64](a.Values())
	case *array.Uint64:
		return aggConv[uint64, float64](a.Values())
	}
	return nil
}

// aggInts reads signed integers, dates, times and booleans (as 0 and 1)
// as int64 values.
func aggInts(col arrow.Array) func(int) int64 {
	switch a := col.(type) {
	case *array.Int8:
		return aggConv[int8, int64](a.Values())
	case *array.Int16:
		return aggConv[int16, int64](a.Values())
	case *array.Int32:
		return aggConv[int32, int64](a.Values())
	case *array.Int64:
		return aggConv[int64, int64](a.Values())
	case *array.Date32:
		return aggConv[arrow.Date32, int64](a.Values())
	case *array.Date64:
		return aggConv[arrow.Date64, int64](a.Values())
	case *array.Timestamp:
		return aggConv[arrow.Timestamp, int64](a.Values())
	case *array.Time32:
		return aggConv[arrow.Time32, int64](a.Values())
	case *array.Time64:
		return aggConv[arrow.Time64, int64](a.Values())
	case *array.Duration:
		return aggConv[arrow.Duration, int64](a.Values())
	case *array.Boolean:
		return func(i int) int64 {
			if a.Value(i) {
				return 1
			}
			return 0
		}
	}
	return nil
}

// aggUints reads unsigned integers as uint64 values.
func aggUints(col arrow.Array) func(int) uint64 {
	switch a := col.(type) {
	case *array.Uint8:
		return aggConv[uint8, uint64](a.Values())
	case *array.Uint16:
		return aggConv[uint16, uint64](a.Values())
	case *array.Uint32:
		return aggConv[uint32, uint64](a.Values())
	case *array.Uint64:
		return aggConv[uint64, uint64](a.Values())
	}
	return nil
}

// aggStrings reads string values; they point into the batch, so keep a
// copy of any that must outlive it.
func aggStrings(col arrow.Array) func(int) string {
	if a, ok := col.(stringArray); ok {
		return a.Value
	}
	return nil
}

func aggInt64s(mem memory.Allocator, vals []int64, valid []bool, n int) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.Reserve(n)
	for g := range n {
		if g < len(vals) && (valid == nil || valid[g]) {
			b.UnsafeAppend(vals[g])
		} else if valid == nil {
			b.UnsafeAppend(0)
		} else {
			b.UnsafeAppendBoolToBitmap(false)
		}
	}
	return b.NewArray()
}

// aggFloat64s builds n float64 values from f, which says false for a null.
func aggFloat64s(mem memory.Allocator, n int, f func(g int) (float64, bool)) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.Reserve(n)
	for g := range n {
		if v, ok := f(g); ok {
			b.UnsafeAppend(v)
		} else {
			b.UnsafeAppendBoolToBitmap(false)
		}
	}
	return b.NewArray()
}

// aggCount counts rows, or with a column its non-null values.
type aggCount struct {
	rows   bool
	counts []int64
}

func (a *aggCount) add(_ context.Context, col arrow.Array, gids []int32, groups int) error {
	a.counts = aggGrow(a.counts, groups, 0)
	for i, g := range gids {
		if a.rows || col.IsValid(i) {
			a.counts[g]++
		}
	}
	return nil
}

func (a *aggCount) result(_ context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	return aggInt64s(mem, a.counts, nil, n), nil
}

func (a *aggCount) release() {}

// aggDistinct keeps each group's distinct values, as keys.
type aggDistinct struct {
	sets []map[string]struct{}
	buf  []byte
}

func (a *aggDistinct) add(_ context.Context, col arrow.Array, gids []int32, groups int) error {
	a.sets = aggGrow(a.sets, groups, nil)
	part, err := keyPartOf(col, false)
	if err != nil {
		return err
	}
	for i, g := range gids {
		var ok bool
		if a.buf, ok = part(a.buf[:0], i); !ok {
			continue
		}
		if a.sets[g] == nil {
			a.sets[g] = map[string]struct{}{}
		}
		a.sets[g][string(a.buf)] = struct{}{}
	}
	return nil
}

func (a *aggDistinct) result(_ context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	counts := make([]int64, n)
	for g, s := range a.sets {
		counts[g] = int64(len(s))
	}
	return aggInt64s(mem, counts, nil, n), nil
}

func (a *aggDistinct) release() {}

// aggSumInt sums integers exactly, failing on overflow.
type aggSumInt struct {
	sums []int64
	has  []bool
}

var errAggOverflow = errors.New("the sum overflows int64")

func (a *aggSumInt) add(_ context.Context, col arrow.Array, gids []int32, groups int) error {
	a.sums, a.has = aggGrow(a.sums, groups, 0), aggGrow(a.has, groups, false)
	get, uget := aggInts(col), aggUints(col)
	if get == nil && uget == nil {
		return fmt.Errorf("want integers, got %s", col.DataType())
	}
	for i, g := range gids {
		if col.IsNull(i) {
			continue
		}
		var v int64
		if get != nil {
			v = get(i)
		} else if u := uget(i); u <= math.MaxInt64 {
			v = int64(u)
		} else {
			return errAggOverflow
		}
		s := a.sums[g]
		sum := s + v
		if (v > 0 && sum < s) || (v < 0 && sum > s) {
			return errAggOverflow
		}
		a.sums[g], a.has[g] = sum, true
	}
	return nil
}

func (a *aggSumInt) result(_ context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	return aggInt64s(mem, a.sums, aggGrow(a.has, n, false), n), nil
}

func (a *aggSumInt) release() {}

// aggSumFloat sums floats in input order.
type aggSumFloat struct {
	sums []float64
	has  []bool
}

func (a *aggSumFloat) add(_ context.Context, col arrow.Array, gids []int32, groups int) error {
	a.sums, a.has = aggGrow(a.sums, groups, 0), aggGrow(a.has, groups, false)
	get := aggFloats(col)
	for i, g := range gids {
		if col.IsValid(i) {
			a.sums[g] += get(i)
			a.has[g] = true
		}
	}
	return nil
}

func (a *aggSumFloat) result(_ context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	return aggFloat64s(mem, n, func(g int) (float64, bool) {
		return aggAt(a.sums, g), g < len(a.has) && a.has[g]
	}), nil
}

func (a *aggSumFloat) release() {}

func aggAt[T any](s []T, g int) T {
	var zero T
	if g < len(s) {
		return s[g]
	}
	return zero
}

// aggMean averages values as the float sum over the count.
type aggMean struct {
	sums []float64
	ns   []int64
}

func (a *aggMean) add(_ context.Context, col arrow.Array, gids []int32, groups int) error {
	a.sums, a.ns = aggGrow(a.sums, groups, 0), aggGrow(a.ns, groups, 0)
	get := aggFloats(col)
	for i, g := range gids {
		if col.IsValid(i) {
			a.sums[g] += get(i)
			a.ns[g]++
		}
	}
	return nil
}

func (a *aggMean) result(_ context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	return aggFloat64s(mem, n, func(g int) (float64, bool) {
		c := aggAt(a.ns, g)
		return aggAt(a.sums, g) / float64(c), c > 0
	}), nil
}

func (a *aggMean) release() {}

// aggVar keeps Welford's running mean and sum of squared deviations; the
// result is the sample variance (over n-1) or its square root.
type aggVar struct {
	std       bool
	ns        []int64
	means, m2 []float64
}

func (a *aggVar) add(_ context.Context, col arrow.Array, gids []int32, groups int) error {
	a.ns, a.means, a.m2 = aggGrow(a.ns, groups, 0), aggGrow(a.means, groups, 0), aggGrow(a.m2, groups, 0)
	get := aggFloats(col)
	for i, g := range gids {
		if col.IsNull(i) {
			continue
		}
		x := get(i)
		a.ns[g]++
		d := x - a.means[g]
		a.means[g] += d / float64(a.ns[g])
		a.m2[g] += d * (x - a.means[g])
	}
	return nil
}

func (a *aggVar) result(_ context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	return aggFloat64s(mem, n, func(g int) (float64, bool) {
		c := aggAt(a.ns, g)
		if c < 2 {
			return 0, false
		}
		v := aggAt(a.m2, g) / float64(c-1)
		if a.std {
			v = math.Sqrt(v)
		}
		return v, true
	}), nil
}

func (a *aggVar) release() {}

// aggQuantile keeps every value of each group (NaN skipped) and
// interpolates linearly between the two nearest ranks.
type aggQuantile struct {
	q    float64
	vals [][]float64
}

func (a *aggQuantile) add(_ context.Context, col arrow.Array, gids []int32, groups int) error {
	a.vals = aggGrow(a.vals, groups, nil)
	get := aggFloats(col)
	for i, g := range gids {
		if col.IsValid(i) {
			if x := get(i); !math.IsNaN(x) {
				a.vals[g] = append(a.vals[g], x)
			}
		}
	}
	return nil
}

func (a *aggQuantile) result(ctx context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	for g, vs := range a.vals {
		if g%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		slices.Sort(vs)
	}
	return aggFloat64s(mem, n, func(g int) (float64, bool) {
		vs := aggAt(a.vals, g)
		if len(vs) == 0 {
			return 0, false
		}
		return aggQuantileOf(vs, a.q), true
	}), nil
}

// aggQuantileOf returns the q-quantile of sorted values.
func aggQuantileOf(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

func (a *aggQuantile) release() { a.vals = nil }

// aggFirstLast keeps the first or last non-null value of each group.
type aggFirstLast struct {
	last bool
	pick aggPicker
}

func (a *aggFirstLast) add(ctx context.Context, col arrow.Array, gids []int32, groups int) error {
	a.pick.grow(groups)
	for i, g := range gids {
		if col.IsValid(i) && (a.last || !a.pick.has(g)) {
			a.pick.set(g, i)
		}
	}
	return a.pick.flush(ctx, col)
}

func (a *aggFirstLast) result(ctx context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	return a.pick.gather(compute.WithAllocator(ctx, mem), n)
}

func (a *aggFirstLast) release() { a.pick.release() }

// aggMinMax keeps the least or greatest value of each group, compared as
// T (NaN skipped); the value itself is gathered in the column's type.
type aggMinMax[T cmp.Ordered] struct {
	max  bool
	get  func(arrow.Array) func(int) T
	keep func(T) T // copies a value that must outlive its batch
	best []T
	pick aggPicker
}

func (a *aggMinMax[T]) add(ctx context.Context, col arrow.Array, gids []int32, groups int) error {
	var zero T
	a.best = aggGrow(a.best, groups, zero)
	a.pick.grow(groups)
	get := a.get(col)
	if get == nil {
		return fmt.Errorf("values of type %s have no order", col.DataType())
	}
	for i, g := range gids {
		if col.IsNull(i) {
			continue
		}
		v := get(i)
		if v != v { // NaN
			continue
		}
		if !a.pick.has(g) || (a.max && v > a.best[g]) || (!a.max && v < a.best[g]) {
			if a.keep != nil {
				v = a.keep(v)
			}
			a.best[g] = v
			a.pick.set(g, i)
		}
	}
	return a.pick.flush(ctx, col)
}

func (a *aggMinMax[T]) result(ctx context.Context, mem memory.Allocator, n int) (arrow.Array, error) {
	return a.pick.gather(compute.WithAllocator(ctx, mem), n)
}

func (a *aggMinMax[T]) release() { a.pick.release() }

// aggPicker keeps one chosen value per group in the column's own type:
// each batch, the rows chosen for some group are gathered (compute.Take)
// into a small piece; pieces are compacted once they outgrow the groups.
type aggPicker struct {
	dt      arrow.DataType
	where   []int64 // per group: position in the pieces, -1 for none
	pending []int32 // per group: row chosen in the current batch, -1 for none
	touched []int32 // groups with a pending row
	pieces  []arrow.Array
	rows    int64 // values in the pieces
}

func (p *aggPicker) grow(n int) {
	p.where, p.pending = aggGrow(p.where, n, -1), aggGrow(p.pending, n, -1)
}

// has says whether group g has a value, kept or pending.
func (p *aggPicker) has(g int32) bool { return p.where[g] >= 0 || p.pending[g] >= 0 }

// set chooses row of the current batch for group g.
func (p *aggPicker) set(g int32, row int) {
	if p.pending[g] < 0 {
		p.touched = append(p.touched, g)
	}
	p.pending[g] = int32(row)
}

// flush gathers the current batch's chosen rows of col.
func (p *aggPicker) flush(ctx context.Context, col arrow.Array) error {
	if len(p.touched) == 0 {
		return nil
	}
	b := array.NewInt32Builder(compute.GetAllocator(ctx))
	b.Reserve(len(p.touched))
	for _, g := range p.touched {
		b.UnsafeAppend(p.pending[g])
	}
	idx := b.NewArray()
	b.Release()
	defer idx.Release()
	taken, err := compute.TakeArray(ctx, col, idx)
	if err != nil {
		return err
	}
	p.pieces = append(p.pieces, taken)
	for k, g := range p.touched {
		p.where[g] = p.rows + int64(k)
		p.pending[g] = -1
	}
	p.rows += int64(len(p.touched))
	p.touched = p.touched[:0]
	if p.rows <= 2*int64(len(p.where))+joinBatchRows {
		return nil
	}
	kept, err := p.gather(ctx, len(p.where))
	if err != nil {
		return err
	}
	p.release()
	p.pieces, p.rows = []arrow.Array{kept}, int64(kept.Len())
	for g := range p.where {
		if p.where[g] >= 0 {
			p.where[g] = int64(g)
		}
	}
	return nil
}

// gather returns the kept value of groups 0..n-1, null where none.
func (p *aggPicker) gather(ctx context.Context, n int) (arrow.Array, error) {
	mem := compute.GetAllocator(ctx)
	if len(p.pieces) == 0 {
		return array.MakeArrayOfNull(mem, p.dt, n), nil
	}
	values := p.pieces[0]
	if len(p.pieces) > 1 {
		var err error
		if values, err = array.Concatenate(p.pieces, mem); err != nil {
			return nil, err
		}
		defer values.Release()
	}
	b := array.NewInt64Builder(mem)
	b.Reserve(n)
	for g := range n {
		if w := aggAt(p.where, g); g < len(p.where) && w >= 0 {
			b.UnsafeAppend(w)
		} else {
			b.UnsafeAppendBoolToBitmap(false)
		}
	}
	idx := b.NewArray()
	b.Release()
	defer idx.Release()
	return compute.TakeArray(ctx, values, idx)
}

func (p *aggPicker) release() {
	for _, piece := range p.pieces {
		piece.Release()
	}
	p.pieces = nil
}
