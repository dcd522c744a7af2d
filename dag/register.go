package dag

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Register asks that a task's model be registered in the model registry
// once the task succeeds.
type Register struct {
	// Model is the registered model's name; each success adds a version.
	Model string `json:"model"`
	// Output is the task output holding the model (a model table, as the
	// training ops write); default the task's first output.
	Output string `json:"output,omitempty"`
	// Artifact is, for an exec task, a file under FORGE_ARTIFACTS holding
	// the model, and Format its format (forged, xgboost, lightgbm).
	Artifact string `json:"artifact,omitempty"`
	Format   string `json:"format,omitempty"`
	// Features name the model's inputs, for a model file that does not.
	Features []string `json:"features,omitempty"`
	// Description is kept with each version.
	Description string `json:"description,omitempty"`
}

var registerKeys = []string{"model", "output", "artifact", "format", "features", "description"}

// register reads a task's `register:` mapping.
func (sp *specParser) register(n *yaml.Node, path string) *Register {
	d := deref(n)
	if d == nil || d.Kind != yaml.MappingNode {
		sp.pr.at(path, n, "must be a mapping such as {model: churn}, not %s", describe(d))
		return nil
	}
	r := &Register{}
	for _, e := range pairs(d, path, sp.pr) {
		fpath := field(path, e.key)
		switch e.key {
		case "model":
			r.Model, _ = sp.name(e.val, fpath, "model name")
		case "output":
			r.Output, _ = sp.name(e.val, fpath, "output name")
		case "artifact":
			if s, ok := stringValue(e.val, fpath, sp.pr); ok {
				if s == "" || strings.HasPrefix(s, "/") || strings.Contains("/"+s+"/", "/../") {
					sp.pr.at(fpath, e.val, "must be a file name under FORGE_ARTIFACTS, such as model.json")
				}
				r.Artifact = s
			}
		case "format":
			if s, ok := stringValue(e.val, fpath, sp.pr); ok {
				if s != "forged" && s != "xgboost" && s != "lightgbm" {
					sp.pr.at(fpath, e.val, "must be forged, xgboost or lightgbm")
				}
				r.Format = s
			}
		case "features":
			v := deref(e.val)
			if v == nil || v.Kind != yaml.SequenceNode {
				sp.pr.at(fpath, e.val, "must be a list of feature names")
				continue
			}
			for i, f := range v.Content {
				if s, ok := stringValue(f, index(fpath, i), sp.pr); ok {
					r.Features = append(r.Features, s)
				}
			}
		case "description":
			r.Description = description(e.val, fpath, sp.pr)
		default:
			sp.pr.at(fpath, e.keyNode, "unknown key %q; %s", e.key, choices("register takes", e.key, registerKeys))
		}
	}
	if r.Model == "" {
		sp.pr.at(field(path, "model"), d, "is required: the name to register the model under")
	}
	if (r.Artifact == "") != (r.Format == "") {
		sp.pr.at(path, d, "artifact and format go together: the file under FORGE_ARTIFACTS and its format")
	}
	return r
}

// checkRegister checks a task's register against the task, once its
// outputs are known.
func (sp *specParser) checkRegister(t *Task, path string, n *yaml.Node) {
	r := t.Register
	if r == nil {
		return
	}
	if r.Artifact != "" && !t.IsExec() {
		sp.pr.at(field(field(path, "register"), "artifact"), n, "only an exec task leaves artifacts; an op's model is one of its outputs")
	}
	if r.Output != "" && !contains(t.Outputs, r.Output) {
		sp.pr.at(field(field(path, "register"), "output"), n, "the task has no output %q (outputs: %s)", r.Output, strings.Join(t.Outputs, ", "))
	}
}
