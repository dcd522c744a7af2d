package dataplane

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// cellKind says how a formatted value is written in JSON.
type cellKind int

const (
	cellNull   cellKind = iota
	cellString          // text, quoted in JSON
	cellRaw             // a JSON number, boolean or nested value, written as is
)

// cellFunc appends the text of row i of a column to dst.
type cellFunc func(dst []byte, i int) ([]byte, cellKind)

// cellFormatter returns the formatter of one column: numbers as numbers,
// dates and timestamps as RFC 3339, binary as base64, nested values as
// JSON.
func cellFormatter(col arrow.Array) cellFunc {
	valid := func(f cellFunc) cellFunc {
		return func(dst []byte, i int) ([]byte, cellKind) {
			if col.IsNull(i) {
				return dst, cellNull
			}
			return f(dst, i)
		}
	}
	switch a := col.(type) {
	case *array.Null:
		return func(dst []byte, _ int) ([]byte, cellKind) { return dst, cellNull }
	case *array.Boolean:
		return valid(func(dst []byte, i int) ([]byte, cellKind) { return strconv.AppendBool(dst, a.Value(i)), cellRaw })
	case *array.Int8:
		return valid(intCell(func(i int) int64 { return int64(a.Value(i)) }))
	case *array.Int16:
		return valid(intCell(func(i int) int64 { return int64(a.Value(i)) }))
	case *array.Int32:
		return valid(intCell(func(i int) int64 { return int64(a.Value(i)) }))
	case *array.Int64:
		return valid(intCell(a.Value))
	case *array.Uint8:
		return valid(uintCell(func(i int) uint64 { return uint64(a.Value(i)) }))
	case *array.Uint16:
		return valid(uintCell(func(i int) uint64 { return uint64(a.Value(i)) }))
	case *array.Uint32:
		return valid(uintCell(func(i int) uint64 { return uint64(a.Value(i)) }))
	case *array.Uint64:
		return valid(uintCell(a.Value))
	case *array.Float16:
		return valid(floatCell(func(i int) float64 { return float64(a.Value(i).Float32()) }, 32))
	case *array.Float32:
		return valid(floatCell(func(i int) float64 { return float64(a.Value(i)) }, 32))
	case *array.Float64:
		return valid(floatCell(a.Value, 64))
	case *array.Decimal128, *array.Decimal256, *array.Decimal32, *array.Decimal64:
		return valid(func(dst []byte, i int) ([]byte, cellKind) { return append(dst, col.ValueStr(i)...), cellRaw })
	case *array.String:
		return valid(func(dst []byte, i int) ([]byte, cellKind) { return append(dst, a.Value(i)...), cellString })
	case *array.LargeString:
		return valid(func(dst []byte, i int) ([]byte, cellKind) { return append(dst, a.Value(i)...), cellString })
	case *array.StringView:
		return valid(func(dst []byte, i int) ([]byte, cellKind) { return append(dst, a.Value(i)...), cellString })
	case array.BinaryLike:
		return valid(func(dst []byte, i int) ([]byte, cellKind) {
			return base64.StdEncoding.AppendEncode(dst, binaryValue(col, i)), cellString
		})
	case *array.Date32:
		return valid(func(dst []byte, i int) ([]byte, cellKind) {
			return a.Value(i).ToTime().AppendFormat(dst, time.DateOnly), cellString
		})
	case *array.Date64:
		return valid(func(dst []byte, i int) ([]byte, cellKind) {
			return a.Value(i).ToTime().AppendFormat(dst, time.DateOnly), cellString
		})
	case *array.Timestamp:
		typ := a.DataType().(*arrow.TimestampType)
		loc := time.UTC
		if typ.TimeZone != "" {
			if l, err := typ.GetZone(); err == nil && l != nil {
				loc = l
			}
		}
		return valid(func(dst []byte, i int) ([]byte, cellKind) {
			return a.Value(i).ToTime(typ.Unit).In(loc).AppendFormat(dst, time.RFC3339Nano), cellString
		})
	case *array.Dictionary:
		inner := cellFormatter(a.Dictionary())
		return valid(func(dst []byte, i int) ([]byte, cellKind) { return inner(dst, a.GetValueIndex(i)) })
	}
	if arrow.IsNested(col.DataType().ID()) {
		return valid(func(dst []byte, i int) ([]byte, cellKind) {
			b, err := json.Marshal(col.GetOneForMarshal(i))
			if err != nil {
				return append(dst, col.ValueStr(i)...), cellString
			}
			return append(dst, b...), cellRaw
		})
	}
	return valid(func(dst []byte, i int) ([]byte, cellKind) { return append(dst, col.ValueStr(i)...), cellString })
}

func binaryValue(col arrow.Array, i int) []byte {
	switch a := col.(type) {
	case *array.Binary:
		return a.Value(i)
	case *array.LargeBinary:
		return a.Value(i)
	case *array.BinaryView:
		return a.Value(i)
	case *array.FixedSizeBinary:
		return a.Value(i)
	}
	return []byte(col.ValueStr(i))
}

func intCell(v func(int) int64) cellFunc {
	return func(dst []byte, i int) ([]byte, cellKind) { return strconv.AppendInt(dst, v(i), 10), cellRaw }
}

func uintCell(v func(int) uint64) cellFunc {
	return func(dst []byte, i int) ([]byte, cellKind) { return strconv.AppendUint(dst, v(i), 10), cellRaw }
}

// floatCell writes NaN and infinities as null: JSON has no such numbers.
func floatCell(v func(int) float64, bits int) cellFunc {
	return func(dst []byte, i int) ([]byte, cellKind) {
		f := v(i)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return dst, cellNull
		}
		return strconv.AppendFloat(dst, f, 'g', -1, bits), cellRaw
	}
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
