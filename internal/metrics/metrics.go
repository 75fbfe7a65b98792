// Package metrics exposes rapport's Prometheus metrics: deliveries by state
// and reason, send latency, throttle waits, SMTP errors by class and the job
// queue depth read from River's table at scrape time.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// Registry holds the metrics of one process.
type Registry struct {
	reg          *prometheus.Registry
	deliveries   *prometheus.CounterVec
	latency      prometheus.Histogram
	throttleWait prometheus.Counter
	throttled    prometheus.Counter
	smtpErrors   *prometheus.CounterVec
}

// Depths counts River's jobs by queue and state (postgres.Store).
type Depths interface {
	QueueDepth(ctx context.Context) ([]postgres.QueueCount, error)
}

// New registers every metric; depths feeds the queue-depth gauge (nil:
// none) for the named queues (others appear when they hold jobs).
func New(depths Depths, queues ...string) *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_deliveries_total",
			Help: "Deliveries that reached a state, by state and decision reason."}, []string{"state", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rapport_send_latency_seconds",
			Help: "Time to hand one message to the SMTP server.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		throttleWait: prometheus.NewCounter(prometheus.CounterOpts{Name: "rapport_throttle_wait_seconds_total",
			Help: "Time send batches waited for throttle slots."}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{Name: "rapport_throttle_waits_total",
			Help: "Send batches that had to wait for a throttle slot."}),
		smtpErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_smtp_errors_total",
			Help: "Messages the SMTP server did not accept, by class (temp_fail, perm_fail, uncertain)."}, []string{"class"}),
	}
	r.reg.MustRegister(r.deliveries, r.latency, r.throttleWait, r.throttled, r.smtpErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if depths != nil {
		r.reg.MustRegister(&queueDepth{depths: depths, queues: queues})
	}
	return r
}

// Handler serves the metrics.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Delivery counts n deliveries reaching a state with a reason.
func (r *Registry) Delivery(state, reason string, n int) {
	r.deliveries.WithLabelValues(state, reason).Add(float64(n))
}

// SendLatency observes one SMTP hand-over.
func (r *Registry) SendLatency(d time.Duration) { r.latency.Observe(d.Seconds()) }

// ThrottleWait records a batch's wait for its throttle slot.
func (r *Registry) ThrottleWait(d time.Duration) {
	r.throttled.Inc()
	r.throttleWait.Add(d.Seconds())
}

// SMTPError counts a message the server did not accept.
func (r *Registry) SMTPError(class string) { r.smtpErrors.WithLabelValues(class).Inc() }

// queueDepth reads River's job counts at scrape time, so the gauge is the
// whole cluster's queue, not one process's view.
type queueDepth struct {
	depths Depths
	queues []string
}

var depthDesc = prometheus.NewDesc("rapport_queue_depth", "River jobs waiting or running, by queue and state.", []string{"queue", "state"}, nil)

func (d *queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- depthDesc }

func (d *queueDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := d.depths.QueueDepth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	// Every known queue and state is reported, zero included, so a drained
	// queue reads 0 rather than vanishing from graphs.
	type key struct{ queue, state string }
	counts := map[key]int64{}
	for _, q := range d.queues {
		for _, st := range []string{"available", "scheduled", "running", "retryable"} {
			counts[key{q, st}] = 0
		}
	}
	for _, r := range rows {
		counts[key{r.Queue, r.State}] = r.N
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(n), k.queue, k.state)
	}
}
