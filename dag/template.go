package dag

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
)

// refPrefix starts the only kind of reference a template may hold.
const refPrefix = "params."

// segment is one piece of a template: literal text, or a reference to the
// parameter named param.
type segment struct {
	text  string
	param string
	ref   bool
}

// parseTemplate splits s into literal text and ${params.NAME} references.
// `$${` is a literal `${`; a `$` anywhere else is itself.
func parseTemplate(s string) ([]segment, error) {
	if !strings.Contains(s, "${") {
		return []segment{{text: s}}, nil
	}
	var segs []segment
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated %q: close it with } or write $${ for a literal ${", clip(s[i:]))
			}
			inner := s[i+2 : i+2+end]
			name, ok := strings.CutPrefix(strings.TrimSpace(inner), refPrefix)
			if !ok {
				return nil, fmt.Errorf("unknown reference ${%s}: only ${params.NAME} is supported (write $${ for a literal ${)", clip(inner))
			}
			if !validName(name) {
				return nil, fmt.Errorf("malformed reference ${%s}: %q is not a parameter name", clip(inner), clip(name))
			}
			if lit.Len() > 0 {
				segs = append(segs, segment{text: lit.String()})
				lit.Reset()
			}
			segs = append(segs, segment{param: name, ref: true})
			i += 2 + end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 || len(segs) == 0 {
		segs = append(segs, segment{text: lit.String()})
	}
	return segs, nil
}

// clip shortens text quoted in messages.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// templateProblems reports malformed references in s and references to
// parameters that are not declared.
func templateProblems(s string, declared map[string]bool, names []string) []string {
	segs, err := parseTemplate(s)
	if err != nil {
		return []string{err.Error()}
	}
	var msgs []string
	for _, seg := range segs {
		if seg.ref && !declared[seg.param] {
			msgs = append(msgs, fmt.Sprintf("unknown parameter %q in ${params.%s}; %s", seg.param, seg.param, choices("declared parameters", seg.param, names)))
		}
	}
	return msgs
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Render returns a copy of the task with ${params.NAME} replaced in every
// string inside With, nested lists and maps too, so that an op sees final
// values. A string that is exactly one reference becomes the typed value;
// otherwise the value is formatted into the string. `$${` escapes a
// literal `${`. The copy shares nothing with t.
func (t *Task) Render(params map[string]any) (*Task, error) {
	out := *t
	out.Needs = append([]Need(nil), t.Needs...)
	out.Outputs = append([]string(nil), t.Outputs...)
	if t.With == nil {
		return &out, nil
	}
	var errs []string
	with := t.With
	script, hasScript := with["script"]
	if t.IsExec() && hasScript {
		// A script is code, not a template: its ${...} are the shell's.
		with = maps.Clone(with)
		delete(with, "script")
	}
	w := render(with, "with", params, &errs).(map[string]any)
	if len(errs) > 0 {
		return nil, fmt.Errorf("render task %s: %s", t.Name, strings.Join(errs, "; "))
	}
	if t.IsExec() && hasScript {
		w["script"] = script
	}
	out.With = w
	return &out, nil
}

func render(v any, path string, params map[string]any, errs *[]string) any {
	switch x := v.(type) {
	case string:
		r, err := renderString(x, params)
		if err != nil {
			*errs = append(*errs, path+": "+err.Error())
			return x
		}
		return r
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = render(e, index(path, i), params, errs)
		}
		return l
	case map[string]any:
		m := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) {
			m[k] = render(x[k], field(path, k), params, errs)
		}
		return m
	}
	return v
}

func renderString(s string, params map[string]any) (any, error) {
	segs, err := parseTemplate(s)
	if err != nil {
		return nil, err
	}
	if len(segs) == 1 && !segs[0].ref {
		return segs[0].text, nil
	}
	if len(segs) == 1 {
		v, ok := params[segs[0].param]
		if !ok {
			return nil, fmt.Errorf("no value for parameter %q", segs[0].param)
		}
		return v, nil
	}
	var b strings.Builder
	for _, seg := range segs {
		if !seg.ref {
			b.WriteString(seg.text)
			continue
		}
		v, ok := params[seg.param]
		if !ok {
			return nil, fmt.Errorf("no value for parameter %q", seg.param)
		}
		b.WriteString(formatValue(v))
	}
	return b.String(), nil
}

// formatValue renders a parameter value inside a larger string: numbers
// in their shortest form, so 0.5 stays "0.5" and 3.0 becomes "3".
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return fmt.Sprint(v)
}
