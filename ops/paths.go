package ops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// errNoDataRoots explains why a file op cannot run on this node.
var errNoDataRoots = errors.New("no data roots are configured on this node, so file ops cannot read or write files")

// resolvePath turns a user's path into an absolute path inside one of the
// data roots. A relative path is taken from the first root. The path is
// cleaned and its symlinks resolved before the check, so neither ".." nor
// a link can escape. For a path that does not exist yet (forWrite), the
// deepest existing ancestor is resolved instead.
func resolvePath(env *Env, p string) (string, error) {
	if len(env.DataRoots) == 0 {
		return "", errNoDataRoots
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q holds a NUL byte", p)
	}
	roots := make([]string, 0, len(env.DataRoots))
	for _, r := range env.DataRoots {
		abs, err := filepath.Abs(r)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			roots = append(roots, real)
		}
	}
	if len(roots) == 0 {
		return "", fmt.Errorf("none of the data roots exists: %s", strings.Join(env.DataRoots, ", "))
	}
	full := p
	if !filepath.IsAbs(full) {
		base, err := filepath.Abs(env.DataRoots[0])
		if err != nil {
			return "", err
		}
		full = filepath.Join(base, full)
	}
	full = filepath.Clean(full)
	real, err := evalExisting(full)
	if err != nil {
		return "", fmt.Errorf("resolve path %s: %w", p, err)
	}
	for _, r := range roots {
		if within(r, real) {
			return real, nil
		}
	}
	return "", fmt.Errorf("path %s is outside the data roots", p)
}

// evalExisting resolves symlinks in the longest existing prefix of p and
// appends the rest, which cannot hold links since it does not exist.
func evalExisting(p string) (string, error) {
	var rest []string
	cur := p
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel))
}

// openInRoots opens an existing file for reading after the data-root
// check.
func openInRoots(env *Env, p string) (*os.File, string, error) {
	real, err := resolvePath(env, p)
	if err != nil {
		return nil, "", err
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", p, unwrapPathError(err))
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, "", fmt.Errorf("open %s: it is a directory", p)
	}
	return f, real, nil
}

// unwrapPathError drops the absolute path from an *fs.PathError so that
// messages name the path as the user wrote it.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
