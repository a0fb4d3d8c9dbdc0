package queue

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's Prometheus metrics:
//
//	folio_jobs_total{status,reason}     jobs ended, by status (done, failed) and failure reason
//	folio_job_retries_total             transient failures handed back for retry
//	folio_job_redeliveries_total        deliveries after the first
//	folio_render_duration_seconds       time in the Renderer per attempt
//	folio_job_latency_seconds           publish to done
//	folio_queue_pending_jobs            jobs waiting in the stream (read at scrape time)
//	folio_queue_inflight_jobs           jobs delivered and not yet acknowledged
type Metrics struct {
	Jobs          *prometheus.CounterVec
	Retries       prometheus.Counter
	Redeliveries  prometheus.Counter
	RenderSeconds prometheus.Histogram
	JobLatency    prometheus.Histogram
}

// NewMetrics creates the metrics and registers them, with a collector of
// the queue depth of q if q is not nil.
func NewMetrics(reg prometheus.Registerer, q *Queue) *Metrics {
	m := &Metrics{
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_jobs_total", Help: "Render jobs ended, by status and failure reason.",
		}, []string{"status", "reason"}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_job_retries_total", Help: "Transient job failures handed back for a retry.",
		}),
		Redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "folio_job_redeliveries_total", Help: "Job deliveries after the first.",
		}),
		RenderSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "folio_render_duration_seconds", Help: "Time spent rendering one job attempt.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}),
		JobLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "folio_job_latency_seconds", Help: "Time from a job's publication to its completion.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	reg.MustRegister(m.Jobs, m.Retries, m.Redeliveries, m.RenderSeconds, m.JobLatency)
	if q != nil {
		reg.MustRegister(&depthCollector{q: q})
	}
	return m
}

var (
	pendingDesc  = prometheus.NewDesc("folio_queue_pending_jobs", "Render jobs waiting in the stream.", nil, nil)
	inflightDesc = prometheus.NewDesc("folio_queue_inflight_jobs", "Render jobs delivered and not yet acknowledged.", nil, nil)
)

type depthCollector struct{ q *Queue }

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- inflightDesc
}

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, inflight, err := c.q.Depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(pendingDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(inflight))
}
