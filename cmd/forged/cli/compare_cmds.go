package cli

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/viz"
)

func newCompareCmd(g *globals) *cobra.Command {
	var all bool
	return withAllFlag(&cobra.Command{
		Use:   "compare RUN RUN...",
		Short: "Set runs side by side: params, metrics (best marked *) and outputs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client().Compare(cmd.Context(), args)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, c)
			}
			return printComparison(g, c, all)
		},
	}, &all)
}

func withAllFlag(cmd *cobra.Command, all *bool) *cobra.Command {
	cmd.Flags().BoolVar(all, "all", false, "also show params and metrics that are the same in every run")
	return cmd
}

func printComparison(g *globals, c *dag.Comparison, all bool) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	head := []string{""}
	for _, r := range c.Runs {
		head = append(head, r.ID)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	status := []string{"status"}
	for _, r := range c.Runs {
		status = append(status, string(r.Status))
	}
	fmt.Fprintln(tw, strings.Join(status, "\t"))
	section := func(title string, rows []dag.CompareRow) {
		printed := false
		for _, row := range rows {
			if !row.Differs && !all {
				continue
			}
			if !printed {
				fmt.Fprintf(tw, "%s\t\n", title)
				printed = true
			}
			cells := []string{"  " + row.Name}
			for i, v := range row.Values {
				s := "-"
				if v != nil {
					s = fmt.Sprint(v)
					if f, ok := v.(float64); ok {
						s = fmt.Sprintf("%.6g", f)
					}
				}
				if i == row.Best {
					s += " *"
				}
				cells = append(cells, s)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
	section("params", c.Params)
	section("metrics", c.Metrics)
	for _, o := range c.Outputs {
		cells := []string{"  " + o.Name + " rows"}
		for _, n := range o.Rows {
			if n < 0 {
				cells = append(cells, "-")
			} else {
				cells = append(cells, fmt.Sprint(n))
			}
		}
		if o.SchemaChanged {
			cells[0] += " (schema changed)"
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printColumnStats(g, c, all)
	return nil
}

// printColumnStats prints a line per output column whose stats differ
// between the runs (with all, per column with stats): the stats that
// differ, a value per run, as in
//
//	orders.out amount  mean 25.1 | 31  nulls 0 | 3
//
// after a title naming the runs in order. It goes after the table, whose
// column widths such lines would otherwise stretch.
func printColumnStats(g *globals, c *dag.Comparison, all bool) {
	titled := false
	for _, o := range c.Outputs {
		for _, col := range o.Columns {
			if !col.Differs && !all {
				continue
			}
			line := columnStatsLine(col)
			if line == "" {
				continue
			}
			if !titled {
				ids := make([]string, len(c.Runs))
				for i, r := range c.Runs {
					ids[i] = r.ID
				}
				fmt.Fprintf(g.stdout, "column stats (%s)\n", strings.Join(ids, " | "))
				titled = true
			}
			fmt.Fprintf(g.stdout, "  %s %s  %s\n", o.Name, col.Name, line)
		}
	}
}

// columnStat is one figure of ColumnStats as text, "" where absent.
type columnStat struct {
	name string
	get  func(*dag.ColumnStats) string
}

var columnStatList = []columnStat{
	{"count", func(s *dag.ColumnStats) string { return fmt.Sprint(s.Count) }},
	{"nulls", func(s *dag.ColumnStats) string { return fmt.Sprint(s.Nulls) }},
	{"min", func(s *dag.ColumnStats) string { return statNumber(s.Min) }},
	{"max", func(s *dag.ColumnStats) string { return statNumber(s.Max) }},
	{"mean", func(s *dag.ColumnStats) string { return statNumber(s.Mean) }},
	{"std", func(s *dag.ColumnStats) string { return statNumber(s.Std) }},
	{"distinct", func(s *dag.ColumnStats) string {
		switch {
		case s.DistinctCapped:
			return fmt.Sprintf(">%d", s.Distinct)
		case s.Distinct > 0:
			return fmt.Sprint(s.Distinct)
		}
		return ""
	}},
}

// columnStatsLine is the figures of a column that differ between the
// runs that have stats of it ("mean 25.1 | 31  nulls 0 | 3"), or all of
// them when none do (the column is new, say); "-" stands for a run
// without the figure.
func columnStatsLine(col dag.ColumnCompare) string {
	var differing, every []string
	for _, st := range columnStatList {
		vals := make([]string, len(col.Stats))
		present, same, first := false, true, ""
		for i, s := range col.Stats {
			vals[i] = "-"
			if s == nil {
				continue // runs without the column do not count as differing
			}
			if v := st.get(s); v != "" {
				vals[i] = v
				present = true
			}
			if first == "" {
				first = vals[i]
			} else if vals[i] != first {
				same = false
			}
		}
		if !present {
			continue
		}
		part := st.name + " " + strings.Join(vals, " | ")
		every = append(every, part)
		if !same {
			differing = append(differing, part)
		}
	}
	if len(differing) == 0 {
		differing = every
	}
	return strings.Join(differing, "  ")
}

// statNumber prints a stat compactly: whole numbers in full, others to
// four significant digits.
func statNumber(f *float64) string {
	if f == nil {
		return ""
	}
	if *f == math.Trunc(*f) && math.Abs(*f) < 1e15 {
		return strconv.FormatFloat(*f, 'f', -1, 64)
	}
	return strconv.FormatFloat(*f, 'g', 4, 64)
}

// submitSweep starts the grid of runs as one experiment; with wait it
// follows them and prints their comparison.
func submitSweep(g *globals, cmd *cobra.Command, file string, src []byte, params map[string]any, sweeps []string, wait bool) error {
	ctx := cmd.Context()
	sweep := map[string][]any{}
	for _, s := range sweeps {
		name, vals, ok := strings.Cut(s, "=")
		if !ok || name == "" || vals == "" {
			return fmt.Errorf("--sweep %q: want param=v1,v2,...", s)
		}
		for _, v := range strings.Split(vals, ",") {
			sweep[name] = append(sweep[name], strings.TrimSpace(v))
		}
	}
	c := g.client()
	exp, runs, err := c.SubmitSweep(ctx, src, params, sweep)
	if err != nil {
		return err
	}
	if !wait {
		if g.json {
			return printJSON(g.stdout, map[string]any{"experiment_id": exp, "run_ids": runs})
		}
		fmt.Fprintf(g.stdout, "experiment %s: %d runs of %s\n", exp, len(runs), file)
		for _, id := range runs {
			fmt.Fprintln(g.stdout, id)
		}
		return nil
	}
	fmt.Fprintf(g.stderr, "experiment %s: %d runs of %s; waiting for them\n", exp, len(runs), file)
	failed := 0
	for _, id := range runs {
		if err := c.Watch(ctx, id, func(*dag.Run) error { return nil }); err != nil {
			return fmt.Errorf("follow run %s: %w", id, err)
		}
		r, err := c.Run(ctx, id)
		if err != nil {
			return err
		}
		if r.Status != dag.RunSucceeded {
			failed++
		}
	}
	e, err := c.Experiment(ctx, exp)
	if err != nil {
		return err
	}
	if g.json {
		if err := printJSON(g.stdout, e); err != nil {
			return err
		}
	} else if err := printComparison(g, &e.Comparison, false); err != nil {
		return err
	}
	if failed > 0 {
		fmt.Fprintf(g.stderr, "%d of %d runs did not succeed\n", failed, len(runs))
		return &exitError{code: 1}
	}
	return nil
}

func newDeleteCmd(g *globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete RUN_ID... --yes",
		Short: "Delete finished runs for good: records, outputs, logs and artifacts, on every node",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return fmt.Errorf("deleting %d run(s) cannot be undone: add --yes", len(args))
			}
			for _, id := range args {
				if err := g.client().DeleteRun(cmd.Context(), id); err != nil {
					return fmt.Errorf("delete %s: %w", id, err)
				}
				fmt.Fprintf(g.stdout, "deleted %s\n", id)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm: the runs and their data are gone for good")
	return cmd
}

// parseTags reads key=value flags.
func parseTags(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range list {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("tag %q: want key=value", t)
		}
		out[k] = v
	}
	return out, nil
}

func newTagCmd(g *globals) *cobra.Command {
	var remove []string
	cmd := &cobra.Command{
		Use:   "tag RUN_ID [key=value]... [--remove key]...",
		Short: "Set or remove tags of a run",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := parseTags(args[1:])
			if err != nil {
				return err
			}
			if len(set) == 0 && len(remove) == 0 {
				return fmt.Errorf("give tags to set (key=value) or --remove key")
			}
			if err := g.client().SetTags(cmd.Context(), args[0], set, remove); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "tagged %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&remove, "remove", nil, "tag key to remove (repeatable)")
	return cmd
}

func newVizCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "viz FILE [-o dag.svg]",
		Short: "Draw a pipeline as an SVG picture, offline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			p, err := dag.Parse(src, g.ops)
			if err != nil {
				printSpecError(g, args[0], err)
				return &exitError{code: 1}
			}
			svg, err := viz.SVG(cmd.Context(), p, nil)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = g.stdout.Write(svg)
				return err
			}
			if err := os.WriteFile(out, svg, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "wrote %s: %d tasks\n", out, len(p.Tasks))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "SVG file to write (default: stdout)")
	return cmd
}
