package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newUploadCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "upload NAME FILE",
		Short: "Store a CSV, Parquet or Arrow file as the next version of a dataset",
		Long: `Store a file as the next version of a named dataset in the cluster. Tasks read it
with the read_dataset operator: {op: read_dataset, with: {name: NAME}}. The format
comes from the file's extension (.csv, .parquet, .arrow or .arrows: an Arrow IPC
stream) unless --format says it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, path := args[0], args[1]
			if format == "" {
				format = formatOfFile(path)
			}
			if format == "" {
				return fmt.Errorf("cannot tell the format of %s from its extension: give --format csv, parquet or arrow", path)
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			v, err := g.client().PutDataset(cmd.Context(), name, format, f)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, v)
			}
			fmt.Fprintf(g.stdout, "dataset %s version %d: %d rows, %d bytes, on %s\n",
				v.Name, v.Version, v.Output.Rows, v.Output.Bytes, strings.Join(append([]string{v.Output.Node}, v.Output.Replicas...), ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "csv, parquet or arrow (default: from the extension)")
	return cmd
}

// formatOfFile guesses an upload format from a file name.
func formatOfFile(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "csv"
	case ".parquet", ".pq":
		return "parquet"
	case ".arrow", ".arrows", ".ipc":
		return "arrow"
	}
	return ""
}

func newDatasetsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "datasets",
		Short: "List the datasets and their versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := g.client().Datasets(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, all)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tFORMAT\tROWS\tBYTES\tCREATED")
			for _, v := range all {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\n", v.Name, v.Version, v.Format, v.Output.Rows, v.Output.Bytes,
					v.CreatedAt.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
}
