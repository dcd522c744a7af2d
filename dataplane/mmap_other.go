//go:build !unix

package dataplane

import "errors"

// mapFile is not available here; callers read the file instead.
func mapFile(string) ([]byte, func() error, error) {
	return nil, nil, errors.New("memory-mapped files are not supported on this system")
}
