package node_test

import (
	"testing"
	"time"
)

// waitUntil polls cond every 5ms until it holds, failing the test or
// benchmark once within has passed.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
