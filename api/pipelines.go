package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

func (s *Server) listPipelines(c *gin.Context) {
	ps, err := s.backend.Pipelines()
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"pipelines": ps})
}

// putPipeline stores a pipeline spec sent as YAML or JSON.
func (s *Server) putPipeline(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		fail(c, err)
		return
	}
	pv, err := s.backend.PutPipeline(c.Request.Context(), c.Param("name"), body)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, pv)
}

// getPipeline returns the latest version (or ?version=N) and the list of
// versions.
func (s *Server) getPipeline(c *gin.Context) {
	version, err := intQuery(c, "version", 0)
	if err != nil {
		fail(c, err)
		return
	}
	name := c.Param("name")
	pv, err := s.backend.Pipeline(name, version)
	if err != nil {
		fail(c, err)
		return
	}
	versions, err := s.backend.PipelineVersions(name)
	if err != nil {
		fail(c, err)
		return
	}
	type versionInfo struct {
		Version   int    `json:"version"`
		Digest    string `json:"digest"`
		CreatedAt any    `json:"created_at"`
	}
	infos := make([]versionInfo, len(versions))
	for i, v := range versions {
		infos[i] = versionInfo{Version: v.Version, Digest: v.Digest, CreatedAt: v.CreatedAt}
	}
	// The parsed graph, for the UI to show a task's op, params and
	// command; a version that no longer parses still shows its source.
	resp := gin.H{"pipeline": pv, "versions": infos}
	if graph, _, err := s.backend.PipelineGraph(name, pv.Version); err == nil {
		resp["tasks"], resp["params"] = graph.Tasks, graph.Params
	} else {
		resp["parse_error"] = err.Error()
	}
	c.JSON(http.StatusOK, resp)
}

// submitRequest is the body of both submission routes.
type submitRequest struct {
	Spec    json.RawMessage `json:"spec,omitempty"`
	Version int             `json:"version,omitempty"`
	Params  map[string]any  `json:"params,omitempty"`
}

// submitStored starts a run of a stored pipeline.
func (s *Server) submitStored(c *gin.Context) {
	var req submitRequest
	if err := s.decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if len(req.Spec) > 0 {
		fail(c, fmt.Errorf("%w: this route runs a stored pipeline; send a spec to POST /api/v1/runs", ErrBadRequest))
		return
	}
	id, err := s.backend.SubmitStored(c.Request.Context(), c.Param("name"), req.Version, normalizeNumbers(req.Params))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"run_id": id})
}

// submitSpec stores an inline spec and starts a run of it. The spec is
// either a JSON object or a string of YAML or JSON.
func (s *Server) submitSpec(c *gin.Context) {
	var req submitRequest
	if err := s.decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if len(req.Spec) == 0 || string(req.Spec) == "null" {
		fail(c, fmt.Errorf("%w: the body needs a spec: {\"spec\": ..., \"params\": {...}}", ErrBadRequest))
		return
	}
	src := []byte(req.Spec)
	if req.Spec[0] == '"' {
		var text string
		if err := json.Unmarshal(req.Spec, &text); err != nil {
			fail(c, fmt.Errorf("%w: spec: %v", ErrBadRequest, err))
			return
		}
		src = []byte(text)
	}
	id, err := s.backend.SubmitSpec(c.Request.Context(), src, normalizeNumbers(req.Params))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"run_id": id})
}

// normalizeNumbers turns json.Number values into int64 or float64 so
// parameters keep their JSON types.
func normalizeNumbers(m map[string]any) map[string]any {
	for k, v := range m {
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				m[k] = i
			} else if f, err := x.Float64(); err == nil {
				m[k] = f
			} else {
				m[k] = x.String()
			}
		case map[string]any:
			normalizeNumbers(x)
		}
	}
	return m
}

func intQuery(c *gin.Context, name string, def int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer, got %q", ErrBadRequest, name, v)
	}
	return n, nil
}
