package dag

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on what Parse accepts, so one submission cannot take a node's
// memory or the leader's time.
const (
	// MaxSpecSize is the largest spec, in bytes, that Parse reads.
	MaxSpecSize = 1 << 20
	// MaxTasks is the most tasks a pipeline may have.
	MaxTasks = 10000
	// MaxRetries is the most retries a task may ask for.
	MaxRetries = 1000
	// MaxReplicas is the most copies of its outputs a task may ask for.
	MaxReplicas = 7
	// MaxNameLen is the longest pipeline, task, output or parameter name.
	MaxNameLen = 128
)

var (
	topKeys  = []string{"name", "description", "params", "tasks"}
	taskKeys = []string{"name", "description", "op", "with", "needs", "outputs", "retries", "retry_backoff", "timeout", "constraints", "replicas", "register",
		"exec", "script", "interpreter", "format", "env", "workdir", "memory"}
)

// Parse parses and validates a pipeline spec in YAML or JSON (JSON is
// read by the same YAML parser, so its errors carry lines too). On
// invalid input it returns *ValidationError holding every problem found,
// not only the first. The catalog checks ops, their arguments and their
// inputs; if it can also list its ops (a method Specs() or Ops() returning
// []OpSpec), an unknown op is answered with the known ones. A nil catalog
// skips the op checks.
func Parse(src []byte, catalog Catalog) (*Pipeline, error) {
	if len(src) > MaxSpecSize {
		return nil, invalid("", 0, "the spec is %d bytes; the limit is %d bytes (1 MiB)", len(src), MaxSpecSize)
	}
	doc, err := decode(src)
	if err != nil {
		return nil, err
	}
	sp := &specParser{pr: &problems{}, catalog: catalog}
	p := sp.pipeline(doc)
	if err := sp.pr.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// decode reads the single YAML document in src. JSON that uses escapes
// the YAML parser lacks is read again with them rewritten.
func decode(src []byte) (*yaml.Node, error) {
	doc, err := decodeOnce(src)
	if err != nil {
		if fixed, ok := jsonEscapes(src); ok {
			if doc, err2 := decodeOnce(fixed); err2 == nil {
				return doc, nil
			}
		}
	}
	return doc, err
}

func decodeOnce(src []byte) (doc *yaml.Node, err error) {
	defer func() {
		// The YAML library has panicked on hostile input before; a bad
		// spec must never take a node down.
		if r := recover(); r != nil {
			doc, err = nil, invalid("", 0, "cannot parse the spec: %v", r)
		}
	}()
	empty := invalid("", 0, "the spec is empty; it needs at least a name and tasks")
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, empty
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, empty
		}
		return nil, syntaxError(err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(err)
		}
		return nil, invalid("", more.Line, "the spec holds more than one YAML document; write one pipeline per spec")
	}
	if len(n.Content) == 0 || isNull(n.Content[0]) {
		return nil, empty
	}
	return n.Content[0], nil
}

// syntaxError turns a YAML library error into a ValidationError. The
// library has no structured error, so the line is read from its text.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(num); err == nil {
				line, msg = l, after
			}
		}
	}
	return invalid("", line, "not valid YAML or JSON: %s", msg)
}

// specParser walks a spec's nodes, collecting problems as it goes.
type specParser struct {
	pr      *problems
	catalog Catalog
	// declared are the parameter names templates may use.
	declared  map[string]bool
	paramList []string
}

// taskInfo keeps what validation needs to know about a task's source.
type taskInfo struct {
	node      *yaml.Node // the task's mapping
	path      string
	nameNode  *yaml.Node
	named     bool // has a valid name
	op        *OpSpec
	needs     []needRef
	needsNode *yaml.Node
}

// needRef is one entry of a task's needs as written.
type needRef struct {
	task, output string
	bare         bool // written without ".output"
	node         *yaml.Node
	path         string
	ok           bool
}

func (sp *specParser) pipeline(root *yaml.Node) *Pipeline {
	d := deref(root)
	if d.Kind != yaml.MappingNode {
		sp.pr.at("", root, "the spec must be a mapping with a name and tasks, not %s", describe(d))
		return nil
	}
	p := &Pipeline{}
	var nameNode, paramsNode, tasksNode *yaml.Node
	for _, e := range pairs(d, "", sp.pr) {
		switch e.key {
		case "name":
			nameNode = e.val
		case "description":
			p.Description = description(e.val, e.key, sp.pr)
		case "params":
			paramsNode = e.val
		case "tasks":
			tasksNode = e.val
		default:
			sp.pr.at(field("", e.key), e.keyNode, "unknown key %q; %s", e.key, choices("a spec may have", e.key, topKeys))
		}
	}
	if nameNode == nil {
		sp.pr.at("name", d, "is required")
	} else {
		p.Name, _ = sp.name(nameNode, "name", "pipeline name")
	}
	p.Params = parseParams(paramsNode, sp.pr)
	sp.declared = make(map[string]bool, len(p.Params))
	for _, prm := range p.Params {
		sp.declared[prm.Name] = true
		sp.paramList = append(sp.paramList, prm.Name)
	}
	if tasksNode == nil {
		sp.pr.at("tasks", d, "is required: list at least one task")
		return p
	}
	infos := sp.tasks(p, tasksNode)
	sp.validate(p, infos)
	return p
}

func (sp *specParser) tasks(p *Pipeline, n *yaml.Node) []taskInfo {
	d := deref(n)
	switch {
	case isNull(d):
		sp.pr.at("tasks", n, "must list at least one task")
		return nil
	case d.Kind != yaml.SequenceNode:
		sp.pr.at("tasks", n, "must be a list of tasks, not %s", describe(d))
		return nil
	case len(d.Content) == 0:
		sp.pr.at("tasks", n, "must list at least one task")
		return nil
	case len(d.Content) > MaxTasks:
		sp.pr.at("tasks", n, "has %d tasks; the limit is %d", len(d.Content), MaxTasks)
		return nil
	}
	p.Tasks = make([]Task, len(d.Content))
	infos := make([]taskInfo, len(d.Content))
	for i, tn := range d.Content {
		infos[i] = sp.task(&p.Tasks[i], tn, index("tasks", i))
	}
	return infos
}

func (sp *specParser) task(t *Task, n *yaml.Node, path string) taskInfo {
	inf := taskInfo{node: n, path: path}
	d := deref(n)
	if d.Kind != yaml.MappingNode {
		sp.pr.at(path, n, "a task must be a mapping with at least a name and an op, not %s", describe(d))
		return inf
	}
	t.Line = d.Line
	inf.node = d
	var opNode, withNode *yaml.Node
	var execPairs []pair
	for _, e := range pairs(d, path, sp.pr) {
		fpath := field(path, e.key)
		if contains(execKeys, e.key) {
			execPairs = append(execPairs, e)
			continue
		}
		switch e.key {
		case "name":
			inf.nameNode = e.val
			t.Name, inf.named = sp.name(e.val, fpath, "task name")
		case "description":
			t.Description = description(e.val, fpath, sp.pr)
		case "op":
			opNode = e.val
		case "with":
			withNode = e.val
		case "needs":
			inf.needsNode = e.val
			inf.needs = sp.needs(e.val, fpath)
		case "outputs":
			t.Outputs = sp.outputs(e.val, fpath)
		case "retries":
			if r, ok := boundedInt(e.val, fpath, sp.pr, 0, MaxRetries, "must not be negative"); ok {
				t.Retries = r
			}
		case "replicas":
			if r, ok := boundedInt(e.val, fpath, sp.pr, 1, MaxReplicas, "must be at least 1 (the output itself)"); ok {
				t.Replicas = r
			}
		case "retry_backoff":
			t.RetryBackoff = sp.duration(e.val, fpath)
		case "timeout":
			t.Timeout = sp.duration(e.val, fpath)
		case "constraints":
			t.Constraints = sp.constraints(e.val, fpath)
		case "register":
			t.Register = sp.register(e.val, fpath)
		default:
			sp.pr.at(fpath, e.keyNode, "unknown key %q; %s", e.key, choices("a task may have", e.key, taskKeys))
		}
	}
	if inf.nameNode == nil {
		sp.pr.at(field(path, "name"), d, "is required")
	}
	wpath := field(path, "with")
	if len(execPairs) > 0 {
		inf.op = sp.execTask(t, execPairs, opNode, withNode, d, path)
		wpath = path
	} else {
		inf.op = sp.op(t, opNode, d, path)
		sp.with(t, inf.op, withNode, d, path)
	}
	if t.IsExec() {
		sp.checkExec(t, d, wpath)
	}
	defer sp.checkRegister(t, path, d)
	if len(t.Outputs) == 0 {
		switch {
		case inf.op != nil && len(inf.op.Outputs) > 0:
			t.Outputs = append([]string(nil), inf.op.Outputs...)
		default:
			t.Outputs = []string{DefaultOutput}
		}
	}
	return inf
}

// name reads a pipeline, task, output or parameter name.
func (sp *specParser) name(n *yaml.Node, path, what string) (string, bool) {
	d := deref(n)
	if d == nil || d.Kind != yaml.ScalarNode || d.Tag != tagStr {
		hint := ""
		if d != nil && d.Kind == yaml.ScalarNode && d.Tag != tagNull {
			hint = "; quote it"
		}
		sp.pr.at(path, n, "the %s must be text, not %s%s", what, describe(d), hint)
		return "", false
	}
	if msg := nameProblem(d.Value); msg != "" {
		sp.pr.at(path, n, "the %s %s", what, msg)
		return d.Value, false
	}
	return d.Value, true
}

// validName reports whether s may name a pipeline, task, output or
// parameter: ^[A-Za-z_][A-Za-z0-9_-]*$, at most MaxNameLen bytes.
func validName(s string) bool { return nameProblem(s) == "" }

func nameProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > MaxNameLen:
		return fmt.Sprintf("is %d characters long; the limit is %d", len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if letter || i > 0 && (c == '-' || c >= '0' && c <= '9') {
			continue
		}
		return fmt.Sprintf("%q must start with a letter or _ and hold only letters, digits, _ and -", clip(s))
	}
	return ""
}

func (sp *specParser) op(t *Task, n, task *yaml.Node, path string) *OpSpec {
	opPath := field(path, "op")
	if n == nil {
		sp.pr.at(opPath, task, "is required")
		return nil
	}
	name, ok := stringValue(n, opPath, sp.pr)
	if !ok {
		return nil
	}
	t.Op = name
	if sp.catalog == nil {
		return nil
	}
	spec, found := sp.catalog.Op(name)
	if !found {
		sp.pr.at(opPath, n, "unknown op %q%s", name, sp.knownOps(name))
		return nil
	}
	return &spec
}

// knownOps lists the catalog's ops for a message, when it can list them.
func (sp *specParser) knownOps(got string) string {
	var specs []OpSpec
	switch c := sp.catalog.(type) {
	case interface{ Specs() []OpSpec }:
		specs = c.Specs()
	case interface{ Ops() []OpSpec }:
		specs = c.Ops()
	default:
		return ""
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	slices.Sort(names)
	return "; " + choices("known ops", got, names)
}

// with reads the op's arguments and checks their keys and templates.
func (sp *specParser) with(t *Task, op *OpSpec, n, task *yaml.Node, path string) {
	wpath := field(path, "with")
	var keys []pair
	var self *yaml.Node
	if !isNull(n) {
		self = deref(n)
		if self.Kind != yaml.MappingNode {
			sp.pr.at(wpath, n, "must be a mapping of the op's arguments, not %s", describe(self))
			return
		}
		keys = pairs(self, wpath, sp.pr)
	}
	sp.withPairs(t, op, keys, wpath, lineOf(n, task), self)
}

// withPairs sets the task's With from keys, written under wpath (at node
// at when no key is), checking their templates and that op takes them.
// self is the mapping holding the keys, if any, so that a value aliasing
// it is caught.
func (sp *specParser) withPairs(t *Task, op *OpSpec, keys []pair, wpath string, at, self *yaml.Node) {
	if len(keys) > 0 {
		script := field(wpath, "script")
		c := newConverter(sp.pr, func(path string, n *yaml.Node, s string) {
			if t.IsExec() && path == script {
				return // a script is not templated: it reads its params from FORGE_PARAMS
			}
			for _, msg := range templateProblems(s, sp.declared, sp.paramList) {
				sp.pr.at(path, n, "%s", msg)
			}
		})
		if self != nil {
			c.active[self] = true
		}
		t.With = make(map[string]any, len(keys))
		for _, e := range keys {
			t.With[e.key], _ = c.value(e.val, field(wpath, e.key))
		}
	}
	if op == nil {
		return
	}
	for _, k := range op.Required {
		if _, ok := t.With[k]; !ok {
			sp.pr.at(wpath, at, "missing required key %q for op %s", k, op.Name)
		}
	}
	allowed := append(append([]string(nil), op.Required...), op.Optional...)
	for _, e := range keys {
		if !contains(allowed, e.key) && !op.AnyWith {
			sp.pr.at(field(wpath, e.key), e.keyNode, "unknown key %q for op %s; %s", e.key, opName(op, t), choices("it accepts", e.key, allowed))
		}
	}
}

func opName(op *OpSpec, t *Task) string {
	if op.Name != "" {
		return op.Name
	}
	return t.Op
}

// needs reads a list of "task" or "task.output"; a bare string is a
// one-element list.
func (sp *specParser) needs(n *yaml.Node, path string) []needRef {
	d := deref(n)
	switch {
	case isNull(d):
		return nil
	case d.Kind == yaml.ScalarNode:
		return []needRef{sp.need(d, path)}
	case d.Kind != yaml.SequenceNode:
		sp.pr.at(path, n, "must be a list of task names or task.output, not %s", describe(d))
		return nil
	}
	out := make([]needRef, len(d.Content))
	for i, item := range d.Content {
		out[i] = sp.need(item, index(path, i))
	}
	return out
}

func (sp *specParser) need(n *yaml.Node, path string) needRef {
	r := needRef{node: n, path: path}
	d := deref(n)
	if d == nil || d.Kind != yaml.ScalarNode || d.Tag != tagStr {
		sp.pr.at(path, n, "must be a task name or task.output, not %s", describe(d))
		return r
	}
	task, output, dotted := strings.Cut(d.Value, ".")
	r.task, r.output, r.bare = task, output, !dotted
	switch {
	case !validName(task):
		sp.pr.at(path, n, "%q is not a task name or task.output: the task name %s", clip(d.Value), nameProblem(task))
	case dotted && !validName(output):
		sp.pr.at(path, n, "%q is not a task name or task.output: the output name %s", clip(d.Value), nameProblem(output))
	default:
		r.ok = true
	}
	return r
}

// outputs reads the declared output names; a bare string is one name.
func (sp *specParser) outputs(n *yaml.Node, path string) []string {
	d := deref(n)
	var items []*yaml.Node
	var paths []string
	switch {
	case isNull(d):
		return nil
	case d.Kind == yaml.ScalarNode:
		items, paths = []*yaml.Node{n}, []string{path}
	case d.Kind == yaml.SequenceNode:
		items = d.Content
		for i := range items {
			paths = append(paths, index(path, i))
		}
	default:
		sp.pr.at(path, n, "must be a list of output names, not %s", describe(d))
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for i, item := range items {
		name, ok := sp.name(item, paths[i], "output name")
		if !ok {
			continue
		}
		if seen[name] {
			sp.pr.at(paths[i], item, "duplicate output name %q", name)
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}

func (sp *specParser) duration(n *yaml.Node, path string) Duration {
	d := deref(n)
	if d == nil || d.Kind != yaml.ScalarNode || d.Tag == tagNull {
		sp.pr.at(path, n, "must be a duration such as 30s or 5m, not %s", describe(d))
		return 0
	}
	var v Duration
	if err := v.UnmarshalText([]byte(d.Value)); err != nil {
		sp.pr.at(path, n, "%v", err)
		return 0
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
