package consensus

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

func mustOpenFSM(t *testing.T, dir string) *fsm {
	t.Helper()
	f, err := openFSM(filepath.Join(dir, "state.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

// entries encodes commands as consecutive command entries from index.
func entries(t *testing.T, index uint64, cmds ...Command) []*raft.Log {
	t.Helper()
	logs := make([]*raft.Log, len(cmds))
	for i, cmd := range cmds {
		b, err := Encode(cmd)
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = &raft.Log{Index: index + uint64(i), Term: 1, Type: raft.LogCommand, Data: b}
	}
	return logs
}

func (f *fsm) runIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	if err := f.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRuns).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestApplyBatchOneTransaction(t *testing.T) {
	f := mustOpenFSM(t, t.TempDir())
	changes, unsubscribe := f.subs.subscribe()
	defer unsubscribe()

	logs := entries(t, 3,
		putChain("v1"),
		&SubmitRun{Run: newRun("r1", chain, 1)},
		&SubmitRun{Run: newRun("r1", chain, 1)}, // duplicate: a rejection, not a failure
		&SubmitRun{Run: newRun("r2", chain, 1)},
	)
	conf := &raft.Log{Index: 7, Term: 1, Type: raft.LogConfiguration}
	out := f.ApplyBatch(append(logs, conf))
	if len(out) != 5 {
		t.Fatalf("%d responses", len(out))
	}
	if res := out[2].(*Result); res.Error == nil || res.Error.Code != CodeConflict {
		t.Fatalf("duplicate run: %+v", res)
	}
	if res := out[3].(*Result); res.RunID != "r2" {
		t.Fatalf("r2: %+v", res)
	}
	if out[4] != nil {
		t.Fatalf("configuration entry response = %v", out[4])
	}
	if c, n := f.commits.Load(), f.commands.Load(); c != 1 || n != 4 {
		t.Fatalf("%d commits for %d commands, want 1 for 4", c, n)
	}
	if f.applied.Load() != 7 {
		t.Fatalf("applied = %d, want 7", f.applied.Load())
	}
	select {
	case <-changes:
	default:
		t.Fatal("no notification after the batch")
	}

	// Replayed entries change nothing and cost no transaction.
	out = f.ApplyBatch(logs)
	for i, r := range out {
		if r != nil {
			t.Fatalf("replayed entry %d answered %v", i, r)
		}
	}
	if c := f.commits.Load(); c != 1 {
		t.Fatalf("replay committed: %d commits", c)
	}
	select {
	case <-changes:
		t.Fatal("notified for a replay")
	default:
	}

	// A batch that straddles the applied index applies only the new part.
	more := entries(t, 6, &SubmitRun{Run: newRun("r3", chain, 1)}, &SubmitRun{Run: newRun("r4", chain, 1)},
		&SubmitRun{Run: newRun("r5", chain, 1)})
	out = f.ApplyBatch(more)
	if out[0] != nil || out[1] != nil || out[2] == nil {
		t.Fatalf("straddling batch answered %v", out)
	}
	if got := f.runIDs(t); !slices.Equal(got, []string{"r1", "r2", "r5"}) {
		t.Fatalf("runs = %v", got)
	}
	if f.applied.Load() != 8 {
		t.Fatalf("applied = %d, want 8", f.applied.Load())
	}
}

func TestAppliedIndexSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	f, err := openFSM(filepath.Join(dir, "state.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyBatch(entries(t, 1, putChain("v1"), &SubmitRun{Run: newRun("r1", chain, 1)}))
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	g := mustOpenFSM(t, dir)
	if g.applied.Load() != 2 {
		t.Fatalf("applied after reopen = %d", g.applied.Load())
	}
	// raft replays the log from the start: nothing is applied twice.
	g.ApplyBatch(entries(t, 1, putChain("v1"), &SubmitRun{Run: newRun("r1", chain, 1)},
		&SubmitRun{Run: newRun("r2", chain, 1)}))
	if n := g.commands.Load(); n != 1 {
		t.Fatalf("%d commands applied after replay, want 1", n)
	}
}

func TestUndecodableEntryPanics(t *testing.T) {
	f := mustOpenFSM(t, t.TempDir())
	f.ApplyBatch(entries(t, 1, putChain("v1")))
	for name, data := range map[string][]byte{
		"unknown type": {0x7e, '{', '}'},
		"bad body":     append([]byte{byte(TypeSubmitRun)}, "{not json"...),
		"empty":        {},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
				if f.applied.Load() != 1 {
					t.Fatalf("applied moved to %d", f.applied.Load())
				}
			}()
			f.ApplyBatch(append(entries(t, 2, &SubmitRun{Run: newRun("r1", chain, 1)}),
				&raft.Log{Index: 3, Type: raft.LogCommand, Data: data}))
		})
	}
	// The batch that panicked left nothing behind.
	if got := f.runIDs(t); len(got) != 0 {
		t.Fatalf("runs after a panicked batch: %v", got)
	}
	// A flagged unknown entry is skipped, and the index moves past it.
	out := f.ApplyBatch([]*raft.Log{
		{Index: 2, Type: raft.LogCommand, Data: []byte{byte(IgnoreUnknownTypeFlag | 0x7e), '{', '}'}},
		entries(t, 3, &SubmitRun{Run: newRun("r1", chain, 1)})[0],
	})
	if out[0] != nil || out[1] == nil || f.applied.Load() != 3 {
		t.Fatalf("skip: responses %v, applied %d", out, f.applied.Load())
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func snapshotBytes(t *testing.T, f *fsm) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

func TestSnapshotRestore(t *testing.T) {
	src := mustOpenFSM(t, t.TempDir())
	src.ApplyBatch(entries(t, 1, putChain("v1"), &SubmitRun{Run: newRun("r1", chain, 1)}))

	// Snapshot sees the state when it was taken, while applies go on.
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	src.ApplyBatch(entries(t, 3, &SubmitRun{Run: newRun("r2", chain, 1)}))
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	snap.Release() // raft calls it once; twice must not hurt
	old := sink.Bytes()

	dst := mustOpenFSM(t, t.TempDir())
	changes, unsubscribe := dst.subs.subscribe()
	defer unsubscribe()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	if got := dst.runIDs(t); !slices.Equal(got, []string{"r1"}) || dst.applied.Load() != 2 {
		t.Fatalf("restored runs %v at %d", got, dst.applied.Load())
	}
	select {
	case <-changes:
	default:
		t.Fatal("no notification after restore")
	}
	// The restored state goes on applying where it left off.
	dst.ApplyBatch(entries(t, 3, &SubmitRun{Run: newRun("r2", chain, 1)}))
	if got := dst.runIDs(t); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Fatalf("runs after applying on the restored state: %v", got)
	}

	// An older snapshot leaves a state that is ahead untouched.
	if err := src.Restore(io.NopCloser(bytes.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	if got := src.runIDs(t); !slices.Equal(got, []string{"r1", "r2"}) || src.applied.Load() != 3 {
		t.Fatalf("state after an older snapshot: runs %v at %d", got, src.applied.Load())
	}

	// A newer snapshot replaces a state that is behind, index and all.
	newer := snapshotBytes(t, dst)
	behind := mustOpenFSM(t, t.TempDir())
	behind.ApplyBatch(entries(t, 1, &PutPipeline{Name: "other", Source: "x"}))
	if err := behind.Restore(io.NopCloser(bytes.NewReader(newer))); err != nil {
		t.Fatal(err)
	}
	runs := readViaFSM(t, behind)
	if len(runs) != 2 || behind.applied.Load() != 3 {
		t.Fatalf("restored over a state behind: %d runs at %d", len(runs), behind.applied.Load())
	}
	var names []string
	_ = behind.view(func(tx *bbolt.Tx) error {
		sums, err := listPipelines(tx)
		for _, s := range sums {
			names = append(names, s.Name)
		}
		return err
	})
	if !slices.Equal(names, []string{"chain"}) {
		t.Fatalf("pipelines after restore = %v: the old state must be gone", names)
	}

	// Garbage is refused and the state stays.
	if err := behind.Restore(io.NopCloser(bytes.NewReader([]byte("not a bolt file")))); err == nil {
		t.Fatal("restored garbage")
	}
	if len(readViaFSM(t, behind)) != 2 {
		t.Fatal("state lost after a failed restore")
	}
}

func readViaFSM(t *testing.T, f *fsm) []*dag.Run {
	t.Helper()
	var runs []*dag.Run
	if err := f.view(func(tx *bbolt.Tx) (err error) {
		runs, _, err = listRuns(tx, RunQuery{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return runs
}

func TestSubscribeCoalesces(t *testing.T) {
	var n notifier
	a, unsubA := n.subscribe()
	b, unsubB := n.subscribe()
	for range 5 {
		n.notify() // never blocks, however many pile up
	}
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("buffered %d and %d, want 1 each", len(a), len(b))
	}
	<-a
	unsubA()
	unsubA()
	n.notify()
	if len(a) != 0 {
		t.Fatal("notified after unsubscribing")
	}
	unsubB()
}

// The raft log is the durable record and must sync every commit; only the
// state file, rebuilt from the log after a machine crash, may skip it.
func TestOnlyTheStateFileSkipsFsync(t *testing.T) {
	if logBoltOptions().NoSync {
		t.Fatal("the raft log is opened without fsync")
	}
	if !stateBoltOptions().NoSync {
		t.Fatal("the state file fsyncs every batch")
	}
}
