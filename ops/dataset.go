package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/forged-dev/forged/dag"
)

func readDatasetOp() Op {
	return Op{Spec: dag.OpSpec{
		Name:        "read_dataset",
		Description: "Reads a dataset uploaded to the cluster (`forged upload`): `name`, and `version` (default 0: the latest).",
		MinInputs:   0, MaxInputs: 0,
		Required: []string{"name"},
		Optional: []string{"version"},
	}, Run: runReadDataset}
}

func runReadDataset(ctx context.Context, env *Env) error {
	w := withOf(env)
	name, err := w.required("name")
	if err != nil {
		return err
	}
	version, err := w.int("version", 0)
	if err != nil {
		return err
	}
	if version < 0 {
		return fmt.Errorf("with.version: want 0 (the latest) or a version number, got %d", version)
	}
	if env.Dataset == nil {
		return errors.New("this node cannot read datasets")
	}
	rr, err := env.Dataset(name, version)
	if err != nil {
		return err
	}
	defer rr.Release()
	rows, err := copyToOutput(ctx, env, rr)
	if err != nil {
		return err
	}
	logf(env, "read %d rows of dataset %s", rows, name)
	return nil
}
