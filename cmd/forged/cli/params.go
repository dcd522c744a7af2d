package cli

import (
	"fmt"
	"os"
	"strings"
)

// parseParams turns repeated --param name=value flags into a map; values
// stay strings and the pipeline's declared types convert them.
func parseParams(kvs []string) (map[string]any, error) {
	params := map[string]any{}
	for _, kv := range kvs {
		name, value, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--param %q: want name=value", kv)
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("--param %s given twice", name)
		}
		params[name] = value
	}
	return params, nil
}

// readSpec reads a pipeline spec file and the --param values given with
// it.
func readSpec(path string, params []string) ([]byte, map[string]any, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	given, err := parseParams(params)
	if err != nil {
		return nil, nil, err
	}
	return src, given, nil
}
