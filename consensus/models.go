package consensus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/bbolt"

	"github.com/forged-dev/forged/dag"
)

// ModelSource says where a model version came from: the task output
// that produced it, or an upload.
type ModelSource struct {
	// Run, Task and Output name the producing task's output.
	Run    string `json:"run,omitempty"`
	Task   string `json:"task,omitempty"`
	Output string `json:"output,omitempty"`
	// Uploaded is set for a file registered by upload rather than by a
	// pipeline.
	Uploaded bool `json:"uploaded,omitempty"`
}

// RegisterModel records a new version of a named model whose file a node
// already stored (and copied) as the output Output.Name of task Name in
// the run "models": the version is the next one.
type RegisterModel struct {
	Name   string      `json:"name"`
	Source ModelSource `json:"source"`
	// Output is the stored model output (a one-row model table): its
	// Name, Node and Replicas, or its bytes when inline.
	Output dag.OutputMeta `json:"output"`
	Format string         `json:"format"`
	// Signature is the model's input signature and output kind, as JSON
	// (see package model); the state keeps it opaque.
	Signature json.RawMessage `json:"signature"`
	SHA256    string          `json:"sha256"`
	// Metrics are the producing task's metrics, if any.
	Metrics     map[string]any `json:"metrics,omitempty"`
	Description string         `json:"description,omitempty"`
	At          time.Time      `json:"at"`
}

// SetAlias points an alias of a model (production, staging, any name) at
// one of its versions, or removes it when Version is 0.
type SetAlias struct {
	Model   string    `json:"model"`
	Alias   string    `json:"alias"`
	Version int       `json:"version"`
	At      time.Time `json:"at"`
}

// Type implements Command.
func (*RegisterModel) Type() CommandType { return TypeRegisterModel }

// Type implements Command.
func (*SetAlias) Type() CommandType { return TypeSetAlias }

// ModelVersion is one registered version of a model. Versions are
// immutable.
type ModelVersion struct {
	Model       string          `json:"model"`
	Version     int             `json:"version"`
	Format      string          `json:"format"`
	Signature   json.RawMessage `json:"signature"`
	Source      ModelSource     `json:"source"`
	Output      dag.OutputMeta  `json:"output"`
	SHA256      string          `json:"sha256"`
	Metrics     map[string]any  `json:"metrics,omitempty"`
	Description string          `json:"description,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
}

// AliasMove is one change of an alias, kept for ever.
type AliasMove struct {
	Alias string `json:"alias"`
	// From is the version the alias pointed at before (0: none), To the
	// one after (0: removed).
	From int       `json:"from"`
	To   int       `json:"to"`
	At   time.Time `json:"at"`
}

// ModelAliases are a model's aliases and the history of their moves.
type ModelAliases struct {
	Aliases map[string]int `json:"aliases"`
	History []AliasMove    `json:"history"`
}

// maxAliasHistory bounds the moves kept per model; the oldest go first.
const maxAliasHistory = 1000

func (p processor) registerModel(tx *bbolt.Tx, c *RegisterModel) (*Result, error) {
	if rej := validKey("model name", c.Name, maxNameLen); rej != nil {
		return rejected(rej), nil
	}
	if c.Output.Name == "" || c.Output.Node == "" && len(c.Output.Inline) == 0 {
		return rejected(reject(CodeInvalid, "model %s: the stored model output and its node are required", c.Name)), nil
	}
	if c.Format == "" || c.SHA256 == "" || !bytes.HasPrefix(bytes.TrimSpace(c.Signature), []byte("{")) || !json.Valid(c.Signature) {
		return rejected(reject(CodeInvalid, "model %s: format, checksum and signature are required", c.Name)), nil
	}
	latest, err := latestModel(tx, c.Name)
	if err != nil {
		return nil, err
	}
	v := ModelVersion{Model: c.Name, Version: 1, Format: c.Format, Signature: c.Signature, Source: c.Source,
		Output: c.Output, SHA256: c.SHA256, Metrics: c.Metrics, Description: c.Description, CreatedAt: c.At}
	if latest != nil {
		v.Version = latest.Version + 1
	}
	if err := putJSON(tx.Bucket(bucketModels), versionKey(c.Name, v.Version), &v); err != nil {
		return nil, err
	}
	return &Result{Version: v.Version}, nil
}

func (p processor) setAlias(tx *bbolt.Tx, c *SetAlias) (*Result, error) {
	if rej := validKey("alias", c.Alias, maxNameLen); rej != nil {
		return rejected(rej), nil
	}
	if isVersionAlias(c.Alias) {
		return rejected(reject(CodeInvalid, "alias %q looks like a version number; choose a name", c.Alias)), nil
	}
	latest, err := latestModel(tx, c.Model)
	if err != nil {
		return nil, err
	}
	if latest == nil {
		return rejected(reject(CodeNotFound, "model %s not found", c.Model)), nil
	}
	if c.Version < 0 || c.Version > latest.Version {
		return rejected(reject(CodeNotFound, "model %s has no version %d (latest %d)", c.Model, c.Version, latest.Version)), nil
	}
	b := tx.Bucket(bucketModelAliases)
	var a ModelAliases
	if _, err := getJSON(b, []byte(c.Model), &a); err != nil {
		return nil, err
	}
	if a.Aliases == nil {
		a.Aliases = map[string]int{}
	}
	from := a.Aliases[c.Alias]
	if from == c.Version {
		return &Result{Version: c.Version}, nil // already there: no move to record
	}
	if c.Version == 0 {
		delete(a.Aliases, c.Alias)
	} else {
		a.Aliases[c.Alias] = c.Version
	}
	a.History = append(a.History, AliasMove{Alias: c.Alias, From: from, To: c.Version, At: c.At})
	if len(a.History) > maxAliasHistory {
		a.History = a.History[len(a.History)-maxAliasHistory:]
	}
	if err := putJSON(b, []byte(c.Model), &a); err != nil {
		return nil, err
	}
	return &Result{Version: c.Version}, nil
}

// isVersionAlias reports whether s is all digits: such an alias would be
// confused with a version in name@version.
func isVersionAlias(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// latestModel returns the newest version of a model, or nil.
func latestModel(tx *bbolt.Tx, name string) (*ModelVersion, error) {
	prefix := append([]byte(name), 0)
	k := seekLast(tx.Bucket(bucketModels).Cursor(), prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	var v ModelVersion
	if _, err := getJSON(tx.Bucket(bucketModels), k, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ModelsGeneration changes whenever the local replica's model registry
// may have changed, so that a reader can cache what it resolved from it.
func (s *Store) ModelsGeneration() uint64 { return s.fsm.modelsGen.Load() }

// Model returns one version of a model from the local replica: version
// when it is positive, else the one alias points at, else the latest.
// The error wraps ErrNotFound when there is none.
func (s *Store) Model(name, alias string, version int) (*ModelVersion, error) {
	var out *ModelVersion
	err := s.fsm.view(func(tx *bbolt.Tx) error {
		if name == "" || bytes.IndexByte([]byte(name), 0) >= 0 {
			return fmt.Errorf("model %q: %w", name, ErrNotFound)
		}
		if alias != "" {
			var a ModelAliases
			if _, err := getJSON(tx.Bucket(bucketModelAliases), []byte(name), &a); err != nil {
				return err
			}
			v, ok := a.Aliases[alias]
			if !ok {
				return fmt.Errorf("model %s has no alias %q: %w", name, alias, ErrNotFound)
			}
			version = v
		}
		if version <= 0 {
			v, err := latestModel(tx, name)
			if err != nil {
				return err
			}
			if v == nil {
				return fmt.Errorf("model %s: %w", name, ErrNotFound)
			}
			out = v
			return nil
		}
		var v ModelVersion
		ok, err := getJSON(tx.Bucket(bucketModels), versionKey(name, version), &v)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("model %s has no version %d: %w", name, version, ErrNotFound)
		}
		out = &v
		return nil
	})
	return out, err
}

// ModelVersions lists a model's versions, oldest first, with its aliases;
// the error wraps ErrNotFound when the model has none.
func (s *Store) ModelVersions(name string) ([]ModelVersion, ModelAliases, error) {
	var out []ModelVersion
	var aliases ModelAliases
	err := s.fsm.view(func(tx *bbolt.Tx) error {
		prefix := append([]byte(name), 0)
		c := tx.Bucket(bucketModels).Cursor()
		for k, raw := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
			var v ModelVersion
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("decode model %q: %w", k, err)
			}
			out = append(out, v)
		}
		if len(out) == 0 {
			return fmt.Errorf("model %s: %w", name, ErrNotFound)
		}
		_, err := getJSON(tx.Bucket(bucketModelAliases), []byte(name), &aliases)
		return err
	})
	if aliases.Aliases == nil {
		aliases.Aliases = map[string]int{}
	}
	return out, aliases, err
}

// ModelSummary is one model in a listing.
type ModelSummary struct {
	Name     string         `json:"name"`
	Latest   ModelVersion   `json:"latest"`
	Versions int            `json:"versions"`
	Aliases  map[string]int `json:"aliases"`
}

// Models lists every model with its latest version and aliases, by name.
func (s *Store) Models() ([]ModelSummary, error) {
	byName := map[string]*ModelSummary{}
	err := s.fsm.view(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketModels).ForEach(func(k, raw []byte) error {
			var v ModelVersion
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("decode model %q: %w", k, err)
			}
			m := byName[v.Model]
			if m == nil {
				m = &ModelSummary{Name: v.Model, Aliases: map[string]int{}}
				byName[v.Model] = m
			}
			m.Versions++
			m.Latest = v // keys are in version order
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketModelAliases).ForEach(func(k, raw []byte) error {
			var a ModelAliases
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("decode aliases of %q: %w", k, err)
			}
			if m := byName[string(k)]; m != nil && a.Aliases != nil {
				m.Aliases = a.Aliases
			}
			return nil
		})
	})
	out := make([]ModelSummary, 0, len(byName))
	for _, m := range byName {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}
