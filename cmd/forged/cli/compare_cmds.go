package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/forged-dev/forged/dag"
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
	return tw.Flush()
}
