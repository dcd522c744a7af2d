package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/node"
)

func newRunCmd(g *globals) *cobra.Command {
	var params []string
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a pipeline here and now, in this process, and wait for it",
		Long: `Run a pipeline synchronously in this process, with no daemon: a
one-node forged starts in a temporary directory (or --data-dir), runs the
pipeline, prints each task's progress and exits 0 if the run succeeded, 1 if
not. Relative paths in the spec resolve against the spec's directory unless
--data-root is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, given, err := readSpec(args[0], params)
			if err != nil {
				return err
			}
			if _, err := dag.Parse(src, g.ops); err != nil {
				printSpecError(g, args[0], err)
				return &exitError{code: 1}
			}
			cfg, err := f.config(g)
			if err != nil {
				return err
			}
			cfg.HTTPAddr = ""
			if f.name == "" {
				cfg.Name = "local"
			}
			if cfg.DataDir == "" {
				dir, err := os.MkdirTemp("", "forged-run-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				cfg.DataDir = dir
			}
			if len(cfg.DataRoots) == 0 {
				cfg.DataRoots = []string{filepath.Dir(args[0])}
			}
			cfg.Logger = quietLogger(g)
			n, err := node.Open(ctx, cfg)
			if err != nil {
				return err
			}
			defer n.Close()
			id, err := n.SubmitSpec(ctx, src, given)
			if err != nil {
				var verr *dag.ValidationError
				if errors.As(err, &verr) {
					printSpecError(g, args[0], err)
					return &exitError{code: 1}
				}
				return err
			}
			out := g.stdout
			if g.json {
				out = g.stderr
			}
			fmt.Fprintf(out, "run %s of %s\n", id, args[0])
			run, err := waitLocal(ctx, n, id, newProgress(out))
			if err != nil {
				return err
			}
			return finish(g, run)
		},
	}
	f.register(cmd, "", 0, 0, 0, true)
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "pipeline parameter name=value (repeatable)")
	return cmd
}

// quietLogger shows only warnings and errors unless asked for more, so
// progress lines stay readable.
func quietLogger(g *globals) *slog.Logger {
	if g.logLevel == "info" {
		h := *g
		h.logLevel = "warn"
		return h.logger()
	}
	return g.logger()
}

// waitLocal follows a run on an in-process node until it ends.
func waitLocal(ctx context.Context, n *node.Node, id string, p *progress) (*dag.Run, error) {
	changes, unsubscribe := n.Subscribe()
	defer unsubscribe()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		run, err := n.Run(id)
		if err != nil {
			return nil, err
		}
		p.update(run)
		if run.Status.Terminal() && !run.HasActiveTask() {
			p.summary(run)
			return run, nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(p.w, "interrupted: cancelling the run")
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n.CancelRun(cctx, id, "interrupted")
			cancel()
			return nil, ctx.Err()
		case <-changes:
		case <-tick.C:
		}
	}
}

// finish prints the run as JSON when asked and turns its status into the
// exit code.
func finish(g *globals, run *dag.Run) error {
	if g.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(run)
	}
	if run.Status != dag.RunSucceeded {
		return &exitError{code: 1}
	}
	return nil
}

// printSpecError prints spec problems as file:line: path: message.
func printSpecError(g *globals, file string, err error) {
	var verr *dag.ValidationError
	var aerr *client.APIError
	var fes []dag.FieldError
	switch {
	case errors.As(err, &verr):
		fes = verr.Errors
	case errors.As(err, &aerr) && len(aerr.FieldErrors()) > 0:
		fes = aerr.FieldErrors()
	default:
		fmt.Fprintf(g.stderr, "%s: %v\n", file, err)
		return
	}
	if g.json {
		json.NewEncoder(g.stdout).Encode(map[string]any{"file": file, "valid": false, "errors": fes})
		return
	}
	for _, fe := range fes {
		if fe.Line > 0 {
			fmt.Fprintf(g.stderr, "%s:%d: %s: %s\n", file, fe.Line, fe.Path, fe.Message)
		} else {
			fmt.Fprintf(g.stderr, "%s: %s: %s\n", file, fe.Path, fe.Message)
		}
	}
	fmt.Fprintf(g.stderr, "%s: %d problem(s)\n", file, len(fes))
}

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check pipeline specs offline; print every problem with its line",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, file := range args {
				src, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				p, err := dag.Parse(src, g.ops)
				if err != nil {
					printSpecError(g, file, err)
					bad++
					continue
				}
				if g.json {
					json.NewEncoder(g.stdout).Encode(map[string]any{"file": file, "valid": true, "pipeline": p.Name, "tasks": len(p.Tasks)})
				} else {
					fmt.Fprintf(g.stdout, "%s: pipeline %s is valid (%d tasks)\n", file, p.Name, len(p.Tasks))
				}
			}
			if bad > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}
