package cli

import (
	"fmt"
	"io"
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
			printMembers(g.stdout, info)
			return nil
		},
	}
}

// printMembers prints one row per member. The leader's role reads
// "leader" even when the node reports it only as a voter.
func printMembers(w io.Writer, info *client.ClusterInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATUS\tROLE\tSLOTS\tRUNNING\tVERSION")
	for _, m := range info.Members {
		role := m.Role
		if info.Leader != "" && m.Name == info.Leader {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", m.Name, dash(m.Address), dash(m.Status),
			dash(role), m.Slots, m.Running, dash(m.Version))
	}
	tw.Flush()
}

// printClusterHealth prints the block `forged status` starts with: who
// leads, how far the log is, how many members gossip sees in each state
// and how many tasks wait for a slot.
func printClusterHealth(w io.Writer, info *client.ClusterInfo) {
	counts := map[string]int{}
	for _, m := range info.Members {
		counts[m.Status]++
	}
	leader := info.Leader
	if leader == "" {
		leader = "none (no leader elected)"
	}
	members := fmt.Sprintf("%d alive, %d suspect, %d dead", counts["alive"], counts["suspect"], counts["dead"])
	if counts["left"] > 0 {
		members += fmt.Sprintf(", %d left", counts["left"])
	}
	fmt.Fprintf(w, "leader:   %s (term %d)\n", leader, info.Term)
	fmt.Fprintf(w, "log:      commit %d, applied %d\n", info.CommitIndex, info.AppliedIndex)
	fmt.Fprintf(w, "members:  %s\n", members)
	fmt.Fprintf(w, "queue:    %d tasks waiting for a slot\n\n", info.QueueDepth)
}
