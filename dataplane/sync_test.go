package dataplane

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func openSyncStore(t *testing.T, deferSync bool) (*Store, *memory.CheckedAllocator) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	s, err := OpenStoreWith(t.TempDir(), StoreOptions{Mem: mem, DeferSync: deferSync})
	if err != nil {
		t.Fatal(err)
	}
	s.sidecarMin = 0 // every output gets a sidecar, to test them
	return s, mem
}

// storeTemps lists the temporary files anywhere under the store.
func storeTemps(t *testing.T, s *Store) []string {
	t.Helper()
	var temps []string
	err := filepath.WalkDir(s.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(d.Name(), tempExt) {
			temps = append(temps, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return temps
}

// checkOutput opens ref and checks it holds ids [0, rows) and a sidecar
// that describes the file.
func checkOutput(t *testing.T, s *Store, ref OutputRef, rows int) {
	t.Helper()
	f, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rr, err := f.Reader()
	if err != nil {
		t.Fatal(err)
	}
	ids := readIDs(t, rr)
	rr.Release()
	if len(ids) != rows || (rows > 0 && ids[rows-1] != int64(rows-1)) {
		t.Fatalf("%s holds ids %v, want 0..%d", ref, ids, rows-1)
	}
	st, err := os.Stat(s.path(ref, arrowExt))
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := s.readSidecar(ref, st)
	if !ok || sc.Meta.Rows != int64(rows) || sc.Meta.Name != ref.Output {
		t.Fatalf("sidecar of %s = %+v, %v", ref, sc, ok)
	}
}

// TestSyncModes runs the same commits, replacements and aborts in both
// modes: deferring syncs changes when outputs become durable, not what
// readers see.
func TestSyncModes(t *testing.T) {
	for _, deferSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("defer=%v", deferSync), func(t *testing.T) {
			s, mem := openSyncStore(t, deferSync)
			defer mem.AssertSize(t, 0)
			if got := s.DeferSync(); got != (deferSync && canDeferSync) {
				t.Fatalf("DeferSync() = %v", got)
			}
			if err := s.Sync(); err != nil {
				t.Fatalf("sync of an empty store: %v", err)
			}

			a := OutputRef{Run: "r", Task: "a", Output: "out"}
			b := OutputRef{Run: "r", Task: "b", Output: "out"}
			writeOutput(t, s, a, 3, 4)
			writeOutput(t, s, b, 5)
			checkOutput(t, s, a, 7)
			checkOutput(t, s, b, 5)
			if temps := storeTemps(t, s); len(temps) != 0 {
				t.Fatalf("temporary files left after commit: %v", temps)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}

			// Replacing (which syncs even when deferring) and then
			// committing more after a Sync.
			writeOutput(t, s, a, 2)
			checkOutput(t, s, a, 2)
			c := OutputRef{Run: "r2", Task: "c", Output: "out"}
			writeOutput(t, s, c, 1)
			checkOutput(t, s, c, 1)
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(); err != nil {
				t.Fatalf("sync with nothing new: %v", err)
			}

			// An aborted writer leaves nothing behind.
			d := OutputRef{Run: "r", Task: "d", Output: "out"}
			w, err := s.Create(d, testSchema)
			if err != nil {
				t.Fatal(err)
			}
			rec := makeBatch(mem, 0, 10)
			err = w.Write(rec)
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if left := filesOf(t, s, d); len(left) != 0 {
				t.Fatalf("an aborted output left %v", left)
			}
			if _, err := s.Open(d); !errors.Is(err, ErrOutputNotFound) {
				t.Fatalf("open aborted output: %v", err)
			}
			if temps := storeTemps(t, s); len(temps) != 0 {
				t.Fatalf("temporary files left: %v", temps)
			}

			// Reopening finds everything, as after a restart.
			again, err := OpenStoreWith(s.Dir(), StoreOptions{Mem: mem, DeferSync: deferSync})
			if err != nil {
				t.Fatal(err)
			}
			checkOutput(t, again, a, 2)
			checkOutput(t, again, b, 5)
			checkOutput(t, again, c, 1)
		})
	}
}

// TestSyncConcurrentCommits commits and syncs from many goroutines at
// once (meant for -race).
func TestSyncConcurrentCommits(t *testing.T) {
	s, mem := openSyncStore(t, true)
	defer mem.AssertSize(t, 0)
	const workers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				ref := OutputRef{Run: "r", Task: fmt.Sprintf("t%d-%d", i, j), Output: "out"}
				w, err := s.Create(ref, testSchema)
				if err != nil {
					errs <- err
					return
				}
				rec := makeBatch(mem, 0, j+1)
				err = w.Write(rec)
				rec.Release()
				if err == nil {
					_, err = w.Commit()
				}
				if err == nil {
					err = s.Sync()
				}
				if err != nil {
					w.Abort()
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range workers {
		for j := range each {
			checkOutput(t, s, OutputRef{Run: "r", Task: fmt.Sprintf("t%d-%d", i, j), Output: "out"}, j+1)
		}
	}
}

// TestSyncGroupShares checks that callers arriving while a sync runs wait
// for one more sync, which they all share.
func TestSyncGroupShares(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g syncGroup
		g.init()
		var calls atomic.Int32
		release := make(chan struct{})
		syncFn := func() error {
			if calls.Add(1) == 1 {
				<-release
			}
			return nil
		}
		var wg sync.WaitGroup
		var returned atomic.Int32
		call := func() {
			defer wg.Done()
			if err := g.do(syncFn); err != nil {
				t.Error(err)
			}
			returned.Add(1)
		}
		wg.Add(1)
		go call()
		synctest.Wait() // the first sync is running and blocked
		for range 5 {
			wg.Add(1)
			go call()
		}
		synctest.Wait() // the five wait for the running sync to end
		if n := returned.Load(); n != 0 {
			t.Fatalf("%d callers returned while the first sync ran", n)
		}
		close(release)
		wg.Wait()
		if n := calls.Load(); n != 2 {
			t.Fatalf("%d syncs for 6 callers, want 2 (one running, one shared)", n)
		}
	})
}

// TestSyncGroupErrorSticks checks that after a failed sync every call
// fails without syncing again.
func TestSyncGroupErrorSticks(t *testing.T) {
	var g syncGroup
	g.init()
	calls := 0
	ok := func() error { calls++; return nil }
	boom := errors.New("writeback failed")
	if err := g.do(ok); err != nil || calls != 1 {
		t.Fatalf("do = %v after %d calls", err, calls)
	}
	if err := g.do(func() error { calls++; return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing sync: %v", err)
	}
	for range 2 {
		if err := g.do(ok); !errors.Is(err, boom) {
			t.Fatalf("sync after a failure: %v", err)
		}
	}
	if calls != 2 {
		t.Fatalf("%d syncs ran, want 2", calls)
	}
}

func TestSyncOutputs(t *testing.T) {
	for _, deferSync := range []bool{false, true} {
		s, mem := openSyncStore(t, deferSync)
		a := OutputRef{Run: "r1", Task: "a", Output: "out"}
		b := OutputRef{Run: "r2", Task: "b", Output: "out"}
		writeOutput(t, s, a, 2)
		writeOutput(t, s, b, 3)
		if err := s.SyncOutputs([]OutputRef{a, b}); err != nil {
			t.Fatalf("defer=%v: %v", deferSync, err)
		}
		checkOutput(t, s, a, 2)
		checkOutput(t, s, b, 3)
		missing := OutputRef{Run: "r1", Task: "nope", Output: "out"}
		err := s.SyncOutputs([]OutputRef{a, missing})
		if s.DeferSync() && err == nil {
			t.Fatal("syncing an output that does not exist succeeded")
		}
		if !s.DeferSync() && err != nil {
			t.Fatalf("a store that syncs every commit has nothing to sync: %v", err)
		}
		if err := s.SyncOutputs([]OutputRef{{Run: "r1", Task: "../x", Output: "out"}}); s.DeferSync() && err == nil {
			t.Fatal("a bad ref was synced")
		}
		mem.AssertSize(t, 0)
	}
}
