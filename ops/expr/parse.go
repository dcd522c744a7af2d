package expr

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// SyntaxError is a parse error at a position of the source.
type SyntaxError struct {
	// Col is the 1-based column (in characters) of the problem.
	Col int
	Msg string
}

// Error renders the error with its column.
func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 200

// maxLen bounds the source length.
const maxLen = 64 << 10

var keywords = map[string]bool{"and": true, "or": true, "not": true, "is": true, "null": true, "in": true, "true": true, "false": true}

func isKeyword(s string) bool { return keywords[strings.ToLower(s)] }

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// funcs are the known functions with their argument counts (max -1: any).
var funcs = map[string]struct{ min, max int }{
	"col": {1, 1}, "is_null": {1, 1}, "coalesce": {1, -1}, "lower": {1, 1}, "upper": {1, 1},
	"length": {1, 1}, "contains": {2, 2}, "starts_with": {2, 2}, "abs": {1, 1}, "round": {1, 2},
}

func funcNames() string {
	names := make([]string, 0, len(funcs))
	for n := range funcs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

type parser struct {
	toks  []token
	i     int
	depth int
}

// Parse reads an expression. Errors are *SyntaxError values that give the
// column of the problem.
func Parse(src string) (Expr, error) {
	if len(src) > maxLen {
		return nil, &SyntaxError{1, fmt.Sprintf("expression is longer than %d bytes", maxLen)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, &SyntaxError{1, "empty expression"}
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, "unexpected %s after a complete expression", t.describe())
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// isWord reports whether the next token is the keyword w.
func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, w)
}

func (p *parser) isOp(ops ...string) bool {
	t := p.peek()
	if t.kind != tOp {
		return false
	}
	for _, o := range ops {
		if t.text == o {
			return true
		}
	}
	return false
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &SyntaxError{t.col, fmt.Sprintf(format, args...)}
}

func (p *parser) expectOp(op string) error {
	if t := p.next(); t.kind != tOp || t.text != op {
		return p.errAt(t, "expected %q but found %s", op, t.describe())
	}
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(p.peek(), "expression nests more than %d levels deep", maxDepth)
	}
	return nil
}

func (p *parser) or() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.and()
	for err == nil && (p.isWord("or") || p.isOp("||")) {
		t := p.next()
		var r Expr
		if r, err = p.and(); err == nil {
			l = &Binary{Op: "or", L: l, R: r, At: t.col}
		}
	}
	return l, err
}

func (p *parser) and() (Expr, error) {
	l, err := p.not()
	for err == nil && (p.isWord("and") || p.isOp("&&")) {
		t := p.next()
		var r Expr
		if r, err = p.not(); err == nil {
			l = &Binary{Op: "and", L: l, R: r, At: t.col}
		}
	}
	return l, err
}

func (p *parser) not() (Expr, error) {
	if p.isWord("not") || p.isOp("!") {
		t := p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &Unary{Op: "not", X: x, At: t.col}, nil
	}
	return p.comparison()
}

var cmpOps = map[string]string{"==": "==", "=": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

func (p *parser) comparison() (Expr, error) {
	l, err := p.additive()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.kind == tOp && cmpOps[t.text] != "":
		p.next()
		r, err := p.additive()
		if err != nil {
			return nil, err
		}
		return &Binary{Op: cmpOps[t.text], L: l, R: r, At: t.col}, nil
	case p.isWord("is"):
		p.next()
		not := false
		if p.isWord("not") {
			p.next()
			not = true
		}
		if !p.isWord("null") {
			return nil, p.errAt(p.peek(), "expected null after is%s but found %s", map[bool]string{true: " not"}[not], p.peek().describe())
		}
		p.next()
		return &IsNull{X: l, Not: not, At: t.col}, nil
	case p.isWord("in"), p.isWord("not") && p.toks[p.i+1].kind == tIdent && strings.EqualFold(p.toks[p.i+1].text, "in"):
		not := p.isWord("not")
		if not {
			p.next()
		}
		p.next()
		list, err := p.list()
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return nil, p.errAt(t, "in needs at least one value")
		}
		return &In{X: l, List: list, Not: not, At: t.col}, nil
	}
	return l, nil
}

func (p *parser) additive() (Expr, error) {
	l, err := p.multiplicative()
	for err == nil && p.isOp("+", "-") {
		t := p.next()
		var r Expr
		if r, err = p.multiplicative(); err == nil {
			l = &Binary{Op: t.text, L: l, R: r, At: t.col}
		}
	}
	return l, err
}

func (p *parser) multiplicative() (Expr, error) {
	l, err := p.unary()
	for err == nil && p.isOp("*", "/", "%") {
		t := p.next()
		var r Expr
		if r, err = p.unary(); err == nil {
			l = &Binary{Op: t.text, L: l, R: r, At: t.col}
		}
	}
	return l, err
}

func (p *parser) unary() (Expr, error) {
	if p.isOp("-", "+") {
		t := p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if t.text == "+" {
			return x, nil
		}
		if lit, ok := x.(*Literal); ok { // fold -3 into a literal
			switch v := lit.Value.(type) {
			case int64:
				return &Literal{Value: -v, At: t.col}, nil
			case float64:
				return &Literal{Value: -v, At: t.col}, nil
			}
		}
		return &Unary{Op: "-", X: x, At: t.col}, nil
	}
	return p.primary()
}

// list reads "(a, b, ...)".
func (p *parser) list() ([]Expr, error) {
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	var list []Expr
	if p.isOp(")") {
		p.next()
		return list, nil
	}
	for {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		if p.isOp(",") {
			p.next()
			continue
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return list, nil
	}
}

func (p *parser) primary() (Expr, error) {
	t := p.next()
	switch t.kind {
	case tInt, tFloat:
		return &Literal{Value: t.num, At: t.col}, nil
	case tString:
		return &Literal{Value: t.text, At: t.col}, nil
	case tIdent:
		switch strings.ToLower(t.text) {
		case "true", "false":
			return &Literal{Value: strings.EqualFold(t.text, "true"), At: t.col}, nil
		case "null":
			return &Literal{Value: nil, At: t.col}, nil
		}
		if p.isOp("(") {
			return p.call(t)
		}
		if isKeyword(t.text) {
			return nil, p.errAt(t, "expected a value but found the keyword %s (write col(%s) for a column of that name)", t.text, quote(t.text))
		}
		return &Column{Name: t.text, At: t.col}, nil
	case tOp:
		if t.text == "(" {
			if err := p.enter(); err != nil {
				return nil, err
			}
			defer func() { p.depth-- }()
			e, err := p.or()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return e, nil
		}
	}
	return nil, p.errAt(t, "expected a value but found %s", t.describe())
}

func (p *parser) call(name token) (Expr, error) {
	fn := strings.ToLower(name.text)
	arity, ok := funcs[fn]
	if !ok {
		return nil, p.errAt(name, "unknown function %s (known: %s)", name.text, funcNames())
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	args, err := p.list()
	if err != nil {
		return nil, err
	}
	if len(args) < arity.min || arity.max >= 0 && len(args) > arity.max {
		want := strconv.Itoa(arity.min)
		switch {
		case arity.max < 0:
			want = "at least " + want
		case arity.max != arity.min:
			want += " or " + strconv.Itoa(arity.max)
		}
		return nil, p.errAt(name, "%s takes %s argument(s), got %d", fn, want, len(args))
	}
	switch fn {
	case "col":
		lit, ok := args[0].(*Literal)
		s, isStr := lit.stringValue()
		if !ok || !isStr {
			return nil, p.errAt(name, "col takes a quoted column name, as in col(\"unit price\")")
		}
		return &Column{Name: s, At: name.col}, nil
	case "round":
		if len(args) == 2 {
			if lit, ok := args[1].(*Literal); !ok || !isInt(lit.Value) {
				return nil, p.errAt(name, "round's second argument is a whole number of digits, as in round(x, 2)")
			}
		}
	}
	return &Call{Name: fn, Args: args, At: name.col}, nil
}

func (l *Literal) stringValue() (string, bool) {
	if l == nil {
		return "", false
	}
	s, ok := l.Value.(string)
	return s, ok
}

func isInt(v any) bool { _, ok := v.(int64); return ok }
