package consensus

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

func nodes(names ...string) []NodeCapacity {
	out := make([]NodeCapacity, len(names))
	for i, n := range names {
		out[i] = NodeCapacity{Name: n, Slots: 2}
	}
	return out
}

func TestPlanRespectsSlotsConstraintsLocalityAndBackoff(t *testing.T) {
	runs := []*ActiveRun{
		{ID: "r1", Attempts: []LiveAttempt{{Task: "x", Attempt: 1, Node: "n1", Status: dag.TaskRunning}},
			Ready: []ReadyTask{
				{Name: "a"},
				{Name: "b", Inputs: []string{"n2", "n2", "n1"}},
				{Name: "pinned", Constraints: dag.Constraints{Node: "n3"}},
				{Name: "later", NotBefore: t0.Add(time.Minute)},
				{Name: "labelled", Constraints: dag.Constraints{Labels: map[string]string{"gpu": "yes"}}},
			}},
		{ID: "r2", Ready: []ReadyTask{{Name: "c"}, {Name: "d"}, {Name: "e"}}},
	}
	ns := nodes("n1", "n2")
	ns[1].Labels = map[string]string{"gpu": "yes"}
	got := Plan(runs, ns, t0)
	want := []Assignment{
		// n1 has one slot left (x runs there), n2 two: a goes to n2.
		{Run: "r1", Task: "a", Node: "n2"},
		// b's inputs are mostly on n2, which still has a slot.
		{Run: "r1", Task: "b", Node: "n2"},
		// pinned to n3, which is not live; later is backing off; labelled
		// needs n2, which is full. c takes n1's last slot; d and e wait.
		{Run: "r2", Task: "c", Node: "n1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan = %+v\nwant %+v", got, want)
	}
	// Once the backoff is over, and with more room, the rest fit.
	ns[0].Slots, ns[1].Slots = 10, 10
	got = Plan(runs, ns, t0.Add(time.Hour))
	if len(got) != 7 {
		t.Fatalf("plan with room = %+v, want all but the pinned task", got)
	}
	for _, a := range got {
		if a.Task == "pinned" || (a.Task == "labelled" && a.Node != "n2") {
			t.Fatalf("plan broke a constraint: %+v", a)
		}
	}
	if len(Plan(runs, nil, t0)) != 0 || len(Plan(runs, []NodeCapacity{{Name: "n1", Slots: 0}}, t0)) != 0 {
		t.Fatal("plan without free slots assigned something")
	}
}

func TestReportPlacesTheNextTaskInTheSameCommand(t *testing.T) {
	db := mustOpenState(t)
	p := processor{live: &liveRuns{}}
	ok(t, applyLive(t, db, p, putChain("v1")))
	ok(t, applyLive(t, db, p, &SubmitRun{Run: newRun("r1", chain, 1)}))
	place := &Placement{Nodes: nodes("n1", "n2")}

	res := ok(t, applyLive(t, db, p, &AssignTasks{At: t0, Place: place}))
	if len(res.Placed) != 1 || res.Placed[0].Task != "a" {
		t.Fatalf("placed = %+v, want only a (b needs it)", res.Placed)
	}
	aNode := res.Placed[0].Node
	started := t0.Add(time.Second)
	res = ok(t, applyLive(t, db, p, &ReportTasks{At: t0.Add(2 * time.Second), Place: place, Reports: []TaskReport{{
		Run: "r1", Task: "a", Attempt: 1, Node: aNode, Kind: ReportFinished,
		Result: &dag.TaskResult{Outputs: []dag.OutputMeta{{Name: "out"}}, StartedAt: &started},
	}}}))
	wantItem(t, res.Items[0], "")
	if len(res.Placed) != 1 || res.Placed[0] != (Assignment{Run: "r1", Task: "b", Node: aNode}) {
		t.Fatalf("placed = %+v, want b on %s, where its input is", res.Placed, aNode)
	}
	run := getRun(t, db, "r1")
	if a, b := run.Task("a"), run.Task("b"); a.Status != dag.TaskSucceeded || !a.StartedAt.Equal(started) ||
		b.Status != dag.TaskQueued || b.Node != aNode || b.Attempt != 1 {
		t.Fatalf("after the report: a %s started %v, b %s on %q attempt %d", a.Status, a.StartedAt, b.Status, b.Node, b.Attempt)
	}
	// A placement has nothing left to do.
	if res := ok(t, applyLive(t, db, p, &AssignTasks{At: t0, Place: place})); len(res.Placed) != 0 {
		t.Fatalf("placed again: %+v", res.Placed)
	}
	checkLiveMatchesState(t, db, p.live)
}

// checkLiveMatchesState compares the in-memory runs with the state file,
// and their views with views built from the file.
func checkLiveMatchesState(t *testing.T, db *bbolt.DB, live *liveRuns) {
	t.Helper()
	stored := readTx(t, db, activeRuns)
	if len(stored) != len(live.runs) {
		t.Fatalf("%d live runs, %d active in the state file", len(live.runs), len(stored))
	}
	views := live.views()
	for i, r := range stored {
		mem, _ := json.Marshal(live.get(r.ID))
		disk, _ := json.Marshal(r)
		if string(mem) != string(disk) {
			t.Fatalf("run %s in memory:\n%s\nin the state file:\n%s", r.ID, mem, disk)
		}
		if !reflect.DeepEqual(views[i], buildView(r)) {
			t.Fatalf("view of %s = %+v, want %+v", r.ID, views[i], buildView(r))
		}
	}
}

func TestLiveRunsFollowEveryCommand(t *testing.T) {
	db := mustOpenState(t)
	p := processor{live: &liveRuns{}}
	ok(t, applyLive(t, db, p, putChain("v1")))
	for _, id := range []string{"r1", "r2", "r3"} {
		ok(t, applyLive(t, db, p, &SubmitRun{Run: newRun(id, chain, 1)}))
	}
	place := &Placement{Nodes: nodes("n1")}
	ok(t, applyLive(t, db, p, &AssignTasks{At: t0, Place: place}))
	checkLiveMatchesState(t, db, p.live)
	// r1's a fails with a retry left? chain has no retries: it fails, b
	// is skipped and r1 leaves the live set.
	r1a := getRun(t, db, "r1").Task("a")
	ok(t, applyLive(t, db, p, &ReportTasks{At: t0, Reports: []TaskReport{{
		Run: "r1", Task: "a", Attempt: r1a.Attempt, Node: r1a.Node, Kind: ReportFinished,
		Result: &dag.TaskResult{Error: "boom"},
	}}}))
	ok(t, applyLive(t, db, p, &CancelRun{RunID: "r3", At: t0}))
	ok(t, applyLive(t, db, p, &FailRun{RunID: "r2", Reason: "spec gone", At: t0}))
	checkLiveMatchesState(t, db, p.live)
	if p.live.get("r1") != nil {
		t.Fatal("a failed run stays live")
	}
	if r := getRun(t, db, "r1"); r.Status != dag.RunFailed || r.Task("b").Status != dag.TaskSkipped {
		t.Fatalf("r1 %s, b %s", r.Status, r.Task("b").Status)
	}
	// A fresh processor loads the same live set from the file.
	fresh := &liveRuns{}
	if err := db.View(fresh.ensure); err != nil {
		t.Fatal(err)
	}
	checkLiveMatchesState(t, db, fresh)
}

func TestSchemaOneStateIsMigrated(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, putChain("v1")))
	run := newRun("r1", chain, 1)
	if _, err := run.Assign("a", "n1", t0); err != nil {
		t.Fatal(err)
	}
	// Write the run the way schema 1 did: whole, in one record, and mark
	// the file as schema 1.
	if err := db.Update(func(tx *bbolt.Tx) error {
		if err := putJSON(tx.Bucket(bucketRuns), []byte("r1"), run); err != nil {
			return err
		}
		if err := tx.Bucket(bucketActive).Put([]byte("r1"), nil); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(1))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(initState); err != nil {
		t.Fatal(err)
	}
	got := getRun(t, db, "r1")
	if len(got.Tasks) != 2 || got.Tasks[0].Name != "a" || got.Tasks[0].Status != dag.TaskQueued || got.Tasks[1].Name != "b" {
		t.Fatalf("migrated run = %+v", got)
	}
	if v := readTx(t, db, func(tx *bbolt.Tx) (uint64, error) { return appliedSchema(tx), nil }); v != schemaVersion {
		t.Fatalf("schema after migration = %d", v)
	}
	// The migrated run goes on as usual.
	ok(t, apply(t, db, &ReportTasks{At: t0, Reports: []TaskReport{{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportStarted}}}))
}

func appliedSchema(tx *bbolt.Tx) uint64 {
	v := tx.Bucket(bucketMeta).Get(keySchema)
	if len(v) != 8 {
		return 0
	}
	return uint64(v[7]) | uint64(v[6])<<8
}
