// Package metrics exposes rapport's Prometheus metrics: deliveries by state
// and reason, send latency, throttle waits, SMTP errors by class, HTTP
// requests by route, River jobs by kind and outcome, bounce and complaint
// reports, outbound webhook attempts, the build, and the
// cluster's queue depth by queue, kind and state.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
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
	httpRequests *prometheus.CounterVec
	httpLatency  *prometheus.HistogramVec
	jobs         *prometheus.CounterVec
	jobRun       *prometheus.HistogramVec
	feedback     *prometheus.CounterVec
	webhooks     *prometheus.CounterVec
}

// Build says which build is running, for rapport_build_info.
type Build struct {
	Version, Commit string
}

// Depths counts River's jobs by queue, kind and state, cluster-wide, and
// names the cluster's River leader (postgres.Store).
type Depths interface {
	QueueDepth(ctx context.Context) ([]postgres.QueueCount, error)
	RiverLeader(ctx context.Context) (string, error)
}

// Options say what a process's registry reports.
type Options struct {
	Build Build
	// Depths feeds the queue-depth gauge; nil: none.
	Depths Depths
	// Queues are the queues reported even when they hold no job.
	Queues []string
	// ClientID is this process's River client id: the queue depth is
	// exported only while it leads the cluster, so a sum over processes
	// counts each job once. Empty: never (a process without workers).
	ClientID string
}

// New registers every metric.
func New(o Options) *Registry {
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
			Help: "Messages the SMTP server did not accept, by class (temp_fail, perm_fail, uncertain, unreachable)."}, []string{"class"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_http_requests_total",
			Help: "HTTP requests by route template, method and status class (2xx, 4xx, …)."}, []string{"route", "method", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rapport_http_request_duration_seconds",
			Help: "HTTP request latency by route template.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"route"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_river_jobs_total",
			Help: "River jobs worked by this process, by kind and outcome (completed, failed, snoozed, cancelled)."}, []string{"kind", "outcome"}),
		jobRun: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rapport_river_job_duration_seconds",
			Help: "Time River jobs ran in this process, by kind.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)}, []string{"kind"}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_feedback_total",
			Help: "Bounce and complaint reports received, by source (dsn, ses, sendgrid, postmark, mailgun, webhook) and outcome (applied, duplicate, ignored, unmatched, error)."},
			[]string{"source", "outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rapport_webhook_attempts_total",
			Help: "Outbound webhook delivery attempts, by outcome (delivered, retry, dead, disabled)."}, []string{"outcome"}),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rapport_build_info",
		Help: "The running build: always 1, with its version, commit and Go version."}, []string{"version", "commit", "goversion"})
	info.WithLabelValues(o.Build.Version, o.Build.Commit, runtime.Version()).Set(1)
	r.reg.MustRegister(r.deliveries, r.latency, r.throttleWait, r.throttled, r.smtpErrors, r.httpRequests, r.httpLatency,
		r.jobs, r.jobRun, r.feedback, r.webhooks, info, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Depths != nil {
		r.reg.MustRegister(&queueDepth{depths: o.Depths, queues: o.Queues, clientID: o.ClientID})
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

// HTTPRequest records one HTTP request by its route template (never the
// path, which may carry a token).
func (r *Registry) HTTPRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	r.httpRequests.WithLabelValues(route, method, strconv.Itoa(status/100)+"xx").Inc()
	r.httpLatency.WithLabelValues(route).Observe(d.Seconds())
}

// Feedback counts one bounce or complaint report.
func (r *Registry) Feedback(source, outcome string) {
	r.feedback.WithLabelValues(source, outcome).Inc()
}

// WebhookAttempt counts one outbound webhook attempt.
func (r *Registry) WebhookAttempt(outcome string) { r.webhooks.WithLabelValues(outcome).Inc() }

// Job records one River job this process worked.
func (r *Registry) Job(kind, outcome string, ran time.Duration) {
	r.jobs.WithLabelValues(kind, outcome).Inc()
	r.jobRun.WithLabelValues(kind).Observe(ran.Seconds())
}

// queueDepth reads River's job counts at scrape time, so the gauge is the
// whole cluster's queue, not one process's view; only the River leader
// reports it.
type queueDepth struct {
	depths   Depths
	queues   []string
	clientID string
}

var depthDesc = prometheus.NewDesc("rapport_queue_depth",
	"River jobs waiting or running in the whole cluster, by queue, kind and state; exported by the River leader only.",
	[]string{"queue", "kind", "state"}, nil)

func (d *queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- depthDesc }

func (d *queueDepth) Collect(ch chan<- prometheus.Metric) {
	if d.clientID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	leader, err := d.depths.RiverLeader(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	if leader != d.clientID {
		return
	}
	rows, err := d.depths.QueueDepth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	// Every known queue and state is reported, zero included (kind "all"),
	// so a drained queue reads 0 rather than vanishing from graphs.
	type key struct{ queue, kind, state string }
	counts := map[key]int64{}
	for _, q := range d.queues {
		for _, st := range []string{"available", "scheduled", "running", "retryable"} {
			counts[key{q, "all", st}] = 0
		}
	}
	for _, r := range rows {
		counts[key{r.Queue, r.Kind, r.State}] += r.N
		counts[key{r.Queue, "all", r.State}] += r.N
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(n), k.queue, k.kind, k.state)
	}
}
