package dataplane

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

const (
	arrowExt   = ".arrow"
	sidecarExt = ".meta.json"
	tempExt    = ".tmp"
	// writeBuffer batches the IPC writer's many small writes.
	writeBuffer = 256 << 10
)

// Store keeps task outputs as Arrow IPC files under a directory:
// DIR/RUN/TASK/OUTPUT.arrow. Next to each file, OUTPUT.meta.json caches its
// row count and schema so that metadata never needs a scan of the data.
// A Store is safe for concurrent use.
type Store struct {
	dir string
	mem memory.Allocator

	// deferSync leaves the fsyncs of Commit to Sync; fs and group are
	// only set up when it is on.
	deferSync bool
	// flightToken is what FetchFlight and PutFlight present to peers.
	flightToken string
	// flightTLS is the TLS config FetchFlight and PutFlight dial with.
	flightTLS *tls.Config
	fs        *fsSyncer
	group     syncGroup

	// sidecarMin is the output size above which metadata is cached in a
	// sidecar (sidecarMinBytes; tests lower it).
	sidecarMin int64
	// inlineMax is StoreOptions.InlineMax.
	inlineMax int
}

// StoreOptions configures a Store opened with OpenStoreWith; the zero value
// gives what OpenStore gives.
type StoreOptions struct {
	// Mem allocates the memory of batches read and written; nil means
	// memory.DefaultAllocator.
	Mem memory.Allocator
	// DeferSync makes Commit skip its fsyncs (of the output file, of its
	// metadata sidecar and of their directories). Outputs are still
	// written to a temporary file and renamed into place, so readers never
	// see part of one, but a committed output only survives a crash of the
	// machine once Store.Sync has returned nil after its Commit. A Commit
	// that replaces an existing output syncs regardless, so that an output
	// that was durable can never become a torn one. Off (the default),
	// every Commit is durable when it returns. Platforms without a usable
	// whole-filesystem sync (Windows, Plan 9, WebAssembly, AIX) ignore the
	// option and always sync in Commit; on Unixes other than Linux, Sync
	// is only best-effort (see sync_unix.go).
	DeferSync bool
	// InlineMax, when positive, keeps outputs whose Arrow IPC file is at
	// most that many bytes in memory: Commit writes no file and returns
	// the bytes in OutputMeta.Inline, for the caller to keep (forged keeps
	// them in the replicated state; OpenInline reads them). Zero writes
	// every output to a file.
	InlineMax int
	// FlightToken is the bearer token FetchFlight and PutFlight present
	// to other nodes' Flight servers; empty sends none.
	FlightToken string
	// FlightTLS, when set, is the TLS config FetchFlight and PutFlight
	// dial other nodes' Flight servers with; nil dials plain TCP.
	FlightTLS *tls.Config
}

// DefaultInlineMax is the inline limit nodes use: outputs this small cost
// less in the state than as files.
const DefaultInlineMax = 4 << 10

// OpenStore opens (creating it if needed) the output store in dir and
// removes temporary files left by writers that never finished. A nil mem
// means memory.DefaultAllocator. Every Commit of the store is durable when
// it returns; see OpenStoreWith for grouping the syncs instead.
func OpenStore(dir string, mem memory.Allocator) (*Store, error) {
	return OpenStoreWith(dir, StoreOptions{Mem: mem})
}

// OpenStoreWith is OpenStore with options.
func OpenStoreWith(dir string, opts StoreOptions) (*Store, error) {
	mem := opts.Mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open output store: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open output store: %w", err)
	}
	s := &Store{dir: abs, mem: mem, sidecarMin: sidecarMinBytes, inlineMax: opts.InlineMax, flightToken: opts.FlightToken, flightTLS: opts.FlightTLS}
	if err := s.removeTemps(); err != nil {
		return nil, fmt.Errorf("open output store: %w", err)
	}
	if opts.DeferSync && canDeferSync {
		if s.fs, err = openFSSyncer(abs); err != nil {
			return nil, fmt.Errorf("open output store: %w", err)
		}
		s.deferSync = true
		s.group.init()
	}
	return s, nil
}

// DeferSync reports whether Commit leaves making outputs durable to Sync:
// whether the store was opened with StoreOptions.DeferSync on a platform
// that supports it.
func (s *Store) DeferSync() bool { return s.deferSync }

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.dir }

// removeTemps deletes half-written outputs of a previous process.
func (s *Store) removeTemps() error {
	return filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), tempExt) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
}

// path is where an output's file lives: one directory per run, and in it
// one file per task output, so that a task creates no directory of its
// own (directory creation in a shared parent is what slows small tasks).
func (s *Store) path(ref OutputRef, ext string) string {
	return filepath.Join(s.dir, ref.Run, flatName(ref.Task, ref.Output)+ext)
}

// flatName joins a task and an output name into one file name that can
// be split again: '=' separates them, and '%' and '=' inside either are
// escaped.
func flatName(task, output string) string {
	return flatEscaper.Replace(task) + "=" + flatEscaper.Replace(output)
}

var flatEscaper = strings.NewReplacer("%", "%25", "=", "%3D")

// Create starts writing an output. Nothing is visible to readers until
// Commit. In a store with StoreOptions.InlineMax set, the output is kept
// in memory while it is that small; past it, batches go to a temporary file
// in the run's directory.
func (s *Store) Create(ref OutputRef, schema *arrow.Schema) (*OutputWriter, error) {
	return s.create(ref, schema, s.inlineMax)
}

// createFile is Create for an output that must become a file whatever its
// size, such as a copy fetched from another node.
func (s *Store) createFile(ref OutputRef, schema *arrow.Schema) (*OutputWriter, error) {
	return s.create(ref, schema, 0)
}

func (s *Store) create(ref OutputRef, schema *arrow.Schema, inlineMax int) (*OutputWriter, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	if schema == nil {
		return nil, fmt.Errorf("create output %s: no schema", ref)
	}
	w := &OutputWriter{store: s, ref: ref, schema: schema, mem: &bytes.Buffer{}, inlineMax: inlineMax}
	if inlineMax <= 0 {
		if err := w.spill(); err != nil {
			return nil, fmt.Errorf("create output %s: %w", ref, err)
		}
	}
	fw, err := ipc.NewFileWriter(outputSink{w}, ipc.WithSchema(schema), ipc.WithAllocator(s.mem))
	if err != nil {
		w.discard()
		return nil, fmt.Errorf("create output %s: %w", ref, err)
	}
	w.fw = fw
	return w, nil
}

// outputSink is where the IPC writer's bytes go: memory, then the file.
type outputSink struct{ w *OutputWriter }

func (o outputSink) Write(p []byte) (int, error) {
	w := o.w
	if w.f == nil {
		if w.mem.Len()+len(p) <= w.inlineMax {
			return w.mem.Write(p)
		}
		if err := w.spill(); err != nil {
			return 0, err
		}
	}
	return w.bw.Write(p)
}

// spill moves the output to a temporary file, with what it held in memory.
func (w *OutputWriter) spill() error {
	final := w.store.path(w.ref, arrowExt)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(final)+".*"+tempExt)
	if err != nil {
		return err
	}
	bw := writeBuffers.Get().(*bufio.Writer)
	bw.Reset(f)
	w.f, w.bw = f, bw
	if w.mem.Len() > 0 {
		if _, err := bw.Write(w.mem.Bytes()); err != nil {
			return err
		}
	}
	w.mem = nil
	return nil
}

// OutputWriter writes one output's record batches. It satisfies
// ops.RecordWriter. Write, Commit and Abort may be called from different
// goroutines: a worker may abort the output of an op it gave up on.
type OutputWriter struct {
	store  *Store
	ref    OutputRef
	schema *arrow.Schema

	mu sync.Mutex
	// mem holds the output while it is small enough to be kept inline;
	// f and bw take over once it is not.
	mem       *bytes.Buffer
	inlineMax int
	f         *os.File
	bw        *bufio.Writer
	fw        *ipc.FileWriter
	rows      int64
	batches   int
	preview   previewer
	stats     statsCollector
	done      bool // committed or aborted
	meta      *dag.OutputMeta
	err       error
}

// Write appends one batch. The writer does not keep rec; the caller still
// releases it. Empty batches are skipped.
func (w *OutputWriter) Write(rec arrow.RecordBatch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return fmt.Errorf("write output %s: writer is closed", w.ref)
	}
	if !rec.Schema().Equal(w.schema) {
		return fmt.Errorf("write output %s: batch schema %s does not match the output's %s", w.ref, rec.Schema(), w.schema)
	}
	if rec.NumRows() == 0 {
		return nil
	}
	if err := w.fw.Write(rec); err != nil {
		return fmt.Errorf("write output %s: %w", w.ref, err)
	}
	w.rows += rec.NumRows()
	w.batches++
	w.preview.add(rec)
	w.stats.add(rec)
	return nil
}

// Commit finishes the file, syncs it and renames it into place atomically,
// replacing an earlier output of the same name. It returns the output's
// metadata; calling it again returns the same metadata. In a store opened
// with StoreOptions.DeferSync, a new output is not synced: it becomes
// durable with the next Store.Sync.
func (w *OutputWriter) Commit() (dag.OutputMeta, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.meta != nil {
		return *w.meta, nil
	}
	if w.done {
		if w.err != nil {
			return dag.OutputMeta{}, w.err
		}
		return dag.OutputMeta{}, fmt.Errorf("commit output %s: it was aborted", w.ref)
	}
	meta, err := w.commit()
	if err != nil {
		w.discard()
		w.err = fmt.Errorf("commit output %s: %w", w.ref, err)
		return dag.OutputMeta{}, w.err
	}
	w.done = true
	w.meta = &meta
	return meta, nil
}

func (w *OutputWriter) commit() (dag.OutputMeta, error) {
	if err := w.fw.Close(); err != nil {
		return dag.OutputMeta{}, err
	}
	w.fw = nil // closed: a later discard must not write to the buffer again
	final := w.store.path(w.ref, arrowExt)
	if w.f == nil {
		// Small enough to travel inline, in the state, with no file. A
		// file an earlier attempt left under the same name must not be
		// served in its place.
		for _, p := range []string{final, w.store.path(w.ref, sidecarExt)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return dag.OutputMeta{}, err
			}
		}
		data := bytes.Clone(w.mem.Bytes())
		w.mem = nil
		return dag.OutputMeta{Name: w.ref.Output, Schema: SchemaFields(w.schema), Rows: w.rows,
			Bytes: int64(len(data)), Inline: data, Preview: w.preview.preview(), Stats: w.stats.result(w.schema)}, nil
	}
	if err := w.bw.Flush(); err != nil {
		return dag.OutputMeta{}, err
	}
	w.releaseBuffer()
	// Replacing an output syncs even when syncs are deferred: until the
	// next Store.Sync a crash could otherwise leave a torn file where a
	// durable one was.
	durable := !w.store.deferSync
	if !durable {
		if _, err := os.Lstat(final); err == nil {
			durable = true
		}
	}
	if durable {
		if err := w.f.Sync(); err != nil {
			return dag.OutputMeta{}, err
		}
	}
	st, err := w.f.Stat()
	if err != nil {
		return dag.OutputMeta{}, err
	}
	if err := w.f.Close(); err != nil {
		return dag.OutputMeta{}, err
	}
	tmp := w.f.Name()
	w.f = nil
	meta := dag.OutputMeta{Name: w.ref.Output, Schema: SchemaFields(w.schema), Rows: w.rows, Bytes: st.Size(),
		Preview: w.preview.preview(), Stats: w.stats.result(w.schema)}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return dag.OutputMeta{}, err
	}
	// The arrow file is the truth; the sidecar is a cache that Open checks
	// against the file's size and time before trusting it.
	if st.Size() > w.store.sidecarMin {
		sc := sidecar{Meta: meta, Batches: w.batches, ModTime: st.ModTime().UnixNano()}
		if err := w.store.writeSidecar(w.ref, sc, durable); err != nil {
			return dag.OutputMeta{}, err
		}
	} else if err := w.store.removeSidecar(w.ref); err != nil {
		return dag.OutputMeta{}, err
	}
	if !durable {
		return meta, nil
	}
	runDir := filepath.Dir(final)
	for _, d := range []string{runDir, w.store.dir} {
		if err := syncDir(d); err != nil {
			return dag.OutputMeta{}, err
		}
	}
	return meta, nil
}

// Abort discards the output. It is safe after Commit (where it does
// nothing) and when called twice.
func (w *OutputWriter) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	return w.discard()
}

// writeBuffers recycles the writers' buffers: a task that writes a tiny
// output should not allocate (and leave to the collector) a large one.
var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBuffer) }}

// releaseBuffer returns the write buffer to the pool once the IPC writer
// is done with it.
func (w *OutputWriter) releaseBuffer() {
	if w.bw != nil {
		w.bw.Reset(nil)
		writeBuffers.Put(w.bw)
		w.bw = nil
	}
}

// discard closes and removes the temporary file.
func (w *OutputWriter) discard() error {
	w.done = true
	if w.fw != nil {
		w.fw.Close() // releases dictionary memory; the file is going anyway
		w.fw = nil
	}
	w.releaseBuffer()
	if w.f == nil {
		return nil
	}
	name := w.f.Name()
	w.f.Close()
	w.f = nil
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort output %s: %w", w.ref, err)
	}
	return nil
}

// sidecarMinBytes is the output size above which its metadata is cached
// in a sidecar; counting the rows of a smaller file costs less than
// creating one more file for every output.
const sidecarMinBytes = 64 << 10

// removeSidecar drops the cached metadata of ref, if any: a small output
// that replaces a large one must not be described by the old cache (which
// Open would reject anyway, by size and time).
func (s *Store) removeSidecar(ref OutputRef) error {
	if err := os.Remove(s.path(ref, sidecarExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale metadata of %s: %w", ref, err)
	}
	return nil
}

// sidecar is the cached metadata kept next to an output file.
type sidecar struct {
	Meta    dag.OutputMeta `json:"meta"`
	Batches int            `json:"batches"`
	// ModTime and Meta.Bytes identify the arrow file the cache describes.
	ModTime int64 `json:"mod_time_ns"`
}

// writeSidecar replaces the cached metadata of ref, syncing the new file
// before the rename when durable is set.
func (s *Store) writeSidecar(ref OutputRef, sc sidecar, durable bool) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	final := s.path(ref, sidecarExt)
	f, err := os.CreateTemp(filepath.Dir(final), filepath.Base(final)+".*"+tempExt)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), final)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// readSidecar returns the cached metadata if it describes the file st.
func (s *Store) readSidecar(ref OutputRef, st fs.FileInfo) (sidecar, bool) {
	b, err := os.ReadFile(s.path(ref, sidecarExt))
	if err != nil {
		return sidecar{}, false
	}
	var sc sidecar
	if json.Unmarshal(b, &sc) != nil || sc.Meta.Bytes != st.Size() || sc.ModTime != st.ModTime().UnixNano() {
		return sidecar{}, false
	}
	return sc, true
}

// Meta returns an output's metadata without reading its data.
func (s *Store) Meta(ref OutputRef) (dag.OutputMeta, error) {
	if err := ref.Validate(); err != nil {
		return dag.OutputMeta{}, err
	}
	st, err := os.Stat(s.path(ref, arrowExt))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return dag.OutputMeta{}, fmt.Errorf("%w: %s", ErrOutputNotFound, ref)
		}
		return dag.OutputMeta{}, fmt.Errorf("stat output %s: %w", ref, err)
	}
	if sc, ok := s.readSidecar(ref, st); ok {
		return sc.Meta, nil
	}
	f, err := s.Open(ref) // recounts and repairs the cache
	if err != nil {
		return dag.OutputMeta{}, err
	}
	defer f.Close()
	return f.meta, nil
}

// RemoveRun deletes every output of a run.
func (s *Store) RemoveRun(run string) error {
	if err := checkPart("run", run); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(s.dir, run)); err != nil {
		return fmt.Errorf("remove run %s outputs: %w", run, err)
	}
	return nil
}

// SchemaFields describes an Arrow schema as dag fields; Type is the Arrow
// type's String().
func SchemaFields(s *arrow.Schema) []dag.Field {
	if s == nil {
		return nil
	}
	fields := make([]dag.Field, s.NumFields())
	for i, f := range s.Fields() {
		fields[i] = dag.Field{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable}
	}
	return fields
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
