package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// fsm is the raft state machine. Its state lives in a bbolt file, and it
// records the last raft index it applied in the same transaction as the
// changes, so the file survives restarts: when raft replays log entries
// the file already holds, they are skipped.
//
// raft calls ApplyBatch, Apply, Snapshot and Restore from one goroutine;
// reads come from any goroutine. mu guards the db handle, which Restore
// swaps: reads and applies hold it shared, the swap exclusive.
type fsm struct {
	path string
	log  *slog.Logger
	proc processor
	// live is the in-memory copy of the active runs; the processor
	// changes it, readers see its published views.
	live *liveRuns

	mu sync.RWMutex
	db *bbolt.DB

	// applied mirrors the applied index stored in db.
	applied atomic.Uint64
	// modelsGen changes whenever the model registry may have: a model
	// command applied, or a snapshot restored.
	modelsGen atomic.Uint64
	// commits and commands count write transactions and applied commands,
	// for tests that check batching and replay.
	commits  atomic.Uint64
	commands atomic.Uint64

	subs notifier
}

var _ raft.BatchingFSM = (*fsm)(nil)

// logBoltOptions opens the raft log. The timeout turns a second process on
// the same directory into an error instead of a hang. Every commit is
// synced: the log is the durable record. The freelist is not written on
// each commit but rebuilt when the file is opened.
func logBoltOptions() *bbolt.Options {
	return &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}
}

// stateBoltOptions opens state files: like the log, and the initial mmap
// keeps a growing file from waiting on a snapshot's open read
// transaction. Commits do not fsync: see durability.go for why that is
// safe.
func stateBoltOptions() *bbolt.Options {
	o := logBoltOptions()
	o.InitialMmapSize = 64 << 20
	o.NoSync = true
	return o
}

func openFSM(path string, log *slog.Logger) (*fsm, error) {
	if _, err := checkUncleanState(path, log); err != nil {
		return nil, err
	}
	db, err := openState(path)
	if err != nil {
		return nil, err
	}
	if err := writeMarker(path); err != nil {
		db.Close()
		return nil, err
	}
	live := &liveRuns{}
	f := &fsm{path: path, log: log, db: db, live: live, proc: processor{live: live}}
	f.applied.Store(readApplied(db))
	if err := f.reloadLive(); err != nil {
		db.Close()
		return nil, err
	}
	return f, nil
}

// reloadLive rebuilds the live runs from the state file and publishes
// them. It runs before raft starts and on raft's FSM goroutine.
func (f *fsm) reloadLive() error {
	f.live.reset()
	if err := f.view(f.live.ensure); err != nil {
		return err
	}
	f.live.publish()
	return nil
}

// openState opens (or creates) a state file and checks its layout.
func openState(path string) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, stateBoltOptions())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(initState); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

func readApplied(db *bbolt.DB) uint64 {
	var idx uint64
	_ = db.View(func(tx *bbolt.Tx) error { idx = appliedIndex(tx); return nil })
	return idx
}

// Apply applies one entry; raft uses ApplyBatch, recovery uses this.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in one bbolt transaction, so a
// batch costs one fsync. Entries at or below the stored applied index are
// already in the file and are skipped. An entry that cannot be decoded
// panics: applying it differently on different nodes would be worse.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		panic("consensus: apply after the state file was closed")
	}
	applied := f.applied.Load()
	last := applied
	var commands uint64
	models := false
	err := f.db.Update(func(tx *bbolt.Tx) error {
		for i, l := range logs {
			if l.Index <= applied {
				continue
			}
			last = l.Index
			if l.Type != raft.LogCommand {
				continue // configuration changes only move the index
			}
			cmd, err := Decode(l.Data)
			if err != nil {
				if skippable(l.Data, err) {
					f.log.Warn("skipping a command this version does not know", "index", l.Index, "type", l.Data[0])
					continue
				}
				panic(fmt.Sprintf("consensus: undecodable raft log entry %d: %v", l.Index, err))
			}
			switch cmd.(type) {
			case *RegisterModel, *SetAlias:
				models = true
			}
			res, err := f.proc.apply(tx, cmd)
			if err != nil {
				return fmt.Errorf("apply %s at index %d: %w", cmd.Type(), l.Index, err)
			}
			out[i] = res
			commands++
		}
		if last == applied {
			return errNothingToApply
		}
		return setAppliedIndex(tx, last)
	})
	switch {
	case errors.Is(err, errNothingToApply):
		return out
	case err != nil:
		// The state file can no longer follow the log; carrying on would
		// let this node diverge (the live runs may hold half a batch).
		panic(fmt.Sprintf("consensus: write state: %v", err))
	}
	f.applied.Store(last)
	if models {
		f.modelsGen.Add(1)
	}
	f.commits.Add(1)
	f.commands.Add(commands)
	f.live.publish()
	f.subs.notify()
	return out
}

// errNothingToApply rolls back a batch that held only replayed entries.
var errNothingToApply = errors.New("nothing to apply")

// view runs fn in a read transaction on the current state file.
func (f *fsm) view(fn func(tx *bbolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	return f.db.View(fn)
}

// close closes the state file; reads then return ErrClosed.
func (f *fsm) close() error {
	f.mu.Lock()
	db := f.db
	f.db = nil
	f.mu.Unlock()
	if db == nil {
		return nil
	}
	if err := db.Sync(); err != nil {
		db.Close()
		return fmt.Errorf("sync %s: %w", f.path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	return removeMarker(f.path)
}

// notifier wakes subscribers after state changes. Each subscriber has a
// channel of capacity 1: notifications coalesce and never block the FSM.
type notifier struct {
	mu   sync.Mutex
	next int
	subs map[int]chan struct{}
}

func (n *notifier) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[int]chan struct{}{}
	}
	id := n.next
	n.next++
	n.subs[id] = ch
	n.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.subs, id)
			n.mu.Unlock()
		})
	}
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
