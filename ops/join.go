package ops

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

// joinOp is the join operator: a hash join of two inputs on key columns.
func joinOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "join",
		Description: "Joins the first input (left) with the second (right) on key columns (`on`, or " +
			"`left_on` and `right_on`), `how` inner, left or outer; the right input is held in memory " +
			"as a hash table while the left one streams through.",
		MinInputs: 2, MaxInputs: 2,
		Optional: []string{"on", "left_on", "right_on", "how", "suffix"},
	}, Run: runJoin}
}

// joinConfig is a join's parsed `with`.
type joinConfig struct {
	leftOn, rightOn []string
	how             string
	suffix          string
}

func joinConfigOf(w with) (joinConfig, error) {
	var c joinConfig
	on, err := w.strings("on", "column names", nil)
	if err != nil {
		return c, err
	}
	left, err := w.strings("left_on", "column names", nil)
	if err != nil {
		return c, err
	}
	right, err := w.strings("right_on", "column names", nil)
	if err != nil {
		return c, err
	}
	_, hasOn := w["on"]
	_, hasLeft := w["left_on"]
	_, hasRight := w["right_on"]
	switch {
	case hasOn && (hasLeft || hasRight):
		return c, errors.New("with.on: give either on, or left_on and right_on, not both")
	case hasOn:
		if len(on) == 0 {
			return c, errors.New("with.on: want a list of key columns, got an empty list")
		}
		c.leftOn, c.rightOn = on, on
	case hasLeft != hasRight:
		if hasLeft {
			return c, errors.New("with.right_on is required with left_on")
		}
		return c, errors.New("with.left_on is required with right_on")
	case hasLeft:
		if len(left) == 0 {
			return c, errors.New("with.left_on: want a list of key columns, got an empty list")
		}
		if len(left) != len(right) {
			return c, fmt.Errorf("with.left_on has %d columns and with.right_on %d; they pair up, so want as many", len(left), len(right))
		}
		c.leftOn, c.rightOn = left, right
	default:
		return c, errors.New("with.on (or left_on and right_on) is required: the key columns to join on")
	}
	for _, l := range [][]string{c.leftOn, c.rightOn} {
		seen := map[string]bool{}
		for _, name := range l {
			if seen[name] {
				return c, fmt.Errorf("join: key column %q is listed twice", name)
			}
			seen[name] = true
		}
	}
	how, ok, err := w.str("how")
	if err != nil {
		return c, err
	}
	switch {
	case !ok:
		c.how = "inner"
	case how == "inner" || how == "left" || how == "outer":
		c.how = how
	default:
		return c, fmt.Errorf("with.how: want inner, left or outer, got %q", how)
	}
	suffix, ok, err := w.str("suffix")
	if err != nil {
		return c, err
	}
	c.suffix = "_right"
	if ok {
		c.suffix = suffix
	}
	return c, nil
}

// joinPlan is how the two input schemas combine.
type joinPlan struct {
	leftKeys, rightKeys []int  // key column indices
	signedMix           []bool // per key: integer types differ, compare as int64
	leftIsKey           []int  // per left column: its key index, or -1
	rightCols           []int  // right non-key columns, in output order
	outKeyType          []arrow.DataType
	schema, right       *arrow.Schema
}

func planJoin(c joinConfig, left, right *arrow.Schema) (*joinPlan, error) {
	p := &joinPlan{leftIsKey: make([]int, left.NumFields()), right: right}
	for i := range p.leftIsKey {
		p.leftIsKey[i] = -1
	}
	rightIsKey := map[int]bool{}
	for k := range c.leftOn {
		ln, rn := c.leftOn[k], c.rightOn[k]
		li := left.FieldIndices(ln)
		if len(li) == 0 {
			return nil, fmt.Errorf("join: the left input has no key column %q (available: %s)", ln, columnNames(left))
		}
		ri := right.FieldIndices(rn)
		if len(ri) == 0 {
			return nil, fmt.Errorf("join: the right input has no key column %q (available: %s)", rn, columnNames(right))
		}
		lt, rt := left.Field(li[0]).Type, right.Field(ri[0]).Type
		mix := false
		switch {
		case !keyable(lt):
			return nil, fmt.Errorf("join: left key column %q has type %s, which cannot be a join key", ln, lt)
		case !keyable(rt):
			return nil, fmt.Errorf("join: right key column %q has type %s, which cannot be a join key", rn, rt)
		case arrow.TypeEqual(lt, rt):
		case isIntegerType(lt) && isIntegerType(rt):
			mix = true
		default:
			return nil, fmt.Errorf("join: key columns differ in type: left %q is %s, right %q is %s "+
				"(integer types of different widths are compared as int64; other types must be the same)", ln, lt, rn, rt)
		}
		p.leftKeys = append(p.leftKeys, li[0])
		p.rightKeys = append(p.rightKeys, ri[0])
		p.signedMix = append(p.signedMix, mix)
		p.leftIsKey[li[0]] = k
		rightIsKey[ri[0]] = true
		kt := lt
		if mix && c.how == "outer" {
			kt = arrow.PrimitiveTypes.Int64 // the coalesced keys hold values of both types
		}
		p.outKeyType = append(p.outKeyType, kt)
	}
	var fields []arrow.Field
	names := map[string]bool{}
	for i, f := range left.Fields() {
		if k := p.leftIsKey[i]; k >= 0 {
			f.Type = p.outKeyType[k]
		}
		if c.how == "outer" {
			f.Nullable = true
		}
		fields = append(fields, f)
		names[f.Name] = true
	}
	for i, f := range right.Fields() {
		if rightIsKey[i] {
			continue
		}
		if names[f.Name] {
			renamed := f.Name + c.suffix
			if names[renamed] {
				return nil, fmt.Errorf("join: right column %q is renamed %q, which is also taken; choose another with.suffix", f.Name, renamed)
			}
			f.Name = renamed
		}
		if c.how != "inner" {
			f.Nullable = true
		}
		fields = append(fields, f)
		names[f.Name] = true
		p.rightCols = append(p.rightCols, i)
	}
	p.schema = arrow.NewSchema(fields, nil)
	return p, nil
}

// joinTable is the right input in memory: its columns, each concatenated
// into one array, and a hash table from key to rows chained in input order.
type joinTable struct {
	cols    []arrow.Array
	rows    int
	heads   map[string]joinChain
	next    []int32 // next row of the same key, -1 at the end
	matched []bool  // per row: some left row matched it (outer joins)
}

type joinChain struct{ first, last int32 }

func (t *joinTable) release() {
	for _, c := range t.cols {
		if c != nil {
			c.Release()
		}
	}
	t.cols = nil
}

// buildJoinTable reads the whole right input and hashes its keys.
func buildJoinTable(ctx context.Context, env *Env, rr array.RecordReader, p *joinPlan) (*joinTable, error) {
	schema := rr.Schema()
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	rows, err := each(ctx, rr, func(rec arrow.RecordBatch) error {
		if rec.NumRows() > 0 {
			rec.Retain()
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("join: read the right input: %w", err)
	}
	if rows >= math.MaxInt32 {
		return nil, fmt.Errorf("join: the right input has %d rows, more than the %d a join holds in memory; put the larger table on the left", rows, math.MaxInt32-1)
	}
	t := &joinTable{rows: int(rows), heads: map[string]joinChain{}, next: make([]int32, rows)}
	t.cols = make([]arrow.Array, schema.NumFields())
	for j, f := range schema.Fields() {
		if len(recs) == 0 {
			t.cols[j] = array.MakeArrayOfNull(env.Mem, f.Type, 0)
			continue
		}
		chunks := make([]arrow.Array, len(recs))
		for i, r := range recs {
			chunks[i] = r.Column(j)
		}
		if t.cols[j], err = array.Concatenate(chunks, env.Mem); err != nil {
			t.release()
			return nil, fmt.Errorf("join: gather right column %q: %w", f.Name, err)
		}
	}
	keyCols := make([]arrow.Array, len(p.rightKeys))
	for k, j := range p.rightKeys {
		keyCols[k] = t.cols[j]
	}
	keyer, err := newRowKeyer(keyCols, p.signedMix)
	if err != nil {
		t.release()
		return nil, fmt.Errorf("join: %w", err)
	}
	var buf []byte
	for i := 0; i < t.rows; i++ {
		if i%joinBatchRows == 0 {
			if err := ctx.Err(); err != nil {
				t.release()
				return nil, err
			}
		}
		t.next[i] = -1
		key, ok := keyer.matchKey(buf, i)
		buf = key
		if !ok {
			continue // a null key matches nothing
		}
		if c, found := t.heads[string(key)]; found {
			t.next[c.last] = int32(i)
			t.heads[string(key)] = joinChain{c.first, int32(i)}
		} else {
			t.heads[string(key)] = joinChain{int32(i), int32(i)}
		}
	}
	return t, nil
}

func runJoin(ctx context.Context, env *Env) error {
	cfg, err := joinConfigOf(withOf(env))
	if err != nil {
		return err
	}
	if len(env.Inputs) != 2 {
		return fmt.Errorf("join needs exactly 2 inputs (left and right), the task has %d", len(env.Inputs))
	}
	lr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer lr.Release()
	rr, err := input(env, 1)
	if err != nil {
		return err
	}
	defer rr.Release()
	plan, err := planJoin(cfg, lr.Schema(), rr.Schema())
	if err != nil {
		return err
	}
	table, err := buildJoinTable(ctx, env, rr, plan)
	if err != nil {
		return err
	}
	defer table.release()
	if cfg.how == "outer" {
		table.matched = make([]bool, table.rows)
	}
	out, err := output(env, plan.schema)
	if err != nil {
		return err
	}
	j := &joiner{ctx: ctx, cctx: compute.WithAllocator(ctx, env.Mem), mem: env.Mem, plan: plan, table: table, out: out, how: cfg.how}
	leftRows, err := each(ctx, lr, j.addLeft)
	if err != nil {
		return err
	}
	if cfg.how == "outer" {
		if err := j.flushUnmatchedRight(); err != nil {
			return err
		}
	}
	logf(env, "join (%s): %d left rows, %d right rows, %d rows out", cfg.how, leftRows, table.rows, j.written)
	metric(env, "rows_left", leftRows)
	metric(env, "rows_right", int64(table.rows))
	metric(env, "rows_out", j.written)
	return nil
}

// joiner streams left batches against the table.
type joiner struct {
	ctx, cctx context.Context
	mem       memory.Allocator
	plan      *joinPlan
	table     *joinTable
	out       RecordWriter
	how       string
	written   int64
	buf       []byte
	li, ri    []int64 // pending pairs of left and right rows; ri -1: no match
}

func (j *joiner) addLeft(rec arrow.RecordBatch) error {
	keyCols := make([]arrow.Array, len(j.plan.leftKeys))
	for k, c := range j.plan.leftKeys {
		keyCols[k] = rec.Column(c)
	}
	keyer, err := newRowKeyer(keyCols, j.plan.signedMix)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	keepUnmatched := j.how != "inner"
	j.li, j.ri = j.li[:0], j.ri[:0]
	for i := 0; i < int(rec.NumRows()); i++ {
		key, ok := keyer.matchKey(j.buf, i)
		j.buf = key
		chain, found := joinChain{}, false
		if ok {
			chain, found = j.table.heads[string(key)]
		}
		if !found {
			if keepUnmatched {
				if err := j.pair(rec, i, -1); err != nil {
					return err
				}
			}
			continue
		}
		for r := chain.first; r >= 0; r = j.table.next[r] {
			if j.table.matched != nil {
				j.table.matched[r] = true
			}
			if err := j.pair(rec, i, int64(r)); err != nil {
				return err
			}
		}
	}
	return j.flush(rec)
}

// pair queues one output row, writing a batch once joinBatchRows are queued.
func (j *joiner) pair(rec arrow.RecordBatch, l int, r int64) error {
	j.li = append(j.li, int64(l))
	j.ri = append(j.ri, r)
	if len(j.li) < joinBatchRows {
		return nil
	}
	if err := j.ctx.Err(); err != nil {
		return err
	}
	return j.flush(rec)
}

// flush writes the queued pairs of rec's rows as one batch.
func (j *joiner) flush(rec arrow.RecordBatch) error {
	n := len(j.li)
	if n == 0 {
		return nil
	}
	defer func() { j.li, j.ri = j.li[:0], j.ri[:0] }()
	cols := make([]arrow.Array, 0, j.plan.schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	identity := n == int(rec.NumRows())
	for i := 0; identity && i < n; i++ {
		identity = j.li[i] == int64(i)
	}
	var lidx arrow.Array
	if !identity {
		lidx = joinIndices(j.mem, j.li)
		defer lidx.Release()
	}
	for c, col := range rec.Columns() {
		var taken arrow.Array
		if identity {
			col.Retain()
			taken = col
		} else {
			var err error
			if taken, err = compute.TakeArray(j.cctx, col, lidx); err != nil {
				return fmt.Errorf("join: gather left column %q: %w", rec.Schema().Field(c).Name, err)
			}
		}
		if k := j.plan.leftIsKey[c]; k >= 0 && !arrow.TypeEqual(taken.DataType(), j.plan.outKeyType[k]) {
			cast, err := joinCast(j.cctx, taken, j.plan.outKeyType[k], rec.Schema().Field(c).Name)
			taken.Release()
			if err != nil {
				return err
			}
			taken = cast
		}
		cols = append(cols, taken)
	}
	ridx := joinIndices(j.mem, j.ri)
	defer ridx.Release()
	for _, c := range j.plan.rightCols {
		taken, err := j.takeRight(c, ridx)
		if err != nil {
			return err
		}
		cols = append(cols, taken)
	}
	return j.write(cols, n)
}

func (j *joiner) takeRight(c int, idx arrow.Array) (arrow.Array, error) {
	col := j.table.cols[c]
	if idx.NullN() == idx.Len() {
		return array.MakeArrayOfNull(j.mem, col.DataType(), idx.Len()), nil
	}
	taken, err := compute.TakeArray(j.cctx, col, idx)
	if err != nil {
		return nil, fmt.Errorf("join: gather right column %q: %w", j.plan.right.Field(c).Name, err)
	}
	return taken, nil
}

func (j *joiner) write(cols []arrow.Array, n int) error {
	out := array.NewRecordBatch(j.plan.schema, cols, int64(n))
	defer out.Release()
	if err := j.out.Write(out); err != nil {
		return err
	}
	j.written += int64(n)
	return nil
}

// flushUnmatchedRight writes the right rows no left row matched, with
// nulls on the left side except for the keys, which come from the right.
func (j *joiner) flushUnmatchedRight() error {
	var rows []int64
	for r, m := range j.table.matched {
		if r%joinBatchRows == 0 {
			if err := j.ctx.Err(); err != nil {
				return err
			}
		}
		if !m {
			rows = append(rows, int64(r))
		}
		if len(rows) == joinBatchRows || (r == len(j.table.matched)-1 && len(rows) > 0) {
			if err := j.writeRightOnly(rows); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	return nil
}

func (j *joiner) writeRightOnly(rows []int64) error {
	idx := joinIndices(j.mem, rows)
	defer idx.Release()
	n := len(rows)
	cols := make([]arrow.Array, 0, j.plan.schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for c, f := range j.plan.schema.Fields()[:len(j.plan.leftIsKey)] {
		k := j.plan.leftIsKey[c]
		if k < 0 {
			cols = append(cols, array.MakeArrayOfNull(j.mem, f.Type, n))
			continue
		}
		taken, err := j.takeRight(j.plan.rightKeys[k], idx)
		if err != nil {
			return err
		}
		if !arrow.TypeEqual(taken.DataType(), f.Type) {
			cast, err := joinCast(j.cctx, taken, f.Type, f.Name)
			taken.Release()
			if err != nil {
				return err
			}
			taken = cast
		}
		cols = append(cols, taken)
	}
	for _, c := range j.plan.rightCols {
		taken, err := j.takeRight(c, idx)
		if err != nil {
			return err
		}
		cols = append(cols, taken)
	}
	return j.write(cols, n)
}

func joinCast(ctx context.Context, col arrow.Array, to arrow.DataType, name string) (arrow.Array, error) {
	cast, err := compute.CastArray(ctx, col, compute.SafeCastOptions(to))
	if err != nil {
		return nil, fmt.Errorf("join: key column %q: values of type %s do not fit %s: %w", name, col.DataType(), to, err)
	}
	return cast, nil
}

// joinIndices returns rows as an Int64 array, -1 as null.
func joinIndices(mem memory.Allocator, rows []int64) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.Reserve(len(rows))
	for _, r := range rows {
		if r < 0 {
			b.UnsafeAppendBoolToBitmap(false)
		} else {
			b.UnsafeAppend(r)
		}
	}
	return b.NewArray()
}
