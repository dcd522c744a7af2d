package cli

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// applyConfigFile sets the command's flags from a YAML file whose keys are
// flag names (`data-dir: /var/lib/forged`, `join: [a:7946, b:7946]`,
// `label: {zone: a}`). A flag given on the command line wins over the file.
func applyConfigFile(cmd *cobra.Command, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		f := cmd.Flags().Lookup(key)
		if f == nil || key == "config" {
			return fmt.Errorf("config file %s: unknown setting %q (settings are the flags of forged %s)", path, key, cmd.Name())
		}
		if f.Changed {
			continue
		}
		if err := setFlag(f, values[key]); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, key, err)
		}
	}
	return nil
}

func setFlag(f *pflag.Flag, v any) error {
	switch x := v.(type) {
	case []any:
		for _, item := range x {
			if err := f.Value.Set(fmt.Sprint(item)); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := f.Value.Set(k + "=" + fmt.Sprint(x[k])); err != nil {
				return err
			}
		}
		return nil
	case nil:
		return nil
	default:
		return f.Value.Set(strings.TrimSpace(fmt.Sprint(x)))
	}
}
