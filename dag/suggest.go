package dag

import (
	"fmt"
	"strings"
)

// maxListed bounds how many names a message lists.
const maxListed = 20

// choices tells the user what they could have written instead of got: the
// closest name when one is near, else the list of names under label.
func choices(label, got string, names []string) string {
	if len(names) == 0 {
		return "there are no " + label
	}
	if best := closest(got, names); best != "" {
		return fmt.Sprintf("did you mean %q? (%s: %s)", best, label, list(names))
	}
	return label + ": " + list(names)
}

// list joins names for a message, cutting long lists short.
func list(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}

// closest returns the name nearest to got by edit distance when it is
// near enough to be a likely typo, else "". Long candidate lists are not
// searched, to keep a spec with thousands of tasks fast to check.
func closest(got string, names []string) string {
	if len(names) > 500 || len(got) > 128 {
		return ""
	}
	limit := max(1, (len(got)+1)/2)
	best, bestD := "", limit+1
	lgot := strings.ToLower(got)
	for _, n := range names {
		if n == got || len(n) > 128 {
			continue
		}
		ln := strings.ToLower(n)
		d := limit + 1
		if abs(len(n)-len(got)) < bestD {
			d = editDistance(lgot, ln)
		}
		// A cut-short name ("retry" for "retries") is a likely slip too.
		if d > limit && len(got) >= 3 && strings.HasPrefix(ln, lgot) {
			d = limit
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b
// in bytes: insertions, deletions, substitutions and swaps of neighbours
// ("paht" for "path") each cost one.
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(a)][len(b)]
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}
