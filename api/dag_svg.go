package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/viz"
)

// pipelineSVG draws a stored pipeline (?version=N, default the latest).
func (s *Server) pipelineSVG(c *gin.Context) {
	version, err := intQuery(c, "version", 0)
	if err != nil {
		fail(c, err)
		return
	}
	p, err := s.backend.PipelineGraph(c.Param("name"), version)
	if err != nil {
		fail(c, err)
		return
	}
	s.writeSVG(c, p, nil)
}

// runSVG draws a run's pipeline with each task coloured, and marked, by
// its state.
func (s *Server) runSVG(c *gin.Context) {
	run, err := s.backend.Run(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	p, err := s.backend.PipelineGraph(run.Pipeline, run.Version)
	if err != nil {
		fail(c, err)
		return
	}
	status := make(map[string]dag.TaskStatus, len(run.Tasks))
	for _, t := range run.Tasks {
		status[t.Name] = t.Status
	}
	s.writeSVG(c, p, status)
}

func (s *Server) writeSVG(c *gin.Context, p *dag.Pipeline, status map[string]dag.TaskStatus) {
	svg, err := viz.SVG(c.Request.Context(), p, status)
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, "image/svg+xml", svg)
}
