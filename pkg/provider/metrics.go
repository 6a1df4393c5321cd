package provider

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the provider's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	deadlines prometheus.Counter
}

// NewMetrics registers the provider's metrics with reg:
//
//   - assay_provider_requests_total{endpoint,outcome}: requests by
//     endpoint (verify, mutate, ratify-verify, ratify-mutate, unknown)
//     and outcome (ok, rejected, deadline);
//   - assay_provider_request_duration_seconds{endpoint}: time to answer;
//   - assay_provider_deadline_exceeded_keys_total: keys answered with
//     DEADLINE_EXCEEDED because the budget ran out.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assay_provider_requests_total",
			Help: "Provider requests by endpoint and outcome (ok, rejected, deadline).",
		}, []string{"endpoint", "outcome"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "assay_provider_request_duration_seconds",
			Help:    "Time to answer a provider request.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"endpoint"}),
		deadlines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assay_provider_deadline_exceeded_keys_total",
			Help: "Keys answered with DEADLINE_EXCEEDED because the request's budget ran out.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.durations, m.deadlines} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) request(endpoint, outcome string) {
	if m != nil {
		m.requests.WithLabelValues(endpoint, outcome).Inc()
	}
}

func (m *Metrics) duration(endpoint string, d time.Duration) {
	if m != nil {
		m.durations.WithLabelValues(endpoint).Observe(d.Seconds())
	}
}

func (m *Metrics) deadline() {
	if m != nil {
		m.deadlines.Inc()
	}
}
