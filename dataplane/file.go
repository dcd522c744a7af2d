package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/forged-dev/forged/dag"
)

// OutputFile is an open, committed output. Any number of readers may
// stream it at once; each reads one batch at a time from disk. The file
// stays open until Close and every reader is released.
type OutputFile struct {
	ref  OutputRef
	path string // the file, or "" for an inline output
	f    io.Closer
	fr   *ipc.FileReader
	meta dag.OutputMeta
	// schema and batches are kept apart from fr, which forgets them once
	// the last reader is gone.
	schema  *arrow.Schema
	batches int

	mu     sync.Mutex
	refs   int // the owner's reference plus one per live reader
	closed bool
}

// Open opens a committed output for reading. It returns an error wrapping
// ErrOutputNotFound when this store does not hold it.
func (s *Store) Open(ref OutputRef) (*OutputFile, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(ref, arrowExt))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrOutputNotFound, ref)
		}
		return nil, fmt.Errorf("open output %s: %w", ref, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open output %s: %w", ref, err)
	}
	// The footer offset is the file size: the reader then never seeks the
	// shared descriptor, and concurrent readers only use ReadAt.
	fr, err := ipc.NewFileReader(f, ipc.WithAllocator(s.mem), ipc.WithFooterOffset(st.Size()))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open output %s: %w", ref, err)
	}
	of := &OutputFile{ref: ref, path: f.Name(), f: f, fr: fr, refs: 1, schema: fr.Schema(), batches: fr.NumRecords()}
	if st.Size() > s.sidecarMin {
		if sc, ok := s.readSidecar(ref, st); ok && sc.Batches == fr.NumRecords() {
			of.meta = sc.Meta
			return of, nil
		}
	}
	// No usable cache (a crash between rename and cache write, or an old
	// file): count the rows once and write the cache back.
	rows, err := of.countRows()
	if err != nil {
		of.Close()
		return nil, fmt.Errorf("open output %s: %w", ref, err)
	}
	of.meta = dag.OutputMeta{Name: ref.Output, Schema: SchemaFields(fr.Schema()), Rows: rows, Bytes: st.Size()}
	if st.Size() > s.sidecarMin {
		_ = s.writeSidecar(ref, sidecar{Meta: of.meta, Batches: fr.NumRecords(), ModTime: st.ModTime().UnixNano()}, !s.deferSync)
	}
	return of, nil
}

// OpenInline opens an output kept inline (OutputMeta.Inline) like a
// committed file; meta describes it.
func (s *Store) OpenInline(ref OutputRef, meta dag.OutputMeta) (*OutputFile, error) {
	if len(meta.Inline) == 0 {
		return nil, fmt.Errorf("open output %s: it is not inline", ref)
	}
	if err := ValidateIPCFile(bytes.NewReader(meta.Inline), int64(len(meta.Inline)), DefaultIPCLimits); err != nil {
		return nil, fmt.Errorf("open inline output %s: %w", ref, err)
	}
	fr, err := ipc.NewFileReader(bytes.NewReader(meta.Inline), ipc.WithAllocator(s.mem))
	if err != nil {
		return nil, fmt.Errorf("open inline output %s: %w", ref, err)
	}
	meta.Inline = nil
	return &OutputFile{ref: ref, f: io.NopCloser(nil), fr: fr, refs: 1, schema: fr.Schema(),
		batches: fr.NumRecords(), meta: meta}, nil
}

func (f *OutputFile) countRows() (int64, error) {
	var rows int64
	for i := 0; i < f.fr.NumRecords(); i++ {
		rec, err := f.fr.RecordBatchAt(i)
		if err != nil {
			return 0, err
		}
		rows += rec.NumRows()
		rec.Release()
	}
	return rows, nil
}

// Ref returns the output's reference.
func (f *OutputFile) Ref() OutputRef { return f.ref }

// Schema returns the output's schema.
func (f *OutputFile) Schema() *arrow.Schema { return f.schema }

// NumBatches returns how many record batches the file holds.
func (f *OutputFile) NumBatches() int { return f.batches }

// Rows returns the output's row count.
func (f *OutputFile) Rows() int64 { return f.meta.Rows }

// Meta returns the output's metadata.
func (f *OutputFile) Meta() dag.OutputMeta { return f.meta }

// Reader returns a new reader over the file's batches, read from disk one
// at a time. The caller releases it; readers are independent and may run
// concurrently.
func (f *OutputFile) Reader() (array.RecordReader, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("read output %s: file is closed", f.ref)
	}
	f.refs++
	r := &fileReader{file: f}
	r.refCount.Store(1)
	return r, nil
}

// Close releases the file once every reader is released too. It is safe
// to call twice.
func (f *OutputFile) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	return f.unref()
}

func (f *OutputFile) unref() error {
	f.mu.Lock()
	f.refs--
	last := f.refs == 0
	f.mu.Unlock()
	if !last {
		return nil
	}
	f.fr.Close()
	return f.f.Close()
}

// fileReader streams an OutputFile batch by batch; it holds at most the
// current batch.
type fileReader struct {
	refCount atomic.Int64
	file     *OutputFile
	next     int
	cur      arrow.RecordBatch
	err      error
}

var _ array.RecordReader = (*fileReader)(nil)

// Retain adds a reference.
func (r *fileReader) Retain() { r.refCount.Add(1) }

// Release drops a reference; the last one frees the current batch and
// lets the file close.
func (r *fileReader) Release() {
	if r.refCount.Add(-1) != 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	r.file.unref()
}

// Schema returns the output's schema.
func (r *fileReader) Schema() *arrow.Schema { return r.file.schema }

// Next reads the next batch from disk, releasing the previous one.
func (r *fileReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || r.next >= r.file.batches {
		return false
	}
	rec, err := r.file.fr.RecordBatchAt(r.next)
	if err != nil {
		r.err = fmt.Errorf("read output %s batch %d: %w", r.file.ref, r.next, err)
		return false
	}
	r.next++
	r.cur = rec
	return true
}

// RecordBatch returns the current batch, valid until the next Next.
func (r *fileReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is the deprecated name of RecordBatch.
func (r *fileReader) Record() arrow.RecordBatch { return r.cur }

// Err returns the error that stopped Next, if any.
func (r *fileReader) Err() error { return r.err }

// Decode reads an Arrow IPC stream, for example a saved output or the body
// of a response in the arrow format. The caller releases the reader.
func Decode(r io.Reader, mem memory.Allocator) (array.RecordReader, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	rr, err := NewIPCStreamReader(r, mem)
	if err != nil {
		return nil, fmt.Errorf("decode arrow stream: %w", err)
	}
	return rr, nil
}
