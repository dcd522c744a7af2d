// Package cli is the forged command line: a node (`dev`, `agent`), an
// in-process runner (`run`) and a client of a running cluster (`submit`,
// `status`, `logs`, `output`, `cancel`, `members`, `validate`). The
// forged binary is a thin main around it; a program that adds its own
// operators (see package forge) runs the same command line with them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/forged-dev/forged/client"
	"github.com/forged-dev/forged/ops"
)

// Options change what the command line runs with.
type Options struct {
	// Ops is the operator library nodes run and specs are checked
	// against; nil is ops.Builtin().
	Ops *ops.Registry
}

// Version is the version the binary reports; set it at build time with
// -ldflags "-X github.com/forged-dev/forged/cmd/forged/cli.Version=...".
var Version = "dev"

// Main runs the command line on the process's arguments until it is done
// or interrupted (SIGINT, SIGTERM), and exits with its code.
func Main(opts Options) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, opts)
	stop()
	os.Exit(code)
}

// exitError carries a process exit code for a failure already reported to
// the user (a failed run, an invalid spec).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Run executes the command line args and returns the process exit code;
// it is the only place that decides one.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, opts Options) int {
	if opts.Ops == nil {
		opts.Ops = ops.Builtin()
	}
	root := newRootCmd(stdout, stderr, opts.Ops)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	fmt.Fprintln(stderr, "forged:", err)
	if hint := authHint(err); hint != "" {
		fmt.Fprintln(stderr, "  "+hint)
	}
	return 1
}

// authHint says how to pass a token when err is a refusal for the lack
// of one, over HTTP or Flight.
func authHint(err error) string {
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized,
		status.Code(err) == codes.Unauthenticated:
		return "the node wants a token: pass --token TOKEN or set FORGED_TOKEN"
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden,
		status.Code(err) == codes.PermissionDenied:
		return "the token's role is too weak for this; ask for a token with a stronger role"
	}
	return ""
}
