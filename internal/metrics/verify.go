package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmigrate/kmigrate/internal/verify"
)

// Verify exports the result of the latest verification this process ran: one
// series per check (coverage, counts, sample or full, compacted, groups). A
// check the latest run did not do keeps no series, and before the first
// verification there is no kmigrate_verify_passed or last-run series at all:
// a 0 would read as a failure and fire alerts for a process that never
// verified. The runs counter is exported from 0.
type Verify struct {
	// passed, timestamp and duration have no labels; they are vectors so
	// that their one series appears with the first verification.
	passed    *prometheus.GaugeVec
	check     *prometheus.GaugeVec
	failed    *prometheus.GaugeVec
	checked   *prometheus.GaugeVec
	timestamp *prometheus.GaugeVec
	duration  *prometheus.GaugeVec
	runs      *prometheus.CounterVec
}

// NewVerify registers the verification metrics with reg.
func NewVerify(reg prometheus.Registerer) *Verify {
	m := &Verify{
		passed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_verify_passed",
			Help: "1 when the latest verification passed every check, 0 when it failed or is pending; absent before the first.",
		}, nil),
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
		timestamp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_verify_last_run_timestamp_seconds",
			Help: "Unix time the latest verification started; absent before the first.",
		}, nil),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kmigrate_verify_last_run_duration_seconds",
			Help: "How long the latest verification took; absent before the first.",
		}, nil),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmigrate_verify_runs_total",
			Help: "Verifications run by this process, by result (pass, pending, fail).",
		}, []string{"result"}),
	}
	for _, r := range []string{"pass", "pending", "fail"} {
		m.runs.WithLabelValues(r)
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
	m.passed.WithLabelValues().Set(b2f(rep.Pass))
	m.timestamp.WithLabelValues().Set(float64(rep.Started.UnixNano()) / 1e9)
	m.duration.WithLabelValues().Set(rep.Seconds)
	result := "fail"
	switch {
	case rep.Pass:
		result = "pass"
	case rep.Result == verify.ResultPending:
		result = "pending"
	}
	m.runs.WithLabelValues(result).Inc()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
