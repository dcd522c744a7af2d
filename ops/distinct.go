package ops

import (
	"hash/maphash"
	"math"
	"math/bits"
)

// exactDistinct is how many distinct values are counted exactly; above it
// the count switches to a HyperLogLog estimate (about 1% error).
const exactDistinct = 1_000_000

var distinctSeed = maphash.MakeSeed()

func stringHash(s string) uint64 { return maphash.String(distinctSeed, s) }

func boolHash(b bool) uint64 {
	if b {
		return maphash.Comparable(distinctSeed, uint64(1))
	}
	return maphash.Comparable(distinctSeed, uint64(0))
}

// numberHash hashes the value's bits, so that every NaN and each float is
// one value and integers keep full precision.
func numberHash[T number](v T) uint64 {
	switch x := any(v).(type) {
	case float64:
		if math.IsNaN(x) {
			x = math.NaN()
		}
		if x == 0 {
			x = 0 // -0 and 0 are one value
		}
		return maphash.Comparable(distinctSeed, math.Float64bits(x))
	case float32:
		return numberHash(float64(x))
	}
	return maphash.Comparable(distinctSeed, v)
}

// distinctCounter counts distinct value hashes: exactly in a set until it
// holds exactDistinct of them, then with a HyperLogLog sketch.
type distinctCounter struct {
	exact map[uint64]struct{}
	hll   *hyperLogLog
}

func newDistinctCounter() distinctCounter {
	return distinctCounter{exact: map[uint64]struct{}{}}
}

func (d *distinctCounter) add(h uint64) {
	if d.hll != nil {
		d.hll.add(h)
		return
	}
	d.exact[h] = struct{}{}
	if len(d.exact) > exactDistinct {
		d.hll = &hyperLogLog{}
		for k := range d.exact {
			d.hll.add(k)
		}
		d.exact = nil
	}
}

func (d *distinctCounter) count() int64 {
	if d.hll != nil {
		return d.hll.estimate()
	}
	return int64(len(d.exact))
}

// hllP is the sketch's precision: 2^14 registers.
const hllP = 14

type hyperLogLog struct {
	reg [1 << hllP]uint8
}

func (h *hyperLogLog) add(x uint64) {
	idx := x >> (64 - hllP)
	rest := x<<hllP | 1<<(hllP-1) // the guard bit bounds the rank
	rank := uint8(bits.LeadingZeros64(rest) + 1)
	if rank > h.reg[idx] {
		h.reg[idx] = rank
	}
}

func (h *hyperLogLog) estimate() int64 {
	const m = float64(1 << hllP)
	sum, zeros := 0.0, 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	est := 0.7213 / (1 + 1.079/m) * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros))
	}
	return int64(est + 0.5)
}
