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
	startErr := cmd.Start()
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
	msg := exitDescription(exit)
	if lines := tail.lines(); len(lines) > 0 {
		msg += "; stderr ends with:\n" + strings.Join(lines, "\n")
	}
	return errors.New(msg)
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
