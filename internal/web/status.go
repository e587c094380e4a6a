package web

import (
	"fmt"
	"sort"
	"time"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// Snapshot is the raw state of a running migration, as a Source returns it.
// The Server turns it into a Status.
type Snapshot struct {
	// Migration is the migration's name.
	Migration string
	// Started is set once the copy engine has started every partition.
	Started bool
	// Partitions is the engine's status of every partition.
	Partitions []replicate.PartitionStatus
	// Baseline is the source snapshot taken at the first run; nil until it is
	// known, and then progress is measured against the current source ends.
	Baseline *state.Baseline
	// Groups is the latest group translation pass; nil before the first or
	// when translation is off.
	Groups *groups.Report
	// Verify is the latest verification this process ran; nil before one.
	Verify *verify.Report
	// Events are the recent events, oldest first.
	Events []replicate.Event
}

// Source is what the dashboard reads. Implementations return a snapshot and
// must be safe for concurrent use; the web package never changes anything
// through them.
type Source interface {
	Snapshot() Snapshot
}

// Phases of a migration in Status.Phase.
const (
	PhaseStarting = "starting"  // the engine has not started every partition yet
	PhaseCopying  = "copying"   // some partition has lag
	PhaseCaughtUp = "caught-up" // no partition has lag
	PhaseFailed   = "failed"    // some partition stopped with an error
)

// Topic statuses in TopicStatus.Status.
const (
	TopicCopying  = "copying"
	TopicCaughtUp = "caught-up"
	TopicFailed   = "failed"
)

// maxStatusEvents bounds the events in a Status; /api/events has them all.
const maxStatusEvents = 50

// Status is the document GET /api/status returns, and what the dashboard shows.
type Status struct {
	Migration string    `json:"migration"`
	Time      time.Time `json:"time"`
	// Phase is starting, copying, caught-up or failed.
	Phase string `json:"phase"`
	// Ready is what /-/ready answers; ReadyReason says why not.
	Ready       bool          `json:"ready"`
	ReadyReason string        `json:"ready_reason,omitempty"`
	Overview    Overview      `json:"overview"`
	Topics      []TopicStatus `json:"topics"`
	// Errors are the partitions that stopped, with their error.
	Errors []PartitionError `json:"errors"`
	// Groups summarises the latest translation pass; null before the first.
	Groups *GroupsStatus `json:"groups"`
	// Verify summarises the latest verification; null before one.
	Verify *VerifyStatus `json:"verify"`
	// Events are the most recent events, newest first (at most 50).
	Events []replicate.Event `json:"events"`
}

// Overview is the migration at a glance.
type Overview struct {
	Topics           int `json:"topics"`
	Partitions       int `json:"partitions"`
	FailedPartitions int `json:"failed_partitions"`
	// BaselineRecords is the number of source offsets to copy to reach the
	// baseline (its end offsets, from where each partition's copy began);
	// BaselineCopied how many of them are copied; BaselineProgress their
	// ratio, 0 to 1. Offsets, so an upper bound of records where the source
	// has gaps (compaction, transactions). BaselineKnown is false while the
	// baseline is not known: progress is then against the current source end.
	BaselineRecords  int64   `json:"baseline_records"`
	BaselineCopied   int64   `json:"baseline_copied"`
	BaselineProgress float64 `json:"baseline_progress"`
	BaselineKnown    bool    `json:"baseline_known"`
	// CopiedRecords and CopiedBytes are what this process copied.
	CopiedRecords int64 `json:"copied_records"`
	CopiedBytes   int64 `json:"copied_bytes"`
	// LagRecords is the sum over partitions of source end minus next offset to
	// copy; LagSeconds the largest partition lag in seconds.
	LagRecords int64   `json:"lag_records"`
	LagSeconds float64 `json:"lag_seconds"`
	// RecordsPerSecond and BytesPerSecond are the copy rate, and
	// SourceRecordsPerSecond the rate the source end offsets grow, over the
	// last RateWindowSeconds; null until two samples exist.
	RecordsPerSecond       *float64 `json:"records_per_second"`
	BytesPerSecond         *float64 `json:"bytes_per_second"`
	SourceRecordsPerSecond *float64 `json:"source_records_per_second"`
	RateWindowSeconds      float64  `json:"rate_window_seconds"`
	// ETASeconds is the time to catch up at the current rates: 0 when caught
	// up, null when unknown or when the copy is not gaining on the source.
	ETASeconds *float64 `json:"eta_seconds"`
	// LostRecords is the number of source offsets deleted by retention before
	// they were copied (an upper bound of records).
	LostRecords int64 `json:"lost_records"`
	// MapRuns is the total number of offset-map runs.
	MapRuns int `json:"offset_map_runs"`
}

// TopicStatus is one source topic.
type TopicStatus struct {
	Topic       string `json:"topic"`
	TargetTopic string `json:"target_topic"`
	Partitions  int    `json:"partitions"`
	// Status is copying, caught-up or failed.
	Status           string  `json:"status"`
	LagRecords       int64   `json:"lag_records"`
	LagSeconds       float64 `json:"lag_seconds"`
	CopiedRecords    int64   `json:"copied_records"`
	CopiedBytes      int64   `json:"copied_bytes"`
	BaselineProgress float64 `json:"baseline_progress"`
	MapRuns          int     `json:"offset_map_runs"`
	LostRecords      int64   `json:"lost_records"`
	FailedPartitions int     `json:"failed_partitions"`
}

// PartitionError is a partition that stopped.
type PartitionError struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Error     string `json:"error"`
}

// GroupsStatus summarises a group translation pass.
type GroupsStatus struct {
	Time time.Time `json:"time"`
	// Groups is the number of groups, Partitions of group partitions.
	Groups     int `json:"groups"`
	Partitions int `json:"partitions"`
	// Counts is the number of group partitions per status (in-sync, pending,
	// active-on-target, behind-retention, skipped).
	Counts map[groups.Status]int `json:"counts"`
	// Errors are groups that could not be read or written at all.
	Errors []string `json:"errors"`
	// Rows has one entry per group.
	Rows []GroupStatus `json:"rows"`
}

// GroupStatus is one consumer group.
type GroupStatus struct {
	Group      string `json:"group"`
	Partitions int    `json:"partitions"`
	// Status is in-sync when every partition is; otherwise the status of its
	// most pressing partition, in the order skipped, behind-retention,
	// active-on-target, pending; Reason is that partition's reason.
	Status    groups.Status         `json:"status"`
	Reason    string                `json:"reason,omitempty"`
	Counts    map[groups.Status]int `json:"counts"`
	SourceLag int64                 `json:"source_lag"`
	TargetLag int64                 `json:"target_lag"`
}

// VerifyStatus summarises a verification.
type VerifyStatus struct {
	Time    time.Time     `json:"time"`
	Mode    string        `json:"mode"`
	Pass    bool          `json:"pass"`
	Seconds float64       `json:"seconds"`
	Checks  []VerifyCheck `json:"checks"`
}

// VerifyCheck is one check of a verification.
type VerifyCheck struct {
	Name    string `json:"name"`
	Pass    bool   `json:"pass"`
	Checked int    `json:"checked"`
	Failed  int    `json:"failed"`
	Unit    string `json:"unit"`
	Summary string `json:"summary"`
	// Failures are the first failure messages, at most 5.
	Failures []string `json:"failures,omitempty"`
}

// rates are the copy and source rates over a window; nil fields are unknown.
type rates struct {
	records, bytes, source *float64
	window                 float64
}

// buildStatus turns a snapshot into a Status.
func buildStatus(s Snapshot, now time.Time, r rates, readyMaxLag int64) *Status {
	st := &Status{
		Migration: s.Migration, Time: now,
		Topics: []TopicStatus{}, Errors: []PartitionError{}, Events: []replicate.Event{},
	}
	ov := &st.Overview
	ov.BaselineKnown = s.Baseline != nil
	ov.RecordsPerSecond, ov.BytesPerSecond, ov.SourceRecordsPerSecond = r.records, r.bytes, r.source
	ov.RateWindowSeconds = r.window
	topics := map[string]*TopicStatus{}
	type progress struct{ total, done int64 }
	topicBase := map[string]*progress{}
	for _, p := range s.Partitions {
		t := topics[p.Topic]
		if t == nil {
			t = &TopicStatus{Topic: p.Topic, TargetTopic: p.TargetTopic}
			topics[p.Topic] = t
			topicBase[p.Topic] = &progress{}
		}
		t.Partitions++
		ov.Partitions++
		lost := int64(0)
		for _, l := range p.Lost {
			lost += l.To - l.From
		}
		t.LostRecords += lost
		ov.LostRecords += lost
		t.CopiedRecords += p.Copied
		t.CopiedBytes += p.Bytes
		t.MapRuns += p.Runs
		t.LagRecords += max(0, p.Lag)
		t.LagSeconds = max(t.LagSeconds, p.LagSeconds)
		if p.Error != "" {
			t.FailedPartitions++
			ov.FailedPartitions++
			st.Errors = append(st.Errors, PartitionError{Topic: p.Topic, Partition: p.Partition, Error: p.Error})
		}
		total, done := baselineProgress(p, s.Baseline)
		topicBase[p.Topic].total += total
		topicBase[p.Topic].done += done
	}
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := topics[n]
		b := topicBase[n]
		t.BaselineProgress = ratio(b.done, b.total)
		switch {
		case t.FailedPartitions > 0:
			t.Status = TopicFailed
		case t.LagRecords > 0:
			t.Status = TopicCopying
		default:
			t.Status = TopicCaughtUp
		}
		ov.Topics++
		ov.CopiedRecords += t.CopiedRecords
		ov.CopiedBytes += t.CopiedBytes
		ov.LagRecords += t.LagRecords
		ov.LagSeconds = max(ov.LagSeconds, t.LagSeconds)
		ov.MapRuns += t.MapRuns
		ov.BaselineRecords += b.total
		ov.BaselineCopied += b.done
		st.Topics = append(st.Topics, *t)
	}
	ov.BaselineProgress = ratio(ov.BaselineCopied, ov.BaselineRecords)
	ov.ETASeconds = eta(ov.LagRecords, r)

	switch {
	case !s.Started:
		st.Phase = PhaseStarting
	case ov.FailedPartitions > 0:
		st.Phase = PhaseFailed
	case ov.LagRecords > 0:
		st.Phase = PhaseCopying
	default:
		st.Phase = PhaseCaughtUp
	}
	switch {
	case !s.Started:
		st.ReadyReason = "the copy engine is starting"
	case ov.FailedPartitions > 0:
		st.ReadyReason = fmt.Sprintf("%d partition(s) stopped with an error", ov.FailedPartitions)
	case ov.LagRecords > readyMaxLag:
		st.ReadyReason = fmt.Sprintf("lag of %d records is above http.ready_max_lag (%d)", ov.LagRecords, readyMaxLag)
	default:
		st.Ready = true
	}
	st.Groups = groupsStatus(s.Groups)
	st.Verify = verifyStatus(s.Verify)
	for i := len(s.Events) - 1; i >= 0 && len(st.Events) < maxStatusEvents; i-- {
		st.Events = append(st.Events, s.Events[i])
	}
	return st
}

// baselineProgress returns the offsets of p's baseline to copy and how many of
// them are copied. The baseline end is the end offset recorded at the first
// run, or the current source end when the baseline does not cover p.
func baselineProgress(p replicate.PartitionStatus, b *state.Baseline) (total, done int64) {
	end := p.SrcEnd
	if b != nil {
		if e, ok := b.EndOffsets[p.Topic][p.Partition]; ok {
			end = e
		}
	}
	if p.Error != "" && p.SrcNext == 0 && p.SrcBegin == 0 {
		return 0, 0 // never started: nothing is known
	}
	total = max(0, end-p.SrcBegin)
	done = min(max(0, p.SrcNext-p.SrcBegin), total)
	return total, done
}

func ratio(done, total int64) float64 {
	if total <= 0 {
		return 1
	}
	return float64(done) / float64(total)
}

// eta is the time to catch up lag at the current rates.
func eta(lag int64, r rates) *float64 {
	if lag <= 0 {
		zero := 0.0
		return &zero
	}
	if r.records == nil || r.source == nil {
		return nil
	}
	gain := *r.records - *r.source
	if gain <= 0 {
		return nil
	}
	v := float64(lag) / gain
	return &v
}

// groupOrder is the order in which a group's partition statuses decide the
// group's status: the first one present wins.
var groupOrder = []groups.Status{groups.Skipped, groups.BehindRetention, groups.ActiveOnTarget, groups.Pending}

func groupsStatus(r *groups.Report) *GroupsStatus {
	if r == nil {
		return nil
	}
	gs := &GroupsStatus{Time: r.Time, Groups: r.Groups, Partitions: len(r.Rows), Counts: r.Counts(), Errors: append([]string{}, r.Errors...), Rows: []GroupStatus{}}
	by := map[string]*GroupStatus{}
	reasons := map[string]map[groups.Status]string{}
	var order []string
	for _, row := range r.Rows {
		g := by[row.Group]
		if g == nil {
			g = &GroupStatus{Group: row.Group, Counts: map[groups.Status]int{}}
			by[row.Group] = g
			reasons[row.Group] = map[groups.Status]string{}
			order = append(order, row.Group)
		}
		g.Partitions++
		g.Counts[row.Status]++
		g.SourceLag += max(0, row.SourceLag)
		g.TargetLag += max(0, row.TargetLag)
		if _, ok := reasons[row.Group][row.Status]; !ok {
			reasons[row.Group][row.Status] = row.Reason
		}
	}
	sort.Strings(order)
	for _, name := range order {
		g := by[name]
		g.Status = groups.InSync
		for _, s := range groupOrder {
			if g.Counts[s] > 0 {
				g.Status, g.Reason = s, reasons[name][s]
				break
			}
		}
		gs.Rows = append(gs.Rows, *g)
	}
	return gs
}

func verifyStatus(r *verify.Report) *VerifyStatus {
	if r == nil {
		return nil
	}
	vs := &VerifyStatus{Time: r.Started, Mode: string(r.Mode), Pass: r.Pass, Seconds: r.Seconds, Checks: []VerifyCheck{}}
	for _, c := range r.Checks {
		vc := VerifyCheck{Name: c.Name, Pass: c.Pass, Checked: c.Checked, Failed: c.Failed, Unit: c.Unit, Summary: c.Summary}
		for _, f := range c.Failures {
			if len(vc.Failures) == 5 {
				break
			}
			vc.Failures = append(vc.Failures, f.Message)
		}
		vs.Checks = append(vs.Checks, vc)
	}
	return vs
}
