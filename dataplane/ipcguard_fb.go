package dataplane

// The IPC guard's flatbuffer walker: tables, vectors and strings checked
// against the bytes present, and the schema's fields and types.

import (
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"
)

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
