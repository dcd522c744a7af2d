package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the forged binary built once for the whole package.
var binary string

// repoRoot is the repository's top directory.
var repoRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "forged-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	binary = filepath.Join(dir, "forged")
	build := exec.Command("go", "build", "-o", binary, "./cmd/forged")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build forged:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agent is one running `forged agent` process.
type agent struct {
	t       *testing.T
	name    string
	extra   []string
	cmd     *exec.Cmd
	URL     string
	DataDir string
	out     *syncBuffer
	exited  chan struct{}
}

// syncBuffer is a bytes.Buffer safe for a process's output goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`listening on (https?://\S+)`)

// startAgent runs `forged agent` on dataDir with its API on a free
// loopback port and waits until it says where it listens.
func startAgent(t *testing.T, dataDir string, extra ...string) *agent {
	t.Helper()
	return startNamedAgent(t, "e2e", dataDir, append([]string{"--gossip-port", "0"}, extra...)...)
}

// startNamedAgent runs `forged agent --name NAME` with the given extra
// flags (which must include --gossip-port).
func startNamedAgent(t *testing.T, name, dataDir string, extra ...string) *agent {
	t.Helper()
	args := append([]string{"agent", "--name", name, "--data-dir", dataDir, "--http", "127.0.0.1:0",
		"--raft-port", "0", "--flight-port", "0", "--slots", "4"}, extra...)
	a := launchAgent(t, name, dataDir, exec.Command(binary, args...))
	a.extra = extra
	return a
}

// launchAgent starts cmd, a `forged agent` command line (perhaps run
// through a wrapper such as `ip netns exec`), and waits until it listens.
// The agent is stopped when the test ends, its output logged if the test
// failed.
func launchAgent(t *testing.T, name, dataDir string, cmd *exec.Cmd) *agent {
	t.Helper()
	cmd.Env = append(os.Environ(), "FORGED_TOKENS=") // tokens only when a test asks
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, name: name, cmd: cmd, DataDir: dataDir, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = a.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			a.out.Write([]byte(line + "\n"))
			if m := listening.FindStringSubmatch(line); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent %s output:\n%s", name, a.out.String())
		}
	})
	select {
	case a.URL = <-urls:
	case <-a.exited:
		t.Fatalf("forged agent %s exited before listening:\n%s", name, a.out.String())
	case <-time.After(60 * time.Second):
		a.kill()
		t.Fatalf("forged agent %s did not start within 60s:\n%s", name, a.out.String())
	}
	return a
}

// restart starts the agent again on the same data dir with the same flags.
func (a *agent) restart(t *testing.T, extra ...string) *agent {
	t.Helper()
	return startNamedAgent(t, a.name, a.DataDir, append(append([]string(nil), a.extra...), extra...)...)
}

// kill stops the agent with SIGKILL, as a crash would.
func (a *agent) kill() {
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
}

// stop asks the agent to shut down and waits for it.
func (a *agent) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		a.kill()
	}
}

// forged runs the CLI and returns its stdout, stderr and exit code.
func forged(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return forgedEnv(t, nil, args...)
}

// forgedEnv runs the CLI and returns its stdout, stderr and exit code.
// It clears the variables that would point it at another node or give it
// credentials, then adds env.
func forgedEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(append(os.Environ(), "FORGED_ADDR=", "FORGED_TOKEN=", "FORGED_TLS_CA=", "FORGED_GOSSIP_KEY="), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("forged %s: %v", strings.Join(args, " "), err)
		}
		code = exit.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// eventually polls cond every 200ms until it holds or limit passes.
func eventually(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
