package dataplane

// The IPC guard for streams: a message reader that checks each message
// before arrow-go allocates what it declares.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// NewIPCStreamReader reads the Arrow IPC stream in r like ipc.NewReader,
// allocating from mem, but checks each message with DefaultIPCLimits
// before arrow-go sees it. opts are passed on to the reader.
func NewIPCStreamReader(r io.Reader, mem memory.Allocator, opts ...ipc.Option) (*ipc.Reader, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	msgs := NewIPCMessageReader(r, mem, DefaultIPCLimits)
	// On an error the reader has released msgs already.
	return ipc.NewReaderFromMessageReader(msgs, append([]ipc.Option{ipc.WithAllocator(mem)}, opts...)...)
}

// NewIPCMessageReader returns an ipc.MessageReader of the Arrow IPC
// stream in r that checks each message's framing and metadata against
// lim before returning it, and reads a body no faster than its bytes
// arrive, so a short input cannot make it allocate a large declared
// length. When r reports the bytes it has left (a Len method, as
// bytes.Reader has), no message may declare more.
func NewIPCMessageReader(r io.Reader, mem memory.Allocator, lim IPCLimits) ipc.MessageReader {
	m := &guardedMessages{r: r, mem: mem, lim: lim, left: -1}
	if l, ok := r.(interface{ Len() int }); ok {
		m.left = int64(l.Len())
	}
	m.refs.Store(1)
	return m
}

// guardedMessages is the MessageReader NewIPCMessageReader returns.
type guardedMessages struct {
	r    io.Reader
	mem  memory.Allocator
	lim  IPCLimits
	left int64 // bytes left in r, or -1 when unknown
	refs atomic.Int64
	msg  *ipc.Message
	hdr  [4]byte
}

// chunk is the most a message read allocates ahead of the bytes read.
const chunk = 1 << 20

func (m *guardedMessages) read(p []byte) error {
	_, err := io.ReadFull(m.r, p)
	if m.left >= 0 {
		m.left -= int64(len(p))
	}
	return err
}

// declared checks that n bytes, declared by the input, can still follow.
func (m *guardedMessages) declared(n int64, what string) error {
	if m.left >= 0 && n > m.left {
		return invalid("%s of %d bytes, %d left in the stream", what, n, m.left)
	}
	return nil
}

// Message returns the next message; it is valid until the next call.
func (m *guardedMessages) Message() (*ipc.Message, error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	if _, err := io.ReadFull(m.r, m.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read an Arrow message: %w", err)
	}
	if m.left >= 0 {
		m.left -= 4
	}
	n := binary.LittleEndian.Uint32(m.hdr[:])
	if n == continuation {
		if err := m.read(m.hdr[:]); err != nil {
			return nil, fmt.Errorf("read an Arrow message length: %w", unexpected(err))
		}
		n = binary.LittleEndian.Uint32(m.hdr[:])
	}
	if n == 0 {
		return nil, io.EOF // the end-of-stream marker
	}
	metaLen := int64(n)
	if metaLen < 4 || metaLen > m.lim.MaxMetadata {
		return nil, invalid("message metadata of %d bytes (limit %d)", metaLen, m.lim.MaxMetadata)
	}
	if err := m.declared(metaLen, "message metadata"); err != nil {
		return nil, err
	}
	meta, err := m.readMeta(metaLen)
	if err != nil {
		return nil, err
	}
	info, err := newWalker(meta, m.lim).message(-1)
	if err != nil {
		return nil, err
	}
	if err := m.declared(info.bodyLen, "message body"); err != nil {
		return nil, err
	}
	body, err := m.readBody(info.bodyLen)
	if err != nil {
		return nil, err
	}
	defer body.Release()
	b := body.Bytes()
	err = checkDecompressed(info, m.lim, func(off int64) (int64, error) {
		return int64(binary.LittleEndian.Uint64(b[off:])), nil
	})
	if err != nil {
		return nil, err
	}
	m.msg = ipc.NewMessage(memory.NewBufferBytes(meta), body)
	return m.msg, nil
}

// readMeta reads n bytes of metadata, growing the buffer as they come.
func (m *guardedMessages) readMeta(n int64) ([]byte, error) {
	if m.left >= 0 || n <= chunk {
		buf := make([]byte, n)
		if err := m.read(buf); err != nil {
			return nil, fmt.Errorf("read an Arrow message's metadata: %w", unexpected(err))
		}
		return buf, nil
	}
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(m.r, n))
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("read an Arrow message's metadata: %w", err)
	}
	return buf.Bytes(), nil
}

// readBody reads a body of n bytes into a buffer of m.mem, allocating at
// most chunk bytes (or twice what arrived) ahead of the input when its
// length is unknown.
func (m *guardedMessages) readBody(n int64) (*memory.Buffer, error) {
	body := memory.NewResizableBuffer(m.mem)
	step := n
	if m.left < 0 {
		step = min(n, chunk)
	}
	for have := int64(0); have < n; {
		next := min(n, max(step, 2*have))
		body.Resize(int(next))
		if err := m.read(body.Bytes()[have:next]); err != nil {
			body.Release()
			return nil, fmt.Errorf("read an Arrow message's body: %w", unexpected(err))
		}
		have = next
	}
	return body, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Retain adds a reference.
func (m *guardedMessages) Retain() { m.refs.Add(1) }

// Release drops a reference; the last one releases the current message.
func (m *guardedMessages) Release() {
	if m.refs.Add(-1) == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}
