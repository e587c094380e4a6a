package metrics

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Info exports what the process is and what it talks to: the build, the
// liveness of this instance, and the identity of both clusters. Every series
// is a constant 1 whose labels carry the information (the Prometheus "info"
// convention), except where said.
type Info struct {
	build   *prometheus.GaugeVec
	up      *prometheus.GaugeVec
	start   prometheus.Gauge
	cluster *prometheus.GaugeVec
	brokers *prometheus.GaugeVec

	mu       sync.Mutex
	clusters map[string][]string // role → label values last set
}

// NewInfo registers the info metrics with reg: kmigrate_build_info,
// kmigrate_up{migration,process} (1 from start to exit, process being host/pid; for alerts on absent()),
// kmigrate_start_time_seconds, and, once SetCluster is called,
// kmigrate_cluster_info and kmigrate_cluster_brokers.
func NewInfo(reg prometheus.Registerer, version, migration, process string, started time.Time) *Info {
	m := &Info{
		build: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_build_info",
			Help: "Always 1; the labels say which kmigrate build runs.",
		}, []string{"version", "goversion"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_up",
			Help: "1 while this kmigrate instance runs the migration; alert on its absence.",
		}, []string{"migration", "process"}),
		start: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kmigrate_start_time_seconds",
			Help: "Unix time this kmigrate process started.",
		}),
		cluster: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_cluster_info",
			Help: "Always 1; the labels identify the source or target cluster: its id and the Kafka version its brokers answer like.",
		}, []string{"cluster", "cluster_id", "version"}),
		brokers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_cluster_brokers",
			Help: "Brokers in the source or target cluster's metadata.",
		}, []string{"cluster"}),
		clusters: map[string][]string{},
	}
	m.build.WithLabelValues(version, runtime.Version()).Set(1)
	m.up.WithLabelValues(migration, process).Set(1)
	m.start.Set(float64(started.UnixNano()) / 1e9)
	if reg != nil {
		reg.MustRegister(m.build, m.up, m.start, m.cluster, m.brokers)
	}
	return m
}

// SetCluster records the identity of the cluster of role (source, target).
func (m *Info) SetCluster(role, clusterID, version string, brokers int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.clusters[role]; ok {
		m.cluster.DeleteLabelValues(old...)
	}
	labels := []string{role, clusterID, version}
	m.clusters[role] = labels
	m.cluster.WithLabelValues(labels...).Set(1)
	m.brokers.WithLabelValues(role).Set(float64(brokers))
}
