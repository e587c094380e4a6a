package groups

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the group translation metrics.
type Metrics struct {
	partitions *prometheus.GaugeVec
	passes     prometheus.Counter
	duration   prometheus.Histogram
	errors     prometheus.Counter
}

// NewMetrics registers the group translation metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		partitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_group_partitions",
			Help: "Group partitions by translation status in the latest pass: in-sync, pending, active-on-target, behind-retention, skipped.",
		}, []string{"status"}),
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kmigrate_group_sync_passes_total",
			Help: "Group translation passes run.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kmigrate_group_sync_duration_seconds",
			Help:    "Duration of a group translation pass.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kmigrate_group_sync_group_errors_total",
			Help: "Groups that could not be read or written in a pass.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.partitions, m.passes, m.duration, m.errors)
	}
	return m
}

func (m *Metrics) observe(r *Report) {
	m.passes.Inc()
	m.duration.Observe(r.Duration)
	m.errors.Add(float64(len(r.Errors)))
	counts := r.Counts()
	for _, s := range Statuses() {
		m.partitions.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
}
