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
