package consensus

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// processor applies decoded commands to the state in a bbolt write
// transaction. It is deterministic: no clock, no randomness, no map order;
// every input comes from the command. A rejection is returned in the
// Result and leaves the transaction untouched, so that many commands can
// share one transaction; an error means the state could not be written and
// the FSM must stop.
type processor struct {
	// live holds the active runs in memory; it must not be nil.
	live *liveRuns
}

// apply dispatches one command.
func (p processor) apply(tx *bbolt.Tx, cmd Command) (*Result, error) {
	if err := p.live.ensure(tx); err != nil {
		return nil, err
	}
	switch c := cmd.(type) {
	case *PutPipeline:
		return p.putPipeline(tx, c)
	case *SubmitRun:
		return p.submitRun(tx, c)
	case *AssignTasks:
		return p.assignTasks(tx, c)
	case *ReportTasks:
		return p.reportTasks(tx, c)
	case *CancelRun:
		return p.cancelRun(tx, c)
	case *FailRun:
		return p.failRun(tx, c)
	case *PutDataset:
		return p.putDataset(tx, c)
	case *RegisterModel:
		return p.registerModel(tx, c)
	case *SetAlias:
		return p.setAlias(tx, c)
	case *SubmitExperiment:
		return p.submitExperiment(tx, c)
	case *DeleteRun:
		return p.deleteRun(tx, c)
	case *SetTags:
		return p.setTags(tx, c)
	case *RetryRun:
		return p.retryRun(tx, c)
	case *AddReplicas:
		return p.addReplicas(tx, c)
	}
	return nil, fmt.Errorf("apply %T: %w", cmd, ErrUnknownCommand)
}

func rejected(rej *Rejection) *Result { return &Result{Error: rej} }

// checkPipeline validates a PutPipeline before anything is written.
func checkPipeline(c *PutPipeline) *Rejection {
	if rej := validKey("pipeline name", c.Name, maxNameLen); rej != nil {
		return rej
	}
	switch c.Format {
	case "", "yaml", "json":
	default:
		return reject(CodeInvalid, "pipeline format %q: want yaml or json", c.Format)
	}
	if c.Source == "" {
		return reject(CodeInvalid, "pipeline %s: source is empty", c.Name)
	}
	return nil
}

func (p processor) putPipeline(tx *bbolt.Tx, c *PutPipeline) (*Result, error) {
	if rej := checkPipeline(c); rej != nil {
		return rejected(rej), nil
	}
	version, err := storePipeline(tx, c)
	if err != nil {
		return nil, err
	}
	return &Result{Version: version}, nil
}

// storePipeline stores c as the pipeline's next version unless the latest
// version has the same digest, and returns the version that holds c.
func storePipeline(tx *bbolt.Tx, c *PutPipeline) (int, error) {
	sum := sha256.Sum256([]byte(c.Source))
	digest := hex.EncodeToString(sum[:])
	head, err := loadHead(tx, c.Name)
	if err != nil {
		return 0, err
	}
	if head == nil {
		head = &pipelineHead{Name: c.Name}
	} else if head.Digest == digest {
		return head.LatestVersion, nil
	}
	format := c.Format
	if format == "" {
		format = "yaml"
	}
	v := PipelineVersion{
		Name: c.Name, Version: head.LatestVersion + 1, Description: c.Description,
		Format: format, Source: c.Source, Digest: digest, CreatedAt: c.At,
	}
	if err := putJSON(tx.Bucket(bucketVersions), versionKey(v.Name, v.Version), &v); err != nil {
		return 0, err
	}
	head.LatestVersion, head.Digest, head.Description, head.UpdatedAt = v.Version, digest, v.Description, v.CreatedAt
	if err := putJSON(tx.Bucket(bucketPipelines), []byte(c.Name), head); err != nil {
		return 0, err
	}
	return v.Version, nil
}

func (p processor) submitRun(tx *bbolt.Tx, c *SubmitRun) (*Result, error) {
	run := c.Run
	if run == nil {
		return rejected(reject(CodeInvalid, "submit run: the run is missing")), nil
	}
	if rej := validKey("run id", run.ID, maxRunIDLen); rej != nil {
		return rejected(rej), nil
	}
	if tx.Bucket(bucketRuns).Get([]byte(run.ID)) != nil {
		return rejected(reject(CodeConflict, "run %s already exists", run.ID)), nil
	}
	if run.Status != dag.RunPending {
		return rejected(reject(CodeInvalid, "run %s: a new run must be pending, not %q", run.ID, run.Status)), nil
	}
	if len(run.Tasks) == 0 {
		return rejected(reject(CodeInvalid, "run %s has no tasks", run.ID)), nil
	}
	if c.Pipeline != nil {
		if rej := checkPipeline(c.Pipeline); rej != nil {
			return rejected(rej), nil
		}
		if run.Pipeline != "" && run.Pipeline != c.Pipeline.Name {
			return rejected(reject(CodeInvalid, "run %s is of pipeline %s but carries the spec of %s",
				run.ID, run.Pipeline, c.Pipeline.Name)), nil
		}
		version, err := storePipeline(tx, c.Pipeline)
		if err != nil {
			return nil, err
		}
		run.Pipeline, run.Version = c.Pipeline.Name, version
	} else {
		if rej := validKey("pipeline name", run.Pipeline, maxNameLen); rej != nil {
			return rejected(rej), nil
		}
		head, err := loadHead(tx, run.Pipeline)
		if err != nil {
			return nil, err
		}
		if head == nil {
			return rejected(reject(CodeNotFound, "pipeline %s not found", run.Pipeline)), nil
		}
		if run.Version == 0 {
			run.Version = head.LatestVersion
		}
		if run.Version < 0 || run.Version > head.LatestVersion {
			return rejected(reject(CodeNotFound, "pipeline %s has no version %d", run.Pipeline, run.Version)), nil
		}
	}
	head, err := loadHead(tx, run.Pipeline)
	if err != nil {
		return nil, err
	}
	head.Runs++
	if err := putJSON(tx.Bucket(bucketPipelines), []byte(run.Pipeline), head); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketPipelineRuns).Put(pipelineRunKey(run.Pipeline, run.ID), nil); err != nil {
		return nil, err
	}
	if err := saveNewRun(tx, run); err != nil {
		return nil, err
	}
	p.live.update(run)
	return &Result{RunID: run.ID, Version: run.Version}, nil
}

// runSet finds each run a command touches once (in memory when active,
// else in the state file) and writes back the tasks that changed, in the
// order the runs were first touched.
type runSet struct {
	tx    *bbolt.Tx
	live  *liveRuns
	runs  map[string]*dag.Run
	dirty []*dag.Run
}

func (p processor) newRunSet(tx *bbolt.Tx) *runSet {
	return &runSet{tx: tx, live: p.live, runs: map[string]*dag.Run{}}
}

// get returns the run, or nil with a not_found rejection.
func (s *runSet) get(id string) (*dag.Run, *Rejection, error) {
	r, seen := s.runs[id]
	if !seen {
		if rej := validKey("run id", id, maxRunIDLen); rej != nil {
			return nil, rej, nil
		}
		if r = s.live.get(id); r == nil {
			var err error
			if r, err = loadRun(s.tx, id); err != nil {
				return nil, nil, err
			}
		}
		s.runs[id] = r
	}
	if r == nil {
		return nil, reject(CodeNotFound, "run %s not found", id), nil
	}
	return r, nil, nil
}

func (s *runSet) changed(r *dag.Run) {
	for _, d := range s.dirty {
		if d == r {
			return
		}
	}
	s.dirty = append(s.dirty, r)
}

// save writes the changed tasks and headers, and brings the live copies
// up to date.
func (s *runSet) save() error {
	for _, r := range s.dirty {
		if err := saveRun(s.tx, r, r.TakeChanged()); err != nil {
			return err
		}
		s.live.update(r)
	}
	s.dirty = s.dirty[:0]
	return nil
}

// place assigns ready tasks as pl asks, after the command's items were
// saved, and records what it placed in res.
func (s *runSet) place(pl *Placement, at time.Time, res *Result) error {
	if pl == nil || len(pl.Nodes) == 0 || len(pl.Nodes) > maxPlacementNodes {
		return nil
	}
	for _, a := range Plan(s.live.views(), pl.Nodes, at) {
		run, rej, err := s.get(a.Run)
		if err != nil {
			return err
		}
		if rej != nil {
			continue
		}
		if _, err := run.Assign(a.Task, a.Node, at); err != nil {
			continue // Plan only offers assignable tasks; be safe anyway
		}
		s.changed(run)
		res.Placed = append(res.Placed, a)
	}
	return s.save()
}

func (p processor) assignTasks(tx *bbolt.Tx, c *AssignTasks) (*Result, error) {
	set := p.newRunSet(tx)
	res := &Result{Items: make([]ItemResult, len(c.Assignments))}
	for i, a := range c.Assignments {
		item := &res.Items[i]
		if a.Task == "" || a.Node == "" {
			item.Error = reject(CodeInvalid, "assignment %d: task and node are required", i)
			continue
		}
		run, rej, err := set.get(a.Run)
		if err != nil {
			return nil, err
		}
		if rej != nil {
			item.Error = rej
			continue
		}
		attempt, err := run.Assign(a.Task, a.Node, c.At)
		if err != nil {
			item.Error = rejectionFor(fmt.Errorf("assign %s/%s: %w", a.Run, a.Task, err))
			continue
		}
		item.Attempt = attempt
		set.changed(run)
	}
	if err := set.save(); err != nil {
		return nil, err
	}
	return res, set.place(c.Place, c.At, res)
}

func (p processor) reportTasks(tx *bbolt.Tx, c *ReportTasks) (*Result, error) {
	set := p.newRunSet(tx)
	res := &Result{Items: make([]ItemResult, len(c.Reports))}
	for i := range c.Reports {
		rep := &c.Reports[i]
		item := &res.Items[i]
		item.Attempt = rep.Attempt
		if rej := checkReport(i, rep); rej != nil {
			item.Error = rej
			continue
		}
		run, rej, err := set.get(rep.Run)
		if err != nil {
			return nil, err
		}
		if rej != nil {
			item.Error = rej
			continue
		}
		t := run.Task(rep.Task)
		if t == nil {
			item.Error = reject(CodeNotFound, "run %s has no task %s", rep.Run, rep.Task)
			continue
		}
		if t.Node != rep.Node {
			item.Error = reject(CodeStale, "report from node %s for %s/%s attempt %d, which is assigned to %q",
				rep.Node, rep.Run, rep.Task, rep.Attempt, t.Node)
			continue
		}
		switch rep.Kind {
		case ReportStarted:
			err = run.Start(rep.Task, rep.Attempt, c.At)
		case ReportFinished:
			result := *rep.Result
			result.Outputs = heldBy(result.Outputs, rep.Node)
			err = run.Finish(rep.Task, rep.Attempt, result, c.At)
		case ReportLost:
			err = run.Lost(rep.Task, rep.Attempt, rep.Reason, c.At)
		}
		if err != nil {
			item.Error = rejectionFor(fmt.Errorf("%s %s/%s attempt %d: %w", rep.Kind, rep.Run, rep.Task, rep.Attempt, err))
			continue
		}
		set.changed(run)
	}
	if err := set.save(); err != nil {
		return nil, err
	}
	return res, set.place(c.Place, c.At, res)
}

func checkReport(i int, rep *TaskReport) *Rejection {
	switch {
	case rep.Task == "" || rep.Node == "":
		return reject(CodeInvalid, "report %d: task and node are required", i)
	case rep.Attempt < 1:
		return reject(CodeInvalid, "report %d: attempt must be 1 or more", i)
	}
	switch rep.Kind {
	case ReportStarted, ReportLost:
	case ReportFinished:
		if rep.Result == nil {
			return reject(CodeInvalid, "report %d: a finished attempt needs a result", i)
		}
	default:
		return reject(CodeInvalid, "report %d: kind %q: want started, finished or lost", i, rep.Kind)
	}
	return nil
}

// heldBy fills in the node of outputs that name none, without touching the
// reported slice.
func heldBy(outs []dag.OutputMeta, node string) []dag.OutputMeta {
	if len(outs) == 0 {
		return outs
	}
	cp := append([]dag.OutputMeta(nil), outs...)
	for i := range cp {
		if cp[i].Node == "" {
			cp[i].Node = node
		}
	}
	return cp
}

func (p processor) cancelRun(tx *bbolt.Tx, c *CancelRun) (*Result, error) {
	set := p.newRunSet(tx)
	run, rej, err := set.get(c.RunID)
	if err != nil || rej != nil {
		return rejected(rej), err
	}
	if _, err := run.Cancel(c.Reason, c.At); err != nil {
		return rejected(rejectionFor(fmt.Errorf("cancel run %s: %w", c.RunID, err))), nil
	}
	set.changed(run)
	return &Result{RunID: run.ID, Version: run.Version}, set.save()
}

func (p processor) failRun(tx *bbolt.Tx, c *FailRun) (*Result, error) {
	set := p.newRunSet(tx)
	run, rej, err := set.get(c.RunID)
	if err != nil || rej != nil {
		return rejected(rej), err
	}
	if run.Status.Terminal() {
		return rejected(reject(CodeConflict, "fail run %s: %v", c.RunID, dag.ErrRunTerminal)), nil
	}
	run.Fail(c.Reason, c.At)
	set.changed(run)
	return &Result{RunID: run.ID, Version: run.Version}, set.save()
}

// rejectionFor maps the state machine's errors to rejection codes.
func rejectionFor(err error) *Rejection {
	code := CodeInvalid
	switch {
	case errors.Is(err, dag.ErrUnknownTask):
		code = CodeNotFound
	case errors.Is(err, dag.ErrStaleAttempt):
		code = CodeStale
	case errors.Is(err, dag.ErrBadTransition), errors.Is(err, dag.ErrRunTerminal):
		code = CodeConflict
	}
	return &Rejection{Code: code, Message: err.Error()}
}
