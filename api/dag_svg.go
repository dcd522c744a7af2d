package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"

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
	p, v, err := s.backend.PipelineGraph(c.Param("name"), version)
	if err != nil {
		fail(c, err)
		return
	}
	s.writeSVG(c, p, v, nil)
}

// runSVG draws a run's pipeline with each task coloured, and marked, by
// its state.
func (s *Server) runSVG(c *gin.Context) {
	run, err := s.backend.Run(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	p, _, err := s.backend.PipelineGraph(run.Pipeline, run.Version)
	if err != nil {
		fail(c, err)
		return
	}
	status := make(map[string]dag.TaskStatus, len(run.Tasks))
	for _, t := range run.Tasks {
		status[t.Name] = t.Status
	}
	s.writeSVG(c, p, run.Version, status)
}

func (s *Server) writeSVG(c *gin.Context, p *dag.Pipeline, version int, status map[string]dag.TaskStatus) {
	layout, err := s.layouts.get(fmt.Sprintf("%s/%d", p.Name, version), func() ([]byte, error) {
		// Not the request's context: other requests may wait for it.
		return viz.Layout(context.Background(), p)
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, "image/svg+xml", viz.Mark(layout, status))
}

// layoutCache keeps pipeline drawings per version: laying out a large
// pipeline takes seconds, and a version never changes.
type layoutCache struct {
	mu      sync.Mutex
	entries map[string]*layoutEntry
}

type layoutEntry struct {
	once sync.Once
	svg  []byte
	err  error
}

// maxLayouts bounds the drawings kept; the cache starts afresh when full.
const maxLayouts = 64

// get returns the drawing of key, laying it out once however many
// requests ask at the same time.
func (l *layoutCache) get(key string, layout func() ([]byte, error)) ([]byte, error) {
	l.mu.Lock()
	if l.entries == nil || len(l.entries) >= maxLayouts {
		l.entries = map[string]*layoutEntry{}
	}
	e := l.entries[key]
	if e == nil {
		e = &layoutEntry{}
		l.entries[key] = e
	}
	l.mu.Unlock()
	e.once.Do(func() { e.svg, e.err = layout() })
	if e.err != nil {
		l.mu.Lock()
		if l.entries[key] == e {
			delete(l.entries, key) // the next request tries again
		}
		l.mu.Unlock()
	}
	return e.svg, e.err
}
