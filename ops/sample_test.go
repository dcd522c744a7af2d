package ops

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestSampleSmall(t *testing.T) {
	all := "ann|31|1.5\nbob|17|(null)\n(null)|(null)|3\ncid|45|-2\ndee|18|0.25"
	for _, tc := range []struct {
		with map[string]any
		want string // "" for no rows, "subset" for some rows
		rows int64
	}{
		{map[string]any{"n": 5}, all, 5},
		{map[string]any{"n": 99, "seed": 4}, all, 5},
		{map[string]any{"n": 0}, "", 0},
		{map[string]any{"fraction": 1}, all, 5},
		{map[string]any{"fraction": 0.0}, "", 0},
		{map[string]any{"n": 3, "seed": 1}, "subset", 3},
		{map[string]any{"n": "2", "seed": "9"}, "subset", 2},
	} {
		te := newEnv(t, tc.with)
		te.addJSONInput(peopleSchema, people1, people2)
		if err := te.run(sampleOp()); err != nil {
			t.Fatal(err)
		}
		got := te.table()
		if te.out().rows() != tc.rows || tc.want != "subset" && got != tc.want {
			t.Errorf("%v: %d rows:\n%s", tc.with, te.out().rows(), got)
		}
		if !te.out().schema.Equal(peopleSchema) {
			t.Errorf("schema %s", te.out().schema)
		}
		if tc.want == "subset" && !sampleInOrder(all, got) {
			t.Errorf("%v: rows not a subset in input order:\n%s", tc.with, got)
		}
	}
}

// sampleInOrder says whether the lines of sub are lines of all, in order.
func sampleInOrder(all, sub string) bool {
	lines := strings.Split(all, "\n")
	k := 0
	for _, l := range strings.Split(sub, "\n") {
		for k < len(lines) && lines[k] != l {
			k++
		}
		if k == len(lines) {
			return false
		}
		k++
	}
	return true
}

func TestSampleEmpty(t *testing.T) {
	for _, with := range []map[string]any{{"n": 3}, {"fraction": 0.5}} {
		for _, docs := range [][]string{nil, {"[]"}, {"[]", "[]"}} {
			te := newEnv(t, with)
			te.addJSONInput(peopleSchema, docs...)
			if err := te.run(sampleOp()); err != nil {
				t.Fatal(err)
			}
			if te.out().rows() != 0 || !te.out().schema.Equal(peopleSchema) {
				t.Fatalf("%v %v: %d rows", with, docs, te.out().rows())
			}
		}
	}
}

func TestSampleErrors(t *testing.T) {
	for _, tc := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{"n": 1, "fraction": 0.5}, "give either n (a row count) or fraction (0 to 1), not both"},
		{map[string]any{"seed": 1}, "sample needs n (a row count) or fraction (0 to 1)"},
		{map[string]any{"fraction": 1.5}, "with.fraction: want a number from 0 to 1, got 1.5 (float64)"},
		{map[string]any{"fraction": -0.1}, "with.fraction: want a number from 0 to 1"},
		{map[string]any{"fraction": "half"}, "with.fraction: want a number from 0 to 1, got half (string)"},
		{map[string]any{"fraction": []any{0.5}}, "with.fraction: want a number from 0 to 1, got a list"},
		{map[string]any{"n": -1}, "with.n: want 0 or more rows, got -1"},
		{map[string]any{"n": 2.5}, "with.n: want a whole number"},
		{map[string]any{"n": 2, "seed": "abc"}, "with.seed: want a whole number"},
	} {
		te := newEnv(t, tc.with)
		te.addJSONInput(peopleSchema, people1)
		wantErr(t, te.run(sampleOp()), tc.want)
	}
}

// sampleRun samples a genInput of rows rows in batches of batch rows and
// checks every output row; it returns the sampled i values.
func sampleRun(t *testing.T, with map[string]any, rows, batch int) []int64 {
	t.Helper()
	te := newEnv(t, with)
	genInput(te, rows, batch)
	if err := te.run(sampleOp()); err != nil {
		t.Fatal(err)
	}
	got := genInts(te, "i")
	k := 0
	for _, rec := range te.out().recs {
		for r := range int(rec.NumRows()) {
			genCheckRow(t, rec, r, got[k], 0, 1, 2)
			k++
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("%v: sampled rows are not distinct and in input order", with)
	}
	if te.metrics["rows_in"] != int64(rows) || te.metrics["rows_out"] != int64(len(got)) {
		t.Fatalf("metrics %v", te.metrics)
	}
	return got
}

func TestSampleFractionLarge(t *testing.T) {
	const rows = 200_000
	got := sampleRun(t, map[string]any{"fraction": 0.3, "seed": 7}, rows, 3_000)
	// The same draws, one per row in input order.
	rng := rand.New(rand.NewPCG(7, sampleStream))
	var want []int64
	for i := range int64(rows) {
		if rng.Float64() < 0.3 {
			want = append(want, i)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sampled %d rows, want %d", len(got), len(want))
	}
	if len(got) < 58_000 || len(got) > 62_000 {
		t.Fatalf("kept %d of %d rows at 0.3", len(got), rows)
	}
	// Batch boundaries do not matter; the seed does.
	if again := sampleRun(t, map[string]any{"fraction": 0.3, "seed": 7}, rows, 777); !slices.Equal(again, got) {
		t.Fatal("other batches gave other rows")
	}
	if other := sampleRun(t, map[string]any{"fraction": 0.3, "seed": 8}, rows, 3_000); slices.Equal(other, got) {
		t.Fatal("another seed gave the same rows")
	}
}

// sampleReference is Algorithm R over rows 0..rows-1 with the op's
// random numbers.
func sampleReference(n, rows, seed int64) []int64 {
	rng := rand.New(rand.NewPCG(uint64(seed), sampleStream))
	var res []int64
	for i := range rows {
		if i < n {
			res = append(res, i)
		} else if j := rng.Int64N(i + 1); j < n {
			res[j] = i
		}
	}
	slices.Sort(res)
	return res
}

func TestSampleReservoirLarge(t *testing.T) {
	const rows = 200_000
	for _, tc := range []struct {
		n, batch int
		seed     int64
	}{
		{1, 3_000, 0},
		{1_000, 3_000, 3}, // held batches pass 2n+64k rows: compacted
		{1_000, 50, 3},    // many batches per compaction
		{50_000, 7_000, 5},
		{199_999, 10_000, 6},
		{250_000, 3_000, 1}, // more than the input: every row
	} {
		got := sampleRun(t, map[string]any{"n": tc.n, "seed": tc.seed}, rows, tc.batch)
		want := sampleReference(int64(tc.n), rows, tc.seed)
		if !slices.Equal(got, want) {
			t.Fatalf("n %d batch %d: sampled %d rows, want %d", tc.n, tc.batch, len(got), len(want))
		}
		if tc.n == 1_000 {
			var sum int64
			for _, v := range got {
				sum += v
			}
			// A uniform sample's mean is 100k give or take 1.8k.
			if mean := sum / int64(len(got)); mean < 92_000 || mean > 108_000 {
				t.Fatalf("mean of sampled rows %d", mean)
			}
		}
	}
}

// TestSampleReservoirBounded checks that the reservoir holds few rows
// beyond the sample however the input is batched.
func TestSampleReservoirBounded(t *testing.T) {
	const n = 1_000
	te := newEnv(t, nil)
	genInput(te, 200_000, 3_000)
	rr, err := te.Inputs[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	r := &reservoir{ctx: context.Background(), mem: te.mem, schema: genSchema, n: n, rng: rand.New(rand.NewPCG(3, sampleStream))}
	defer r.release()
	compactions := 0
	for rr.Next() {
		before := len(r.pieces)
		if err := r.add(rr.RecordBatch()); err != nil {
			t.Fatal(err)
		}
		if len(r.pieces) < before {
			compactions++
		}
		if r.held > 2*n+sampleSlack+3_000 || int64(len(r.pieces)) > 2*n+1024+1 {
			t.Fatalf("after %d rows the reservoir holds %d rows in %d batches", r.seen, r.held, len(r.pieces))
		}
	}
	if compactions == 0 {
		t.Fatal("the reservoir was never compacted")
	}
	if err := r.compact(); err != nil {
		t.Fatal(err)
	}
	if len(r.pieces) != 1 || r.pieces[0].rec.NumRows() != n {
		t.Fatalf("compacted to %d batches", len(r.pieces))
	}
}
