package node

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTaskLogWritesAFileOnlyWhenNeeded(t *testing.T) {
	dir := t.TempDir()
	exists := func(p string) bool {
		_, err := os.Stat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}

	quick := filepath.Join(dir, "r", "quick", "1.log")
	l := newTaskLog(quick)
	l.Printf("hello")
	if err := l.Close(false); err != nil {
		t.Fatal(err)
	}
	if exists(quick) || !strings.Contains(l.Tail(), "hello") {
		t.Fatalf("a quick short log: file %v, tail %q; want no file and the line in the tail", exists(quick), l.Tail())
	}

	failed := filepath.Join(dir, "r", "failed", "1.log")
	l = newTaskLog(failed)
	l.Printf("it broke")
	if err := l.Close(true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(failed); !strings.Contains(string(b), "it broke") {
		t.Fatalf("a kept log holds %q", b)
	}

	long := filepath.Join(dir, "r", "long", "1.log")
	l = newTaskLog(long)
	l.Printf("started")
	deadline := time.Now().Add(5 * time.Second)
	for !exists(long) {
		if time.Now().After(deadline) {
			t.Fatal("a log running past logSpillAfter never got its file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Printf("still going")
	if err := l.Close(false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(long); !strings.Contains(string(b), "started") || !strings.Contains(string(b), "still going") {
		t.Fatalf("a long attempt's log holds %q", b)
	}

	big := filepath.Join(dir, "r", "big", "1.log")
	l = newTaskLog(big)
	for i := 0; i < 100; i++ {
		l.Printf("line %03d %s", i, strings.Repeat("x", 40))
	}
	if err := l.Close(false); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(big)
	if !strings.Contains(string(b), "line 000") || !strings.Contains(string(b), "line 099") {
		t.Fatal("a log larger than the tail was not written whole")
	}
	if tail := l.Tail(); len(tail) > logTailBytes || !strings.HasSuffix(tail, strings.Repeat("x", 40)+"\n") || strings.Contains(tail, "line 000") {
		t.Fatalf("tail of a big log (%d bytes) = %q...", len(tail), tail[:min(len(tail), 80)])
	}
}
