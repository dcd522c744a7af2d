package consensus

import (
	"encoding/json"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

func TestModelVersionsAndAliases(t *testing.T) {
	db := mustOpenState(t)
	register := func(name, out string) *Result {
		return apply(t, db, &RegisterModel{Name: name, Format: "forged", SHA256: "abc", At: t0,
			Signature: json.RawMessage(`{"features":[{"name":"x","type":"float"}],"kind":"regressor"}`),
			Source:    ModelSource{Run: "r1", Task: "train", Output: out},
			Output:    dag.OutputMeta{Name: out, Node: "n1", Rows: 1}})
	}
	if v := ok(t, register("churn", "out")).Version; v != 1 {
		t.Fatalf("first version = %d", v)
	}
	if v := ok(t, register("churn", "out2")).Version; v != 2 {
		t.Fatalf("second version = %d", v)
	}
	ok(t, register("churner", "out"))
	wantRejected(t, register("", "out"), CodeInvalid)
	wantRejected(t, apply(t, db, &RegisterModel{Name: "x", At: t0}), CodeInvalid)
	noSig := &RegisterModel{Name: "x", Format: "forged", SHA256: "a", At: t0,
		Source: ModelSource{Run: "r", Task: "t", Output: "o"}, Output: dag.OutputMeta{Node: "n1"}}
	wantRejected(t, apply(t, db, noSig), CodeInvalid)

	alias := func(a string, v int, at time.Time) *Result {
		return apply(t, db, &SetAlias{Model: "churn", Alias: a, Version: v, At: at})
	}
	ok(t, alias("production", 1, t0))
	ok(t, alias("staging", 2, t0.Add(time.Second)))
	ok(t, alias("production", 2, t0.Add(2*time.Second)))
	ok(t, alias("production", 2, t0.Add(3*time.Second))) // no move: not in the history
	ok(t, alias("staging", 0, t0.Add(4*time.Second)))    // removed
	wantRejected(t, alias("production", 3, t0), CodeNotFound)
	wantRejected(t, alias("7", 1, t0), CodeInvalid)
	wantRejected(t, apply(t, db, &SetAlias{Model: "nope", Alias: "a", Version: 1, At: t0}), CodeNotFound)

	got := readTx(t, db, func(tx *bbolt.Tx) (*ModelAliases, error) {
		var a ModelAliases
		_, err := getJSON(tx.Bucket(bucketModelAliases), []byte("churn"), &a)
		return &a, err
	})
	if len(got.Aliases) != 1 || got.Aliases["production"] != 2 {
		t.Fatalf("aliases = %v", got.Aliases)
	}
	want := []AliasMove{
		{Alias: "production", From: 0, To: 1, At: t0},
		{Alias: "staging", From: 0, To: 2, At: t0.Add(time.Second)},
		{Alias: "production", From: 1, To: 2, At: t0.Add(2 * time.Second)},
		{Alias: "staging", From: 2, To: 0, At: t0.Add(4 * time.Second)},
	}
	if len(got.History) != len(want) {
		t.Fatalf("history = %+v", got.History)
	}
	for i := range want {
		if got.History[i].Alias != want[i].Alias || got.History[i].From != want[i].From || got.History[i].To != want[i].To || !got.History[i].At.Equal(want[i].At) {
			t.Fatalf("move %d = %+v, want %+v", i, got.History[i], want[i])
		}
	}
	latest := readTx(t, db, func(tx *bbolt.Tx) (*ModelVersion, error) { return latestModel(tx, "churn") })
	if latest.Version != 2 || latest.Source.Output != "out2" {
		t.Fatalf("latest = %+v", latest)
	}
}
