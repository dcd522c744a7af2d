// Package expr is forged's small expression language over Arrow record
// batches, used by the filter op (and by ops that compute new columns). A
// source such as `age >= 18 and lower(country) in ('fr', 'de')` is parsed
// once with Parse and then evaluated batch by batch with Eval, which works
// on whole columns through Arrow compute kernels.
package expr

import (
	"strconv"
	"strings"
)

// Expr is a parsed expression.
type Expr interface {
	// Pos is the 1-based column in the source where the expression starts.
	Pos() int
	// String renders the expression in canonical source form.
	String() string
	// Columns lists the distinct columns the expression reads, in order of
	// first use.
	Columns() []string
	children() []Expr
}

// Column reads a column of the batch by name.
type Column struct {
	Name string
	At   int
}

// Literal is a constant: nil (null), int64, float64, string or bool.
type Literal struct {
	Value any
	At    int
}

// Unary is "-x" or "not x".
type Unary struct {
	Op string // "-" or "not"
	X  Expr
	At int
}

// Binary is an arithmetic, comparison or boolean operation.
type Binary struct {
	Op   string // + - * / % == != < <= > >= and or
	L, R Expr
	At   int
}

// IsNull is "x is null" or, with Not, "x is not null".
type IsNull struct {
	X   Expr
	Not bool
	At  int
}

// In is "x in (a, b, ...)" or, with Not, "x not in (...)".
type In struct {
	X    Expr
	List []Expr
	Not  bool
	At   int
}

// Call is a function call such as lower(name).
type Call struct {
	Name string
	Args []Expr
	At   int
}

// Pos returns where the column reference starts in the source.
func (e *Column) Pos() int { return e.At }

// Pos returns where the literal starts in the source.
func (e *Literal) Pos() int { return e.At }

// Pos returns where the unary operation starts in the source.
func (e *Unary) Pos() int { return e.At }

// Pos returns where the binary operation starts in the source.
func (e *Binary) Pos() int { return e.At }

// Pos returns where the null test starts in the source.
func (e *IsNull) Pos() int { return e.At }

// Pos returns where the membership test starts in the source.
func (e *In) Pos() int { return e.At }

// Pos returns where the call starts in the source.
func (e *Call) Pos() int { return e.At }

func (e *Column) children() []Expr  { return nil }
func (e *Literal) children() []Expr { return nil }
func (e *Unary) children() []Expr   { return []Expr{e.X} }
func (e *Binary) children() []Expr  { return []Expr{e.L, e.R} }
func (e *IsNull) children() []Expr  { return []Expr{e.X} }
func (e *In) children() []Expr      { return append([]Expr{e.X}, e.List...) }
func (e *Call) children() []Expr    { return e.Args }

// Columns lists the columns the column reference reads.
func (e *Column) Columns() []string { return columns(e) }

// Columns lists the columns the literal reads.
func (e *Literal) Columns() []string { return columns(e) }

// Columns lists the columns the unary operation reads.
func (e *Unary) Columns() []string { return columns(e) }

// Columns lists the columns the binary operation reads.
func (e *Binary) Columns() []string { return columns(e) }

// Columns lists the columns the null test reads.
func (e *IsNull) Columns() []string { return columns(e) }

// Columns lists the columns the membership test reads.
func (e *In) Columns() []string { return columns(e) }

// Columns lists the columns the call reads.
func (e *Call) Columns() []string { return columns(e) }

func columns(e Expr) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(Expr)
	walk = func(e Expr) {
		if c, ok := e.(*Column); ok && !seen[c.Name] {
			seen[c.Name] = true
			out = append(out, c.Name)
		}
		for _, ch := range e.children() {
			walk(ch)
		}
	}
	walk(e)
	return out
}

// String renders the column reference as source text.
func (e *Column) String() string {
	if isIdent(e.Name) && !isKeyword(e.Name) {
		return e.Name
	}
	return "col(" + quote(e.Name) + ")"
}

// String renders the literal as source text.
func (e *Literal) String() string {
	switch v := e.Value.(type) {
	case nil:
		return "null"
	case string:
		return quote(v)
	case float64:
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEnN") {
			s += ".0"
		}
		return s
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	}
	return "?"
}

// String renders the unary operation as source text.
func (e *Unary) String() string {
	if e.Op == "not" {
		return "(not " + e.X.String() + ")"
	}
	return "(" + e.Op + e.X.String() + ")"
}

// String renders the binary operation as source text.
func (e *Binary) String() string { return "(" + e.L.String() + " " + e.Op + " " + e.R.String() + ")" }

// String renders the null test as source text.
func (e *IsNull) String() string {
	if e.Not {
		return "(" + e.X.String() + " is not null)"
	}
	return "(" + e.X.String() + " is null)"
}

// String renders the membership test as source text.
func (e *In) String() string {
	op := " in ("
	if e.Not {
		op = " not in ("
	}
	return "(" + e.X.String() + op + joinExprs(e.List) + "))"
}

// String renders the call as source text.
func (e *Call) String() string { return e.Name + "(" + joinExprs(e.Args) + ")" }

func joinExprs(list []Expr) string {
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i] = x.String()
	}
	return strings.Join(parts, ", ")
}

// quote renders s as a single-quoted string literal the lexer reads back.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
