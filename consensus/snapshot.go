package consensus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// Snapshot captures the state cheaply: it only begins a read transaction,
// which sees the state as of now while later batches keep applying. The
// copy happens in Persist, off raft's FSM goroutine.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return &fsmSnapshot{tx: tx}, nil
}

// fsmSnapshot is a read transaction waiting to be written out.
type fsmSnapshot struct {
	tx   *bbolt.Tx
	once sync.Once
}

// Persist writes the whole state file as the snapshot. It ends the read
// transaction itself: raft.RecoverCluster persists a snapshot without ever
// calling Release, and an open transaction would block closing the state.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	defer s.Release()
	if _, err := s.tx.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close snapshot: %w", err)
	}
	return nil
}

// Release ends the read transaction; raft always calls it.
func (s *fsmSnapshot) Release() {
	s.once.Do(func() { _ = s.tx.Rollback() })
}

// Restore replaces the state with a snapshot: it writes the snapshot to a
// fresh file and swaps it in only when it is ahead of the current state.
// On start raft restores its latest snapshot, which the state file, kept
// in step with every batch, has usually passed already: then the current
// file stays, and the log entries replayed after the snapshot are skipped
// up to its applied index.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	defer f.modelsGen.Add(1)
	tmp := f.path + ".restore"
	if err := writeFile(tmp, rc); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	db, err := openState(tmp)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	idx := readApplied(db)
	if err := db.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore snapshot: close %s: %w", tmp, err)
	}
	if cur := f.applied.Load(); idx <= cur {
		f.log.Info("state is ahead of the snapshot; keeping it", "state_index", cur, "snapshot_index", idx)
		return os.Remove(tmp)
	}
	if err := f.swap(tmp, idx); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := f.reloadLive(); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.log.Info("restored state from snapshot", "index", idx)
	f.subs.notify()
	return nil
}

// swap renames the restored file over the state file and reopens it. The
// old handle keeps reading the old inode until it is closed, after every
// transaction on it (such as a snapshot being persisted) has ended.
func (f *fsm) swap(tmp string, idx uint64) error {
	f.mu.Lock()
	old := f.db
	if err := os.Rename(tmp, f.path); err != nil {
		f.mu.Unlock()
		_ = os.Remove(tmp)
		return fmt.Errorf("swap in restored state: %w", err)
	}
	syncDir(filepath.Dir(f.path))
	db, err := openState(f.path)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	f.db = db
	f.applied.Store(idx)
	f.mu.Unlock()
	if old != nil {
		if err := old.Close(); err != nil {
			f.log.Warn("close replaced state file", "err", err)
		}
	}
	return nil
}

// writeFile copies r into a new file at path and syncs it.
func writeFile(path string, r io.Reader) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	file, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(file, r); err != nil {
		file.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return file.Close()
}

// syncDir makes a rename in dir durable; where directories cannot be
// synced, the rename is still atomic.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
