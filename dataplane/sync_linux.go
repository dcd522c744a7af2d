package dataplane

import (
	"os"

	"golang.org/x/sys/unix"
)

// canDeferSync is set where fsSyncer can sync a whole filesystem.
const canDeferSync = true

// fsSyncer syncs the filesystem holding a directory with syncfs(2).
//
// It keeps the directory open for the store's life: syncfs reports a
// writeback error only to descriptors opened before the error happened
// (Linux 5.8 and later; older kernels report none), so a descriptor opened
// for each sync would miss errors of writes done before it.
type fsSyncer struct {
	dir *os.File
}

func openFSSyncer(dir string) (*fsSyncer, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	return &fsSyncer{dir: d}, nil
}

func (s *fsSyncer) sync() error {
	rc, err := s.dir.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	return serr
}
