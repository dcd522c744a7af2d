package consensus

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// mustOpenState opens a state file in t.TempDir() and checks its
// consistency when the test ends.
func mustOpenState(t *testing.T) *bbolt.DB {
	t.Helper()
	db, err := openState(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.View(func(tx *bbolt.Tx) error {
			for err := range tx.Check() {
				t.Errorf("state file inconsistent: %v", err)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// apply runs cmd through a fresh processor the way the FSM does: encoded,
// decoded, then applied in a write transaction. The processor loads the
// active runs from the file, so no state carries over between calls.
func apply(t *testing.T, db *bbolt.DB, cmd Command) *Result {
	t.Helper()
	return applyLive(t, db, processor{live: &liveRuns{}}, cmd)
}

// applyLive applies cmd with p, whose live runs persist across calls, the
// way the FSM's do.
func applyLive(t *testing.T, db *bbolt.DB, p processor, cmd Command) *Result {
	t.Helper()
	b, err := Encode(cmd)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var res *Result
	if err := db.Update(func(tx *bbolt.Tx) (err error) {
		res, err = p.apply(tx, dec)
		return err
	}); err != nil {
		t.Fatalf("apply %s: %v", cmd.Type(), err)
	}
	return res
}

// ok fails unless the whole command was accepted.
func ok(t *testing.T, res *Result) *Result {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("rejected: %s: %s", res.Error.Code, res.Error.Message)
	}
	for i, it := range res.Items {
		if it.Error != nil {
			t.Fatalf("item %d rejected: %s: %s", i, it.Error.Code, it.Error.Message)
		}
	}
	return res
}

// wantRejected fails unless the command was rejected with code.
func wantRejected(t *testing.T, res *Result, code string) {
	t.Helper()
	if res.Error == nil {
		t.Fatalf("accepted, want %s rejection", code)
	}
	if res.Error.Code != code {
		t.Fatalf("rejected with %s (%s), want %s", res.Error.Code, res.Error.Message, code)
	}
}

func wantItem(t *testing.T, it ItemResult, code string) {
	t.Helper()
	switch {
	case code == "" && it.Error != nil:
		t.Fatalf("item rejected: %s: %s", it.Error.Code, it.Error.Message)
	case code != "" && it.Error == nil:
		t.Fatalf("item accepted, want %s", code)
	case code != "" && it.Error.Code != code:
		t.Fatalf("item rejected with %s (%s), want %s", it.Error.Code, it.Error.Message, code)
	}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// chain is a pipeline a -> b: b needs a.
var chain = &dag.Pipeline{Name: "chain", Tasks: []dag.Task{
	{Name: "a", Op: "noop", Outputs: []string{"out"}},
	{Name: "b", Op: "noop", Outputs: []string{"out"}, Needs: []dag.Need{{Task: "a", Output: "out"}}},
}}

func putChain(src string) *PutPipeline {
	return &PutPipeline{Name: "chain", Format: "yaml", Source: src, At: t0}
}

func newRun(id string, p *dag.Pipeline, version int) *dag.Run {
	return dag.NewRun(id, p, version, map[string]any{"n": 1}, t0)
}

func readTx[T any](t *testing.T, db *bbolt.DB, fn func(tx *bbolt.Tx) (T, error)) T {
	t.Helper()
	var v T
	if err := db.View(func(tx *bbolt.Tx) (err error) {
		v, err = fn(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func getRun(t *testing.T, db *bbolt.DB, id string) *dag.Run {
	t.Helper()
	return readTx(t, db, func(tx *bbolt.Tx) (*dag.Run, error) { return readRun(tx, id) })
}

func activeIDs(t *testing.T, db *bbolt.DB) []string {
	t.Helper()
	runs := readTx(t, db, activeRuns)
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

// activeRuns reads the active runs straight from the state file, apart
// from the live copies, to check them against.
func activeRuns(tx *bbolt.Tx) ([]*dag.Run, error) {
	var runs []*dag.Run
	err := tx.Bucket(bucketActive).ForEach(func(k, _ []byte) error {
		run, err := loadRun(tx, string(k))
		if err != nil {
			return fmt.Errorf("read active runs: %w", err)
		}
		if run == nil {
			return fmt.Errorf("read active runs: run %s is indexed but missing", k)
		}
		runs = append(runs, run)
		return nil
	})
	return runs, err
}
