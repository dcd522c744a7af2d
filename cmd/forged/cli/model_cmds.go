package cli

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newModelsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List, show and register models, and move their aliases",
	}
	cmd.AddCommand(newModelsListCmd(g), newModelsShowCmd(g), newModelsRegisterCmd(g), newModelsAliasCmd(g))
	return cmd
}

func newModelsListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the registered models",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			models, err := g.client().Models(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, models)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tVERSIONS\tLATEST\tFORMAT\tALIASES\tCREATED")
			for _, m := range models {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", m.Name, m.Versions, m.Latest.Version, m.Latest.Format,
					aliasList(m.Aliases), m.Latest.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
}

func aliasList(aliases map[string]int) string {
	if len(aliases) == 0 {
		return "-"
	}
	var parts []string
	for a, v := range aliases {
		parts = append(parts, fmt.Sprintf("%s=%d", a, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func newModelsShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a model's versions, signatures, metrics, aliases and alias history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.client().Model(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, m)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "model %s\taliases: %s\n", m.Name, aliasList(m.Aliases))
			fmt.Fprintln(tw, "VERSION\tFORMAT\tSOURCE\tCREATED\tMETRICS")
			for _, v := range m.Versions {
				src := "upload"
				if !v.Source.Uploaded {
					src = fmt.Sprintf("run %s task %s", v.Source.Run, v.Source.Task)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", v.Version, v.Format, src, v.CreatedAt.Local().Format("2006-01-02 15:04:05"), metricList(v.Metrics))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if n := len(m.Versions); n > 0 {
				fmt.Fprintf(g.stdout, "signature of version %d: %s\n", m.Versions[n-1].Version, m.Versions[n-1].Signature)
			}
			for _, mv := range m.AliasHistory {
				fmt.Fprintf(g.stdout, "%s  %s: %s -> %s\n", mv.At.Local().Format("2006-01-02 15:04:05"), mv.Alias, versionOrNone(mv.From), versionOrNone(mv.To))
			}
			return nil
		},
	}
}

func versionOrNone(v int) string {
	if v == 0 {
		return "(none)"
	}
	return strconv.Itoa(v)
}

func metricList(m map[string]any) string {
	var parts []string
	for k, v := range m {
		if f, ok := v.(float64); ok {
			parts = append(parts, fmt.Sprintf("%s=%.4g", k, f))
		} else if _, isList := v.([]any); !isList {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func newModelsRegisterCmd(g *globals) *cobra.Command {
	var format, description string
	var features []string
	cmd := &cobra.Command{
		Use:   "register NAME FILE",
		Short: "Register a model file (forged, XGBoost JSON or LightGBM text) as the model's next version",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[1])
			if err != nil {
				return err
			}
			defer f.Close()
			v, err := g.client().RegisterModel(cmd.Context(), args[0], format, features, description, f)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, v)
			}
			fmt.Fprintf(g.stdout, "model %s version %d (%s, sha256 %s)\n", v.Model, v.Version, v.Format, v.SHA256[:12])
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "forged, xgboost or lightgbm (required)")
	cmd.Flags().StringSliceVar(&features, "features", nil, "feature names, in order, for a file that does not record them")
	cmd.Flags().StringVar(&description, "description", "", "kept with the version")
	_ = cmd.MarkFlagRequired("format")
	return cmd
}

func newModelsAliasCmd(g *globals) *cobra.Command {
	var remove bool
	cmd := &cobra.Command{
		Use:   "alias NAME ALIAS [VERSION]",
		Short: "Point an alias (production, staging, any name) at a version, or --remove it",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			version := 0
			switch {
			case remove && len(args) == 3:
				return errors.New("--remove takes no version")
			case !remove && len(args) != 3:
				return errors.New("give the version the alias should point at, or --remove")
			case !remove:
				v, err := strconv.Atoi(args[2])
				if err != nil || v <= 0 {
					return fmt.Errorf("version %q: want a version number", args[2])
				}
				version = v
			}
			if err := g.client().SetAlias(cmd.Context(), args[0], args[1], version); err != nil {
				return err
			}
			if remove {
				fmt.Fprintf(g.stdout, "%s@%s removed\n", args[0], args[1])
			} else {
				fmt.Fprintf(g.stdout, "%s@%s -> version %d\n", args[0], args[1], version)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the alias")
	return cmd
}

func newPredictCmd(g *globals) *cobra.Command {
	var dataFile, jsonBody string
	var labels bool
	cmd := &cobra.Command{
		Use:   "predict MODEL[@ALIAS|@VERSION] (--data FILE.csv | --json BODY)",
		Short: "Score rows with a registered model",
		Long: `Score rows with a registered model on any node. --data reads a CSV file with a
header naming the model's features (other columns are ignored); --json sends a
body as the API takes it: {"instances": [[...], ...]} or {"records": [{...}]}.
Prints one prediction per line (or the API's JSON with --json output).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body []byte
			switch {
			case dataFile != "" && jsonBody != "":
				return errors.New("give --data or --json, not both")
			case dataFile != "":
				f, err := os.Open(dataFile)
				if err != nil {
					return err
				}
				defer f.Close()
				if body, err = csvRecords(f); err != nil {
					return fmt.Errorf("%s: %w", dataFile, err)
				}
			case jsonBody != "":
				body = []byte(jsonBody)
			default:
				return errors.New("give the rows with --data FILE.csv or --json BODY")
			}
			p, err := g.client().Predict(cmd.Context(), args[0], body, labels)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.stdout, p)
			}
			for _, v := range p.Predictions {
				b, _ := json.Marshal(v)
				fmt.Fprintln(g.stdout, strings.Trim(string(b), `"`))
			}
			fmt.Fprintf(g.stderr, "%d predictions from %s version %d\n", len(p.Predictions), p.Model, p.Version)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataFile, "data", "", "CSV file with a header row")
	cmd.Flags().StringVar(&jsonBody, "json", "", `request body, such as '{"instances": [[1.5, 2]]}'`)
	cmd.Flags().BoolVar(&labels, "labels", false, "classifiers: print labels instead of probabilities")
	return cmd
}

// csvRecords turns a CSV file into a {"records": [...]} body: numbers
// stay numbers, true/false booleans, empty cells null, anything else
// text (which the API refuses for a numeric feature, naming it).
func csvRecords(r io.Reader) ([]byte, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read the header: %w", err)
	}
	var rows []map[string]any
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		row := make(map[string]any, len(header))
		for i, cell := range rec {
			switch {
			case cell == "":
				row[header[i]] = nil
			case cell == "true" || cell == "false":
				row[header[i]] = cell == "true"
			default:
				if f, err := strconv.ParseFloat(cell, 64); err == nil {
					row[header[i]] = json.Number(strconv.FormatFloat(f, 'g', -1, 64))
				} else {
					row[header[i]] = cell
				}
			}
		}
		rows = append(rows, row)
	}
	return json.Marshal(map[string]any{"records": rows})
}
