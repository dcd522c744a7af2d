package consensus

import (
	"testing"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

func TestPutDatasetVersions(t *testing.T) {
	db := mustOpenState(t)
	put := func(name, upload string) *Result {
		return apply(t, db, &PutDataset{Name: name, Format: "csv", At: t0,
			Output: dag.OutputMeta{Name: upload, Node: "n1", Rows: 3}})
	}
	if v := ok(t, put("sales", "u1")).Version; v != 1 {
		t.Fatalf("first version = %d", v)
	}
	if v := ok(t, put("sales", "u2")).Version; v != 2 {
		t.Fatalf("second version = %d", v)
	}
	ok(t, put("costs", "u3"))
	wantRejected(t, put("", "u4"), CodeInvalid)
	wantRejected(t, apply(t, db, &PutDataset{Name: "x", At: t0}), CodeInvalid)

	latest := readTx(t, db, func(tx *bbolt.Tx) (*DatasetVersion, error) { return latestDataset(tx, "sales") })
	if latest.Version != 2 || latest.Output.Name != "u2" || latest.Format != "csv" {
		t.Fatalf("latest = %+v", latest)
	}
	if none := readTx(t, db, func(tx *bbolt.Tx) (*DatasetVersion, error) { return latestDataset(tx, "sale") }); none != nil {
		t.Fatalf("a name's prefix found %+v", none)
	}
}
