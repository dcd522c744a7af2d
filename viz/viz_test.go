package viz

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/forged-dev/forged/dag"
)

func TestSVGMarksEveryTask(t *testing.T) {
	p, err := dag.Parse([]byte(`name: v
tasks:
  - {name: load, op: read_csv, with: {path: a.csv}, description: "Read <the> orders"}
  - {name: split, op: split, needs: [load], outputs: [train, test]}
  - {name: fit-1, op: describe, needs: [split.train]}
  - {name: check, op: describe, needs: [split.test, fit-1]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	svg, err := SVG(context.Background(), p, map[string]dag.TaskStatus{"load": dag.TaskSucceeded, "fit-1": dag.TaskFailed})
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if !strings.HasPrefix(strings.TrimSpace(s), "<?xml") || !strings.Contains(s, "<svg") {
		t.Fatalf("not an SVG: %.200s", s)
	}
	tasks := regexp.MustCompile(`data-task="([^"]+)"`).FindAllStringSubmatch(s, -1)
	var names []string
	for _, m := range tasks {
		names = append(names, m[1])
	}
	if strings.Join(names, ",") != "load,split,fit-1,check" {
		t.Fatalf("tasks drawn: %v", names)
	}
	if n := strings.Count(s, `class="edge"`); n != 4 {
		t.Fatalf("%d arrows, want 4", n)
	}
	for _, want := range []string{`data-task="load" data-status="succeeded"`, `data-task="fit-1" data-status="failed"`, ">train<", "#ffcdd2", "<style>"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %s", want)
		}
	}
	if strings.Contains(s, `data-task="split" data-status`) {
		t.Error("a task without a state got one")
	}
}

// A layout marked with one run's states, then another's, shows only the
// second's.
func TestMarkReplacesStates(t *testing.T) {
	p, _ := dag.Parse([]byte("name: v\ntasks:\n  - {name: a, op: x}\n  - {name: b, op: y, needs: [a]}\n"), nil)
	layout, err := Layout(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	first := Mark(layout, map[string]dag.TaskStatus{"a": dag.TaskFailed})
	second := string(Mark(first, map[string]dag.TaskStatus{"a": dag.TaskSucceeded}))
	if strings.Contains(second, `data-task="a" data-status="failed"`) || !strings.Contains(second, `data-task="a" data-status="succeeded"`) ||
		strings.Count(second, `data-task="a"`) != 1 || strings.Count(second, "<style>") != 1 {
		t.Fatalf("marked twice: %s", second)
	}
}
