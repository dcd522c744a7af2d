package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

var mixedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
}, nil)

// mixedBatch has n rows of several types, every seventh id null: its
// larger buffers go to gRPC by reference, its small ones are copied.
func mixedBatch(mem memory.Allocator, start, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, mixedSchema)
	defer b.Release()
	for i := start; i < start+n; i++ {
		if i%7 == 0 {
			b.Field(0).(*array.Int64Builder).AppendNull()
		} else {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
		}
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("row-%d", i))
		b.Field(2).(*array.Float64Builder).Append(float64(i) / 4)
		b.Field(3).(*array.BooleanBuilder).Append(i%2 == 0)
	}
	return b.NewRecordBatch()
}

// wire stands in for gRPC between sendRecords and recvRecords: it
// marshals each message with the codec, cuts it into odd-sized pieces as
// a transport would, frees what was sent, and unmarshals on receipt.
type wire struct {
	t      *testing.T
	queue  [][][]byte
	frames int
}

func (w *wire) send(v any) error {
	bs, err := theFlightCodec.Marshal(v)
	if err != nil {
		return err
	}
	flat := bs.Materialize()
	bs.Free()
	// Whatever forged sends is a FlightData message any client reads.
	var fd flight.FlightData
	if err := proto.Unmarshal(flat, &fd); err != nil {
		w.t.Fatalf("frame %d is not FlightData: %v", w.frames, err)
	}
	var pieces [][]byte
	for len(flat) > 0 {
		n := min(len(flat), 1+len(pieces)*977%4093)
		pieces = append(pieces, bytes.Clone(flat[:n]))
		flat = flat[n:]
	}
	w.queue = append(w.queue, pieces)
	w.frames++
	return nil
}

func (w *wire) recv(v any) error {
	if len(w.queue) == 0 {
		return io.EOF
	}
	var bs mem.BufferSlice
	for _, p := range w.queue[0] {
		bs = append(bs, mem.SliceBuffer(p))
	}
	w.queue = w.queue[1:]
	return theFlightCodec.Unmarshal(bs, v)
}

func TestFlightCodecRoundTripsBatches(t *testing.T) {
	srcMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer srcMem.AssertSize(t, 0)
	full := mixedBatch(srcMem, 0, 5000)
	batches := []arrow.RecordBatch{
		mixedBatch(srcMem, 0, 3),
		full,
		full.NewSlice(1234, 4321), // offsets the encoder must rebase
		mixedBatch(srcMem, 0, 0),
	}
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	rr, err := array.NewRecordReader(mixedSchema, batches)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()

	w := &wire{t: t}
	desc := &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"r", "t", "o"}}
	if err := sendRecords(w.send, rr, desc, nil); err != nil {
		t.Fatal(err)
	}
	if w.frames != 1+len(batches) {
		t.Fatalf("sent %d frames, want a schema and %d batches", w.frames, len(batches))
	}

	dstMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer dstMem.AssertSize(t, 0)
	got, err := recvRecords(w.recv, dstMem)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if d := got.Descriptor(); d == nil || !proto.Equal(d, desc) {
		t.Fatalf("descriptor = %v, want %v", d, desc)
	}
	if !got.Schema().Equal(mixedSchema) {
		t.Fatalf("schema = %v", got.Schema())
	}
	var i int
	for got.Next() {
		if i >= len(batches) {
			t.Fatal("more batches than were sent")
		}
		if !array.RecordEqual(got.RecordBatch(), batches[i]) {
			t.Fatalf("batch %d differs:\n%v\nwant\n%v", i, got.RecordBatch(), batches[i])
		}
		i++
	}
	if err := got.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(batches) {
		t.Fatalf("received %d batches, want %d", i, len(batches))
	}
}

// A batch handed to gRPC by reference stays retained until gRPC has
// freed the last of its buffers, and no longer.
func TestFlightCodecHoldsBatchesUntilWritten(t *testing.T) {
	m := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rec := mixedBatch(m, 0, 5000)
	rr, err := array.NewRecordReader(mixedSchema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	var held []mem.BufferSlice
	send := func(v any) error {
		bs, err := theFlightCodec.Marshal(v)
		held = append(held, bs)
		return err
	}
	if err := sendRecords(send, rr, nil, nil); err != nil {
		t.Fatal(err)
	}
	rr.Release()
	rec.Release()
	if m.CurrentAlloc() == 0 {
		t.Fatal("the batch was released while gRPC still held its buffers")
	}
	for _, bs := range held {
		bs.Free()
	}
	m.AssertSize(t, 0)
}

func TestFlightFrameDecode(t *testing.T) {
	desc, _ := proto.Marshal(&flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("r/t/o")})
	// Fields out of order, with unknown fields of every wire type.
	var b []byte
	b = protowire.AppendTag(b, fieldDataBody, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("body-bytes"))
	b = protowire.AppendTag(b, 77, protowire.VarintType)
	b = protowire.AppendVarint(b, 300)
	b = protowire.AppendTag(b, 78, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1)
	b = protowire.AppendTag(b, 79, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 1)
	b = protowire.AppendTag(b, 80, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("skip me"))
	b = protowire.AppendTag(b, fieldAppMetadata, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("app"))
	b = protowire.AppendTag(b, fieldDataHeader, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("header"))
	b = protowire.AppendTag(b, fieldDescriptor, protowire.BytesType)
	b = protowire.AppendBytes(b, desc)

	m := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer m.AssertSize(t, 0)
	var bs mem.BufferSlice
	for _, c := range b { // one byte per buffer: every field straddles
		bs = append(bs, mem.SliceBuffer{c})
	}
	f := inFrame{pool: newRecvPool(m)}
	if err := f.decode(bs); err != nil {
		t.Fatal(err)
	}
	if string(f.header) != "header" || string(f.appMeta) != "app" || string(f.body.Bytes()) != "body-bytes" ||
		string(f.descriptor.GetCmd()) != "r/t/o" {
		t.Fatalf("decoded header %q app %q body %q descriptor %v", f.header, f.appMeta, f.body.Bytes(), f.descriptor)
	}
	f.body.Release()

	// Every truncation of a valid frame, and some nonsense, is an error
	// and never a panic.
	for n := 1; n < len(b); n++ {
		f := inFrame{pool: newRecvPool(m)}
		err := f.decode(mem.BufferSlice{mem.SliceBuffer(b[:n])})
		if f.body != nil {
			f.body.Release()
		}
		if err == nil {
			// A cut at a field boundary is a valid, shorter frame.
			continue
		}
		if !errors.Is(err, errBadFrame) {
			t.Fatalf("cut at %d: %v does not wrap errBadFrame", n, err)
		}
	}
	for _, bad := range [][]byte{
		{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f}, // header longer than the frame
		{0x13},                               // wire type 3 (groups)
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, // endless varint
		{0x0a, 0x02, 0xff, 0xff},                                     // descriptor that is not one
	} {
		f := inFrame{pool: newRecvPool(m)}
		if err := f.decode(mem.BufferSlice{mem.SliceBuffer(bad)}); !errors.Is(err, errBadFrame) {
			t.Fatalf("decode(%x) = %v, want errBadFrame", bad, err)
		}
	}
}

func TestRecvPoolReusesLargeBuffers(t *testing.T) {
	m := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer m.AssertSize(t, 0)
	p := newRecvPool(m)
	a := p.Allocate(1 << 20)
	if len(a) != 1<<20 {
		t.Fatalf("len = %d", len(a))
	}
	a[0] = 42
	p.Free(a)
	b := p.Allocate(1<<20 - 100) // the same size class
	if &b[0] != &a[0] || b[0] != 42 {
		t.Fatal("a freed buffer of the same class was not handed out again, as it was")
	}
	small := p.Allocate(100)
	p.Free(small)
	grown := p.Reallocate(3<<20, b)
	if len(grown) != 3<<20 || grown[0] != 42 {
		t.Fatalf("reallocate lost the contents: len %d", len(grown))
	}
	var kept [][]byte
	for range recvPoolKeep + 2 {
		kept = append(kept, p.Allocate(128<<10))
	}
	for _, k := range kept {
		p.Free(k)
	}
	p.Free(grown)
	p.close()
	// Once closed, frees go straight through.
	late := m.Allocate(64)
	m.Free(late)
	x := p.Allocate(256 << 10)
	p.Free(x)
}

// A stock arrow-go Flight client, standing for any Flight client (pyarrow
// included), reads what a node serves and uploads what a node accepts.
func TestStockFlightClientsTalkToANode(t *testing.T) {
	holder, holderMem := newStore(t)
	defer holderMem.AssertSize(t, 0)
	ref := OutputRef{Run: "r", Task: "mixed", Output: "out"}
	w, err := holder.Create(ref, mixedSchema)
	if err != nil {
		t.Fatal(err)
	}
	want := []arrow.RecordBatch{mixedBatch(memory.DefaultAllocator, 0, 5000), mixedBatch(memory.DefaultAllocator, 5000, 17)}
	for _, b := range want {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	srv := startFlight(t, &storeSource{s: holder, outputs: map[string][]OutputRef{"r": {ref}}}, nil)
	c, err := flight.NewClientWithMiddleware(srv.Addr(), nil, nil, insecureDial()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: []byte(ref.String())})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := flight.NewRecordReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	var i int
	for rr.Next() {
		if i >= len(want) || !array.RecordEqual(rr.RecordBatch(), want[i]) {
			t.Fatalf("batch %d differs", i)
		}
		i++
	}
	if rr.Err() != nil || i != len(want) {
		t.Fatalf("read %d batches, %v", i, rr.Err())
	}
	rr.Release()

	put, err := c.DoPut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up := OutputRef{Run: "datasets", Task: "upload", Output: "v1"}
	fw := flight.NewRecordWriter(put, ipc.WithSchema(mixedSchema))
	fw.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{up.Run, up.Task, up.Output}})
	for _, b := range want {
		if err := fw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	fw.Close()
	if err := put.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := put.Recv(); err != nil {
		t.Fatalf("put: %v", err)
	}
	f, err := holder.Open(up)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	i = 0
	for got.Next() {
		if i >= len(want) || !array.RecordEqual(got.RecordBatch(), want[i]) {
			t.Fatalf("uploaded batch %d differs", i)
		}
		i++
	}
	if i != len(want) {
		t.Fatalf("stored %d batches", i)
	}
}

// insecureDial is how a plain Flight client dials a node without TLS.
func insecureDial() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
}
