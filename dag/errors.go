package dag

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a spec, located by a field path so that a
// CLI, an editor or the web UI can point at it.
type FieldError struct {
	// Path names the field, e.g. "tasks[2].with.path" or "params.region".
	Path string `json:"path"`
	// Line and Column are 1-based positions in the source, 0 if unknown.
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// String renders the error as "line N: path: message", leaving out the
// parts that are unknown.
func (e FieldError) String() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ValidationError holds every problem found in a spec or in a set of
// parameter values, so a user can fix them all in one go rather than one
// submission at a time.
type ValidationError struct {
	Errors []FieldError
}

// Error renders one "line N: path: message" per line.
func (e *ValidationError) Error() string {
	if len(e.Errors) == 0 {
		return "invalid pipeline spec"
	}
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.String()
	}
	return strings.Join(lines, "\n")
}

// maxErrors bounds how many problems one spec may report: past this the
// rest are noise and the message would only get bigger.
const maxErrors = 1000

// problems collects FieldErrors while a spec is walked.
type problems struct {
	errs  []FieldError
	extra int // problems dropped past maxErrors
	spent int // values expanded so far, bounded by maxValues
}

// spend counts one expanded value against maxValues and reports false,
// once with a problem, when the budget is gone.
func (p *problems) spend(path string, n *yaml.Node) bool {
	p.spent++
	if p.spent == maxValues+1 {
		p.at(path, n, "the spec expands to more than %d values through aliases and merges", maxValues)
	}
	return p.spent <= maxValues
}

// at records a problem at the position of n (which may be nil).
func (p *problems) at(path string, n *yaml.Node, format string, args ...any) {
	fe := FieldError{Path: path, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		fe.Line, fe.Column = n.Line, n.Column
	}
	p.add(fe)
}

func (p *problems) add(fe FieldError) {
	if len(p.errs) >= maxErrors {
		p.extra++
		return
	}
	p.errs = append(p.errs, fe)
}

func (p *problems) any() bool { return len(p.errs) > 0 }

// err returns the collected problems, sorted by position, as a
// *ValidationError, or nil when there are none.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	errs := append([]FieldError(nil), p.errs...)
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Column < errs[j].Column
	})
	if p.extra > 0 {
		errs = append(errs, FieldError{
			Message: fmt.Sprintf("%d more problems not shown; fix these first", p.extra),
		})
	}
	return &ValidationError{Errors: errs}
}

// invalid returns a *ValidationError with a single problem.
func invalid(path string, line int, format string, args ...any) *ValidationError {
	return &ValidationError{Errors: []FieldError{{
		Path: path, Line: line, Message: fmt.Sprintf(format, args...),
	}}}
}

// field joins a path and a mapping key. Keys that are not plain names are
// quoted so the path stays unambiguous.
func field(path, key string) string {
	if !plainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index joins a path and a list index.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
