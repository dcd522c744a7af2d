package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// syncOutputsParallel bounds the fsyncs SyncOutputs runs at once; the
// filesystem folds concurrent ones into shared journal commits.
const syncOutputsParallel = 32

// SyncOutputs makes the given committed outputs durable: it fsyncs their
// files and then their run directories (which hold the renames), in
// parallel. Unlike Sync it touches nothing else on the filesystem, so its
// cost follows the outputs, not whatever else is waiting to be written. In
// a store that syncs in every Commit it does nothing. An output that does
// not exist is an error.
func (s *Store) SyncOutputs(refs []OutputRef) error {
	if !s.deferSync || len(refs) == 0 {
		return nil
	}
	files := make([]string, 0, len(refs))
	dirs := map[string]bool{}
	for _, ref := range refs {
		if err := ref.Validate(); err != nil {
			return err
		}
		p := s.path(ref, arrowExt)
		files = append(files, p)
		dirs[filepath.Dir(p)] = true
	}
	if err := syncAll(files, syncFile); err != nil {
		return fmt.Errorf("sync outputs: %w", err)
	}
	dirList := make([]string, 0, len(dirs)+1)
	for d := range dirs {
		dirList = append(dirList, d)
	}
	// The store root holds the run directories' own entries.
	dirList = append(dirList, s.dir)
	if err := syncAll(dirList, syncDir); err != nil {
		return fmt.Errorf("sync outputs: %w", err)
	}
	return nil
}

// syncAll runs syncOne on every path, syncOutputsParallel at a time, and
// returns the errors joined.
func syncAll(paths []string, syncOne func(string) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, syncOutputsParallel)
	for _, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := syncOne(p); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
