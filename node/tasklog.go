package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// logTailBytes is how much of a log's end is kept in the replicated state.
const logTailBytes = 2048

// logSpillAfter is how long an attempt's log stays in memory before it is
// written to its file, which `forged logs --follow` reads while the
// attempt runs.
const logSpillAfter = 200 * time.Millisecond

// taskLog is a task attempt's log. It also keeps the log's last lines for
// the replicated state. The file is only created once the log outgrows the
// tail, once the attempt has run for logSpillAfter, or when Close is told
// to keep it: a quick attempt with a short log costs no file, and its
// whole log is in the state.
type taskLog struct {
	path string

	mu      sync.Mutex
	f       *os.File
	pending []byte // written before the file exists
	tail    []byte
	err     error // the first file error; later writes go to memory only
	closed  bool
	timer   *time.Timer
}

func newTaskLog(path string) *taskLog {
	l := &taskLog{path: path}
	l.timer = time.AfterFunc(logSpillAfter, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !l.closed {
			l.spillLocked()
		}
	})
	return l
}

// spillLocked creates the file and writes what was kept in memory.
func (l *taskLog) spillLocked() {
	if l.f != nil || l.err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		l.err = err
		return
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		l.err = err
		return
	}
	if _, err := f.Write(l.pending); err != nil {
		l.err = err
	}
	l.f, l.pending = f, nil
}

// Write appends to the log and the kept tail. It never fails: a log that
// cannot be written must not fail the task; Close reports the error.
func (l *taskLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, p...)
	if len(l.tail) > 2*logTailBytes {
		l.tail = append([]byte(nil), l.tail[len(l.tail)-logTailBytes:]...)
	}
	switch {
	case l.f != nil:
		if _, err := l.f.Write(p); err != nil && l.err == nil {
			l.err = err
		}
	case l.err == nil:
		l.pending = append(l.pending, p...)
		if len(l.pending) > logTailBytes {
			l.spillLocked()
		}
	}
	return len(p), nil
}

// Printf writes one timestamped line.
func (l *taskLog) Printf(format string, args ...any) {
	line := time.Now().UTC().Format("2006-01-02T15:04:05.000Z ") + fmt.Sprintf(format, args...)
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	l.Write([]byte(line))
}

// Tail returns the last lines of the log, at most logTailBytes.
func (l *taskLog) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tail
	if len(t) > logTailBytes {
		t = t[len(t)-logTailBytes:]
		if i := strings.IndexByte(string(t), '\n'); i >= 0 && i < len(t)-1 {
			t = t[i+1:]
		}
	}
	return string(t)
}

// Close ends the log; with keep, a log still in memory is written to its
// file. The file is not synced: the node makes logs durable with the data
// store's Sync (one sync of the filesystem that holds both) before it
// reports the attempt. It returns the first error writing the file.
func (l *taskLog) Close(keep bool) error {
	l.timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if keep {
		l.spillLocked()
	}
	if l.f != nil {
		if err := l.f.Close(); err != nil && l.err == nil {
			l.err = err
		}
	}
	return l.err
}
