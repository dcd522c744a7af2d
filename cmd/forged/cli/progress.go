package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/forged-dev/forged/dag"
)

// progress prints a line for every task state change of a run, then a
// summary once the run ends.
type progress struct {
	w    io.Writer
	last map[string]string
}

func newProgress(w io.Writer) *progress { return &progress{w: w, last: map[string]string{}} }

var statusMarks = map[dag.TaskStatus]string{
	dag.TaskPending: " ", dag.TaskQueued: "…", dag.TaskRunning: "▶", dag.TaskRetrying: "↻",
	dag.TaskSucceeded: "✓", dag.TaskFailed: "✗", dag.TaskSkipped: "-", dag.TaskCancelled: "⊘",
}

// update prints what changed since the last state seen.
func (p *progress) update(r *dag.Run) {
	width := 4
	for _, t := range r.Tasks {
		width = max(width, len(t.Name))
	}
	for _, t := range r.Tasks {
		state := fmt.Sprintf("%s/%d", t.Status, t.Attempt)
		if p.last[t.Name] == state || t.Status == dag.TaskPending {
			p.last[t.Name] = state
			continue
		}
		p.last[t.Name] = state
		line := fmt.Sprintf("%s %s %-*s %-9s", time.Now().Format("15:04:05"), statusMarks[t.Status], width, t.Name, t.Status)
		switch t.Status {
		case dag.TaskRunning, dag.TaskQueued:
			if t.Attempt > 1 {
				line += fmt.Sprintf(" attempt %d", t.Attempt)
			}
		case dag.TaskSucceeded:
			line += " " + duration(t.StartedAt, t.FinishedAt)
			if rows := outputRows(&t); rows != "" {
				line += "  " + rows
			}
		case dag.TaskRetrying:
			line += " " + firstLine(t.Error)
			if t.NextAttemptAt != nil {
				line += fmt.Sprintf(" (next attempt in %s)", max(time.Until(*t.NextAttemptAt), 0).Round(time.Millisecond))
			}
		case dag.TaskFailed, dag.TaskSkipped, dag.TaskCancelled:
			line += " " + firstLine(t.Error)
		}
		fmt.Fprintln(p.w, strings.TrimRight(line, " "))
	}
}

// summary prints the run's final table.
func (p *progress) summary(r *dag.Run) {
	fmt.Fprintf(p.w, "\nrun %s of %s v%d: %s", r.ID, r.Pipeline, r.Version, r.Status)
	if r.StartedAt != nil && r.FinishedAt != nil {
		fmt.Fprintf(p.w, " in %s", r.FinishedAt.Sub(*r.StartedAt).Round(time.Millisecond))
	}
	fmt.Fprintln(p.w)
	printTasks(p.w, r)
}

// printTasks prints one row per task.
func printTasks(w io.Writer, r *dag.Run) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATUS\tATTEMPTS\tNODE\tDURATION\tOUTPUTS\tERROR")
	for _, t := range r.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", t.Name, t.Status, t.Attempt, t.MaxAttempts,
			dash(t.Node), duration(t.StartedAt, t.FinishedAt), dash(outputRows(&t)), dash(firstLine(t.Error)))
	}
	tw.Flush()
}

func outputRows(t *dag.TaskRun) string {
	var parts []string
	for _, o := range t.Outputs {
		parts = append(parts, fmt.Sprintf("%s: %d rows", o.Name, o.Rows))
	}
	return strings.Join(parts, ", ")
}

func duration(start, end *time.Time) string {
	if start == nil {
		return "-"
	}
	stop := time.Now()
	if end != nil {
		stop = *end
	}
	return stop.Sub(*start).Round(time.Millisecond).String()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
