package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"

	"github.com/forged-dev/forged/model"
	"github.com/forged-dev/forged/node/nodetest"
)

// BenchmarkPredictHTTP scores 1000-row JSON requests against a registered
// 20-feature logistic model over HTTP on 127.0.0.1, client in this
// process (forged bench predict runs the client as a second process).
func BenchmarkPredictHTTP(b *testing.B) {
	n := nodetest.Open(b, nodetest.Config(b))
	const d = 20
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 500*d)
	labels := make([]int, 500)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	for i := range labels {
		if x[i*d] > 0 {
			labels[i] = 1
		}
	}
	m, _, err := model.TrainLogistic(x, 500, d, labels, 2, model.LogisticOptions{L2: 0.01})
	if err != nil {
		b.Fatal(err)
	}
	file, err := m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := n.RegisterModelFile(context.Background(), "bench", "forged", nil, "", bytes.NewReader(file)); err != nil {
		b.Fatal(err)
	}
	for _, rows := range []int{1, 1000} {
		var body bytes.Buffer
		body.WriteString(`{"instances":[`)
		for i := 0; i < rows; i++ {
			if i > 0 {
				body.WriteByte(',')
			}
			body.WriteByte('[')
			for j := 0; j < d; j++ {
				if j > 0 {
					body.WriteByte(',')
				}
				body.WriteString(strconv.FormatFloat(float64(r.IntN(200000)-100000)/1e4, 'f', -1, 64))
			}
			body.WriteByte(']')
		}
		body.WriteString("]}")
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			url := n.URL() + "/api/v1/models/bench/predict"
			b.SetBytes(int64(body.Len()))
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := http.Post(url, "application/json", bytes.NewReader(body.Bytes()))
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		})
	}
}
