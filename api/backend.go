package api

import (
	"context"
	"io"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// Backend is what the API needs from a node. The node implements it; the
// handlers are tested against a real node or a fake.
type Backend interface {
	// NodeName is the name of the node serving the request.
	NodeName() string
	// Health reports the node's view of itself and the cluster.
	Health() Health
	// Cluster reports the members, their roles and the Raft state.
	Cluster() ClusterInfo

	// Ops lists the operators this node can run.
	Ops() []dag.OpSpec
	// PutPipeline validates and stores a new version of a pipeline; a
	// spec identical to the latest version stores nothing and returns it.
	PutPipeline(ctx context.Context, name string, src []byte) (*consensus.PipelineVersion, error)
	// Pipelines lists the stored pipelines.
	Pipelines() ([]consensus.PipelineSummary, error)
	// Pipeline returns one version of a pipeline (0 for the latest).
	Pipeline(name string, version int) (*consensus.PipelineVersion, error)
	// PipelineGraph returns a stored pipeline version, parsed (0: the
	// latest), and its version number.
	PipelineGraph(name string, version int) (*dag.Pipeline, int, error)
	// PipelineVersions lists every version of a pipeline.
	PipelineVersions(name string) ([]consensus.PipelineVersion, error)

	// SubmitStored starts a run of a stored pipeline and returns its id
	// once the submission is committed.
	SubmitStored(ctx context.Context, pipeline string, version int, params map[string]any) (string, error)
	// SubmitSpec stores the spec as a pipeline version and starts a run of
	// it, in one committed step.
	SubmitSpec(ctx context.Context, src []byte, params map[string]any) (string, error)
	// SetTags sets and removes tags of a run.
	SetTags(ctx context.Context, id string, set map[string]string, remove []string) error
	// DeleteRun deletes a finished run for good, files and all.
	DeleteRun(ctx context.Context, id string) error
	// CancelRun cancels a run that has not finished.
	CancelRun(ctx context.Context, id, reason string) error
	// RetryRun runs a failed or cancelled run's unsucceeded tasks, and
	// what is downstream of them, again.
	RetryRun(ctx context.Context, id string) error

	// ReadBarrier waits until the local replica has applied every write
	// the leader had committed when it was called (?consistent=true).
	ReadBarrier(ctx context.Context) error
	// Run reads one run from the local replica.
	Run(id string) (*dag.Run, error)
	// Runs lists runs, newest first.
	Runs(q consensus.RunQuery) ([]*dag.Run, string, error)
	// Subscribe notifies after every state change; the func unsubscribes.
	Subscribe() (<-chan struct{}, func())

	// LogFile returns the path of a task attempt's log on this node.
	LogFile(run, task string, attempt int) (string, error)
	// PutDataset stores an upload (csv, parquet or arrow) as the next
	// version of a dataset.
	PutDataset(ctx context.Context, name, format string, body io.Reader) (*consensus.DatasetVersion, error)
	// Datasets lists every version of every dataset.
	Datasets() ([]consensus.DatasetVersion, error)
	// Dataset returns one version of a dataset (0: the latest).
	Dataset(name string, version int) (*consensus.DatasetVersion, error)
	// OpenOutput opens a task output for reading: held by this node, kept
	// inline in the state, or first copied from the node that holds it.
	OpenOutput(ctx context.Context, ref dataplane.OutputRef) (*dataplane.OutputFile, error)

	// Models lists every model with its latest version and aliases.
	Models() ([]consensus.ModelSummary, error)
	// ModelVersions lists one model's versions, aliases and alias moves.
	ModelVersions(name string) ([]consensus.ModelVersion, consensus.ModelAliases, error)
	// RegisterModelFile stores an uploaded model file as the model's next
	// version.
	RegisterModelFile(ctx context.Context, name, format string, features []string, description string, body io.Reader) (*consensus.ModelVersion, error)
	// SetModelAlias points an alias at a version; 0 removes it.
	SetModelAlias(ctx context.Context, name, alias string, version int) error
	// SubmitSweep starts one run per combination of the sweep's values as
	// one experiment: of src when given, else of the stored pipeline.
	SubmitSweep(ctx context.Context, src []byte, pipeline string, version int, params map[string]any, sweep map[string][]any) (*consensus.Experiment, error)
	// Experiment returns an experiment and its runs.
	Experiment(id string) (*consensus.Experiment, []*dag.Run, error)
	// ResolveModel loads the model version a request names: version when
	// positive, else alias, else the latest.
	ResolveModel(ctx context.Context, name, alias string, version int) (Predictor, error)
}

// Health is the body of GET /api/v1/health.
type Health struct {
	Status       string `json:"status"`
	Node         string `json:"node"`
	Version      string `json:"version"`
	Leader       string `json:"leader"`
	RaftState    string `json:"raft_state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Slots        int    `json:"slots"`
	Running      int    `json:"running"`
	// FlightAddr is the node's Arrow Flight server (host:port), where
	// outputs can be read with DoGet.
	FlightAddr string `json:"flight_addr,omitempty"`
	// FlightTLS says the Flight server speaks TLS (grpc+tls): dial it
	// with the cluster's CA.
	FlightTLS bool `json:"flight_tls,omitempty"`
}
