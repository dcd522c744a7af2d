package cli

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/ops"
)

// globals are the flags every client command shares.
type globals struct {
	addr     string
	token    string
	json     bool
	logLevel string
	stdout   io.Writer
	stderr   io.Writer
	// ops is the operator library of nodes and spec checks.
	ops *ops.Registry
	// tls is how clients verify https nodes, and agents their peers.
	tls tlsFlags
}

func (g *globals) client() *client.Client { return g.apiClient() }

// logger writes the node's logs to stderr as text at the chosen level.
func (g *globals) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

func newRootCmd(stdout, stderr io.Writer, reg *ops.Registry) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, ops: reg}
	root := &cobra.Command{
		Use:           "forged",
		Short:         "Run data and ML pipelines on a few machines, from one binary",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr("FORGED_ADDR", "http://127.0.0.1:8080"), "node to talk to (env FORGED_ADDR)")
	pf.StringVar(&g.token, "token", os.Getenv("FORGED_TOKEN"), "API token (env FORGED_TOKEN)")
	pf.BoolVar(&g.json, "json", false, "print JSON for scripts instead of tables")
	pf.StringVar(&g.logLevel, "log-level", "info", "node log level: debug, info, warn, error")
	g.tls.register(pf)
	root.AddCommand(
		newDevCmd(g),
		newAgentCmd(g),
		newRunCmd(g),
		newSubmitCmd(g),
		newStatusCmd(g),
		newLogsCmd(g),
		newOutputCmd(g),
		newUploadCmd(g),
		newDatasetsCmd(g),
		newCancelCmd(g),
		newRetryCmd(g),
		newValidateCmd(g),
		newMembersCmd(g),
		newModelsCmd(g),
		newPredictCmd(g),
		newBenchCmd(g),
		newCompareCmd(g),
		newDeleteCmd(g),
		newTagCmd(g),
		newVizCmd(g),
	)
	return root
}
