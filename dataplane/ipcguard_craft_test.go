package dataplane

// Crafted Arrow IPC inputs the guard must refuse: huge vectors, declared
// lengths, limits, files, and the fuzz target.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/forged-dev/forged/dag"
)

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
