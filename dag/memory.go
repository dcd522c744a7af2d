package dag

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MinMemoryLimit is the smallest memory limit an exec task may ask for:
// below it not even a shell starts.
const MinMemoryLimit = 16 << 20

// memoryUnits maps the units a memory limit may be written in to their
// sizes in bytes: binary ones (KiB, Ki, ...) and decimal ones (kB, K, ...).
var memoryUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
}

// MemoryLimit reads an exec task's `memory:` value: a number of bytes, or
// a number with a unit such as 256MiB, 1.5GiB, 512Mi or 2GB (units are
// not case-sensitive; KiB, MiB, GiB and TiB are powers of 1024, kB, MB, GB
// and TB of 1000). It returns the limit in bytes, at least MinMemoryLimit.
func MemoryLimit(v any) (int64, error) {
	n, isNumber := number(v)
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i < 0 {
			i = len(s)
		}
		num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
		size, known := memoryUnits[unit]
		f, err := strconv.ParseFloat(num, 64)
		if num == "" || err != nil || !known {
			return 0, fmt.Errorf("memory %q: want a size such as 256MiB, 2GiB or 512MB", clip(x))
		}
		n = f * float64(size)
	default:
		if !isNumber {
			return 0, errors.New("memory: want a size such as 256MiB, 2GiB or 512MB")
		}
	}
	if math.IsNaN(n) || n >= math.MaxInt64 {
		return 0, fmt.Errorf("memory %v: too large", v)
	}
	if n < MinMemoryLimit {
		return 0, fmt.Errorf("memory %v: the limit must be at least %s", v, FormatBytes(MinMemoryLimit))
	}
	return int64(n), nil
}

// FormatBytes writes a size the way limits are usually written: 256MiB,
// 1.5GiB, 1000B.
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, u := float64(n), 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) + units[u]
}
