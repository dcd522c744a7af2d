package dag

import (
	"regexp"

	"go.yaml.in/yaml/v3"
)

var (
	constraintKeys  = []string{"node", "labels"}
	nodeNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	labelKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]*$`)
)

// constraints reads a task's `constraints: {node, labels}` mapping.
func (sp *specParser) constraints(n *yaml.Node, path string) Constraints {
	var c Constraints
	d := deref(n)
	if d == nil || d.Kind != yaml.MappingNode {
		sp.pr.at(path, n, "must be a mapping with node and/or labels, not %s", describe(d))
		return c
	}
	for _, e := range pairs(d, path, sp.pr) {
		fpath := field(path, e.key)
		switch e.key {
		case "node":
			v := deref(e.val)
			if v == nil || v.Kind != yaml.ScalarNode || v.Tag == tagNull || len(v.Value) > MaxNameLen || !nodeNamePattern.MatchString(v.Value) {
				sp.pr.at(fpath, e.val, "must be a node name (letters, digits, _ . -), not %s", describe(v))
				continue
			}
			c.Node = v.Value
		case "labels":
			v := deref(e.val)
			if v == nil || v.Kind != yaml.MappingNode {
				sp.pr.at(fpath, e.val, "must be a mapping of label names to values, not %s", describe(v))
				continue
			}
			for _, l := range pairs(v, fpath, sp.pr) {
				lpath := field(fpath, l.key)
				if len(l.key) > 63 || !labelKeyPattern.MatchString(l.key) {
					sp.pr.at(lpath, l.keyNode, "bad label name %q: letters, digits and _ . / -, at most 63", l.key)
					continue
				}
				lv := deref(l.val)
				if lv == nil || lv.Kind != yaml.ScalarNode || lv.Tag == tagNull || len(lv.Value) > 256 {
					sp.pr.at(lpath, l.val, "must be a value of at most 256 characters, not %s", describe(lv))
					continue
				}
				if c.Labels == nil {
					c.Labels = map[string]string{}
				}
				c.Labels[l.key] = lv.Value
			}
		default:
			sp.pr.at(fpath, e.keyNode, "unknown key %q; %s", e.key, choices("constraints may have", e.key, constraintKeys))
		}
	}
	return c
}
