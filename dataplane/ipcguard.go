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
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
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

// fbTable is a validated flatbuffer table: its position and its vtable.
type fbTable struct {
	pos, vt, vtLen int64
}

// fbWalker reads one flatbuffer (a message's or footer's metadata)
// bounds-checked, with a budget on the work it does so that shared
// sub-objects (a DAG in the buffer) cannot make it, or the reader after
// it, repeat themselves without end.
type fbWalker struct {
	b      []byte
	lim    IPCLimits
	fields int
	budget int64 // vector elements and string bytes left to visit
}

func newWalker(b []byte, lim IPCLimits) *fbWalker {
	return &fbWalker{b: b, lim: lim, budget: 4*int64(len(b)) + 1<<20}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidIPC, fmt.Sprintf(format, args...))
}

// has reports whether n bytes at off lie inside the buffer.
func (w *fbWalker) has(off, n int64) bool {
	return off >= 0 && n >= 0 && off <= int64(len(w.b)) && n <= int64(len(w.b))-off
}

func (w *fbWalker) spend(n int64, what string) error {
	w.budget -= n
	if w.budget < 0 {
		return invalid("%s: the metadata refers to more data than it holds", what)
	}
	return nil
}

// table validates the table at pos: its vtable offset, vtable and
// inline size lie in the buffer.
func (w *fbWalker) table(pos int64, what string) (fbTable, error) {
	if !w.has(pos, flatbuffers.SizeSOffsetT) {
		return fbTable{}, invalid("%s: table at %d is outside the metadata", what, pos)
	}
	vt := pos - int64(flatbuffers.GetSOffsetT(w.b[pos:]))
	if !w.has(vt, 2*flatbuffers.SizeVOffsetT) {
		return fbTable{}, invalid("%s: vtable at %d is outside the metadata", what, vt)
	}
	vtLen := int64(flatbuffers.GetVOffsetT(w.b[vt:]))
	tLen := int64(flatbuffers.GetVOffsetT(w.b[vt+2:]))
	if vtLen < 4 || vtLen%2 != 0 || !w.has(vt, vtLen) {
		return fbTable{}, invalid("%s: bad vtable length %d", what, vtLen)
	}
	if tLen < flatbuffers.SizeSOffsetT || !w.has(pos, tLen) {
		return fbTable{}, invalid("%s: bad table length %d", what, tLen)
	}
	return fbTable{pos: pos, vt: vt, vtLen: vtLen}, nil
}

// field returns where field slot of t is stored, size bytes, or -1 when
// the table leaves it out.
func (w *fbWalker) field(t fbTable, slot int, size int64, what string) (int64, error) {
	vo := int64(4 + 2*slot)
	if vo+2 > t.vtLen {
		return -1, nil
	}
	off := int64(flatbuffers.GetVOffsetT(w.b[t.vt+vo:]))
	if off == 0 {
		return -1, nil
	}
	at := t.pos + off
	if !w.has(at, size) {
		return -1, invalid("%s: field %d is outside the metadata", what, slot)
	}
	return at, nil
}

// ref follows the offset in field slot of t to the object it names, or
// returns -1 when the field is absent.
func (w *fbWalker) ref(t fbTable, slot int, what string) (int64, error) {
	at, err := w.field(t, slot, flatbuffers.SizeUOffsetT, what)
	if err != nil || at < 0 {
		return at, err
	}
	return at + int64(flatbuffers.GetUOffsetT(w.b[at:])), nil
}

// refTable is ref for a table-typed field.
func (w *fbWalker) refTable(t fbTable, slot int, what string) (fbTable, bool, error) {
	at, err := w.ref(t, slot, what)
	if err != nil || at < 0 {
		return fbTable{}, false, err
	}
	sub, err := w.table(at, what)
	return sub, err == nil, err
}

// vectorAt validates the vector at pos of elements of elem bytes and
// returns where its elements start and how many there are.
func (w *fbWalker) vectorAt(pos, elem int64, what string) (int64, int64, error) {
	if !w.has(pos, flatbuffers.SizeUOffsetT) {
		return 0, 0, invalid("%s: vector at %d is outside the metadata", what, pos)
	}
	n := int64(flatbuffers.GetUOffsetT(w.b[pos:]))
	start := pos + flatbuffers.SizeUOffsetT
	if !w.has(start, n*elem) {
		return 0, 0, invalid("%s: %d entries of %d bytes do not fit in the metadata (%d bytes)", what, n, elem, len(w.b))
	}
	if err := w.spend(max(n*elem, n), what); err != nil {
		return 0, 0, err
	}
	return start, n, nil
}

// vector validates the vector in field slot of t; n is 0 when absent.
func (w *fbWalker) vector(t fbTable, slot int, elem int64, what string) (start, n int64, err error) {
	at, err := w.ref(t, slot, what)
	if err != nil || at < 0 {
		return 0, 0, err
	}
	return w.vectorAt(at, elem, what)
}

// tableVector validates a vector of tables and calls each on every one.
func (w *fbWalker) tableVector(t fbTable, slot int, what string, each func(int, fbTable) error) error {
	start, n, err := w.vector(t, slot, flatbuffers.SizeUOffsetT, what)
	if err != nil {
		return err
	}
	for i := int64(0); i < n; i++ {
		at := start + i*flatbuffers.SizeUOffsetT
		sub, err := w.table(at+int64(flatbuffers.GetUOffsetT(w.b[at:])), what)
		if err != nil {
			return err
		}
		if err := each(int(i), sub); err != nil {
			return err
		}
	}
	return nil
}

func (w *fbWalker) str(t fbTable, slot int, what string) error {
	_, _, err := w.vector(t, slot, 1, what)
	return err
}

// scalar checks the scalar in field slot of t lies in the buffer and
// returns its position, or -1 when absent.
func (w *fbWalker) scalar(t fbTable, slot int, size int64, what string) (int64, error) {
	return w.field(t, slot, size, what)
}

func (w *fbWalker) int16At(t fbTable, slot int, what string) (int64, error) {
	at, err := w.scalar(t, slot, 2, what)
	if err != nil || at < 0 {
		return 0, err
	}
	return int64(flatbuffers.GetInt16(w.b[at:])), nil
}

func (w *fbWalker) int32At(t fbTable, slot int, what string) (int64, error) {
	at, err := w.scalar(t, slot, 4, what)
	if err != nil || at < 0 {
		return 0, err
	}
	return int64(flatbuffers.GetInt32(w.b[at:])), nil
}

func (w *fbWalker) int64At(t fbTable, slot int, what string) (int64, error) {
	at, err := w.scalar(t, slot, 8, what)
	if err != nil || at < 0 {
		return 0, err
	}
	return flatbuffers.GetInt64(w.b[at:]), nil
}

func (w *fbWalker) byteAt(t fbTable, slot int, what string) (int64, error) {
	at, err := w.scalar(t, slot, 1, what)
	if err != nil || at < 0 {
		return 0, err
	}
	return int64(w.b[at]), nil
}

// keyValues validates a custom_metadata vector of KeyValue{key, value}.
func (w *fbWalker) keyValues(t fbTable, slot int, what string) error {
	return w.tableVector(t, slot, what+" custom metadata", func(_ int, kv fbTable) error {
		if err := w.str(kv, 0, what+" metadata key"); err != nil {
			return err
		}
		return w.str(kv, 1, what+" metadata value")
	})
}

// schema validates Schema{endianness, fields, custom_metadata, features}.
func (w *fbWalker) schema(t fbTable) error {
	if _, err := w.int16At(t, 0, "schema endianness"); err != nil {
		return err
	}
	err := w.tableVector(t, 1, "schema fields", func(i int, f fbTable) error {
		return w.schemaField(f, 0, fmt.Sprintf("field %d", i))
	})
	if err != nil {
		return err
	}
	if err := w.keyValues(t, 2, "schema"); err != nil {
		return err
	}
	_, _, err = w.vector(t, 3, 8, "schema features")
	return err
}

// schemaField validates Field{name, nullable, type_type, type,
// dictionary, children, custom_metadata} and its children.
func (w *fbWalker) schemaField(t fbTable, depth int, what string) error {
	w.fields++
	if w.fields > w.lim.MaxFields {
		return invalid("the schema has more than %d fields", w.lim.MaxFields)
	}
	if depth > w.lim.MaxDepth {
		return invalid("%s: fields nest more than %d deep", what, w.lim.MaxDepth)
	}
	if err := w.str(t, 0, what+" name"); err != nil {
		return err
	}
	if _, err := w.byteAt(t, 1, what+" nullable"); err != nil {
		return err
	}
	typ, err := w.byteAt(t, 2, what+" type")
	if err != nil {
		return err
	}
	if typ == 0 || typ > typeLast {
		return invalid("%s: unknown type %d", what, typ)
	}
	tt, ok, err := w.refTable(t, 3, what+" type")
	if err != nil {
		return err
	}
	if !ok {
		return invalid("%s: no type", what)
	}
	if dict, ok, err := w.refTable(t, 4, what+" dictionary"); err != nil {
		return err
	} else if ok {
		if err := w.dictionaryEncoding(dict, what+" dictionary"); err != nil {
			return err
		}
	}
	children := 0
	err = w.tableVector(t, 5, what+" children", func(i int, c fbTable) error {
		children++
		return w.schemaField(c, depth+1, fmt.Sprintf("%s child %d", what, i))
	})
	if err != nil {
		return err
	}
	if err := w.typeTable(typ, tt, children, what); err != nil {
		return err
	}
	return w.keyValues(t, 6, what)
}

// dictionaryEncoding validates DictionaryEncoding{id, indexType,
// isOrdered, dictionaryKind}.
func (w *fbWalker) dictionaryEncoding(t fbTable, what string) error {
	if _, err := w.int64At(t, 0, what+" id"); err != nil {
		return err
	}
	if it, ok, err := w.refTable(t, 1, what+" index type"); err != nil {
		return err
	} else if ok {
		if err := w.typeTable(typeInt, it, 0, what+" index"); err != nil {
			return err
		}
	}
	if _, err := w.byteAt(t, 2, what+" ordered"); err != nil {
		return err
	}
	_, err := w.int16At(t, 3, what+" kind")
	return err
}

// typeTable validates the scalars of a type table that the reader
// decodes, and values it would panic on rather than return an error.
func (w *fbWalker) typeTable(typ int64, t fbTable, children int, what string) error {
	what += " type"
	switch typ {
	case typeInt:
		if _, err := w.int32At(t, 0, what); err != nil {
			return err
		}
		_, err := w.byteAt(t, 1, what)
		return err
	case typeFloatingPoint, typeDate, typeInterval, typeDuration:
		_, err := w.int16At(t, 0, what)
		return err
	case typeDecimal:
		for slot := range 3 {
			if _, err := w.int32At(t, slot, what); err != nil {
				return err
			}
		}
	case typeTime, typeTimestamp:
		unit, err := w.int16At(t, 0, what)
		if err != nil {
			return err
		}
		if unit < 0 || unit > 3 {
			return invalid("%s: unknown time unit %d", what, unit)
		}
		if typ == typeTime {
			_, err = w.int32At(t, 1, what)
			return err
		}
		return w.str(t, 1, what+" timezone")
	case typeFixedSizeBinary:
		width, err := w.int32At(t, 0, what)
		if err != nil {
			return err
		}
		if width < 0 {
			return invalid("%s: negative byte width %d", what, width)
		}
	case typeFixedSizeList:
		size, err := w.int32At(t, 0, what)
		if err != nil {
			return err
		}
		if size <= 0 {
			return invalid("%s: list size %d is not positive", what, size)
		}
	case typeMap:
		_, err := w.byteAt(t, 0, what)
		return err
	case typeUnion:
		return w.unionType(t, children, what)
	}
	return nil
}

// unionType validates Union{mode, typeIds}: a known mode, and type codes
// arrow-go accepts (one per child, unique, below 128).
func (w *fbWalker) unionType(t fbTable, children int, what string) error {
	mode, err := w.int16At(t, 0, what)
	if err != nil {
		return err
	}
	if mode != 0 && mode != 1 {
		return invalid("%s: unknown union mode %d", what, mode)
	}
	start, n, err := w.vector(t, 1, 4, what+" type ids")
	if err != nil {
		return err
	}
	if n == 0 {
		if children > 128 {
			return invalid("%s: %d union members, at most 128", what, children)
		}
		return nil
	}
	if n != int64(children) {
		return invalid("%s: %d type ids for %d members", what, n, children)
	}
	var seen [128]bool
	for i := range n {
		id := flatbuffers.GetInt32(w.b[start+4*i:])
		if id < 0 || id > 127 || seen[id] {
			return invalid("%s: bad or repeated union type id %d", what, id)
		}
		seen[id] = true
	}
	return nil
}

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
