package consensus

import (
	"encoding/json"
	"slices"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// AddReplicas appends new holders to a succeeded task's file output, in
// the state file and in the live copy of a run still under way, and
// leaves holders already listed alone.
func TestAddReplicasToTaskOutput(t *testing.T) {
	db := mustOpenState(t)
	p := processor{live: &liveRuns{}}
	ok(t, applyLive(t, db, p, putChain("v1")))
	ok(t, applyLive(t, db, p, &SubmitRun{Run: newRun("r1", chain, 1)}))
	ok(t, applyLive(t, db, p, &AssignTasks{At: t0, Assignments: []Assignment{{Run: "r1", Task: "a", Node: "n1"}}}))
	ok(t, applyLive(t, db, p, &ReportTasks{At: t0, Reports: []TaskReport{
		{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportStarted},
		{Run: "r1", Task: "a", Attempt: 1, Node: "n1", Kind: ReportFinished, Result: &dag.TaskResult{
			Outputs: []dag.OutputMeta{{Name: "out", Rows: 3, Replicas: []string{"n2"}}}}},
	}}))
	add := func(c AddReplicas) *Result {
		c.Kind = ReplicaOutput
		return applyLive(t, db, p, &c)
	}
	holders := func() (file, live []string) {
		o := getRun(t, db, "r1").Task("a").Outputs[0]
		file = append([]string{o.Node}, o.Replicas...)
		lo := p.live.get("r1").Task("a").Outputs[0]
		live = append([]string{lo.Node}, lo.Replicas...)
		return file, live
	}

	ok(t, add(AddReplicas{Run: "r1", Task: "a", Output: "out", Nodes: []string{"n2", "n3", "n1", "n4", "n3"}}))
	want := []string{"n1", "n2", "n3", "n4"}
	if file, live := holders(); !slices.Equal(file, want) || !slices.Equal(live, want) {
		t.Fatalf("holders: state file %v, live copy %v; want %v", file, live, want)
	}
	// Again: nothing new, nothing changes.
	ok(t, add(AddReplicas{Run: "r1", Task: "a", Output: "out", Nodes: []string{"n4"}}))
	if file, _ := holders(); !slices.Equal(file, want) {
		t.Fatalf("holders after a no-op: %v", file)
	}
	// The live view's inputs of b list the new holders for placement.
	views := p.live.views()
	if len(views) != 1 || len(views[0].Ready) != 1 || !slices.Equal(views[0].Ready[0].Inputs, want) {
		t.Fatalf("live views: %+v", views)
	}

	wantRejected(t, add(AddReplicas{Run: "nope", Task: "a", Output: "out", Nodes: []string{"n5"}}), CodeNotFound)
	wantRejected(t, add(AddReplicas{Run: "r1", Task: "zz", Output: "out", Nodes: []string{"n5"}}), CodeNotFound)
	wantRejected(t, add(AddReplicas{Run: "r1", Task: "a", Output: "zz", Nodes: []string{"n5"}}), CodeNotFound)
	wantRejected(t, add(AddReplicas{Run: "r1", Task: "b", Output: "out", Nodes: []string{"n5"}}), CodeConflict)
	wantRejected(t, add(AddReplicas{Run: "r1", Task: "a", Output: "out"}), CodeInvalid)
	wantRejected(t, add(AddReplicas{Run: "r1", Task: "a", Output: "out", Nodes: []string{""}}), CodeInvalid)
	wantRejected(t, applyLive(t, db, p, &AddReplicas{Kind: "disk", Run: "r1", Task: "a", Output: "out", Nodes: []string{"n5"}}), CodeInvalid)
	if file, _ := holders(); !slices.Equal(file, want) {
		t.Fatalf("holders after rejections: %v", file)
	}
}

// AddReplicas appends new holders to a dataset version's file and to a
// model version's; unknown versions, a wrong stored name and inline data
// are rejected.
func TestAddReplicasToDatasetsAndModels(t *testing.T) {
	db := mustOpenState(t)
	ok(t, apply(t, db, &PutDataset{Name: "sales", Format: "csv", At: t0,
		Output: dag.OutputMeta{Name: "u1", Node: "n1", Replicas: []string{"n2"}}}))
	ok(t, apply(t, db, &PutDataset{Name: "sales", Format: "csv", At: t0,
		Output: dag.OutputMeta{Name: "u2", Node: "n1", Inline: []byte("small")}}))
	ok(t, apply(t, db, &RegisterModel{Name: "churn", Format: "forged", SHA256: "abc", At: t0,
		Signature: json.RawMessage(`{"features":[{"name":"x","type":"float"}],"kind":"regressor"}`),
		Output:    dag.OutputMeta{Name: "m1", Node: "n2"}}))

	ok(t, apply(t, db, &AddReplicas{Kind: ReplicaDataset, Dataset: "sales", Version: 1, Output: "u1", Nodes: []string{"n3", "n2"}}))
	ok(t, apply(t, db, &AddReplicas{Kind: ReplicaModel, Model: "churn", Version: 1, Nodes: []string{"n3"}}))
	ok(t, apply(t, db, &AddReplicas{Kind: ReplicaModel, Model: "churn", Version: 1, Nodes: []string{"n2", "n3"}}))

	d := readTx(t, db, func(tx *bbolt.Tx) (*DatasetVersion, error) {
		var v DatasetVersion
		_, err := getJSON(tx.Bucket(bucketDatasets), versionKey("sales", 1), &v)
		return &v, err
	})
	if d.Output.Node != "n1" || !slices.Equal(d.Output.Replicas, []string{"n2", "n3"}) || d.Output.Name != "u1" {
		t.Fatalf("dataset version 1 output = %+v", d.Output)
	}
	m := readTx(t, db, func(tx *bbolt.Tx) (*ModelVersion, error) { return latestModel(tx, "churn") })
	if m.Output.Node != "n2" || !slices.Equal(m.Output.Replicas, []string{"n3"}) || m.SHA256 != "abc" {
		t.Fatalf("model version 1 = %+v", m)
	}

	for _, c := range []struct {
		cmd  AddReplicas
		code string
	}{
		{AddReplicas{Kind: ReplicaDataset, Dataset: "sales", Version: 3, Nodes: []string{"n4"}}, CodeNotFound},
		{AddReplicas{Kind: ReplicaDataset, Dataset: "costs", Version: 1, Nodes: []string{"n4"}}, CodeNotFound},
		{AddReplicas{Kind: ReplicaDataset, Dataset: "sales", Version: 0, Nodes: []string{"n4"}}, CodeInvalid},
		{AddReplicas{Kind: ReplicaDataset, Dataset: "", Version: 1, Nodes: []string{"n4"}}, CodeInvalid},
		{AddReplicas{Kind: ReplicaDataset, Dataset: "sales", Version: 1, Output: "u9", Nodes: []string{"n4"}}, CodeConflict},
		{AddReplicas{Kind: ReplicaDataset, Dataset: "sales", Version: 2, Nodes: []string{"n4"}}, CodeInvalid}, // inline
		{AddReplicas{Kind: ReplicaModel, Model: "churn", Version: 2, Nodes: []string{"n4"}}, CodeNotFound},
		{AddReplicas{Kind: ReplicaModel, Model: "nope", Version: 1, Nodes: []string{"n4"}}, CodeNotFound},
		{AddReplicas{Kind: ReplicaModel, Model: "churn", Version: 1, Nodes: make([]string, maxAddedReplicas+1)}, CodeInvalid},
	} {
		wantRejected(t, apply(t, db, &c.cmd), c.code)
	}
}

// AddReplicas is written with IgnoreUnknownTypeFlag, so that a node that
// does not know it skips it instead of stopping.
func TestAddReplicasIsSkippableByOlderNodes(t *testing.T) {
	b, err := Encode(&AddReplicas{Kind: ReplicaDataset, Dataset: "d", Version: 1, Nodes: []string{"n2"}})
	if err != nil {
		t.Fatal(err)
	}
	if CommandType(b[0]) != TypeAddReplicas|IgnoreUnknownTypeFlag || (TypeAddReplicas|IgnoreUnknownTypeFlag).String() != "add_replicas" {
		t.Fatalf("type byte %#x", b[0])
	}
	cmd, err := Decode(b)
	if err != nil || cmd.(*AddReplicas).Dataset != "d" {
		t.Fatalf("decode: %v, %v", cmd, err)
	}
}
