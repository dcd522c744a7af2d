package dag

// ColumnStats summarises one column of a task output, computed as the
// output is written. Count and Nulls are given for every column; Min,
// Max, Mean and Std for numeric ones (integers, floats, decimals), over
// their finite values; Distinct for text, boolean and dictionary ones.
type ColumnStats struct {
	Name string `json:"name"`
	// Type is the column's Arrow type, as in the output's schema.
	Type string `json:"type"`
	// Count is the number of non-null values, NaN included.
	Count int64 `json:"count"`
	// Nulls is the number of null values.
	Nulls int64 `json:"nulls"`
	// Min, Max, Mean and Std (the sample standard deviation, over n-1,
	// as the describe op gives it) leave out NaN and the infinities, which
	// JSON cannot hold. They are nil where the column is not numeric or
	// has no finite value; Std also where it has only one.
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
	Mean *float64 `json:"mean,omitempty"`
	Std  *float64 `json:"std,omitempty"`
	// Distinct is the number of distinct non-null values, counted up to
	// a cap (DistinctCap); DistinctCapped is set when there are more.
	Distinct       int  `json:"distinct,omitempty"`
	DistinctCapped bool `json:"distinct_capped,omitempty"`
	// DistinctSampled is set when a text column had more than
	// DistinctSample values and Distinct counts those of the first ones
	// only (a lower bound), which keeps the stats cheap on big outputs.
	DistinctSampled bool `json:"distinct_sampled,omitempty"`
}

// DistinctSample is the most values of a text column whose distinct
// values ColumnStats counts.
const DistinctSample = 1 << 16

// DistinctCap is the most distinct values ColumnStats counts.
const DistinctCap = 1000

// StatsColumnsMax is the most columns of an output that get stats: they
// travel in the replicated state with the task, so they stay small.
const StatsColumnsMax = 64
