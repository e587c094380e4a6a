package web

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
	"github.com/kmigrate/kmigrate/internal/status"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// maxEvents bounds the events a Feed keeps; older ones are dropped.
const maxEvents = 200

// Engine is what the dashboard reads of the copy engine; *replicate.Engine
// has these methods.
type Engine interface {
	// Status returns a snapshot of every partition.
	Status() []replicate.PartitionStatus
	// Ready is closed once every partition has started.
	Ready() <-chan struct{}
}

// GroupReports is what the dashboard reads of consumer-group translation;
// *groups.Syncer has this method.
type GroupReports interface {
	// Last returns the latest pass, nil before the first.
	Last() *groups.Report
}

// Feed is the Source of a running migration: it reads the engine and the group
// syncer when asked, and holds what they do not keep themselves (recent
// events, the latest verification, the baseline). It is safe for concurrent
// use. It also exports kmigrate_events_total and the baseline progress.
type Feed struct {
	migration string
	engine    Engine
	events    *prometheus.CounterVec

	mu        sync.Mutex
	groups    GroupReports
	verify    *verify.Report
	baseline  *state.Baseline
	recent    []replicate.Event
	clusters  []ClusterInfo
	groupSync bool
	started   time.Time
	// whole is the latest view of a shared migration as a whole (nil for a
	// single-writer one).
	whole *status.Input
}

var descBaseline = prometheus.NewDesc("kmigrate_baseline_progress_ratio",
	"Share of the baseline (source end offsets at the first run) copied, 0 to 1; against the current source ends until the baseline is known.", nil, nil)

var descPhase = prometheus.NewDesc("kmigrate_partition_phase_count",
	"Selected partitions by phase: not-started, catching-up, following, stopped, failed (package status defines them).", []string{"phase"}, nil)

// NewFeed returns the feed of migration, reading engine, and registers its
// metrics with reg (nil: none).
func NewFeed(migration string, engine Engine, reg prometheus.Registerer) *Feed {
	f := &Feed{
		migration: migration, engine: engine,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmigrate_events_total",
			Help: "Notable events by level (info, warn, error): topics created, data lost to retention, partitions stopped.",
		}, []string{"level"}),
	}
	for _, l := range []string{"info", "warn", "error"} {
		f.events.WithLabelValues(l)
	}
	if reg != nil {
		reg.MustRegister(f.events, feedCollector{f})
	}
	return f
}

// Event records an event; it fits replicate.Options.Events.
func (f *Feed) Event(ev replicate.Event) {
	f.events.WithLabelValues(ev.Level).Inc()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.recent) == maxEvents {
		copy(f.recent, f.recent[1:])
		f.recent = f.recent[:maxEvents-1]
	}
	f.recent = append(f.recent, ev)
}

// SetGroups sets where group translation reports come from.
func (f *Feed) SetGroups(g GroupReports) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups = g
}

// SetVerify records the latest verification.
func (f *Feed) SetVerify(r *verify.Report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verify = r
}

// SetBaseline records the migration's baseline.
func (f *Feed) SetBaseline(b *state.Baseline) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.baseline = b
}

// SetClusters records the identities of both clusters.
func (f *Feed) SetClusters(c []ClusterInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clusters = append([]ClusterInfo(nil), c...)
}

// SetStarted records when the process started.
func (f *Feed) SetStarted(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = t
}

// SetGroupSync records whether consumer-group translation is enabled.
func (f *Feed) SetGroupSync(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groupSync = on
}

// SetWhole records the latest view of a shared migration as a whole: its
// processes and every partition as the state and both clusters show it.
// Partitions this process copies are shown live; the others from it.
func (f *Feed) SetWhole(in status.Input) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.whole = &in
}

// Snapshot implements Source.
func (f *Feed) Snapshot() Snapshot {
	s := Snapshot{Migration: f.migration}
	if f.engine != nil {
		select {
		case <-f.engine.Ready():
			s.Started = true
		default:
		}
		s.Partitions = f.engine.Status()
	}
	f.mu.Lock()
	g := f.groups
	s.Verify, s.Baseline = f.verify, f.baseline
	s.Clusters, s.GroupSync, s.ProcessStarted = append([]ClusterInfo(nil), f.clusters...), f.groupSync, f.started
	s.Events = append([]replicate.Event(nil), f.recent...)
	if w := f.whole; w != nil {
		run := w.Run
		s.Run = &run
		s.Others = w.Observations
	}
	f.mu.Unlock()
	if g != nil {
		s.Groups = g.Last()
	}
	return s
}

// feedCollector exports, at scrape time, the baseline progress and the
// number of partitions in each phase, from the same model as /api/status.
type feedCollector struct{ f *Feed }

func (c feedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBaseline
	ch <- descPhase
}

func (c feedCollector) Collect(ch chan<- prometheus.Metric) {
	if c.f.engine == nil {
		return
	}
	c.f.mu.Lock()
	b := c.f.baseline
	c.f.mu.Unlock()
	rep := status.Build(status.Input{Migration: c.f.migration, Baseline: b,
		Run: status.Run{Known: true, Alive: true, Self: true}, Observations: observations(c.f.engine.Status())})
	ch <- prometheus.MustNewConstMetric(descBaseline, prometheus.GaugeValue, rep.Totals.BaselineProgress)
	for _, ph := range status.Phases {
		ch <- prometheus.MustNewConstMetric(descPhase, prometheus.GaugeValue, float64(rep.Totals.Phases[ph]), string(ph))
	}
}
