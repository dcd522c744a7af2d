package dag

import (
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML tags as the parser resolves them.
const (
	tagStr   = "!!str"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagBool  = "!!bool"
	tagNull  = "!!null"
	tagMerge = "!!merge"
)

// maxValues bounds the values one spec may expand to through aliases, so
// a "billion laughs" document cannot make the parser run out of memory.
const maxValues = 1 << 20

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is absent or an explicit null (`key:`, `~`).
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == tagNull
}

// describe names the kind of a node for messages: "a list", "a number".
func describe(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case tagStr:
		return "a string"
	case tagInt:
		return "an integer"
	case tagFloat:
		return "a number"
	case tagBool:
		return "true/false"
	case tagNull:
		return "null"
	}
	return "a " + n.Tag + " value"
}

// pair is one key and value of a mapping.
type pair struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

// pairs returns the entries of a mapping node in source order. It reports
// duplicate and non-scalar keys and expands `<<` merge keys the way YAML
// does: keys written in the mapping win over merged ones, and earlier
// merged mappings win over later ones.
func pairs(n *yaml.Node, path string, p *problems) []pair {
	return mergePairs(deref(n), path, p, 0)
}

func mergePairs(n *yaml.Node, path string, p *problems, depth int) []pair {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !p.spend(path, n) {
			return out
		}
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			p.at(path, n.Content[i], "a key must be a plain value, not %s", describe(k))
			continue
		}
		if k.Tag == tagMerge {
			merged = append(merged, mergeSources(v, path, p, depth)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.at(field(path, k.Value), n.Content[i], "duplicate key %q; it is already set on line %d", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{key: k.Value, keyNode: n.Content[i], val: v})
	}
	for _, m := range merged {
		if _, ok := seen[m.key]; ok {
			continue
		}
		seen[m.key] = m.keyNode
		out = append(out, m)
	}
	return out
}

// mergeSources expands the value of a `<<` key: a mapping or a list of
// mappings.
func mergeSources(v *yaml.Node, path string, p *problems, depth int) []pair {
	if depth > 20 {
		p.at(path, v, "merge keys nest too deeply")
		return nil
	}
	d := deref(v)
	switch {
	case d != nil && d.Kind == yaml.MappingNode:
		return mergePairs(d, path, p, depth+1)
	case d != nil && d.Kind == yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range d.Content {
			m := deref(item)
			if m == nil || m.Kind != yaml.MappingNode {
				p.at(path, item, "a << merge takes a mapping or a list of mappings, not %s", describe(m))
				continue
			}
			for _, e := range mergePairs(m, path, p, depth+1) {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
		return out
	}
	p.at(path, v, "a << merge takes a mapping or a list of mappings, not %s", describe(d))
	return nil
}

// description reads an optional free text; null is empty.
func description(n *yaml.Node, path string, p *problems) string {
	if isNull(n) {
		return ""
	}
	s, _ := stringValue(n, path, p)
	return s
}

// stringValue reads a scalar as text. Plain scalars of any type are
// accepted (`description: 42`); mappings, lists and null are not.
func stringValue(n *yaml.Node, path string, p *problems) (string, bool) {
	d := deref(n)
	if d == nil || d.Kind != yaml.ScalarNode || d.Tag == tagNull {
		p.at(path, n, "must be text, not %s", describe(d))
		return "", false
	}
	return d.Value, true
}

// converter turns YAML nodes into plain Go values (map[string]any, []any,
// string, int, float64, bool, nil), expanding aliases within the budget.
type converter struct {
	p      *problems
	active map[*yaml.Node]bool // anchored nodes being expanded, to catch self-reference
	// text, when set, sees every string value with its node, so templates
	// can be checked where they are written.
	text func(path string, n *yaml.Node, s string)
}

func newConverter(p *problems, text func(path string, n *yaml.Node, s string)) *converter {
	return &converter{p: p, active: map[*yaml.Node]bool{}, text: text}
}

func (c *converter) value(n *yaml.Node, path string) (any, bool) {
	if !c.p.spend(path, n) {
		return nil, false
	}
	d := deref(n)
	if d == nil {
		return nil, true
	}
	if d != n || d.Anchor != "" {
		if c.active[d] {
			c.p.at(path, n, "alias *%s refers to a value that contains it", d.Anchor)
			return nil, false
		}
		c.active[d] = true
		defer delete(c.active, d)
	}
	switch d.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(d.Content)/2)
		ok := true
		for _, e := range pairs(d, path, c.p) {
			v, vok := c.value(e.val, field(path, e.key))
			ok = ok && vok
			m[e.key] = v
		}
		return m, ok
	case yaml.SequenceNode:
		l := make([]any, len(d.Content))
		ok := true
		for i, item := range d.Content {
			v, vok := c.value(item, index(path, i))
			ok = ok && vok
			l[i] = v
		}
		return l, ok
	case yaml.ScalarNode:
		v, ok := scalar(d, path, c.p)
		if str, isStr := v.(string); isStr && c.text != nil {
			c.text(path, d, str)
		}
		return v, ok
	}
	c.p.at(path, n, "unexpected %s", describe(d))
	return nil, false
}

// scalar decodes a scalar node to a plain value. Numbers must be finite
// (they travel as JSON); values of other tags, such as timestamps, stay
// text.
func scalar(n *yaml.Node, path string, p *problems) (any, bool) {
	switch n.Tag {
	case tagNull:
		return nil, true
	case tagStr:
		return n.Value, true
	case tagInt:
		if plainDecimal(n.Value) {
			if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
				return int(i), true // the common case, without the decoder
			}
		}
	}
	var v any
	if err := n.Decode(&v); err != nil {
		p.at(path, n, "cannot read %q as %s: %v", n.Value, describe(n), err)
		return nil, false
	}
	switch x := v.(type) {
	case nil, bool, string:
		return x, true
	case int:
		return x, true
	case int64:
		return int(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int(x), true
		}
		return float64(x), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			p.at(path, n, "%s is not a finite number", n.Value)
			return nil, false
		}
		return x, true
	}
	return n.Value, true
}

// plainDecimal reports whether s is a decimal integer that YAML and Go
// read the same way: digits, an optional minus, no leading zero.
func plainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// intValue reads an integer scalar.
func intValue(n *yaml.Node, path string, p *problems) (int, bool) {
	d := deref(n)
	if d == nil || d.Kind != yaml.ScalarNode || d.Tag != tagInt {
		p.at(path, n, "must be a whole number, not %s", describe(d))
		return 0, false
	}
	v, ok := scalar(d, path, p)
	i, isInt := v.(int)
	if !ok || !isInt {
		p.at(path, n, "%s is out of range", d.Value)
		return 0, false
	}
	return i, true
}

// lineOf picks the node whose position a problem reports: n, or fallback
// when n is absent.
func lineOf(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

// boundedInt reads a whole number in [lo, hi]; below lo it reports
// tooLow, above hi the limit.
func boundedInt(n *yaml.Node, path string, p *problems, lo, hi int, tooLow string) (int, bool) {
	v, ok := intValue(n, path, p)
	switch {
	case !ok:
		return 0, false
	case v < lo:
		p.at(path, n, "%s", tooLow)
		return 0, false
	case v > hi:
		p.at(path, n, "is %d; the limit is %d", v, hi)
		return 0, false
	}
	return v, true
}
