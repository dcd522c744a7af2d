package consensus_test

import (
	"errors"
	"testing"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/consensus/consensustest"
	"github.com/forged-dev/forged/dag"
)

func TestDatasetReads(t *testing.T) {
	s := consensustest.OpenStore(t)
	for _, u := range []string{"u1", "u2"} {
		res, err := s.Apply(ctx(t), &consensus.PutDataset{Name: "sales", Format: "arrow", At: t0, Output: dag.OutputMeta{Name: u, Node: "n1"}})
		if err != nil || res.Error != nil {
			t.Fatal(err, res)
		}
	}
	if v, err := s.Dataset("sales", 0); err != nil || v.Version != 2 {
		t.Fatalf("latest = %+v, %v", v, err)
	}
	if v, err := s.Dataset("sales", 1); err != nil || v.Output.Name != "u1" {
		t.Fatalf("version 1 = %+v, %v", v, err)
	}
	for _, q := range []struct {
		name    string
		version int
	}{{"sales", 3}, {"nope", 0}, {"", 0}} {
		if _, err := s.Dataset(q.name, q.version); !errors.Is(err, consensus.ErrNotFound) {
			t.Fatalf("Dataset(%q, %d) = %v, want ErrNotFound", q.name, q.version, err)
		}
	}
	all, err := s.Datasets()
	if err != nil || len(all) != 2 {
		t.Fatalf("datasets = %+v, %v", all, err)
	}
}
