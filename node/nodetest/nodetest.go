// Package nodetest starts real forged nodes for tests: on 127.0.0.1 with
// port 0, in a temporary directory, closed when the test ends. Production
// code never imports it.
package nodetest

import (
	"context"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"log/slog"
	"testing"
	"time"

	"github.com/forged-dev/forged/node"
)

// Config returns a node config for a test: a temp data dir, loopback
// ports chosen by the kernel, 4 slots, logs to t.Log.
func Config(t testing.TB) node.Config {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Name = "test"
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.Slots = 4
	cfg.LeaderTimeout = 20 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, bench := t.(*testing.B); !bench {
		// Arrow memory must all be released once the node is closed (this
		// cleanup runs after the ones that close it).
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		cfg.Mem = mem
		t.Cleanup(func() { mem.AssertSize(t, 0) })
	}
	return cfg
}

// Open starts a node with cfg and closes it when the test ends.
func Open(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
