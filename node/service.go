package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/forged-dev/forged/api"
	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// The node is the API's backend.
var _ api.Backend = (*Node)(nil)

// NodeName is the node's name.
func (n *Node) NodeName() string { return n.cfg.Name }

// Health reports the node's Raft view and worker load.
func (n *Node) Health() api.Health {
	st := n.store.Stats()
	status := "ok"
	if st.LeaderID == "" {
		status = "no_leader"
	}
	return api.Health{
		Status:       status,
		Node:         n.cfg.Name,
		Version:      n.cfg.Version,
		Leader:       st.LeaderID,
		RaftState:    st.State,
		Term:         st.Term,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
		Slots:        n.cfg.Slots,
		Running:      n.worker.runningCount(),
		FlightAddr:   n.advertised(n.FlightAddr()),
		FlightTLS:    n.tls != nil,
	}
}

// Ops lists the node's operators.
func (n *Node) Ops() []dag.OpSpec { return n.cfg.Ops.Specs() }

// Validate parses and validates a spec against this node's operators.
func (n *Node) Validate(src []byte) (*dag.Pipeline, error) {
	return dag.Parse(src, n.cfg.Ops)
}

// PutPipeline validates and stores a new version of a pipeline.
func (n *Node) PutPipeline(ctx context.Context, name string, src []byte) (*consensus.PipelineVersion, error) {
	p, err := dag.Parse(src, n.cfg.Ops)
	if err != nil {
		return nil, err
	}
	if p.Name != name {
		return nil, &dag.ValidationError{Errors: []dag.FieldError{{
			Path:    "name",
			Message: fmt.Sprintf("the spec is named %q but was sent to pipeline %q", p.Name, name),
		}}}
	}
	res, err := n.apply(ctx, &consensus.PutPipeline{
		Name: p.Name, Description: p.Description, Format: specFormat(src), Source: string(src), At: now(),
	})
	if err != nil {
		return nil, err
	}
	return n.store.Pipeline(p.Name, res.Version)
}

// Pipelines lists stored pipelines.
func (n *Node) Pipelines() ([]consensus.PipelineSummary, error) { return n.store.Pipelines() }

// Pipeline returns one stored version of a pipeline (0: the latest).
func (n *Node) Pipeline(name string, version int) (*consensus.PipelineVersion, error) {
	return n.store.Pipeline(name, version)
}

// PipelineVersions lists a pipeline's versions.
func (n *Node) PipelineVersions(name string) ([]consensus.PipelineVersion, error) {
	return n.store.PipelineVersions(name)
}

// SubmitStored starts a run of a stored pipeline version (0: the latest).
func (n *Node) SubmitStored(ctx context.Context, pipeline string, version int, params map[string]any) (string, error) {
	pv, err := n.store.Pipeline(pipeline, version)
	if err != nil {
		return "", err
	}
	p, err := n.specs.get(pv.Name, pv.Version)
	if err != nil {
		return "", err
	}
	run, err := n.newRun(p, pv.Version, params)
	if err != nil {
		return "", err
	}
	res, err := n.apply(ctx, &consensus.SubmitRun{Run: run})
	if err != nil {
		return "", err
	}
	return res.RunID, nil
}

// SubmitSpec stores src as a pipeline version and starts a run of it.
func (n *Node) SubmitSpec(ctx context.Context, src []byte, params map[string]any) (string, error) {
	p, err := dag.Parse(src, n.cfg.Ops)
	if err != nil {
		return "", err
	}
	run, err := n.newRun(p, 0, params)
	if err != nil {
		return "", err
	}
	res, err := n.apply(ctx, &consensus.SubmitRun{Run: run, Pipeline: &consensus.PutPipeline{
		Name: p.Name, Description: p.Description, Format: specFormat(src), Source: string(src), At: run.SubmittedAt,
	}})
	if err != nil {
		return "", err
	}
	return res.RunID, nil
}

// newRun resolves params and checks that every task renders with them, so
// a bad value is refused at submission rather than failing a task later.
func (n *Node) newRun(p *dag.Pipeline, version int, params map[string]any) (*dag.Run, error) {
	resolved, err := p.ResolveParams(params)
	if err != nil {
		return nil, err
	}
	for i := range p.Tasks {
		if _, err := p.Tasks[i].Render(resolved); err != nil {
			return nil, &dag.ValidationError{Errors: []dag.FieldError{{
				Path: fmt.Sprintf("tasks[%d].with", i), Line: p.Tasks[i].Line, Message: err.Error(),
			}}}
		}
	}
	if err := n.checkExecNodes(p); err != nil {
		return nil, err
	}
	return dag.NewRun(NewRunID(now()), p, version, resolved, now()), nil
}

// checkExecNodes refuses a pipeline with exec tasks when no live node
// runs them: its tasks would wait for ever.
func (n *Node) checkExecNodes(p *dag.Pipeline) error {
	var execTasks []int
	for i := range p.Tasks {
		if p.Tasks[i].IsExec() {
			execTasks = append(execTasks, i)
		}
	}
	if len(execTasks) == 0 {
		return nil
	}
	members, _, err := n.liveWorkers()
	if err != nil {
		return nil // the run waits for nodes rather than being refused on a guess
	}
	for _, m := range members {
		if m.Labels[dag.ExecLabel] == "true" {
			return nil
		}
	}
	verr := &dag.ValidationError{}
	for _, i := range execTasks {
		verr.Errors = append(verr.Errors, dag.FieldError{
			Path: fmt.Sprintf("tasks[%d]", i), Line: p.Tasks[i].Line,
			Message: fmt.Sprintf("task %s runs a command, and none of the %d live nodes runs exec tasks: start a node with --enable-exec", p.Tasks[i].Name, len(members)),
		})
	}
	return verr
}

// CancelRun cancels a run.
func (n *Node) CancelRun(ctx context.Context, id, reason string) error {
	if reason == "" {
		reason = "cancelled by user"
	}
	_, err := n.apply(ctx, &consensus.CancelRun{RunID: id, Reason: reason, At: now()})
	return err
}

// DeleteRun deletes a finished run for good: from the replicated state,
// and its files from this node at once and from the others within a
// minute.
func (n *Node) DeleteRun(ctx context.Context, id string) error {
	if _, err := n.apply(ctx, &consensus.DeleteRun{RunID: id, At: now()}); err != nil {
		return err
	}
	return n.removeRunFiles(id)
}

// SetTags sets and removes tags of a run.
func (n *Node) SetTags(ctx context.Context, id string, set map[string]string, remove []string) error {
	_, err := n.apply(ctx, &consensus.SetTags{RunID: id, Set: set, Remove: remove})
	return err
}

// PipelineGraph returns a stored pipeline version parsed (0: the latest)
// and its version number.
func (n *Node) PipelineGraph(name string, version int) (*dag.Pipeline, int, error) {
	pv, err := n.store.Pipeline(name, version)
	if err != nil {
		return nil, 0, err
	}
	p, err := n.specs.get(pv.Name, pv.Version)
	return p, pv.Version, err
}

// Run reads a run from the local replica.
func (n *Node) Run(id string) (*dag.Run, error) { return n.store.Run(id) }

// DataDir is the directory that holds the node's state, outputs and logs.
func (n *Node) DataDir() string { return n.cfg.DataDir }

// RunHeader returns a run's own fields without its tasks, from the local
// replica: cheap enough to poll however large the run.
func (n *Node) RunHeader(id string) (*dag.Run, error) { return n.store.RunHeader(id) }

// Runs lists runs from the local replica.
func (n *Node) Runs(q consensus.RunQuery) ([]*dag.Run, string, error) { return n.store.Runs(q) }

// Subscribe notifies after each applied state change.
func (n *Node) Subscribe() (<-chan struct{}, func()) { return n.store.Subscribe() }

// LogFile is where a task attempt's log is kept on this node.
func (n *Node) LogFile(run, task string, attempt int) (string, error) {
	if _, err := dataplane.ParseOutputRef(run + "/" + task + "/log"); err != nil {
		return "", fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return filepath.Join(n.cfg.DataDir, "logs", run, task, strconv.Itoa(attempt)+".log"), nil
}

// OpenOutput opens an output for the API: held here, kept inline in the
// state, or first copied from the node that holds it.
func (n *Node) OpenOutput(ctx context.Context, ref dataplane.OutputRef) (*dataplane.OutputFile, error) {
	return n.openOutput(ctx, ref)
}

// apply commits a command and turns a business rejection into an error.
func (n *Node) apply(ctx context.Context, cmd consensus.Command) (*consensus.Result, error) {
	res, err := n.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		return res, res.Error
	}
	return res, nil
}

func specFormat(src []byte) string {
	if t := bytes.TrimSpace(src); len(t) > 0 && t[0] == '{' {
		return "json"
	}
	return "yaml"
}

// now is the node's clock for commands; the FSM never reads a clock.
func now() time.Time { return time.Now().UTC() }

// crockford is the base32 alphabet of run ids: sortable, no I/L/O/U.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewRunID returns a run id that sorts by creation time: 10 characters of
// milliseconds since the epoch then 6 random ones, in lower-case Crockford
// base32.
func NewRunID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	var r [6]byte
	rand.Read(r[:])
	for i, x := range r {
		b[10+i] = crockford[x&31]
	}
	return string(b[:])
}

// specCache keeps parsed pipeline versions; a version never changes, so
// entries never go stale.
type specCache struct {
	store *consensus.Store
	cat   dag.Catalog
	mu    sync.Mutex
	m     map[string]*specEntry
}

// specEntry is one pipeline version, parsed once however many attempts
// ask for it at the same time.
type specEntry struct {
	ready chan struct{}
	p     *dag.Pipeline
	err   error
}

// maxCachedSpecs bounds the cache; past it, the cache starts over.
const maxCachedSpecs = 256

func newSpecCache(store *consensus.Store, cat dag.Catalog) *specCache {
	return &specCache{store: store, cat: cat, m: map[string]*specEntry{}}
}

func (c *specCache) get(name string, version int) (*dag.Pipeline, error) {
	key := name + "@" + strconv.Itoa(version)
	c.mu.Lock()
	e := c.m[key]
	if e == nil {
		if len(c.m) >= maxCachedSpecs {
			c.m = map[string]*specEntry{}
		}
		e = &specEntry{ready: make(chan struct{})}
		c.m[key] = e
		c.mu.Unlock()
		e.p, e.err = c.load(name, version)
		if e.err != nil {
			c.mu.Lock()
			if c.m[key] == e {
				delete(c.m, key) // a later call tries again
			}
			c.mu.Unlock()
		}
		close(e.ready)
	} else {
		c.mu.Unlock()
		<-e.ready
	}
	return e.p, e.err
}

func (c *specCache) load(name string, version int) (*dag.Pipeline, error) {
	pv, err := c.store.Pipeline(name, version)
	if err != nil {
		return nil, fmt.Errorf("load pipeline %s version %d: %w", name, version, err)
	}
	p, err := dag.Parse([]byte(pv.Source), c.cat)
	if err != nil {
		return nil, fmt.Errorf("parse pipeline %s version %d: %w", name, version, err)
	}
	return p, nil
}
