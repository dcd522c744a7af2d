package expr

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

func (ev *evaluator) call(e *Call) (val, error) {
	if e.Name == "is_null" {
		return ev.isNull(e, e.Args[0], false)
	}
	if e.Name == "round" {
		return ev.round(e)
	}
	args, err := ev.evalAll(e.Args...)
	if err != nil {
		return val{}, err
	}
	defer releaseAll(args)
	switch e.Name {
	case "coalesce":
		return ev.coalesce(e, args)
	case "abs":
		switch t := args[0].typ(); {
		case isNullType(t):
			return val{sc: scalar.ScalarNull}, nil
		case !isNumeric(t):
			return val{}, errAt(e, "abs needs a number, got %s", t)
		}
		return ev.fn(e, "abs", nil, args[0])
	case "lower":
		return ev.mapString(e, args[0], arrow.BinaryTypes.String, func(s string, b array.Builder) {
			b.(*array.StringBuilder).Append(strings.ToLower(s))
		})
	case "upper":
		return ev.mapString(e, args[0], arrow.BinaryTypes.String, func(s string, b array.Builder) {
			b.(*array.StringBuilder).Append(strings.ToUpper(s))
		})
	case "length":
		return ev.mapString(e, args[0], arrow.PrimitiveTypes.Int64, func(s string, b array.Builder) {
			b.(*array.Int64Builder).Append(int64(utf8.RuneCountInString(s)))
		})
	case "contains":
		return ev.stringTest(e, args[0], args[1], strings.Contains)
	case "starts_with":
		return ev.stringTest(e, args[0], args[1], strings.HasPrefix)
	}
	return val{}, errAt(e, "unknown function %s", e.Name)
}

// round rounds half away from zero to n digits (default 0). Integers are
// returned unchanged unless n is negative.
func (ev *evaluator) round(e *Call) (val, error) {
	x, err := ev.eval(e.Args[0])
	if err != nil {
		return val{}, err
	}
	defer x.release()
	var digits int64
	if len(e.Args) == 2 {
		digits = e.Args[1].(*Literal).Value.(int64)
	}
	t := x.typ()
	switch {
	case isNullType(t):
		return val{sc: scalar.ScalarNull}, nil
	case !isNumeric(t):
		return val{}, errAt(e, "round needs a number, got %s", t)
	case arrow.IsInteger(t.ID()) && digits >= 0:
		return ev.retain(x), nil
	}
	opts := compute.RoundOptions{NDigits: digits, Mode: compute.RoundHalfTowardsInfinity}
	return ev.fn(e, "round", &opts, x)
}

// mod is the remainder with the sign of the dividend, as in Go and SQL.
func (ev *evaluator) mod(e Expr, l, r val) (val, error) {
	lt, rt := l.typ(), r.typ()
	if isNullType(lt) || isNullType(rt) {
		return val{sc: scalar.ScalarNull}, nil
	}
	if !isNumeric(lt) || !isNumeric(rt) {
		return val{}, errAt(e, "%% needs numbers, got %s and %s", lt, rt)
	}
	ints := arrow.IsInteger(lt.ID()) && arrow.IsInteger(rt.ID())
	dt := arrow.DataType(arrow.PrimitiveTypes.Float64)
	if ints {
		dt = arrow.PrimitiveTypes.Int64
	}
	la, err := ev.materialize(l, dt)
	if err != nil {
		return val{}, errAt(e, "%v", err)
	}
	defer la.Release()
	ra, err := ev.materialize(r, dt)
	if err != nil {
		return val{}, errAt(e, "%v", err)
	}
	defer ra.Release()
	if ints {
		a, b := la.(*array.Int64), ra.(*array.Int64)
		out := array.NewInt64Builder(ev.mem)
		defer out.Release()
		out.Reserve(ev.n)
		for i := 0; i < ev.n; i++ {
			if a.IsNull(i) || b.IsNull(i) || b.Value(i) == 0 {
				out.AppendNull()
				continue
			}
			if b.Value(i) == -1 { // avoids overflow of MinInt64 % -1
				out.Append(0)
				continue
			}
			out.Append(a.Value(i) % b.Value(i))
		}
		return val{arr: out.NewArray()}, nil
	}
	a, b := la.(*array.Float64), ra.(*array.Float64)
	out := array.NewFloat64Builder(ev.mem)
	defer out.Release()
	out.Reserve(ev.n)
	for i := 0; i < ev.n; i++ {
		if a.IsNull(i) || b.IsNull(i) {
			out.AppendNull()
			continue
		}
		out.Append(math.Mod(a.Value(i), b.Value(i)))
	}
	return val{arr: out.NewArray()}, nil
}

// strings returns row i of a string value; ok is false for null.
type stringsAt func(i int) (s string, ok bool)

// stringsOf reads v as strings; the release func must be called.
func (ev *evaluator) stringsOf(e *Call, v val) (stringsAt, func(), error) {
	t := v.typ()
	switch {
	case isNullType(t):
		return func(int) (string, bool) { return "", false }, func() {}, nil
	case !isString(t):
		return nil, nil, errAt(e, "%s needs a string, got %s", e.Name, t)
	case v.sc != nil:
		if !v.sc.IsValid() {
			return func(int) (string, bool) { return "", false }, func() {}, nil
		}
		s := v.sc.String()
		return func(int) (string, bool) { return s, true }, func() {}, nil
	}
	arr, err := ev.materialize(v, arrow.BinaryTypes.String)
	if err != nil {
		return nil, nil, errAt(e, "%v", err)
	}
	a := arr.(*array.String)
	return func(i int) (string, bool) { return a.Value(i), a.IsValid(i) }, arr.Release, nil
}

// mapString applies f to every non-null string of v.
func (ev *evaluator) mapString(e *Call, v val, out arrow.DataType, f func(string, array.Builder)) (val, error) {
	at, done, err := ev.stringsOf(e, v)
	if err != nil {
		return val{}, err
	}
	defer done()
	b := array.NewBuilder(ev.mem, out)
	defer b.Release()
	n := ev.n
	if v.sc != nil || isNullType(v.typ()) {
		n = 1 // a constant: compute it once
	}
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if s, ok := at(i); ok {
			f(s, b)
		} else {
			b.AppendNull()
		}
	}
	arr := b.NewArray()
	if n == ev.n && v.arr != nil {
		return val{arr: arr}, nil
	}
	defer arr.Release()
	sc, err := scalar.GetScalar(arr, 0)
	if err != nil {
		return val{}, errAt(e, "%v", err)
	}
	return val{sc: sc}, nil
}

// stringTest is contains or starts_with.
func (ev *evaluator) stringTest(e *Call, s, sub val, test func(s, sub string) bool) (val, error) {
	sAt, doneS, err := ev.stringsOf(e, s)
	if err != nil {
		return val{}, err
	}
	defer doneS()
	subAt, doneSub, err := ev.stringsOf(e, sub)
	if err != nil {
		return val{}, err
	}
	defer doneSub()
	b := array.NewBooleanBuilder(ev.mem)
	defer b.Release()
	b.Reserve(ev.n)
	for i := 0; i < ev.n; i++ {
		x, ok1 := sAt(i)
		y, ok2 := subAt(i)
		if !ok1 || !ok2 {
			b.AppendNull()
			continue
		}
		b.Append(test(x, y))
	}
	return val{arr: b.NewArray()}, nil
}

// coalesce returns, row by row, the first argument that is not null.
func (ev *evaluator) coalesce(e *Call, args []val) (val, error) {
	var live []val
	for _, a := range args {
		if !isNullType(a.typ()) {
			live = append(live, a)
		}
	}
	if len(live) == 0 {
		return val{sc: scalar.ScalarNull}, nil
	}
	dt, err := commonType(e, live)
	if err != nil {
		return val{}, err
	}
	allConst := true
	for _, a := range live {
		allConst = allConst && a.sc != nil
	}
	if allConst {
		for _, a := range live {
			if a.sc.IsValid() {
				return ev.cast(e, a, dt)
			}
		}
		return val{sc: scalar.MakeNullScalar(dt)}, nil
	}
	cols := make([]arrow.Array, 0, len(live))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, a := range live {
		c, err := ev.materialize(a, dt)
		if err != nil {
			return val{}, errAt(e, "%v", err)
		}
		cols = append(cols, c)
	}
	if cols[0].NullN() == 0 {
		cols[0].Retain()
		return val{arr: cols[0]}, nil
	}
	// Take row i from the first column valid there, out of all columns
	// laid end to end.
	idx := array.NewInt64Builder(ev.mem)
	defer idx.Release()
	idx.Reserve(ev.n)
	for i := 0; i < ev.n; i++ {
		j := 0
		for j < len(cols)-1 && cols[j].IsNull(i) {
			j++
		}
		idx.Append(int64(j*ev.n + i))
	}
	indices := idx.NewArray()
	defer indices.Release()
	all, err := array.Concatenate(cols, ev.mem)
	if err != nil {
		return val{}, errAt(e, "%v", err)
	}
	defer all.Release()
	out, err := compute.TakeArray(ev.ctx, all, indices)
	if err != nil {
		return val{}, errAt(e, "%v", err)
	}
	return val{arr: out}, nil
}

// commonType is the type all of vs convert to: their own when they agree,
// int64 or float64 for mixed numbers, utf8 for mixed strings.
func commonType(e *Call, vs []val) (arrow.DataType, error) {
	first := vs[0].typ()
	same, nums, floats, strs := true, true, false, true
	for _, v := range vs {
		t := v.typ()
		same = same && arrow.TypeEqual(t, first)
		nums = nums && (arrow.IsInteger(t.ID()) || arrow.IsFloating(t.ID()))
		floats = floats || arrow.IsFloating(t.ID())
		strs = strs && isString(t)
	}
	switch {
	case same:
		return first, nil
	case nums && floats:
		return arrow.PrimitiveTypes.Float64, nil
	case nums:
		return arrow.PrimitiveTypes.Int64, nil
	case strs:
		return arrow.BinaryTypes.String, nil
	}
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.typ().String()
	}
	return nil, errAt(e, "%s arguments have different types: %s", e.Name, strings.Join(names, ", "))
}
