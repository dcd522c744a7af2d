package consensus

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

func TestPutPipelineVersions(t *testing.T) {
	db := mustOpenState(t)
	if v := ok(t, apply(t, db, putChain("v1"))).Version; v != 1 {
		t.Fatalf("first version = %d", v)
	}
	if v := ok(t, apply(t, db, putChain("v1"))).Version; v != 1 {
		t.Fatalf("same source stored as version %d, want 1", v)
	}
	later := putChain("v2")
	later.Description = "second"
	later.At = t0.Add(1)
	if v := ok(t, apply(t, db, later)).Version; v != 2 {
		t.Fatalf("changed source stored as version %d, want 2", v)
	}
	// Only the latest digest counts: going back to v1 is a new version.
	if v := ok(t, apply(t, db, putChain("v1"))).Version; v != 3 {
		t.Fatalf("old source again stored as version %d, want 3", v)
	}
	ok(t, apply(t, db, &PutPipeline{Name: "alpha", Format: "json", Source: "{}", At: t0}))

	pv := readTx(t, db, func(tx *bbolt.Tx) (*PipelineVersion, error) { return readPipeline(tx, "chain", 2) })
	sum := sha256.Sum256([]byte("v2"))
	if pv.Source != "v2" || pv.Description != "second" || pv.Format != "yaml" ||
		pv.Digest != hex.EncodeToString(sum[:]) || !pv.CreatedAt.Equal(t0.Add(1)) {
		t.Fatalf("version 2 = %+v", pv)
	}
	latest := readTx(t, db, func(tx *bbolt.Tx) (*PipelineVersion, error) { return readPipeline(tx, "chain", 0) })
	if latest.Version != 3 {
		t.Fatalf("latest = %d, want 3", latest.Version)
	}
	versions := readTx(t, db, func(tx *bbolt.Tx) ([]PipelineVersion, error) { return listVersions(tx, "chain") })
	if len(versions) != 3 || versions[0].Version != 1 || versions[2].Version != 3 {
		t.Fatalf("versions = %+v", versions)
	}
	sums := readTx(t, db, listPipelines)
	if len(sums) != 2 || sums[0].Name != "alpha" || sums[1].Name != "chain" || sums[1].LatestVersion != 3 {
		t.Fatalf("summaries = %+v", sums)
	}

	for _, name := range []string{"", "a\x00b"} {
		wantRejected(t, apply(t, db, &PutPipeline{Name: name, Source: "x"}), CodeInvalid)
	}
	wantRejected(t, apply(t, db, &PutPipeline{Name: "x", Format: "toml", Source: "x"}), CodeInvalid)
	wantRejected(t, apply(t, db, &PutPipeline{Name: "x", Format: "yaml"}), CodeInvalid)

	for _, read := range []func(tx *bbolt.Tx) error{
		func(tx *bbolt.Tx) error { _, err := readPipeline(tx, "nope", 0); return err },
		func(tx *bbolt.Tx) error { _, err := readPipeline(tx, "chain", 9); return err },
		func(tx *bbolt.Tx) error { _, err := listVersions(tx, "nope"); return err },
		func(tx *bbolt.Tx) error { _, err := readRun(tx, "nope"); return err },
	} {
		if err := db.View(read); !errors.Is(err, ErrNotFound) {
			t.Errorf("read missing: %v, want ErrNotFound", err)
		}
	}
}

func TestSubmitRun(t *testing.T) {
	db := mustOpenState(t)
	wantRejected(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}), CodeNotFound)
	ok(t, apply(t, db, putChain("v1")))
	wantRejected(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 2)}), CodeNotFound)

	res := ok(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}))
	if res.RunID != "r1" || res.Version != 1 {
		t.Fatalf("result = %+v", res)
	}
	wantRejected(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}), CodeConflict)
	// A duplicate ID is refused even when it carries a spec, which is then
	// not stored.
	wantRejected(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 0), Pipeline: putChain("v9")}), CodeConflict)

	// Version 0 without a spec means the latest.
	if v := ok(t, apply(t, db, &SubmitRun{Run: newRun("r2", chain, 0)})).Version; v != 1 {
		t.Fatalf("version 0 resolved to %d", v)
	}
	// With a spec: an unchanged one keeps its version, a new one makes one.
	if v := ok(t, apply(t, db, &SubmitRun{Run: newRun("r3", chain, 0), Pipeline: putChain("v1")})).Version; v != 1 {
		t.Fatalf("unchanged spec gave version %d", v)
	}
	if v := ok(t, apply(t, db, &SubmitRun{Run: newRun("r4", chain, 0), Pipeline: putChain("v2")})).Version; v != 2 {
		t.Fatalf("new spec gave version %d", v)
	}
	if r := getRun(t, db, "r4"); r.Version != 2 || r.Pipeline != "chain" || r.Params["n"] != float64(1) {
		t.Fatalf("stored run = %+v", r)
	}
	other := putChain("v3")
	other.Name = "other"
	wantRejected(t, apply(t, db, &SubmitRun{Run: newRun("r5", chain, 0), Pipeline: other}), CodeInvalid)

	wantRejected(t, apply(t, db, &SubmitRun{}), CodeInvalid)
	wantRejected(t, apply(t, db, &SubmitRun{Run: newRun("", chain, 1)}), CodeInvalid)
	empty := newRun("r6", chain, 1)
	empty.Tasks = nil
	wantRejected(t, apply(t, db, &SubmitRun{Run: empty}), CodeInvalid)
	done := newRun("r7", chain, 1)
	done.Status = dag.RunSucceeded
	wantRejected(t, apply(t, db, &SubmitRun{Run: done}), CodeInvalid)

	sums := readTx(t, db, listPipelines)
	if len(sums) != 1 || sums[0].Runs != 4 || sums[0].LatestVersion != 2 {
		t.Fatalf("summary = %+v", sums)
	}
	if got := activeIDs(t, db); !slices.Equal(got, []string{"r1", "r2", "r3", "r4"}) {
		t.Fatalf("active = %v", got)
	}
}

func TestAssignAndReport(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, putChain("v1")))
	ok(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}))

	// Items are independent: the bad ones do not stop the good one.
	res := apply(t, db, &AssignTasks{At: t0, Assignments: []Assignment{
		{Run: "r1", Task: "b", Node: "n1"},   // upstream not done
		{Run: "r1", Task: "a", Node: "n1"},   // fine
		{Run: "r1", Task: "zz", Node: "n1"},  // no such task
		{Run: "nope", Task: "a", Node: "n1"}, // no such run
		{Run: "r1", Task: "a", Node: ""},     // no node
		{Run: "r1", Task: "a", Node: "n2"},   // already queued
		{Run: "", Task: "a", Node: "n2"},     // no run id
	}})
	if res.Error != nil || len(res.Items) != 7 {
		t.Fatalf("result = %+v", res)
	}
	for i, code := range []string{CodeConflict, "", CodeNotFound, CodeNotFound, CodeInvalid, CodeConflict, CodeInvalid} {
		wantItem(t, res.Items[i], code)
	}
	if res.Items[1].Attempt != 1 {
		t.Fatalf("attempt = %d", res.Items[1].Attempt)
	}
	if a := getRun(t, db, "r1").Task("a"); a.Status != dag.TaskQueued || a.Node != "n1" {
		t.Fatalf("task a = %+v", a)
	}

	report := func(reps ...TaskReport) *Result {
		return apply(t, db, &ReportTasks{At: t0.Add(1), Reports: reps})
	}
	res = report(
		TaskReport{Run: "r1", Task: "a", Attempt: 1, Node: "n2", Kind: ReportStarted}, // wrong node
		TaskReport{Run: "r1", Task: "a", Attempt: 2, Node: "n1", Kind: ReportStarted}, // wrong attempt
		TaskReport{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: "exploded"},
		TaskReport{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportFinished}, // no result
		TaskReport{Run: "r1", Task: "a", Attempt: 0, Node: "n1", Kind: ReportStarted},
		TaskReport{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportStarted}, // fine
		TaskReport{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportStarted}, // twice
	)
	for i, code := range []string{CodeStale, CodeStale, CodeInvalid, CodeInvalid, CodeInvalid, "", CodeConflict} {
		wantItem(t, res.Items[i], code)
	}
	r := getRun(t, db, "r1")
	if r.Status != dag.RunRunning || r.Task("a").Status != dag.TaskRunning {
		t.Fatalf("after start: run %s, a %s", r.Status, r.Task("a").Status)
	}

	// Lost: back to retrying without spending a retry; then a new attempt
	// on another node, and the old node's reports are stale.
	ok(t, report(TaskReport{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportLost, Reason: "node died"}))
	if a := getRun(t, db, "r1").Task("a"); a.Status != dag.TaskRetrying || a.Error != "node died" {
		t.Fatalf("lost task = %+v", a)
	}
	res = ok(t, apply(t, db, &AssignTasks{At: t0.Add(2), Assignments: []Assignment{{Run: "r1", Task: "a", Node: "n2"}}}))
	if res.Items[0].Attempt != 2 {
		t.Fatalf("reassigned attempt = %d", res.Items[0].Attempt)
	}
	res = report(
		TaskReport{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportFinished, Result: &dag.TaskResult{}},
		TaskReport{Run: "r1", Task: "a", Attempt: 1, Node: "n2", Kind: ReportFinished, Result: &dag.TaskResult{}},
		TaskReport{Run: "r1", Task: "a", Attempt: 2, Node: "n2", Kind: ReportFinished, Result: &dag.TaskResult{
			Outputs: []dag.OutputMeta{{Name: "out", Rows: 3}},
			Metrics: map[string]any{"acc": 0.9},
		}},
		TaskReport{Run: "r1", Task: "a", Attempt: 2, Node: "n2", Kind: ReportFinished, Result: &dag.TaskResult{}},
	)
	for i, code := range []string{CodeStale, CodeStale, "", CodeConflict} {
		wantItem(t, res.Items[i], code)
	}
	a := getRun(t, db, "r1").Task("a")
	if a.Status != dag.TaskSucceeded || len(a.Outputs) != 1 || a.Outputs[0].Node != "n2" || a.Metrics["acc"] != 0.9 {
		t.Fatalf("finished task = %+v", a)
	}

	// b is ready now; finishing it finishes the run, which leaves the
	// active index.
	ok(t, apply(t, db, &AssignTasks{At: t0.Add(3), Assignments: []Assignment{{Run: "r1", Task: "b", Node: "n1"}}}))
	ok(t, report(
		TaskReport{Run: "r1", Task: "b", Attempt: 1, Node: "n1", Kind: ReportStarted},
		TaskReport{Run: "r1", Task: "b", Attempt: 1, Node: "n1", Kind: ReportFinished, Result: &dag.TaskResult{}},
	))
	if r := getRun(t, db, "r1"); r.Status != dag.RunSucceeded {
		t.Fatalf("run = %s", r.Status)
	}
	if got := activeIDs(t, db); len(got) != 0 {
		t.Fatalf("active = %v", got)
	}
	res = apply(t, db, &AssignTasks{At: t0, Assignments: []Assignment{{Run: "r1", Task: "a", Node: "n1"}}})
	wantItem(t, res.Items[0], CodeConflict)
}

func TestCancelRunKeepsRunningTasksActive(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, putChain("v1")))
	ok(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}))
	ok(t, apply(t, db, &SubmitRun{Run: newRun("r2", chain, 1)}))
	ok(t, apply(t, db, &AssignTasks{At: t0, Assignments: []Assignment{{Run: "r1", Task: "a", Node: "n1"}}}))
	ok(t, apply(t, db, &ReportTasks{At: t0, Reports: []TaskReport{{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportStarted}}}))

	res := ok(t, apply(t, db, &CancelRun{RunID: "r1", Reason: "user", At: t0.Add(1)}))
	if res.RunID != "r1" {
		t.Fatalf("result = %+v", res)
	}
	r := getRun(t, db, "r1")
	if r.Status != dag.RunCancelled || r.Task("a").Status != dag.TaskRunning || r.Task("b").Status != dag.TaskCancelled {
		t.Fatalf("cancelled run = %s, a %s, b %s", r.Status, r.Task("a").Status, r.Task("b").Status)
	}
	// Terminal, but its running attempt still needs its worker.
	if got := activeIDs(t, db); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Fatalf("active = %v", got)
	}
	wantRejected(t, apply(t, db, &CancelRun{RunID: "r1", At: t0}), CodeConflict)
	wantRejected(t, apply(t, db, &CancelRun{RunID: "nope", At: t0}), CodeNotFound)

	ok(t, apply(t, db, &ReportTasks{At: t0.Add(2), Reports: []TaskReport{{
		Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportFinished,
		Result: &dag.TaskResult{Error: "stopped", Cancelled: true},
	}}}))
	if got := activeIDs(t, db); !slices.Equal(got, []string{"r2"}) {
		t.Fatalf("active after the worker closed the attempt = %v", got)
	}
}

func TestFailRun(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, putChain("v1")))
	ok(t, apply(t, db, &SubmitRun{Run: newRun("r1", chain, 1)}))
	ok(t, apply(t, db, &FailRun{RunID: "r1", Reason: "spec no longer parses", At: t0}))
	r := getRun(t, db, "r1")
	if r.Status != dag.RunFailed || r.Error != "spec no longer parses" || r.Task("a").Status != dag.TaskCancelled {
		t.Fatalf("failed run = %+v", r)
	}
	if got := activeIDs(t, db); len(got) != 0 {
		t.Fatalf("active = %v", got)
	}
	wantRejected(t, apply(t, db, &FailRun{RunID: "r1", At: t0}), CodeConflict)
	wantRejected(t, apply(t, db, &FailRun{RunID: "nope", At: t0}), CodeNotFound)
}

func TestListRuns(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, putChain("v1")))
	ok(t, apply(t, db, &PutPipeline{Name: "chain2", Source: "x", At: t0}))
	// Runs 01..09; even ones of chain2; 03 and 06 cancelled.
	for i := 1; i <= 9; i++ {
		id := "0" + string(rune('0'+i))
		p := chain
		if i%2 == 0 {
			p = &dag.Pipeline{Name: "chain2", Tasks: chain.Tasks}
		}
		ok(t, apply(t, db, &SubmitRun{Run: newRun(id, p, 1)}))
		if i == 3 || i == 6 {
			ok(t, apply(t, db, &CancelRun{RunID: id, At: t0}))
		}
	}
	list := func(q RunQuery) ([]string, string) {
		t.Helper()
		var runs []*dag.Run
		var next string
		if err := db.View(func(tx *bbolt.Tx) (err error) {
			runs, next, err = listRuns(tx, q)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.ID
		}
		return ids, next
	}
	pages := func(q RunQuery) [][]string {
		t.Helper()
		var out [][]string
		for {
			ids, next := list(q)
			out = append(out, ids)
			if next == "" {
				return out
			}
			q.Cursor = next
		}
	}
	check := func(name string, got [][]string, want ...[]string) {
		t.Helper()
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: pages %v, want %v", name, got, want)
		}
	}
	check("all", pages(RunQuery{Limit: 4}),
		[]string{"09", "08", "07", "06"}, []string{"05", "04", "03", "02"}, []string{"01"})
	check("exact pages", pages(RunQuery{Limit: 3}),
		[]string{"09", "08", "07"}, []string{"06", "05", "04"}, []string{"03", "02", "01"})
	check("pipeline", pages(RunQuery{Pipeline: "chain", Limit: 2}),
		[]string{"09", "07"}, []string{"05", "03"}, []string{"01"})
	check("pipeline2", pages(RunQuery{Pipeline: "chain2"}), []string{"08", "06", "04", "02"})
	check("status", pages(RunQuery{Status: dag.RunCancelled, Limit: 1}), []string{"06"}, []string{"03"})
	check("pipeline and status", pages(RunQuery{Pipeline: "chain2", Status: dag.RunCancelled}), []string{"06"})
	check("pending of chain", pages(RunQuery{Pipeline: "chain", Status: dag.RunPending, Limit: 10}),
		[]string{"09", "07", "05", "01"})
	check("unknown pipeline", pages(RunQuery{Pipeline: "chai"}), []string{})
	check("nul pipeline", pages(RunQuery{Pipeline: "chain\x00"}), []string{})

	// A cursor that is not a stored ID starts at the next older run.
	ids, _ := list(RunQuery{Cursor: "055", Limit: 2})
	check("between", [][]string{ids}, []string{"05", "04"})
	ids, _ = list(RunQuery{Cursor: "zz", Limit: 1})
	check("past the end", [][]string{ids}, []string{"09"})
	ids, next := list(RunQuery{Cursor: "00", Limit: 1})
	check("before the start", [][]string{ids}, []string{})
	if next != "" {
		t.Errorf("next before the start = %q", next)
	}
	ids, _ = list(RunQuery{Pipeline: "chain2", Cursor: "zz", Limit: 1})
	check("pipeline past the end", [][]string{ids}, []string{"08"})
	ids, _ = list(RunQuery{Pipeline: "chain", Cursor: "02", Limit: 5})
	check("pipeline between", [][]string{ids}, []string{"01"})
	ids, _ = list(RunQuery{Pipeline: "chain2", Cursor: "01"})
	check("pipeline before its start", [][]string{ids}, []string{})

	// Limits: default 50, at most 1000.
	for i := 10; i < 1100; i++ {
		ok(t, apply(t, db, &SubmitRun{Run: newRun(string(rune('a'+i/100))+string(rune('a'+i%100/10))+string(rune('a'+i%10)), chain, 1)}))
	}
	if ids, next := list(RunQuery{}); len(ids) != 50 || next == "" {
		t.Errorf("default page: %d runs, next %q", len(ids), next)
	}
	if ids, _ := list(RunQuery{Limit: 5000}); len(ids) != 1000 {
		t.Errorf("capped page: %d runs", len(ids))
	}
}
