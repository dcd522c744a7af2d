package expr

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tFloat
	tString
	tOp
)

type token struct {
	kind tokKind
	text string // identifier, operator, or the decoded string
	num  any    // int64 or float64 for numbers
	col  int
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return "string " + quote(t.text)
	case tIdent:
		return strconv.Quote(t.text)
	}
	return strconv.Quote(t.text)
}

// lex splits src into tokens.
func lex(src string) ([]token, error) {
	var toks []token
	col := 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRuneInString(src[i:])
		start := col
		switch {
		case r == utf8.RuneError && size == 1:
			return nil, &SyntaxError{col, "invalid UTF-8"}
		case unicode.IsSpace(r):
			i += size
			col++
			continue
		case r == '_' || unicode.IsLetter(r):
			j := i
			for j < len(src) {
				r, n := utf8.DecodeRuneInString(src[j:])
				if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				j += n
				col++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], col: start})
			i = j
			continue
		case r >= '0' && r <= '9' || r == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			tok, n, err := lexNumber(src[i:], start)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
			i += n
			col += n
			continue
		case r == '\'' || r == '"':
			text, n, cols, err := lexString(src[i:], start)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tString, text: text, col: start})
			i += n
			col += cols
			continue
		}
		op := ""
		for _, cand := range []string{"==", "!=", "<>", "<=", ">=", "&&", "||", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",", "!"} {
			if strings.HasPrefix(src[i:], cand) {
				op = cand
				break
			}
		}
		if op == "" {
			return nil, &SyntaxError{start, fmt.Sprintf("unexpected character %q", r)}
		}
		toks = append(toks, token{kind: tOp, text: op, col: start})
		i += len(op)
		col += len(op)
	}
	return append(toks, token{kind: tEOF, col: col}), nil
}

func lexNumber(s string, col int) (token, int, error) {
	j, float := 0, false
	digits := func() {
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	}
	digits()
	if j < len(s) && s[j] == '.' {
		float = true
		j++
		digits()
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && s[k] >= '0' && s[k] <= '9' {
			float = true
			j = k
			digits()
		}
	}
	if j < len(s) {
		if r, _ := utf8.DecodeRuneInString(s[j:]); r == '_' || unicode.IsLetter(r) {
			return token{}, 0, &SyntaxError{col, fmt.Sprintf("malformed number %q", s[:j+1])}
		}
	}
	text := s[:j]
	if !float {
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return token{}, 0, &SyntaxError{col, fmt.Sprintf("integer %s is too large", text)}
		}
		return token{kind: tInt, text: text, num: v, col: col}, j, nil
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return token{}, 0, &SyntaxError{col, fmt.Sprintf("malformed number %q", text)}
	}
	return token{kind: tFloat, text: text, num: v, col: col}, j, nil
}

// lexString reads a quoted string with backslash escapes; it returns the
// text, the bytes and the characters consumed.
func lexString(s string, col int) (string, int, int, error) {
	q := s[0]
	var b strings.Builder
	cols := 1
	for i := 1; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return "", 0, 0, &SyntaxError{col + cols, "invalid UTF-8"}
		}
		switch {
		case s[i] == q:
			return b.String(), i + 1, cols + 1, nil
		case s[i] == '\\':
			if i+1 >= len(s) {
				return "", 0, 0, &SyntaxError{col, "unterminated string"}
			}
			switch e := s[i+1]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"':
				b.WriteByte(e)
			default:
				return "", 0, 0, &SyntaxError{col + cols, fmt.Sprintf(`unknown escape \%c (use \\, \', \", \n, \t or \r)`, e)}
			}
			i += 2
			cols += 2
			continue
		}
		b.WriteRune(r)
		i += size
		cols++
	}
	return "", 0, 0, &SyntaxError{col, "unterminated string: close it with " + string(q)}
}
