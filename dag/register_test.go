package dag

import "testing"

func TestParseRegister(t *testing.T) {
	p := mustParse(t, `name: m
tasks:
  - name: load
    op: read_csv
    with: {path: a.csv}
  - name: split
    op: split
    needs: [load]
  - name: train
    op: describe
    needs: [split.train]
    register: {model: churn, description: weekly}
  - name: xgb
    exec: [python3, train.py]
    register: {model: churn-xgb, artifact: model.json, format: xgboost, features: [a, b]}
`)
	if r := p.Task("train").Register; r == nil || r.Model != "churn" || r.Description != "weekly" {
		t.Fatalf("train.register = %+v", r)
	}
	if r := p.Task("xgb").Register; r.Artifact != "model.json" || r.Format != "xgboost" || len(r.Features) != 2 {
		t.Fatalf("xgb.register = %+v", r)
	}
	checkErrors(t, parseErrors(t, `name: m
tasks:
  - name: a
    op: describe
    register: {model: x, artifact: m.json, format: xgboost}
  - name: b
    op: describe
    register: {output: nope, model: y}
  - name: c
    script: "true"
    register: {model: z, artifact: ../m.json, format: onnx}
  - name: d
    op: describe
    register: {mode: x}
`),
		wantErr{"tasks[0].register.artifact", 3, "only an exec task"},
		wantErr{"tasks[1].register.output", 6, `no output "nope"`},
		wantErr{"tasks[2].register.artifact", 11, "under FORGE_ARTIFACTS"},
		wantErr{"tasks[2].register.format", 11, "forged, xgboost or lightgbm"},
		wantErr{"tasks[3].register.mode", 14, `unknown key "mode"`},
		wantErr{"tasks[3].register.model", 14, "is required"},
	)
}
