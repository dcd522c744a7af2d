package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
)

var runStatuses = map[dag.RunStatus]bool{
	dag.RunPending: true, dag.RunRunning: true, dag.RunSucceeded: true, dag.RunFailed: true, dag.RunCancelled: true,
}

func (s *Server) listRuns(c *gin.Context) {
	limit, err := intQuery(c, "limit", 50)
	if err != nil {
		fail(c, err)
		return
	}
	status := dag.RunStatus(c.Query("status"))
	if status != "" && !runStatuses[status] {
		fail(c, fmt.Errorf("%w: status must be one of pending, running, succeeded, failed, cancelled", ErrBadRequest))
		return
	}
	runs, next, err := s.backend.Runs(consensus.RunQuery{
		Pipeline: c.Query("pipeline"), Status: status, Limit: limit, Cursor: c.Query("cursor"), Tag: c.Query("tag"),
	})
	if err != nil {
		fail(c, err)
		return
	}
	if runs == nil {
		runs = []*dag.Run{}
	}
	if c.Query("summary") == "true" {
		c.JSON(http.StatusOK, gin.H{"runs": summarize(runs), "next_cursor": next})
		return
	}
	for _, r := range runs {
		hideInline(r)
		for i := range r.Tasks {
			for j := range r.Tasks[i].Outputs {
				r.Tasks[i].Outputs[j].Preview = nil // GET /runs/{id} has them
				r.Tasks[i].Outputs[j].Stats = nil
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"runs": runs, "next_cursor": next})
}

// runSummary is a run as GET /runs?summary=true lists it: its own fields
// and how many of its tasks are in each state, without the tasks, so that
// a list of big runs stays small.
type runSummary struct {
	*dag.Run
	Tasks      []dag.TaskRun          `json:"tasks,omitempty"`
	TaskCount  int                    `json:"task_count"`
	TaskCounts map[dag.TaskStatus]int `json:"task_counts"`
}

func summarize(runs []*dag.Run) []runSummary {
	out := make([]runSummary, len(runs))
	for i, r := range runs {
		counts := map[dag.TaskStatus]int{}
		for j := range r.Tasks {
			counts[r.Tasks[j].Status]++
		}
		out[i] = runSummary{Run: r, TaskCount: len(r.Tasks), TaskCounts: counts}
	}
	return out
}

func (s *Server) getRun(c *gin.Context) {
	run, err := s.backend.Run(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, hideInline(run))
}

// hideInline drops the bytes of outputs kept inline from a run about to be
// sent: the outputs route serves them, and they would bloat every run. The
// run must be the caller's own copy.
func hideInline(r *dag.Run) *dag.Run {
	for i := range r.Tasks {
		for j := range r.Tasks[i].Outputs {
			r.Tasks[i].Outputs[j].Inline = nil
		}
	}
	return r
}

func (s *Server) cancelRun(c *gin.Context) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := s.decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	id := c.Param("id")
	s.changeRun(c, id, s.backend.CancelRun(c.Request.Context(), id, req.Reason))
}

// retryRun runs a failed or cancelled run again from where it failed and
// returns the reopened run.
func (s *Server) retryRun(c *gin.Context) {
	id := c.Param("id")
	s.changeRun(c, id, s.backend.RetryRun(c.Request.Context(), id))
}

// changeRun answers a change to run id: the error it failed with, or the
// run as it is now.
func (s *Server) changeRun(c *gin.Context, id string, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	run, err := s.backend.Run(id)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, hideInline(run))
}

// sseKeepAlive is how often an idle event stream sends a comment so
// proxies keep it open.
const sseKeepAlive = 15 * time.Second

// runEvents streams the run as server-sent events: a "run" event with the
// whole run each time it changes, then "end" once it is terminal.
func (s *Server) runEvents(c *gin.Context) {
	id := c.Param("id")
	run, err := s.backend.Run(id)
	if err != nil {
		fail(c, err)
		return
	}
	changes, unsubscribe := s.backend.Subscribe()
	defer unsubscribe()

	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	var last []byte
	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	for {
		body, err := json.Marshal(hideInline(run))
		if err != nil {
			return
		}
		if !bytes.Equal(body, last) {
			last = body
			if _, err := fmt.Fprintf(w, "event: run\ndata: %s\n\n", body); err != nil {
				return
			}
			w.Flush()
		}
		if run.Status.Terminal() && !run.HasActiveTask() {
			fmt.Fprintf(w, "event: end\ndata: {\"status\":%q}\n\n", run.Status)
			w.Flush()
			return
		}
		select {
		case <-c.Request.Context().Done():
			return
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			w.Flush()
		case <-changes:
		}
		if run, err = s.backend.Run(id); err != nil {
			return
		}
	}
}

// deleteRun deletes a finished run for good: its record, outputs, logs
// and artifacts, on every node.
func (s *Server) deleteRun(c *gin.Context) {
	if err := s.backend.DeleteRun(c.Request.Context(), c.Param("id")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// setTags sets and removes a run's tags: {"set": {"k": "v"}, "remove": ["k"]}.
func (s *Server) setTags(c *gin.Context) {
	var req struct {
		Set    map[string]string `json:"set"`
		Remove []string          `json:"remove"`
	}
	if err := s.decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.backend.SetTags(c.Request.Context(), c.Param("id"), req.Set, req.Remove); err != nil {
		fail(c, err)
		return
	}
	run, err := s.backend.Run(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"run_id": run.ID, "tags": run.Tags})
}
