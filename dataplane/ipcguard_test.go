package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/forged-dev/forged/dag"
)

// corpusEntry reads the []byte value of a one-value Go fuzz corpus file.
func corpusEntry(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, v, _ := strings.Cut(string(b), "\n")
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "[]byte("), ")")
	s, err := strconv.Unquote(v)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

const schemaOOM = "testdata/fuzz/FuzzIPCGuard/schema-oom"

// The fuzzer's crasher, a 431-byte stream whose schema claims billions
// of fields, is an error at every entry point.
func TestIPCGuardRejectsTheSchemaCrasher(t *testing.T) {
	data := corpusEntry(t, schemaOOM)
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

// frame is one message of a stream: metadata (without prefix) and body.
type frame struct{ meta, body []byte }

// splitStream cuts a stream into its messages.
func splitStream(t *testing.T, b []byte) []frame {
	t.Helper()
	var out []frame
	for len(b) >= 8 {
		if binary.LittleEndian.Uint32(b) != continuation {
			t.Fatal("not a continuation marker")
		}
		n := int(binary.LittleEndian.Uint32(b[4:]))
		if n == 0 {
			break
		}
		meta := b[8 : 8+n]
		m, err := newWalker(meta, DefaultIPCLimits).message(-1)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{meta, b[8+n : 8+n+int(m.bodyLen)]})
		b = b[8+n+int(m.bodyLen):]
	}
	return out
}

// joinStream frames messages back into a stream.
func joinStream(frames ...frame) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, continuation)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.meta)))
		b = append(b, f.meta...)
		b = append(b, f.body...)
	}
	return binary.LittleEndian.AppendUint64(b, continuation)
}

// huge is a vector length a crafted message claims.
const huge = 0x7ffffff0

// craftMessage builds a Message with the header build returns; the
// vectors build lists get the length huge after the buffer is finished.
func craftMessage(header byte, bodyLen int64, build func(b *flatbuffers.Builder, vecs *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT) []byte {
	b := flatbuffers.NewBuilder(256)
	var vecs []flatbuffers.UOffsetT
	h := build(b, &vecs)
	b.StartObject(5)
	b.PrependInt16Slot(0, 4, 0) // V5
	b.PrependByteSlot(1, header, 0)
	b.PrependUOffsetTSlot(2, h, 0)
	b.PrependInt64Slot(3, bodyLen, 0)
	b.Finish(b.EndObject())
	out := b.FinishedBytes()
	for _, v := range vecs {
		binary.LittleEndian.PutUint32(out[len(out)-int(v):], huge)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	return out
}

// vec is a vector of n offsets (or, with elem > 4, n zeroed structs).
func vec(b *flatbuffers.Builder, elem int, items ...flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	if elem == 4 {
		b.StartVector(4, len(items), 4)
		for i := len(items) - 1; i >= 0; i-- {
			b.PrependUOffsetT(items[i])
		}
		return b.EndVector(len(items))
	}
	b.StartVector(elem, 1, 8)
	for range elem / 8 {
		b.PrependInt64(0)
	}
	return b.EndVector(1)
}

// field builds Field{name, type Int32 or Struct, children, metadata}.
func craftField(b *flatbuffers.Builder, children, metadata flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	name := b.CreateString("f")
	b.StartObject(2) // Int
	b.PrependInt32Slot(0, 32, 0)
	b.PrependBoolSlot(1, true, false)
	typ := b.EndObject()
	b.StartObject(7)
	b.PrependUOffsetTSlot(0, name, 0)
	b.PrependByteSlot(2, typeInt, 0)
	b.PrependUOffsetTSlot(3, typ, 0)
	if children != 0 {
		b.PrependUOffsetTSlot(5, children, 0)
	}
	if metadata != 0 {
		b.PrependUOffsetTSlot(6, metadata, 0)
	}
	return b.EndObject()
}

func craftSchema(b *flatbuffers.Builder, fields, metadata flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	b.StartObject(4)
	b.PrependUOffsetTSlot(1, fields, 0)
	if metadata != 0 {
		b.PrependUOffsetTSlot(2, metadata, 0)
	}
	return b.EndObject()
}

func craftKeyValue(b *flatbuffers.Builder) flatbuffers.UOffsetT {
	k, v := b.CreateString("k"), b.CreateString("v")
	b.StartObject(2)
	b.PrependUOffsetTSlot(0, k, 0)
	b.PrependUOffsetTSlot(1, v, 0)
	return b.EndObject()
}

// craftRecordBatch builds RecordBatch{length 1, nodes, buffers,
// variadicBufferCounts}; which says which of them claims huge entries.
func craftRecordBatch(b *flatbuffers.Builder, vecs *[]flatbuffers.UOffsetT, which string, variadic int64) flatbuffers.UOffsetT {
	nodes, bufs := vec(b, fieldNodeSize), vec(b, bufferSize)
	b.StartVector(8, 1, 8)
	b.PrependInt64(variadic)
	counts := b.EndVector(1)
	switch which {
	case "nodes":
		*vecs = append(*vecs, nodes)
	case "buffers":
		*vecs = append(*vecs, bufs)
	case "variadic":
		*vecs = append(*vecs, counts)
	}
	b.StartObject(5)
	b.PrependInt64Slot(0, 1, 0)
	b.PrependUOffsetTSlot(1, nodes, 0)
	b.PrependUOffsetTSlot(2, bufs, 0)
	b.PrependUOffsetTSlot(4, counts, 0)
	return b.EndObject()
}

// Messages whose vectors (or values) would make arrow-go allocate far
// beyond the input are refused, whichever vector it is.
func TestIPCGuardRejectsHugeVectors(t *testing.T) {
	oneField := func(b *flatbuffers.Builder, vecs *[]flatbuffers.UOffsetT, children, fieldMD, schemaMD bool) flatbuffers.UOffsetT {
		var ch, fmd, smd flatbuffers.UOffsetT
		if children {
			ch = vec(b, 4, craftField(b, 0, 0))
			*vecs = append(*vecs, ch)
		}
		if fieldMD {
			fmd = vec(b, 4, craftKeyValue(b))
			*vecs = append(*vecs, fmd)
		}
		if schemaMD {
			smd = vec(b, 4, craftKeyValue(b))
			*vecs = append(*vecs, smd)
		}
		return craftSchema(b, vec(b, 4, craftField(b, ch, fmd)), smd)
	}
	cases := map[string][]byte{
		"field children": craftMessage(hdrSchema, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return oneField(b, v, true, false, false)
		}),
		"field metadata": craftMessage(hdrSchema, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return oneField(b, v, false, true, false)
		}),
		"schema metadata": craftMessage(hdrSchema, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return oneField(b, v, false, false, true)
		}),
		"nodes": craftMessage(hdrRecord, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return craftRecordBatch(b, v, "nodes", 0)
		}),
		"buffers": craftMessage(hdrRecord, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return craftRecordBatch(b, v, "buffers", 0)
		}),
		"variadic vector": craftMessage(hdrRecord, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return craftRecordBatch(b, v, "variadic", 0)
		}),
		"variadic count": craftMessage(hdrRecord, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return craftRecordBatch(b, v, "", 1<<40)
		}),
		"dictionary nodes": craftMessage(hdrDictionary, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			data := craftRecordBatch(b, v, "nodes", 0)
			b.StartObject(3)
			b.PrependUOffsetTSlot(1, data, 0)
			return b.EndObject()
		}),
	}
	// The schema cases are sound before the patch: check the builder.
	sound := craftMessage(hdrSchema, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		return oneField(b, new([]flatbuffers.UOffsetT), true, true, true)
	})
	if err := ValidateIPCMessage(sound, nil, DefaultIPCLimits); err != nil {
		t.Fatalf("a sound crafted schema: %v", err)
	}
	if rr, err := NewIPCStreamReader(bytes.NewReader(joinStream(frame{meta: sound})), nil); err != nil {
		t.Fatalf("arrow-go reads the sound crafted schema: %v", err)
	} else {
		rr.Release()
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.StringView}}, nil)
	stream, _ := guardInputs(t, schema, nil)
	schemaMsg := splitStream(t, stream)[0]
	for name, meta := range cases {
		t.Run(name, func(t *testing.T) {
			if err := ValidateIPCMessage(meta, nil, DefaultIPCLimits); !errors.Is(err, ErrInvalidIPC) {
				t.Fatalf("ValidateIPCMessage: %v", err)
			}
			in := joinStream(frame{meta: meta})
			if meta[4] != 0 && !strings.HasPrefix(name, "field") && !strings.HasPrefix(name, "schema") {
				in = joinStream(schemaMsg, frame{meta: meta})
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rr, err := NewIPCStreamReader(bytes.NewReader(in), mem)
			if err == nil {
				for rr.Next() {
				}
				err = rr.Err()
				rr.Release()
			}
			if !errors.Is(err, ErrInvalidIPC) {
				t.Fatalf("reader: %v", err)
			}
		})
	}
}

// allocatedBy reports the bytes f allocates.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A few bytes that declare a huge message cost no more than they hold.
func TestIPCGuardDeclaredLengths(t *testing.T) {
	valid, _ := guardInputs(t, testSchema, nil)
	schemaMsg := splitStream(t, valid)[0]
	bigBody := craftMessage(hdrRecord, 1<<29, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		return craftRecordBatch(b, v, "", 0)
	})
	cases := map[string][]byte{
		"metadata length":   {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x50},
		"legacy metadata":   {0x00, 0x00, 0x00, 0x03, 1, 2, 3, 4},
		"big metadata, cut": {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x03, 1, 2, 3},
		"body length, cut":  joinStream(schemaMsg, frame{meta: bigBody})[:len(schemaMsg.meta)+len(bigBody)+40],
		"body over limit": joinStream(schemaMsg, frame{meta: craftMessage(hdrRecord, 1<<40, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return craftRecordBatch(b, v, "", 0)
		})}),
		"negative body length": joinStream(schemaMsg, frame{meta: craftMessage(hdrRecord, -8, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return craftRecordBatch(b, v, "", 0)
		})}),
		"rows without a body": joinStream(schemaMsg, frame{meta: craftMessage(hdrRecord, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			return craftRows(b, 1<<40)
		})}),
		"unknown message types": joinStream(frame{meta: craftMessage(4, 0, func(b *flatbuffers.Builder, v *[]flatbuffers.UOffsetT) flatbuffers.UOffsetT {
			b.StartObject(1)
			return b.EndObject()
		})}),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			for _, r := range []func() io.Reader{
				func() io.Reader { return bytes.NewReader(in) },
				func() io.Reader { return io.MultiReader(bytes.NewReader(in)) }, // no length
			} {
				var err error
				n := allocatedBy(func() {
					var rr *ipc.Reader
					rr, err = NewIPCStreamReader(r(), nil)
					if err == nil {
						for rr.Next() {
						}
						err = rr.Err()
						rr.Release()
					}
				})
				if err == nil {
					t.Fatal("no error")
				}
				if n > 8<<20 {
					t.Fatalf("%d bytes allocated for %d of input (%v)", n, len(in), err)
				}
			}
		})
	}
}

// craftRows is a RecordBatch of rows rows and one empty node.
func craftRows(b *flatbuffers.Builder, rows int64) flatbuffers.UOffsetT {
	nodes := vec(b, fieldNodeSize)
	b.StartObject(5)
	b.PrependInt64Slot(0, rows, 0)
	b.PrependUOffsetTSlot(1, nodes, 0)
	return b.EndObject()
}

// Schemas past the depth and field limits, and compressed buffers that
// claim to expand past the limit, are refused.
func TestIPCGuardLimits(t *testing.T) {
	deep := arrow.DataType(arrow.PrimitiveTypes.Int64)
	for range DefaultIPCLimits.MaxDepth + 1 {
		deep = arrow.ListOf(deep)
	}
	stream, file := guardInputs(t, arrow.NewSchema([]arrow.Field{{Name: "d", Type: deep}}, nil), nil)
	if _, err := NewIPCStreamReader(bytes.NewReader(stream), nil); !errors.Is(err, ErrInvalidIPC) || !strings.Contains(err.Error(), "nest") {
		t.Fatalf("deep stream: %v", err)
	}
	if err := ValidateIPCFile(bytes.NewReader(file), int64(len(file)), DefaultIPCLimits); !errors.Is(err, ErrInvalidIPC) {
		t.Fatalf("deep file: %v", err)
	}

	lim := DefaultIPCLimits
	lim.MaxFields = 10
	wide := make([]arrow.Field, 11)
	for i := range wide {
		wide[i] = arrow.Field{Name: fmt.Sprint(i), Type: arrow.Null}
	}
	stream, file = guardInputs(t, arrow.NewSchema(wide, nil), nil)
	mr := NewIPCMessageReader(bytes.NewReader(stream), memory.DefaultAllocator, lim)
	if _, err := mr.Message(); !errors.Is(err, ErrInvalidIPC) || !strings.Contains(err.Error(), "more than 10 fields") {
		t.Fatalf("wide stream: %v", err)
	}
	mr.Release()
	if err := ValidateIPCFile(bytes.NewReader(file), int64(len(file)), lim); !errors.Is(err, ErrInvalidIPC) {
		t.Fatalf("wide file: %v", err)
	}

	// A zstd batch whose first buffer says it expands to 2^40 bytes.
	mem := memory.NewGoAllocator()
	rec := makeBatch(mem, 0, 100)
	defer rec.Release()
	stream, _ = guardInputs(t, testSchema, []arrow.RecordBatch{rec}, ipc.WithZstd())
	frames := splitStream(t, stream)
	m, err := newWalker(frames[1].meta, DefaultIPCLimits).message(-1)
	if err != nil || len(m.compressed) == 0 {
		t.Fatalf("%+v %v", m, err)
	}
	body := bytes.Clone(frames[1].body)
	binary.LittleEndian.PutUint64(body[m.compressed[0][0]:], 1<<40)
	in := joinStream(frames[0], frame{frames[1].meta, body})
	rr, err := NewIPCStreamReader(bytes.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	if rr.Next() || !errors.Is(rr.Err(), ErrInvalidIPC) {
		t.Fatalf("compressed: %v", rr.Err())
	}
}

// FuzzIPCGuard feeds arbitrary bytes to the guarded stream reader and to
// the file check followed by arrow-go's file reader: each must return an
// error or batches, never crash the process, panic or leak memory.
func FuzzIPCGuard(f *testing.F) {
	for _, s := range arrowSeeds(f) {
		f.Add(s)
	}
	mem := memory.NewGoAllocator()
	rec := guardBatch(f, mem, arrow.NewSchema(guardTypes, nil), 0, 12)
	defer rec.Release()
	for _, o := range [][]ipc.Option{nil, {ipc.WithZstd()}} {
		var sb, fb bytes.Buffer
		o = append(o, ipc.WithSchema(rec.Schema()))
		sw := ipc.NewWriter(&sb, o...)
		fw, err := ipc.NewFileWriter(&fb, o...)
		if err != nil {
			f.Fatal(err)
		}
		if sw.Write(rec) != nil || fw.Write(rec) != nil || sw.Close() != nil || fw.Close() != nil {
			f.Fatal("write the seeds")
		}
		f.Add(sb.Bytes())
		f.Add(fb.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The guard's own buffers must all come back. arrow-go, on a
		// batch whose metadata is sound but whose data is not (string
		// offsets past their buffer, say), recovers from its panic
		// without releasing what it had sliced from the body: garbage
		// for the Go allocator, not a crash, so such reads are not
		// held to the leak check.
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		arrowPanicked := false
		if rr, err := NewIPCStreamReader(bytes.NewReader(data), mem); err == nil {
			for i := 0; rr.Next() && i < 1000; i++ {
				_ = rr.RecordBatch().NumRows()
			}
			arrowPanicked = rr.Err() != nil && strings.Contains(rr.Err().Error(), "unknown error while reading")
			rr.Release()
		}
		if !arrowPanicked {
			mem.AssertSize(t, 0)
		}
		if ValidateIPCFile(bytes.NewReader(data), int64(len(data)), DefaultIPCLimits) != nil {
			return
		}
		fr, err := ipc.NewFileReader(bytes.NewReader(data), ipc.WithAllocator(memory.NewGoAllocator()))
		if err != nil {
			return
		}
		defer fr.Close()
		for i := 0; i < fr.NumRecords() && i < 1000; i++ {
			if rec, err := fr.RecordBatchAt(i); err == nil {
				rec.Release()
			}
		}
	})
}

// A file whose footer or batch metadata claims huge vectors is refused
// before arrow-go's file reader sees it, by ValidateIPCFile and so by
// OpenInline.
func TestIPCGuardRejectsCraftedFiles(t *testing.T) {
	mem := memory.NewGoAllocator()
	rec := makeBatch(mem, 0, 10)
	defer rec.Release()
	_, file := guardInputs(t, testSchema, []arrow.RecordBatch{rec})
	size := len(file)
	footerAt := size - 10 - int(binary.LittleEndian.Uint32(file[size-10:]))
	footer := newWalker(file[footerAt:size-10], DefaultIPCLimits)
	ft, err := footer.table(int64(binary.LittleEndian.Uint32(footer.b)), "footer")
	if err != nil {
		t.Fatal(err)
	}
	schema, _, err := footer.refTable(ft, 1, "schema")
	if err != nil {
		t.Fatal(err)
	}
	fieldsAt, err := footer.ref(schema, 1, "fields")
	if err != nil {
		t.Fatal(err)
	}
	blocks, _, err := footer.vector(ft, 3, blockSize, "blocks")
	if err != nil {
		t.Fatal(err)
	}
	blockAt := footerAt + int(blocks)
	metaAt := int(binary.LittleEndian.Uint64(file[blockAt:])) + 8
	msg := newWalker(file[metaAt:], DefaultIPCLimits)
	mt, err := msg.table(int64(binary.LittleEndian.Uint32(msg.b)), "message")
	if err != nil {
		t.Fatal(err)
	}
	batch, _, err := msg.refTable(mt, 2, "batch")
	if err != nil {
		t.Fatal(err)
	}
	nodesAt, err := msg.ref(batch, 1, "nodes")
	if err != nil {
		t.Fatal(err)
	}
	patch := func(at int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[at:], v) }
	}
	cases := map[string]func([]byte){
		"schema fields":       patch(footerAt+int(fieldsAt), huge),
		"record batch nodes":  patch(metaAt+int(nodesAt), huge),
		"footer length":       patch(size-10, huge),
		"block metadata size": patch(blockAt+8, huge),
		"block body size":     patch(blockAt+16, huge),
		"record blocks":       patch(blockAt-4, huge),
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			b := bytes.Clone(file)
			mutate(b)
			if err := ValidateIPCFile(bytes.NewReader(b), int64(len(b)), DefaultIPCLimits); !errors.Is(err, ErrInvalidIPC) {
				t.Fatalf("ValidateIPCFile: %v", err)
			}
			s, smem := newStore(t)
			defer smem.AssertSize(t, 0)
			if _, err := s.OpenInline(OutputRef{Run: "r", Task: "t", Output: "out"}, dag.OutputMeta{Inline: b}); !errors.Is(err, ErrInvalidIPC) {
				t.Fatalf("OpenInline: %v", err)
			}
		})
	}
}
