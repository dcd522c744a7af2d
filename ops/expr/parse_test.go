package expr

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestParse(t *testing.T) {
	for src, want := range map[string]string{
		"a":                        "a",
		"a + b * 2":                "(a + (b * 2))",
		"(a + b) * 2":              "((a + b) * 2)",
		"a - b - c":                "((a - b) - c)",
		"a > 1 and b < 2 or not c": "(((a > 1) and (b < 2)) or (not c))",
		"a > 1 && b <= 2 || !c":    "(((a > 1) and (b <= 2)) or (not c))",
		"x = 1":                    "(x == 1)",
		"x <> 'y'":                 "(x != 'y')",
		`name == "it's"`:           `(name == 'it\'s')`,
		`s == 'a\nb\\'`:            `(s == 'a\nb\\')`,
		"x is null":                "(x is null)",
		"x IS NOT NULL":            "(x is not null)",
		"x in (1, 2, 3)":           "(x in (1, 2, 3))",
		"x not in ('a')":           "(x not in ('a'))",
		"-3":                       "-3",
		"-x % 4":                   "((-x) % 4)",
		"1.5e3 + .5":               "(1500.0 + 0.5)",
		`col("unit price") * 2`:    "(col('unit price') * 2)",
		"col('and') > 1":           "(col('and') > 1)",
		"lower(name) == 'bob'":     "(lower(name) == 'bob')",
		"COALESCE(a, b, 0)":        "coalesce(a, b, 0)",
		"round(x, 2)":              "round(x, 2)",
		"round(x, -1)":             "round(x, -1)",
		"true and false or null":   "((true and false) or null)",
		"starts_with(s, 'ab') and contains(s, 'c')": "(starts_with(s, 'ab') and contains(s, 'c'))",
		"été > 1": "(été > 1)",
	} {
		e, err := Parse(src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		if got := e.String(); got != want {
			t.Errorf("Parse(%q) = %s, want %s", src, got, want)
		}
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Errorf("reparse of %s = %v, %v", e, again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]struct {
		col int
		msg string
	}{
		"":                     {1, "empty expression"},
		"a +":                  {4, "expected a value but found end of expression"},
		"a + * b":              {5, `expected a value but found "*"`},
		"(a + b":               {7, `expected ")" but found end of expression`},
		"a b":                  {3, `unexpected "b" after a complete expression`},
		"'abc":                 {1, "unterminated string"},
		"a == 'x\\q'":          {8, `unknown escape \q`},
		"a # b":                {3, "unexpected character '#'"},
		"frob(a)":              {1, "unknown function frob (known: abs, coalesce, col,"},
		"lower(a, b)":          {1, "lower takes 1 argument(s), got 2"},
		"coalesce()":           {1, "coalesce takes at least 1 argument(s), got 0"},
		"col(a)":               {1, "col takes a quoted column name"},
		"round(x, y)":          {1, "round's second argument is a whole number"},
		"x is 3":               {6, "expected null after is"},
		"x in ()":              {3, "in needs at least one value"},
		"and > 1":              {1, "keyword and"},
		"99999999999999999999": {1, "too large"},
		"12abc":                {1, "malformed number"},
		"é + \x01":             {5, "unexpected character"},
	} {
		_, err := Parse(src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError", src, err)
			continue
		}
		if se.Col != want.col || !strings.Contains(se.Msg, want.msg) {
			t.Errorf("Parse(%q) = %v, want column %d: %s", src, err, want.col, want.msg)
		}
	}
	deep := strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000)
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "nests more than") {
		t.Errorf("deep nesting: %v", err)
	}
	if _, err := Parse(strings.Repeat("not ", 1000) + "x"); err == nil {
		t.Error("deep not chain parsed")
	}
}

func TestColumns(t *testing.T) {
	e, err := Parse(`a + b > coalesce(c, a) and col("d e") in (b, 1) and f is null`)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Columns(); !reflect.DeepEqual(got, []string{"a", "b", "c", "d e", "f"}) {
		t.Fatalf("Columns = %v", got)
	}
	lit, _ := Parse("1 + 2")
	if len(lit.Columns()) != 0 {
		t.Fatalf("literal columns = %v", lit.Columns())
	}
}

func FuzzExprParse(f *testing.F) {
	for _, s := range []string{"a > 1 and b < 2", `col("x y") in ('a', "b")`, "not (x is not null)",
		"round(-a % 3, 2) / 0.5", "coalesce(a, b, null) == lower('X')", "((", "'unterminated", "1e", "a <> b || !c", "i % 3 + f / 2 > n32", "coalesce(s, upper(s)) in ('A', null)",
		"d < '2024-01-03' and not b", "starts_with(s, 'a') or length(s) >= 5", "round(f, -1) == abs(i)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Col < 1 {
				t.Fatalf("Parse(%q) error %v is not a positioned SyntaxError", src, err)
			}
			return
		}
		again, err := Parse(e.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", e.String(), src, err)
		}
		if again.String() != e.String() {
			t.Fatalf("canonical form not stable: %q -> %q", e.String(), again.String())
		}
		_ = e.Columns()
		// Evaluating may fail but must not panic or leak.
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rec := testBatch(mem)
		if arr, err := Eval(context.Background(), mem, e, rec); err == nil {
			if arr.Len() != int(rec.NumRows()) {
				t.Fatalf("%s gave %d values for %d rows", e, arr.Len(), rec.NumRows())
			}
			arr.Release()
		}
		rec.Release()
		mem.AssertSize(t, 0)
	})
}
