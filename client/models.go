package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/forged-dev/forged/dag"
)

// ModelVersion is one registered version of a model.
type ModelVersion struct {
	Model       string          `json:"model"`
	Version     int             `json:"version"`
	Format      string          `json:"format"`
	Signature   json.RawMessage `json:"signature"`
	Source      ModelSource     `json:"source"`
	SHA256      string          `json:"sha256"`
	Metrics     map[string]any  `json:"metrics,omitempty"`
	Description string          `json:"description,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
}

// ModelSource is where a model version came from.
type ModelSource struct {
	Run      string `json:"run,omitempty"`
	Task     string `json:"task,omitempty"`
	Output   string `json:"output,omitempty"`
	Uploaded bool   `json:"uploaded,omitempty"`
}

// ModelSummary is one model in a listing.
type ModelSummary struct {
	Name     string         `json:"name"`
	Latest   ModelVersion   `json:"latest"`
	Versions int            `json:"versions"`
	Aliases  map[string]int `json:"aliases"`
}

// AliasMove is one change of a model's alias.
type AliasMove struct {
	Alias string    `json:"alias"`
	From  int       `json:"from"`
	To    int       `json:"to"`
	At    time.Time `json:"at"`
}

// ModelDetail is a model with all its versions, aliases and alias moves.
type ModelDetail struct {
	Name         string         `json:"name"`
	Versions     []ModelVersion `json:"versions"`
	Aliases      map[string]int `json:"aliases"`
	AliasHistory []AliasMove    `json:"alias_history"`
}

// Models lists every model.
func (c *Client) Models(ctx context.Context) ([]ModelSummary, error) {
	var out struct {
		Models []ModelSummary `json:"models"`
	}
	return out.Models, c.getJSON(ctx, "/api/v1/models", &out)
}

// Model returns one model's versions and aliases.
func (c *Client) Model(ctx context.Context, name string) (*ModelDetail, error) {
	var out ModelDetail
	return &out, c.getJSON(ctx, "/api/v1/models/"+url.PathEscape(name), &out)
}

// RegisterModel uploads a model file (format forged, xgboost or
// lightgbm) as the model's next version; features name the inputs of a
// file that does not.
func (c *Client) RegisterModel(ctx context.Context, name, format string, features []string, description string, body io.Reader) (*ModelVersion, error) {
	q := url.Values{"format": {format}}
	if len(features) > 0 {
		q.Set("features", strings.Join(features, ","))
	}
	if description != "" {
		q.Set("description", description)
	}
	resp, err := c.do(ctx, http.MethodPost, "/api/v1/models/"+url.PathEscape(name)+"/versions?"+q.Encode(), body, "application/octet-stream", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v ModelVersion
	return &v, json.NewDecoder(resp.Body).Decode(&v)
}

// SetAlias points alias at a version of the model; version 0 removes it.
func (c *Client) SetAlias(ctx context.Context, name, alias string, version int) error {
	path := "/api/v1/models/" + url.PathEscape(name) + "/aliases/" + url.PathEscape(alias)
	if version == 0 {
		resp, err := c.do(ctx, http.MethodDelete, path, nil, "", nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	return c.sendJSON(ctx, http.MethodPut, path, map[string]int{"version": version}, nil)
}

// Prediction is the answer of a predict request.
type Prediction struct {
	Model   string `json:"model"`
	Version int    `json:"version"`
	// Predictions has one entry per row: a number, a list of class
	// probabilities, or a label.
	Predictions []any `json:"predictions"`
}

// Predict scores a JSON body ({"instances": ...} or {"records": ...})
// with the model ref names: NAME, NAME@ALIAS or NAME@VERSION. labels asks
// classifiers for labels instead of probabilities.
func (c *Client) Predict(ctx context.Context, ref string, body []byte, labels bool) (*Prediction, error) {
	path := "/api/v1/models/" + url.PathEscape(ref) + "/predict"
	if labels {
		path += "?output=label"
	}
	resp, err := c.do(ctx, http.MethodPost, path, bytes.NewReader(body), "application/json", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var p Prediction
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	return &p, dec.Decode(&p)
}

// ModelRef renders NAME@VERSION.
func ModelRef(name string, version int) string { return name + "@" + strconv.Itoa(version) }

// Compare sets runs side by side: params, metrics (with the best of
// each), outputs.
func (c *Client) Compare(ctx context.Context, runs []string) (*dag.Comparison, error) {
	var out dag.Comparison
	return &out, c.getJSON(ctx, "/api/v1/compare?runs="+url.QueryEscape(strings.Join(runs, ",")), &out)
}

// Experiment is a sweep's runs and their comparison.
type Experiment struct {
	Experiment struct {
		ID        string           `json:"id"`
		Pipeline  string           `json:"pipeline"`
		Version   int              `json:"version"`
		Sweep     map[string][]any `json:"sweep"`
		Runs      []string         `json:"runs"`
		CreatedAt time.Time        `json:"created_at"`
	} `json:"experiment"`
	Comparison dag.Comparison `json:"comparison"`
}

// SubmitSweep starts the grid of runs of spec over the sweep's values
// (params for the rest) as one experiment; it returns the experiment's
// and the runs' IDs.
func (c *Client) SubmitSweep(ctx context.Context, spec []byte, params map[string]any, sweep map[string][]any) (string, []string, error) {
	var out struct {
		ExperimentID string   `json:"experiment_id"`
		RunIDs       []string `json:"run_ids"`
	}
	err := c.sendJSON(ctx, http.MethodPost, "/api/v1/experiments", map[string]any{"spec": string(spec), "params": params, "sweep": sweep}, &out)
	return out.ExperimentID, out.RunIDs, err
}

// Experiment returns an experiment with its runs compared.
func (c *Client) Experiment(ctx context.Context, id string) (*Experiment, error) {
	var out Experiment
	return &out, c.getJSON(ctx, "/api/v1/experiments/"+url.PathEscape(id), &out)
}
