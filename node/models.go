package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/forged-dev/forged/api"
	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
	"github.com/forged-dev/forged/model"
	"github.com/forged-dev/forged/ops"
)

// modelsRun is the output-store "run" that holds registered models: each
// version's file is one output of the task named after the model. Models
// live apart from the runs that trained them, so output retention never
// takes a registered model away.
const modelsRun = "models"

// modelReplicas is how many nodes hold a model's file (when it is too
// large to travel inline), the registering node included.
const modelReplicas = 2

// storeModel keeps a model file as the next version of name: stored in
// the models run, copied to another node, then recorded in the state.
func (n *Node) storeModel(ctx context.Context, name string, a ops.ModelArtifact, src consensus.ModelSource,
	metrics map[string]any, description string) (*consensus.ModelVersion, error) {
	ref := dataplane.OutputRef{Run: modelsRun, Task: name, Output: "m" + NewRunID(now())}
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("%w: model name: %v", api.ErrBadRequest, err)
	}
	sig, err := json.Marshal(a.Signature)
	if err != nil {
		return nil, err
	}
	rec, err := a.Record(n.mem())
	if err != nil {
		return nil, err
	}
	w, err := n.data.Create(ref, ops.ModelArtifactSchema)
	if err != nil {
		rec.Release()
		return nil, err
	}
	err = w.Write(rec)
	rec.Release()
	if err != nil {
		w.Abort()
		return nil, err
	}
	meta, err := w.Commit()
	if err != nil {
		return nil, err
	}
	meta.Node = n.cfg.Name
	meta.Preview, meta.Stats = nil, nil
	if len(meta.Inline) == 0 {
		meta.Replicas = n.copyToPeers(ctx, ref, ref.String(), modelReplicas-1, func(node string, err error) {
			n.log.Warn("copy a model file", "model", name, "to", node, "err", err)
		})
		if err := n.data.SyncOutputs([]dataplane.OutputRef{ref}); err != nil {
			return nil, err
		}
	}
	res, err := n.apply(ctx, &consensus.RegisterModel{Name: name, Source: src, Output: meta, Format: a.Format,
		Signature: sig, SHA256: a.SHA256, Metrics: metrics, Description: description, At: now()})
	if err != nil {
		return nil, err
	}
	return n.store.Model(name, "", res.Version)
}

// RegisterModelFile registers an uploaded model file (forged, xgboost or
// lightgbm format) as the next version of name. features name the
// model's inputs when the file does not.
func (n *Node) RegisterModelFile(ctx context.Context, name, format string, features []string, description string, body io.Reader) (*consensus.ModelVersion, error) {
	data, err := io.ReadAll(io.LimitReader(body, model.MaxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("receive the model file: %w", err)
	}
	a, err := checkedArtifact(format, data, features)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return n.storeModel(ctx, name, a, consensus.ModelSource{Uploaded: true}, nil, description)
}

// checkedArtifact loads a model file to check it and learn its signature.
func checkedArtifact(format string, data []byte, features []string) (ops.ModelArtifact, error) {
	var sig *model.Signature
	if len(features) > 0 {
		sig = &model.Signature{}
		for _, f := range features {
			sig.Features = append(sig.Features, model.Feature{Name: f, Type: "float"})
		}
	}
	m, err := model.Load(format, data, sig)
	if err != nil {
		return ops.ModelArtifact{}, err
	}
	return ops.NewModelArtifact(format, m.Signature(), data), nil
}

// registerTaskModel registers the model a task that just succeeded made:
// one of its outputs (a model table) or, for an exec task, a file it left
// in its artifact directory.
func (n *Node) registerTaskModel(ctx context.Context, runID string, task *dag.Task, outputs []dag.OutputMeta,
	artifactDir string, metrics map[string]any) (*consensus.ModelVersion, error) {
	r := task.Register
	src := consensus.ModelSource{Run: runID, Task: task.Name}
	var a ops.ModelArtifact
	if r.Artifact != "" {
		data, err := os.ReadFile(filepath.Join(artifactDir, filepath.FromSlash(r.Artifact)))
		if err != nil {
			return nil, fmt.Errorf("the task left no model at $FORGE_ARTIFACTS/%s: %w", r.Artifact, err)
		}
		if a, err = checkedArtifact(r.Format, data, r.Features); err != nil {
			return nil, err
		}
	} else {
		name := r.Output
		if name == "" {
			name = task.Outputs[0]
		}
		src.Output = name
		var meta *dag.OutputMeta
		for i := range outputs {
			if outputs[i].Name == name {
				meta = &outputs[i]
			}
		}
		if meta == nil {
			return nil, fmt.Errorf("the task has no output %s", name)
		}
		ref := dataplane.OutputRef{Run: runID, Task: task.Name, Output: name}
		f, err := n.openFromHolders(ctx, ref, *meta)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		rr, err := f.Reader()
		if err != nil {
			return nil, err
		}
		a, err = ops.ReadModelArtifact(rr)
		rr.Release()
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		if _, err := a.Load(); err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
	}
	return n.storeModel(ctx, r.Model, a, src, metrics, r.Description)
}

// Models lists every model with its latest version and aliases.
func (n *Node) Models() ([]consensus.ModelSummary, error) { return n.store.Models() }

// ModelVersions lists one model's versions, aliases and alias history.
func (n *Node) ModelVersions(name string) ([]consensus.ModelVersion, consensus.ModelAliases, error) {
	return n.store.ModelVersions(name)
}

// SetModelAlias points alias at a version of the model (0 removes it).
func (n *Node) SetModelAlias(ctx context.Context, name, alias string, version int) error {
	_, err := n.apply(ctx, &consensus.SetAlias{Model: name, Alias: alias, Version: version, At: now()})
	return err
}

// servedModel is a loaded model version, shared by the requests and
// batch scorings that use it.
type servedModel struct {
	name    string
	version int
	model   model.Model
	batch   *batcher
}

// modelCache holds the loaded model versions of this node.
type modelCache struct {
	mu     sync.Mutex
	models map[string]*servedModel // name/version
	// loading serialises loads of one version.
	loading keyLocks
	// resolved caches request names to loaded versions.
	resolved map[resolveKey]resolvedModel
}

// maxCachedModels bounds the versions a node keeps loaded; the cache is
// emptied when it is full (models load again on their next use).
const maxCachedModels = 64

// ResolveModel loads (or finds loaded) the version of a model a request
// names: version when positive, else alias, else the latest.
func (n *Node) ResolveModel(ctx context.Context, name, alias string, version int) (api.Predictor, error) {
	// A request names a model the same way many times: what it resolved
	// to holds until the registry changes.
	key := resolveKey{name, alias, version}
	gen := n.store.ModelsGeneration()
	c := &n.modelCache
	c.mu.Lock()
	if r, ok := c.resolved[key]; ok && r.gen == gen {
		c.mu.Unlock()
		return r.model, nil
	}
	c.mu.Unlock()
	v, err := n.store.Model(name, alias, version)
	if err != nil {
		return nil, err
	}
	m, err := n.loadModel(ctx, v)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.resolved == nil || len(c.resolved) >= 1024 {
		c.resolved = map[resolveKey]resolvedModel{}
	}
	c.resolved[key] = resolvedModel{gen: gen, model: m}
	c.mu.Unlock()
	return m, nil
}

// resolveKey is how a request names a model version.
type resolveKey struct {
	name, alias string
	version     int
}

// resolvedModel is what a resolveKey named at a registry generation.
type resolvedModel struct {
	gen   uint64
	model *servedModel
}

func (n *Node) loadModel(ctx context.Context, v *consensus.ModelVersion) (*servedModel, error) {
	key := v.Model + "/" + strconv.Itoa(v.Version)
	c := &n.modelCache
	c.mu.Lock()
	if m := c.models[key]; m != nil {
		c.mu.Unlock()
		return m, nil
	}
	c.mu.Unlock()
	unlock := c.loading.lock(key)
	defer unlock()
	c.mu.Lock()
	if m := c.models[key]; m != nil {
		c.mu.Unlock()
		return m, nil
	}
	c.mu.Unlock()

	ref := dataplane.OutputRef{Run: modelsRun, Task: v.Model, Output: v.Output.Name}
	f, err := n.openFromHolders(ctx, ref, v.Output)
	if err != nil {
		return nil, fmt.Errorf("model %s version %d: fetch its file: %w", v.Model, v.Version, err)
	}
	rr, err := f.Reader()
	if err != nil {
		f.Close()
		return nil, err
	}
	a, err := ops.ReadModelArtifact(rr)
	rr.Release()
	f.Close()
	if err == nil && a.SHA256 != v.SHA256 {
		err = fmt.Errorf("the stored file's checksum %s is not the registered %s", a.SHA256, v.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("model %s version %d: %w", v.Model, v.Version, err)
	}
	m, err := a.Load()
	if err != nil {
		return nil, fmt.Errorf("model %s version %d: %w", v.Model, v.Version, err)
	}
	sm := &servedModel{name: v.Model, version: v.Version, model: m}
	sm.batch = newBatcher(m, n.cfg.PredictBatch, n.metrics.modelObserver(v.Model))
	c.mu.Lock()
	if c.models == nil || len(c.models) >= maxCachedModels {
		for _, old := range c.models {
			old.batch.close()
		}
		c.models = map[string]*servedModel{}
	}
	c.models[key] = sm
	c.mu.Unlock()
	return sm, nil
}

// modelForTask loads a registered model for a task: NAME, NAME@ALIAS or
// NAME@VERSION.
func (n *Node) modelForTask(ctx context.Context, ref string) (model.Model, error) {
	name, alias, _ := strings.Cut(ref, "@")
	version := 0
	if v, err := strconv.Atoi(alias); err == nil && v > 0 {
		version, alias = v, ""
	}
	v, err := n.store.Model(name, alias, version)
	if err != nil {
		return nil, err
	}
	m, err := n.loadModel(ctx, v)
	if err != nil {
		return nil, err
	}
	return m.model, nil
}

// Name is the model's name.
func (m *servedModel) Name() string { return m.name }

// Version is the loaded version.
func (m *servedModel) Version() int { return m.version }

// Signature is the model's signature.
func (m *servedModel) Signature() model.Signature { return m.model.Signature() }

// Predict scores n rows of x, batched with other requests.
func (m *servedModel) Predict(x []float64, n int) ([]float64, error) {
	return m.batch.predict(x, n)
}

// Observe records one predict request in the node's metrics.
func (m *servedModel) Observe(d time.Duration, err error) { m.batch.obs.observe(d, err) }
