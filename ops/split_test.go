package ops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var splitSchema = schemaOf(
	field("id", arrow.PrimitiveTypes.Int64),
	field("class", arrow.BinaryTypes.String),
)

// splitClassOf is the class of row id in splitBatches' tables: a skewed
// mix of four classes and nulls ("" here).
func splitClassOf(id int64) string {
	switch h := (id * 2654435761) % 100; {
	case h < 60:
		return "a"
	case h < 85:
		return "b"
	case h < 95:
		return "c"
	case h < 99:
		return "d"
	}
	return ""
}

// splitBatches builds rows ids 0..n-1 in batches of the given size, with
// an empty batch in between.
func splitBatches(mem memory.Allocator, n, size int) []arrow.RecordBatch {
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(mem, splitSchema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if c := splitClassOf(int64(i)); c == "" {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(c)
		}
		if (i+1)%size == 0 || i == n-1 {
			recs = append(recs, b.NewRecordBatch())
			if len(recs) == 1 {
				recs = append(recs, b.NewRecordBatch()) // zero rows
			}
		}
	}
	return recs
}

// splitRun splits n rows given in batches of size; it returns the ids in
// train and in test.
func splitRun(t *testing.T, with map[string]any, n, size int) (train, test []int64) {
	t.Helper()
	te := newEnv(t, with)
	te.Task.Outputs = []string{"train", "test"}
	recs := splitBatches(te.mem, n, size)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	te.addInput(splitSchema, recs...)
	if err := te.run(splitOp()); err != nil {
		t.Fatal(err)
	}
	train, test = splitIDs(t, te.outputs["train"]), splitIDs(t, te.outputs["test"])
	if te.metrics["train_rows"] != int64(len(train)) || te.metrics["test_rows"] != int64(len(test)) {
		t.Fatalf("metrics %v, want %d and %d rows", te.metrics, len(train), len(test))
	}
	return train, test
}

func splitIDs(t *testing.T, c *collected) []int64 {
	t.Helper()
	if c == nil {
		t.Fatal("an output was not opened")
	}
	if !c.schema.Equal(splitSchema) {
		t.Fatalf("output schema %s", c.schema)
	}
	var ids []int64
	for _, r := range c.recs {
		if r.NumRows() > joinBatchRows || r.NumRows() == 0 {
			t.Fatalf("batch of %d rows", r.NumRows())
		}
		ids = append(ids, r.Column(0).(*array.Int64).Values()...)
	}
	return ids
}

// splitCheckPartition checks that train and test hold each of ids 0..n-1
// exactly once, each in increasing order.
func splitCheckPartition(t *testing.T, train, test []int64, n int) {
	t.Helper()
	if !slices.IsSorted(train) || !slices.IsSorted(test) {
		t.Fatal("outputs do not keep the input order")
	}
	all := slices.Sorted(slices.Values(append(slices.Clone(train), test...)))
	if len(all) != n {
		t.Fatalf("%d + %d rows, want %d", len(train), len(test), n)
	}
	for i, id := range all {
		if id != int64(i) {
			t.Fatalf("row %d is missing or repeated", i)
		}
	}
}

// splitWithin1 says whether got is within 1 of round(n*f).
func splitWithin1(got, n int, f float64) bool {
	return math.Abs(float64(got)-math.Round(float64(n)*f)) <= 1
}

func TestSplitFraction(t *testing.T) {
	for _, tc := range []struct {
		with map[string]any
		n    int
		f    float64
	}{
		{map[string]any{}, 1000, 0.2},
		{map[string]any{"test_fraction": 0.37, "seed": 9}, 997, 0.37},
		{map[string]any{"test_fraction": "0.5", "seed": "3"}, 11, 0.5},
		{map[string]any{"test_fraction": 0.01}, 50, 0.01},
		{map[string]any{"test_fraction": 0.99}, 1, 0.99},
	} {
		train, test := splitRun(t, tc.with, tc.n, 64)
		splitCheckPartition(t, train, test, tc.n)
		if !splitWithin1(len(test), tc.n, tc.f) {
			t.Errorf("with %v: %d test rows of %d", tc.with, len(test), tc.n)
		}
	}
}

func TestSplitDeterministic(t *testing.T) {
	_, a := splitRun(t, map[string]any{"seed": 42}, 5000, 333)
	_, b := splitRun(t, map[string]any{"seed": 42}, 5000, 1000) // batching does not matter
	_, c := splitRun(t, map[string]any{"seed": 43}, 5000, 333)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different splits")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same split")
	}
	// The split is random, not a fixed pattern: gaps between test rows vary.
	gaps := map[int64]bool{}
	for i := 1; i < len(a); i++ {
		gaps[a[i]-a[i-1]] = true
	}
	if len(gaps) < 4 {
		t.Fatalf("test rows come at %d distinct gaps", len(gaps))
	}
}

func TestSplitStratified(t *testing.T) {
	const n = 10_007
	for _, f := range []float64{0.2, 0.33, 0.5} {
		train, test := splitRun(t, map[string]any{"stratify": "class", "test_fraction": f, "seed": 7}, n, 999)
		splitCheckPartition(t, train, test, n)
		total, inTest := map[string]int{}, map[string]int{}
		for i := range int64(n) {
			total[splitClassOf(i)]++
		}
		for _, id := range test {
			inTest[splitClassOf(id)]++
		}
		if len(total) != 5 {
			t.Fatalf("fixture has %d classes", len(total))
		}
		for c, nc := range total {
			if !splitWithin1(inTest[c], nc, f) {
				t.Errorf("fraction %v, class %q: %d of %d rows in test", f, c, inTest[c], nc)
			}
		}
	}
}

func TestSplitKFold(t *testing.T) {
	const n, k = 10_003, 5
	for _, stratify := range []bool{false, true} {
		var tests [][]int64
		for fold := range k {
			with := map[string]any{"k": k, "fold": fold, "seed": 11}
			if stratify {
				with["stratify"] = "class"
			}
			train, test := splitRun(t, with, n, 777)
			splitCheckPartition(t, train, test, n)
			tests = append(tests, test)
		}
		seen := make([]int, n)
		for _, test := range tests {
			if math.Abs(float64(len(test))-float64(n)/k) > k {
				t.Errorf("stratify %v: fold of %d rows", stratify, len(test))
			}
			for _, id := range test {
				seen[id]++
			}
		}
		for id, s := range seen {
			if s != 1 {
				t.Fatalf("stratify %v: row %d is in %d test folds", stratify, id, s)
			}
		}
		if stratify {
			total := map[string]int{}
			for i := range int64(n) {
				total[splitClassOf(i)]++
			}
			for fold, test := range tests {
				inTest := map[string]int{}
				for _, id := range test {
					inTest[splitClassOf(id)]++
				}
				for c, nc := range total {
					if inTest[c] < nc/k || inTest[c] > (nc+k-1)/k {
						t.Errorf("fold %d, class %q: %d of %d rows", fold, c, inTest[c], nc)
					}
				}
			}
		}
	}
}

// TestSplitLarge streams 200k rows in many batches and checks the exact
// proportions, overall and per class, and that two seeds overlap about
// as much as independent draws.
func TestSplitLarge(t *testing.T) {
	const n = 200_000
	train, test := splitRun(t, map[string]any{"seed": 1, "test_fraction": 0.25}, n, 4_093)
	splitCheckPartition(t, train, test, n)
	if !splitWithin1(len(test), n, 0.25) {
		t.Fatalf("%d test rows of %d", len(test), n)
	}
	// Each stretch of the input is split in proportion too.
	var firstHalf int
	for _, id := range test {
		if id < n/2 {
			firstHalf++
		}
	}
	if math.Abs(float64(firstHalf)-n/2*0.25) > 1 {
		t.Fatalf("%d test rows in the first half", firstHalf)
	}
	_, other := splitRun(t, map[string]any{"seed": 2, "test_fraction": 0.25}, n, 4_093)
	inOther := map[int64]bool{}
	for _, id := range other {
		inOther[id] = true
	}
	var both int
	for _, id := range test {
		if inOther[id] {
			both++
		}
	}
	if share := float64(both) / float64(len(test)); share < 0.2 || share > 0.3 {
		t.Fatalf("two seeds share %.3f of their test rows, want about 0.25", share)
	}
	train, test = splitRun(t, map[string]any{"seed": 5, "stratify": "class", "test_fraction": 0.1}, n, 65_536+17)
	splitCheckPartition(t, train, test, n)
	total, inTest := map[string]int{}, map[string]int{}
	for i := range int64(n) {
		total[splitClassOf(i)]++
	}
	for _, id := range test {
		inTest[splitClassOf(id)]++
	}
	for c, nc := range total {
		if !splitWithin1(inTest[c], nc, 0.1) {
			t.Errorf("class %q: %d of %d rows in test", c, inTest[c], nc)
		}
	}
}

func TestSplitEmptyInput(t *testing.T) {
	for _, docs := range [][]string{nil, {`[]`}} {
		te := newEnv(t, map[string]any{"stratify": "class"})
		te.Task.Outputs = []string{"train", "test"}
		te.addJSONInput(splitSchema, docs...)
		if err := te.run(splitOp()); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"train", "test"} {
			if c := te.outputs[name]; c == nil || c.rows() != 0 || !c.schema.Equal(splitSchema) {
				t.Fatalf("output %s: %+v", name, c)
			}
		}
		if te.metrics["train_rows"] != int64(0) || te.metrics["test_rows"] != int64(0) {
			t.Fatalf("metrics %v", te.metrics)
		}
	}
}

func TestSplitOutputNames(t *testing.T) {
	doc := `[{"id":1,"class":"a"},{"id":2,"class":"a"},{"id":3,"class":"b"},{"id":4,"class":null}]`
	for _, tc := range []struct {
		outputs     []string
		train, test string
	}{
		{[]string{"test", "train"}, "train", "test"},
		{[]string{"fit", "holdout"}, "fit", "holdout"},
	} {
		te := newEnv(t, map[string]any{"test_fraction": 0.5})
		te.Task.Outputs = tc.outputs
		te.addJSONInput(splitSchema, doc)
		if err := te.run(splitOp()); err != nil {
			t.Fatal(err)
		}
		if tr, ts := te.outputs[tc.train], te.outputs[tc.test]; tr == nil || ts == nil || tr.rows()+ts.rows() != 4 || ts.rows() != 2 {
			t.Fatalf("outputs %v: %v", tc.outputs, te.outputs)
		}
	}
	te := newEnv(t, nil) // declares only "out"
	te.addJSONInput(splitSchema, doc)
	wantErr(t, te.run(splitOp()), "split writes two outputs, train and test, but the task declares 1 ([out])")
	if spec := splitOp().Spec; !slices.Equal(spec.Outputs, []string{"train", "test"}) {
		t.Fatalf("default outputs %v", spec.Outputs)
	}
}

func TestSplitBadWith(t *testing.T) {
	for _, tc := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{"test_fraction": 0}, "with.test_fraction: want a number between 0 and 1 (exclusive), got 0 (int)"},
		{map[string]any{"test_fraction": 1.0}, "with.test_fraction: want a number between 0 and 1"},
		{map[string]any{"test_fraction": -0.2}, "with.test_fraction: want a number between 0 and 1"},
		{map[string]any{"test_fraction": "most"}, "with.test_fraction: want a number between 0 and 1"},
		{map[string]any{"test_fraction": []any{0.2}}, "got a list"},
		{map[string]any{"test_fraction": 0.2, "k": 5, "fold": 0}, "with.test_fraction: not allowed with k"},
		{map[string]any{"seed": 1.5}, "with.seed: want a whole number"},
		{map[string]any{"k": 1, "fold": 0}, "with.k: want at least 2 folds, got 1"},
		{map[string]any{"k": "five", "fold": 0}, "with.k: want a whole number"},
		{map[string]any{"k": 5}, "with.fold is required with k"},
		{map[string]any{"fold": 1}, "with.fold needs with.k"},
		{map[string]any{"k": 5, "fold": 5}, "with.fold: want a fold from 0 to 4, got 5"},
		{map[string]any{"k": 5, "fold": -1}, "with.fold: want a fold from 0 to 4, got -1"},
		{map[string]any{"stratify": 3}, "with.stratify: want a string"},
		{map[string]any{"stratify": "label"}, `split: no stratify column "label" (available: id, class)`},
	} {
		te := newEnv(t, tc.with)
		te.Task.Outputs = []string{"train", "test"}
		te.addJSONInput(splitSchema, `[{"id":1,"class":"a"}]`)
		wantErr(t, te.run(splitOp()), tc.want)
	}
	s := schemaOf(field("l", arrow.ListOf(arrow.PrimitiveTypes.Int64)))
	te := newEnv(t, map[string]any{"stratify": "l"})
	te.Task.Outputs = []string{"train", "test"}
	te.addJSONInput(s, `[{"l":[1]}]`)
	wantErr(t, te.run(splitOp()), `stratify column "l" has type list`)
}

func TestSplitCancelled(t *testing.T) {
	te := newEnv(t, nil)
	te.Task.Outputs = []string{"train", "test"}
	te.addJSONInput(splitSchema, `[{"id":1,"class":"a"}]`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := splitOp().Run(ctx, te.Env); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestSplitRNG pins the generator's sequence, so that a seed keeps
// giving the same split across releases.
func TestSplitRNG(t *testing.T) {
	r := splitRNG{s: 0}
	got := fmt.Sprintf("%x %x", r.next(), r.next())
	if got != "e220a8397b1dcdaf 6e789e6aa1b965f4" {
		t.Fatalf("SplitMix64(0) = %s", got)
	}
	counts := make([]int, 3)
	for range 3000 {
		counts[r.intn(3)]++
	}
	for i, c := range counts {
		if c < 900 || c > 1100 {
			t.Fatalf("intn(3) gave %d %d times in 3000", i, c)
		}
	}
}
