package dag

import (
	"reflect"
	"testing"
)

func TestParseExecTasks(t *testing.T) {
	p := mustParse(t, `name: mixed
params: {lr: {type: float, default: 0.1}}
tasks:
  - name: load
    op: read_csv
    with: {path: a.csv}
  - name: train
    needs: [load]
    exec: [python3, train.py, --lr, "${params.lr}", --epochs, 3]
    format: parquet
    env: {SEED: 7, MODE: fast}
    workdir: scripts
    outputs: [model, scores]
  - name: report
    needs: [train.scores]
    script: |
      echo "rows in ${FORGE_INPUT_TRAIN_SCORES}" $HOME
    interpreter: bash -e
  - name: same
    op: exec
    with: {exec: [echo, hi]}
`)
	train := p.Task("train")
	if !train.IsExec() || train.Constraints.Labels[ExecLabel] != "true" {
		t.Fatalf("train: op %q, constraints %+v", train.Op, train.Constraints)
	}
	want := []any{"python3", "train.py", "--lr", "${params.lr}", "--epochs", "3"}
	if got := train.With["exec"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("exec = %#v", got)
	}
	if train.With["format"] != "parquet" || train.With["workdir"] != "scripts" ||
		!reflect.DeepEqual(train.With["env"], map[string]any{"SEED": 7, "MODE": "fast"}) {
		t.Fatalf("train.with = %#v", train.With)
	}
	report := p.Task("report")
	if !report.IsExec() || report.With["interpreter"] != "bash -e" {
		t.Fatalf("report = %+v", report)
	}
	if p.Task("same").Constraints.Labels[ExecLabel] != "true" {
		t.Fatal("op: exec must need an exec node too")
	}
	if ExecInputName(report.Needs[0]) != "TRAIN_SCORES" || ExecInputName(train.Needs[0]) != "LOAD" {
		t.Fatalf("input names %s, %s", ExecInputName(report.Needs[0]), ExecInputName(train.Needs[0]))
	}

	// Rendering templates the arguments and leaves the script alone.
	r, err := train.Render(map[string]any{"lr": 0.5})
	if err != nil || r.With["exec"].([]any)[3] != 0.5 {
		t.Fatalf("rendered train: %#v, %v", r.With, err)
	}
	r, err = report.Render(map[string]any{"lr": 0.5})
	if err != nil || r.With["script"] != report.With["script"] {
		t.Fatalf("rendered report: %#v, %v", r.With, err)
	}
}

func TestParseExecErrors(t *testing.T) {
	checkErrors(t, parseErrors(t, `name: x
tasks:
  - name: both
    op: filter
    exec: [ls]
  - name: withs
    exec: [ls]
    with: {a: 1}
  - name: two
    exec: [ls]
    script: ls
  - name: none
    format: csv
  - name: notlist
    exec: ls -l
  - name: interp
    exec: [ls]
    interpreter: python3
  - name: fmt
    script: ls
    format: xlsx
  - name: env
    script: ls
    env: {FORGE_TASK: a, 1BAD: b, OK: [1]}
  - name: param
    exec: [echo, "${params.nope}"]
`),
		wantErr{"tasks[0].exec", 5, "either an op or a command"},
		wantErr{"tasks[1].with", 8, "not under with"},
		wantErr{"tasks[2]", 9, "exactly one of exec"},
		wantErr{"tasks[3]", 12, "exactly one of exec"},
		wantErr{"tasks[4].exec", 14, "non-empty list"},
		wantErr{"tasks[5].interpreter", 16, "goes with script"},
		wantErr{"tasks[6].format", 19, "must be one of arrow, parquet, csv, jsonl"},
		wantErr{"tasks[7].env.FORGE_TASK", 22, "set by forged"},
		wantErr{"tasks[7].env.1BAD", 22, "not a variable name"},
		wantErr{"tasks[7].env.OK", 22, "plain value"},
		wantErr{"tasks[8].exec[1]", 26, `unknown parameter "nope"`},
	)
}
