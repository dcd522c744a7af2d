package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// logPoll is how often a followed log is re-read while its task runs.
const logPoll = 200 * time.Millisecond

// taskLogs serves a task attempt's log as text: the current attempt unless
// ?attempt=N; with ?follow=true it streams until the attempt ends.
func (s *Server) taskLogs(c *gin.Context) {
	runID, name := c.Param("id"), c.Param("task")
	run, err := s.backend.Run(runID)
	if err != nil {
		fail(c, err)
		return
	}
	task := run.Task(name)
	if task == nil {
		fail(c, fmt.Errorf("%w: run %s has no task %q", errNotFound, runID, name))
		return
	}
	attempt, err := intQuery(c, "attempt", task.Attempt)
	if err != nil {
		fail(c, err)
		return
	}
	if attempt == 0 {
		fail(c, fmt.Errorf("%w: task %s has not started yet (status %s)", errNotFound, name, task.Status))
		return
	}
	follow := c.Query("follow") == "true" || c.Query("follow") == "1"
	path, err := s.backend.LogFile(runID, name, attempt)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Content-Type", "text/plain; charset=utf-8")
	c.Header("X-Forged-Attempt", strconv.Itoa(attempt))
	if !follow {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			// A short log of a finished attempt may live only in the
			// state's tail (or the attempt ran elsewhere); a running one
			// may not have written its file yet.
			c.Status(http.StatusOK)
			io.WriteString(c.Writer, stateLog(task, attempt))
			return
		}
		if err != nil {
			fail(c, err)
			return
		}
		defer f.Close()
		c.Status(http.StatusOK)
		io.Copy(c.Writer, f)
		return
	}
	s.followLog(c, runID, name, attempt, path)
}

func (s *Server) followLog(c *gin.Context, runID, name string, attempt int, path string) {
	changes, unsubscribe := s.backend.Subscribe()
	defer unsubscribe()
	c.Status(http.StatusOK)
	c.Writer.Flush()
	tick := time.NewTicker(logPoll)
	defer tick.Stop()
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		if f == nil {
			f, _ = os.Open(path)
		}
		if f != nil {
			if _, err := io.Copy(c.Writer, f); err != nil {
				return
			}
			c.Writer.Flush()
		}
		if attemptDone(s.backend, runID, name, attempt) {
			if f == nil {
				f, _ = os.Open(path)
			}
			if f != nil {
				io.Copy(c.Writer, f)
			} else if run, err := s.backend.Run(runID); err == nil && run.Task(name) != nil {
				io.WriteString(c.Writer, stateLog(run.Task(name), attempt))
			}
			c.Writer.Flush()
			return
		}
		select {
		case <-c.Request.Context().Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// stateLog is the log of an attempt that has no file on this node: the
// tail the state keeps of the task's current attempt once it has ended
// (the whole log when it was short), else nothing.
func stateLog(t *dag.TaskRun, attempt int) string {
	if t.Attempt != attempt || t.Status == dag.TaskQueued || t.Status == dag.TaskRunning {
		return ""
	}
	return t.LogTail
}

func attemptDone(b Backend, runID, name string, attempt int) bool {
	run, err := b.Run(runID)
	if err != nil {
		return true
	}
	t := run.Task(name)
	if t == nil || t.Attempt != attempt {
		return true
	}
	return t.Status != dag.TaskQueued && t.Status != dag.TaskRunning
}

// taskOutput streams a task output as an Arrow IPC stream, CSV or NDJSON,
// chosen by ?format= or the Accept header, with ?limit= rows at most.
func (s *Server) taskOutput(c *gin.Context) {
	ref := dataplane.OutputRef{Run: c.Param("id"), Task: c.Param("task"), Output: c.Param("output")}
	format, err := outputFormat(c)
	if err != nil {
		fail(c, err)
		return
	}
	limit, err := intQuery(c, "limit", 0)
	if err != nil {
		fail(c, err)
		return
	}
	run, err := s.backend.Run(ref.Run)
	if err != nil {
		fail(c, err)
		return
	}
	task := run.Task(ref.Task)
	if task == nil {
		fail(c, fmt.Errorf("%w: run %s has no task %q", errNotFound, ref.Run, ref.Task))
		return
	}
	if task.Status != dag.TaskSucceeded {
		c.AbortWithStatusJSON(http.StatusConflict, ErrorBody{Error: ErrorDetail{
			Code:    "not_ready",
			Message: fmt.Sprintf("task %s has no outputs yet: it is %s", ref.Task, task.Status),
		}})
		return
	}
	declared := false
	var names []string
	for _, o := range task.Outputs {
		names = append(names, o.Name)
		declared = declared || o.Name == ref.Output
	}
	if !declared {
		fail(c, fmt.Errorf("%w: task %s has no output %q (it has %s)", errNotFound, ref.Task, ref.Output, strings.Join(names, ", ")))
		return
	}
	f, err := s.backend.OpenOutput(c.Request.Context(), ref)
	if err != nil {
		fail(c, err)
		return
	}
	defer f.Close()
	rr, err := f.Reader()
	if err != nil {
		fail(c, err)
		return
	}
	defer rr.Release()
	c.Header("Content-Type", format.ContentType())
	c.Header("X-Forged-Rows", strconv.FormatInt(f.Rows(), 10))
	c.Status(http.StatusOK)
	if _, err := dataplane.Encode(c.Writer, format, rr, int64(limit)); err != nil {
		// The status is sent; cutting the stream tells the client.
		s.log.Warn("output stream failed", "output", ref.String(), "err", err)
		panic(http.ErrAbortHandler)
	}
}

// outputFormat picks the format from ?format= or else the Accept header.
func outputFormat(c *gin.Context) (dataplane.Format, error) {
	if q := c.Query("format"); q != "" {
		f, err := dataplane.ParseFormat(q)
		if err != nil {
			return "", fmt.Errorf("%w: format must be arrow, csv or jsonl", ErrBadRequest)
		}
		return f, nil
	}
	accept := c.GetHeader("Accept")
	if accept == "" || strings.Contains(accept, "*/*") {
		return dataplane.FormatFromAccept(accept), nil
	}
	for _, known := range []string{"arrow", "csv", "json"} {
		if strings.Contains(accept, known) {
			return dataplane.FormatFromAccept(accept), nil
		}
	}
	return "", fmt.Errorf("%w: Accept %q: this route writes application/vnd.apache.arrow.stream, text/csv or application/x-ndjson", ErrNotAcceptable, accept)
}
