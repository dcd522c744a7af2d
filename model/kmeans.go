package model

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// KMeans is a k-means clustering: each row belongs to its nearest
// centroid (squared Euclidean distance, the lowest index on a tie).
type KMeans struct {
	sig Signature
	// Centroids has one row of d coordinates per cluster.
	Centroids [][]float64
}

var _ Model = (*KMeans)(nil)

// KMeansOptions configure TrainKMeans.
type KMeansOptions struct {
	// Seed seeds the k-means++ initialisation; the same seed on the same
	// data gives the same model.
	Seed int64
	// MaxIter bounds the Lloyd iterations; 0 means 300.
	MaxIter int
	// Tol stops the iterations once no centroid moves by more than Tol
	// (Euclidean distance); 0 means 1e-9. Training also stops as soon as
	// no row changes cluster.
	Tol float64
	// Features names the d features in the model's signature; nil names
	// them x0, x1, ...
	Features []Feature
	// Context, when not nil, stops training with its error once done.
	Context context.Context
}

// TrainKMeans clusters n rows of d features (x, row by row) into k
// clusters: k-means++ initialisation from a generator seeded with
// opts.Seed, then Lloyd iterations. A cluster left empty is given the row
// farthest from its centroid. There must be at least k distinct rows.
// The report holds rows, features, k, iterations, inertia (the sum of the
// squared distances of the rows to their centroids) and converged.
func TrainKMeans(x []float64, n, d, k int, opts KMeansOptions) (*KMeans, TrainReport, error) {
	if err := checkTrainMatrix(x, n, d); err != nil {
		return nil, TrainReport{}, err
	}
	if k < 1 || k > maxForgedClusters {
		return nil, TrainReport{}, fmt.Errorf("train kmeans: k = %d; want 1 to %d", k, maxForgedClusters)
	}
	if k > n {
		return nil, TrainReport{}, fmt.Errorf("train kmeans: k = %d clusters for only %d rows", k, n)
	}
	if opts.MaxIter < 0 || opts.Tol < 0 || math.IsNaN(opts.Tol) {
		return nil, TrainReport{}, fmt.Errorf("train kmeans: max_iter and tol must not be negative")
	}
	maxIter, tol := opts.MaxIter, opts.Tol
	if maxIter == 0 {
		maxIter = 300
	}
	if tol == 0 {
		tol = 1e-9
	}
	features, err := trainFeatures(opts.Features, d)
	if err != nil {
		return nil, TrainReport{}, fmt.Errorf("train kmeans: %w", err)
	}
	stop := func() error {
		if opts.Context != nil {
			return opts.Context.Err()
		}
		return nil
	}

	rng := newSplitMix(uint64(opts.Seed))
	cent, err := kmeansPlusPlus(x, n, d, k, rng)
	if err != nil {
		return nil, TrainReport{}, err
	}
	assign := make([]int, n)
	for i := range assign {
		assign[i] = -1
	}
	dist := make([]float64, n)
	sums := make([]float64, k*d)
	counts := make([]int, k)
	iters, converged := 0, false
	for iters < maxIter {
		if err := stop(); err != nil {
			return nil, TrainReport{}, err
		}
		iters++
		changed := 0
		for i := 0; i < n; i++ {
			c, dd := nearestCentroid(cent, x[i*d:(i+1)*d])
			if c != assign[i] {
				changed++
				assign[i] = c
			}
			dist[i] = dd
		}
		if changed == 0 {
			converged = true
			break
		}
		clear(sums)
		clear(counts)
		for i, c := range assign {
			counts[c]++
			s := sums[c*d : (c+1)*d]
			for j, v := range x[i*d : (i+1)*d] {
				s[j] += v
			}
		}
		var shift float64
		for c := 0; c < k; c++ {
			if counts[c] == 0 {
				// Re-seed an empty cluster with the row farthest from its
				// centroid (the first such row on a tie).
				far := 0
				for i := range dist {
					if dist[i] > dist[far] {
						far = i
					}
				}
				dist[far] = 0
				copy(cent[c], x[far*d:(far+1)*d])
				shift = math.Inf(1)
				continue
			}
			var moved float64
			for j := range cent[c] {
				v := sums[c*d+j] / float64(counts[c])
				moved += (v - cent[c][j]) * (v - cent[c][j])
				cent[c][j] = v
			}
			shift = max(shift, math.Sqrt(moved))
		}
		if shift <= tol {
			converged = true
			break
		}
	}
	m := &KMeans{sig: Signature{Features: features, Kind: Clustering}, Centroids: cent}
	var inertia float64
	for i := 0; i < n; i++ {
		_, dd := nearestCentroid(cent, x[i*d:(i+1)*d])
		inertia += dd
	}
	if math.IsInf(inertia, 0) {
		return nil, TrainReport{}, fmt.Errorf("train kmeans: the distances overflow; scale the features")
	}
	return m, TrainReport{Metrics: map[string]any{
		"rows":       n,
		"features":   d,
		"k":          k,
		"iterations": iters,
		"inertia":    inertia,
		"converged":  converged,
	}}, nil
}

// kmeansPlusPlus picks k initial centroids: the first uniformly, each
// next one with probability proportional to its squared distance to the
// nearest centroid chosen so far.
func kmeansPlusPlus(x []float64, n, d, k int, rng *splitMix) ([][]float64, error) {
	cent := make([][]float64, 0, k)
	first := rng.intn(n)
	cent = append(cent, append([]float64(nil), x[first*d:(first+1)*d]...))
	dist := make([]float64, n)
	for i := range dist {
		dist[i] = squaredDistance(x[i*d:(i+1)*d], cent[0])
	}
	for len(cent) < k {
		var total float64
		for _, v := range dist {
			total += v
		}
		if total == 0 {
			return nil, fmt.Errorf("train kmeans: only %d distinct rows, fewer than k = %d", len(cent), k)
		}
		if math.IsInf(total, 0) {
			return nil, fmt.Errorf("train kmeans: the distances overflow; scale the features")
		}
		target := rng.float64() * total
		pick := -1
		var acc float64
		for i, v := range dist {
			if v == 0 {
				continue
			}
			acc += v
			pick = i
			if acc > target {
				break
			}
		}
		c := append([]float64(nil), x[pick*d:(pick+1)*d]...)
		cent = append(cent, c)
		for i := range dist {
			dist[i] = min(dist[i], squaredDistance(x[i*d:(i+1)*d], c))
		}
	}
	return cent, nil
}

// nearestCentroid returns the index of the centroid nearest to row and the
// squared distance to it; the lowest index wins a tie.
func nearestCentroid(cent [][]float64, row []float64) (int, float64) {
	best, bestD := 0, math.Inf(1)
	for c, ct := range cent {
		if dd := squaredDistance(row, ct); dd < bestD {
			best, bestD = c, dd
		}
	}
	return best, bestD
}

func squaredDistance(a, b []float64) float64 {
	var s float64
	for j, v := range a {
		t := v - b[j]
		s += t * t
	}
	return s
}

// splitMix is the SplitMix64 generator: small, fast and the same on
// every platform and Go version, so a seed always gives the same model.
type splitMix struct{ state uint64 }

func newSplitMix(seed uint64) *splitMix { return &splitMix{state: seed} }

func (r *splitMix) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float64 returns a uniform number in [0, 1).
func (r *splitMix) float64() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a uniform integer in [0, n), n > 0, without modulo bias.
func (r *splitMix) intn(n int) int {
	hi, lo := bits.Mul64(r.next(), uint64(n))
	if lo < uint64(n) {
		thresh := -uint64(n) % uint64(n)
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), uint64(n))
		}
	}
	return int(hi)
}

// Signature describes the model's features; it is a clustering.
func (m *KMeans) Signature() Signature { return m.sig }

// Predict gives the index of the nearest centroid per row (as a float64);
// a row with a missing (NaN) feature gives NaN.
func (m *KMeans) Predict(x []float64, n int, out []float64) error {
	if err := checkPredictSizes(m.sig, x, n, out); err != nil {
		return err
	}
	d := len(m.sig.Features)
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		if slices.ContainsFunc(row, math.IsNaN) {
			out[i] = math.NaN()
			continue
		}
		c, _ := nearestCentroid(m.Centroids, row)
		out[i] = float64(c)
	}
	return nil
}

// Encode writes the model in the forged format.
func (m *KMeans) Encode() ([]byte, error) {
	return encodeForged(forgedFile{
		Type:      ForgedKMeans,
		Signature: &m.sig,
		Centroids: m.Centroids,
	})
}
