package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"

	"github.com/forged-dev/forged/model"
	"github.com/forged-dev/forged/node"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure this machine: model serving against the HTTP ceiling",
	}
	cmd.AddCommand(newBenchPredictCmd(g), newBenchHTTPCmd(g))
	return cmd
}

// benchResult is what one load run measured.
type benchResult struct {
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"requests_per_second"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

func newBenchPredictCmd(g *globals) *cobra.Command {
	var conns int
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "predict",
		Short: "Serve a 20-feature logistic model and load its predict endpoint from a second process",
		Long: `Starts a node on 127.0.0.1 in a temporary directory, trains and registers a
logistic regression of 20 features, and starts a gin server whose handler only
returns a constant (the HTTP ceiling of this machine). Then, from a second
process (this binary's "bench http"), it sends 1-row and 1000-row predict
requests over --conns keep-alive connections for --duration each, and the same
client to the constant handler, and prints requests/s, p50 and p99.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchPredict(cmd.Context(), g, conns, duration)
		},
	}
	cmd.Flags().IntVar(&conns, "conns", 32, "concurrent connections")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "how long each case runs")
	return cmd
}

func benchPredict(ctx context.Context, g *globals, conns int, duration time.Duration) error {
	dir, err := os.MkdirTemp("", "forged-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := node.DefaultConfig()
	cfg.Name, cfg.DataDir, cfg.HTTPAddr, cfg.Ops = "bench", dir, "127.0.0.1:0", g.ops
	cfg.Logger = quietLogger(g)
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()

	const features = 20
	modelFile, err := benchModel(features)
	if err != nil {
		return err
	}
	if _, err := n.RegisterModelFile(ctx, "bench", model.FormatForged, nil, "bench", bytes.NewReader(modelFile)); err != nil {
		return err
	}
	ceiling, stop, err := serveConstant()
	if err != nil {
		return err
	}
	defer stop()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	type benchCase struct{ name, url, body string }
	var cases []benchCase
	for _, rows := range []int{1, 1000} {
		path := filepath.Join(dir, fmt.Sprintf("rows-%d.json", rows))
		if err := os.WriteFile(path, instancesBody(rows, features), 0o644); err != nil {
			return err
		}
		cases = append(cases,
			benchCase{fmt.Sprintf("predict, %d row(s)", rows), n.URL() + "/api/v1/models/bench/predict", path},
			benchCase{fmt.Sprintf("constant gin handler, same %d-row body", rows), ceiling, path})
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "CASE (%d connections, %s each)\tREQUESTS/S\tP50\tP99\tERRORS\n", conns, duration)
	for _, c := range cases {
		out, err := exec.CommandContext(ctx, self, "bench", "http", "--url", c.url, "--body", c.body,
			"--conns", strconv.Itoa(conns), "--duration", duration.String()).Output()
		if err != nil {
			return fmt.Errorf("%s: load process: %w", c.name, err)
		}
		var r benchResult
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("%s: %w: %s", c.name, err, out)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f ms\t%.2f ms\t%d\n", c.name, r.PerSec, r.P50ms, r.P99ms, r.Errors)
	}
	return tw.Flush()
}

// benchModel trains a logistic regression on made-up data.
func benchModel(d int) ([]byte, error) {
	r := rand.New(rand.NewPCG(1, 2))
	const rows = 2000
	x := make([]float64, rows*d)
	labels := make([]int, rows)
	for i := 0; i < rows; i++ {
		s := 0.0
		for j := 0; j < d; j++ {
			v := r.NormFloat64()
			x[i*d+j] = v
			s += v * float64(j%5-2)
		}
		if s+r.NormFloat64() > 0 {
			labels[i] = 1
		}
	}
	m, _, err := model.TrainLogistic(x, rows, d, labels, 2, model.LogisticOptions{L2: 0.01})
	if err != nil {
		return nil, err
	}
	return m.Encode()
}

// instancesBody is a predict body of rows rows of d short decimals.
func instancesBody(rows, d int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	b.WriteString(`{"instances":[`)
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for j := 0; j < d; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(math.Round(r.NormFloat64()*1e4)/1e4, 'f', -1, 64))
		}
		b.WriteByte(']')
	}
	b.WriteString("]}")
	return b.Bytes()
}

// serveConstant starts a gin server on 127.0.0.1 whose only handler
// drains the body and returns a constant: the HTTP ceiling.
func serveConstant() (string, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/constant", func(c *gin.Context) {
		_, _ = io.Copy(io.Discard, c.Request.Body)
		c.Data(http.StatusOK, "application/json", []byte(`{"predictions":[0.5]}`))
	})
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(lis)
	return "http://" + lis.Addr().String() + "/constant", func() { srv.Close() }, nil
}

func newBenchHTTPCmd(g *globals) *cobra.Command {
	var url, bodyFile string
	var conns int
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "http",
		Short: "POST a body to a URL over keep-alive connections for a while; print JSON results",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := os.ReadFile(bodyFile)
			if err != nil {
				return err
			}
			if conns < 1 || duration <= 0 || duration > time.Hour {
				return errors.New("--conns must be at least 1 and --duration between 0 and 1h")
			}
			r := loadHTTP(cmd.Context(), url, body, conns, duration)
			return json.NewEncoder(g.stdout).Encode(r)
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "URL to POST to")
	cmd.Flags().StringVar(&bodyFile, "body", "", "file holding the request body")
	cmd.Flags().IntVar(&conns, "conns", 32, "concurrent connections")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "how long to run (the loop stops by itself)")
	return cmd
}

// loadHTTP sends requests from conns goroutines until duration passes.
func loadHTTP(ctx context.Context, url string, body []byte, conns int, duration time.Duration) benchResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var mu sync.Mutex
	var latencies []time.Duration
	var errs int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var failed int64
			for ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errs += failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	return benchResult{Requests: int64(len(latencies)), Errors: errs, Seconds: elapsed,
		PerSec: float64(len(latencies)) / elapsed, P50ms: pct(0.50), P99ms: pct(0.99)}
}
