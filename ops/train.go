package ops

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/model"
)

// maxTrainClasses bounds the distinct labels of a classifier: more
// suggests a label column that is not a class (an ID, a measurement).
const maxTrainClasses = 1000

func trainLinearOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "train_linear",
		Description: "Fits a linear regression of `label` on `features` (default: every number and bool column " +
			"but the label) by least squares, with an optional `ridge` penalty; outputs the model.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"label"},
		Optional: []string{"features", "ridge", "fit_intercept", "drop_nulls"},
	}, Run: runTrainLinear}
}

func trainLogisticOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "train_logistic",
		Description: "Fits a logistic regression (binary, or multinomial softmax for 3 or more classes) of the " +
			"class `label` (int, bool or string) on `features`, with an `l2` penalty; outputs the model.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"label"},
		Optional: []string{"features", "l2", "max_iter", "tol", "drop_nulls"},
	}, Run: runTrainLogistic}
}

func trainKMeansOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: "train_kmeans",
		Description: "Clusters the rows into `k` clusters by k-means (k-means++ start from `seed`) over " +
			"`features` (default: every number and bool column); outputs the model.",
		MinInputs: 1, MaxInputs: 1,
		Required: []string{"k"},
		Optional: []string{"features", "seed", "max_iter", "tol", "drop_nulls"},
	}, Run: runTrainKMeans}
}

func runTrainLinear(ctx context.Context, env *Env) error {
	w := withOf(env)
	ridge, err := trainFloat(w, "ridge", 0)
	if err != nil {
		return err
	}
	if ridge < 0 {
		return fmt.Errorf("with.ridge: want a number ≥ 0, got %v", ridge)
	}
	intercept, err := w.bool("fit_intercept", true)
	if err != nil {
		return err
	}
	set, err := readTrainSet(ctx, env, "train_linear", trainNumericLabel)
	if err != nil {
		return err
	}
	m, rep, err := model.TrainLinear(set.x, set.n, len(set.features), set.y,
		model.LinearOptions{Ridge: ridge, FitIntercept: intercept, Features: set.features})
	if err != nil {
		return fmt.Errorf("train_linear: %w", err)
	}
	return writeTrained(env, "train_linear", m, rep, set)
}

func runTrainLogistic(ctx context.Context, env *Env) error {
	w := withOf(env)
	l2, err := trainFloat(w, "l2", 1e-4)
	if err != nil {
		return err
	}
	maxIter, err := w.int("max_iter", 500)
	if err != nil {
		return err
	}
	tol, err := trainFloat(w, "tol", 1e-6)
	if err != nil {
		return err
	}
	if l2 < 0 || maxIter < 1 || tol <= 0 {
		return fmt.Errorf("train_logistic: want l2 ≥ 0, max_iter ≥ 1 and tol > 0; got %v, %d and %v", l2, maxIter, tol)
	}
	set, err := readTrainSet(ctx, env, "train_logistic", trainClassLabel)
	if err != nil {
		return err
	}
	m, rep, err := model.TrainLogistic(set.x, set.n, len(set.features), set.labels, len(set.classes),
		model.LogisticOptions{L2: l2, MaxIter: maxIter, Tol: tol, Features: set.features, Classes: set.classes, Context: ctx})
	if err != nil {
		return fmt.Errorf("train_logistic: %w", err)
	}
	if rep.Metrics["converged"] == false {
		logf(env, "train_logistic: stopped at max_iter %d before converging", maxIter)
	}
	return writeTrained(env, "train_logistic", m, rep, set)
}

func runTrainKMeans(ctx context.Context, env *Env) error {
	w := withOf(env)
	k, err := w.int("k", 0)
	if err != nil {
		return err
	}
	if k < 1 {
		return fmt.Errorf("with.k: want a number of clusters ≥ 1, got %d", k)
	}
	seed, err := w.int("seed", 0)
	if err != nil {
		return err
	}
	maxIter, err := w.int("max_iter", 300)
	if err != nil {
		return err
	}
	tol, err := trainFloat(w, "tol", 1e-9)
	if err != nil {
		return err
	}
	if maxIter < 1 || tol <= 0 {
		return fmt.Errorf("train_kmeans: want max_iter ≥ 1 and tol > 0; got %d and %v", maxIter, tol)
	}
	set, err := readTrainSet(ctx, env, "train_kmeans", trainNoLabel)
	if err != nil {
		return err
	}
	m, rep, err := model.TrainKMeans(set.x, set.n, len(set.features), k,
		model.KMeansOptions{Seed: int64(seed), MaxIter: maxIter, Tol: tol, Features: set.features, Context: ctx})
	if err != nil {
		return fmt.Errorf("train_kmeans: %w", err)
	}
	return writeTrained(env, "train_kmeans", m, rep, set)
}

// trainedModel is what the trainers return.
type trainedModel interface {
	model.Model
	Encode() ([]byte, error)
}

// writeTrained writes the model as the task's output and its training
// metrics as the task's metrics.
func writeTrained(env *Env, op string, m trainedModel, rep model.TrainReport, set *trainSet) error {
	data, err := m.Encode()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := WriteModelOutput(env, dag.DefaultOutput, NewModelArtifact(model.FormatForged, m.Signature(), data)); err != nil {
		return err
	}
	names := make([]string, 0, len(rep.Metrics))
	for name := range rep.Metrics {
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		metric(env, name, rep.Metrics[name])
		parts = append(parts, fmt.Sprintf("%s=%v", name, rep.Metrics[name]))
	}
	metric(env, "rows_dropped", set.dropped)
	logf(env, "%s: %d rows (%d dropped for nulls), %d features; %s", op, set.n, set.dropped, len(set.features), strings.Join(parts, " "))
	return nil
}

// trainFloat returns with.key as a finite number, or def when absent.
func trainFloat(w with, key string, def float64) (float64, error) {
	v, ok := w[key]
	if !ok || v == nil {
		return def, nil
	}
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case uint64:
		f = float64(n)
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return 0, fmt.Errorf("with.%s: want a number, got %s", key, describeValue(v))
		}
		f = p
	default:
		return 0, fmt.Errorf("with.%s: want a number, got %s", key, describeValue(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("with.%s: want a finite number, got %v", key, f)
	}
	return f, nil
}

// trainLabelMode says what a trainer wants of the label column.
type trainLabelMode int

const (
	trainNoLabel      trainLabelMode = iota // no label (clustering)
	trainNumericLabel                       // a number (regression)
	trainClassLabel                         // a class: int, bool or string
)

// trainSet is a training table read into memory.
type trainSet struct {
	features []model.Feature
	x        []float64 // n rows of len(features) values
	n        int
	y        []float64 // trainNumericLabel: the targets
	classes  []string  // trainClassLabel: the classes in sorted order
	labels   []int     // trainClassLabel: each row's class
	dropped  int64     // rows skipped for a null (drop_nulls)
}

// trainNumeric says whether a column can be a feature (or a regression
// target): the types model.FeatureColumns accepts.
func trainNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.FLOAT64, arrow.FLOAT32, arrow.INT64, arrow.INT32, arrow.INT16, arrow.INT8,
		arrow.UINT64, arrow.UINT32, arrow.UINT16, arrow.UINT8, arrow.BOOL:
		return true
	}
	return false
}

// readTrainSet reads the op's input into memory: the feature columns
// (with.features, else every number and bool column but the label) and
// the label (with.label) as mode wants it. A null, NaN or infinity is an
// error naming its column and row, unless with.drop_nulls skips its row.
func readTrainSet(ctx context.Context, env *Env, op string, mode trainLabelMode) (*trainSet, error) {
	w := withOf(env)
	label := ""
	if mode != trainNoLabel {
		var err error
		if label, err = w.required("label"); err != nil {
			return nil, err
		}
	}
	names, err := w.strings("features", "column names", nil)
	if err != nil {
		return nil, err
	}
	dropNulls, err := w.bool("drop_nulls", false)
	if err != nil {
		return nil, err
	}
	rr, err := input(env, 0)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	schema := rr.Schema()

	labelCol := -1
	var classes *trainClassDict
	if mode != trainNoLabel {
		idx := schema.FieldIndices(label)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: with.label: no column %q (available: %s)", op, label, columnNames(schema))
		}
		labelCol = idx[0]
		t := schema.Field(labelCol).Type
		if mode == trainNumericLabel && !trainNumeric(t) {
			return nil, fmt.Errorf("%s: label column %q is %s; want numbers or booleans", op, label, t)
		}
		if mode == trainClassLabel {
			if classes, err = newTrainClassDict(t); err != nil {
				return nil, fmt.Errorf("%s: label column %q %w", op, label, err)
			}
		}
	}
	if names == nil {
		for _, f := range schema.Fields() {
			if f.Name != label && trainNumeric(f.Type) {
				names = append(names, f.Name)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: the input has no number or bool columns to use as features (columns: %s)", op, columnNames(schema))
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("with.features: want a list of column names, got an empty list")
	}
	set := &trainSet{}
	for _, name := range names {
		if name == label {
			return nil, fmt.Errorf("%s: with.features: %q is the label", op, name)
		}
		if slices.ContainsFunc(set.features, func(f model.Feature) bool { return f.Name == name }) {
			return nil, fmt.Errorf("%s: with.features: column %q is listed twice", op, name)
		}
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: with.features: no column %q (available: %s)", op, name, columnNames(schema))
		}
		t := schema.Field(idx[0]).Type
		if !trainNumeric(t) {
			return nil, fmt.Errorf("%s: feature column %q is %s; want numbers or booleans", op, name, t)
		}
		typ := "float"
		if t.ID() == arrow.BOOL {
			typ = "bool"
		}
		set.features = append(set.features, model.Feature{Name: name, Type: typ})
	}
	cols, err := model.FeatureColumns(schema, model.Signature{Features: set.features})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}

	d := len(cols)
	var row int64 // rows of the input before this batch
	_, err = each(ctx, rr, func(rec arrow.RecordBatch) error {
		base := len(set.x)
		set.x = model.AppendRows(set.x, rec, cols)
		var lab arrow.Array
		var ys []float64
		if labelCol >= 0 {
			lab = rec.Column(labelCol)
			if mode == trainNumericLabel {
				ys = model.AppendRows(nil, rec, []int{labelCol})
			}
		}
		kept := base
		for i := 0; i < int(rec.NumRows()); i++ {
			vals := set.x[base+i*d : base+(i+1)*d]
			bad := ""
			if j := slices.IndexFunc(vals, trainMissing); j >= 0 {
				bad = set.features[j].Name
			}
			var y float64
			var class int
			if bad == "" && lab != nil {
				ok := true
				switch mode {
				case trainNumericLabel:
					y = ys[i]
					ok = !trainMissing(y)
				case trainClassLabel:
					var cerr error
					if class, ok, cerr = classes.add(lab, i); cerr != nil {
						return fmt.Errorf("%s: label column %q %w", op, label, cerr)
					}
				}
				if !ok {
					bad = label
				}
			}
			if bad != "" {
				if dropNulls {
					set.dropped++
					continue
				}
				return fmt.Errorf("%s: column %q is null (or NaN or infinite) at row %d; set drop_nulls: true to skip such rows",
					op, bad, row+int64(i)+1)
			}
			copy(set.x[kept:kept+d], vals)
			kept += d
			set.n++
			switch mode {
			case trainNumericLabel:
				set.y = append(set.y, y)
			case trainClassLabel:
				set.labels = append(set.labels, class)
			}
		}
		set.x = set.x[:kept]
		row += rec.NumRows()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if set.n == 0 {
		if set.dropped > 0 {
			return nil, fmt.Errorf("%s: every one of the %d rows has a null", op, set.dropped)
		}
		return nil, fmt.Errorf("%s: the input has no rows", op)
	}
	if mode == trainClassLabel {
		set.classes = classes.finish(set.labels)
		if len(set.classes) < 2 {
			return nil, fmt.Errorf("%s: label column %q has the single value %q; a classifier needs at least 2 classes",
				op, label, set.classes[0])
		}
	}
	return set, nil
}

// trainMissing says whether a value read by model.AppendRows cannot be
// trained on: a null (NaN) or an infinity.
func trainMissing(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// trainClassDict collects the distinct values of a class label column.
type trainClassDict struct {
	typ  arrow.Type
	ids  map[string]int // value → provisional class (order of appearance)
	keys []string       // provisional class → value
}

func newTrainClassDict(t arrow.DataType) (*trainClassDict, error) {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.BOOL, arrow.STRING, arrow.LARGE_STRING:
		return &trainClassDict{typ: t.ID(), ids: map[string]int{}}, nil
	}
	return nil, fmt.Errorf("is %s; a class label is an int, bool or string column", t)
}

// add returns the provisional class of row i of col; ok is false for a
// null.
func (c *trainClassDict) add(col arrow.Array, i int) (class int, ok bool, err error) {
	key, ok := classKey(col, i)
	if !ok {
		return 0, false, nil
	}
	id, seen := c.ids[key]
	if !seen {
		if len(c.keys) == maxTrainClasses {
			return 0, false, fmt.Errorf("has more than %d distinct values; is it really a class label?", maxTrainClasses)
		}
		id = len(c.keys)
		c.ids[key] = id
		c.keys = append(c.keys, key)
	}
	return id, true, nil
}

// finish sorts the classes (numbers by value, false before true, strings
// by bytes), renumbers labels to match, and returns the class names.
func (c *trainClassDict) finish(labels []int) []string {
	order := make([]int, len(c.keys)) // sorted position → provisional class
	for i := range order {
		order[i] = i
	}
	less := func(a, b string) bool { return a < b }
	switch c.typ {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		less = func(a, b string) bool {
			x, _ := strconv.ParseInt(a, 10, 64)
			y, _ := strconv.ParseInt(b, 10, 64)
			return x < y
		}
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		less = func(a, b string) bool {
			x, _ := strconv.ParseUint(a, 10, 64)
			y, _ := strconv.ParseUint(b, 10, 64)
			return x < y
		}
	}
	sort.Slice(order, func(i, j int) bool { return less(c.keys[order[i]], c.keys[order[j]]) })
	remap := make([]int, len(order))
	names := make([]string, len(order))
	for pos, id := range order {
		remap[id] = pos
		names[pos] = c.keys[id]
	}
	for i, l := range labels {
		labels[i] = remap[l]
	}
	return names
}

// classKey renders row i of a label column as a class name: integers in
// decimal, booleans as false and true, floats in the shortest decimal
// form, strings as they are; ok is false for a null (or NaN).
func classKey(col arrow.Array, i int) (string, bool) {
	if col.IsNull(i) {
		return "", false
	}
	switch a := col.(type) {
	case *array.String:
		return a.Value(i), true
	case *array.LargeString:
		return a.Value(i), true
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i)), true
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10), true
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10), true
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10), true
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10), true
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10), true
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10), true
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10), true
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10), true
	case *array.Float32:
		v := float64(a.Value(i))
		return strconv.FormatFloat(v, 'g', -1, 32), !math.IsNaN(v)
	case *array.Float64:
		v := a.Value(i)
		return strconv.FormatFloat(v, 'g', -1, 64), !math.IsNaN(v)
	}
	return col.ValueStr(i), true
}
