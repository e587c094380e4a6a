package groups

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxGroupSeries bounds the groups that get series of their own in
// kmigrate_group_unsynced_partitions: the groups with the most partitions
// not in sync come first (then by name), and the others are summed under
// group="_other", so a cluster of thousands of groups adds at most this many
// series.
const MaxGroupSeries = 50

// otherGroups is the group label of the groups beyond MaxGroupSeries.
const otherGroups = "_other"

// Metrics are the group translation metrics.
type Metrics struct {
	partitions *prometheus.GaugeVec
	passes     prometheus.Counter
	duration   prometheus.Histogram
	errors     prometheus.Counter
	unsynced   *prometheus.GaugeVec
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
		unsynced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_group_unsynced_partitions",
			Help: "Partitions of a group not in sync in the latest pass (0: the group is in sync); at most 50 groups, the rest summed as group=\"_other\".",
		}, []string{"group"}),
	}
	for _, s := range []Status{InSync, Pending, ActiveOnTarget, BehindRetention, Skipped} {
		m.partitions.WithLabelValues(string(s))
	}
	if reg != nil {
		reg.MustRegister(m.partitions, m.passes, m.duration, m.errors, m.unsynced)
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
	m.observeGroups(r)
}

// observeGroups sets kmigrate_group_unsynced_partitions from r.
func (m *Metrics) observeGroups(r *Report) {
	unsynced := map[string]int{}
	for _, row := range r.Rows {
		n := unsynced[row.Group]
		if row.Status != InSync {
			n++
		}
		unsynced[row.Group] = n
	}
	names := make([]string, 0, len(unsynced))
	for g := range unsynced {
		names = append(names, g)
	}
	sort.Slice(names, func(i, j int) bool {
		if unsynced[names[i]] != unsynced[names[j]] {
			return unsynced[names[i]] > unsynced[names[j]]
		}
		return names[i] < names[j]
	})
	m.unsynced.Reset()
	other, others := 0, false
	for i, g := range names {
		if i < MaxGroupSeries {
			m.unsynced.WithLabelValues(g).Set(float64(unsynced[g]))
			continue
		}
		other += unsynced[g]
		others = true
	}
	if others {
		m.unsynced.WithLabelValues(otherGroups).Set(float64(other))
	}
}
