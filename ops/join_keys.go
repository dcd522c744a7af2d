package ops

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// joinBatchRows is the most rows join, aggregate and split put in one
// output batch.
const joinBatchRows = 1 << 16

// keyPart appends the value of one column at row i to a row key. It
// returns false, leaving buf as it was, when the value is null or can
// never equal a value of the other side (see keyPartOf).
type keyPart func(buf []byte, i int) ([]byte, bool)

// keyable reports whether values of type dt can be hashed into row keys.
func keyable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL,
		arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DURATION:
		return true
	}
	return false
}

// isIntegerType reports whether dt is a signed or unsigned integer type.
func isIntegerType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// keyPartOf returns the key encoder of col. Every integer is encoded as
// its 64-bit value, so integer columns of different widths give equal
// keys for equal values; signedMix says the other side may be signed, in
// which case a uint64 above MaxInt64 never matches. Floats are encoded so
// that 0 equals -0 and NaN equals NaN. Strings are length-prefixed, so
// keys of several columns concatenate without ambiguity.
func keyPartOf(col arrow.Array, signedMix bool) (keyPart, error) {
	le := binary.LittleEndian
	switch a := col.(type) {
	case *array.Int8:
		return signedPart(a, a.Values()), nil
	case *array.Int16:
		return signedPart(a, a.Values()), nil
	case *array.Int32:
		return signedPart(a, a.Values()), nil
	case *array.Int64:
		return signedPart(a, a.Values()), nil
	case *array.Date32:
		return signedPart(a, a.Values()), nil
	case *array.Date64:
		return signedPart(a, a.Values()), nil
	case *array.Timestamp:
		return signedPart(a, a.Values()), nil
	case *array.Time32:
		return signedPart(a, a.Values()), nil
	case *array.Time64:
		return signedPart(a, a.Values()), nil
	case *array.Duration:
		return signedPart(a, a.Values()), nil
	case *array.Uint8:
		return unsignedPart(a, a.Values()), nil
	case *array.Uint16:
		return unsignedPart(a, a.Values()), nil
	case *array.Uint32:
		return unsignedPart(a, a.Values()), nil
	case *array.Uint64:
		vals := a.Values()
		return func(buf []byte, i int) ([]byte, bool) {
			if a.IsNull(i) || (signedMix && vals[i] > math.MaxInt64) {
				return buf, false
			}
			return le.AppendUint64(buf, vals[i]), true
		}, nil
	case *array.Float32:
		vals := a.Values()
		return func(buf []byte, i int) ([]byte, bool) {
			if a.IsNull(i) {
				return buf, false
			}
			return le.AppendUint64(buf, floatKey(float64(vals[i]))), true
		}, nil
	case *array.Float64:
		vals := a.Values()
		return func(buf []byte, i int) ([]byte, bool) {
			if a.IsNull(i) {
				return buf, false
			}
			return le.AppendUint64(buf, floatKey(vals[i])), true
		}, nil
	case *array.Boolean:
		return func(buf []byte, i int) ([]byte, bool) {
			if a.IsNull(i) {
				return buf, false
			}
			if a.Value(i) {
				return append(buf, 1), true
			}
			return append(buf, 0), true
		}, nil
	case *array.String:
		return stringPart(a), nil
	case *array.LargeString:
		return stringPart(a), nil
	case *array.StringView:
		return stringPart(a), nil
	case *array.Binary:
		return bytesPart(a), nil
	case *array.LargeBinary:
		return bytesPart(a), nil
	}
	return nil, fmt.Errorf("values of type %s cannot be compared as keys", col.DataType())
}

func floatKey(f float64) uint64 {
	switch {
	case math.IsNaN(f):
		f = math.NaN()
	case f == 0:
		f = 0
	}
	return math.Float64bits(f)
}

type signedValue interface {
	~int8 | ~int16 | ~int32 | ~int64
}

type unsignedValue interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

func signedPart[T signedValue](a arrow.Array, vals []T) keyPart {
	return func(buf []byte, i int) ([]byte, bool) {
		if a.IsNull(i) {
			return buf, false
		}
		return binary.LittleEndian.AppendUint64(buf, uint64(int64(vals[i]))), true
	}
}

func unsignedPart[T unsignedValue](a arrow.Array, vals []T) keyPart {
	return func(buf []byte, i int) ([]byte, bool) {
		if a.IsNull(i) {
			return buf, false
		}
		return binary.LittleEndian.AppendUint64(buf, uint64(vals[i])), true
	}
}

func stringPart(a stringArray) keyPart {
	return func(buf []byte, i int) ([]byte, bool) {
		if a.IsNull(i) {
			return buf, false
		}
		s := a.Value(i)
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		return append(buf, s...), true
	}
}

type bytesArray interface {
	arrow.Array
	Value(int) []byte
}

func bytesPart(a bytesArray) keyPart {
	return func(buf []byte, i int) ([]byte, bool) {
		if a.IsNull(i) {
			return buf, false
		}
		b := a.Value(i)
		buf = binary.AppendUvarint(buf, uint64(len(b)))
		return append(buf, b...), true
	}
}

// rowKeyer encodes the values of several columns at one row as one key.
type rowKeyer []keyPart

// newRowKeyer returns the keyer of cols; signedMix[j] (when given) is
// keyPartOf's signedMix for cols[j].
func newRowKeyer(cols []arrow.Array, signedMix []bool) (rowKeyer, error) {
	k := make(rowKeyer, len(cols))
	for j, col := range cols {
		mix := j < len(signedMix) && signedMix[j]
		p, err := keyPartOf(col, mix)
		if err != nil {
			return nil, err
		}
		k[j] = p
	}
	return k, nil
}

// matchKey returns row i's key for matching, false when one of its
// values is null (SQL semantics: such a row matches nothing).
func (k rowKeyer) matchKey(buf []byte, i int) ([]byte, bool) {
	buf = buf[:0]
	for _, p := range k {
		var ok bool
		if buf, ok = p(buf, i); !ok {
			return buf, false
		}
	}
	return buf, true
}

// groupKey returns row i's key for grouping, where a null is a value of
// its own, distinct from every other.
func (k rowKeyer) groupKey(buf []byte, i int) []byte {
	buf = buf[:0]
	for _, p := range k {
		n := len(buf)
		buf = append(buf, 1)
		var ok bool
		if buf, ok = p(buf, i); !ok {
			buf = append(buf[:n], 0)
		}
	}
	return buf
}
