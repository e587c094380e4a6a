package verify

import (
	"context"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/state"
	"github.com/kmigrate/kmigrate/internal/units"
)

// Partition states in a status report.
const (
	StateNotStarted = "not-started"
	StateCopying    = "copying"
	StateCaughtUp   = "caught-up"
	StateFailed     = "failed"
	StateSourceGone = "source-gone"
)

// Progress is the progress of one partition, or the totals of many.
type Progress struct {
	// Topic is the source topic; empty in totals.
	Topic string `json:"topic,omitempty"`
	// Partition is the partition number, the same on both clusters.
	Partition int32 `json:"partition"`
	// TargetTopic is the topic's name on the target.
	TargetTopic string `json:"target_topic,omitempty"`
	// State is one of the State* constants.
	State string `json:"state,omitempty"`
	// BaselineEnd is the source end offset at the first run.
	BaselineEnd int64 `json:"baseline_end"`
	// BaselineKnown says whether the baseline covers this partition. Without
	// it, progress is measured against the current source end.
	BaselineKnown bool `json:"baseline_known"`
	// SourceStart is the source log start offset.
	SourceStart int64 `json:"source_start"`
	// SourceEnd is the source last stable offset, what a copy can reach.
	SourceEnd int64 `json:"source_end"`
	// CopiedUpTo is the checkpointed source position: every source offset
	// below it was copied (or was a transaction marker or aborted record).
	CopiedUpTo int64 `json:"copied_up_to"`
	// TargetEnd is the target end offset, which runs ahead of the checkpoint
	// while `run` copies.
	TargetEnd int64 `json:"target_end"`
	// Copied is the number of records copied, from the offset map.
	Copied int64 `json:"copied_records"`
	// LagRecords is the source end minus CopiedUpTo: offsets, an upper bound
	// of records where the source has gaps.
	LagRecords int64 `json:"lag_records"`
	// LagSeconds is the age of the oldest record not yet copied.
	LagSeconds float64 `json:"lag_seconds"`
	// DonePercent is the share of the baseline copied.
	DonePercent float64 `json:"done_percent"`
	// Rate is records written to the target per second between two samples;
	// nil with one sample.
	Rate *float64 `json:"records_per_second,omitempty"`
	// SourceRate is records written to the source per second between two
	// samples; nil with one sample.
	SourceRate *float64 `json:"source_records_per_second,omitempty"`
	// ETASeconds is the time to catch up at these rates; nil with one sample
	// or when the copy is not catching up.
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
	// Lost is the number of source offsets deleted by retention before they
	// were copied (an upper bound of records).
	Lost int64 `json:"lost_records,omitempty"`
	// LostRanges says where.
	LostRanges []state.LostRange `json:"lost,omitempty"`
	// Checkpoint is when the partition's state was last written.
	Checkpoint *time.Time `json:"checkpoint,omitempty"`
	// Error says why the partition's state cannot be read.
	Error string `json:"error,omitempty"`
	// Partitions is, in totals, the number of partitions summed.
	Partitions int `json:"partitions,omitempty"`

	// base and begin are the baseline start and the copy start, for the
	// percentage.
	base, begin int64
}

// StatusReport is the progress of a migration, read from its state on the
// target and from both clusters' offsets.
type StatusReport struct {
	// Migration is the migration sampled.
	Migration string `json:"migration"`
	// Taken is when the sample was taken.
	Taken time.Time `json:"taken"`
	// Baseline is when the baseline was taken; nil if the state holds none.
	Baseline *time.Time `json:"baseline,omitempty"`
	// IntervalSeconds is the time since the previous sample the rates come
	// from; zero without one.
	IntervalSeconds float64 `json:"interval_seconds,omitempty"`
	// Totals sums the partitions: lag seconds is the largest, State the worst.
	Totals Progress `json:"totals"`
	// Partitions lists every selected partition, by topic and number.
	Partitions []Progress `json:"partitions"`
}

// Status takes one sample of the migration's progress. With prev, a sample of
// the same migration taken earlier, rates and ETAs are computed from the change
// in end offsets since.
func (v *Verifier) Status(ctx context.Context, topics *regexp.Regexp, prev *StatusReport) (*StatusReport, error) {
	s, err := v.open(ctx, topics)
	if err != nil {
		return nil, err
	}
	defer s.close()
	o, err := s.listOffsets(ctx)
	if err != nil {
		return nil, err
	}
	rep := &StatusReport{Migration: v.cfg.Migration}
	b := s.st.Baseline
	if b != nil {
		t := time.UnixMilli(b.TakenMilli)
		rep.Baseline = &t
	}
	names := make([]string, 0, len(s.topics))
	for n := range s.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	type lagRead struct {
		row int
		pt  point
	}
	var reads []lagRead
	for _, name := range names {
		t := s.topics[name]
		n := t.partitions
		for tp := range s.st.Partitions {
			if tp.Topic == name && t.partitions < 0 {
				n = max(n, tp.Partition+1)
			}
		}
		for p := range n {
			row := Progress{Topic: name, Partition: p, TargetTopic: t.target}
			row.SourceStart, _ = lookup(o.srcStart, name, p)
			row.SourceEnd, _ = lookup(o.srcEnd, name, p)
			row.TargetEnd, _ = lookup(o.tgtEnd, t.target, p)
			if b != nil {
				if e, ok := b.EndOffsets[name][p]; ok {
					row.BaselineEnd, row.BaselineKnown = e, true
					row.base = b.StartOffsets[name][p]
				}
			}
			saved := s.st.Partitions[offsetmap.TopicPartition{Topic: name, Partition: p}]
			switch {
			case t.partitions < 0:
				row.State = StateSourceGone
			case saved == nil:
				row.State = StateNotStarted
				row.LagRecords = max(0, row.SourceEnd-row.SourceStart)
				if row.LagRecords > 0 {
					reads = append(reads, lagRead{len(rep.Partitions), point{topic: name, partition: p, from: row.SourceStart, end: row.SourceEnd}})
				}
			case saved.Err != nil:
				row.State, row.Error = StateFailed, saved.Err.Error()
			}
			if saved != nil && saved.Map != nil {
				srcNext, _ := saved.Map.Next()
				row.CopiedUpTo, row.Copied, row.begin = srcNext, saved.Map.Copied(), saved.Map.SrcBegin()
				if !row.BaselineKnown {
					row.base = row.begin
				}
				if ms := saved.Checkpoint.UnixMilli; ms > 0 {
					t := time.UnixMilli(ms)
					row.Checkpoint = &t
				}
				for _, lr := range saved.Lost {
					row.Lost += lr.To - lr.From
				}
				row.LostRanges = saved.Lost
				if row.State == "" {
					row.LagRecords = max(0, row.SourceEnd-srcNext)
					row.State = StateCaughtUp
					if row.LagRecords > 0 {
						row.State = StateCopying
						// The oldest record not yet copied is the first
						// committed one at or after srcNext that retention kept.
						from := max(srcNext, row.SourceStart)
						reads = append(reads, lagRead{len(rep.Partitions), point{topic: name, partition: p, from: from, end: row.SourceEnd}})
					}
				}
			}
			row.DonePercent = donePercent(row)
			rep.Partitions = append(rep.Partitions, row)
		}
	}
	pts := make([]point, len(reads))
	for i, r := range reads {
		pts[i] = r.pt
	}
	recs, err := s.src.readPoints(ctx, pts)
	if err != nil {
		return nil, fmt.Errorf("read the oldest records not yet copied: %w", err)
	}
	rep.Taken = v.now()
	for i, r := range reads {
		if rec := recs[i]; rec != nil {
			rep.Partitions[r.row].LagSeconds = max(0, rep.Taken.Sub(rec.Timestamp).Seconds())
		}
	}
	rep.rates(prev)
	rep.total()
	return rep, nil
}

// donePercent is the share of the baseline (or, without one, of the current
// source end) that was copied.
func donePercent(r Progress) float64 {
	goal := r.SourceEnd
	if r.BaselineKnown {
		goal = r.BaselineEnd
	}
	start := max(r.base, r.begin)
	if goal <= start {
		if r.State == StateNotStarted {
			return 0
		}
		return 100
	}
	done := min(max(r.CopiedUpTo, start), goal) - start
	return 100 * float64(done) / float64(goal-start)
}

// rates fills the rates and ETAs from the previous sample.
func (r *StatusReport) rates(prev *StatusReport) {
	if prev == nil || prev.Migration != r.Migration {
		return
	}
	dt := r.Taken.Sub(prev.Taken).Seconds()
	if dt <= 0 {
		return
	}
	r.IntervalSeconds = dt
	type key struct {
		t string
		p int32
	}
	before := map[key]Progress{}
	for _, p := range prev.Partitions {
		before[key{p.Topic, p.Partition}] = p
	}
	for i := range r.Partitions {
		p := &r.Partitions[i]
		b, ok := before[key{p.Topic, p.Partition}]
		if !ok {
			continue
		}
		rate := max(0, float64(p.TargetEnd-b.TargetEnd)/dt)
		srcRate := max(0, float64(p.SourceEnd-b.SourceEnd)/dt)
		p.Rate, p.SourceRate = &rate, &srcRate
		p.ETASeconds = eta(p.LagRecords, rate, srcRate)
	}
}

// eta is the time to copy lag records at rate while the source grows at
// srcRate; nil when the copy is not catching up.
func eta(lag int64, rate, srcRate float64) *float64 {
	if lag == 0 {
		return ptr(0.0)
	}
	if net := rate - srcRate; net > 0 {
		return ptr(float64(lag) / net)
	}
	return nil
}

// total sums the partitions into Totals.
func (r *StatusReport) total() {
	t := Progress{State: StateCaughtUp, BaselineKnown: r.Baseline != nil}
	var goal, done float64
	var rate, srcRate float64
	haveRate := false
	for _, p := range r.Partitions {
		t.Partitions++
		t.BaselineEnd += p.BaselineEnd
		t.SourceEnd += p.SourceEnd
		t.TargetEnd += p.TargetEnd
		t.Copied += p.Copied
		t.LagRecords += p.LagRecords
		t.LagSeconds = max(t.LagSeconds, p.LagSeconds)
		t.Lost += p.Lost
		start := max(p.base, p.begin)
		g := p.SourceEnd
		if p.BaselineKnown {
			g = p.BaselineEnd
		}
		if g > start {
			goal += float64(g - start)
			done += float64(min(max(p.CopiedUpTo, start), g) - start)
		}
		if p.Rate != nil {
			haveRate = true
			rate += *p.Rate
			srcRate += *p.SourceRate
		}
		switch {
		case p.State == StateFailed || p.State == StateSourceGone:
			t.State = StateFailed
		case p.State != StateCaughtUp && t.State != StateFailed:
			t.State = StateCopying
		}
	}
	t.DonePercent = 100
	if goal > 0 {
		t.DonePercent = 100 * done / goal
	}
	if haveRate {
		t.Rate, t.SourceRate = &rate, &srcRate
		t.ETASeconds = eta(t.LagRecords, rate, srcRate)
	}
	r.Totals = t
}

// WriteText writes the status for a terminal: totals on top, one row per
// partition, then data lost to retention.
func (r *StatusReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "kmigrate status: migration %s at %s\n", r.Migration, r.Taken.Format(time.RFC3339))
	if r.Baseline != nil {
		fmt.Fprintf(w, "baseline: taken %s\n", r.Baseline.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "baseline: none recorded; progress is measured against the current source end offsets\n")
	}
	t := r.Totals
	fmt.Fprintf(w, "total: %s, %s, %.1f%% of the baseline copied, lag %s (%s), rate %s, ETA %s",
		count(t.Partitions, "partition"), t.State, t.DonePercent, count(t.LagRecords, "record"), seconds(t.LagSeconds), rateText(t.Rate, t.SourceRate), etaText(t.ETASeconds, t.Rate))
	if t.Lost > 0 {
		fmt.Fprintf(w, ", LOST TO RETENTION: up to %s records", units.Count(t.Lost))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TOPIC\tPART\tBASELINE END\tSOURCE END\tCOPIED UP TO\tTARGET END\tLAG\tLAG AGE\tDONE\tRATE/S\tETA\tSTATE\t")
	for _, p := range r.Partitions {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%.1f%%\t%s\t%s\t%s\t\n",
			p.Topic, p.Partition, baselineText(p), p.SourceEnd, p.CopiedUpTo, p.TargetEnd, units.Count(p.LagRecords),
			seconds(p.LagSeconds), p.DonePercent, floatText(p.Rate), etaText(p.ETASeconds, p.Rate), p.State)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Partitions {
		for _, lr := range p.LostRanges {
			fmt.Fprintf(w, "lost: %s[%d] source offsets %d to %d (up to %d records) were deleted by retention before they were copied\n",
				p.Topic, p.Partition, lr.From, lr.To-1, lr.To-lr.From)
		}
		if p.Error != "" {
			fmt.Fprintf(w, "error: %s[%d]: %s\n", p.Topic, p.Partition, p.Error)
		}
	}
	return nil
}

// WriteMarkdown writes the status as a Markdown table with the totals above.
func (r *StatusReport) WriteMarkdown(w io.Writer) error {
	t := r.Totals
	fmt.Fprintf(w, "## kmigrate status: %s\n\n", r.Migration)
	fmt.Fprintf(w, "- Taken: %s\n", r.Taken.UTC().Format(time.RFC3339))
	if r.Baseline != nil {
		fmt.Fprintf(w, "- Baseline: %s\n", r.Baseline.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "- Baseline: none recorded (progress against current source end offsets)\n")
	}
	fmt.Fprintf(w, "- Total: %s, %s, **%.1f%%** of the baseline copied, lag %s (%s), rate %s, ETA %s\n",
		count(t.Partitions, "partition"), t.State, t.DonePercent, count(t.LagRecords, "record"), seconds(t.LagSeconds), rateText(t.Rate, t.SourceRate), etaText(t.ETASeconds, t.Rate))
	if t.Lost > 0 {
		fmt.Fprintf(w, "- **Lost to source retention: up to %s records**\n", units.Count(t.Lost))
	}
	fmt.Fprintf(w, "\n| Topic | Part | Baseline end | Source end | Copied up to | Target end | Lag | Lag age | Done | Rate/s | ETA | State |\n")
	fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, p := range r.Partitions {
		fmt.Fprintf(w, "| %s | %d | %s | %d | %d | %d | %s | %s | %.1f%% | %s | %s | %s |\n",
			mdEscape(p.Topic), p.Partition, baselineText(p), p.SourceEnd, p.CopiedUpTo, p.TargetEnd, units.Count(p.LagRecords),
			seconds(p.LagSeconds), p.DonePercent, floatText(p.Rate), etaText(p.ETASeconds, p.Rate), p.State)
	}
	var lost []string
	for _, p := range r.Partitions {
		for _, lr := range p.LostRanges {
			lost = append(lost, fmt.Sprintf("- %s[%d]: source offsets %d to %d (up to %d records)\n", mdEscape(p.Topic), p.Partition, lr.From, lr.To-1, lr.To-lr.From))
		}
	}
	if len(lost) > 0 {
		fmt.Fprintf(w, "\n### Lost to source retention before copy\n\n%s", strings.Join(lost, ""))
	}
	return nil
}

func baselineText(p Progress) string {
	if !p.BaselineKnown {
		return "-"
	}
	return fmt.Sprint(p.BaselineEnd)
}

func floatText(f *float64) string {
	if f == nil {
		return "-"
	}
	return units.Count(int64(math.Round(*f)))
}

func rateText(rate, src *float64) string {
	if rate == nil {
		return "- (one sample; use --interval or --watch)"
	}
	return fmt.Sprintf("%s records/s (source %s/s)", floatText(rate), floatText(src))
}

func etaText(eta, rate *float64) string {
	switch {
	case rate == nil:
		return "-"
	case eta == nil:
		return "not catching up"
	}
	return seconds(*eta)
}

// seconds formats a duration in seconds, rounded for reading.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
