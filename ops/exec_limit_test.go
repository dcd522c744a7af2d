//go:build linux

package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The program runs with the task's memory limit as its RLIMIT_AS from
// its first instruction (the gate sets it before exec), keeps its
// arguments as given, and stays the leader of its process group.
func TestExecMemoryLimitIsSetBeforeTheProgramRuns(t *testing.T) {
	te := newExecEnv(t, map[string]any{
		"exec": []any{"sh", "-c", `grep 'Max address space' /proc/self/limits; echo "args=[$1][$2] pgid=$(ps -o pgid= -p $$ | tr -d ' ') pid=$$"; if [ -e /proc/$$/fd/3 ]; then echo fd3=open; else echo fd3=closed; fi; cp "$FORGE_INPUT_UP0" "$FORGE_OUTPUT_OUT"`,
			"prog", "a b", "${not templated}"},
		"memory": "256MiB",
	})
	if err := te.run(execOp()); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, te.log.String())
	}
	log := te.log.String()
	if !regexpMatch(`Max address space\s+268435456\s+268435456\s+bytes`, log) {
		t.Fatalf("the program's RLIMIT_AS is not 256MiB:\n%s", log)
	}
	if !strings.Contains(log, "args=[a b][${not templated}]") {
		t.Fatalf("arguments changed on the way through the gate:\n%s", log)
	}
	if !strings.Contains(log, "fd3=closed") {
		t.Fatalf("the gate's pipe reached the program:\n%s", log)
	}
	if !strings.Contains(log, "memory limit: 256MiB of address space (RLIMIT_AS)") {
		t.Fatalf("the log does not say the limit:\n%s", log)
	}
	for _, line := range strings.Split(log, "\n") {
		if pg, ok := strings.CutPrefix(line, "args=[a b][${not templated}] pgid="); ok {
			ids := strings.Fields(strings.ReplaceAll(pg, "pid=", ""))
			if len(ids) != 2 || ids[0] != ids[1] {
				t.Fatalf("the program is not its group's leader: %q", line)
			}
		}
	}
}

// A program that allocates past its limit fails, and the failure says it
// hit the memory limit; the node (this process) is untouched.
func TestExecMemoryLimitStopsAHog(t *testing.T) {
	needPython(t)
	te := newExecEnv(t, map[string]any{
		"exec":   []any{"python3", "-c", "chunks = []\nwhile True: chunks.append(bytearray(16 << 20))"},
		"memory": "128MiB",
	})
	err := te.run(execOp())
	wantErr(t, err, "hit its memory limit of 128MiB")
	wantErr(t, err, "MemoryError")
}

// A shell hog, without Python: the shell's allocation fails.
func TestExecMemoryLimitStopsAShellHog(t *testing.T) {
	te := newExecEnv(t, map[string]any{
		"script": `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`,
		"memory": "64MiB",
	})
	err := te.run(execOp())
	wantErr(t, err, "memory limit of 64MiB")
}

// Without memory: no limit is set on the program.
func TestExecWithoutMemoryHasNoLimit(t *testing.T) {
	te := newExecEnv(t, map[string]any{"script": `grep 'Max address space' /proc/self/limits; cp "$FORGE_INPUT_UP0" "$FORGE_OUTPUT_OUT"`})
	if err := te.run(execOp()); err != nil {
		t.Fatal(err)
	}
	if !regexpMatch(`Max address space\s+unlimited`, te.log.String()) {
		t.Skipf("this process itself runs with an address-space limit:\n%s", te.log.String())
	}
	if strings.Contains(te.log.String(), "memory limit:") {
		t.Fatalf("log mentions a limit:\n%s", te.log.String())
	}
}

// A bad memory value fails the task before anything runs.
func TestExecMemoryBadValue(t *testing.T) {
	te := newExecEnv(t, map[string]any{"script": "touch ran", "memory": "lots"})
	wantErr(t, te.run(execOp()), "want a size such as 256MiB")
	if _, err := os.Stat(filepath.Join(te.root, "ran")); err == nil {
		t.Fatal("the program ran")
	}
}

// A timeout still stops a program started behind the gate, with its
// whole group.
func TestExecMemoryLimitedProgramStopsOnTimeout(t *testing.T) {
	te := newExecEnv(t, map[string]any{"script": `sleep 1000 & echo $! > "$FORGE_WORKDIR/child"; sleep 1000`, "memory": "64MiB"})
	ctx, cancel := context.WithTimeoutCause(context.Background(), 300*time.Millisecond, errors.New("timed out after 300ms"))
	defer cancel()
	wantErr(t, execOp().Run(ctx, te.Env), "timed out after 300ms")
	b, err := os.ReadFile(filepath.Join(te.WorkDir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) && !zombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still runs", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A failure that says ENOSPC is named a full disk.
func TestExecDiskFullHint(t *testing.T) {
	te := newExecEnv(t, map[string]any{"script": `echo "head: error writing '/data/out': No space left on device" >&2; exit 1`})
	err := te.run(execOp())
	wantErr(t, err, "disk full (ENOSPC, no space left on device): the file system of the task's work dir")
	if got := diskHint(t.TempDir(), []string{"all fine"}); got != "" {
		t.Fatalf("a failure on a roomy disk got a disk hint: %q", got)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
