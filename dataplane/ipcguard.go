package dataplane

// The Arrow IPC guard: arrow-go trusts the lengths in a message's
// flatbuffer metadata and sizes slices from them before it checks them,
// so a few hundred crafted bytes can make it ask for a hundred gigabytes
// and the Go runtime abort the whole process (an out-of-memory error is
// not a panic: recover cannot catch it). The functions here walk the
// metadata first, with the table layouts of Arrow's Message.fbs,
// Schema.fbs and File.fbs, and refuse anything the reader would allocate
// from that is not backed by bytes actually present.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	flatbuffers "github.com/google/flatbuffers/go"
)

// ErrInvalidIPC is wrapped by every error the IPC guard returns.
var ErrInvalidIPC = errors.New("invalid Arrow IPC data")

// IPCLimits bounds what an Arrow IPC input may declare before arrow-go
// allocates from it.
type IPCLimits struct {
	// MaxMetadata bounds one message's flatbuffer metadata, in bytes
	// (and an IPC file's footer).
	MaxMetadata int64
	// MaxBody bounds one message's body, in bytes.
	MaxBody int64
	// MaxDepth bounds how deeply fields nest (a top-level field is at
	// depth 0, its children at 1).
	MaxDepth int
	// MaxFields bounds the fields of a schema, nested ones included.
	MaxFields int
	// MaxDecompressed bounds the bytes one message's compressed buffers
	// say they expand to, all buffers together.
	MaxDecompressed int64
	// MaxEmptyRows is how many rows a batch may claim beyond eight per
	// body byte (a column of nulls, or no columns, needs no body).
	MaxEmptyRows int64
}

// DefaultIPCLimits are the limits the data plane reads untrusted Arrow
// IPC input with.
var DefaultIPCLimits = IPCLimits{
	MaxMetadata:     64 << 20,
	MaxBody:         1 << 30,
	MaxDepth:        64,
	MaxFields:       100_000,
	MaxDecompressed: 1 << 30,
	MaxEmptyRows:    1 << 24,
}

// Header types of Message.fbs's MessageHeader union.
const (
	hdrSchema     = 1
	hdrDictionary = 2
	hdrRecord     = 3
)

// Type union members of Schema.fbs, as far as the reader knows them.
const (
	typeNull            = 1
	typeInt             = 2
	typeFloatingPoint   = 3
	typeDecimal         = 7
	typeDate            = 8
	typeTime            = 9
	typeTimestamp       = 10
	typeInterval        = 11
	typeUnion           = 14
	typeFixedSizeBinary = 15
	typeFixedSizeList   = 16
	typeMap             = 17
	typeDuration        = 18
	typeLast            = 26 // LargeListView
)

// Sizes of the structs in vectors: FieldNode and Buffer are two longs,
// Block a long, an int (padded) and a long.
const (
	fieldNodeSize = 16
	bufferSize    = 16
	blockSize     = 24
)

// continuation starts each message of the current stream format.
const continuation = 0xFFFFFFFF

// ipcMessage is what the guard learned from a message's metadata.
type ipcMessage struct {
	header  int64
	bodyLen int64
	// compressed lists the compressed buffers, as {offset, length}
	// in the body, whose uncompressed size prefix is still to check.
	compressed [][2]int64
}

// message validates Message{version, header_type, header, bodyLength,
// custom_metadata} and its header. body is the body's length, or -1 to
// take the message's own bodyLength (which must then fit in maxBody).
func (w *fbWalker) message(body int64) (ipcMessage, error) {
	var m ipcMessage
	if len(w.b) > math.MaxInt32 {
		return m, invalid("metadata of %d bytes", len(w.b))
	}
	if !w.has(0, flatbuffers.SizeUOffsetT) {
		return m, invalid("metadata of %d bytes", len(w.b))
	}
	t, err := w.table(int64(flatbuffers.GetUOffsetT(w.b)), "message")
	if err != nil {
		return m, err
	}
	if _, err := w.int16At(t, 0, "message version"); err != nil {
		return m, err
	}
	if m.header, err = w.byteAt(t, 1, "message header type"); err != nil {
		return m, err
	}
	if m.bodyLen, err = w.int64At(t, 3, "message body length"); err != nil {
		return m, err
	}
	if m.bodyLen < 0 || m.bodyLen > w.lim.MaxBody {
		return m, invalid("message body of %d bytes (limit %d)", m.bodyLen, w.lim.MaxBody)
	}
	if body < 0 {
		body = m.bodyLen
	}
	if err := w.keyValues(t, 4, "message"); err != nil {
		return m, err
	}
	h, ok, err := w.refTable(t, 2, "message header")
	if err != nil {
		return m, err
	}
	if !ok {
		return m, invalid("message without a header")
	}
	switch m.header {
	case hdrSchema:
		err = w.schema(h)
	case hdrDictionary:
		err = w.dictionaryBatch(h, body, &m)
	case hdrRecord:
		err = w.recordBatch(h, body, &m, "record batch")
	default:
		err = invalid("unsupported message type %d", m.header)
	}
	return m, err
}

// dictionaryBatch validates DictionaryBatch{id, data, isDelta}.
func (w *fbWalker) dictionaryBatch(t fbTable, body int64, m *ipcMessage) error {
	if _, err := w.int64At(t, 0, "dictionary id"); err != nil {
		return err
	}
	if _, err := w.byteAt(t, 2, "dictionary delta"); err != nil {
		return err
	}
	data, ok, err := w.refTable(t, 1, "dictionary data")
	if err != nil {
		return err
	}
	if !ok {
		return invalid("dictionary batch without data")
	}
	return w.recordBatch(data, body, m, "dictionary batch")
}

// recordBatch validates RecordBatch{length, nodes, buffers, compression,
// variadicBufferCounts} against a body of body bytes.
func (w *fbWalker) recordBatch(t fbTable, body int64, m *ipcMessage, what string) error {
	maxRows := w.lim.MaxEmptyRows
	if body < (math.MaxInt64-maxRows)/8 {
		maxRows += 8 * body
	} else {
		maxRows = math.MaxInt64
	}
	rows, err := w.int64At(t, 0, what+" length")
	if err != nil {
		return err
	}
	if rows < 0 || rows > maxRows {
		return invalid("%s of %d rows in a body of %d bytes", what, rows, body)
	}
	start, n, err := w.vector(t, 1, fieldNodeSize, what+" nodes")
	if err != nil {
		return err
	}
	for i := range n {
		at := start + i*fieldNodeSize
		length, nulls := flatbuffers.GetInt64(w.b[at:]), flatbuffers.GetInt64(w.b[at+8:])
		if length < 0 || length > maxRows || nulls < 0 || nulls > length {
			return invalid("%s node %d: %d values, %d nulls in a body of %d bytes", what, i, length, nulls, body)
		}
	}
	compressed := false
	if c, ok, err := w.refTable(t, 3, what+" compression"); err != nil {
		return err
	} else if ok {
		codec, err := w.byteAt(c, 0, what+" compression codec")
		if err != nil {
			return err
		}
		if _, err := w.byteAt(c, 1, what+" compression method"); err != nil {
			return err
		}
		if codec != 0 && codec != 1 {
			return invalid("%s: unknown compression codec %d", what, codec)
		}
		compressed = true
	}
	start, nbufs, err := w.vector(t, 2, bufferSize, what+" buffers")
	if err != nil {
		return err
	}
	for i := range nbufs {
		at := start + i*bufferSize
		off, length := flatbuffers.GetInt64(w.b[at:]), flatbuffers.GetInt64(w.b[at+8:])
		if length == 0 {
			continue
		}
		if off < 0 || length < 0 || off > body || length > body-off {
			return invalid("%s buffer %d (%d bytes at %d) is outside the body of %d bytes", what, i, length, off, body)
		}
		if compressed {
			if length < 8 {
				return invalid("%s buffer %d: compressed buffer of %d bytes", what, i, length)
			}
			m.compressed = append(m.compressed, [2]int64{off, length})
		}
	}
	start, n, err = w.vector(t, 4, 8, what+" variadic buffer counts")
	if err != nil {
		return err
	}
	left := nbufs
	for i := range n {
		c := flatbuffers.GetInt64(w.b[start+8*i:])
		if c < 0 || c > left {
			return invalid("%s: variadic buffer count %d with %d buffers", what, c, nbufs)
		}
		left -= c
	}
	return nil
}

// checkDecompressed reads the uncompressed size that starts each
// compressed buffer (-1 for a buffer stored as is) through prefix and
// bounds their total.
func checkDecompressed(m ipcMessage, lim IPCLimits, prefix func(off int64) (int64, error)) error {
	var total int64
	for _, b := range m.compressed {
		n, err := prefix(b[0])
		if err != nil {
			return err
		}
		if n == -1 {
			continue
		}
		if n < 0 || n > lim.MaxDecompressed-total {
			return invalid("compressed buffers expand to more than %d bytes", lim.MaxDecompressed)
		}
		total += n
	}
	return nil
}

// ValidateIPCMessage checks one Arrow IPC message before arrow-go decodes
// it: meta is its flatbuffer metadata (without the stream's length
// prefix) and body its body. Every vector and string the reader sizes
// anything from must lie inside meta, every buffer inside body, the
// schema must stay within lim's nesting depth and field count, and
// compressed buffers must not claim to expand past lim.
func ValidateIPCMessage(meta, body []byte, lim IPCLimits) error {
	if int64(len(meta)) > lim.MaxMetadata {
		return invalid("message metadata of %d bytes (limit %d)", len(meta), lim.MaxMetadata)
	}
	m, err := newWalker(meta, lim).message(int64(len(body)))
	if err != nil {
		return err
	}
	return checkDecompressed(m, lim, func(off int64) (int64, error) {
		return int64(binary.LittleEndian.Uint64(body[off:])), nil
	})
}

// ValidateIPCFile checks an Arrow IPC file of size bytes in r before
// arrow-go's file reader opens it: the footer (its length, its schema,
// the blocks it lists) and the metadata of every dictionary and record
// batch message those blocks point to.
func ValidateIPCFile(r io.ReaderAt, size int64, lim IPCLimits) error {
	const magic = "ARROW1"
	tail := int64(len(magic) + 4)
	if size <= int64(2*len(magic)+4) {
		return invalid("file of %d bytes is too small", size)
	}
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil {
		return fmt.Errorf("read the Arrow file footer: %w", err)
	}
	if string(buf[4:]) != magic {
		return invalid("not an Arrow file: no %s at its end", magic)
	}
	footerLen := int64(binary.LittleEndian.Uint32(buf))
	if footerLen < flatbuffers.SizeUOffsetT || footerLen > lim.MaxMetadata || footerLen > size-tail-int64(len(magic)) {
		return invalid("footer of %d bytes in a file of %d", footerLen, size)
	}
	footer := make([]byte, footerLen)
	if _, err := r.ReadAt(footer, size-tail-footerLen); err != nil {
		return fmt.Errorf("read the Arrow file footer: %w", err)
	}
	w := newWalker(footer, lim)
	t, err := w.table(int64(flatbuffers.GetUOffsetT(footer)), "footer")
	if err != nil {
		return err
	}
	if _, err := w.int16At(t, 0, "footer version"); err != nil {
		return err
	}
	s, ok, err := w.refTable(t, 1, "footer schema")
	if err != nil {
		return err
	}
	if !ok {
		return invalid("footer without a schema")
	}
	if err := w.schema(s); err != nil {
		return err
	}
	if err := w.keyValues(t, 4, "footer"); err != nil {
		return err
	}
	for _, blocks := range []struct {
		slot   int
		header int64
		what   string
	}{{2, hdrDictionary, "dictionary"}, {3, hdrRecord, "record batch"}} {
		start, n, err := w.vector(t, blocks.slot, blockSize, "footer "+blocks.what+" blocks")
		if err != nil {
			return err
		}
		for i := range n {
			at := start + i*blockSize
			off := flatbuffers.GetInt64(footer[at:])
			meta := int64(flatbuffers.GetInt32(footer[at+8:]))
			body := flatbuffers.GetInt64(footer[at+16:])
			what := fmt.Sprintf("%s %d", blocks.what, i)
			if err := checkFileBlock(r, size, off, meta, body, blocks.header, lim, what); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFileBlock checks one block of a file's footer and the message
// metadata it points to.
func checkFileBlock(r io.ReaderAt, size, off, meta, body, header int64, lim IPCLimits, what string) error {
	if off < 0 || meta < 8 || meta > lim.MaxMetadata || body < 0 || body > lim.MaxBody ||
		off > size || meta+body > size-off {
		return invalid("%s: block of %d+%d bytes at %d in a file of %d", what, meta, body, off, size)
	}
	buf := make([]byte, meta)
	if _, err := r.ReadAt(buf, off); err != nil {
		return fmt.Errorf("read the Arrow file's %s: %w", what, err)
	}
	prefix := int64(4)
	if binary.LittleEndian.Uint32(buf) == continuation {
		prefix = 8
	}
	if n := int64(binary.LittleEndian.Uint32(buf[prefix-4:])); n != meta-prefix {
		return invalid("%s: metadata length %d in a block of %d", what, n, meta)
	}
	m, err := newWalker(buf[prefix:], lim).message(body)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if m.header != header {
		return invalid("%s: message of type %d", what, m.header)
	}
	if m.bodyLen != body {
		return invalid("%s: body of %d bytes in a block of %d", what, m.bodyLen, body)
	}
	var p [8]byte
	return checkDecompressed(m, lim, func(at int64) (int64, error) {
		if _, err := r.ReadAt(p[:], off+meta+at); err != nil {
			return 0, fmt.Errorf("read the Arrow file's %s: %w", what, err)
		}
		return int64(binary.LittleEndian.Uint64(p[:])), nil
	})
}
