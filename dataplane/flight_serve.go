package dataplane

import (
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// serveRecords streams an open output to a Flight client with send. A
// file is served from a read-only mapping where the system allows it: its
// batches then reference the page cache and go to gRPC without being read
// into memory first. The mapping stays until gRPC has written the last
// batch, which may be after serveRecords returns.
func serveRecords(send func(any) error, f *OutputFile) error {
	if f.path != "" {
		if data, unmap, err := mapFile(f.path); err == nil {
			return serveMapped(send, f.ref, data, unmap)
		}
	}
	rr, err := f.Reader()
	if err != nil {
		return err
	}
	defer rr.Release()
	return sendRecords(send, rr, nil, nil)
}

func serveMapped(send func(any) error, ref OutputRef, data []byte, unmap func() error) error {
	var inFlight sync.WaitGroup
	defer func() {
		go func() {
			inFlight.Wait()
			_ = unmap()
		}()
	}()
	fr, err := ipc.NewMappedFileReader(data, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return fmt.Errorf("read output %s: %w", ref, err)
	}
	defer fr.Close()
	rr := &mappedRecords{ref: ref, fr: fr}
	defer rr.release()
	return sendRecords(send, rr, nil, &inFlight)
}

// mappedRecords reads a mapped output batch by batch.
type mappedRecords struct {
	ref  OutputRef
	fr   *ipc.FileReader
	next int
	cur  arrow.RecordBatch
	err  error
}

var _ array.RecordReader = (*mappedRecords)(nil)

// Retain does nothing: serveMapped owns the reader.
func (*mappedRecords) Retain() {}

// Release does nothing: serveMapped releases the reader itself.
func (*mappedRecords) Release() {}

func (r *mappedRecords) release() {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

// Schema returns the output's schema.
func (r *mappedRecords) Schema() *arrow.Schema { return r.fr.Schema() }

// Next moves to the next batch.
func (r *mappedRecords) Next() bool {
	r.release()
	if r.err != nil || r.next >= r.fr.NumRecords() {
		return false
	}
	rec, err := r.fr.RecordBatchAt(r.next)
	if err != nil {
		r.err = fmt.Errorf("read output %s batch %d: %w", r.ref, r.next, err)
		return false
	}
	r.next++
	r.cur = rec
	return true
}

// RecordBatch returns the current batch.
func (r *mappedRecords) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is the deprecated name of RecordBatch.
func (r *mappedRecords) Record() arrow.RecordBatch { return r.cur }

// Err returns the error that stopped Next, if any.
func (r *mappedRecords) Err() error { return r.err }
