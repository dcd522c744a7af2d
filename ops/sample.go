package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

// sampleStream is the second PCG seed word, fixed so that a seed alone
// decides the rows.
const sampleStream = 0x5a4d_504c_45_6f7073

// sampleSlack is how many rows beyond twice n the reservoir may hold in
// partly sampled batches before it copies the sampled rows out.
const sampleSlack = 64 << 10

func sampleOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "sample",
		Description: "Keeps a random sample of the rows: exactly `n` of them (reservoir sampling, in input order) or " +
			"each row with probability `fraction` (streaming); the same `seed` (default 0) and input give the same rows.",
		MinInputs: 1, MaxInputs: 1,
		Optional: []string{"n", "fraction", "seed"},
	}, Run: runSample}
}

// sampleArgs reads exactly one of with.n and with.fraction, and with.seed.
// n is -1 when fraction is used.
func sampleArgs(w with) (n int64, fraction float64, seed int64, err error) {
	hasN, hasF := w["n"] != nil, w["fraction"] != nil
	switch {
	case hasN && hasF:
		return 0, 0, 0, errors.New("with: give either n (a row count) or fraction (0 to 1), not both")
	case !hasN && !hasF:
		return 0, 0, 0, errors.New("with: sample needs n (a row count) or fraction (0 to 1)")
	}
	s, err := w.int("seed", 0)
	if err != nil {
		return 0, 0, 0, err
	}
	if hasN {
		ni, err := w.int("n", 0)
		if err != nil {
			return 0, 0, 0, err
		}
		if ni < 0 {
			return 0, 0, 0, fmt.Errorf("with.n: want 0 or more rows, got %d", ni)
		}
		return int64(ni), 0, int64(s), nil
	}
	v := w["fraction"]
	bad := fmt.Errorf("with.fraction: want a number from 0 to 1, got %s", describeValue(v))
	switch x := v.(type) {
	case float64:
		fraction = x
	case int:
		fraction = float64(x)
	case int64:
		fraction = float64(x)
	case string:
		if fraction, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, 0, 0, bad
		}
	default:
		return 0, 0, 0, bad
	}
	if math.IsNaN(fraction) || fraction < 0 || fraction > 1 {
		return 0, 0, 0, bad
	}
	return -1, fraction, int64(s), nil
}

func runSample(ctx context.Context, env *Env) error {
	n, fraction, seed, err := sampleArgs(withOf(env))
	if err != nil {
		return err
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	out, err := output(env, rr.Schema())
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), sampleStream))
	var seen, kept int64
	if n < 0 {
		seen, kept, err = sampleFraction(ctx, env, rr, out, rng, fraction)
	} else {
		seen, kept, err = sampleReservoir(ctx, env, rr, out, rng, n)
	}
	if err != nil {
		return err
	}
	logf(env, "sample: kept %d of %d rows", kept, seen)
	metric(env, "rows_in", seen)
	metric(env, "rows_out", kept)
	return nil
}

// sampleFraction keeps each row with probability fraction, drawing one
// number per row in input order.
func sampleFraction(ctx context.Context, env *Env, rr array.RecordReader, out RecordWriter, rng *rand.Rand, fraction float64) (seen, kept int64, err error) {
	cctx := compute.WithAllocator(ctx, env.Mem)
	seen, err = each(ctx, rr, func(rec arrow.RecordBatch) error {
		rows := int(rec.NumRows())
		if rows == 0 {
			return nil
		}
		b := array.NewBooleanBuilder(env.Mem)
		defer b.Release()
		b.Reserve(rows)
		keep := 0
		for range rows {
			k := rng.Float64() < fraction
			if k {
				keep++
			}
			b.UnsafeAppend(k)
		}
		kept += int64(keep)
		switch keep {
		case 0:
			return nil
		case rows:
			return out.Write(rec)
		}
		mask := b.NewBooleanArray()
		defer mask.Release()
		sel, err := compute.FilterRecordBatch(cctx, rec, mask, compute.DefaultFilterOptions())
		if err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		defer sel.Release()
		return out.Write(sel)
	})
	return seen, kept, err
}

// sampleReservoir keeps n rows chosen uniformly (Algorithm R) and writes
// them in input order.
func sampleReservoir(ctx context.Context, env *Env, rr array.RecordReader, out RecordWriter, rng *rand.Rand, n int64) (seen, kept int64, err error) {
	if n == 0 {
		return 0, 0, nil // nothing to keep: the input need not be read
	}
	r := &reservoir{ctx: ctx, mem: env.Mem, schema: rr.Schema(), n: n, rng: rng}
	defer r.release()
	seen, err = each(ctx, rr, r.add)
	if err != nil {
		return seen, 0, err
	}
	if err := r.compact(); err != nil {
		return seen, 0, err
	}
	if len(r.pieces) == 0 {
		return seen, 0, nil
	}
	all := r.pieces[0].rec
	for lo := int64(0); lo < all.NumRows(); lo += defaultBatchRows {
		part := all.NewSlice(lo, min(lo+defaultBatchRows, all.NumRows()))
		err := out.Write(part)
		part.Release()
		if err != nil {
			return seen, 0, err
		}
	}
	return seen, all.NumRows(), nil
}

// reservoir holds the sampled rows where they arrived: in the batches
// that hold at least one of them. When those hold too many unsampled rows
// it copies the sampled ones into one batch.
type reservoir struct {
	ctx    context.Context
	mem    memory.Allocator
	schema *arrow.Schema
	n      int64
	rng    *rand.Rand
	seen   int64
	pieces []reservoirPiece
	slots  []reservoirSlot
	held   int64 // rows of the pieces still held
}

// reservoirPiece is a held batch and how many of its rows are sampled;
// rec is nil once none is.
type reservoirPiece struct {
	rec  arrow.RecordBatch
	live int64
}

// reservoirSlot is one sampled row: its place in the input and where it
// is held.
type reservoirSlot struct {
	global     int64
	piece, row int
}

func (r *reservoir) add(rec arrow.RecordBatch) error {
	rows := rec.NumRows()
	if rows == 0 {
		return nil
	}
	p := len(r.pieces)
	r.pieces = append(r.pieces, reservoirPiece{rec: rec})
	for i := range rows {
		g := r.seen + i
		if g < r.n {
			r.slots = append(r.slots, reservoirSlot{g, p, int(i)})
			r.pieces[p].live++
			continue
		}
		j := r.rng.Int64N(g + 1)
		if j >= r.n {
			continue
		}
		old := r.slots[j].piece
		r.slots[j] = reservoirSlot{g, p, int(i)}
		r.pieces[p].live++
		if r.pieces[old].live--; r.pieces[old].live == 0 && old != p {
			r.held -= r.pieces[old].rec.NumRows()
			r.pieces[old].rec.Release()
			r.pieces[old].rec = nil
		}
	}
	r.seen += rows
	if r.pieces[p].live == 0 {
		r.pieces = r.pieces[:p]
		return nil
	}
	rec.Retain()
	r.held += rows
	if r.held > 2*r.n+sampleSlack || int64(len(r.pieces)) > 2*r.n+1024 {
		return r.compact()
	}
	return nil
}

// compact copies the sampled rows, in input order, into one batch.
func (r *reservoir) compact() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if len(r.slots) == 0 || len(r.pieces) == 1 && r.pieces[0].live == r.pieces[0].rec.NumRows() {
		return nil
	}
	order := make([]int, len(r.slots))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(r.slots[a].global, r.slots[b].global) })
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	var rows []int64
	for k := 0; k < len(order); {
		piece := r.slots[order[k]].piece
		rows = rows[:0]
		for ; k < len(order) && r.slots[order[k]].piece == piece; k++ {
			rows = append(rows, int64(r.slots[order[k]].row))
		}
		rec := r.pieces[piece].rec
		part, err := sortTake(r.ctx, r.mem, r.schema, rec.Columns(), rows)
		if err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		parts = append(parts, part)
	}
	all, err := sampleConcat(r.mem, r.schema, parts)
	if err != nil {
		return err
	}
	r.release()
	r.pieces = []reservoirPiece{{rec: all, live: all.NumRows()}}
	for rank, s := range order {
		r.slots[s].piece, r.slots[s].row = 0, rank
	}
	r.held = all.NumRows()
	return nil
}

func (r *reservoir) release() {
	for _, p := range r.pieces {
		if p.rec != nil {
			p.rec.Release()
		}
	}
	r.pieces = nil
}

// sampleConcat joins batches of one schema into one.
func sampleConcat(mem memory.Allocator, schema *arrow.Schema, parts []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(parts) == 1 {
		parts[0].Retain()
		return parts[0], nil
	}
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
	}
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	chunks := make([]arrow.Array, len(parts))
	for j := range schema.NumFields() {
		for i, p := range parts {
			chunks[i] = p.Column(j)
		}
		c, err := array.Concatenate(chunks, mem)
		if err != nil {
			return nil, fmt.Errorf("sample: column %q: %w", schema.Field(j).Name, err)
		}
		cols = append(cols, c)
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}
