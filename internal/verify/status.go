package verify

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/status"
)

// Status observes the migration as `kmigrate status` shows it: the state on the
// target (maps, checkpoints, losses, baseline), both clusters' offsets, the age
// of the oldest record not yet copied of every lagging partition, and whether a
// `run` is alive. The model itself is package status's; hist, when not nil,
// receives the observations and gives the rates (two samples of the same
// migration some time apart).
func (v *Verifier) Status(ctx context.Context, topics *regexp.Regexp, hist *status.History) (*status.Report, error) {
	in, err := v.Observe(ctx, topics)
	if err != nil {
		return nil, err
	}
	if hist != nil {
		in.Rates = hist.Add(in.Taken, in.Observations)
	}
	return status.Build(in), nil
}

// Observe gathers what Status builds its report from: every selected
// partition as the state and both clusters show it, and the writer group.
// The processes of a shared migration show the whole migration with it.
func (v *Verifier) Observe(ctx context.Context, topics *regexp.Regexp) (status.Input, error) {
	s, err := v.open(ctx, topics)
	if err != nil {
		return status.Input{}, err
	}
	defer s.close()
	o, err := s.listOffsets(ctx)
	if err != nil {
		return status.Input{}, err
	}
	in := status.Input{Migration: v.cfg.Migration, Baseline: s.st.Baseline}
	in.Run = status.Writer(ctx, s.src.cl, v.cfg.Migration)
	names := make([]string, 0, len(s.topics))
	for n := range s.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	type lagRead struct {
		obs int
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
			ob := status.Observation{Topic: name, Partition: p, TargetTopic: t.target, Gone: t.partitions < 0}
			var err error
			if !ob.Gone {
				ob.SourceStart, _ = lookup(o.srcStart, name, p)
				ob.SourceEnd, err = lookup(o.srcEnd, name, p)
				ob.SourceEndKnown = err == nil
			}
			ob.TargetEnd, _ = lookup(o.tgtEnd, t.target, p)
			saved := s.st.Partitions[offsetmap.TopicPartition{Topic: name, Partition: p}]
			if saved != nil && saved.Err != nil {
				ob.Error = saved.Err.Error()
			}
			if saved != nil && saved.Map != nil {
				ob.Started = true
				ob.CopiedUpTo, _ = saved.Map.Next()
				ob.Copied, ob.CopyBegin, ob.Runs, ob.Coarsened = saved.Map.Copied(), saved.Map.SrcBegin(), saved.Map.NumRuns(), saved.Map.Coarsened()
				if ms := saved.Checkpoint.UnixMilli; ms > 0 {
					ob.Checkpoint = time.UnixMilli(ms)
				}
				ob.Lost = saved.Lost
			}
			if !ob.Gone && ob.Error == "" {
				// The oldest record not yet copied is the first committed one
				// at or after the copy position that retention kept.
				from := ob.SourceStart
				if ob.Started {
					from = max(ob.CopiedUpTo, ob.SourceStart)
				}
				if ob.SourceEnd > from {
					reads = append(reads, lagRead{len(in.Observations), point{topic: name, partition: p, from: from, end: ob.SourceEnd}})
				}
			}
			in.Observations = append(in.Observations, ob)
		}
	}
	pts := make([]point, len(reads))
	for i, r := range reads {
		pts[i] = r.pt
	}
	recs, err := s.src.readPoints(ctx, pts)
	if err != nil {
		return status.Input{}, fmt.Errorf("read the oldest records not yet copied: %w", err)
	}
	in.Taken = v.now()
	for i, r := range reads {
		if rec := recs[i]; rec != nil {
			in.Observations[r.obs].LagSeconds = max(0, in.Taken.Sub(rec.Timestamp).Seconds())
		}
	}
	return in, nil
}
