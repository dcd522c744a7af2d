package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/forged-dev/forged/dag"
)

// execOp runs a command or an inline script as a task: see runExec for
// the contract between forged and the program.
func execOp() Op {
	return Op{Spec: dag.OpSpec{
		Name: dag.ExecOp,
		Description: "Runs a command (exec) or an inline script (script, with an interpreter) with the task's " +
			"inputs as files and FORGE_* variables naming them, its outputs, metrics and artifacts; " +
			"only on nodes started with --enable-exec.",
		MinInputs: 0, MaxInputs: -1,
		Optional: []string{"exec", "script", "interpreter", "format", "env", "workdir", "memory"},
	}, Run: runExec}
}

// execConfig is an exec task's options, checked.
type execConfig struct {
	argv   []string
	script string
	format string
	env    map[string]string
	dir    string // where the program starts
	// memory, when positive, is the program's address-space limit in
	// bytes (RLIMIT_AS), from the task's memory key.
	memory int64
}

// The environment variables a node passes on to its programs: enough to
// find commands and speak the locale, and none of its own secrets.
var passedEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ"}

// runExec runs an exec task. The contract:
//
//   - each input is written to a file in the task's format (arrow, parquet,
//     csv or jsonl; arrow by default) and named by FORGE_INPUT_<NAME>, NAME
//     being the needed task's name (with _OUTPUT when the need names a
//     non-default output), upper-cased;
//   - each declared output is read back, as Arrow, from the file named by
//     FORGE_OUTPUT_<NAME>, in the same format; a missing or malformed file
//     fails the task;
//   - FORGE_METRICS names a JSON file the program may write: an object of
//     numbers, booleans, strings and lists of numbers (series);
//   - FORGE_ARTIFACTS is a directory for files to keep; FORGE_WORKDIR a
//     scratch directory (also TMPDIR) removed after the attempt;
//   - FORGE_PARAMS holds the run's params as JSON, and each one is also in
//     FORGE_PARAM_<NAME>; FORGE_RUN_ID, FORGE_TASK, FORGE_ATTEMPT and
//     FORGE_FORMAT say the rest;
//   - stdout and stderr go to the task's log line by line as they come;
//     a non-zero exit fails the task with its code and stderr's last
//     lines; on timeout or cancel the whole process group is stopped.
func runExec(ctx context.Context, env *Env) error {
	if !env.AllowExec {
		return errors.New("this node does not run exec tasks: start it with --enable-exec")
	}
	if env.WorkDir == "" {
		return errors.New("exec needs a work directory, and the node gave none")
	}
	cfg, err := execConfigOf(env)
	if err != nil {
		return err
	}
	files, err := prepareExecFiles(ctx, env, &cfg)
	if err != nil {
		return err
	}
	vars, err := execEnv(env, cfg, files)
	if err != nil {
		return err
	}
	logf(env, "exec %s (in %s)", strings.Join(quoteArgs(cfg.argv), " "), cfg.dir)
	if cfg.memory > 0 {
		logf(env, "memory limit: %s of address space (RLIMIT_AS)", dag.FormatBytes(cfg.memory))
	}
	if err := runProgram(ctx, env, cfg, vars); err != nil {
		return err
	}
	if err := readExecMetrics(env, files.metrics); err != nil {
		return err
	}
	return readExecOutputs(ctx, env, cfg.format, files.outputs)
}

// execConfigOf reads and checks the task's exec options; the parser
// checked their shapes already, this checks them again as rendered.
func execConfigOf(env *Env) (execConfig, error) {
	w := withOf(env)
	cfg := execConfig{format: "arrow", env: map[string]string{}}
	if v, ok := w["exec"]; ok {
		list, isList := v.([]any)
		if !isList || len(list) == 0 {
			return cfg, errors.New("exec: want a non-empty list of arguments")
		}
		for i, a := range list {
			switch a.(type) {
			case string, int, int64, uint64, float64, bool:
				cfg.argv = append(cfg.argv, fmt.Sprint(a))
			default:
				return cfg, fmt.Errorf("exec[%d]: want a plain value, got %s", i, describeValue(a))
			}
		}
	}
	if v, ok := w["script"]; ok {
		if cfg.argv != nil {
			return cfg, errors.New("exec and script: give one of them")
		}
		s, isStr := v.(string)
		if !isStr || strings.TrimSpace(s) == "" {
			return cfg, errors.New("script: want the script's text")
		}
		cfg.script = s
		interp := "sh"
		if iv, ok, err := w.str("interpreter"); err != nil {
			return cfg, err
		} else if ok {
			interp = iv
		}
		cfg.argv = strings.Fields(interp)
		if len(cfg.argv) == 0 {
			return cfg, errors.New("interpreter: want a command such as python3")
		}
	}
	if cfg.argv == nil {
		return cfg, errors.New("an exec task needs exec (a command) or script (inline code)")
	}
	if f, ok, err := w.str("format"); err != nil {
		return cfg, err
	} else if ok {
		if !slices.Contains(dag.ExecFormats, f) {
			return cfg, fmt.Errorf("format: want one of %s, got %q", strings.Join(dag.ExecFormats, ", "), f)
		}
		cfg.format = f
	}
	if v, ok := w["env"]; ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			return cfg, fmt.Errorf("env: want a mapping of variables, got %s", describeValue(v))
		}
		for k, val := range m {
			if strings.HasPrefix(k, "FORGE_") {
				return cfg, fmt.Errorf("env.%s: FORGE_ variables are set by forged", k)
			}
			cfg.env[k] = fmt.Sprint(val)
		}
	}
	if v, ok := w["memory"]; ok {
		limit, err := dag.MemoryLimit(v)
		if err != nil {
			return cfg, err
		}
		cfg.memory = limit
	}
	if len(env.DataRoots) > 0 {
		cfg.dir = env.DataRoots[0]
	}
	if d, ok, err := w.str("workdir"); err != nil {
		return cfg, err
	} else if ok {
		real, err := resolvePath(env, d)
		if err != nil {
			return cfg, fmt.Errorf("workdir: %w", err)
		}
		if st, err := os.Stat(real); err != nil || !st.IsDir() {
			return cfg, fmt.Errorf("workdir %s: not a directory under the data roots", d)
		}
		cfg.dir = real
	}
	if cfg.dir == "" {
		cfg.dir = env.WorkDir
	}
	return cfg, nil
}

// execFiles are the paths a program is given.
type execFiles struct {
	inputs  map[string]string // variable name → path
	outputs map[string]string // output name → path
	metrics string
	tmp     string
}

// prepareExecFiles writes the inputs and the script into the work dir and
// picks the output paths.
func prepareExecFiles(ctx context.Context, env *Env, cfg *execConfig) (execFiles, error) {
	files := execFiles{inputs: map[string]string{}, outputs: map[string]string{},
		metrics: filepath.Join(env.WorkDir, "metrics.json"), tmp: filepath.Join(env.WorkDir, "tmp")}
	for _, dir := range []string{"inputs", "outputs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(env.WorkDir, dir), 0o700); err != nil {
			return files, err
		}
	}
	ext := "." + cfg.format
	for _, in := range env.Inputs {
		name := dag.ExecInputName(in.Need)
		if _, dup := files.inputs[name]; dup {
			return files, fmt.Errorf("two inputs are both named FORGE_INPUT_%s", name)
		}
		path := filepath.Join(env.WorkDir, "inputs", in.Need.Task+"."+in.Need.Output+ext)
		rows, err := writeExecInput(ctx, env, in, cfg.format, path)
		if err != nil {
			return files, fmt.Errorf("write input %s as %s: %w", in.Need, cfg.format, err)
		}
		logf(env, "input %s: %d rows in $FORGE_INPUT_%s", in.Need, rows, name)
		files.inputs[name] = path
	}
	if env.Task != nil {
		for _, out := range env.Task.Outputs {
			files.outputs[out] = filepath.Join(env.WorkDir, "outputs", out+ext)
		}
	}
	if cfg.script != "" {
		path := filepath.Join(env.WorkDir, "script")
		if err := os.WriteFile(path, []byte(cfg.script), 0o700); err != nil {
			return files, err
		}
		cfg.argv = append(cfg.argv, path)
	}
	return files, nil
}

// execEnv is the program's environment: a few of the node's variables,
// the task's env, and the FORGE_ ones.
func execEnv(env *Env, cfg execConfig, files execFiles) ([]string, error) {
	vars := map[string]string{}
	for _, k := range passedEnv {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	vars["TMPDIR"] = files.tmp
	vars["PYTHONUNBUFFERED"] = "1" // so that print() reaches the log as it happens
	for k, v := range cfg.env {
		vars[k] = v
	}
	params := env.Params
	if params == nil {
		params = map[string]any{}
	}
	pj, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("params as JSON: %w", err)
	}
	vars["FORGE_PARAMS"] = string(pj)
	for k, v := range params {
		vars["FORGE_PARAM_"+dag.EnvName(k)] = fmt.Sprint(v)
	}
	task := ""
	if env.Task != nil {
		task = env.Task.Name
	}
	vars["FORGE_RUN_ID"] = env.Run
	vars["FORGE_TASK"] = task
	vars["FORGE_ATTEMPT"] = strconv.Itoa(env.Attempt)
	vars["FORGE_FORMAT"] = cfg.format
	vars["FORGE_WORKDIR"] = env.WorkDir
	vars["FORGE_METRICS"] = files.metrics
	vars["FORGE_ARTIFACTS"] = env.ArtifactDir
	for name, path := range files.inputs {
		vars["FORGE_INPUT_"+name] = path
	}
	for name, path := range files.outputs {
		vars["FORGE_OUTPUT_"+dag.EnvName(name)] = path
	}
	list := make([]string, 0, len(vars))
	for k, v := range vars {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list, nil
}

// quoteArgs quotes arguments with spaces for the log.
func quoteArgs(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

// lookProgram finds argv[0] the way the program's own PATH would.
func lookProgram(name, dir string, vars []string) (string, error) {
	if strings.ContainsRune(name, filepath.Separator) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return name, nil
	}
	path := ""
	for _, v := range vars {
		if p, ok := strings.CutPrefix(v, "PATH="); ok {
			path = p
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH", name)
}
