package dag

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// paramTypes maps the type names a spec may use to the declared type.
var paramTypes = map[string]ParamType{
	"string":  ParamString,
	"int":     ParamInt,
	"integer": ParamInt,
	"float":   ParamFloat,
	"number":  ParamFloat,
	"bool":    ParamBool,
	"boolean": ParamBool,
}

var paramKeys = []string{"type", "default", "description"}

// parseParams reads the `params` mapping. Each entry is either
// `name: {type, default, description}` or the shorthand `name: default`,
// whose type is inferred; `name:` alone declares a required string.
func parseParams(n *yaml.Node, pr *problems) []Param {
	if isNull(n) {
		return nil
	}
	d := deref(n)
	if d.Kind != yaml.MappingNode {
		pr.at("params", n, "must be a mapping of parameter names to a default value or to {type, default, description}, not %s", describe(d))
		return nil
	}
	var out []Param
	for _, e := range pairs(d, "params", pr) {
		path := field("params", e.key)
		ok := true
		if msg := nameProblem(e.key); msg != "" {
			pr.at(path, e.keyNode, "parameter name %s", msg)
			ok = false
		}
		prm, pok := parseParam(e.key, e.val, path, pr)
		if ok && pok {
			out = append(out, prm)
		}
	}
	return out
}

func parseParam(name string, n *yaml.Node, path string, pr *problems) (Param, bool) {
	prm := Param{Name: name, Type: ParamString}
	d := deref(n)
	switch {
	case isNull(d):
		return prm, true
	case d.Kind == yaml.ScalarNode:
		v, ok := scalar(d, path, pr)
		if !ok {
			return prm, false
		}
		prm.Type, prm.Default, prm.HasDefault = inferType(v), v, true
		return prm, true
	case d.Kind != yaml.MappingNode:
		pr.at(path, n, "must be a default value or a mapping with type, default and description, not %s", describe(d))
		return prm, false
	}
	ok := true
	var typeNode, defNode *yaml.Node
	for _, e := range pairs(d, path, pr) {
		switch e.key {
		case "type":
			typeNode = e.val
		case "default":
			defNode = e.val
		case "description":
			prm.Description = description(e.val, field(path, e.key), pr)
		default:
			pr.at(field(path, e.key), e.keyNode, "unknown key %q; a parameter may have %s", e.key, strings.Join(paramKeys, ", "))
			ok = false
		}
	}
	declared := false
	if typeNode != nil {
		tpath := field(path, "type")
		if s, sok := stringValue(typeNode, tpath, pr); !sok {
			ok = false
		} else if t, known := paramTypes[s]; !known {
			pr.at(tpath, typeNode, "unknown type %q; use string, int, float or bool", s)
			ok = false
		} else {
			prm.Type, declared = t, true
		}
	}
	if defNode == nil {
		return prm, ok
	}
	dpath := field(path, "default")
	dd := deref(defNode)
	if isNull(dd) {
		pr.at(dpath, defNode, "must not be null; leave default out to make the parameter required")
		return prm, false
	}
	if dd.Kind != yaml.ScalarNode {
		pr.at(dpath, defNode, "must be a single value, not %s", describe(dd))
		return prm, false
	}
	v, vok := scalar(dd, dpath, pr)
	if !vok {
		return prm, false
	}
	if !declared {
		prm.Type = inferType(v)
	} else if !ok {
		return prm, false
	}
	c, err := defaultOf(prm.Type, v)
	if err != nil {
		pr.at(dpath, defNode, "%v", err)
		return prm, false
	}
	prm.Default, prm.HasDefault = c, true
	return prm, ok
}

// inferType is the type of a shorthand default.
func inferType(v any) ParamType {
	switch v.(type) {
	case int:
		return ParamInt
	case float64:
		return ParamFloat
	case bool:
		return ParamBool
	}
	return ParamString
}

// defaultOf checks a spec default against the declared type. Unlike
// values given at submission, a default is not coerced from text: the
// spec says what it means.
func defaultOf(t ParamType, v any) (any, error) {
	switch x := v.(type) {
	case int:
		switch t {
		case ParamInt:
			return x, nil
		case ParamFloat:
			return float64(x), nil
		}
	case float64:
		if t == ParamFloat {
			return x, nil
		}
	case bool:
		if t == ParamBool {
			return x, nil
		}
	case string:
		if t == ParamString {
			return x, nil
		}
	}
	hint := ""
	if t == ParamString {
		hint = "; quote it to make it text"
	}
	return nil, fmt.Errorf("default %v is %s, not %s%s", formatValue(v), kindOf(v), typeName(t), hint)
}

// ResolveParams checks given parameter values against the pipeline's
// declared params and fills in defaults, so a run records exactly the
// values it used. Values may be typed (from JSON) or strings (from the
// CLI's --param k=v), which are coerced to the declared type. Unknown
// names, missing required params and values of the wrong type are
// reported together as *ValidationError with paths "params.NAME".
func (p *Pipeline) ResolveParams(given map[string]any) (map[string]any, error) {
	var pr problems
	out := make(map[string]any, len(p.Params))
	names := make([]string, len(p.Params))
	for i, prm := range p.Params {
		names[i] = prm.Name
		path := field("params", prm.Name)
		v, ok := given[prm.Name]
		switch {
		case ok:
			c, err := coerce(prm.Type, v)
			if err != nil {
				pr.at(path, nil, "%v", err)
				continue
			}
			out[prm.Name] = c
		case prm.HasDefault:
			// Defaults may have crossed JSON (an int arrives as float64).
			c, err := coerce(prm.Type, prm.Default)
			if err != nil {
				pr.at(path, nil, "bad default: %v", err)
				continue
			}
			out[prm.Name] = c
		default:
			pr.at(path, nil, "required parameter %q (%s) has no value", prm.Name, typeName(prm.Type))
		}
	}
	var unknown []string
	for k := range given {
		if p.Param(k) == nil {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		pr.at(field("params", k), nil, "unknown parameter %q; %s", k, choices("declared parameters", k, names))
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// coerce converts v to the Go type of t: string, int, float64 or bool.
func coerce(t ParamType, v any) (any, error) {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			v = i
		} else if f, err := n.Float64(); err == nil {
			v = f
		} else {
			v = n.String()
		}
	}
	fail := func() (any, error) {
		if s, ok := v.(string); ok {
			return nil, fmt.Errorf("must be %s; %q is not", typeName(t), clip(s))
		}
		return nil, fmt.Errorf("must be %s, not %s", typeName(t), kindOf(v))
	}
	switch t {
	case ParamString, "":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case ParamInt:
		if s, ok := v.(string); ok {
			if i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				return int(i), nil
			}
			return fail()
		}
		if f, ok := number(v); ok && f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
			if i, isInt := exactInt(v); isInt {
				return i, nil
			}
			return int(f), nil
		}
	case ParamFloat:
		if s, ok := v.(string); ok {
			v2, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(v2) || math.IsInf(v2, 0) {
				return fail()
			}
			return v2, nil
		}
		if f, ok := number(v); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
	case ParamBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "t", "yes", "y", "on", "1":
				return true, nil
			case "false", "f", "no", "n", "off", "0":
				return false, nil
			}
		}
	default:
		return nil, fmt.Errorf("unknown parameter type %q", t)
	}
	return fail()
}

// number reads any Go numeric type as a float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// exactInt reads integer types without going through float64, which
// would round values past 2^53.
func exactInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int8:
		return int(x), true
	case int16:
		return int(x), true
	case int32:
		return int(x), true
	case int64:
		return int(x), true
	case uint8:
		return int(x), true
	case uint16:
		return int(x), true
	case uint32:
		return int(x), true
	case uint:
		if x <= math.MaxInt64 {
			return int(x), true
		}
	case uint64:
		if x <= math.MaxInt64 {
			return int(x), true
		}
	}
	return 0, false
}

// kindOf names the kind of a Go value for messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case bool:
		return "true/false"
	case float32, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	if _, ok := exactInt(v); ok {
		return "an integer"
	}
	if _, ok := number(v); ok {
		return "an integer"
	}
	return fmt.Sprintf("a %T", v)
}

func typeName(t ParamType) string {
	switch t {
	case ParamInt:
		return "an integer"
	case ParamFloat:
		return "a number"
	case ParamBool:
		return "true or false"
	}
	return "text"
}
