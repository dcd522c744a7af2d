package dataplane

import (
	"fmt"
	"sync"
)

// Sync makes every output committed before the call durable, with one sync
// of the filesystem that holds the store (on Linux, syncfs(2) on the
// store's directory). The sync covers everything written to that
// filesystem, so other files there, such as task logs, become durable too.
//
// Concurrent calls share syncs: a call waits for the first sync that starts
// after it was made, starting one itself when none is running, so callers
// that arrive while a sync runs are all served by the next one.
//
// Once a sync has failed, Sync returns that error from then on. A failed
// writeback may have lost any output committed since the last successful
// sync, and the store cannot tell which, so it can no longer promise that
// anything is durable; reopen it once the disk is fixed.
//
// In a store that syncs in every Commit (the default, or a platform where
// StoreOptions.DeferSync is ignored) everything committed is durable
// already, and Sync does nothing and returns nil.
func (s *Store) Sync() error {
	if !s.deferSync {
		return nil
	}
	return s.group.do(func() error {
		if err := s.fs.sync(); err != nil {
			return fmt.Errorf("sync output store %s: %w", s.dir, err)
		}
		return nil
	})
}

// syncGroup runs a sync function for many callers, one call at a time, so
// that each caller is covered by a call that started after it arrived.
type syncGroup struct {
	mu       sync.Mutex
	cond     sync.Cond
	running  bool
	started  uint64 // calls of the function begun
	finished uint64 // calls of the function ended
	err      error  // the first failure; it sticks
}

func (g *syncGroup) init() { g.cond.L = &g.mu }

// do returns once a call of sync that started after do was called has
// ended, or the first error of any call.
func (g *syncGroup) do(sync func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	// The call that runs now may have started before the caller's writes
	// ended; only the next one is sure to cover them.
	want := g.started + 1
	for g.err == nil && g.finished < want {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := sync()
		g.mu.Lock()
		g.running = false
		g.finished = gen
		if err != nil && g.err == nil {
			g.err = err
		}
		g.cond.Broadcast()
	}
	return g.err
}
