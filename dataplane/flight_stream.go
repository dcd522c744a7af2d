package dataplane

import (
	"bytes"
	"errors"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"
)

// sendRecords writes every batch of rr to a Flight stream as FlightData
// messages, the first carrying desc when it is not nil. Batch bodies go to
// gRPC by reference (see flightCodec), so each batch stays retained until
// gRPC has written it; inFlight, when not nil, counts the batches gRPC
// still holds.
func sendRecords(send func(any) error, rr array.RecordReader, desc *flight.FlightDescriptor, inFlight *sync.WaitGroup) error {
	s := &flightSender{send: send, inFlight: inFlight}
	if desc != nil {
		b, err := proto.Marshal(desc)
		if err != nil {
			return err
		}
		s.descriptor = b
	}
	// Buffers the encoder makes itself (offsets of sliced arrays, say)
	// come from the Go heap, which never reuses memory gRPC still reads.
	w := ipc.NewWriterWithPayloadWriter(s, ipc.WithSchema(rr.Schema()), ipc.WithAllocator(memory.DefaultAllocator))
	for rr.Next() {
		s.cur = rr.RecordBatch()
		err := w.Write(s.cur)
		s.cur = nil
		if err != nil {
			w.Close()
			return err
		}
	}
	if err := rr.Err(); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// flightSender is the ipc payload writer behind sendRecords.
type flightSender struct {
	send       func(any) error
	descriptor []byte
	cur        arrow.RecordBatch // the batch being written
	inFlight   *sync.WaitGroup
}

// Start does nothing: the schema is the first payload.
func (*flightSender) Start() error { return nil }

// Close does nothing: a Flight stream ends with the call.
func (*flightSender) Close() error { return nil }

// WritePayload sends one IPC message as one FlightData message.
func (s *flightSender) WritePayload(p ipc.Payload) error {
	meta := p.Meta()
	f := &outFrame{descriptor: s.descriptor, header: bytes.Clone(meta.Bytes())}
	meta.Release()
	s.descriptor = nil
	var body bodyCollector
	if err := p.SerializeBody(&body); err != nil {
		return err
	}
	f.body, f.bodyLen = body.parts, body.n
	if f.bodyLen > 0 {
		if s.cur == nil {
			return errors.New("dataplane: a record batch payload came with no batch")
		}
		rec := s.cur
		rec.Retain()
		f.release = rec.Release
		if wg := s.inFlight; wg != nil {
			wg.Add(1)
			f.release = func() {
				rec.Release()
				wg.Done()
			}
		}
	}
	return s.send(f)
}

// bodyCollector gathers the slices a payload's body is made of, without
// copying them.
type bodyCollector struct {
	parts [][]byte
	n     int
}

// Write keeps p.
func (c *bodyCollector) Write(p []byte) (int, error) {
	c.parts = append(c.parts, p)
	c.n += len(p)
	return len(p), nil
}

// recvRecords reads a Flight stream of record batches. Each batch's body
// is copied once, from gRPC's buffers into a buffer of a pool that lives
// as long as the reader, and is returned to it when the batch is
// released. The caller releases the reader.
func recvRecords(recv func(any) error, mem memory.Allocator) (*flightRecordReader, error) {
	msgs := &flightMessages{recv: recv, pool: newRecvPool(mem)}
	msgs.refs.Store(1)
	r, err := ipc.NewReaderFromMessageReader(msgs, ipc.WithAllocator(mem))
	if err != nil {
		msgs.Release()
		return nil, err
	}
	return &flightRecordReader{Reader: r, msgs: msgs}, nil
}

// flightRecordReader is an array.RecordReader over a Flight stream that
// also knows the stream's flight descriptor.
type flightRecordReader struct {
	*ipc.Reader
	msgs *flightMessages
}

// Descriptor is the flight descriptor the stream's first messages named,
// or nil.
func (r *flightRecordReader) Descriptor() *flight.FlightDescriptor { return r.msgs.descriptor }

// Release releases the reader and, with the last reference, its pool.
func (r *flightRecordReader) Release() {
	r.Reader.Release()
	r.msgs.Release()
}

// Retain adds a reference.
func (r *flightRecordReader) Retain() {
	r.Reader.Retain()
	r.msgs.Retain()
}

// flightMessages turns FlightData messages into IPC messages.
type flightMessages struct {
	recv       func(any) error
	pool       *recvPool
	refs       atomic.Int64
	msg        *ipc.Message
	descriptor *flight.FlightDescriptor
}

// Message receives the next message with an IPC header, skipping those
// that carry only app metadata.
func (m *flightMessages) Message() (*ipc.Message, error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	for {
		f := inFrame{pool: m.pool}
		if err := m.recv(&f); err != nil {
			if f.body != nil {
				f.body.Release()
			}
			return nil, err
		}
		if f.descriptor != nil {
			m.descriptor = f.descriptor
		}
		if len(f.header) == 0 {
			if f.body != nil {
				f.body.Release()
			}
			continue
		}
		body := f.body
		if body == nil {
			body = memory.NewBufferBytes(nil)
		}
		if err := ValidateIPCMessage(f.header, body.Bytes(), DefaultIPCLimits); err != nil {
			if f.body != nil {
				f.body.Release()
			}
			return nil, err
		}
		m.msg = ipc.NewMessage(memory.NewBufferBytes(f.header), body)
		if f.body != nil {
			f.body.Release() // the message holds it now
		}
		return m.msg, nil
	}
}

// Retain adds a reference.
func (m *flightMessages) Retain() { m.refs.Add(1) }

// Release drops a reference; the last one drops the current message and
// empties the pool.
func (m *flightMessages) Release() {
	if m.refs.Add(-1) != 0 {
		return
	}
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	m.pool.close()
}

// recvPool is an allocator that keeps a few released large buffers per
// power-of-two size class and hands them out again without zeroing them:
// the next batch overwrites them whole. Small buffers, and everything
// once the pool is closed, go straight to the allocator underneath.
type recvPool struct {
	under memory.Allocator

	mu     sync.Mutex
	free   map[int][][]byte
	closed bool
}

const (
	// recvPoolMin is the smallest buffer the pool keeps.
	recvPoolMin = 64 << 10
	// recvPoolKeep is how many buffers of one size class it keeps.
	recvPoolKeep = 4
)

var _ memory.Allocator = (*recvPool)(nil)

func newRecvPool(under memory.Allocator) *recvPool {
	return &recvPool{under: under, free: map[int][][]byte{}}
}

func sizeClass(n int) int { return 1 << bits.Len(uint(n-1)) }

// Allocate returns size bytes whose contents are undefined.
func (p *recvPool) Allocate(size int) []byte {
	if size < recvPoolMin {
		return p.under.Allocate(size)
	}
	class := sizeClass(size)
	p.mu.Lock()
	if l := p.free[class]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[class] = l[:len(l)-1]
		p.mu.Unlock()
		return b[:size]
	}
	p.mu.Unlock()
	return p.under.Allocate(class)[:size]
}

// Reallocate moves b to a buffer of size bytes.
func (p *recvPool) Reallocate(size int, b []byte) []byte {
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free keeps b for reuse, or gives it back underneath.
func (p *recvPool) Free(b []byte) {
	if len(b) < recvPoolMin {
		p.under.Free(b)
		return
	}
	class := sizeClass(len(b))
	full := b[:class]
	p.mu.Lock()
	if !p.closed && len(p.free[class]) < recvPoolKeep {
		p.free[class] = append(p.free[class], full)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.under.Free(full)
}

// close gives every kept buffer back; later frees go straight through.
func (p *recvPool) close() {
	p.mu.Lock()
	free := p.free
	p.free, p.closed = nil, true
	p.mu.Unlock()
	for _, l := range free {
		for _, b := range l {
			p.under.Free(b)
		}
	}
}
