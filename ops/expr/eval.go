package expr

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Eval evaluates e over every row of rec and returns a column of
// rec.NumRows() values, which the caller releases. Arithmetic, comparisons
// and boolean logic run as Arrow compute kernels over whole columns; mixed
// integer and float operands are widened. "/" always divides as float64
// (division by zero gives ±Inf or NaN); "%" of integers by zero is null.
// Nulls propagate, except through "and"/"or" (three-valued logic), the
// null tests and coalesce.
func Eval(ctx context.Context, mem memory.Allocator, e Expr, rec arrow.RecordBatch) (arrow.Array, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	ev := &evaluator{ctx: compute.WithAllocator(ctx, mem), mem: mem, rec: rec, n: int(rec.NumRows())}
	v, err := ev.eval(e)
	if err != nil {
		return nil, err
	}
	defer v.release()
	return ev.materialize(v, nil)
}

// Check evaluates e over an empty batch of schema: it reports unknown
// columns and type errors before any data is read, and returns the type
// of the result.
func Check(ctx context.Context, mem memory.Allocator, e Expr, schema *arrow.Schema) (arrow.DataType, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = array.MakeArrayOfNull(mem, f.Type, 0)
	}
	rec := array.NewRecordBatch(schema, cols, 0)
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	out, err := Eval(ctx, mem, e, rec)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	return out.DataType(), nil
}

// val is an intermediate result: a column or a constant. It owns a
// reference to whichever it holds.
type val struct {
	arr arrow.Array
	sc  scalar.Scalar
}

func (v val) typ() arrow.DataType {
	if v.arr != nil {
		return v.arr.DataType()
	}
	return v.sc.DataType()
}

func (v val) release() {
	if v.arr != nil {
		v.arr.Release()
	} else if r, ok := v.sc.(scalar.Releasable); ok {
		r.Release()
	}
}

func (v val) datum() compute.Datum {
	if v.arr != nil {
		return compute.NewDatumWithoutOwning(v.arr)
	}
	return compute.NewDatumWithoutOwning(v.sc)
}

func releaseAll(vs []val) {
	for _, v := range vs {
		v.release()
	}
}

type evaluator struct {
	ctx context.Context
	mem memory.Allocator
	rec arrow.RecordBatch
	n   int
}

// errAt prefixes a problem with where in the expression it happened.
func errAt(e Expr, format string, args ...any) error {
	if e == nil {
		return fmt.Errorf(format, args...)
	}
	return fmt.Errorf("column %d, in %s: %s", e.Pos(), e.String(), fmt.Sprintf(format, args...))
}

func (ev *evaluator) eval(e Expr) (val, error) {
	if err := ev.ctx.Err(); err != nil {
		return val{}, err
	}
	switch e := e.(type) {
	case *Column:
		idx := ev.rec.Schema().FieldIndices(e.Name)
		if len(idx) == 0 {
			names := make([]string, ev.rec.Schema().NumFields())
			for i, f := range ev.rec.Schema().Fields() {
				names[i] = f.Name
			}
			return val{}, fmt.Errorf("column %d: unknown column %q (available: %s)", e.At, e.Name, strings.Join(names, ", "))
		}
		arr := ev.rec.Column(idx[0])
		arr.Retain()
		return val{arr: arr}, nil
	case *Literal:
		return val{sc: literal(e.Value)}, nil
	case *Unary:
		return ev.unary(e)
	case *Binary:
		return ev.binary(e)
	case *IsNull:
		return ev.isNull(e, e.X, e.Not)
	case *In:
		return ev.in(e)
	case *Call:
		return ev.call(e)
	}
	return val{}, fmt.Errorf("unknown expression %T", e)
}

func literal(v any) scalar.Scalar {
	switch v := v.(type) {
	case int64:
		return scalar.NewInt64Scalar(v)
	case float64:
		return scalar.NewFloat64Scalar(v)
	case string:
		return scalar.NewStringScalar(v)
	case bool:
		return scalar.NewBooleanScalar(v)
	}
	return scalar.ScalarNull
}

// evalAll evaluates each expression; on error nothing is left held.
func (ev *evaluator) evalAll(es ...Expr) ([]val, error) {
	vs := make([]val, 0, len(es))
	for _, x := range es {
		v, err := ev.eval(x)
		if err != nil {
			releaseAll(vs)
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// fn runs a compute function over vals without taking their ownership.
func (ev *evaluator) fn(e Expr, name string, opts compute.FunctionOptions, args ...val) (val, error) {
	ds := make([]compute.Datum, len(args))
	for i, a := range args {
		ds[i] = a.datum()
	}
	out, err := compute.CallFunction(ev.ctx, name, opts, ds...)
	if err != nil {
		return val{}, errAt(e, "%v", err)
	}
	switch d := out.(type) {
	case *compute.ArrayDatum:
		arr := d.MakeArray()
		d.Release()
		return val{arr: arr}, nil
	case *compute.ScalarDatum:
		return val{sc: d.Value}, nil
	}
	out.Release()
	return val{}, errAt(e, "%s returned an unexpected %s", name, out.Kind())
}

func (ev *evaluator) unary(e *Unary) (val, error) {
	x, err := ev.eval(e.X)
	if err != nil {
		return val{}, err
	}
	defer x.release()
	if e.Op == "not" {
		x, err := ev.asBool(e, x)
		if err != nil {
			return val{}, err
		}
		defer x.release()
		return ev.fn(e, "not", nil, x)
	}
	if isNullType(x.typ()) {
		return val{sc: scalar.ScalarNull}, nil
	}
	if !isNumeric(x.typ()) {
		return val{}, errAt(e, "cannot negate %s, want a number", x.typ())
	}
	return ev.fn(e, "negate", nil, x)
}

var arithFuncs = map[string]string{"+": "add", "-": "subtract", "*": "multiply", "/": "divide_unchecked"}

var compareFuncs = map[string]string{"==": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal"}

func (ev *evaluator) binary(e *Binary) (val, error) {
	vs, err := ev.evalAll(e.L, e.R)
	if err != nil {
		return val{}, err
	}
	defer releaseAll(vs)
	l, r := vs[0], vs[1]
	switch e.Op {
	case "and", "or":
		lb, err := ev.asBool(e, l)
		if err != nil {
			return val{}, err
		}
		defer lb.release()
		rb, err := ev.asBool(e, r)
		if err != nil {
			return val{}, err
		}
		defer rb.release()
		return ev.fn(e, e.Op+"_kleene", nil, lb, rb)
	case "%":
		return ev.mod(e, l, r)
	}
	if name, ok := compareFuncs[e.Op]; ok {
		return ev.compare(e, name, l, r)
	}
	lt, rt := l.typ(), r.typ()
	if isNullType(lt) || isNullType(rt) {
		return val{sc: scalar.ScalarNull}, nil
	}
	if !isNumeric(lt) || !isNumeric(rt) {
		return val{}, errAt(e, "%s needs numbers, got %s and %s", e.Op, lt, rt)
	}
	if e.Op == "/" {
		fl, err := ev.cast(e, l, arrow.PrimitiveTypes.Float64)
		if err != nil {
			return val{}, err
		}
		defer fl.release()
		fr, err := ev.cast(e, r, arrow.PrimitiveTypes.Float64)
		if err != nil {
			return val{}, err
		}
		defer fr.release()
		return ev.fn(e, arithFuncs["/"], nil, fl, fr)
	}
	return ev.fn(e, arithFuncs[e.Op], nil, l, r)
}

// compare runs a comparison after checking both sides are comparable; a
// string constant compared with a date or timestamp is read as one.
func (ev *evaluator) compare(e Expr, name string, l, r val) (val, error) {
	lt, rt := l.typ(), r.typ()
	if isNullType(lt) || isNullType(rt) {
		return val{sc: scalar.MakeNullScalar(arrow.FixedWidthTypes.Boolean)}, nil
	}
	switch {
	case isTemporal(lt) && isString(rt) && r.sc != nil:
		t, err := temporalConst(e, r.sc, lt)
		if err != nil {
			return val{}, err
		}
		return ev.fn(e, name, nil, l, val{sc: t})
	case isString(lt) && isTemporal(rt) && l.sc != nil:
		t, err := temporalConst(e, l.sc, rt)
		if err != nil {
			return val{}, err
		}
		return ev.fn(e, name, nil, val{sc: t}, r)
	}
	if class(lt) != class(rt) || class(lt) == "" {
		return val{}, errAt(e, "cannot compare %s with %s", lt, rt)
	}
	return ev.fn(e, name, nil, l, r)
}

// temporalConst reads a string constant as a date or timestamp of type dt.
func temporalConst(e Expr, sc scalar.Scalar, dt arrow.DataType) (scalar.Scalar, error) {
	if !sc.IsValid() {
		return scalar.MakeNullScalar(dt), nil
	}
	s := sc.String()
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
		if t, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errAt(e, "%q is not a date or time (write 2024-01-31 or 2024-01-31T12:00:00Z)", s)
	}
	switch dt := dt.(type) {
	case *arrow.Date32Type:
		return scalar.NewDate32Scalar(arrow.Date32FromTime(t)), nil
	case *arrow.Date64Type:
		return scalar.NewDate64Scalar(arrow.Date64FromTime(t)), nil
	case *arrow.TimestampType:
		ts, err := arrow.TimestampFromTime(t, dt.Unit)
		if err != nil {
			return nil, errAt(e, "%q: %v", s, err)
		}
		return scalar.NewTimestampScalar(ts, dt), nil
	}
	return nil, errAt(e, "cannot compare %s with a string", dt)
}

func (ev *evaluator) isNull(e Expr, x Expr, not bool) (val, error) {
	v, err := ev.eval(x)
	if err != nil {
		return val{}, err
	}
	defer v.release()
	if v.sc != nil {
		return val{sc: scalar.NewBooleanScalar(v.sc.IsValid() == not)}, nil
	}
	if not {
		return ev.fn(e, "is_not_null", nil, v)
	}
	return ev.fn(e, "is_null", nil, v)
}

// in is x == a or x == b ..., with SQL's null rules.
func (ev *evaluator) in(e *In) (val, error) {
	x, err := ev.eval(e.X)
	if err != nil {
		return val{}, err
	}
	defer x.release()
	var acc val
	for _, item := range e.List {
		v, err := ev.eval(item)
		if err != nil {
			acc.release()
			return val{}, err
		}
		eq, err := ev.compare(e, "equal", x, v)
		v.release()
		if err != nil {
			acc.release()
			return val{}, err
		}
		if acc.arr == nil && acc.sc == nil {
			acc = eq
			continue
		}
		next, err := ev.fn(e, "or_kleene", nil, acc, eq)
		acc.release()
		eq.release()
		if err != nil {
			return val{}, err
		}
		acc = next
	}
	if !e.Not {
		return acc, nil
	}
	defer acc.release()
	return ev.fn(e, "not", nil, acc)
}

// asBool returns v as a boolean value (a null constant becomes a boolean
// null); the result must be released.
func (ev *evaluator) asBool(e Expr, v val) (val, error) {
	switch {
	case isNullType(v.typ()):
		return val{sc: scalar.MakeNullScalar(arrow.FixedWidthTypes.Boolean)}, nil
	case v.typ().ID() != arrow.BOOL:
		return val{}, errAt(e, "want true/false, got %s", v.typ())
	}
	return ev.retain(v), nil
}

func (ev *evaluator) retain(v val) val {
	if v.arr != nil {
		v.arr.Retain()
	} else if r, ok := v.sc.(scalar.Releasable); ok {
		r.Retain()
	}
	return v
}

// cast converts v to dt; the result must be released.
func (ev *evaluator) cast(e Expr, v val, dt arrow.DataType) (val, error) {
	if arrow.TypeEqual(v.typ(), dt) {
		return ev.retain(v), nil
	}
	if v.sc != nil {
		sc, err := v.sc.CastTo(dt)
		if err != nil {
			return val{}, errAt(e, "cannot convert %s to %s: %v", v.sc, dt, err)
		}
		return val{sc: sc}, nil
	}
	arr, err := compute.CastArray(ev.ctx, v.arr, compute.SafeCastOptions(dt))
	if err != nil {
		return val{}, errAt(e, "cannot convert %s to %s: %v", v.typ(), dt, err)
	}
	return val{arr: arr}, nil
}

// materialize returns v as a column of the batch's length, cast to dt when
// dt is not nil.
func (ev *evaluator) materialize(v val, dt arrow.DataType) (arrow.Array, error) {
	if dt != nil && !arrow.TypeEqual(v.typ(), dt) {
		if isNullType(v.typ()) {
			return array.MakeArrayOfNull(ev.mem, dt, ev.n), nil
		}
		c, err := ev.cast(nil, v, dt)
		if err != nil {
			return nil, err
		}
		defer c.release()
		return ev.materialize(c, nil)
	}
	if v.arr != nil {
		if v.arr.Len() != ev.n {
			return nil, fmt.Errorf("expression gave %d values for %d rows", v.arr.Len(), ev.n)
		}
		v.arr.Retain()
		return v.arr, nil
	}
	if isNullType(v.typ()) {
		return array.NewNull(ev.n), nil
	}
	return scalar.MakeArrayFromScalar(v.sc, ev.n, ev.mem)
}

func isNullType(dt arrow.DataType) bool { return dt.ID() == arrow.NULL }

func isNumeric(dt arrow.DataType) bool {
	return arrow.IsInteger(dt.ID()) || arrow.IsFloating(dt.ID()) || arrow.IsDecimal(dt.ID())
}

func isString(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

func isTemporal(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
		return true
	}
	return false
}

// class groups types that compare with each other.
func class(dt arrow.DataType) string {
	switch {
	case isNumeric(dt):
		return "number"
	case isString(dt):
		return "string"
	case isTemporal(dt):
		return "time"
	case dt.ID() == arrow.BOOL:
		return "bool"
	case arrow.IsBinaryLike(dt.ID()):
		return "binary"
	}
	return ""
}
