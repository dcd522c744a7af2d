package ops

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/forged-dev/forged/dag"
)

// splitOp is the split operator: a seeded train/test or k-fold split.
func splitOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "split",
		Description: "Splits rows at random, seeded by `seed`, into the outputs train and test: " +
			"`test_fraction` of them (default 0.2) go to test, per class of `stratify` if given, or with " +
			"`k` and `fold` the rows of fold `fold` of k.",
		MinInputs: 1, MaxInputs: 1,
		Optional: []string{"test_fraction", "seed", "stratify", "k", "fold"},
		Outputs:  []string{"train", "test"},
	}, Run: runSplit}
}

// splitConfig is a split's parsed `with`.
type splitConfig struct {
	fraction float64
	seed     uint64
	stratify string
	k, fold  int // k is 0 without k-fold
}

func splitConfigOf(w with) (splitConfig, error) {
	c := splitConfig{fraction: 0.2}
	if v, ok := w["test_fraction"]; ok && v != nil {
		if _, kfold := w["k"]; kfold {
			return c, errors.New("with.test_fraction: not allowed with k, where the test output is one fold of k")
		}
		f, ok := aggNumber(v)
		if !ok || !(f > 0 && f < 1) {
			return c, fmt.Errorf("with.test_fraction: want a number between 0 and 1 (exclusive), got %s", describeValue(v))
		}
		c.fraction = f
	}
	seed, err := w.int("seed", 0)
	if err != nil {
		return c, err
	}
	c.seed = uint64(seed)
	if c.stratify, _, err = w.str("stratify"); err != nil {
		return c, err
	}
	if c.k, err = w.int("k", 0); err != nil {
		return c, err
	}
	_, hasK := w["k"]
	_, hasFold := w["fold"]
	switch {
	case hasK && c.k < 2:
		return c, fmt.Errorf("with.k: want at least 2 folds, got %d", c.k)
	case hasK && !hasFold:
		return c, errors.New("with.fold is required with k: the fold (0 to k-1) that goes to test")
	case hasFold && !hasK:
		return c, errors.New("with.fold needs with.k, the number of folds")
	case hasK:
		if c.fold, err = w.int("fold", 0); err != nil {
			return c, err
		}
		if c.fold < 0 || c.fold >= c.k {
			return c, fmt.Errorf("with.fold: want a fold from 0 to %d, got %d", c.k-1, c.fold)
		}
	}
	return c, nil
}

// splitOutputs returns the names of the train and test outputs: train
// and test if the task declares them, else its two outputs in order.
func splitOutputs(env *Env) (train, test string, err error) {
	if env.Task == nil || len(env.Task.Outputs) == 0 {
		return "train", "test", nil
	}
	outs := env.Task.Outputs
	switch {
	case len(outs) == 2 && slices.Contains(outs, "train") && slices.Contains(outs, "test"):
		return "train", "test", nil
	case len(outs) == 2:
		return outs[0], outs[1], nil
	}
	return "", "", fmt.Errorf("split writes two outputs, train and test, but the task declares %d (%v)", len(outs), outs)
}

// splitRNG is SplitMix64: small, fast, and the same sequence for a seed
// on every platform and Go version.
type splitRNG struct{ s uint64 }

func (r *splitRNG) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a number in [0, 1).
func (r *splitRNG) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a number in [0, n).
func (r *splitRNG) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// splitClass is the running state of one class (all rows without stratify).
type splitClass struct {
	rows, tests int64
	folds       []int // k-fold: this round's shuffled folds
	pos         int   // next index into folds
}

// splitter decides, row by row, whether a row goes to test.
//
// With a fraction f, each class runs a randomized error diffusion: with
// e = tests - rows*f before the row, the row goes to test with probability
// f - e (clamped to [0, 1]). That keeps |e| < 1 after every row, so each
// class's test count ends within 1 of round(n*f), while which rows go is
// random. With k folds, each class deals its rows to the folds in rounds
// of k, each round in a fresh random order, so every fold of a class gets
// floor(n/k) or ceil(n/k) of its rows.
type splitter struct {
	cfg     splitConfig
	rng     splitRNG
	classes map[string]*splitClass
}

func (s *splitter) class(key []byte) *splitClass {
	c := s.classes[string(key)]
	if c == nil {
		c = &splitClass{}
		s.classes[string(key)] = c
	}
	return c
}

func (s *splitter) toTest(c *splitClass) bool {
	if s.cfg.k > 0 {
		if c.pos == len(c.folds) {
			if c.folds == nil {
				c.folds = make([]int, s.cfg.k)
				for i := range c.folds {
					c.folds[i] = i
				}
			}
			for i := len(c.folds) - 1; i > 0; i-- {
				j := s.rng.intn(i + 1)
				c.folds[i], c.folds[j] = c.folds[j], c.folds[i]
			}
			c.pos = 0
		}
		fold := c.folds[c.pos]
		c.pos++
		return fold == s.cfg.fold
	}
	e := float64(c.tests) - float64(c.rows)*s.cfg.fraction
	p := math.Min(math.Max(s.cfg.fraction-e, 0), 1)
	test := s.rng.float() < p
	c.rows++
	if test {
		c.tests++
	}
	return test
}

func runSplit(ctx context.Context, env *Env) error {
	cfg, err := splitConfigOf(withOf(env))
	if err != nil {
		return err
	}
	trainName, testName, err := splitOutputs(env)
	if err != nil {
		return err
	}
	rr, err := input(env, 0)
	if err != nil {
		return err
	}
	defer rr.Release()
	schema := rr.Schema()
	strat := -1
	if cfg.stratify != "" {
		found := schema.FieldIndices(cfg.stratify)
		if len(found) == 0 {
			return fmt.Errorf("split: no stratify column %q (available: %s)", cfg.stratify, columnNames(schema))
		}
		strat = found[0]
		if dt := schema.Field(strat).Type; !keyable(dt) {
			return fmt.Errorf("split: stratify column %q has type %s, which cannot be grouped into classes", cfg.stratify, dt)
		}
	}
	if env.Output == nil {
		return errors.New("no output writer")
	}
	train, err := env.Output(trainName, schema)
	if err != nil {
		return fmt.Errorf("open output %s: %w", trainName, err)
	}
	test, err := env.Output(testName, schema)
	if err != nil {
		return fmt.Errorf("open output %s: %w", testName, err)
	}
	sp := &splitter{cfg: cfg, rng: splitRNG{s: cfg.seed}, classes: map[string]*splitClass{}}
	cctx := compute.WithAllocator(ctx, env.Mem)
	var trainRows, testRows int64
	var key []byte
	mask := make([]bool, 0, joinBatchRows)
	_, err = each(ctx, rr, func(rec arrow.RecordBatch) error {
		for start := int64(0); start < rec.NumRows(); start += joinBatchRows {
			part := rec.NewSlice(start, min(start+joinBatchRows, rec.NumRows()))
			var keyer rowKeyer
			if strat >= 0 {
				if keyer, err = newRowKeyer([]arrow.Array{part.Column(strat)}, nil); err != nil {
					part.Release()
					return fmt.Errorf("split: stratify column %q: %w", cfg.stratify, err)
				}
			}
			mask = mask[:0]
			var nTest int64
			for i := range int(part.NumRows()) {
				if keyer != nil {
					key = keyer.groupKey(key, i)
				}
				c := sp.class(key) // key stays empty without stratify
				t := sp.toTest(c)
				mask = append(mask, t)
				if t {
					nTest++
				}
			}
			err := splitWrite(cctx, part, mask, nTest, train, test)
			part.Release()
			if err != nil {
				return err
			}
			testRows += nTest
			trainRows += part.NumRows() - nTest
		}
		return nil
	})
	if err != nil {
		return err
	}
	logf(env, "split: %d rows to %s, %d to %s, %d classes", trainRows, trainName, testRows, testName, len(sp.classes))
	metric(env, "train_rows", trainRows)
	metric(env, "test_rows", testRows)
	return nil
}

// splitWrite writes the rows of part where mask is true to test, the
// others to train.
func splitWrite(ctx context.Context, part arrow.RecordBatch, mask []bool, nTest int64, train, test RecordWriter) error {
	switch nTest {
	case 0:
		return train.Write(part)
	case part.NumRows():
		return test.Write(part)
	}
	for _, toTest := range []bool{false, true} {
		b := array.NewBooleanBuilder(compute.GetAllocator(ctx))
		b.Reserve(len(mask))
		for _, t := range mask {
			b.UnsafeAppend(t == toTest)
		}
		sel := b.NewArray()
		b.Release()
		out, err := compute.FilterRecordBatch(ctx, part, sel, compute.DefaultFilterOptions())
		sel.Release()
		if err != nil {
			return fmt.Errorf("split: %w", err)
		}
		w := train
		if toTest {
			w = test
		}
		err = w.Write(out)
		out.Release()
		if err != nil {
			return err
		}
	}
	return nil
}
