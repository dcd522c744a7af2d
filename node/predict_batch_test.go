package node

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forged-dev/forged/model"
)

// rowSum is a model whose prediction is a row's sum; it counts its calls.
type rowSum struct {
	d     int
	calls atomic.Int64
}

func (m *rowSum) Signature() model.Signature {
	sig := model.Signature{Kind: model.Regressor}
	for i := 0; i < m.d; i++ {
		sig.Features = append(sig.Features, model.Feature{Name: fmt.Sprint("f", i), Type: "float"})
	}
	return sig
}

func (m *rowSum) Predict(x []float64, n int, out []float64) error {
	m.calls.Add(1)
	time.Sleep(20 * time.Microsecond) // a scoring call that takes a while
	for i := 0; i < n; i++ {
		s := 0.0
		for _, v := range x[i*m.d : (i+1)*m.d] {
			s += v
		}
		out[i] = s
	}
	return nil
}

// Concurrent requests get their own rows' results, whatever batch they
// were scored in, and concurrent small requests share scoring calls.
func TestBatcherGivesEachRequestItsRows(t *testing.T) {
	for _, cfg := range []PredictBatch{{}, {MaxRows: 1}, {MaxRows: 8, MaxWait: 200 * time.Microsecond}} {
		t.Run(fmt.Sprintf("max-rows=%d/wait=%s", cfg.MaxRows, cfg.MaxWait), func(t *testing.T) {
			m := &rowSum{d: 3}
			b := newBatcher(m, cfg, modelObserver{})
			const workers, each = 32, 100
			var wg sync.WaitGroup
			var requests atomic.Int64
			errs := make(chan error, workers)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(seed uint64) {
					defer wg.Done()
					r := rand.New(rand.NewPCG(seed, 7))
					for i := 0; i < each; i++ {
						n := 1 + r.IntN(3)
						if i%25 == 0 {
							n = 300 // a large request, scored on its own
						}
						x := make([]float64, n*3)
						for j := range x {
							x[j] = float64(r.IntN(1000))
						}
						out, err := b.predict(x, n)
						requests.Add(1)
						if err != nil {
							errs <- err
							return
						}
						for row := 0; row < n; row++ {
							if want := x[row*3] + x[row*3+1] + x[row*3+2]; out[row] != want {
								errs <- fmt.Errorf("row %d of a %d-row request: got %v, want %v", row, n, out[row], want)
								return
							}
						}
					}
				}(uint64(w))
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			calls := m.calls.Load()
			t.Logf("%d requests in %d scoring calls", requests.Load(), calls)
			if cfg.MaxRows == 1 && calls != requests.Load() {
				t.Fatalf("batching off, yet %d calls for %d requests", calls, requests.Load())
			}
			if cfg.MaxRows != 1 && calls >= requests.Load() {
				t.Fatalf("no request was batched: %d calls for %d requests", calls, requests.Load())
			}
		})
	}
	b := newBatcher(&rowSum{d: 3}, PredictBatch{}, modelObserver{})
	if _, err := b.predict(make([]float64, 4), 1); err == nil {
		t.Fatal("a row of the wrong width was scored")
	}
}
