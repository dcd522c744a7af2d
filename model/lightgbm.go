package model

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// LightGBM's text model, as Booster.save_model("model.txt") writes it:
//
//	tree
//	version=v4
//	num_class=1
//	num_tree_per_iteration=1
//	label_index=0
//	max_feature_idx=2
//	objective=binary sigmoid:1
//	feature_names=a b c
//	feature_infos=[0:1] [-2:3] none
//	tree_sizes=412 398
//
//	Tree=0
//	num_leaves=3
//	num_cat=0
//	split_feature=0 2
//	threshold=0.5 1.0000000180025095e-35
//	decision_type=2 10
//	left_child=-1 -2
//	right_child=1 -3
//	leaf_value=-0.2 0.1 0.3
//	... (split_gain, leaf_weight, leaf_count, internal_*, is_linear, shrinkage)
//
//	Tree=1
//	...
//	end of trees
//
//	feature_importances: / parameters: ... (ignored)
//
// A tree of num_leaves L has L-1 splits, node 0 its root; a child c ≥ 0 is
// split c, a child c < 0 is leaf ^c (-1 is leaf 0). Leaf values already
// include the learning rate. decision_type's bits: 1 categorical, 2
// default left, and bits 2-3 the missing type (0 None: NaN is read as 0; 1
// Zero: NaN is read as 0 and zeros take the default side; 2 NaN: NaN takes
// the default side). A row goes left when its value is at most the
// threshold. Tree i adds to output i mod num_tree_per_iteration; the sums
// (divided by the number of iterations if average_output) go through the
// objective's transform.

// lgbMaxTreeKeys bounds the key=value lines of one tree (LightGBM writes
// at most 22).
const lgbMaxTreeKeys = 64

// lgbObjective is how a LightGBM objective turns sums into predictions.
type lgbObjective struct {
	kind      Kind
	transform outputTransform
	multi     bool
	sigmoid   bool // takes a sigmoid: parameter
}

// lgbObjectives lists the objectives Load reads, with LightGBM's aliases.
var lgbObjectives = map[string]lgbObjective{
	"regression":           {Regressor, outIdentity, false, false},
	"regression_l1":        {Regressor, outIdentity, false, false},
	"huber":                {Regressor, outIdentity, false, false},
	"fair":                 {Regressor, outIdentity, false, false},
	"quantile":             {Regressor, outIdentity, false, false},
	"mape":                 {Regressor, outIdentity, false, false},
	"poisson":              {Regressor, outExp, false, false},
	"gamma":                {Regressor, outExp, false, false},
	"tweedie":              {Regressor, outExp, false, false},
	"binary":               {Binary, outSigmoid, false, true},
	"cross_entropy":        {Regressor, outSigmoid, false, false},
	"cross_entropy_lambda": {Regressor, outSoftplus, false, false},
	"multiclass":           {Multiclass, outSoftmax, true, false},
	"multiclassova":        {Multiclass, outSigmoid, true, true},
}

// lgbAliases maps other names of an objective to the one above.
var lgbAliases = map[string]string{
	"regression_l2": "regression", "l2": "regression", "mean_squared_error": "regression",
	"mse": "regression", "l2_root": "regression", "root_mean_squared_error": "regression",
	"rmse": "regression", "l1": "regression_l1", "mean_absolute_error": "regression_l1",
	"mae": "regression_l1", "mean_absolute_percentage_error": "mape", "xentropy": "cross_entropy",
	"xentlambda": "cross_entropy_lambda", "softmax": "multiclass", "multiclass_ova": "multiclassova",
	"ova": "multiclassova", "ovr": "multiclassova",
}

// loadLightGBM reads a LightGBM text model.
func loadLightGBM(data []byte, sig *Signature) (Model, error) {
	m, err := readLightGBM(string(data), sig)
	if err != nil {
		return nil, badTree(FormatLightGBM, err)
	}
	return m, nil
}

// lgbLines reads a text line by line, without splitting it all at once.
type lgbLines struct {
	s    string
	pos  int
	line int
}

// next returns the next line without its line ending, or false at the end.
func (r *lgbLines) next() (string, bool) {
	if r.pos >= len(r.s) {
		return "", false
	}
	rest := r.s[r.pos:]
	i := strings.IndexByte(rest, '\n')
	if i < 0 {
		i = len(rest)
		r.pos = len(r.s)
	} else {
		r.pos += i + 1
	}
	r.line++
	return strings.TrimSuffix(rest[:i], "\r"), true
}

func readLightGBM(text string, sig *Signature) (*TreeEnsemble, error) {
	r := &lgbLines{s: text}
	if first, _ := r.next(); strings.TrimSpace(first) != "tree" {
		return nil, errors.New(`not a LightGBM text model: the first line is not "tree"`)
	}
	header := map[string]string{}
	var line string
	for {
		l, ok := r.next()
		if !ok {
			return nil, errors.New("the file ends before its trees")
		}
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "Tree=") || l == "end of trees" {
			line = l
			break
		}
		key, val, _ := strings.Cut(l, "=")
		if _, dup := header[key]; dup {
			return nil, fmt.Errorf("line %d: %s is given twice", r.line, key)
		}
		header[key] = val
	}
	h, err := lgbReadHeader(header)
	if err != nil {
		return nil, err
	}

	b := forestBuilder{features: h.features, outputs: h.outputs}
	trees := 0
	for line != "end of trees" {
		want := "Tree=" + strconv.Itoa(trees)
		if line != want {
			return nil, fmt.Errorf("line %d: %q where %q or \"end of trees\" was expected", r.line, lgbShort(line), want)
		}
		kv := map[string]string{}
		for {
			l, ok := r.next()
			if !ok || l == "" {
				break
			}
			key, val, found := strings.Cut(l, "=")
			if !found {
				return nil, fmt.Errorf("line %d: %q is not key=value", r.line, lgbShort(l))
			}
			if _, dup := kv[key]; dup {
				return nil, fmt.Errorf("tree %d: %s is given twice", trees, key)
			}
			if len(kv) == lgbMaxTreeKeys {
				return nil, fmt.Errorf("tree %d: over %d lines", trees, lgbMaxTreeKeys)
			}
			kv[key] = val
		}
		if trees >= maxTrees {
			return nil, fmt.Errorf("over %d trees", maxTrees)
		}
		if err := lgbAddTree(&b, kv, trees%h.outputs); err != nil {
			return nil, fmt.Errorf("tree %d: %w", trees, err)
		}
		trees++
		line = ""
		for line == "" {
			l, ok := r.next()
			if !ok {
				return nil, errors.New(`the file ends before "end of trees": truncated?`)
			}
			line = l
		}
	}
	if h.treeSizes >= 0 && h.treeSizes != trees {
		return nil, fmt.Errorf("tree_sizes lists %d trees; the file has %d", h.treeSizes, trees)
	}
	if trees%h.outputs != 0 {
		return nil, fmt.Errorf("%d trees is not a whole number of iterations of %d trees", trees, h.outputs)
	}
	scale := 1.0
	if h.average && trees > 0 {
		scale = 1 / float64(trees/h.outputs)
	}
	s, err := treeSignature(h.names, h.features, h.obj.kind, h.outputs, sig)
	if err != nil {
		return nil, err
	}
	return &TreeEnsemble{
		sig: s, format: FormatLightGBM, objective: h.objective,
		nodes: b.nodes, roots: b.roots, groups: b.groups,
		base: make([]float64, h.outputs), scale: scale, rule: ruleLightGBM,
		transform: h.obj.transform, sigmoid: h.sigmoid,
	}, nil
}

// lgbHeader is what the header of a LightGBM model says.
type lgbHeader struct {
	features  int
	outputs   int
	names     []string
	objective string
	obj       lgbObjective
	sigmoid   float64
	average   bool
	treeSizes int // entries of tree_sizes, -1 if absent
}

func lgbReadHeader(kv map[string]string) (lgbHeader, error) {
	h := lgbHeader{sigmoid: 1, treeSizes: -1}
	if v, ok := kv["version"]; ok && v != "v2" && v != "v3" && v != "v4" {
		return h, fmt.Errorf("version %q; this reads v2 to v4", lgbShort(v))
	}
	classes, err := lgbInt(kv, "num_class", 1, maxTreeClasses)
	if err != nil {
		return h, err
	}
	h.outputs = classes
	if _, ok := kv["num_tree_per_iteration"]; ok {
		if h.outputs, err = lgbInt(kv, "num_tree_per_iteration", 1, maxTreeClasses); err != nil {
			return h, err
		}
	}
	maxIdx, err := lgbInt(kv, "max_feature_idx", 0, maxTreeFeatures-1)
	if err != nil {
		return h, err
	}
	h.features = maxIdx + 1
	names, ok := kv["feature_names"]
	if !ok {
		return h, errors.New("no feature_names")
	}
	h.names = strings.Fields(names)
	if len(h.names) != h.features {
		return h, fmt.Errorf("%d feature_names for max_feature_idx %d", len(h.names), maxIdx)
	}
	_, h.average = kv["average_output"]
	if sizes, ok := kv["tree_sizes"]; ok {
		h.treeSizes = 0
		for f := range strings.FieldsSeq(sizes) {
			if _, err := strconv.ParseUint(f, 10, 63); err != nil {
				return h, fmt.Errorf("tree_sizes: %q is not a size", lgbShort(f))
			}
			h.treeSizes++
		}
	}

	h.objective = strings.TrimSpace(kv["objective"])
	tokens := strings.Fields(h.objective)
	if len(tokens) == 0 || tokens[0] == "custom" {
		// No objective: the raw sums, as LightGBM predicts them.
		if h.outputs != 1 {
			return h, fmt.Errorf("no objective with %d trees per iteration", h.outputs)
		}
		h.obj = lgbObjective{kind: Regressor, transform: outIdentity}
		return h, nil
	}
	name := tokens[0]
	if alias, ok := lgbAliases[name]; ok {
		name = alias
	}
	obj, ok := lgbObjectives[name]
	if !ok {
		return h, fmt.Errorf("objective %q is not supported", lgbShort(tokens[0]))
	}
	h.obj = obj
	paramClasses := 0
	for _, t := range tokens[1:] {
		key, val, _ := strings.Cut(t, ":")
		switch {
		case key == "sqrt" && name == "regression":
			h.obj.transform = outSignedSquare
		case key == "sigmoid" && obj.sigmoid:
			s, err := strconv.ParseFloat(val, 64)
			if err != nil || !(s > 0) || math.IsInf(s, 0) {
				return h, fmt.Errorf("objective: sigmoid %q is not a positive number", lgbShort(val))
			}
			h.sigmoid = s
		case key == "num_class" && obj.multi:
			n, err := strconv.Atoi(val)
			if err != nil {
				return h, fmt.Errorf("objective: num_class %q is not a number", lgbShort(val))
			}
			paramClasses = n
		default:
			return h, fmt.Errorf("objective: unknown parameter %q", lgbShort(t))
		}
	}
	if obj.multi {
		if classes < 2 || h.outputs != classes || (paramClasses != 0 && paramClasses != classes) {
			return h, fmt.Errorf("objective %s with num_class %d and %d trees per iteration", name, classes, h.outputs)
		}
	} else if classes != 1 || h.outputs != 1 {
		return h, fmt.Errorf("objective %s with num_class %d and %d trees per iteration", name, classes, h.outputs)
	}
	return h, nil
}

// lgbAddTree checks one tree's key=value lines and adds it to output
// group.
func lgbAddTree(b *forestBuilder, kv map[string]string, group int) error {
	leaves, err := lgbInt(kv, "num_leaves", 1, (maxTreeNodes+1)/2)
	if err != nil {
		return err
	}
	if v, ok := kv["num_cat"]; ok && strings.TrimSpace(v) != "0" {
		return errors.New("categorical splits are not supported")
	}
	if v, ok := kv["is_linear"]; ok && strings.TrimSpace(v) != "0" {
		return errors.New("linear trees are not supported")
	}
	values, err := lgbFloats(kv, "leaf_value", leaves, true)
	if err != nil {
		return err
	}
	if leaves == 1 {
		return b.add(1, 0, group, func(int) (rawNode, error) {
			return rawNode{leaf: true, value: values[0]}, nil
		})
	}
	splits := leaves - 1
	features, err := lgbInts(kv, "split_feature", splits, true)
	if err != nil {
		return err
	}
	thresholds, err := lgbFloats(kv, "threshold", splits, false)
	if err != nil {
		return err
	}
	lefts, err := lgbInts(kv, "left_child", splits, true)
	if err != nil {
		return err
	}
	rights, err := lgbInts(kv, "right_child", splits, true)
	if err != nil {
		return err
	}
	types, err := lgbInts(kv, "decision_type", splits, false)
	if err != nil {
		return err
	}
	// Splits are nodes 0..splits-1, leaf j is node splits+j.
	child := func(c int) (int, error) {
		if c >= 0 && c < splits {
			return c, nil
		}
		if c < 0 && ^c < leaves {
			return splits + ^c, nil
		}
		return 0, fmt.Errorf("child %d is out of range (%d splits, %d leaves)", c, splits, leaves)
	}
	return b.add(splits+leaves, 0, group, func(i int) (rawNode, error) {
		if i >= splits {
			return rawNode{leaf: true, value: values[i-splits]}, nil
		}
		left, err := child(lefts[i])
		if err != nil {
			return rawNode{}, err
		}
		right, err := child(rights[i])
		if err != nil {
			return rawNode{}, err
		}
		var flags uint8
		if types != nil {
			dt := types[i]
			if dt < 0 || dt > 15 {
				return rawNode{}, fmt.Errorf("decision_type %d is not understood", dt)
			}
			if dt&1 != 0 {
				return rawNode{}, errors.New("categorical splits are not supported")
			}
			if dt&2 != 0 {
				flags |= flagDefaultLeft
			}
			switch dt >> 2 {
			case 1:
				flags |= flagMissingZero
			case 2:
				flags |= flagMissingNaN
			case 3:
				return rawNode{}, fmt.Errorf("decision_type %d has an unknown missing type", dt)
			}
		}
		return rawNode{value: thresholds[i], feature: features[i], left: left, right: right, flags: flags}, nil
	})
}

// lgbInt parses a key's integer value within [lo, hi].
func lgbInt(kv map[string]string, key string, lo, hi int) (int, error) {
	v, ok := kv[key]
	if !ok {
		return 0, fmt.Errorf("no %s", key)
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", key, lgbShort(v))
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s is %d; want %d to %d", key, n, lo, hi)
	}
	return n, nil
}

// lgbFields calls parse on each of the n space-separated values of key,
// after checking that the line can hold them (so that n, already bounded,
// is also bounded by the data before anything is allocated).
func lgbFields(kv map[string]string, key string, n int, required bool, parse func(i int, s string) error) (bool, error) {
	v, ok := kv[key]
	if !ok {
		if required {
			return false, fmt.Errorf("no %s", key)
		}
		return false, nil
	}
	if len(v) < 2*n-1 {
		return false, fmt.Errorf("%s is too short for %d values", key, n)
	}
	i := 0
	for f := range strings.FieldsSeq(v) {
		if i == n {
			return false, fmt.Errorf("%s has more than %d values", key, n)
		}
		if err := parse(i, f); err != nil {
			return false, fmt.Errorf("%s: %w", key, err)
		}
		i++
	}
	if i != n {
		return false, fmt.Errorf("%s has %d values; want %d", key, i, n)
	}
	return true, nil
}

// lgbInts parses n integers; nil if the key is absent and not required.
func lgbInts(kv map[string]string, key string, n int, required bool) ([]int, error) {
	if _, ok := kv[key]; !ok && !required {
		return nil, nil
	}
	out := make([]int, 0, min(n, len(kv[key])/2+1))
	_, err := lgbFields(kv, key, n, required, func(_ int, s string) error {
		x, err := strconv.Atoi(s)
		if err != nil || x < math.MinInt32 || x > math.MaxInt32 {
			return fmt.Errorf("%q is not an integer", lgbShort(s))
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// lgbFloats parses n numbers, finite ones for leaf values (leaf true),
// any but NaN for thresholds.
func lgbFloats(kv map[string]string, key string, n int, leaf bool) ([]float64, error) {
	out := make([]float64, 0, min(n, len(kv[key])/2+1))
	_, err := lgbFields(kv, key, n, true, func(_ int, s string) error {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || (leaf && math.IsInf(x, 0)) {
			return fmt.Errorf("%q is not a usable number", lgbShort(s))
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// lgbShort cuts a string quoted in an error message.
func lgbShort(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
