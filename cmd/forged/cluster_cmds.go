package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/forged-dev/forged/client"
)

func newMembersCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the cluster's nodes: status, Raft role, slots, running tasks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := g.client().Cluster(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, info)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tADDRESS\tAPI\tSTATUS\tROLE\tSLOTS\tRUNNING\tLABELS\tVERSION")
			for _, m := range info.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", m.Name, m.Address, dash(m.HTTPAddr), m.Status,
					m.Role, m.Slots, m.Running, dash(labelText(m.Labels)), m.Version)
			}
			return tw.Flush()
		},
	}
}

func labelText(labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// printClusterHealth prints the block `forged status` starts with.
func printClusterHealth(w io.Writer, info *client.ClusterInfo) {
	counts := map[string]int{}
	for _, m := range info.Members {
		counts[m.Status]++
	}
	fmt.Fprintf(w, "cluster: leader %s, term %d, commit %d, applied %d; members %d alive, %d suspect, %d dead, %d left; queue %d\n\n",
		dash(info.Leader), info.Term, info.CommitIndex, info.AppliedIndex,
		counts["alive"], counts["suspect"], counts["dead"], counts["left"], info.QueueDepth)
}
