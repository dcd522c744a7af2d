package dataplane

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}, Nullable: true},
}, nil)

// makeBatch builds rows [start, start+n): name is null on every third row.
func makeBatch(mem memory.Allocator, start, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, testSchema)
	defer b.Release()
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := start; i < start+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%3 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append("row \"" + string(rune('a'+i%26)) + "\"")
		}
		b.Field(2).(*array.Float64Builder).Append(float64(i) / 2)
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(base.Add(time.Duration(i) * time.Hour).Unix()))
	}
	return b.NewRecordBatch()
}

func newStore(t *testing.T) (*Store, *memory.CheckedAllocator) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	s, err := OpenStore(t.TempDir(), mem)
	if err != nil {
		t.Fatal(err)
	}
	s.sidecarMin = 0 // every output gets a sidecar, to test them
	return s, mem
}

// writeOutput commits batches of the given sizes and returns the meta.
func writeOutput(t *testing.T, s *Store, ref OutputRef, sizes ...int) {
	t.Helper()
	w, err := s.Create(ref, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	start := 0
	for _, n := range sizes {
		rec := makeBatch(s.mem, start, n)
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		start += n
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// readIDs reads every id of rr, checking the batches are valid.
func readIDs(t *testing.T, rr array.RecordReader) []int64 {
	t.Helper()
	var ids []int64
	for rr.Next() {
		rec := rr.RecordBatch()
		ids = append(ids, rec.Column(0).(*array.Int64).Int64Values()...)
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestRoundTrip(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	ref := OutputRef{Run: "r1", Task: "load", Output: "out"}

	w, err := s.Create(ref, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{5, 0, 7, 3} {
		rec := makeBatch(mem, i*100, n)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if _, err := os.Stat(s.path(ref, arrowExt)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output visible before commit: %v", err)
	}
	meta, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Name != "out" || meta.Rows != 15 || meta.Bytes <= 0 || len(meta.Schema) != 4 {
		t.Fatalf("meta = %+v", meta)
	}
	if meta.Schema[3].Type != "timestamp[s, tz=UTC]" || meta.Schema[1].Name != "name" || !meta.Schema[1].Nullable {
		t.Fatalf("schema fields = %+v", meta.Schema)
	}
	again, err := w.Commit()
	if err != nil || again.Rows != meta.Rows {
		t.Fatalf("second commit = %+v, %v", again, err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("abort after commit: %v", err)
	}
	if st, err := os.Stat(s.path(ref, arrowExt)); err != nil || st.Size() != meta.Bytes {
		t.Fatalf("file: %v, %v", st, err)
	}

	got, err := s.Meta(ref)
	if err != nil || got.Rows != 15 || got.Bytes != meta.Bytes {
		t.Fatalf("Meta = %+v, %v", got, err)
	}

	f, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	if f.NumBatches() != 3 || f.Rows() != 15 || !f.Schema().Equal(testSchema) {
		t.Fatalf("batches %d rows %d schema %s", f.NumBatches(), f.Rows(), f.Schema())
	}
	rr, err := f.Reader()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var ids []int64
	for rr.Next() {
		rec := rr.RecordBatch()
		ids = append(ids, rec.Column(0).(*array.Int64).Int64Values()...)
		col := rec.Column(1).(*array.String)
		for i := 0; i < col.Len(); i++ {
			names = append(names, col.ValueStr(i))
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	rr.Release()
	want := []int64{0, 1, 2, 3, 4, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302}
	if len(ids) != len(want) {
		t.Fatalf("ids = %v", ids)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("ids = %v, want %v", ids, want)
		}
	}
	if names[0] != array.NullValueStr || names[1] != `row "b"` {
		t.Fatalf("names = %q", names)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := f.Reader(); err == nil {
		t.Fatal("Reader after Close succeeded")
	}
}

func TestCommitReplacesAndWriteChecksSchema(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	ref := OutputRef{Run: "r", Task: "t", Output: "out"}
	writeOutput(t, s, ref, 10)
	writeOutput(t, s, ref, 2, 2)
	if m, err := s.Meta(ref); err != nil || m.Rows != 4 {
		t.Fatalf("meta after replace = %+v, %v", m, err)
	}

	w, err := s.Create(ref, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int32}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	rec := makeBatch(mem, 0, 1)
	defer rec.Release()
	if err := w.Write(rec); err == nil {
		t.Fatal("write with another schema succeeded")
	}
}

func TestEmptyOutput(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	ref := OutputRef{Run: "r", Task: "t", Output: "empty"}
	w, err := s.Create(ref, arrow.NewSchema(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := w.Commit()
	if err != nil || meta.Rows != 0 || len(meta.Schema) != 0 {
		t.Fatalf("meta = %+v, %v", meta, err)
	}
	f, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rr, err := f.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	if rr.Next() || rr.Err() != nil || f.NumBatches() != 0 {
		t.Fatalf("empty output read a batch (err %v)", rr.Err())
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	ref := OutputRef{Run: "r", Task: "t", Output: "out"}
	w, err := s.Create(ref, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	rec := makeBatch(mem, 0, 10)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	if _, err := w.Commit(); err == nil {
		t.Fatal("commit after abort succeeded")
	}
	rec = makeBatch(mem, 0, 1)
	if err := w.Write(rec); err == nil {
		t.Fatal("write after abort succeeded")
	}
	rec.Release()
	if left := filesOf(t, s, ref); len(left) != 0 {
		t.Fatalf("an aborted output left %v", left)
	}
	if _, err := s.Open(ref); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("open aborted output: %v", err)
	}
}

func TestConcurrentReaders(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	ref := OutputRef{Run: "r", Task: "t", Output: "out"}
	writeOutput(t, s, ref, 100, 100, 100, 100, 50)
	f, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	read := func(rr array.RecordReader) {
		defer wg.Done()
		defer rr.Release()
		var sum, n int64
		for rr.Next() {
			for _, v := range rr.RecordBatch().Column(0).(*array.Int64).Int64Values() {
				sum += v
				n++
			}
		}
		if rr.Err() != nil || n != 450 || sum != 449*450/2 {
			errs <- errors.New("bad read")
		}
	}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		if g%2 == 0 { // half share one OutputFile
			rr, err := f.Reader()
			if err != nil {
				t.Fatal(err)
			}
			go read(rr)
			continue
		}
		go func() { // half open their own
			own, err := s.Open(ref)
			if err != nil {
				errs <- err
				wg.Done()
				return
			}
			defer own.Close()
			rr, err := own.Reader()
			if err != nil {
				errs <- err
				wg.Done()
				return
			}
			read(rr)
		}()
	}
	// Closing while readers run: the file stays open until they finish.
	f.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestLargeOutputStreams checks a reader holds one batch at a time: the
// allocator never holds more than a few batches while 200 are read.
func TestLargeOutputStreams(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	ref := OutputRef{Run: "r", Task: "big", Output: "out"}
	const batches, rows = 200, 1000
	w, err := s.Create(ref, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	one := 0
	for i := 0; i < batches; i++ {
		rec := makeBatch(mem, i*rows, rows)
		if i == 0 {
			one = mem.CurrentAlloc()
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rr, err := f.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	peak, n := 0, int64(0)
	for rr.Next() {
		n += rr.RecordBatch().NumRows()
		peak = max(peak, mem.CurrentAlloc())
	}
	if rr.Err() != nil || n != batches*rows {
		t.Fatalf("read %d rows: %v", n, rr.Err())
	}
	if peak > 4*one {
		t.Fatalf("reader held %d bytes at peak; one batch is about %d", peak, one)
	}
}

func TestBadRefs(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	for _, bad := range []string{"", "a/b", "a/b/c/d", "../b/c", "a/../c", "a/b/..", "a/b/.", "a//c",
		`a/b\c/d`, "a/b/x..y", "a/b/c\x00", "a/b/c\n"} {
		if _, err := ParseOutputRef(bad); !errors.Is(err, ErrBadRef) {
			t.Errorf("ParseOutputRef(%q) = %v, want ErrBadRef", bad, err)
		}
	}
	ref, err := ParseOutputRef("run-1/train_model/metrics.v2")
	if err != nil || ref != (OutputRef{"run-1", "train_model", "metrics.v2"}) || ref.String() != "run-1/train_model/metrics.v2" {
		t.Fatalf("ParseOutputRef = %+v, %v", ref, err)
	}
	badRef := OutputRef{Run: "..", Task: "t", Output: "o"}
	if _, err := s.Create(badRef, testSchema); !errors.Is(err, ErrBadRef) {
		t.Errorf("Create: %v", err)
	}
	if _, err := s.Open(badRef); !errors.Is(err, ErrBadRef) {
		t.Errorf("Open: %v", err)
	}
	if _, err := s.Meta(badRef); !errors.Is(err, ErrBadRef) {
		t.Errorf("Meta: %v", err)
	}
	if err := s.RemoveRun("../x"); !errors.Is(err, ErrBadRef) {
		t.Errorf("RemoveRun: %v", err)
	}
}

func TestMissingOutput(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	ref := OutputRef{Run: "r", Task: "t", Output: "nope"}
	if _, err := s.Open(ref); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.Meta(ref); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("Meta: %v", err)
	}
}

func TestMetaWithoutCache(t *testing.T) {
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	ref := OutputRef{Run: "r", Task: "t", Output: "out"}
	writeOutput(t, s, ref, 3, 4)
	if err := os.Remove(s.path(ref, sidecarExt)); err != nil {
		t.Fatal(err)
	}
	m, err := s.Meta(ref)
	if err != nil || m.Rows != 7 || len(m.Schema) != 4 {
		t.Fatalf("Meta = %+v, %v", m, err)
	}
	if _, err := os.Stat(s.path(ref, sidecarExt)); err != nil {
		t.Fatalf("cache not rewritten: %v", err)
	}
	// A stale cache (as after a crash between the renames) is ignored.
	if err := os.WriteFile(s.path(ref, sidecarExt), []byte(`{"meta":{"rows":99,"bytes":1},"batches":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Rows() != 7 {
		t.Fatalf("rows = %d", f.Rows())
	}
}

func TestRemoveRunAndTemps(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	s, err := OpenStore(dir, mem)
	if err != nil {
		t.Fatal(err)
	}
	a := OutputRef{Run: "a", Task: "t", Output: "out"}
	b := OutputRef{Run: "b", Task: "t", Output: "out"}
	writeOutput(t, s, a, 1)
	writeOutput(t, s, b, 1)
	w, err := s.Create(OutputRef{Run: "b", Task: "t", Output: "half"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	_ = w // a crash: never committed nor aborted
	if err := s.RemoveRun("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(a); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("open removed run: %v", err)
	}
	if err := s.RemoveRun("never-existed"); err != nil {
		t.Fatalf("remove unknown run: %v", err)
	}
	if _, err := OpenStore(dir, mem); err != nil {
		t.Fatal(err)
	}
	temps, _ := filepath.Glob(filepath.Join(dir, "b", "t", "*"+tempExt))
	if len(temps) != 0 {
		t.Fatalf("temps left after reopen: %v", temps)
	}
	w.Abort() // releases the writer's memory; the file is already gone
	if m, err := s.Meta(b); err != nil || m.Rows != 1 {
		t.Fatalf("Meta(b) = %+v, %v", m, err)
	}
}

func TestSmallOutputsHaveNoSidecar(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s, err := OpenStore(t.TempDir(), mem)
	if err != nil {
		t.Fatal(err)
	}
	ref := OutputRef{Run: "r", Task: "t", Output: "out"}
	writeOutput(t, s, ref, 3, 4)
	if _, err := os.Stat(s.path(ref, sidecarExt)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a small output has a sidecar: %v", err)
	}
	m, err := s.Meta(ref)
	if err != nil || m.Rows != 7 || len(m.Schema) != 4 {
		t.Fatalf("Meta = %+v, %v", m, err)
	}
	if _, err := os.Stat(s.path(ref, sidecarExt)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading a small output wrote a sidecar: %v", err)
	}
	// A small output replacing a large one drops the large one's cache.
	s.sidecarMin = 0
	writeOutput(t, s, ref, 50)
	if _, err := os.Stat(s.path(ref, sidecarExt)); err != nil {
		t.Fatal(err)
	}
	s.sidecarMin = sidecarMinBytes
	writeOutput(t, s, ref, 2)
	if _, err := os.Stat(s.path(ref, sidecarExt)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a stale sidecar survived: %v", err)
	}
	if m, err := s.Meta(ref); err != nil || m.Rows != 2 {
		t.Fatalf("Meta after replacing = %+v, %v", m, err)
	}
}

func TestFlatNamesDoNotCollide(t *testing.T) {
	pairs := [][2]string{{"a=b", "c"}, {"a", "b=c"}, {"a%3Db", "c"}, {"a", "b"}, {"a%", "b"}, {"a", "%b"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		n := flatName(p[0], p[1])
		if prev, dup := seen[n]; dup {
			t.Fatalf("%v and %v share the file name %q", prev, p, n)
		}
		seen[n] = p
	}
	s, mem := newStore(t)
	defer mem.AssertSize(t, 0)
	for i, p := range pairs {
		writeOutput(t, s, OutputRef{Run: "r", Task: p[0], Output: p[1]}, i+1)
	}
	for i, p := range pairs {
		if m, err := s.Meta(OutputRef{Run: "r", Task: p[0], Output: p[1]}); err != nil || m.Rows != int64(i+1) {
			t.Fatalf("%v: %+v, %v", p, m, err)
		}
	}
}

// filesOf lists the files of the run's directory that belong to ref,
// temporary ones included.
func filesOf(t *testing.T, s *Store, ref OutputRef) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Dir(), ref.Run))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), flatName(ref.Task, ref.Output)+".") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestSmallOutputsStayInline(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s, err := OpenStoreWith(t.TempDir(), StoreOptions{Mem: mem, InlineMax: DefaultInlineMax})
	if err != nil {
		t.Fatal(err)
	}
	small := OutputRef{Run: "r", Task: "small", Output: "out"}
	big := OutputRef{Run: "r", Task: "big", Output: "out"}

	// An earlier attempt left a file under the small output's name.
	s.inlineMax = 0
	writeOutput(t, s, small, 2000)
	s.inlineMax = DefaultInlineMax

	w, err := s.Create(small, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	rec := makeBatch(mem, 0, 3)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	meta, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Inline) == 0 || meta.Rows != 3 || meta.Bytes != int64(len(meta.Inline)) || meta.Bytes > DefaultInlineMax {
		t.Fatalf("small output meta = rows %d bytes %d inline %d", meta.Rows, meta.Bytes, len(meta.Inline))
	}
	if left := filesOf(t, s, small); len(left) != 0 {
		t.Fatalf("an inline output left files: %v", left)
	}
	if _, err := s.Open(small); !errors.Is(err, ErrOutputNotFound) {
		t.Fatalf("the earlier attempt's file is still served: %v", err)
	}
	f, err := s.OpenInline(small, meta)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := f.Reader()
	if err != nil {
		t.Fatal(err)
	}
	if ids := readIDs(t, rr); len(ids) != 3 || f.Rows() != 3 {
		t.Fatalf("inline output reads back %v (rows %d)", ids, f.Rows())
	}
	rr.Release()
	f.Close()

	// Past the limit, the output goes to a file as usual.
	writeOutput(t, s, big, 2000)
	m, err := s.Meta(big)
	if err != nil || m.Rows != 2000 || len(m.Inline) != 0 {
		t.Fatalf("big output = %+v, %v", m, err)
	}

	// An aborted writer that never left memory leaves nothing.
	w, err = s.Create(OutputRef{Run: "r", Task: "gone", Output: "out"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenInline(small, dag.OutputMeta{}); err == nil {
		t.Fatal("opened an output without inline bytes as inline")
	}
}
