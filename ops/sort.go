package ops

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

// sortBatchRows is the most rows sort writes per output batch.
const sortBatchRows = 64 << 10

func sortOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "sort",
		Description: "Sorts the rows by the `by` columns (prefix a name with - for descending; stable; nulls " +
			"last unless `nulls: first`; NaN sorts above every number); it holds the whole input in memory.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"by"},
		Optional: []string{"nulls"},
	}, Run: runSort}
}

// sortKey is one `by` entry resolved against the input.
type sortKey struct {
	name  string
	col   int
	desc  bool
	arr   arrow.Array
	nulls bool                 // whether arr has any null
	cmp   func(i, j int64) int // compares two non-null values, ascending
}

// sortKeysOf reads with.by and with.nulls and checks the columns exist
// and can be sorted.
func sortKeysOf(w with, schema *arrow.Schema) (keys []sortKey, nullsFirst bool, err error) {
	by, err := w.strings("by", "column names", nil)
	if err != nil {
		return nil, false, err
	}
	if len(by) == 0 {
		return nil, false, errors.New("with.by: want a list of column names (prefix one with - to sort descending), got an empty list")
	}
	nulls, _, err := w.str("nulls")
	if err != nil {
		return nil, false, err
	}
	switch nulls {
	case "", "last":
	case "first":
		nullsFirst = true
	default:
		return nil, false, fmt.Errorf("with.nulls: want first or last, got %q", nulls)
	}
	seen := map[string]bool{}
	for _, name := range by {
		k := sortKey{name: name}
		if strings.HasPrefix(name, "-") {
			k.name, k.desc = name[1:], true
		}
		idx := schema.FieldIndices(k.name)
		if len(idx) == 0 {
			return nil, false, fmt.Errorf("with.by: no column %q in the input (columns: %s)", k.name, columnNames(schema))
		}
		if seen[k.name] {
			return nil, false, fmt.Errorf("with.by: column %q is listed twice", k.name)
		}
		seen[k.name] = true
		k.col = idx[0]
		if dt := schema.Field(k.col).Type; !sortable(dt) {
			return nil, false, fmt.Errorf("with.by: column %q holds %s values, which cannot be sorted "+
				"(sortable: integers, floats, strings, binary, booleans, dates, times, timestamps and durations)", k.name, dt)
		}
		keys = append(keys, k)
	}
	return keys, nullsFirst, nil
}

func sortable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY, arrow.BOOL,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DURATION:
		return true
	}
	return false
}

// orderedCmp compares values of a slice in their natural order.
func orderedCmp[T cmp.Ordered](v []T) func(i, j int64) int {
	return func(i, j int64) int { return cmp.Compare(v[i], v[j]) }
}

// floatCmp orders floats with NaN above every number, so that NaNs come
// last ascending and first descending.
func floatCmp[T float32 | float64](v []T) func(i, j int64) int {
	return func(i, j int64) int {
		a, b := v[i], v[j]
		if an, bn := a != a, b != b; an || bn {
			switch {
			case an && bn:
				return 0
			case an:
				return 1
			}
			return -1
		}
		return cmp.Compare(a, b)
	}
}

// valueCmp compares values read one at a time.
func valueCmp[T any](at func(int) T, compare func(a, b T) int) func(i, j int64) int {
	return func(i, j int64) int { return compare(at(int(i)), at(int(j))) }
}

// comparator returns how to compare the non-null values of arr, whose
// type sortable accepted.
func comparator(arr arrow.Array) func(i, j int64) int {
	switch a := arr.(type) {
	case *array.Int8:
		return orderedCmp(a.Int8Values())
	case *array.Int16:
		return orderedCmp(a.Int16Values())
	case *array.Int32:
		return orderedCmp(a.Int32Values())
	case *array.Int64:
		return orderedCmp(a.Int64Values())
	case *array.Uint8:
		return orderedCmp(a.Uint8Values())
	case *array.Uint16:
		return orderedCmp(a.Uint16Values())
	case *array.Uint32:
		return orderedCmp(a.Uint32Values())
	case *array.Uint64:
		return orderedCmp(a.Uint64Values())
	case *array.Float16:
		f := make([]float32, a.Len())
		for i, v := range a.Values() {
			f[i] = v.Float32()
		}
		return floatCmp(f)
	case *array.Float32:
		return floatCmp(a.Float32Values())
	case *array.Float64:
		return floatCmp(a.Float64Values())
	case *array.String:
		return valueCmp(a.Value, strings.Compare)
	case *array.LargeString:
		return valueCmp(a.Value, strings.Compare)
	case *array.Binary:
		return valueCmp(a.Value, bytes.Compare)
	case *array.LargeBinary:
		return valueCmp(a.Value, bytes.Compare)
	case *array.Boolean:
		return valueCmp(a.Value, func(x, y bool) int {
			switch {
			case x == y:
				return 0
			case y:
				return -1
			}
			return 1
		})
	case *array.Date32:
		return orderedCmp(a.Date32Values())
	case *array.Date64:
		return orderedCmp(a.Date64Values())
	case *array.Timestamp:
		return orderedCmp(a.TimestampValues())
	case *array.Time32:
		return orderedCmp(a.Time32Values())
	case *array.Time64:
		return orderedCmp(a.Time64Values())
	case *array.Duration:
		return orderedCmp(a.DurationValues())
	}
	panic(fmt.Sprintf("sort: no comparator for %s", arr.DataType())) // sortable let it through
}

// sortCancelled carries ctx's error out of a sort comparison.
type sortCancelled struct{ err error }

// sortIndices returns the row order: stable, nulls placed by nullsFirst
// whatever the direction. It checks ctx every so many comparisons.
func sortIndices(ctx context.Context, keys []sortKey, n int64, nullsFirst bool) (idx []int64, err error) {
	idx = make([]int64, n)
	for i := range idx {
		idx[i] = int64(i)
	}
	nullSide := 1
	if nullsFirst {
		nullSide = -1
	}
	var calls int
	compare := func(a, b int64) int {
		if calls++; calls&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				panic(sortCancelled{err})
			}
		}
		for i := range keys {
			k := &keys[i]
			if k.nulls {
				an, bn := k.arr.IsNull(int(a)), k.arr.IsNull(int(b))
				if an || bn {
					if an && bn {
						continue
					}
					if an {
						return nullSide
					}
					return -nullSide
				}
			}
			if c := k.cmp(a, b); c != 0 {
				if k.desc {
					return -c
				}
				return c
			}
		}
		return cmp.Compare(a, b) // ties keep the input order
	}
	defer func() {
		if p := recover(); p != nil {
			c, ok := p.(sortCancelled)
			if !ok {
				panic(p)
			}
			idx, err = nil, c.err
		}
	}()
	slices.SortFunc(idx, compare)
	return idx, ctx.Err()
}

func runSort(ctx context.Context, env *Env) error {
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	schema := rr.Schema()
	keys, nullsFirst, err := sortKeysOf(withOf(env), schema)
	if err != nil {
		return err
	}
	out, err := output(env, schema)
	if err != nil {
		return err
	}
	// Hold every column as one array, so rows are addressed by number.
	chunks := make([][]arrow.Array, schema.NumFields())
	defer func() {
		for _, cs := range chunks {
			for _, c := range cs {
				c.Release()
			}
		}
	}()
	n, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		if rec.NumRows() == 0 {
			return nil
		}
		for j, c := range rec.Columns() {
			c.Retain()
			chunks[j] = append(chunks[j], c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		logf(env, "sort: no rows")
		return nil
	}
	cols, err := sortConcat(env.Mem, schema, chunks)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i := range keys {
		k := &keys[i]
		k.arr = cols[k.col]
		k.nulls = k.arr.NullN() > 0
		k.cmp = comparator(k.arr)
	}
	idx, err := sortIndices(ctx, keys, n, nullsFirst)
	if err != nil {
		return err
	}
	if err := sortWrite(ctx, env, out, schema, cols, idx); err != nil {
		return err
	}
	by := make([]string, len(keys))
	for i, k := range keys {
		by[i] = k.name
		if k.desc {
			by[i] += " descending"
		}
	}
	logf(env, "sort: %d rows by %s", n, strings.Join(by, ", "))
	return nil
}

// sortConcat joins each column's chunks into one array, releasing the
// chunks as it goes so that at most one column is held twice.
func sortConcat(mem memory.Allocator, schema *arrow.Schema, chunks [][]arrow.Array) ([]arrow.Array, error) {
	cols := make([]arrow.Array, len(chunks))
	for j, cs := range chunks {
		if len(cs) == 1 {
			cols[j], chunks[j] = cs[0], nil
			continue
		}
		c, err := array.Concatenate(cs, mem)
		if err != nil {
			for _, done := range cols[:j] {
				done.Release()
			}
			return nil, fmt.Errorf("sort: column %q: %w", schema.Field(j).Name, err)
		}
		for _, x := range cs {
			x.Release()
		}
		cols[j], chunks[j] = c, nil
	}
	return cols, nil
}

// sortWrite gathers the rows in idx's order, sortBatchRows at a time.
func sortWrite(ctx context.Context, env *Env, out RecordWriter, schema *arrow.Schema, cols []arrow.Array, idx []int64) error {
	for lo := 0; lo < len(idx); lo += sortBatchRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := sortTake(ctx, env.Mem, schema, cols, idx[lo:min(lo+sortBatchRows, len(idx))])
		if err != nil {
			return fmt.Errorf("sort: %w", err)
		}
		err = out.Write(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// sortTake returns a batch of the rows idx of the columns cols.
func sortTake(ctx context.Context, mem memory.Allocator, schema *arrow.Schema, cols []arrow.Array, idx []int64) (arrow.RecordBatch, error) {
	buf := memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(idx))
	ind := array.NewInt64Data(array.NewData(arrow.PrimitiveTypes.Int64, len(idx), []*memory.Buffer{nil, buf}, nil, 0, 0))
	defer ind.Release()
	cctx := compute.WithAllocator(ctx, mem)
	taken := make([]arrow.Array, 0, len(cols))
	defer func() {
		for _, t := range taken {
			t.Release()
		}
	}()
	for j, c := range cols {
		t, err := compute.TakeArray(cctx, c, ind)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", schema.Field(j).Name, err)
		}
		taken = append(taken, t)
	}
	return array.NewRecordBatch(schema, taken, int64(len(idx))), nil
}
