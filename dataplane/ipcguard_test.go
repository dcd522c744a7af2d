package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/internal/fuzzcorpus"
)

const schemaOOM = "testdata/fuzz/FuzzIPCGuard/schema-oom"

// The fuzzer's crasher, a 431-byte stream whose schema claims billions
// of fields, is an error at every entry point.
func TestIPCGuardRejectsTheSchemaCrasher(t *testing.T) {
	data := fuzzcorpus.Bytes(t, schemaOOM)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	if _, err := NewIPCStreamReader(bytes.NewReader(data), mem); !errors.Is(err, ErrInvalidIPC) {
		t.Fatalf("stream reader: %v", err)
	}
	// No length hint: the same check, from an unknown-length reader.
	if _, err := NewIPCStreamReader(io.MultiReader(bytes.NewReader(data)), mem); !errors.Is(err, ErrInvalidIPC) {
		t.Fatalf("stream reader without a length: %v", err)
	}
	if _, err := Decode(bytes.NewReader(data), mem); !errors.Is(err, ErrInvalidIPC) {
		t.Fatalf("Decode: %v", err)
	}
	meta := data[8 : 8+binary.LittleEndian.Uint32(data[4:])]
	if err := ValidateIPCMessage(meta, nil, DefaultIPCLimits); !errors.Is(err, ErrInvalidIPC) || !strings.Contains(err.Error(), "schema fields") {
		t.Fatalf("ValidateIPCMessage: %v", err)
	}
}

// guardTypes are fields of most Arrow types, nested ones included.
var guardTypes = []arrow.Field{
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f16", Type: arrow.FixedWidthTypes.Float16},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString},
	{Name: "bin", Type: arrow.BinaryTypes.Binary},
	{Name: "sv", Type: arrow.BinaryTypes.StringView, Nullable: true},
	{Name: "bv", Type: arrow.BinaryTypes.BinaryView},
	{Name: "fsb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}},
	{Name: "d32", Type: arrow.FixedWidthTypes.Date32},
	{Name: "t64", Type: arrow.FixedWidthTypes.Time64ns},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "Europe/Paris"}, Nullable: true},
	{Name: "dur", Type: arrow.FixedWidthTypes.Duration_us},
	{Name: "mdn", Type: arrow.FixedWidthTypes.MonthDayNanoInterval},
	{Name: "dec", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
	{Name: "dec256", Type: &arrow.Decimal256Type{Precision: 40, Scale: 3}},
	{Name: "null", Type: arrow.Null, Nullable: true},
	{Name: "st", Type: arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	), Nullable: true},
	{Name: "ll", Type: arrow.LargeListOf(arrow.StructOf(arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Float32}))},
	{Name: "fsl", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Int16)},
	{Name: "lv", Type: arrow.ListViewOf(arrow.PrimitiveTypes.Int64)},
	{Name: "map", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
	{Name: "dict", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	{Name: "dictlist", Type: arrow.ListOf(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.PrimitiveTypes.Float64})},
	{Name: "sparse", Type: arrow.SparseUnionOf([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true}, {Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
	}, []arrow.UnionTypeCode{3, 7})},
	{Name: "dense", Type: arrow.DenseUnionOf([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true}, {Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, []arrow.UnionTypeCode{0, 1})},
	{Name: "ree", Type: arrow.RunEndEncodedOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String)},
}

// guardBatch builds rows [start, start+n) of schema from arbitrary but
// deterministic values: every builder gets values, nulls where allowed
// and empty values.
func guardBatch(t testing.TB, mem memory.Allocator, schema *arrow.Schema, start, n int) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i, f := range schema.Fields() {
		// The same dictionary in every batch: a file holds only one.
		presetDictionary(t, mem, b.Field(i))
		for r := start; r < start+n; r++ {
			fillValue(t, b.Field(i), f.Type, r)
		}
	}
	return b.NewRecordBatch()
}

// presetDictionary gives the dictionary builders fillValue uses all
// their values up front, in a fixed order.
func presetDictionary(t testing.TB, mem memory.Allocator, b array.Builder) {
	t.Helper()
	var err error
	switch b := b.(type) {
	case *array.BinaryDictionaryBuilder:
		vb := array.NewStringBuilder(mem)
		defer vb.Release()
		vb.AppendValues([]string{"", "v0", "v1", "v2", "v3"}, nil)
		vals := vb.NewStringArray()
		defer vals.Release()
		err = b.InsertStringDictValues(vals)
	case *array.Float64DictionaryBuilder:
		vb := array.NewFloat64Builder(mem)
		defer vb.Release()
		vb.AppendValues([]float64{0, 1, 2}, nil)
		vals := vb.NewFloat64Array()
		defer vals.Release()
		err = b.InsertDictValues(vals)
	case *array.ListBuilder:
		presetDictionary(t, mem, b.ValueBuilder())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// fillValue appends row r to b.
func fillValue(t testing.TB, b array.Builder, dt arrow.DataType, r int) {
	t.Helper()
	if r%5 == 4 {
		b.AppendNull()
		return
	}
	if r%7 == 6 {
		b.AppendEmptyValue()
		return
	}
	s := fmt.Sprint(r % 100)
	switch b := b.(type) {
	case *array.StructBuilder:
		b.Append(true)
		for i := 0; i < b.NumField(); i++ {
			fillValue(t, b.FieldBuilder(i), dt.(*arrow.StructType).Field(i).Type, r+i)
		}
	case *array.ListBuilder:
		b.Append(true)
		for j := 0; j < r%3; j++ {
			fillValue(t, b.ValueBuilder(), dt.(*arrow.ListType).Elem(), r+j)
		}
	case *array.LargeListBuilder:
		b.Append(true)
		for j := 0; j < r%3; j++ {
			fillValue(t, b.ValueBuilder(), dt.(*arrow.LargeListType).Elem(), r+j)
		}
	case *array.ListViewBuilder:
		b.AppendWithSize(true, r%3)
		for j := 0; j < r%3; j++ {
			fillValue(t, b.ValueBuilder(), dt.(*arrow.ListViewType).Elem(), r+j)
		}
	case *array.FixedSizeListBuilder:
		b.Append(true)
		for j := 0; j < 2; j++ {
			fillValue(t, b.ValueBuilder(), dt.(*arrow.FixedSizeListType).Elem(), r+j)
		}
	case *array.MapBuilder:
		b.Append(true)
		for j := 0; j < r%3; j++ {
			b.KeyBuilder().(*array.StringBuilder).Append("k" + fmt.Sprint(j))
			b.ItemBuilder().(*array.Int64Builder).Append(int64(r * j))
		}
	case *array.SparseUnionBuilder:
		code := []arrow.UnionTypeCode{3, 7}[r%2]
		b.Append(code)
		for i, c := range []arrow.UnionTypeCode{3, 7} {
			child := b.Child(i)
			if c == code {
				fillValue(t, child, dt.(arrow.UnionType).Fields()[i].Type, r)
			} else {
				child.AppendEmptyValue()
			}
		}
	case *array.DenseUnionBuilder:
		b.Append(arrow.UnionTypeCode(r % 2))
		fillValue(t, b.Child(r%2), dt.(arrow.UnionType).Fields()[r%2].Type, r)
	case *array.RunEndEncodedBuilder:
		b.Append(1)
		b.ValueBuilder().(*array.StringBuilder).Append("run" + s)
	case *array.BinaryDictionaryBuilder:
		if err := b.AppendString("v" + fmt.Sprint(r%4)); err != nil {
			t.Fatal(err)
		}
	case array.DictionaryBuilder:
		if err := b.(*array.Float64DictionaryBuilder).Append(float64(r % 3)); err != nil {
			t.Fatal(err)
		}
	case *array.NullBuilder:
		b.AppendNull()
	default:
		if n := b.Len(); b.AppendValueFromString(s) != nil && b.Len() == n {
			// Types that do not read a bare number (dates, say).
			b.AppendEmptyValue()
		}
	}
}

// guardInputs writes recs as a stream and as a file, with opts.
func guardInputs(t *testing.T, schema *arrow.Schema, recs []arrow.RecordBatch, opts ...ipc.Option) (stream, file []byte) {
	t.Helper()
	var sb, fb bytes.Buffer
	opts = append([]ipc.Option{ipc.WithSchema(schema)}, opts...)
	sw := ipc.NewWriter(&sb, opts...)
	fw, err := ipc.NewFileWriter(&fb, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := sw.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := fw.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return sb.Bytes(), fb.Bytes()
}

// checkReadsBack reads stream and file through the guard and compares
// the batches with recs.
func checkReadsBack(t *testing.T, stream, file []byte, recs []arrow.RecordBatch) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, r := range []io.Reader{bytes.NewReader(stream), io.MultiReader(bytes.NewReader(stream))} {
		rr, err := NewIPCStreamReader(r, mem)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for ; rr.Next(); i++ {
			if !array.RecordEqual(rr.RecordBatch(), recs[i]) {
				t.Fatalf("stream batch %d differs:\n%v\nwant\n%v", i, rr.RecordBatch(), recs[i])
			}
		}
		if err := rr.Err(); err != nil || i != len(recs) {
			t.Fatalf("stream: %d batches, %v", i, err)
		}
		rr.Release()
	}
	if err := ValidateIPCFile(bytes.NewReader(file), int64(len(file)), DefaultIPCLimits); err != nil {
		t.Fatal(err)
	}
	fr, err := ipc.NewFileReader(bytes.NewReader(file), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	for i := range recs {
		rec, err := fr.RecordBatchAt(i)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(rec, recs[i]) {
			t.Fatalf("file batch %d differs", i)
		}
		rec.Release()
	}
}

// Valid streams and files of every type, compressed or not, with
// dictionary deltas, large and deep schemas, read as before.
func TestIPCGuardPassesValidData(t *testing.T) {
	md := arrow.NewMetadata([]string{"origin", "note"}, []string{"test", strings.Repeat("x", 1000)})
	fields := append([]arrow.Field(nil), guardTypes...)
	fields[0].Metadata = arrow.NewMetadata([]string{"unit"}, []string{"m"})
	all := arrow.NewSchema(fields, &md)

	wide := make([]arrow.Field, 5000)
	for i := range wide {
		wide[i] = arrow.Field{Name: fmt.Sprintf("c%d", i), Type: arrow.PrimitiveTypes.Int32, Nullable: true}
	}
	deep := arrow.DataType(arrow.PrimitiveTypes.Int64)
	for range DefaultIPCLimits.MaxDepth - 1 { // as deep as arrow-go writes
		deep = arrow.StructOf(arrow.Field{Name: "n", Type: deep, Nullable: true})
	}
	schemas := map[string]*arrow.Schema{
		"all types": all,
		"wide":      arrow.NewSchema(wide, nil),
		"deep":      arrow.NewSchema([]arrow.Field{{Name: "d", Type: deep, Nullable: true}}, nil),
		"empty":     arrow.NewSchema(nil, nil),
	}
	opts := map[string][]ipc.Option{
		"plain":  nil,
		"lz4":    {ipc.WithLZ4()},
		"zstd":   {ipc.WithZstd()},
		"deltas": {ipc.WithDictionaryDeltas(true)},
	}
	for sname, schema := range schemas {
		for oname, o := range opts {
			t.Run(sname+"/"+oname, func(t *testing.T) {
				mem := memory.NewGoAllocator()
				var recs []arrow.RecordBatch
				for i, n := range []int{0, 1, 40, 300} {
					if sname == "wide" && i > 1 {
						break
					}
					recs = append(recs, guardBatch(t, mem, schema, i*1000, n))
				}
				defer func() {
					for _, r := range recs {
						r.Release()
					}
				}()
				stream, file := guardInputs(t, schema, recs, o...)
				checkReadsBack(t, stream, file, recs)
			})
		}
	}
}
