package node

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/forged-dev/forged/dag"
)

// metrics are the node's Prometheus metrics. Each node has its own
// registry, so several nodes in one process (tests, dev --nodes) do not
// collide.
type metrics struct {
	reg *prometheus.Registry

	assignments     prometheus.Counter
	assignLatency   prometheus.Histogram
	tasksFinished   *prometheus.CounterVec
	taskDuration    prometheus.Histogram
	forwardedWrites prometheus.Counter
	replicaRepairs  prometheus.Counter

	predictRequests *prometheus.CounterVec
	predictLatency  *prometheus.HistogramVec
	predictBatch    *prometheus.HistogramVec
}

// modelObserver returns the predict metrics of one model.
func (m *metrics) modelObserver(model string) modelObserver {
	return modelObserver{
		requests:  m.predictRequests.MustCurryWith(prometheus.Labels{"model": model}),
		latency:   m.predictLatency.WithLabelValues(model),
		batchRows: m.predictBatch.WithLabelValues(model),
	}
}

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.assignments = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "forged_scheduler_assignments_total", Help: "Task attempts assigned to nodes by this node as leader.",
	})
	m.assignLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "forged_scheduler_assign_seconds",
		Help:    "Time to commit one batch of assignments.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	m.tasksFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "forged_tasks_finished_total", Help: "Task attempts this node ran, by how they ended.",
	}, []string{"result"})
	m.taskDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "forged_task_duration_seconds", Help: "Run time of task attempts on this node.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
	})
	m.forwardedWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "forged_forwarded_writes_total", Help: "Writes this node forwarded to the leader.",
	})
	m.replicaRepairs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "forged_replica_repairs_total", Help: "Copies of files this node made to replace copies lost with dead nodes.",
	})
	m.predictRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "forged_predict_requests_total", Help: "Predict requests this node served, by model and result.",
	}, []string{"model", "result"})
	m.predictLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "forged_predict_seconds", Help: "Time to answer a predict request, body decoding included.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
	}, []string{"model"})
	m.predictBatch = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "forged_predict_batch_rows", Help: "Rows per scoring call: requests batched together, or one large request.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10),
	}, []string{"model"})
	stat := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.assignments, m.assignLatency, m.tasksFinished, m.taskDuration, m.forwardedWrites, m.replicaRepairs,
		m.predictRequests, m.predictLatency, m.predictBatch,
		stat("forged_raft_term", "Current Raft term.", func() float64 { return float64(n.store.Stats().Term) }),
		stat("forged_raft_commit_index", "Raft commit index.", func() float64 { return float64(n.store.Stats().CommitIndex) }),
		stat("forged_raft_applied_index", "Last Raft index applied to this replica.", func() float64 { return float64(n.store.Stats().AppliedIndex) }),
		stat("forged_raft_leader", "1 when this node is the Raft leader.", func() float64 {
			if n.store.IsLeader() {
				return 1
			}
			return 0
		}),
		stat("forged_tasks_running", "Task attempts running on this node.", func() float64 {
			if n.worker == nil {
				return 0
			}
			return float64(n.worker.runningCount())
		}),
		stat("forged_scheduler_queue_depth", "Ready tasks waiting for a slot.", func() float64 {
			return float64(queueDepth(n))
		}),
		stat("forged_members_alive", "Cluster members gossip reports alive.", func() float64 {
			alive := 0
			for _, mb := range n.gossip.list() {
				if mb.Status == statusAlive {
					alive++
				}
			}
			return float64(alive)
		}),
	)
	return m
}

// queueDepth counts the tasks that could be assigned now across active
// runs.
func queueDepth(n *Node) int {
	depth, at := 0, now()
	for _, r := range n.store.Active() {
		for _, t := range r.Ready {
			if !t.NotBefore.After(at) {
				depth++
			}
		}
	}
	return depth
}

// taskEnded records a finished attempt.
func (m *metrics) taskEnded(res dag.TaskResult, took time.Duration) {
	result := "succeeded"
	switch {
	case res.Cancelled:
		result = "cancelled"
	case res.Error != "":
		result = "failed"
	}
	m.tasksFinished.WithLabelValues(result).Inc()
	m.taskDuration.Observe(took.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
