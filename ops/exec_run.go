package ops

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/forged-dev/forged/dag"
)

// execStopGrace is how long a program has to exit after SIGTERM, on
// timeout or cancel, before its process group is killed.
const execStopGrace = 2 * time.Second

// stderrTail is how many of stderr's last lines a failure message keeps.
const stderrTail = 20

// runProgram starts the program in its own process group, copies its
// stdout and stderr to the task log line by line, and waits for it. When
// ctx ends first, the group gets SIGTERM, then SIGKILL after a grace
// period; once the program exits, whatever it left running in its group
// is killed too.
func runProgram(ctx context.Context, env *Env, cfg execConfig, vars []string) error {
	path, err := lookProgram(cfg.argv[0], cfg.dir, vars)
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{Path: path, Args: cfg.argv, Env: vars, Dir: cfg.dir}
	inNewGroup(cmd)
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	startErr := startProgram(cmd, cfg.memory)
	outW.Close()
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		return fmt.Errorf("start %s: %w", cfg.argv[0], startErr)
	}

	log := &lineLog{env: env}
	tail := &lastLines{max: stderrTail}
	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); log.copy(outR, "", nil) }()
	go func() { defer pumps.Done(); log.copy(errR, "", tail) }()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	stopped := false
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		stopped = true
		signalGroup(cmd, false)
		select {
		case waitErr = <-exited:
		case <-time.After(execStopGrace):
			logf(env, "exec: the program did not stop within %s of SIGTERM; killing its process group", execStopGrace)
			signalGroup(cmd, true)
			waitErr = <-exited
		}
	}
	// Children the program left behind in its group go too; they would
	// otherwise hold the log pipes open.
	signalGroup(cmd, true)
	pumpsDone := make(chan struct{})
	go func() { pumps.Wait(); close(pumpsDone) }()
	select {
	case <-pumpsDone:
	case <-time.After(execStopGrace):
		// A process that left the group still holds a pipe: stop reading.
		outR.Close()
		errR.Close()
		<-pumpsDone
	}
	outR.Close()
	errR.Close()

	if stopped {
		return context.Cause(ctx)
	}
	if waitErr == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) {
		return fmt.Errorf("%s: %w", cfg.argv[0], waitErr)
	}
	lines := tail.lines()
	msg := exitDescription(exit)
	if cfg.memory > 0 {
		msg += memoryHint(cfg.memory, exit, lines)
	}
	msg += diskHint(env.WorkDir, lines)
	if len(lines) > 0 {
		msg += "; stderr ends with:\n" + strings.Join(lines, "\n")
	}
	return errors.New(msg)
}

// outOfMemory are what programs print when an allocation fails, lower
// case: Python, C (strerror of ENOMEM), C++, Go, Java, shells.
var outOfMemory = []string{"memoryerror", "cannot allocate memory", "out of memory", "bad_alloc",
	"memory exhausted", "failed to allocate", "allocation failed", "outofmemoryerror", "enomem"}

// memoryHint tells whether a program that failed under a memory limit
// ran out of it: for sure when its last words say an allocation failed,
// or it died of a signal a failed allocation often ends in; else it says
// the limit was there.
func memoryHint(limit int64, exit *exec.ExitError, lines []string) string {
	text := strings.ToLower(strings.Join(lines, "\n"))
	hit := signalled(exit)
	for _, s := range outOfMemory {
		hit = hit || strings.Contains(text, s)
	}
	if hit {
		return fmt.Sprintf(" — it hit its memory limit of %s (the task's memory:): an allocation failed; "+
			"raise the limit or use less memory", dag.FormatBytes(limit))
	}
	return fmt.Sprintf(" (it ran under a memory limit of %s, the task's memory:)", dag.FormatBytes(limit))
}

// diskFullFree is the free space under which a failed program's disk is
// taken to be full.
const diskFullFree = 1 << 20

// diskHint names a full disk as the likely cause of a program's failure:
// its stderr says ENOSPC's "No space left on device", or the file system
// of its work dir (under the node's data dir) has almost no room left.
func diskHint(dir string, lines []string) string {
	said := strings.Contains(strings.ToLower(strings.Join(lines, "\n")), "no space left on device")
	free, known := uint64(0), false
	if dir != "" {
		free, known = FreeBytes(dir)
	}
	if !said && (!known || free >= diskFullFree) {
		return ""
	}
	where := ""
	if known {
		where = fmt.Sprintf(": the file system of the task's work dir %s has %s free", dir, dag.FormatBytes(int64(free)))
	}
	return " — disk full (ENOSPC, no space left on device)" + where
}

// lineLog writes program output to the task log one whole line at a time,
// from several goroutines.
type lineLog struct {
	env *Env
	mu  sync.Mutex
}

// maxLogLine bounds one line; longer ones are split.
const maxLogLine = 64 << 10

func (l *lineLog) copy(r io.Reader, prefix string, tail *lastLines) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			text := strings.TrimRight(string(line), "\r\n")
			l.mu.Lock()
			if l.env.Log != nil {
				fmt.Fprintln(l.env.Log, prefix+text)
			}
			l.mu.Unlock()
			if tail != nil {
				tail.add(text)
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// lastLines keeps the last max lines written.
type lastLines struct {
	mu   sync.Mutex
	max  int
	ring []string
}

func (t *lastLines) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(s) > 1000 {
		s = s[:1000] + "…"
	}
	t.ring = append(t.ring, s)
	if len(t.ring) > t.max {
		t.ring = t.ring[len(t.ring)-t.max:]
	}
}

func (t *lastLines) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range t.ring {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
