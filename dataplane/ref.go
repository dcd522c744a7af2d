// Package dataplane keeps task outputs as Arrow IPC files on the node that
// produced them and converts them to the wire formats clients ask for
// (Arrow IPC stream, CSV, NDJSON).
package dataplane

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Errors returned by the data plane.
var (
	// ErrOutputNotFound means this node holds no committed output of that
	// name: the task has not finished, ran elsewhere, or its run was removed.
	ErrOutputNotFound = errors.New("output not found")
	// ErrBadRef means a run, task or output name cannot name a file safely.
	ErrBadRef = errors.New("bad output reference")
)

// maxPartLen bounds each part of a reference so that its file name fits
// every common file system.
const maxPartLen = 200

// OutputRef names one task output: run/task/output.
type OutputRef struct{ Run, Task, Output string }

// String renders the reference as "run/task/output", the form used in
// Flight tickets and URLs.
func (r OutputRef) String() string { return r.Run + "/" + r.Task + "/" + r.Output }

// Validate checks that every part can name a file without escaping the
// store's directory.
func (r OutputRef) Validate() error {
	for _, p := range [...]struct{ what, v string }{{"run", r.Run}, {"task", r.Task}, {"output", r.Output}} {
		if err := checkPart(p.what, p.v); err != nil {
			return err
		}
	}
	return nil
}

// ParseOutputRef reads "run/task/output" and validates each part.
func ParseOutputRef(s string) (OutputRef, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return OutputRef{}, fmt.Errorf("%w %q: want run/task/output", ErrBadRef, s)
	}
	r := OutputRef{Run: parts[0], Task: parts[1], Output: parts[2]}
	if err := r.Validate(); err != nil {
		return OutputRef{}, err
	}
	return r, nil
}

// checkPart refuses anything that is not a plain file name: empty, dot
// names, separators, control characters, overlong names.
func checkPart(what, v string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s %q %s", ErrBadRef, what, v, why) }
	switch {
	case v == "":
		return fmt.Errorf("%w: %s is empty", ErrBadRef, what)
	case len(v) > maxPartLen:
		return bad(fmt.Sprintf("is longer than %d bytes", maxPartLen))
	case strings.Contains(v, ".."):
		return bad(`contains ".."`)
	case v == ".":
		return bad(`is "."`)
	case strings.ContainsAny(v, `/\:`):
		return bad("contains a path separator")
	}
	for _, c := range v {
		if unicode.IsControl(c) || c == unicode.ReplacementChar {
			return bad("contains a control or invalid character")
		}
	}
	return nil
}
