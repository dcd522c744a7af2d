package node

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/forged-dev/forged/model"
)

// PredictBatch tunes how a node batches small concurrent predict requests
// of one model into one scoring call.
type PredictBatch struct {
	// MaxRows bounds a batch; requests of more than half of it are scored
	// on their own. 0 means 256; 1 turns batching off.
	MaxRows int
	// MaxWait is how long a batch may wait for more requests before it is
	// scored. 0 (the default) never waits: requests that arrive while
	// another batch is being scored form the next one.
	MaxWait time.Duration
}

// batcher combines concurrent predict requests of one model: the first
// request to find no batch running scores every request queued by then,
// and hands over to a waiting request when it is done with its own.
type batcher struct {
	m        model.Model
	features int
	width    int
	maxRows  int
	maxWait  time.Duration
	obs      modelObserver

	mu      sync.Mutex
	pending []*predictCall
	leading bool
}

// predictCall is one request waiting in a batch.
type predictCall struct {
	x    []float64
	n    int
	out  []float64
	err  error
	done chan struct{} // closed once out and err are set
	wake chan struct{} // told to lead the next batch
}

func newBatcher(m model.Model, cfg PredictBatch, obs modelObserver) *batcher {
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = 256
	}
	sig := m.Signature()
	return &batcher{m: m, features: len(sig.Features), width: sig.Width(), maxRows: cfg.MaxRows, maxWait: cfg.MaxWait, obs: obs}
}

// close releases nothing today; it is where a batcher with goroutines
// would stop them.
func (b *batcher) close() {}

// predict scores n rows of x and returns Width values per row. A queued
// request is scored even if its caller gives up: scoring is quick, and a
// request that left the queue could strand the ones behind it.
func (b *batcher) predict(x []float64, n int) ([]float64, error) {
	if len(x) != n*b.features {
		return nil, fmt.Errorf("%d values for %d rows of %d features", len(x), n, b.features)
	}
	if b.maxRows <= 1 || n*2 > b.maxRows {
		out := make([]float64, n*b.width)
		b.obs.batch(n)
		return out, b.m.Predict(x, n, out)
	}
	c := &predictCall{x: x, n: n, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if b.leading {
		b.mu.Unlock()
		select {
		case <-c.done:
			return c.out, c.err
		case <-c.wake: // the lead is mine now; c is first in the queue
		}
	} else {
		b.leading = true
		b.mu.Unlock()
	}
	b.lead()
	<-c.done
	return c.out, c.err
}

// lead scores one batch, which holds the leader's own request (first in
// the queue), then hands the lead to the next queued request, or gives it
// up when there is none.
func (b *batcher) lead() {
	if b.maxWait > 0 {
		deadline := time.Now().Add(b.maxWait)
		for time.Now().Before(deadline) {
			b.mu.Lock()
			rows := 0
			for _, c := range b.pending {
				rows += c.n
			}
			b.mu.Unlock()
			if rows >= b.maxRows {
				break
			}
			time.Sleep(min(50*time.Microsecond, time.Until(deadline)))
		}
	}
	b.mu.Lock()
	batch, rows := b.take()
	b.mu.Unlock()
	b.score(batch, rows)
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.leading = false
		b.mu.Unlock()
		return
	}
	next := b.pending[0]
	b.mu.Unlock()
	next.wake <- struct{}{}
}

// take removes up to maxRows rows of queued requests; b.mu is held.
func (b *batcher) take() ([]*predictCall, int) {
	rows, i := 0, 0
	for ; i < len(b.pending); i++ {
		if i > 0 && rows+b.pending[i].n > b.maxRows {
			break
		}
		rows += b.pending[i].n
	}
	batch := b.pending[:i:i]
	b.pending = b.pending[i:]
	return batch, rows
}

// score runs one batch through the model and hands out the results.
func (b *batcher) score(batch []*predictCall, rows int) {
	b.obs.batch(rows)
	if len(batch) == 1 {
		c := batch[0]
		c.out = make([]float64, c.n*b.width)
		c.err = b.m.Predict(c.x, c.n, c.out)
		b.finish(c)
		return
	}
	x := make([]float64, 0, rows*b.features)
	for _, c := range batch {
		x = append(x, c.x...)
	}
	out := make([]float64, rows*b.width)
	err := b.m.Predict(x, rows, out)
	at := 0
	for _, c := range batch {
		c.out, c.err = out[at:at+c.n*b.width:at+c.n*b.width], err
		at += c.n * b.width
		b.finish(c)
	}
}

// finish wakes a scored request.
func (b *batcher) finish(c *predictCall) { close(c.done) }

// modelObserver records one model's predict metrics.
type modelObserver struct {
	requests  *prometheus.CounterVec // by result
	latency   prometheus.Observer
	batchRows prometheus.Observer
}

func (o modelObserver) batch(rows int) {
	if o.batchRows != nil {
		o.batchRows.Observe(float64(rows))
	}
}

// observe records one request: its rows, time and outcome.
func (o modelObserver) observe(d time.Duration, err error) {
	if o.requests == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	o.requests.WithLabelValues(result).Inc()
	o.latency.Observe(d.Seconds())
}
