package consensus

import (
	"testing"

	"go.etcd.io/bbolt"
)

func TestSubmitExperimentIsAllOrNothing(t *testing.T) {
	db := mustOpenState(t)
	exp := func(id string, runs ...string) *SubmitExperiment {
		c := &SubmitExperiment{Experiment: Experiment{ID: id, Sweep: map[string][]any{"n": {1, 2}}, CreatedAt: t0},
			Pipeline: putChain("v1")}
		for _, r := range runs {
			c.Runs = append(c.Runs, newRun(r, chain, 0))
		}
		return c
	}
	res := ok(t, apply(t, db, exp("e1", "r1", "r2", "r3")))
	if res.RunID != "e1" || res.Version != 1 {
		t.Fatalf("result = %+v", res)
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		if r := getRun(t, db, id); r.Experiment != "e1" || r.Pipeline != "chain" || r.Version != 1 {
			t.Fatalf("run %s = experiment %q, %s v%d", id, r.Experiment, r.Pipeline, r.Version)
		}
	}
	e := readTx(t, db, func(tx *bbolt.Tx) (string, error) { return string(tx.Bucket(bucketExperiments).Get([]byte("e1"))), nil })
	if e == "" {
		t.Fatal("no experiment record")
	}
	// A run that exists, or one listed twice, refuses the whole experiment.
	wantRejected(t, apply(t, db, exp("e2", "r4", "r1")), CodeConflict)
	wantRejected(t, apply(t, db, exp("e3", "r5", "r5")), CodeConflict)
	wantRejected(t, apply(t, db, exp("e1", "r6")), CodeConflict)
	wantRejected(t, apply(t, db, exp("e4")), CodeInvalid)
	for _, id := range []string{"r4", "r5", "r6"} {
		if r := readTx(t, db, func(tx *bbolt.Tx) (bool, error) { return tx.Bucket(bucketRuns).Get([]byte(id)) != nil, nil }); r {
			t.Fatalf("run %s of a refused experiment was written", id)
		}
	}
}

func TestDeleteRun(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, putChain("v1")))
	ok(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}))
	wantRejected(t, apply(t, db, &DeleteRun{RunID: "r1", At: t0}), CodeConflict) // still pending
	ok(t, apply(t, db, &CancelRun{RunID: "r1", Reason: "x", At: t0}))
	ok(t, apply(t, db, &DeleteRun{RunID: "r1", At: t0}))
	wantRejected(t, apply(t, db, &DeleteRun{RunID: "r1", At: t0}), CodeNotFound)
	left := readTx(t, db, func(tx *bbolt.Tx) (int, error) {
		n := 0
		for _, b := range [][]byte{bucketRuns, bucketTasks, bucketTaskOrder, bucketActive, bucketPipelineRuns} {
			n += tx.Bucket(b).Stats().KeyN
		}
		return n, nil
	})
	if left != 0 {
		t.Fatalf("%d records of the deleted run are left", left)
	}
}

func TestSetTags(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, putChain("v1")))
	ok(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}))
	ok(t, apply(t, db, &SubmitRun{Run: newRun("r2", chain, 1)}))
	ok(t, apply(t, db, &SetTags{RunID: "r1", Set: map[string]string{"team": "growth", "try": "1"}}))
	ok(t, apply(t, db, &SetTags{RunID: "r2", Set: map[string]string{"team": "ml"}}))
	ok(t, apply(t, db, &SetTags{RunID: "r1", Remove: []string{"try"}}))
	wantRejected(t, apply(t, db, &SetTags{RunID: "nope", Set: map[string]string{"a": "b"}}), CodeNotFound)
	wantRejected(t, apply(t, db, &SetTags{RunID: "r1", Set: map[string]string{"": "b"}}), CodeInvalid)
	if r := getRun(t, db, "r1"); len(r.Tags) != 1 || r.Tags["team"] != "growth" {
		t.Fatalf("r1 tags = %v", r.Tags)
	}
	for tag, want := range map[string]int{"team=growth": 1, "team": 2, "team=x": 0, "": 2} {
		runs := readTx(t, db, func(tx *bbolt.Tx) (int, error) {
			rs, _, err := listRuns(tx, RunQuery{Tag: tag})
			return len(rs), err
		})
		if runs != want {
			t.Fatalf("tag %q: %d runs, want %d", tag, runs, want)
		}
	}
}
