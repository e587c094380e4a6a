// Package status is kmigrate's one model of a migration's progress. `kmigrate
// status`, the JSON status API, the dashboard and the metrics all build their
// figures here, so that they cannot disagree.
//
// Its input is an Observation per partition, made either from the state topic
// (maps, checkpoints, baseline) and both clusters' offsets, as `kmigrate status`
// reads them, or from the live engine's PartitionStatus, as `run` sees it; plus
// whether a `run` is alive (Run). Its output is a Report: per partition, per
// topic and in total, the records copied, the lag in records and seconds, the
// rates, the ETA and the phase.
//
// The phase of a partition is one of:
//
//   - failed: the partition stopped with an error (or its source topic is gone);
//   - not-started: kmigrate has no map for it yet;
//   - stopped: it has a map but no `run` is alive to advance it;
//   - following: a `run` is alive and copies records as they arrive: no lag, or
//     the oldest record not yet copied is at most Options.FollowWithin old, or
//     the copy would catch up within that time at the current rates;
//   - catching-up: a `run` is alive and the lag is larger than that.
//
// Exact: records copied (from the offset map), end offsets, the phases failed,
// not-started and stopped. Approximate: lag in offsets is an upper bound of
// records where the source has gaps (compaction, transactions); lag in seconds
// comes from record timestamps; rates are averaged over the samples a History
// holds and the ETA assumes they hold.
package status

import (
	"sort"
	"time"

	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// Phase is where a partition, a topic or the migration stands.
type Phase string

// The phases, as the package documentation defines them.
const (
	NotStarted Phase = "not-started"
	CatchingUp Phase = "catching-up"
	Following  Phase = "following"
	Stopped    Phase = "stopped"
	Failed     Phase = "failed"
)

// Phases lists every phase, for metrics that export one series per phase.
var Phases = []Phase{NotStarted, CatchingUp, Following, Stopped, Failed}

// DefaultFollowWithin is the default of Options.FollowWithin.
const DefaultFollowWithin = 10 * time.Second

// Summarize returns the phase of a set of partitions: failed when any failed,
// following when all follow, not-started when none started, stopped when any is
// stopped, catching-up otherwise. An empty set is not-started.
func Summarize(phases []Phase) Phase {
	if len(phases) == 0 {
		return NotStarted
	}
	n := map[Phase]int{}
	for _, p := range phases {
		n[p]++
	}
	switch {
	case n[Failed] > 0:
		return Failed
	case n[Following] == len(phases):
		return Following
	case n[NotStarted] == len(phases):
		return NotStarted
	case n[Stopped] > 0:
		return Stopped
	}
	return CatchingUp
}

// Observation is what is known of one partition at one moment.
type Observation struct {
	Topic       string
	Partition   int32
	TargetTopic string
	// Started is set when kmigrate has an offset map for the partition.
	Started bool
	// Error says why the partition stopped, or why its state cannot be read.
	Error string
	// SourceStart is the source log start offset; SourceEnd the end a copy can
	// reach (the last stable offset); SourceEndKnown is false until it was read
	// (the engine learns it with its first fetch).
	SourceStart, SourceEnd int64
	SourceEndKnown         bool
	// CopyBegin is the source offset the copy began at; CopiedUpTo the next
	// source offset to copy: every offset below it was copied, or was a gap.
	CopyBegin, CopiedUpTo int64
	// TargetEnd is the target position written: the target end offset when
	// read from the cluster, the map's next target offset in the engine. Its
	// growth is the copy rate.
	TargetEnd int64
	// Copied is the number of records in the offset map.
	Copied int64
	// Bytes is the bytes this process copied (0 when not known).
	Bytes int64
	// Runs is the number of offset-map runs; Coarsened says whether the map
	// was coarsened to bound its size.
	Runs      int
	Coarsened bool
	// LagSeconds is the age of the oldest record not yet copied.
	LagSeconds float64
	// Lost lists the source ranges deleted by retention before they were copied.
	Lost []state.LostRange
	// Checkpoint is when the partition's state was last written; zero if not known.
	Checkpoint time.Time
	// Gone is set when the source topic no longer exists.
	Gone bool
}

// FromEngine turns the engine's status of a partition into an observation.
func FromEngine(p replicate.PartitionStatus) Observation {
	o := Observation{
		Topic: p.Topic, Partition: p.Partition, TargetTopic: p.TargetTopic,
		Error:       p.Error,
		SourceStart: p.SrcStart, SourceEnd: p.SrcEnd,
		CopyBegin: p.SrcBegin, CopiedUpTo: p.SrcNext, TargetEnd: p.TgtNext,
		Copied: max(0, p.TgtNext-p.TgtStart), Bytes: p.Bytes, Runs: p.Runs, Coarsened: p.Coarsened,
		LagSeconds: p.LagSeconds, Lost: p.Lost,
	}
	// A partition that failed before it started has no map: all zero.
	o.Started = p.Error == "" || p.SrcNext != 0 || p.SrcBegin != 0 || p.TgtNext != 0
	// Before its first fetch the engine's source end is its next offset and
	// nothing was copied: not known yet.
	o.SourceEndKnown = p.Error == "" && (p.Copied > 0 || p.SrcEnd > p.SrcNext)
	return o
}

// Run says whether a `run` process of the migration is alive, as the writer
// lock group on the source tells.
type Run struct {
	// Known is false when the group could not be described; Error says why.
	Known bool   `json:"known"`
	Alive bool   `json:"alive"`
	Error string `json:"error,omitempty"`
	// Group is the writer lock group; Members its live members and Hosts
	// their client hosts.
	Group   string   `json:"group"`
	Members int      `json:"members"`
	Hosts   []string `json:"hosts,omitempty"`
	// Self is set when the report was built inside the `run` process.
	Self bool `json:"self,omitempty"`
	// Instances describes every live process of a shared migration
	// (replication.scale_out): what it holds, and which one leads.
	Instances []Instance `json:"instances,omitempty"`
}

// Instance is one live `run` process of a shared migration, as the writer
// group tells: its member metadata and the assignment the leader gave it.
type Instance struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	HTTP    string    `json:"http,omitempty"`
	// Leader is set on the process that runs the singletons.
	Leader bool `json:"leader"`
	// Partitions are the source partitions assigned to it ("topic/partition").
	Partitions []string `json:"partitions"`
}

// Options tune the model.
type Options struct {
	// FollowWithin is the lag, in seconds of record age or of ETA, within which
	// a partition counts as following; default DefaultFollowWithin.
	FollowWithin time.Duration
}

// Input is everything a report is built from.
type Input struct {
	Migration string
	Taken     time.Time
	Run       Run
	// Baseline is the source snapshot taken at the first run; nil when the
	// state holds none, and progress is then measured against the current
	// source end.
	Baseline     *state.Baseline
	Observations []Observation
	// Rates come from a History; zero value: unknown.
	Rates Rates
	Options
}

// Partition is the progress of one partition.
type Partition struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	TargetTopic string `json:"target_topic"`
	Phase       Phase  `json:"phase"`
	// BaselineEnd is the source end offset at the first run; BaselineKnown
	// says whether the baseline covers this partition.
	BaselineEnd   int64 `json:"baseline_end"`
	BaselineKnown bool  `json:"baseline_known"`
	SourceStart   int64 `json:"source_start"`
	SourceEnd     int64 `json:"source_end"`
	CopyBegin     int64 `json:"copy_begin"`
	CopiedUpTo    int64 `json:"copied_up_to"`
	TargetEnd     int64 `json:"target_end"`
	// Copied is the records in the offset map; Bytes what this process copied.
	Copied int64 `json:"copied_records"`
	Bytes  int64 `json:"copied_bytes"`
	// LagRecords is the source end minus CopiedUpTo (offsets: an upper bound
	// of records where the source has gaps); LagSeconds the age of the
	// oldest record not yet copied.
	LagRecords int64   `json:"lag_records"`
	LagSeconds float64 `json:"lag_seconds"`
	// BaselineRecords is the offsets to copy to reach the baseline (or the
	// current source end without one) from where the copy began;
	// BaselineCopied how many are copied; BaselineProgress their ratio.
	BaselineRecords  int64   `json:"baseline_records"`
	BaselineCopied   int64   `json:"baseline_copied"`
	BaselineProgress float64 `json:"baseline_progress"`
	// Rate is records written to the target per second, SourceRate records
	// written to the source per second, ETASeconds the time to catch up:
	// null when unknown or not catching up.
	Rate       *float64 `json:"records_per_second"`
	SourceRate *float64 `json:"source_records_per_second"`
	ETASeconds *float64 `json:"eta_seconds"`
	Runs       int      `json:"offset_map_runs"`
	Coarsened  bool     `json:"coarsened,omitempty"`
	// Lost is the source offsets deleted by retention before they were copied.
	Lost       int64             `json:"lost_records"`
	LostRanges []state.LostRange `json:"lost,omitempty"`
	Checkpoint *time.Time        `json:"checkpoint,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// Topic sums the partitions of one source topic.
type Topic struct {
	Topic            string  `json:"topic"`
	TargetTopic      string  `json:"target_topic"`
	Phase            Phase   `json:"phase"`
	Partitions       int     `json:"partitions"`
	FailedPartitions int     `json:"failed_partitions"`
	CopiedRecords    int64   `json:"copied_records"`
	CopiedBytes      int64   `json:"copied_bytes"`
	LagRecords       int64   `json:"lag_records"`
	LagSeconds       float64 `json:"lag_seconds"`
	BaselineProgress float64 `json:"baseline_progress"`
	MapRuns          int     `json:"offset_map_runs"`
	LostRecords      int64   `json:"lost_records"`
}

// Totals sums every partition: lag seconds is the largest, the phase the
// summary of all (see Summarize).
type Totals struct {
	Phase            Phase         `json:"phase"`
	Phases           map[Phase]int `json:"phases"`
	Topics           int           `json:"topics"`
	Partitions       int           `json:"partitions"`
	FailedPartitions int           `json:"failed_partitions"`
	BaselineKnown    bool          `json:"baseline_known"`
	BaselineRecords  int64         `json:"baseline_records"`
	BaselineCopied   int64         `json:"baseline_copied"`
	BaselineProgress float64       `json:"baseline_progress"`
	SourceEnd        int64         `json:"source_end"`
	TargetEnd        int64         `json:"target_end"`
	CopiedRecords    int64         `json:"copied_records"`
	CopiedBytes      int64         `json:"copied_bytes"`
	LagRecords       int64         `json:"lag_records"`
	LagSeconds       float64       `json:"lag_seconds"`
	// Rates over RateWindowSeconds; null until two samples exist.
	RecordsPerSecond       *float64 `json:"records_per_second"`
	BytesPerSecond         *float64 `json:"bytes_per_second"`
	SourceRecordsPerSecond *float64 `json:"source_records_per_second"`
	RateWindowSeconds      float64  `json:"rate_window_seconds"`
	// ETASeconds is 0 when caught up, null when unknown or not catching up.
	ETASeconds  *float64 `json:"eta_seconds"`
	LostRecords int64    `json:"lost_records"`
	MapRuns     int      `json:"offset_map_runs"`
}

// Report is the progress of a migration at one moment.
type Report struct {
	Migration string    `json:"migration"`
	Taken     time.Time `json:"taken"`
	// Run says whether a `run` is alive; it decides between stopped and the
	// live phases.
	Run Run `json:"run"`
	// Baseline is when the baseline was taken; nil if none is recorded.
	Baseline   *time.Time  `json:"baseline,omitempty"`
	Totals     Totals      `json:"totals"`
	Topics     []Topic     `json:"topics"`
	Partitions []Partition `json:"partitions"`
}

// Build computes the report of in.
func Build(in Input) *Report {
	if in.FollowWithin <= 0 {
		in.FollowWithin = DefaultFollowWithin
	}
	rep := &Report{Migration: in.Migration, Taken: in.Taken, Run: in.Run, Topics: []Topic{}, Partitions: []Partition{}}
	if b := in.Baseline; b != nil && b.TakenMilli > 0 {
		t := time.UnixMilli(b.TakenMilli)
		rep.Baseline = &t
	}
	// Without a way to tell, the run is taken as alive: stopped must be a fact.
	alive := in.Run.Alive || !in.Run.Known
	obs := append([]Observation(nil), in.Observations...)
	sort.Slice(obs, func(i, j int) bool {
		if obs[i].Topic != obs[j].Topic {
			return obs[i].Topic < obs[j].Topic
		}
		return obs[i].Partition < obs[j].Partition
	})
	for _, o := range obs {
		p := Partition{
			Topic: o.Topic, Partition: o.Partition, TargetTopic: o.TargetTopic, Error: o.Error,
			SourceStart: o.SourceStart, SourceEnd: o.SourceEnd, CopyBegin: o.CopyBegin, CopiedUpTo: o.CopiedUpTo,
			TargetEnd: o.TargetEnd, Copied: o.Copied, Bytes: o.Bytes, Runs: o.Runs, Coarsened: o.Coarsened,
			LostRanges: o.Lost,
		}
		if o.Gone && p.Error == "" {
			p.Error = "the source topic no longer exists"
		}
		if !o.Checkpoint.IsZero() {
			t := o.Checkpoint
			p.Checkpoint = &t
		}
		for _, l := range o.Lost {
			p.Lost += l.To - l.From
		}
		if in.Baseline != nil {
			if e, ok := in.Baseline.EndOffsets[o.Topic][o.Partition]; ok {
				p.BaselineEnd, p.BaselineKnown = e, true
			}
		}
		if o.Started {
			p.LagRecords = max(0, o.SourceEnd-o.CopiedUpTo)
		} else if p.Error == "" {
			p.LagRecords = max(0, o.SourceEnd-o.SourceStart)
		}
		if p.LagRecords > 0 {
			p.LagSeconds = o.LagSeconds
		}
		p.BaselineRecords, p.BaselineCopied = baselineProgress(o, p)
		p.BaselineProgress = ratio(p.BaselineCopied, p.BaselineRecords)
		if r, ok := in.Rates.Partitions[key{o.Topic, o.Partition}]; ok {
			rate, src := r.Records, r.Source
			p.Rate, p.SourceRate = &rate, &src
			p.ETASeconds = ETA(p.LagRecords, rate, src)
		}
		p.Phase = phase(p, o.Started, alive, in.FollowWithin)
		rep.Partitions = append(rep.Partitions, p)
	}
	rep.total(in)
	return rep
}

// phase is the phase of p (see the package documentation).
func phase(p Partition, started, alive bool, within time.Duration) Phase {
	w := within.Seconds()
	switch {
	case p.Error != "":
		return Failed
	case !started:
		return NotStarted
	case !alive:
		return Stopped
	// A lag of unknown age (0 seconds: nothing read or acknowledged yet)
	// does not count as recent.
	case p.LagRecords == 0, p.LagSeconds > 0 && p.LagSeconds <= w, p.ETASeconds != nil && *p.ETASeconds <= w:
		return Following
	}
	return CatchingUp
}

// baselineProgress returns the offsets of the baseline to copy and how many of
// them are copied. The goal is the baseline end, or the current source end
// where the baseline does not cover the partition; the start is where the copy
// began (the source log start before it began).
func baselineProgress(o Observation, p Partition) (total, done int64) {
	if p.Error != "" && !o.Started {
		return 0, 0 // never started: nothing is known
	}
	goal := o.SourceEnd
	if p.BaselineKnown {
		goal = p.BaselineEnd
	}
	start := o.CopyBegin
	if !o.Started {
		start = o.SourceStart
	}
	total = max(0, goal-start)
	if o.Started {
		done = min(max(0, o.CopiedUpTo-start), total)
	}
	return total, done
}

func ratio(done, total int64) float64 {
	if total <= 0 {
		return 1
	}
	return float64(done) / float64(total)
}

// ETA is the time in seconds to copy lag records at rate records per second
// while the source grows at srcRate: 0 without lag, nil when the copy is not
// gaining on the source.
func ETA(lag int64, rate, srcRate float64) *float64 {
	if lag <= 0 {
		v := 0.0
		return &v
	}
	if gain := rate - srcRate; gain > 0 {
		v := float64(lag) / gain
		return &v
	}
	return nil
}

// total fills the topics and the totals.
func (r *Report) total(in Input) {
	t := Totals{Phases: map[Phase]int{}, BaselineKnown: in.Baseline != nil}
	for _, ph := range Phases {
		t.Phases[ph] = 0
	}
	byTopic := map[string]*Topic{}
	type base struct{ total, done int64 }
	topicBase := map[string]*base{}
	topicPhases := map[string][]Phase{}
	var all []Phase
	for _, p := range r.Partitions {
		tp := byTopic[p.Topic]
		if tp == nil {
			tp = &Topic{Topic: p.Topic, TargetTopic: p.TargetTopic}
			byTopic[p.Topic] = tp
			topicBase[p.Topic] = &base{}
			r.Topics = append(r.Topics, Topic{}) // filled below, in order
		}
		tp.Partitions++
		if p.Phase == Failed {
			tp.FailedPartitions++
			t.FailedPartitions++
		}
		tp.CopiedRecords += p.Copied
		tp.CopiedBytes += p.Bytes
		tp.LagRecords += p.LagRecords
		tp.LagSeconds = max(tp.LagSeconds, p.LagSeconds)
		tp.MapRuns += p.Runs
		tp.LostRecords += p.Lost
		topicBase[p.Topic].total += p.BaselineRecords
		topicBase[p.Topic].done += p.BaselineCopied
		topicPhases[p.Topic] = append(topicPhases[p.Topic], p.Phase)
		all = append(all, p.Phase)

		t.Phases[p.Phase]++
		t.Partitions++
		t.BaselineRecords += p.BaselineRecords
		t.BaselineCopied += p.BaselineCopied
		t.SourceEnd += p.SourceEnd
		t.TargetEnd += p.TargetEnd
		t.CopiedRecords += p.Copied
		t.CopiedBytes += p.Bytes
		t.LagRecords += p.LagRecords
		t.LagSeconds = max(t.LagSeconds, p.LagSeconds)
		t.LostRecords += p.Lost
		t.MapRuns += p.Runs
	}
	i := 0
	for _, p := range r.Partitions {
		tp := byTopic[p.Topic]
		if tp == nil {
			continue
		}
		tp.Phase = Summarize(topicPhases[p.Topic])
		tp.BaselineProgress = ratio(topicBase[p.Topic].done, topicBase[p.Topic].total)
		r.Topics[i] = *tp
		i++
		delete(byTopic, p.Topic)
	}
	t.Topics = len(r.Topics)
	t.Phase = Summarize(all)
	t.BaselineProgress = ratio(t.BaselineCopied, t.BaselineRecords)
	if rt := in.Rates; rt.Known {
		records, bytes, source := rt.Records, rt.Bytes, rt.Source
		t.RecordsPerSecond, t.BytesPerSecond, t.SourceRecordsPerSecond = &records, &bytes, &source
		t.RateWindowSeconds = rt.Window
		t.ETASeconds = ETA(t.LagRecords, records, source)
	} else if t.LagRecords == 0 {
		t.ETASeconds = ETA(0, 0, 0)
	}
	r.Totals = t
}

// Partition returns the partition topic[p] of the report, or nil.
func (r *Report) Partition(topic string, p int32) *Partition {
	for i := range r.Partitions {
		if r.Partitions[i].Topic == topic && r.Partitions[i].Partition == p {
			return &r.Partitions[i]
		}
	}
	return nil
}
