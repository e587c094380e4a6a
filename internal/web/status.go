package web

import (
	"fmt"
	"sort"
	"time"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
	"github.com/kmigrate/kmigrate/internal/status"
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
	// Clusters are the identities of both clusters, once known.
	Clusters []ClusterInfo
	// GroupSync is false when consumer-group translation is disabled.
	GroupSync bool
	// ProcessStarted is when the serving process started; zero if unknown.
	ProcessStarted time.Time
	// Run, for a shared migration, describes its processes; nil: this
	// process alone.
	Run *status.Run
	// Others are the partitions of a shared migration as the state and the
	// clusters show them; those in Partitions (copied here) are shown live.
	Others []status.Observation
}

// Source is what the dashboard reads. Implementations return a snapshot and
// must be safe for concurrent use; the web package never changes anything
// through them.
type Source interface {
	Snapshot() Snapshot
}

// maxStatusEvents bounds the events in a Status; /api/events has them all.
const maxStatusEvents = 50

// Status is the document GET /api/status returns, and what the dashboard shows.
// Its figures come from package status, the model `kmigrate status` uses too.
type Status struct {
	Migration string    `json:"migration"`
	Time      time.Time `json:"time"`
	// Phase summarises the partitions' phases (see package status); Run says
	// the run is alive: this process serves the page.
	Phase status.Phase `json:"phase"`
	Run   status.Run   `json:"run"`
	// Started is set once the copy engine has started every partition.
	Started bool `json:"started"`
	// Ready is what /-/ready answers; ReadyReason says why not.
	Ready       bool               `json:"ready"`
	ReadyReason string             `json:"ready_reason,omitempty"`
	Overview    status.Totals      `json:"overview"`
	Topics      []status.Topic     `json:"topics"`
	Partitions  []status.Partition `json:"partitions"`
	// History is the totals' recent history, oldest first, for the charts.
	History []status.Point `json:"history"`
	// Clusters are the identities of both clusters; empty until known.
	Clusters []ClusterInfo `json:"clusters"`
	// GroupSync is false when consumer-group translation is disabled.
	GroupSync bool `json:"group_sync"`
	// Started is when the process started, UptimeSeconds how long ago; both
	// absent when unknown.
	ProcessStarted *time.Time `json:"process_started,omitempty"`
	UptimeSeconds  float64    `json:"uptime_seconds,omitempty"`
	// Errors are the partitions that stopped, with their error.
	Errors []PartitionError `json:"errors"`
	// Groups summarises the latest translation pass; null before the first.
	Groups *GroupsStatus `json:"groups"`
	// Verify summarises the latest verification; null before one.
	Verify *VerifyStatus `json:"verify"`
	// Events are the most recent events, newest first (at most 50).
	Events []replicate.Event `json:"events"`
}

// ClusterInfo is what is known of one cluster's identity.
type ClusterInfo struct {
	// Role is source or target.
	Role      string `json:"role"`
	ClusterID string `json:"cluster_id"`
	// Version is the broker version inferred from the API versions, such as
	// "4.1"; Brokers the number of brokers; Bootstrap the addresses dialled.
	Version   string    `json:"version,omitempty"`
	Brokers   int       `json:"brokers"`
	Bootstrap []string  `json:"bootstrap"`
	Seen      time.Time `json:"seen"`
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
	Time time.Time `json:"time"`
	Mode string    `json:"mode"`
	Pass bool      `json:"pass"`
	// Result is PASS, PENDING or FAIL.
	Result  string        `json:"result"`
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

// observations turns the engine's partitions into the model's observations.
func observations(parts []replicate.PartitionStatus) []status.Observation {
	obs := make([]status.Observation, len(parts))
	for i, p := range parts {
		obs[i] = status.FromEngine(p)
	}
	return obs
}

// observations are the partitions a snapshot shows: the engine's, live, and
// for a shared migration the others, as the state and the clusters show them.
func (s Snapshot) observations() []status.Observation {
	obs := observations(s.Partitions)
	here := map[replicate.TP]bool{}
	for _, p := range s.Partitions {
		here[replicate.TP{Topic: p.Topic, Partition: p.Partition}] = true
	}
	for _, o := range s.Others {
		if !here[replicate.TP{Topic: o.Topic, Partition: o.Partition}] {
			obs = append(obs, o)
		}
	}
	return obs
}

// buildStatus turns a snapshot into a Status.
func buildStatus(s Snapshot, now time.Time, r status.Rates, points []status.Point, readyMaxLag int64) *Status {
	run := status.Run{Known: true, Alive: true, Self: true, Members: 1}
	if s.Run != nil {
		run = *s.Run
		run.Known, run.Alive = true, true
	}
	rep := status.Build(status.Input{
		Migration: s.Migration, Taken: now, Baseline: s.Baseline,
		Run: run, Observations: s.observations(), Rates: r,
	})
	st := &Status{
		Migration: s.Migration, Time: now, Phase: rep.Totals.Phase, Run: rep.Run, Started: s.Started,
		Overview: rep.Totals, Topics: rep.Topics, Partitions: rep.Partitions, History: points,
		Clusters: append([]ClusterInfo{}, s.Clusters...), GroupSync: s.GroupSync,
		Errors: []PartitionError{}, Events: []replicate.Event{},
	}
	if points == nil {
		st.History = []status.Point{}
	}
	if !s.ProcessStarted.IsZero() {
		t := s.ProcessStarted
		st.ProcessStarted, st.UptimeSeconds = &t, now.Sub(t).Seconds()
	}
	for _, p := range rep.Partitions {
		if p.Phase == status.Failed {
			st.Errors = append(st.Errors, PartitionError{Topic: p.Topic, Partition: p.Partition, Error: p.Error})
		}
	}
	ov := rep.Totals
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
	vs := &VerifyStatus{Time: r.Started, Mode: string(r.Mode), Pass: r.Pass, Result: string(r.Result), Seconds: r.Seconds, Checks: []VerifyCheck{}}
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

// report is the part of st the history records.
func (st *Status) report() *status.Report {
	return &status.Report{Migration: st.Migration, Taken: st.Time, Totals: st.Overview}
}
