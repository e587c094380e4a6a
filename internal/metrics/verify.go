package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmigrate/kmigrate/internal/verify"
)

// Verify exports the result of the latest verification this process ran: one
// series per check (coverage, counts, sample or full, compacted, groups). A
// check the latest run did not do keeps no series.
type Verify struct {
	passed    prometheus.Gauge
	check     *prometheus.GaugeVec
	failed    *prometheus.GaugeVec
	checked   *prometheus.GaugeVec
	timestamp prometheus.Gauge
	duration  prometheus.Gauge
	runs      *prometheus.CounterVec
}

// NewVerify registers the verification metrics with reg.
func NewVerify(reg prometheus.Registerer) *Verify {
	m := &Verify{
		passed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kmigrate_verify_passed",
			Help: "1 when the latest verification passed every check, 0 when it failed; absent before the first.",
		}),
		check: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_verify_check_passed",
			Help: "1 when a check of the latest verification passed, 0 when it failed.",
		}, []string{"check", "mode"}),
		failed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_verify_check_failed_items",
			Help: "Items (partitions, topics, group partitions) that failed a check of the latest verification.",
		}, []string{"check", "mode"}),
		checked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_verify_check_items",
			Help: "Items (partitions, topics, group partitions) a check of the latest verification examined.",
		}, []string{"check", "mode"}),
		timestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kmigrate_verify_last_run_timestamp_seconds",
			Help: "Unix time the latest verification started.",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kmigrate_verify_last_run_duration_seconds",
			Help: "How long the latest verification took.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmigrate_verify_runs_total",
			Help: "Verifications run by this process, by result (pass, fail).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.passed, m.check, m.failed, m.checked, m.timestamp, m.duration, m.runs)
	}
	return m
}

// Observe records rep as the latest verification.
func (m *Verify) Observe(rep *verify.Report) {
	if m == nil || rep == nil {
		return
	}
	m.check.Reset()
	m.failed.Reset()
	m.checked.Reset()
	mode := string(rep.Mode)
	for _, c := range rep.Checks {
		m.check.WithLabelValues(c.Name, mode).Set(b2f(c.Pass))
		m.failed.WithLabelValues(c.Name, mode).Set(float64(c.Failed))
		m.checked.WithLabelValues(c.Name, mode).Set(float64(c.Checked))
	}
	m.passed.Set(b2f(rep.Pass))
	m.timestamp.Set(float64(rep.Started.UnixNano()) / 1e9)
	m.duration.Set(rep.Seconds)
	result := "fail"
	if rep.Pass {
		result = "pass"
	}
	m.runs.WithLabelValues(result).Inc()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
