package dag

import (
	"strings"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	for in, want := range map[any]int64{
		"256MiB":      256 << 20,
		"256mib":      256 << 20,
		"512Mi":       512 << 20,
		"1.5GiB":      3 << 29,
		"2GB":         2e9,
		"100M":        100e6,
		" 64 MiB ":    64 << 20,
		"1TiB":        1 << 40,
		"16777216":    16 << 20,
		int(32 << 20): 32 << 20,
		float64(1e9):  1e9,
	} {
		got, err := MemoryLimit(in)
		if err != nil || got != want {
			t.Errorf("MemoryLimit(%#v) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, msg := range map[any]string{
		"lots":              "want a size such as 256MiB",
		"256XB":             "want a size such as 256MiB",
		"MiB":               "want a size such as 256MiB",
		"1.2.3MiB":          "want a size such as 256MiB",
		"-5MiB":             "want a size such as 256MiB",
		"1MiB":              "at least 16MiB",
		int(0):              "at least 16MiB",
		true:                "want a size",
		"9e99GiB":           "want a size", // "e" is not a unit
		"99999999999999TiB": "too large",
	} {
		if _, err := MemoryLimit(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("MemoryLimit(%#v) = %v, want an error containing %q", in, err, msg)
		}
	}
	for n, want := range map[int64]string{256 << 20: "256MiB", 3 << 29: "1.5GiB", 1000: "1000B", 1 << 40: "1TiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestParseExecMemory(t *testing.T) {
	p := mustParse(t, `name: x
params:
  mem: {type: string, default: 64MiB}
tasks:
  - name: hog
    script: python3 hog.py
    memory: 256MiB
  - name: templated
    exec: [ls]
    memory: "${params.mem}"
  - name: same
    op: exec
    with: {exec: [ls], memory: 1GiB}
`)
	if got := p.Task("hog").With["memory"]; got != "256MiB" {
		t.Fatalf("memory = %#v", got)
	}
	r, err := p.Task("templated").Render(map[string]any{"mem": "128MiB"})
	if err != nil || r.With["memory"] != "128MiB" {
		t.Fatalf("rendered: %#v, %v", r.With, err)
	}
	if p.Task("same").With["memory"] != "1GiB" {
		t.Fatalf("op: exec memory = %#v", p.Task("same").With)
	}
	checkErrors(t, parseErrors(t, `name: x
tasks:
  - name: small
    exec: [ls]
    memory: 1MiB
  - name: word
    script: ls
    memory: plenty
  - name: op
    op: noop
    memory: 256MiB
  - name: list
    exec: [ls]
    memory: [1]
`),
		wantErr{"tasks[0].memory", 3, "at least 16MiB"},
		wantErr{"tasks[1].memory", 6, "want a size such as 256MiB"},
		wantErr{"tasks[2].memory", 11, "exec tasks (exec or script) only"},
		wantErr{"tasks[3].memory", 12, "want a size"},
	)
}
