package engine

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// reloadCounts counts configuration changes by result.
type reloadCounts struct{ ok, failed atomic.Int64 }

func (c *reloadCounts) count(err error) {
	if err != nil {
		c.failed.Add(1)
	} else {
		c.ok.Add(1)
	}
}

// RegisterMetrics exports the runtime's counters on reg:
// assay_config_reloads_total{result="ok"|"failed"} and the verdict
// cache's assay_verdict_cache_<name>_total, cumulative across
// configuration changes.
func (r *Runtime) RegisterMetrics(reg prometheus.Registerer) error {
	reloads := prometheus.NewDesc("assay_config_reloads_total",
		"Configuration changes put in effect (ok) or refused (failed), from the --config file or the cluster's objects.",
		[]string{"result"}, nil)
	if err := reg.Register(collector{desc: reloads, collect: func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(reloads, prometheus.CounterValue, float64(r.reloads.ok.Load()), "ok")
		ch <- prometheus.MustNewConstMetric(reloads, prometheus.CounterValue, float64(r.reloads.failed.Load()), "failed")
	}}); err != nil {
		return err
	}
	for name, help := range map[string]string{
		"hits":        "Verifications answered from the verdict cache.",
		"misses":      "Verdict cache lookups that found nothing.",
		"shared":      "Verifications that joined an identical one already running.",
		"stored":      "Verdicts written to the cache.",
		"uncacheable": "Reports not cached because a transient reason appears in them.",
		"errors":      "Failed verdict cache reads and writes (each a miss or a lost write).",
	} {
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "assay_verdict_cache_" + name + "_total",
			Help: help,
		}, func() float64 {
			st := r.CacheStats()
			return float64(map[string]int64{"hits": st.Hits, "misses": st.Misses, "shared": st.Shared,
				"stored": st.Stored, "uncacheable": st.Uncacheable, "errors": st.Errors}[name])
		})); err != nil {
			return err
		}
	}
	return nil
}

// collector is a prometheus.Collector of one description.
type collector struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
