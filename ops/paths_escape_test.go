package ops

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// Every file operator, reading or writing, refuses paths that leave the
// data roots: "..", absolute paths elsewhere, a symlinked directory or
// file pointing out. A write through a dangling symlink replaces the link
// inside the root and never creates its target outside.
func TestFileOpsStayInsideTheDataRoots(t *testing.T) {
	ops := map[string]func() Op{
		"read_csv": readCSVOp, "read_jsonl": readJSONLOp, "read_arrow": readArrowOp, "read_parquet": readParquetOp,
		"write_csv": writeCSVOp, "write_parquet": writeParquetOp,
	}
	writes := map[string]bool{"write_csv": true, "write_parquet": true}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			outside := t.TempDir()
			target := filepath.Join(outside, "target")
			if err := os.WriteFile(target, []byte("a\n1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"../target", "../../../../../../" + target, target, "dir/target", "link", "ok/../../target"} {
				te := newEnv(t, map[string]any{"path": p})
				if err := os.Symlink(outside, filepath.Join(te.root, "dir")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, filepath.Join(te.root, "link")); err != nil {
					t.Fatal(err)
				}
				if writes[name] {
					te.addJSONInput(schemaOf(field("a", arrow.PrimitiveTypes.Int64)), `[{"a": 7}]`)
				}
				wantErr(t, te.run(op()), "is outside the data roots")
				if b, _ := os.ReadFile(target); string(b) != "a\n1\n" {
					t.Fatalf("%s %s changed the file outside the roots: %q", name, p, b)
				}
			}
			if !writes[name] {
				return
			}
			te := newEnv(t, map[string]any{"path": "dangling"})
			te.addJSONInput(schemaOf(field("a", arrow.PrimitiveTypes.Int64)), `[{"a": 7}]`)
			gone := filepath.Join(outside, "created-by-a-write")
			if err := os.Symlink(gone, filepath.Join(te.root, "dangling")); err != nil {
				t.Fatal(err)
			}
			if err := te.run(op()); err != nil {
				t.Fatalf("write through a dangling link: %v", err)
			}
			if _, err := os.Stat(gone); err == nil {
				t.Fatalf("%s created %s, outside the roots, through a dangling symlink", name, gone)
			}
			if st, err := os.Lstat(filepath.Join(te.root, "dangling")); err != nil || !st.Mode().IsRegular() {
				t.Fatalf("the link was not replaced by the written file: %v %v", st, err)
			}
		})
	}
}
