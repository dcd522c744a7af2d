package consensus

import (
	"slices"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// ReplicaKind says what kind of stored file an AddReplicas names.
type ReplicaKind string

// The kinds of file that have holders in the state.
const (
	// ReplicaOutput is a task output of a run.
	ReplicaOutput ReplicaKind = "output"
	// ReplicaDataset is an uploaded dataset version.
	ReplicaDataset ReplicaKind = "dataset"
	// ReplicaModel is a registered model version's file.
	ReplicaModel ReplicaKind = "model"
)

// maxAddedReplicas bounds the nodes one AddReplicas may name.
const maxAddedReplicas = 16

// AddReplicas records nodes that now hold a copy of a stored file, after
// a node copied it there to replace copies lost with dead nodes. Nodes
// already listed as holders are left as they are; the others are
// appended to the file's Replicas in the order given.
//
// Its type byte carries IgnoreUnknownTypeFlag: an older node that skips
// it only lists fewer holders, and still reads from those it lists.
type AddReplicas struct {
	Kind ReplicaKind `json:"kind"`
	// Run, Task and Output name a task output (Kind output). Output is
	// also the stored output's name of a dataset or model version; when
	// set it must match.
	Run    string `json:"run,omitempty"`
	Task   string `json:"task,omitempty"`
	Output string `json:"output,omitempty"`
	// Dataset or Model, with Version, name a dataset or model version.
	Dataset string `json:"dataset,omitempty"`
	Model   string `json:"model,omitempty"`
	Version int    `json:"version,omitempty"`
	// Nodes are the new holders.
	Nodes []string `json:"nodes"`
}

// Type implements Command.
func (*AddReplicas) Type() CommandType { return TypeAddReplicas | IgnoreUnknownTypeFlag }

func (p processor) addReplicas(tx *bbolt.Tx, c *AddReplicas) (*Result, error) {
	if len(c.Nodes) == 0 || len(c.Nodes) > maxAddedReplicas {
		return rejected(reject(CodeInvalid, "add replicas: name 1 to %d nodes, not %d", maxAddedReplicas, len(c.Nodes))), nil
	}
	for _, n := range c.Nodes {
		if rej := validKey("node name", n, maxNameLen); rej != nil {
			return rejected(rej), nil
		}
	}
	switch c.Kind {
	case ReplicaOutput:
		return p.addOutputReplicas(tx, c)
	case ReplicaDataset:
		return addVersionReplicas(tx, c, bucketDatasets, "dataset", c.Dataset, func(v *DatasetVersion) *dag.OutputMeta { return &v.Output })
	case ReplicaModel:
		return addVersionReplicas(tx, c, bucketModels, "model", c.Model, func(v *ModelVersion) *dag.OutputMeta { return &v.Output })
	}
	return rejected(reject(CodeInvalid, "add replicas: kind %q: want output, dataset or model", c.Kind)), nil
}

// addOutputReplicas adds holders to a succeeded task's file output.
func (p processor) addOutputReplicas(tx *bbolt.Tx, c *AddReplicas) (*Result, error) {
	set := p.newRunSet(tx)
	run, rej, err := set.get(c.Run)
	if err != nil || rej != nil {
		return rejected(rej), err
	}
	idx := -1
	for i := range run.Tasks {
		if run.Tasks[i].Name == c.Task {
			idx = i
			break
		}
	}
	if idx < 0 {
		return rejected(reject(CodeNotFound, "run %s has no task %s", c.Run, c.Task)), nil
	}
	t := &run.Tasks[idx]
	if t.Status != dag.TaskSucceeded {
		return rejected(reject(CodeConflict, "task %s/%s is %s: only a succeeded task's outputs have copies", c.Run, c.Task, t.Status)), nil
	}
	j := slices.IndexFunc(t.Outputs, func(o dag.OutputMeta) bool { return o.Name == c.Output })
	if j < 0 {
		return rejected(reject(CodeNotFound, "task %s/%s has no output %q", c.Run, c.Task, c.Output)), nil
	}
	merged, rej := withHolders(t.Outputs[j], c.Nodes)
	if rej != nil {
		return rejected(rej), nil
	}
	if merged == nil {
		return &Result{RunID: run.ID}, nil // all listed already
	}
	// A new slice: the old one may be shared with earlier readers.
	outs := slices.Clone(t.Outputs)
	outs[j] = *merged
	t.Outputs = outs
	if err := saveRun(tx, run, []int{idx}); err != nil {
		return nil, err
	}
	p.live.update(run)
	return &Result{RunID: run.ID}, nil
}

// addVersionReplicas adds holders to the file of a dataset or model
// version, stored as JSON under versionKey(name, version) in bucket.
func addVersionReplicas[V any](tx *bbolt.Tx, c *AddReplicas, bucket []byte, what, name string, output func(*V) *dag.OutputMeta) (*Result, error) {
	if rej := validKey(what+" name", name, maxNameLen); rej != nil {
		return rejected(rej), nil
	}
	if c.Version < 1 {
		return rejected(reject(CodeInvalid, "add replicas: %s %s: version must be 1 or more", what, name)), nil
	}
	var v V
	found, err := getJSON(tx.Bucket(bucket), versionKey(name, c.Version), &v)
	if err != nil {
		return nil, err
	}
	if !found {
		return rejected(reject(CodeNotFound, "%s %s has no version %d", what, name, c.Version)), nil
	}
	out := output(&v)
	if c.Output != "" && c.Output != out.Name {
		return rejected(reject(CodeConflict, "%s %s version %d is stored as %q, not %q", what, name, c.Version, out.Name, c.Output)), nil
	}
	merged, rej := withHolders(*out, c.Nodes)
	if rej != nil {
		return rejected(rej), nil
	}
	if merged == nil {
		return &Result{Version: c.Version}, nil
	}
	*out = *merged
	if err := putJSON(tx.Bucket(bucket), versionKey(name, c.Version), &v); err != nil {
		return nil, err
	}
	return &Result{Version: c.Version}, nil
}

// withHolders returns meta with the nodes not yet holding it appended to
// its Replicas, or nil when every node already holds it. An inline output
// has no file to copy, and one without a holder was never stored as one.
func withHolders(meta dag.OutputMeta, nodes []string) (*dag.OutputMeta, *Rejection) {
	if len(meta.Inline) > 0 || meta.Node == "" {
		return nil, reject(CodeInvalid, "output %s is kept in the state, not as a file with holders", meta.Name)
	}
	replicas := slices.Clone(meta.Replicas)
	for _, n := range nodes {
		if n != meta.Node && !slices.Contains(replicas, n) {
			replicas = append(replicas, n)
		}
	}
	if len(replicas) == len(meta.Replicas) {
		return nil, nil
	}
	meta.Replicas = replicas
	return &meta, nil
}
