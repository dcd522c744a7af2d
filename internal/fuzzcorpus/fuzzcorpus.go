// Package fuzzcorpus reads inputs kept in Go fuzz corpus files, so that
// tests can feed an input the fuzzer found to other entry points.
package fuzzcorpus

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Bytes returns the []byte value of a one-value corpus file (a line "go
// test fuzz v1", then []byte("...")), failing t when it cannot be read.
func Bytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Read returns the []byte value of a one-value corpus file.
func Read(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	head, v, _ := strings.Cut(string(b), "\n")
	if strings.TrimSpace(head) != "go test fuzz v1" {
		return nil, fmt.Errorf("%s: not a Go fuzz corpus file", path)
	}
	v = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "[]byte("), ")")
	s, err := strconv.Unquote(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(s), nil
}
