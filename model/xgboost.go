package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// XGBoost's JSON model, as Booster.save_model("model.json") writes it
// (XGBoost 1.0 and later):
//
//	{"learner": {
//	   "feature_names": [...], "feature_types": [...],
//	   "learner_model_param": {"base_score": "5E-1", "num_class": "0", "num_feature": "4", "num_target": "1", ...},
//	   "objective": {"name": "binary:logistic", ...},
//	   "gradient_booster": {"name": "gbtree", "model": {
//	       "gbtree_model_param": {"num_trees": "10", ...},
//	       "tree_info": [0, 0, ...],          // output group (class) of each tree
//	       "trees": [{"tree_param": {"num_nodes": "7", ...},
//	                  "left_children": [1, 3, -1, ...], "right_children": [...],
//	                  "split_indices": [...], "split_conditions": [...],
//	                  "default_left": [1, 0, ...], "split_type": [0, ...], ...}, ...]}}},
//	 "version": [1, 7, 4]}
//
// Node 0 is a tree's root; a node whose left child is -1 is a leaf, and its
// output is in split_conditions (base_weights holds the weight before the
// learning rate). A split sends a row left when its feature, read as a
// float32, is below split_conditions, and a missing value (NaN) to the left
// when default_left is set. A dart booster wraps the model in "gbtree" and
// scales tree i by weight_drop[i]. The margin of an output is base_score
// (converted from a probability to a margin for logistic objectives, or to
// a log for exp-link ones) plus its trees' sum; the objective's transform
// then gives the prediction.

// xgbFile is the part of an XGBoost JSON model that prediction needs.
type xgbFile struct {
	Learner *struct {
		FeatureNames    []string               `json:"feature_names"`
		GradientBooster *xgbBooster            `json:"gradient_booster"`
		Param           *xgbLearnParam         `json:"learner_model_param"`
		Objective       *struct{ Name string } `json:"objective"`
	} `json:"learner"`
	Version xgbArray[int64] `json:"version"`
}

type xgbLearnParam struct {
	BaseScore  xgbText `json:"base_score"`
	NumClass   xgbText `json:"num_class"`
	NumFeature xgbText `json:"num_feature"`
	NumTarget  xgbText `json:"num_target"`
}

type xgbBooster struct {
	Name   string     `json:"name"`
	Model  *xgbForest `json:"model"`
	GBTree *struct {
		Model *xgbForest `json:"model"`
	} `json:"gbtree"`
	WeightDrop xgbArray[float64] `json:"weight_drop"`
}

type xgbForest struct {
	Param *struct {
		NumTrees       xgbText `json:"num_trees"`
		SizeLeafVector xgbText `json:"size_leaf_vector"`
	} `json:"gbtree_model_param"`
	Trees      xgbTreeList       `json:"trees"`
	TreeInfo   xgbArray[int64]   `json:"tree_info"`
	WeightDrop xgbArray[float64] `json:"weight_drop"`
}

type xgbTree struct {
	Param *struct {
		NumNodes       xgbText `json:"num_nodes"`
		SizeLeafVector xgbText `json:"size_leaf_vector"`
	} `json:"tree_param"`
	Left            xgbArray[int32]   `json:"left_children"`
	Right           xgbArray[int32]   `json:"right_children"`
	SplitIndices    xgbArray[int64]   `json:"split_indices"`
	SplitConditions xgbArray[float32] `json:"split_conditions"`
	DefaultLeft     xgbFlags          `json:"default_left"`
	SplitType       xgbArray[int32]   `json:"split_type"`
	CategoriesNodes xgbArray[int32]   `json:"categories_nodes"`
}

// xgbText is a parameter XGBoost writes as a string ("5E-1"); a bare
// number is taken too.
type xgbText string

// UnmarshalJSON reads a JSON string or number.
func (s *xgbText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = xgbText(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*s = xgbText(n)
	return nil
}

// xgbArray is a JSON array of numbers with at most maxTreeNodes entries,
// counted before anything is allocated: the memory it takes is bounded by
// that and by the bytes it is read from.
type xgbArray[T int8 | int32 | int64 | float32 | float64] []T

// UnmarshalJSON reads the array after checking its length.
func (a *xgbArray[T]) UnmarshalJSON(b []byte) error {
	if err := xgbCheckLen(b); err != nil {
		return err
	}
	var v []T
	if bytes.IndexByte(b, '"') < 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*a = v
		return nil
	}
	// Non-finite numbers, quoted by xgbQuoteNonFinite.
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	v = make([]T, len(raw))
	for i, r := range raw {
		var x float64
		switch string(r) {
		case `"NaN"`:
			x = math.NaN()
		case `"Infinity"`:
			x = math.Inf(1)
		case `"-Infinity"`:
			x = math.Inf(-1)
		default:
			if err := json.Unmarshal(r, &v[i]); err != nil {
				return err
			}
			continue
		}
		switch p := any(&v[i]).(type) {
		case *float32:
			*p = float32(x)
		case *float64:
			*p = x
		default:
			return fmt.Errorf("%s where an integer belongs", r)
		}
	}
	*a = v
	return nil
}

// xgbQuoteNonFinite quotes the NaN, Infinity and -Infinity that XGBoost
// writes as bare words (not JSON), e.g. as the split_conditions of
// categorical splits, so that the file parses; xgbArray reads them back.
// It copies data only if it has any.
func xgbQuoteNonFinite(data []byte) []byte {
	var out []byte
	last := 0 // data[last:] is not yet copied to out
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		var word string
		start := i
		switch {
		case c == '"':
			inString = true
			continue
		case c == 'N' && bytes.HasPrefix(data[i:], []byte("NaN")):
			word = "NaN"
		case c == 'I' && bytes.HasPrefix(data[i:], []byte("Infinity")):
			word = "Infinity"
			if i > 0 && (data[i-1] == '-' || data[i-1] == '+') {
				start = i - 1
				if data[i-1] == '-' {
					word = "-Infinity"
				}
			}
		default:
			continue
		}
		end := i + len(strings.TrimLeft(word, "-"))
		out = append(out, data[last:start]...)
		out = append(out, '"')
		out = append(out, word...)
		out = append(out, '"')
		last, i = end, end-1
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// xgbCheckLen bounds the entries of an array of numbers or booleans by
// its commas.
func xgbCheckLen(b []byte) error {
	if n := bytes.Count(b, []byte{','}); n >= maxTreeNodes {
		return fmt.Errorf("an array of over %d entries", maxTreeNodes)
	}
	return nil
}

// xgbTreeList is the trees array, read one tree at a time so that a file
// of many tiny trees stops at maxTrees.
type xgbTreeList []xgbTree

// UnmarshalJSON reads at most maxTrees trees.
func (l *xgbTreeList) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		if tok == nil && err == nil {
			return nil // null
		}
		return errors.New("trees is not an array")
	}
	var trees []xgbTree
	for dec.More() {
		if len(trees) == maxTrees {
			return fmt.Errorf("over %d trees", maxTrees)
		}
		var t xgbTree
		if err := dec.Decode(&t); err != nil {
			return err
		}
		trees = append(trees, t)
	}
	*l = trees
	return nil
}

// xgbFlags is default_left: numbers 0/1 (XGBoost 1.x and later) or
// booleans.
type xgbFlags []bool

// UnmarshalJSON reads an array of 0/1 numbers or of booleans.
func (f *xgbFlags) UnmarshalJSON(b []byte) error {
	if err := xgbCheckLen(b); err != nil {
		return err
	}
	var ints []int8
	if err := json.Unmarshal(b, &ints); err == nil {
		out := make([]bool, len(ints))
		for i, v := range ints {
			if v != 0 && v != 1 {
				return fmt.Errorf("default_left value %d; want 0 or 1", v)
			}
			out[i] = v == 1
		}
		*f = out
		return nil
	}
	var bools []bool
	if err := json.Unmarshal(b, &bools); err != nil {
		return errors.New("default_left is not an array of 0/1 or booleans")
	}
	*f = bools
	return nil
}

// xgbObjective is how an XGBoost objective turns margins into predictions.
type xgbObjective struct {
	kind      Kind
	transform outputTransform
	multi     bool                           // one output per class
	base      func(float64) (float64, error) // base_score to margin
}

func xgbIdentity(b float64) (float64, error) { return b, nil }

// xgbLogit is logistic objectives' ProbToMargin (base_score clamped into
// (0, 1) as XGBoost does).
func xgbLogit(b float64) (float64, error) {
	const eps = 1e-6
	b = min(max(b, eps), 1-eps)
	return math.Log(b / (1 - b)), nil
}

// xgbLog is exp-link objectives' ProbToMargin.
func xgbLog(b float64) (float64, error) {
	if b <= 0 {
		return 0, fmt.Errorf("base_score %v must be positive for this objective", b)
	}
	return math.Log(b), nil
}

// xgbObjectives lists the objectives Load reads. binary:logitraw gives the
// margin (a regressor's output); multi:softmax gives class probabilities,
// like multi:softprob, rather than the likeliest class.
var xgbObjectives = map[string]xgbObjective{
	"reg:squarederror":     {Regressor, outIdentity, false, xgbIdentity},
	"reg:linear":           {Regressor, outIdentity, false, xgbIdentity},
	"reg:squaredlogerror":  {Regressor, outIdentity, false, xgbIdentity},
	"reg:pseudohubererror": {Regressor, outIdentity, false, xgbIdentity},
	"reg:absoluteerror":    {Regressor, outIdentity, false, xgbIdentity},
	"reg:quantileerror":    {Regressor, outIdentity, false, xgbIdentity},
	"reg:logistic":         {Regressor, outSigmoid, false, xgbLogit},
	"binary:logistic":      {Binary, outSigmoid, false, xgbLogit},
	"binary:logitraw":      {Regressor, outIdentity, false, xgbIdentity},
	"binary:hinge":         {Binary, outStep, false, xgbIdentity},
	"count:poisson":        {Regressor, outExp, false, xgbLog},
	"reg:gamma":            {Regressor, outExp, false, xgbLog},
	"reg:tweedie":          {Regressor, outExp, false, xgbLog},
	"multi:softprob":       {Multiclass, outSoftmax, true, xgbIdentity},
	"multi:softmax":        {Multiclass, outSoftmax, true, xgbIdentity},
}

// loadXGBoost reads an XGBoost JSON model.
func loadXGBoost(data []byte, sig *Signature) (Model, error) {
	m, err := readXGBoost(data, sig)
	if err != nil {
		return nil, badTree(FormatXGBoost, err)
	}
	return m, nil
}

func readXGBoost(data []byte, sig *Signature) (*TreeEnsemble, error) {
	dec := json.NewDecoder(bytes.NewReader(xgbQuoteNonFinite(data)))
	var f xgbFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("malformed XGBoost JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the model object")
	}
	l := f.Learner
	if l == nil || l.Param == nil || l.Objective == nil || l.GradientBooster == nil {
		return nil, errors.New(`not an XGBoost JSON model: no "learner" with its parameters, objective and booster`)
	}
	if len(f.Version) == 0 || f.Version[0] < 1 {
		return nil, errors.New(`no "version" of 1.0 or later`)
	}
	obj, ok := xgbObjectives[l.Objective.Name]
	if !ok {
		return nil, fmt.Errorf("objective %q is not supported", l.Objective.Name)
	}

	d, err := xgbInt("num_feature", l.Param.NumFeature, 1, maxTreeFeatures)
	if err != nil {
		return nil, err
	}
	classes, err := xgbInt("num_class", l.Param.NumClass, 0, maxTreeClasses)
	if err != nil {
		return nil, err
	}
	if l.Param.NumTarget != "" {
		targets, err := xgbInt("num_target", l.Param.NumTarget, 1, maxTreeClasses)
		if err != nil {
			return nil, err
		}
		if targets != 1 {
			return nil, fmt.Errorf("%d targets: multi-target models are not supported", targets)
		}
	}
	outputs := 1
	if obj.multi {
		if classes < 2 {
			return nil, fmt.Errorf("objective %s with num_class %d", l.Objective.Name, classes)
		}
		outputs = classes
	} else if classes > 1 {
		return nil, fmt.Errorf("objective %s with num_class %d", l.Objective.Name, classes)
	}
	base, err := xgbBase(l.Param.BaseScore, outputs, obj.base)
	if err != nil {
		return nil, err
	}

	forest, weights, err := xgbTrees(l.GradientBooster)
	if err != nil {
		return nil, err
	}
	b := forestBuilder{features: d, outputs: outputs}
	for t := range forest.Trees {
		w := 1.0
		if t < len(weights) {
			w = float64(float32(weights[t]))
		}
		if err := xgbAddTree(&b, &forest.Trees[t], forest.TreeInfo[t], w); err != nil {
			return nil, fmt.Errorf("tree %d: %w", t, err)
		}
	}

	s, err := treeSignature(l.FeatureNames, d, obj.kind, outputs, sig)
	if err != nil {
		return nil, err
	}
	return &TreeEnsemble{
		sig: s, format: FormatXGBoost, objective: l.Objective.Name,
		nodes: b.nodes, roots: b.roots, groups: b.groups,
		base: base, scale: 1, rule: ruleXGBoost, transform: obj.transform, sigmoid: 1,
	}, nil
}

// xgbTrees finds the trees of a gbtree or dart booster and dart's tree
// weights, and checks that the forest's lengths agree.
func xgbTrees(gb *xgbBooster) (*xgbForest, []float64, error) {
	var forest *xgbForest
	weights := gb.WeightDrop
	switch gb.Name {
	case "gbtree":
		forest = gb.Model
	case "dart":
		if gb.GBTree != nil {
			forest = gb.GBTree.Model
		}
	case "gblinear":
		return nil, nil, errors.New("gblinear models are not supported, only tree boosters (gbtree, dart)")
	default:
		return nil, nil, fmt.Errorf("booster %q is not supported; want gbtree or dart", gb.Name)
	}
	if forest == nil {
		return nil, nil, fmt.Errorf("%s booster without a model", gb.Name)
	}
	if weights == nil {
		weights = forest.WeightDrop
	}
	n := len(forest.Trees)
	if n > maxTrees {
		return nil, nil, fmt.Errorf("%d trees, over the limit of %d", n, maxTrees)
	}
	if p := forest.Param; p != nil {
		if p.NumTrees != "" {
			declared, err := xgbInt("num_trees", p.NumTrees, 0, maxTrees)
			if err != nil {
				return nil, nil, err
			}
			if declared != n {
				return nil, nil, fmt.Errorf("num_trees is %d but there are %d trees", declared, n)
			}
		}
		if err := xgbScalarLeaves(p.SizeLeafVector); err != nil {
			return nil, nil, err
		}
	}
	if len(forest.TreeInfo) != n {
		return nil, nil, fmt.Errorf("tree_info has %d entries for %d trees", len(forest.TreeInfo), n)
	}
	if len(weights) > n {
		return nil, nil, fmt.Errorf("weight_drop has %d entries for %d trees", len(weights), n)
	}
	return forest, weights, nil
}

// xgbScalarLeaves refuses multi-target trees (leaf vectors).
func xgbScalarLeaves(v xgbText) error {
	if v == "" {
		return nil
	}
	size, err := xgbInt("size_leaf_vector", v, 0, math.MaxInt32)
	if err != nil {
		return err
	}
	if size > 1 {
		return errors.New("multi-target trees (vector leaves) are not supported")
	}
	return nil
}

// xgbAddTree checks one tree's arrays and adds it, its leaves scaled by w.
func xgbAddTree(b *forestBuilder, t *xgbTree, group int64, w float64) error {
	n := len(t.Left)
	if t.Param != nil {
		if t.Param.NumNodes != "" {
			declared, err := xgbInt("num_nodes", t.Param.NumNodes, 1, maxTreeNodes)
			if err != nil {
				return err
			}
			if declared != n {
				return fmt.Errorf("num_nodes is %d but left_children has %d entries", declared, n)
			}
		}
		if err := xgbScalarLeaves(t.Param.SizeLeafVector); err != nil {
			return err
		}
	}
	if n == 0 || n > maxTreeNodes {
		return fmt.Errorf("%d nodes; want 1 to %d", n, maxTreeNodes)
	}
	for _, a := range []struct {
		name string
		len  int
	}{
		{"right_children", len(t.Right)},
		{"split_indices", len(t.SplitIndices)},
		{"split_conditions", len(t.SplitConditions)},
		{"default_left", len(t.DefaultLeft)},
	} {
		if a.len != n {
			return fmt.Errorf("%s has %d entries for %d nodes", a.name, a.len, n)
		}
	}
	if len(t.SplitType) != 0 && len(t.SplitType) != n {
		return fmt.Errorf("split_type has %d entries for %d nodes", len(t.SplitType), n)
	}
	if len(t.CategoriesNodes) > 0 {
		return errors.New("categorical splits are not supported")
	}
	if group < 0 || group >= int64(b.outputs) {
		return fmt.Errorf("tree_info gives output group %d; the model has %d", group, b.outputs)
	}
	return b.add(n, 0, int(group), func(i int) (rawNode, error) {
		if t.Left[i] == -1 {
			return rawNode{leaf: true, value: float64(t.SplitConditions[i]) * w}, nil
		}
		if len(t.SplitType) == n && t.SplitType[i] != 0 {
			return rawNode{}, errors.New("categorical splits are not supported")
		}
		left, right, feat := int(t.Left[i]), int(t.Right[i]), t.SplitIndices[i]
		if left < 0 || left >= n || right < 0 || right >= n {
			return rawNode{}, fmt.Errorf("children %d and %d; want 0 to %d", left, right, n-1)
		}
		if feat < 0 || feat >= int64(b.features) {
			return rawNode{}, fmt.Errorf("split on feature %d; the model has %d", feat, b.features)
		}
		flags := flagMissingNaN
		if t.DefaultLeft[i] {
			flags |= flagDefaultLeft
		}
		return rawNode{
			value: float64(t.SplitConditions[i]), feature: int(feat),
			left: left, right: right, flags: flags,
		}, nil
	})
}

// xgbInt parses an integer parameter within [lo, hi].
func xgbInt(name string, v xgbText, lo, hi int) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", name, string(v))
	}
	if n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("%s is %d; want %d to %d", name, n, lo, hi)
	}
	return int(n), nil
}

// xgbBase parses base_score ("5E-1", or "[v1,v2,...]" in newer versions,
// one per output) into the starting margin of each output.
func xgbBase(v xgbText, outputs int, toMargin func(float64) (float64, error)) ([]float64, error) {
	s := strings.TrimSpace(string(v))
	if s == "" {
		return nil, errors.New("no base_score")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	parts := strings.Split(s, ",")
	if len(parts) != 1 && len(parts) != outputs {
		return nil, fmt.Errorf("base_score has %d values for %d outputs", len(parts), outputs)
	}
	base := make([]float64, outputs)
	for k := range base {
		p := parts[0]
		if len(parts) > 1 {
			p = parts[k]
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("base_score %q is not a finite number", string(v))
		}
		m, err := toMargin(float64(float32(x)))
		if err != nil {
			return nil, err
		}
		base[k] = m
	}
	return base, nil
}
