package expr

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// testBatch has 5 rows:
//
//	i:  1, 2, null, 4, -5        (int64)
//	f:  0.5, 2, 3.5, null, -1.25 (float64)
//	s:  "Apple", "banana", null, "cherry", "ApPle pie"
//	b:  true, false, null, true, false
//	n32: 10, 20, 30, 40, 50      (int32)
//	d:  2024-01-01 .. 2024-01-05 (date32)
//	"unit price": 1..5           (float64)
func testBatch(mem memory.Allocator) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "n32", Type: arrow.PrimitiveTypes.Int32},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "unit price", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	valid := []bool{true, true, false, true, true}
	bld.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 0, 4, -5}, valid)
	bld.Field(1).(*array.Float64Builder).AppendValues([]float64{0.5, 2, 3.5, 0, -1.25}, []bool{true, true, true, false, true})
	bld.Field(2).(*array.StringBuilder).AppendValues([]string{"Apple", "banana", "", "cherry", "ApPle pie"}, valid)
	bld.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false, false, true, false}, valid)
	bld.Field(4).(*array.Int32Builder).AppendValues([]int32{10, 20, 30, 40, 50}, nil)
	day := arrow.Date32FromTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	for k := 0; k < 5; k++ {
		bld.Field(5).(*array.Date32Builder).Append(day + arrow.Date32(k))
		bld.Field(6).(*array.Float64Builder).Append(float64(k + 1))
	}
	return bld.NewRecordBatch()
}

// render shows a result column as "v1 v2 ..." with null for nulls.
func render(arr arrow.Array) string {
	parts := make([]string, arr.Len())
	for k := range parts {
		parts[k] = arr.ValueStr(k)
		if arr.IsNull(k) || arr.DataType().ID() == arrow.NULL {
			parts[k] = "null"
		}
	}
	return strings.Join(parts, " ")
}

func evalString(t *testing.T, mem memory.Allocator, rec arrow.RecordBatch, src string) (string, arrow.DataType, error) {
	t.Helper()
	e, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	arr, err := Eval(context.Background(), mem, e, rec)
	if err != nil {
		return "", nil, err
	}
	defer arr.Release()
	if arr.Len() != int(rec.NumRows()) {
		t.Fatalf("%s: %d values for %d rows", src, arr.Len(), rec.NumRows())
	}
	return render(arr), arr.DataType(), nil
}

func TestEval(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := testBatch(mem)
	defer rec.Release()
	for _, tc := range []struct{ src, want, typ string }{
		{"i", "1 2 null 4 -5", "int64"},
		{"i + 1", "2 3 null 5 -4", "int64"},
		{"i * n32 - 1", "9 39 null 159 -251", "int64"},
		{"i + f", "1.5 4 null null -6.25", "float64"},
		{"i / 2", "0.5 1 null 2 -2.5", "float64"},
		{"1 / 0", "+Inf +Inf +Inf +Inf +Inf", "float64"},
		{"i % 3", "1 2 null 1 -2", "int64"},
		{"i % 0", "null null null null null", "int64"},
		{"f % 2", "0.5 0 1.5 null -1.25", "float64"},
		{"-i", "-1 -2 null -4 5", "int64"},
		{"i > 1", "false true null true false", "bool"},
		{"i >= 2.5", "false false null true false", "bool"},
		{"f == i", "false true null null false", "bool"},
		{"n32 < 25", "true true false false false", "bool"},
		{"s == 'banana'", "false true null false false", "bool"},
		{"s != 'banana'", "true false null true true", "bool"},
		{"s < 'b'", "true false null false true", "bool"},
		{"d >= '2024-01-03'", "false false true true true", "bool"},
		{"b and i > 1", "false false null true false", "bool"},
		{"b or i > 1", "true true null true false", "bool"},
		{"b or true", "true true true true true", "bool"},
		{"b and false", "false false false false false", "bool"},
		{"not b", "false true null false true", "bool"},
		{"i is null", "false false true false false", "bool"},
		{"s is not null", "true true false true true", "bool"},
		{"is_null(f)", "false false false true false", "bool"},
		{"i in (1, 4, 7)", "true false null true false", "bool"},
		{"i not in (1, 4)", "false true null false true", "bool"},
		{"s in ('Apple', 'cherry')", "true false null true false", "bool"},
		{"coalesce(i, 0)", "1 2 0 4 -5", "int64"},
		{"coalesce(f, i, 99)", "0.5 2 3.5 4 -1.25", "float64"},
		{"coalesce(i, f)", "1 2 3.5 4 -5", "float64"},
		{"coalesce(s, 'none')", "Apple banana none cherry ApPle pie", "utf8"},
		{"coalesce(null, 1)", "1 1 1 1 1", "int64"},
		{"lower(s)", "apple banana null cherry apple pie", "utf8"},
		{"upper(s)", "APPLE BANANA null CHERRY APPLE PIE", "utf8"},
		{"length(s)", "5 6 null 6 9", "int64"},
		{"length('héllo')", "5 5 5 5 5", "int64"},
		{"contains(lower(s), 'apple')", "true false null false true", "bool"},
		{"starts_with(s, 'Ap')", "true false null false true", "bool"},
		{"contains(s, s)", "true true null true true", "bool"},
		{"abs(i)", "1 2 null 4 5", "int64"},
		{"abs(f)", "0.5 2 3.5 null 1.25", "float64"},
		{"round(f)", "1 2 4 null -1", "float64"},
		{"round(f, 1)", "0.5 2 3.5 null -1.3", "float64"},
		{"round(i)", "1 2 null 4 -5", "int64"},
		{`col("unit price") * 2`, "2 4 6 8 10", "float64"},
		{"1 + 2", "3 3 3 3 3", "int64"},
		{"true", "true true true true true", "bool"},
		{"null", "null null null null null", "null"},
		{"i == null", "null null null null null", "bool"},
		{"i + null", "null null null null null", "null"},
		{"(i > 0) == b", "true false null true true", "bool"},
	} {
		got, typ, err := evalString(t, mem, rec, tc.src)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if got != tc.want || typ.String() != tc.typ {
			t.Errorf("%s = %s (%s), want %s (%s)", tc.src, got, typ, tc.want, tc.typ)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := testBatch(mem)
	defer rec.Release()
	for src, want := range map[string]string{
		"agee > 1":                `column 1: unknown column "agee" (available: i, f, s, b, n32, d, unit price)`,
		"i + s":                   "column 3, in (i + s): + needs numbers, got int64 and utf8",
		"s > 1":                   "cannot compare utf8 with int64",
		"i and b":                 "want true/false, got int64",
		"not s":                   "want true/false, got utf8",
		"-s":                      "cannot negate utf8",
		"lower(i)":                "lower needs a string, got int64",
		"abs(s)":                  "abs needs a number",
		"round(s)":                "round needs a number",
		"coalesce(i, s)":          "coalesce arguments have different types: int64, utf8",
		"d > 'yesterday'":         `"yesterday" is not a date or time`,
		"s % 2":                   "% needs numbers",
		"i in (1, 'x')":           "cannot compare int64 with utf8",
		"contains(s, 1)":          "contains needs a string, got int64",
		"9223372036854775807 + i": "overflow",
	} {
		_, _, err := evalString(t, mem, rec, src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := testBatch(mem)
	schema := rec.Schema()
	rec.Release()
	for src, want := range map[string]string{"i > 1 and s is not null": "bool", "i + f": "float64", "lower(s)": "utf8"} {
		e, _ := Parse(src)
		dt, err := Check(context.Background(), mem, e, schema)
		if err != nil || dt.String() != want {
			t.Errorf("Check(%s) = %v, %v; want %s", src, dt, err, want)
		}
	}
	e, _ := Parse("nope + 1")
	if _, err := Check(context.Background(), mem, e, schema); err == nil {
		t.Error("Check accepted an unknown column")
	}
}

func TestEvalCancelled(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := testBatch(mem)
	defer rec.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, _ := Parse("i + 1 > 2")
	if _, err := Eval(ctx, mem, e, rec); err != context.Canceled {
		t.Fatalf("Eval on cancelled ctx = %v", err)
	}
}

func ExampleParse() {
	e, err := Parse(`price * qty > 100 and lower(country) in ('fr', 'de')`)
	if err != nil {
		panic(err)
	}
	fmt.Println(e)
	fmt.Println(e.Columns())
	// Output:
	// (((price * qty) > 100) and (lower(country) in ('fr', 'de')))
	// [price qty country]
}
