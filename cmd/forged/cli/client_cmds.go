package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/spf13/cobra"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newSubmitCmd(g *globals) *cobra.Command {
	var params, sweeps, tags []string
	var wait bool
	cmd := &cobra.Command{
		Use:   "submit FILE",
		Short: "Submit a pipeline to a node and print the run id (--wait to follow it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, given, err := readSpec(args[0], params)
			if err != nil {
				return err
			}
			c := g.client()
			if len(sweeps) > 0 {
				return submitSweep(g, cmd, args[0], src, given, sweeps, wait)
			}
			tagSet, err := parseTags(tags)
			if err != nil {
				return err
			}
			id, err := c.Submit(ctx, src, given)
			if err == nil && len(tagSet) > 0 {
				err = c.SetTags(ctx, id, tagSet, nil)
			}
			if err != nil {
				var aerr *client.APIError
				if errors.As(err, &aerr) && len(aerr.FieldErrors()) > 0 {
					printSpecError(g, args[0], err)
					return &exitError{code: 1}
				}
				return err
			}
			if !wait {
				if g.json {
					return printJSON(g.stdout, map[string]string{"run_id": id})
				}
				fmt.Fprintln(g.stdout, id)
				return nil
			}
			out := g.stdout
			if g.json {
				out = g.stderr
			}
			fmt.Fprintf(out, "submitted run %s of %s to %s\n", id, args[0], c.BaseURL)
			p := newProgress(out)
			var last *dag.Run
			err = c.Watch(ctx, id, func(r *dag.Run) error {
				p.update(r)
				last = r
				return nil
			})
			if err != nil {
				return fmt.Errorf("follow run %s: %w", id, err)
			}
			if last, err = c.Run(ctx, id); err != nil {
				return err
			}
			p.summary(last)
			return finish(g, last)
		},
	}
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "pipeline parameter name=value (repeatable)")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow the run's progress until it ends; exit 1 unless it succeeded")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "tag the run key=value (repeatable)")
	cmd.Flags().StringArrayVar(&sweeps, "sweep", nil, "param=v1,v2,... : start one run per combination of the swept values, as one experiment (repeatable)")
	return cmd
}

func newStatusCmd(g *globals) *cobra.Command {
	var q client.RunQuery
	cmd := &cobra.Command{
		Use:   "status [RUN_ID]",
		Short: "List runs, or show one run with its tasks",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c := g.client()
			if len(args) == 1 {
				run, err := c.Run(ctx, args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(g.stdout, run)
				}
				fmt.Fprintf(g.stdout, "run:      %s\npipeline: %s v%d\nstatus:   %s\n", run.ID, run.Pipeline, run.Version, run.Status)
				if len(run.Params) > 0 {
					b, _ := json.Marshal(run.Params)
					fmt.Fprintf(g.stdout, "params:   %s\n", b)
				}
				fmt.Fprintf(g.stdout, "submitted: %s", run.SubmittedAt.Local().Format(time.DateTime))
				if run.StartedAt != nil {
					fmt.Fprintf(g.stdout, "  duration: %s", duration(run.StartedAt, run.FinishedAt))
				}
				fmt.Fprintln(g.stdout)
				if run.Error != "" {
					fmt.Fprintf(g.stdout, "error:    %s\n", run.Error)
				}
				fmt.Fprintln(g.stdout)
				printTasks(g.stdout, run)
				return nil
			}
			runs, next, err := c.Runs(ctx, q)
			if err != nil {
				return err
			}
			cluster, cerr := c.Cluster(ctx)
			if g.json {
				out := map[string]any{"runs": runs, "next_cursor": next}
				if cerr == nil {
					out["cluster"] = cluster
				}
				return printJSON(g.stdout, out)
			}
			if cerr == nil {
				printClusterHealth(g.stdout, cluster)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tPIPELINE\tSTATUS\tTASKS\tSUBMITTED\tDURATION")
			for _, r := range runs {
				done := 0
				for _, t := range r.Tasks {
					if t.Status == dag.TaskSucceeded {
						done++
					}
				}
				fmt.Fprintf(tw, "%s\t%s v%d\t%s\t%d/%d\t%s\t%s\n", r.ID, r.Pipeline, r.Version, r.Status, done, len(r.Tasks),
					r.SubmittedAt.Local().Format(time.DateTime), duration(r.StartedAt, r.FinishedAt))
			}
			tw.Flush()
			if next != "" {
				fmt.Fprintf(g.stdout, "more: forged status --cursor %s\n", next)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&q.Pipeline, "pipeline", "", "only runs of this pipeline")
	cmd.Flags().StringVar(&q.Status, "status", "", "only runs in this status (pending, running, succeeded, failed, cancelled)")
	cmd.Flags().StringVar(&q.Tag, "tag", "", "only runs with this tag: key=value, or key for any value")
	cmd.Flags().IntVar(&q.Limit, "limit", 20, "runs per page")
	cmd.Flags().StringVar(&q.Cursor, "cursor", "", "page cursor from a previous listing")
	return cmd
}

func newLogsCmd(g *globals) *cobra.Command {
	var follow bool
	var attempt int
	cmd := &cobra.Command{
		Use:   "logs RUN_ID TASK",
		Short: "Print a task's log (-f to follow it while it runs)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.client().Logs(cmd.Context(), args[0], args[1], attempt, follow, g.stdout)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing until the attempt ends")
	cmd.Flags().IntVar(&attempt, "attempt", 0, "attempt number (default: the latest)")
	return cmd
}

func newOutputCmd(g *globals) *cobra.Command {
	var format, file, via string
	var limit int
	cmd := &cobra.Command{
		Use:   "output RUN_ID TASK[.OUTPUT]",
		Short: "Download a task output as CSV, JSON lines or Arrow",
		Long: `Download a task output as CSV, JSON lines or an Arrow IPC stream. The output is read
with Arrow Flight DoGet from the node's Flight server (any node serves any output), or
over the HTTP API when Flight is unreachable or the output is not ready.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			task, output, ok := strings.Cut(args[1], ".")
			if !ok {
				output = dag.DefaultOutput
			}
			if format != "csv" && format != "jsonl" && format != "arrow" {
				return fmt.Errorf("--format %q: want csv, jsonl or arrow", format)
			}
			w := g.stdout
			if file != "" {
				f, err := os.Create(file)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			} else if format == "arrow" && isTerminal(g.stdout) {
				return errors.New("Arrow is binary: write it to a file with -o FILE")
			}
			var total int64
			var err error
			done := false
			switch via {
			case "auto", "flight":
				var why error
				total, done, why, err = flightOutput(cmd.Context(), g, args[0], task, output, format, limit, w)
				if !done && err == nil && via == "flight" {
					err = fmt.Errorf("read over Flight: %w", why)
				}
			case "http":
			default:
				return fmt.Errorf("--via %q: want auto, flight or http", via)
			}
			if !done && err == nil {
				total, err = g.client().Output(cmd.Context(), args[0], task, output, format, limit, w)
			}
			if err != nil {
				if file != "" {
					os.Remove(file)
				}
				return err
			}
			if file != "" {
				shown := total
				if limit > 0 && int64(limit) < total {
					shown = int64(limit)
				}
				fmt.Fprintf(g.stderr, "wrote %d of %d rows to %s\n", shown, total, file)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "csv", "csv, jsonl or arrow")
	cmd.Flags().StringVarP(&file, "output", "o", "", "write to this file instead of stdout")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many rows")
	cmd.Flags().StringVar(&via, "via", "auto", "auto (Flight, else HTTP), flight or http")
	return cmd
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newCancelCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Cancel a run that has not finished",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, err := g.client().Cancel(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, run)
			}
			fmt.Fprintf(g.stdout, "run %s: %s\n", run.ID, run.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded on the run")
	return cmd
}

func newRetryCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "retry RUN_ID",
		Short: "Run a failed or cancelled run again from where it failed",
		Long: "Run a failed or cancelled run again: the tasks that did not succeed and every task\n" +
			"downstream of them run again, each with the retries its spec gives; tasks that\n" +
			"succeeded keep their outputs and do not run again.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			run, err := c.Retry(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if !wait {
				if g.json {
					return printJSON(g.stdout, run)
				}
				fmt.Fprintf(g.stdout, "run %s: %s (retry %d)\n", run.ID, run.Status, run.Retries)
				return nil
			}
			out := g.stdout
			if g.json {
				out = g.stderr
			}
			p := newProgress(out)
			if err := c.Watch(cmd.Context(), run.ID, func(r *dag.Run) error { p.update(r); return nil }); err != nil {
				return fmt.Errorf("follow run %s: %w", run.ID, err)
			}
			if run, err = c.Run(cmd.Context(), run.ID); err != nil {
				return err
			}
			p.summary(run)
			return finish(g, run)
		},
	}
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow the run until it ends; exit 1 unless it succeeded")
	return cmd
}

// flightOutput writes an output read with Arrow Flight DoGet from the
// node's Flight server, encoded as format, and returns the output's row
// count. done is false, with why, when nothing was written because the
// node has no Flight address, cannot be reached or does not have the
// output to give (the HTTP route then explains why); err is a failure
// after output began.
func flightOutput(ctx context.Context, g *globals, run, task, output, format string, limit int, w io.Writer) (total int64, done bool, why, err error) {
	f, err := dataplane.ParseFormat(format)
	if err != nil {
		return 0, false, nil, err
	}
	ref := dataplane.OutputRef{Run: run, Task: task, Output: output}
	if err := ref.Validate(); err != nil {
		return 0, false, nil, err
	}
	h, err := g.client().Health(ctx)
	if err != nil {
		return 0, false, err, nil
	}
	if h.FlightAddr == "" {
		return 0, false, errors.New("the node reports no Flight address"), nil
	}
	c, err := g.dialFlight(h.FlightAddr, h.FlightTLS)
	if err != nil {
		return 0, false, err, nil
	}
	defer c.Close()
	info, err := c.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte(ref.String())})
	if err != nil {
		return 0, false, fmt.Errorf("describe %s on %s: %w", ref, h.FlightAddr, err), nil
	}
	stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: []byte(ref.String())})
	if err != nil {
		return 0, false, fmt.Errorf("get %s from %s: %w", ref, h.FlightAddr, err), nil
	}
	rr, err := flight.NewRecordReader(stream)
	if err != nil {
		return 0, false, fmt.Errorf("get %s from %s: %w", ref, h.FlightAddr, err), nil
	}
	defer rr.Release()
	if _, err := dataplane.Encode(w, f, rr, int64(limit)); err != nil {
		return 0, true, nil, fmt.Errorf("read %s over Flight from %s: %w", ref, h.FlightAddr, err)
	}
	return info.GetTotalRecords(), true, nil, nil
}
