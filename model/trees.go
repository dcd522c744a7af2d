package model

import (
	"errors"
	"fmt"
	"math"
)

// Shared code of the tree-ensemble formats (XGBoost JSON, LightGBM text):
// every tree is validated and flattened into one array of nodes, in
// depth-first order so that a node's children always come after it, and
// Predict walks those arrays with no allocation.

// Bounds of a tree model, well above real models but low enough that a
// hostile file cannot ask for absurd work or memory.
const (
	maxTrees        = 100_000
	maxTreeNodes    = 1_000_000
	maxForestNodes  = 1 << 24
	maxTreeFeatures = 1 << 16
	maxTreeClasses  = 1 << 12
)

// lgbZero is LightGBM's kZeroThreshold (1e-35f widened to a double): values
// no larger in magnitude are zeros.
const lgbZero = float64(float32(1e-35))

// Node flags.
const (
	// flagDefaultLeft sends a missing value (or, for missingZero, a zero)
	// to the left child.
	flagDefaultLeft uint8 = 1 << iota
	// flagMissingNaN sends NaN to the default child.
	flagMissingNaN
	// flagMissingZero (LightGBM) reads NaN as 0 and sends zeros to the
	// default child.
	flagMissingZero
)

// treeNode is one node of a flattened tree. A leaf has feature -1 and its
// output in value; a split sends a row to left or right (indices into the
// forest's nodes, always greater than the node's own) by comparing the
// feature with the threshold in value.
type treeNode struct {
	value   float64
	left    int32
	right   int32
	feature int32
	flags   uint8
}

// decisionRule is how a split compares a feature with its threshold.
type decisionRule uint8

const (
	// ruleXGBoost: the feature read as float32 goes left if below the
	// threshold (a float32); NaN takes the default side.
	ruleXGBoost decisionRule = iota
	// ruleLightGBM: the feature goes left if at most the threshold (a
	// double), with LightGBM's missing-value types.
	ruleLightGBM
)

// outputTransform turns summed margins into Predict's outputs.
type outputTransform uint8

const (
	outIdentity     outputTransform = iota
	outSigmoid                      // 1/(1+e^(-s·m)) for every output
	outSoftmax                      // probabilities across the outputs
	outExp                          // e^m
	outStep                         // 1 if m > 0, else 0 (binary:hinge)
	outSignedSquare                 // sign(m)·m² (LightGBM regression sqrt)
	outSoftplus                     // log(1+e^m) (LightGBM cross_entropy_lambda)
)

// rawNode is a node as a format reader hands it to forestBuilder.
type rawNode struct {
	leaf        bool
	value       float64 // leaf output or split threshold
	feature     int     // split feature
	left, right int     // children, in the reader's numbering
	flags       uint8
}

// forestBuilder validates and flattens trees one by one.
type forestBuilder struct {
	features int // number of input features
	outputs  int // number of margins per row
	nodes    []treeNode
	roots    []int32
	groups   []int32
	visited  []bool
	stack    []builderItem
}

type builderItem struct {
	src    int
	parent int32 // -1 for the root
	isLeft bool
}

// add flattens a tree of n nodes (numbered 0..n-1 by the reader) starting
// at root, whose margin goes to output group; node gives each node. It
// checks that every reachable node is in range and reached once (so the
// tree has no cycles or shared nodes), that features are in range, leaf
// outputs finite and thresholds not NaN.
func (b *forestBuilder) add(n, root, group int, node func(i int) (rawNode, error)) error {
	if len(b.roots) >= maxTrees {
		return fmt.Errorf("over %d trees", maxTrees)
	}
	if n < 1 || n > maxTreeNodes {
		return fmt.Errorf("%d nodes; want 1 to %d", n, maxTreeNodes)
	}
	if group < 0 || group >= b.outputs {
		return fmt.Errorf("output group %d; want 0 to %d", group, b.outputs-1)
	}
	if cap(b.visited) < n {
		b.visited = make([]bool, n)
	}
	visited := b.visited[:n]
	clear(visited)
	first := int32(len(b.nodes))
	b.stack = append(b.stack[:0], builderItem{src: root, parent: -1})
	for len(b.stack) > 0 {
		it := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		if it.src < 0 || it.src >= n {
			return fmt.Errorf("child node %d is out of range (the tree has %d nodes)", it.src, n)
		}
		if visited[it.src] {
			return fmt.Errorf("node %d is reached twice: the children do not form a tree", it.src)
		}
		visited[it.src] = true
		if len(b.nodes) >= maxForestNodes {
			return fmt.Errorf("over %d nodes in all", maxForestNodes)
		}
		r, err := node(it.src)
		if err != nil {
			return fmt.Errorf("node %d: %w", it.src, err)
		}
		dst := int32(len(b.nodes))
		if it.parent >= 0 {
			if it.isLeft {
				b.nodes[it.parent].left = dst
			} else {
				b.nodes[it.parent].right = dst
			}
		}
		if r.leaf {
			if math.IsNaN(r.value) || math.IsInf(r.value, 0) {
				return fmt.Errorf("node %d: leaf value %v", it.src, r.value)
			}
			b.nodes = append(b.nodes, treeNode{value: r.value, feature: -1})
			continue
		}
		if r.feature < 0 || r.feature >= b.features {
			return fmt.Errorf("node %d: split on feature %d; the model has %d", it.src, r.feature, b.features)
		}
		if math.IsNaN(r.value) {
			return fmt.Errorf("node %d: threshold is NaN", it.src)
		}
		b.nodes = append(b.nodes, treeNode{value: r.value, feature: int32(r.feature), flags: r.flags})
		// Right first, so the left child comes right after its parent.
		b.stack = append(b.stack,
			builderItem{src: r.right, parent: dst},
			builderItem{src: r.left, parent: dst, isLeft: true})
	}
	b.roots = append(b.roots, first)
	b.groups = append(b.groups, int32(group))
	return nil
}

// TreeEnsemble is a loaded XGBoost or LightGBM model: a sum of decision
// trees per output, plus a base margin, turned into predictions by the
// objective's transform (sigmoid, softmax, exp, ...).
type TreeEnsemble struct {
	sig       Signature
	format    string
	objective string
	nodes     []treeNode
	roots     []int32
	groups    []int32
	base      []float64 // margin each output starts from
	scale     float64   // factor on the tree sums (1, or 1/iterations for LightGBM average_output)
	rule      decisionRule
	transform outputTransform
	sigmoid   float64 // slope of outSigmoid
}

var _ Model = (*TreeEnsemble)(nil)

// Signature describes the model's features and outputs.
func (m *TreeEnsemble) Signature() Signature { return m.sig }

// Format is the file format the model was read from: "xgboost" or
// "lightgbm".
func (m *TreeEnsemble) Format() string { return m.format }

// Objective is the training objective the file records, e.g.
// "binary:logistic" or "multiclass".
func (m *TreeEnsemble) Objective() string { return m.objective }

// Trees is the number of trees in the model.
func (m *TreeEnsemble) Trees() int { return len(m.roots) }

// Predict scores n rows: for each, it sums the leaf each tree sends the
// row to into its output's margin and applies the objective's transform.
// Missing values (NaN) follow each split's default direction.
func (m *TreeEnsemble) Predict(x []float64, n int, out []float64) error {
	if err := checkPredictSizes(m.sig, x, n, out); err != nil {
		return err
	}
	d, w := len(m.sig.Features), m.sig.Width()
	if len(m.base) != w {
		return errors.New("predict: tree model is not initialised")
	}
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		o := out[i*w : (i+1)*w]
		clear(o)
		if m.rule == ruleXGBoost {
			m.sumXGBoost(row, o)
		} else {
			m.sumLightGBM(row, o)
		}
		for k := range o {
			o[k] = m.base[k] + m.scale*o[k]
		}
		m.finish(o)
	}
	return nil
}

// sumXGBoost adds each tree's leaf to its output under XGBoost's rule: the
// value, rounded to float32 as XGBoost stores it, goes left when strictly
// below the threshold; NaN goes to the default side.
func (m *TreeEnsemble) sumXGBoost(row, o []float64) {
	nodes := m.nodes
	for t, i := range m.roots {
		nd := &nodes[i]
		for nd.feature >= 0 {
			v := row[nd.feature]
			switch {
			case v != v:
				if nd.flags&flagDefaultLeft != 0 {
					i = nd.left
				} else {
					i = nd.right
				}
			case float64(float32(v)) < nd.value:
				i = nd.left
			default:
				i = nd.right
			}
			nd = &nodes[i]
		}
		o[m.groups[t]] += nd.value
	}
}

// sumLightGBM adds each tree's leaf to its output under LightGBM's rule:
// values within ±1e-35 are zeros; with missing type NaN, NaN goes to the
// default side; with type Zero, NaN is read as 0 and zeros go to the
// default side; with type None, NaN is read as 0; otherwise the value goes
// left when at most the threshold.
func (m *TreeEnsemble) sumLightGBM(row, o []float64) {
	nodes := m.nodes
	for t, i := range m.roots {
		nd := &nodes[i]
		for nd.feature >= 0 {
			v := row[nd.feature]
			if v >= -lgbZero && v <= lgbZero {
				v = 0
			}
			var def bool
			switch {
			case nd.flags&flagMissingNaN != 0:
				def = v != v
			case nd.flags&flagMissingZero != 0:
				def = v == 0 || v != v
			case v != v:
				v = 0
			}
			switch {
			case def:
				if nd.flags&flagDefaultLeft != 0 {
					i = nd.left
				} else {
					i = nd.right
				}
			case v <= nd.value:
				i = nd.left
			default:
				i = nd.right
			}
			nd = &nodes[i]
		}
		o[m.groups[t]] += nd.value
	}
}

// finish applies the output transform to one row's margins in place.
func (m *TreeEnsemble) finish(o []float64) {
	switch m.transform {
	case outSigmoid:
		for k, v := range o {
			o[k] = stableSigmoid(m.sigmoid * v)
		}
	case outSoftmax:
		hi := math.Inf(-1)
		for _, v := range o {
			hi = max(hi, v)
		}
		var s float64
		for k, v := range o {
			o[k] = math.Exp(v - hi)
			s += o[k]
		}
		for k := range o {
			o[k] /= s
		}
	case outExp:
		for k, v := range o {
			o[k] = math.Exp(v)
		}
	case outStep:
		for k, v := range o {
			if v > 0 {
				o[k] = 1
			} else {
				o[k] = 0
			}
		}
	case outSignedSquare:
		for k, v := range o {
			o[k] = math.Copysign(v*v, v)
		}
	case outSoftplus:
		for k, v := range o {
			if v > 30 {
				o[k] = v + math.Log1p(math.Exp(-v))
			} else {
				o[k] = math.Log1p(math.Exp(v))
			}
		}
	}
}

// treeSignature builds a tree model's signature: d features named by sig
// if given (its count must be d), else by the names the file records, else
// f0..f{d-1}; kind and, for a classifier, its classes (from sig if it
// names them, else "0".."k-1").
func treeSignature(fileNames []string, d int, kind Kind, outputs int, sig *Signature) (Signature, error) {
	out := Signature{Kind: kind}
	switch {
	case sig != nil:
		if len(sig.Features) != d {
			return Signature{}, fmt.Errorf("the signature has %d features; the model has %d", len(sig.Features), d)
		}
		if sig.Kind != "" && sig.Kind != kind {
			return Signature{}, fmt.Errorf("the signature's kind is %s; the model is a %s", sig.Kind, kind)
		}
		out.Features = append([]Feature(nil), sig.Features...)
	case len(fileNames) > 0:
		if len(fileNames) != d {
			return Signature{}, fmt.Errorf("%d feature names for %d features", len(fileNames), d)
		}
		out.Features = make([]Feature, d)
		for j, name := range fileNames {
			out.Features[j] = Feature{Name: name, Type: "float"}
		}
	default:
		out.Features = make([]Feature, d)
		for j := range out.Features {
			out.Features[j] = Feature{Name: fmt.Sprintf("f%d", j), Type: "float"}
		}
	}
	classes := 0
	switch kind {
	case Binary:
		classes = 2
	case Multiclass:
		classes = outputs
	}
	if sig != nil && len(sig.Classes) > 0 {
		if len(sig.Classes) != classes {
			return Signature{}, fmt.Errorf("the signature names %d classes; the model has %d", len(sig.Classes), classes)
		}
		out.Classes = append([]string(nil), sig.Classes...)
	} else if classes > 0 {
		out.Classes = make([]string, classes)
		for c := range out.Classes {
			out.Classes[c] = fmt.Sprint(c)
		}
	}
	if err := out.Validate(); err != nil {
		return Signature{}, err
	}
	return out, nil
}

// badTree wraps a reader's error as a bad model of the given format.
func badTree(format string, err error) error {
	if errors.Is(err, ErrBadModel) {
		return err
	}
	return fmt.Errorf("%w: %s model: %v", ErrBadModel, format, err)
}
