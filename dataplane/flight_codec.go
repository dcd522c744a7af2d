package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// The Flight wire format is protobuf's FlightData message. forged keeps
// that format (any Flight client can talk to a node) but encodes and
// decodes the record batch messages itself: stock gRPC marshalling copies
// every batch body into a protobuf buffer on the way out and into a fresh,
// zeroed slice on the way in, and those copies were most of the cost of a
// transfer. Other messages go through the protobuf codec as usual.

// FlightData field numbers and the protobuf wire type of each (all are
// length-delimited).
const (
	fieldDescriptor  = 1
	fieldDataHeader  = 2
	fieldAppMetadata = 3
	fieldDataBody    = 1000
	wireBytes        = 2
)

// copyBelow is the size under which a body buffer is copied into the
// frame's own prefix rather than handed to gRPC by reference.
const copyBelow = 4 << 10

// outFrame is a FlightData message to send whose body buffers belong to a
// record batch: the codec hands them to gRPC without copying, and release
// runs once gRPC wrote the last of them.
type outFrame struct {
	descriptor []byte // a marshalled FlightDescriptor, or nil
	header     []byte // the IPC message's flatbuffer metadata
	body       [][]byte
	bodyLen    int
	release    func()
}

// inFrame is a received FlightData message whose body was copied, once,
// into a buffer from the stream's receive pool.
type inFrame struct {
	descriptor *flight.FlightDescriptor
	header     []byte
	appMeta    []byte
	body       *memory.Buffer // nil when the message had no body
	pool       memory.Allocator
}

// flightCodec is the gRPC codec of forged's Flight servers and clients.
type flightCodec struct{ proto encoding.CodecV2 }

var theFlightCodec = flightCodec{proto: encoding.GetCodecV2(grpcproto.Name)}

// Name is the protobuf codec's name: on the wire nothing changes.
func (flightCodec) Name() string { return grpcproto.Name }

// Marshal encodes an outFrame without copying its body; anything else
// goes to the protobuf codec.
func (c flightCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*outFrame)
	if !ok {
		return c.proto.Marshal(v)
	}
	return f.encode(), nil
}

// Unmarshal decodes into an inFrame; anything else goes to the protobuf
// codec.
func (c flightCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*inFrame)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	return f.decode(data)
}

// encode lays the frame out as protobuf: a prefix this function writes
// (tags, lengths, descriptor, header and the small body buffers) and the
// large body buffers by reference, padded to 8 bytes as IPC wants.
func (f *outFrame) encode() mem.BufferSlice {
	prefix := make([]byte, 0, 32+len(f.descriptor)+len(f.header))
	if f.descriptor != nil {
		prefix = appendBytesField(prefix, fieldDescriptor, f.descriptor)
	}
	prefix = appendBytesField(prefix, fieldDataHeader, f.header)
	if f.bodyLen == 0 {
		if f.release != nil {
			f.release()
		}
		return mem.BufferSlice{mem.SliceBuffer(prefix)}
	}
	prefix = binary.AppendUvarint(prefix, fieldDataBody<<3|wireBytes)
	prefix = binary.AppendUvarint(prefix, uint64(f.bodyLen))

	// Large buffers go by reference and come back to a releaser, which
	// lets the batch go when gRPC is done with the last of them.
	r := &frameReleaser{release: f.release}
	out := mem.BufferSlice{}
	for _, b := range f.body {
		if len(b) < copyBelow {
			prefix = append(prefix, b...)
			continue
		}
		if len(prefix) > 0 {
			out = append(out, mem.SliceBuffer(prefix))
			prefix = nil
		}
		r.left.Add(1)
		out = append(out, mem.NewBuffer(&b, r))
	}
	if len(prefix) > 0 {
		out = append(out, mem.SliceBuffer(prefix))
	}
	if r.left.Load() == 0 && f.release != nil {
		f.release()
	}
	return out
}

// frameReleaser is the gRPC buffer pool of one outFrame's large body
// buffers: it gets each back once gRPC has written it.
type frameReleaser struct {
	left    atomic.Int32
	release func()
}

// Get is never called: the buffers come from the batch.
func (*frameReleaser) Get(int) *[]byte { panic("dataplane: frameReleaser.Get") }

// Put takes back one buffer; the last one releases the batch.
func (r *frameReleaser) Put(*[]byte) {
	if r.left.Add(-1) == 0 && r.release != nil {
		r.release()
	}
}

func appendBytesField(b []byte, field uint64, v []byte) []byte {
	b = binary.AppendUvarint(b, field<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// errBadFrame is returned for a message that is not valid FlightData.
var errBadFrame = errors.New("malformed FlightData message")

// decode parses a FlightData message spread over gRPC's buffers. Fields
// may come in any order; unknown ones are skipped.
func (f *inFrame) decode(data mem.BufferSlice) error {
	cur := sliceCursor{bufs: data}
	for !cur.done() {
		key, err := cur.uvarint()
		if err != nil {
			return err
		}
		field, wire := key>>3, key&7
		if wire != wireBytes {
			if err := cur.skipScalar(wire); err != nil {
				return err
			}
			continue
		}
		n, err := cur.uvarint()
		if err != nil {
			return err
		}
		if n > uint64(cur.left()) {
			return fmt.Errorf("%w: field %d is %d bytes, %d left", errBadFrame, field, n, cur.left())
		}
		switch field {
		case fieldDescriptor:
			d := &flight.FlightDescriptor{}
			if err := proto.Unmarshal(cur.take(int(n)), d); err != nil {
				return fmt.Errorf("%w: descriptor: %v", errBadFrame, err)
			}
			f.descriptor = d
		case fieldDataHeader:
			f.header = cur.take(int(n))
		case fieldAppMetadata:
			f.appMeta = cur.take(int(n))
		case fieldDataBody:
			if f.body != nil {
				f.body.Release()
			}
			f.body = memory.NewResizableBuffer(f.pool)
			f.body.Resize(int(n))
			cur.read(f.body.Bytes())
		default:
			cur.skip(int(n))
		}
	}
	return nil
}

// sliceCursor reads protobuf wire data across gRPC's buffers.
type sliceCursor struct {
	bufs mem.BufferSlice
	i    int // current buffer
	off  int // offset in it
}

func (c *sliceCursor) done() bool { return c.left() == 0 }

func (c *sliceCursor) left() int {
	n := 0
	for i := c.i; i < len(c.bufs); i++ {
		n += c.bufs[i].Len()
	}
	return n - c.off
}

func (c *sliceCursor) readByte() (byte, error) {
	for c.i < len(c.bufs) {
		b := c.bufs[c.i].ReadOnlyData()
		if c.off < len(b) {
			c.off++
			return b[c.off-1], nil
		}
		c.i, c.off = c.i+1, 0
	}
	return 0, fmt.Errorf("%w: %v", errBadFrame, io.ErrUnexpectedEOF)
}

func (c *sliceCursor) uvarint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := c.readByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: varint overflows", errBadFrame)
}

// skipScalar skips a field of a non-length-delimited wire type.
func (c *sliceCursor) skipScalar(wire uint64) error {
	switch wire {
	case 0:
		_, err := c.uvarint()
		return err
	case 1:
		return c.skipChecked(8)
	case 5:
		return c.skipChecked(4)
	}
	return fmt.Errorf("%w: wire type %d", errBadFrame, wire)
}

func (c *sliceCursor) skipChecked(n int) error {
	if n > c.left() {
		return fmt.Errorf("%w: %v", errBadFrame, io.ErrUnexpectedEOF)
	}
	c.skip(n)
	return nil
}

// read fills dst from the cursor; the caller checked there is enough.
func (c *sliceCursor) read(dst []byte) {
	for len(dst) > 0 {
		b := c.bufs[c.i].ReadOnlyData()[c.off:]
		n := copy(dst, b)
		dst = dst[n:]
		c.off += n
		if c.off == c.bufs[c.i].Len() {
			c.i, c.off = c.i+1, 0
		}
	}
}

// take copies the next n bytes into a new slice.
func (c *sliceCursor) take(n int) []byte {
	b := make([]byte, n)
	c.read(b)
	return b
}

func (c *sliceCursor) skip(n int) {
	for n > 0 {
		rest := c.bufs[c.i].Len() - c.off
		if n < rest {
			c.off += n
			return
		}
		n -= rest
		c.i, c.off = c.i+1, 0
	}
}
