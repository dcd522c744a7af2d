//go:build unix && !linux && !aix

package dataplane

import "golang.org/x/sys/unix"

// canDeferSync is set where fsSyncer can sync a whole filesystem.
const canDeferSync = true

// fsSyncer syncs with sync(2), which has no per-filesystem form here and
// flushes every filesystem of the machine. It is best-effort: POSIX lets
// sync(2) return before the writes are done, the BSDs and Darwin do so,
// and Darwin's sync does not flush the drive's cache as F_FULLFSYNC does.
// Deferred syncs on these systems suit development, not production.
type fsSyncer struct{}

func openFSSyncer(string) (*fsSyncer, error) { return &fsSyncer{}, nil }

func (*fsSyncer) sync() error { return unix.Sync() }
