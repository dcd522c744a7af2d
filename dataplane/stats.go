package dataplane

import (
	"hash/maphash"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/forged-dev/forged/dag"
)

// statsCollector computes an output's column statistics (dag.ColumnStats)
// from the batches written to it, in one pass and bounded memory: the
// first dag.StatsColumnsMax columns get stats, and each distinct set
// stops growing at dag.DistinctCap.
type statsCollector struct {
	// off turns the collector off (benchmarks compare with and without).
	off  bool
	cols []columnStats
	// scratch holds a batch's values converted to float64 (half floats
	// and decimals) and the dictionary indices it uses.
	scratch []float64
	used    []bool
}

// columnStats accumulates one column.
type columnStats struct {
	name, typ    string
	count, nulls int64
	numeric      bool
	moments      moments
	// distinct holds hashes of the distinct values seen, for text and
	// dictionary columns; bools records false (bit 0) and true (bit 1).
	countsDistinct bool
	textual        bool
	distinct       hashSet
	bools          uint8
	capped         bool
	// hashed counts the text values hashed; past dag.DistinctSample the
	// column is sampled and counting stops, which bounds its cost.
	hashed  int
	sampled bool
}

// hashSet is a set of non-zero 64-bit hashes, open-addressed in a table
// twice the cap's size (rounded up to a power of two), so that a lookup
// is a probe or two with no hashing of its own.
type hashSet struct {
	slots []uint64
	n     int
}

// hashSetSlots is the table size: a power of two, at least twice
// dag.DistinctCap.
var hashSetSlots = 1 << bits.Len(uint(2*dag.DistinctCap-1))

// add adds h and says whether it was new; the set must not be full.
func (s *hashSet) add(h uint64) bool {
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	if s.slots == nil {
		s.slots = make([]uint64, hashSetSlots)
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return false
		case 0:
			s.slots[i] = h
			s.n++
			return true
		}
	}
}

// has says whether h is in the set.
func (s *hashSet) has(h uint64) bool {
	if h == 0 {
		h = 1
	}
	if s.slots == nil {
		return false
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// moments are the count, mean, sum of squared deviations from the mean,
// min and max of a column's finite values. Batches are folded in with
// the pairwise form of Welford's update (Chan et al.): a batch's mean and
// squared deviations are computed over the batch, in cache, then merged,
// which is as stable as the value-by-value update and needs no division
// per value.
type moments struct {
	n        int64
	mean, m2 float64
	min, max float64
}

// statsSeed keys the hashes of distinct values.
var statsSeed = maphash.MakeSeed()

// add folds a batch in; rec has the output's schema.
func (c *statsCollector) add(rec arrow.RecordBatch) {
	if c.off {
		return
	}
	if c.cols == nil {
		c.init(rec.Schema())
	}
	for i := range c.cols {
		c.addColumn(&c.cols[i], rec.Column(i))
	}
}

func (c *statsCollector) init(schema *arrow.Schema) {
	n := min(schema.NumFields(), dag.StatsColumnsMax)
	c.cols = make([]columnStats, n)
	for i := range c.cols {
		f := schema.Field(i)
		s := &c.cols[i]
		s.name, s.typ = f.Name, f.Type.String()
		switch f.Type.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
			arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
			arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
			arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
			s.numeric = true
		case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.DICTIONARY:
			s.countsDistinct, s.textual = true, true
		case arrow.BOOL:
			s.countsDistinct = true
		}
	}
}

func (c *statsCollector) addColumn(s *columnStats, col arrow.Array) {
	nulls := col.NullN()
	s.nulls += int64(nulls)
	s.count += int64(col.Len() - nulls)
	if nulls == col.Len() {
		return
	}
	// valid is nil when every value is, so the loops skip the bitmap.
	var valid []byte
	off := col.Data().Offset()
	if nulls > 0 {
		valid = col.NullBitmapBytes()
	}
	switch a := col.(type) {
	case *array.Int8:
		addBatch(&s.moments, a.Int8Values(), valid, off)
	case *array.Int16:
		addBatch(&s.moments, a.Int16Values(), valid, off)
	case *array.Int32:
		addBatch(&s.moments, a.Int32Values(), valid, off)
	case *array.Int64:
		addBatch(&s.moments, a.Int64Values(), valid, off)
	case *array.Uint8:
		addBatch(&s.moments, a.Uint8Values(), valid, off)
	case *array.Uint16:
		addBatch(&s.moments, a.Uint16Values(), valid, off)
	case *array.Uint32:
		addBatch(&s.moments, a.Uint32Values(), valid, off)
	case *array.Uint64:
		addBatch(&s.moments, a.Uint64Values(), valid, off)
	case *array.Float32:
		addBatch(&s.moments, a.Float32Values(), valid, off)
	case *array.Float64:
		addBatch(&s.moments, a.Float64Values(), valid, off)
	case *array.Float16:
		buf := c.floats(a.Len())
		for i, v := range a.Values() {
			buf[i] = float64(v.Float32())
		}
		addBatch(&s.moments, buf, valid, off)
	case *array.Decimal32:
		addBatch(&s.moments, decimalFloats(c, a.Values(), a.DataType()), valid, off)
	case *array.Decimal64:
		addBatch(&s.moments, decimalFloats(c, a.Values(), a.DataType()), valid, off)
	case *array.Decimal128:
		addBatch(&s.moments, decimalFloats(c, a.Values(), a.DataType()), valid, off)
	case *array.Decimal256:
		addBatch(&s.moments, decimalFloats(c, a.Values(), a.DataType()), valid, off)
	case *array.Boolean:
		for i := 0; i < a.Len() && s.bools != 3; i++ {
			if a.IsValid(i) {
				if a.Value(i) {
					s.bools |= 2
				} else {
					s.bools |= 1
				}
			}
		}
	case *array.String:
		s.addUTF8(a.ValueOffsets(), a.ValueBytes(), valid, off)
	case *array.LargeString:
		s.addStrings(a)
	case *array.StringView:
		s.addStrings(a)
	case *array.Dictionary:
		c.addDictionary(s, a)
	}
}

// floats returns the scratch buffer with room for n values.
func (c *statsCollector) floats(n int) []float64 {
	if cap(c.scratch) < n {
		c.scratch = make([]float64, n)
	}
	return c.scratch[:n]
}

// decimalFloats converts a batch of decimals into the scratch buffer.
func decimalFloats[T interface{ ToFloat64(int32) float64 }](c *statsCollector, vals []T, dt arrow.DataType) []float64 {
	scale := dt.(arrow.DecimalType).GetScale()
	buf := c.floats(len(vals))
	for i, v := range vals {
		buf[i] = v.ToFloat64(scale)
	}
	return buf
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// addBatch folds one batch of values in: vals[i] counts when bit off+i of
// valid is set, or always when valid is nil. NaN and the infinities are
// skipped.
func addBatch[T number](m *moments, vals []T, valid []byte, off int) {
	if len(vals) == 0 {
		return
	}
	var b moments
	if valid == nil {
		b = denseMoments(vals)
	} else {
		b = sparseMoments(vals, valid, off)
	}
	if b.n > 0 {
		m.merge(b)
	}
}

// denseMoments are the moments of vals, none of them null. The common
// case, all values finite, takes two passes of four independent sums,
// which the processor overlaps; a NaN or an infinity shows in the sums,
// and the batch is then taken again value by value.
func denseMoments[T number](vals []T) moments {
	var (
		s0, s1, s2, s3 float64
		l0, l1, l2, l3 = math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)
		h0, h1, h2, h3 = math.Inf(-1), math.Inf(-1), math.Inf(-1), math.Inf(-1)
		i              int
	)
	for ; i+4 <= len(vals); i += 4 {
		x0, x1, x2, x3 := float64(vals[i]), float64(vals[i+1]), float64(vals[i+2]), float64(vals[i+3])
		s0 += x0
		s1 += x1
		s2 += x2
		s3 += x3
		// Branches, not min and max, which also order NaN: most values
		// move neither bound.
		if x0 < l0 {
			l0 = x0
		}
		if x1 < l1 {
			l1 = x1
		}
		if x2 < l2 {
			l2 = x2
		}
		if x3 < l3 {
			l3 = x3
		}
		if x0 > h0 {
			h0 = x0
		}
		if x1 > h1 {
			h1 = x1
		}
		if x2 > h2 {
			h2 = x2
		}
		if x3 > h3 {
			h3 = x3
		}
	}
	for ; i < len(vals); i++ {
		x := float64(vals[i])
		s0 += x
		if x < l0 {
			l0 = x
		}
		if x > h0 {
			h0 = x
		}
	}
	lo, hi := min(l0, l1, l2, l3), max(h0, h1, h2, h3)
	sum := (s0 + s1) + (s2 + s3)
	if sum-sum != 0 || lo-lo != 0 || hi-hi != 0 {
		return checkedMoments(vals)
	}
	n := len(vals)
	mean := sum / float64(n)
	var q0, q1, q2, q3 float64
	for i = 0; i+4 <= n; i += 4 {
		d0, d1, d2, d3 := float64(vals[i])-mean, float64(vals[i+1])-mean, float64(vals[i+2])-mean, float64(vals[i+3])-mean
		q0 += d0 * d0
		q1 += d1 * d1
		q2 += d2 * d2
		q3 += d3 * d3
	}
	for ; i < n; i++ {
		d := float64(vals[i]) - mean
		q0 += d * d
	}
	return moments{n: int64(n), mean: mean, m2: (q0 + q1) + (q2 + q3), min: lo, max: hi}
}

// checkedMoments are the moments of the finite values of vals.
func checkedMoments[T number](vals []T) moments {
	var (
		n       int64
		sum, m2 float64
		lo, hi  = math.Inf(1), math.Inf(-1)
	)
	for _, v := range vals {
		if x := float64(v); x-x == 0 {
			n++
			sum += x
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	if n == 0 {
		return moments{}
	}
	mean := sum / float64(n)
	for _, v := range vals {
		if x := float64(v); x-x == 0 {
			m2 += (x - mean) * (x - mean)
		}
	}
	return moments{n: n, mean: mean, m2: m2, min: lo, max: hi}
}

// sparseMoments are the moments of the values of vals whose bit (off+i)
// is set in valid.
func sparseMoments[T number](vals []T, valid []byte, off int) moments {
	var (
		n       int64
		sum, m2 float64
		lo, hi  = math.Inf(1), math.Inf(-1)
	)
	for i, v := range vals {
		x := float64(v)
		if x-x != 0 || !bitutil.BitIsSet(valid, off+i) {
			continue
		}
		n++
		sum += x
		if x < lo {
			lo = x
		}
		if x > hi {
			hi = x
		}
	}
	if n == 0 {
		return moments{}
	}
	mean := sum / float64(n)
	for i, v := range vals {
		if x := float64(v); x-x == 0 && bitutil.BitIsSet(valid, off+i) {
			m2 += (x - mean) * (x - mean)
		}
	}
	return moments{n: n, mean: mean, m2: m2, min: lo, max: hi}
}

// merge folds in the moments of other values.
func (m *moments) merge(b moments) {
	if m.n == 0 {
		*m = b
		return
	}
	n := m.n + b.n
	d := b.mean - m.mean
	wa, wb := float64(m.n), float64(b.n)
	m.mean += d * wb / float64(n)
	m.m2 += b.m2 + d*d*wa*wb/float64(n)
	m.n = n
	m.min = min(m.min, b.min)
	m.max = max(m.max, b.max)
}

type stringValues interface {
	arrow.Array
	Value(int) string
}

func (s *columnStats) addStrings(a stringValues) {
	for i := 0; i < a.Len() && !s.capped && !s.sampled; i++ {
		if a.IsValid(i) {
			s.see(maphash.String(statsSeed, a.Value(i)))
		}
	}
}

// addUTF8 is addStrings for the common string array, read straight from
// its buffers: offs and data as the array's ValueOffsets and ValueBytes
// give them (data starts at offs[0]), valid and off as for addBatch.
func (s *columnStats) addUTF8(offs []int32, data []byte, valid []byte, off int) {
	base := offs[0]
	for i := 0; i+1 < len(offs) && !s.capped && !s.sampled; i++ {
		if valid != nil && !bitutil.BitIsSet(valid, off+i) {
			continue
		}
		s.see(maphash.Bytes(statsSeed, data[offs[i]-base:offs[i+1]-base]))
	}
}

// see adds a value's hash to the distinct set, until it is full.
func (s *columnStats) see(h uint64) {
	if s.textual {
		if s.hashed == dag.DistinctSample {
			s.sampled = true
			return
		}
		s.hashed++
	}
	if s.distinct.n < dag.DistinctCap {
		s.distinct.add(h)
		return
	}
	if !s.distinct.has(h) {
		s.capped = true
		s.distinct = hashSet{} // done counting: free the set
	}
}

// addDictionary counts the distinct dictionary values a batch uses: each
// used entry is hashed once, however often it occurs.
func (c *statsCollector) addDictionary(s *columnStats, a *array.Dictionary) {
	if s.capped {
		return
	}
	dict := a.Dictionary()
	if cap(c.used) < dict.Len() {
		c.used = make([]bool, dict.Len())
	}
	used := c.used[:dict.Len()]
	clear(used)
	for i := 0; i < a.Len(); i++ {
		if a.IsValid(i) {
			used[a.GetValueIndex(i)] = true
		}
	}
	for j, u := range used {
		if !u || dict.IsNull(j) {
			continue
		}
		var v string
		if sv, ok := dict.(stringValues); ok {
			v = sv.Value(j)
		} else {
			v = dict.ValueStr(j)
		}
		s.see(maphash.String(statsSeed, v))
		if s.capped {
			return
		}
	}
}

// result returns the stats of the output's columns (its schema is given
// for an output no batch was written to), or nil when the collector is
// off.
func (c *statsCollector) result(schema *arrow.Schema) []dag.ColumnStats {
	if c.off {
		return nil
	}
	if c.cols == nil {
		c.init(schema)
	}
	if len(c.cols) == 0 {
		return nil
	}
	out := make([]dag.ColumnStats, len(c.cols))
	for i := range c.cols {
		s := &c.cols[i]
		cs := dag.ColumnStats{Name: s.name, Type: s.typ, Count: s.count, Nulls: s.nulls}
		if m := s.moments; s.numeric && m.n > 0 {
			cs.Min, cs.Max = finitePtr(m.min), finitePtr(m.max)
			cs.Mean = finitePtr(m.mean)
			if m.n > 1 {
				cs.Std = finitePtr(math.Sqrt(m.m2 / float64(m.n-1)))
			}
		}
		if s.countsDistinct {
			switch {
			case s.capped:
				cs.Distinct, cs.DistinctCapped = dag.DistinctCap, true
			case s.textual:
				cs.Distinct, cs.DistinctSampled = s.distinct.n, s.sampled
			default:
				cs.Distinct = int(s.bools&1 + s.bools>>1)
			}
		}
		out[i] = cs
	}
	return out
}

// finitePtr points at f, or is nil when JSON cannot hold f (a mean or a
// deviation of huge values can overflow).
func finitePtr(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
