package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/dag"
)

// submitExperiment starts a sweep: {"spec": ... | "pipeline": NAME,
// "version": N, "params": {...}, "sweep": {"lr": [0.01, 0.1], ...}}.
func (s *Server) submitExperiment(c *gin.Context) {
	var req struct {
		Spec     json.RawMessage  `json:"spec"`
		Pipeline string           `json:"pipeline"`
		Version  int              `json:"version"`
		Params   map[string]any   `json:"params"`
		Sweep    map[string][]any `json:"sweep"`
	}
	if err := s.decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	hasSpec := len(req.Spec) > 0 && string(req.Spec) != "null"
	if hasSpec == (req.Pipeline != "") {
		fail(c, fmt.Errorf("%w: give a spec or the name of a stored pipeline", ErrBadRequest))
		return
	}
	var src []byte
	if hasSpec {
		src = []byte(req.Spec)
		if req.Spec[0] == '"' {
			var text string
			if err := json.Unmarshal(req.Spec, &text); err != nil {
				fail(c, fmt.Errorf("%w: spec: %v", ErrBadRequest, err))
				return
			}
			src = []byte(text)
		}
	}
	for k, vals := range req.Sweep {
		req.Sweep[k] = normalizeList(vals)
	}
	e, err := s.backend.SubmitSweep(c.Request.Context(), src, req.Pipeline, req.Version, normalizeNumbers(req.Params), req.Sweep)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"experiment_id": e.ID, "run_ids": e.Runs})
}

// getExperiment returns an experiment with its runs compared.
func (s *Server) getExperiment(c *gin.Context) {
	e, runs, err := s.backend.Experiment(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"experiment": e, "comparison": dag.Compare(runs)})
}

// normalizeList turns json.Number values into int64 or float64.
func normalizeList(vals []any) []any {
	m := make(map[string]any, len(vals))
	for i, v := range vals {
		m[fmt.Sprint(i)] = v
	}
	normalizeNumbers(m)
	for i := range vals {
		vals[i] = m[fmt.Sprint(i)]
	}
	return vals
}
