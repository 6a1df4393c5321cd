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
	saturated prometheus.Counter
	tls       *prometheus.CounterVec
}

// NewMetrics registers the provider's metrics with reg:
//
//   - assay_provider_requests_total{endpoint,outcome}: requests by
//     endpoint (verify, mutate, ratify-verify, ratify-mutate, unknown)
//     and outcome (ok, rejected, deadline);
//   - assay_provider_request_duration_seconds{endpoint}: time to answer;
//   - assay_provider_deadline_exceeded_keys_total: keys answered with
//     DEADLINE_EXCEEDED because the budget ran out;
//   - assay_provider_saturated_requests_total: requests refused at once
//     with a systemError because MaxRequests were being answered;
//   - assay_tls_reloads_total{file,result}: reloads of the serving
//     certificate (file "cert") and the client CA ("client-ca") after
//     the file changed, by result (ok, error).
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
		saturated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assay_provider_saturated_requests_total",
			Help: "Requests refused at once with a systemError because the provider was answering its maximum of concurrent requests.",
		}),
		tls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assay_tls_reloads_total",
			Help: "Reloads of the serving certificate (cert) and the client CA (client-ca) after the file changed, by result (ok, error); after an error the previous one stays in use.",
		}, []string{"file", "result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.durations, m.deadlines, m.saturated, m.tls} {
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

func (m *Metrics) saturation() {
	if m != nil {
		m.saturated.Inc()
	}
}

// files of assay_tls_reloads_total
const (
	tlsFileCert     = "cert"
	tlsFileClientCA = "client-ca"
)

func (m *Metrics) tlsReload(file string, ok bool) {
	if m == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "error"
	}
	m.tls.WithLabelValues(file, result).Inc()
}
