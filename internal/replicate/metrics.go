package replicate

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the copy engine's own metrics. Per-partition figures (lag, copied
// records and bytes, map size) are read from the engine at scrape time by
// Collector, so the copy path only updates the counters here.
type Metrics struct {
	Errors      *prometheus.CounterVec
	LostRecords *prometheus.CounterVec
	// Recoveries counts partitions resumed by themselves after a write
	// error that healed.
	Recoveries  *prometheus.CounterVec
	Checkpoints prometheus.Counter
	Latency     prometheus.Histogram
	// Leader is 1 on the process that runs a shared migration's singletons
	// (always 1 for a single-writer migration once it runs).
	Leader prometheus.Gauge
	// Handovers counts partitions this process let go of in a shared
	// migration, by how: clean, unclean (writes cancelled), expired (the
	// membership expired).
	Handovers *prometheus.CounterVec
}

// NewMetrics registers the engine metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmigrate_errors_total",
			Help: "Errors by kind: fetch, produce, checkpoint, discovery, partition (a partition stopped).",
		}, []string{"kind"}),
		LostRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmigrate_source_records_lost_total",
			Help: "Source offsets deleted by retention before they were copied (an upper bound of records).",
		}, []string{"topic"}),
		Recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmigrate_partition_recoveries_total",
			Help: "Partitions that resumed by themselves after a write to the target failed for a reason that healed (a broken connection, a timeout).",
		}, []string{"topic"}),
		Checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kmigrate_checkpoints_total",
			Help: "Checkpoints written to the state topic.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kmigrate_leader",
			Help: "1 on the process that runs the migration's singletons (topic creation, discovery, group translation): the writer group's leader of a shared migration.",
		}),
		Handovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmigrate_partition_handovers_total",
			Help: "Partitions of a shared migration this process let go of, by how: clean (final checkpoint and release), unclean (writes cancelled; the next owner waits out the fence's grace), expired (the membership expired).",
		}, []string{"how"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kmigrate_replication_latency_seconds",
			Help:    "Time from a record's source timestamp to its acknowledgement by the target.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Errors, m.LostRecords, m.Recoveries, m.Checkpoints, m.Latency, m.Leader, m.Handovers)
	}
	for _, how := range []string{"clean", "unclean", "expired"} {
		m.Handovers.WithLabelValues(how)
	}
	// Every kind exists from the start at 0, so that alerts on increase() see
	// the first error.
	for _, k := range errorKinds {
		m.Errors.WithLabelValues(k)
	}
	return m
}

// errorKinds are the values of the kind label of kmigrate_errors_total.
var errorKinds = []string{"fetch", "produce", "checkpoint", "discovery", "partition"}

// topicStarted exports the per-topic counters of topic from 0, so that an
// alert on increase() sees the first loss; a nil Metrics does nothing.
func (m *Metrics) topicStarted(topic string) {
	if m != nil {
		m.LostRecords.WithLabelValues(topic)
		m.Recoveries.WithLabelValues(topic)
	}
}

// countError counts an error of kind; a nil Metrics counts nothing.
func (m *Metrics) countError(kind string) {
	if m != nil {
		m.Errors.WithLabelValues(kind).Inc()
	}
}

var (
	descLag       = prometheus.NewDesc("kmigrate_replication_lag_records", "Source end offset minus the next offset to copy.", []string{"topic", "partition"}, nil)
	descLagSec    = prometheus.NewDesc("kmigrate_replication_lag_seconds", "Approximate age of the oldest record not yet copied.", []string{"topic", "partition"}, nil)
	descCopied    = prometheus.NewDesc("kmigrate_records_copied_total", "Records copied to the target by this process.", []string{"topic"}, nil)
	descBytes     = prometheus.NewDesc("kmigrate_bytes_copied_total", "Key and value bytes copied to the target by this process.", []string{"topic"}, nil)
	descRuns      = prometheus.NewDesc("kmigrate_offset_map_runs", "Runs in a partition's offset map (1 for a gap-free partition).", []string{"topic", "partition"}, nil)
	descCoarsened = prometheus.NewDesc("kmigrate_offset_map_coarsened", "1 when a partition's offset map was coarsened (translations near its start may re-read records).", []string{"topic", "partition"}, nil)
	descFailed    = prometheus.NewDesc("kmigrate_partition_failed", "1 when a partition stopped with an error.", []string{"topic", "partition"}, nil)
	descPartitons = prometheus.NewDesc("kmigrate_partitions", "Partitions being copied.", nil, nil)
	descLease     = prometheus.NewDesc("kmigrate_writer_lease_valid", "1 while this process's writer lease holds (it may write to the target), 0 while it lapsed (writes paused: the source's group coordinator did not confirm the lock in time).", nil, nil)
)

// Collector exposes per-partition figures of e at scrape time.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descLagSec, descCopied, descBytes, descRuns, descCoarsened, descFailed, descPartitons, descLease} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.Status()
	copied := map[string]float64{}
	bytes := map[string]float64{}
	for _, s := range st {
		p := strconv.Itoa(int(s.Partition))
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(s.Lag), s.Topic, p)
		ch <- prometheus.MustNewConstMetric(descLagSec, prometheus.GaugeValue, s.LagSeconds, s.Topic, p)
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.GaugeValue, float64(s.Runs), s.Topic, p)
		ch <- prometheus.MustNewConstMetric(descCoarsened, prometheus.GaugeValue, b2f(s.Coarsened), s.Topic, p)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.GaugeValue, b2f(s.Error != ""), s.Topic, p)
		copied[s.Topic] += float64(s.Copied)
		bytes[s.Topic] += float64(s.Bytes)
	}
	for t, v := range copied {
		ch <- prometheus.MustNewConstMetric(descCopied, prometheus.CounterValue, v, t)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, bytes[t], t)
	}
	ch <- prometheus.MustNewConstMetric(descPartitons, prometheus.GaugeValue, float64(len(st)))
	ch <- prometheus.MustNewConstMetric(descLease, prometheus.GaugeValue, b2f(c.e.fence.Valid()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observeLatency records a record's replication latency.
func (m *Metrics) observeLatency(ts time.Time, now time.Time) {
	if m == nil || ts.IsZero() {
		return
	}
	if d := now.Sub(ts); d >= 0 {
		m.Latency.Observe(d.Seconds())
	}
}

// lead exports whether this process leads; a nil Metrics does nothing.
func (m *Metrics) lead(on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.Leader.Set(v)
}

// handedOver counts n partitions let go of; a nil Metrics does nothing.
func (m *Metrics) handedOver(how string, n int) {
	if m != nil && n > 0 {
		m.Handovers.WithLabelValues(how).Add(float64(n))
	}
}
