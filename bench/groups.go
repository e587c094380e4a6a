package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupResult is how a tool translated the failover group, committed on the
// source in the middle of every partition of the backlog. Because the target
// topic is a fresh, gap-free copy, a source offset's exact translation is the
// same offset; the benchmark checks that by comparing the records there.
type groupResult struct {
	partitions   int   // partitions of the group on the source
	untranslated int   // partitions with no committed offset on the target
	reread       int64 // records the group reads again when it resumes on the target
	skipped      int64 // records it never reads
	checked      int   // partitions whose record at the exact position is the same on both sides
}

// measureGroup waits until the target's offsets of the failover group stop moving
// and compares them with the exact positions.
func (r *rig) measureGroup(ctx context.Context) (groupResult, error) {
	var res groupResult
	exact, err := committed(ctx, r.srcAdm, failGroup)
	if err != nil {
		return res, fmt.Errorf("measure group translation: %w", err)
	}
	res.partitions = len(exact)
	var got map[int32]int64
	stableSince := time.Now()
	deadline := time.Now().Add(max(time.Minute, 10*r.o.settle))
	for {
		now, err := committed(ctx, r.tgtAdm, failGroup)
		if err != nil {
			return res, fmt.Errorf("measure group translation: %w", err)
		}
		if !maps.Equal(now, got) {
			got, stableSince = now, time.Now()
		}
		complete := len(got) == len(exact)
		if complete && time.Since(stableSince) >= r.o.settle {
			break
		}
		if time.Now().After(deadline) {
			r.log.Warn("group translation incomplete", "group", failGroup, "translated", len(got), "of", len(exact))
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	for p, want := range exact {
		o, ok := got[p]
		switch {
		case !ok:
			res.untranslated++
		case o < want:
			res.reread += want - o
		case o > want:
			res.skipped += o - want
		}
	}
	// The exact position on the target holds the same record as on the source.
	srcRecs, err := readAt(ctx, r.src.Bootstrap, backlogTopic, exact)
	if err != nil {
		return res, fmt.Errorf("measure group translation: %w", err)
	}
	tgtRecs, err := readAt(ctx, r.tgt.Bootstrap, backlogTopic, exact)
	if err != nil {
		return res, fmt.Errorf("measure group translation: %w", err)
	}
	for p, v := range srcRecs {
		if t, ok := tgtRecs[p]; ok && bytes.Equal(t, v) {
			res.checked++
		}
	}
	return res, nil
}

// committed returns the group's committed offsets of the backlog topic.
func committed(ctx context.Context, adm *kadm.Client, group string) (map[int32]int64, error) {
	resp, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	out := map[int32]int64{}
	for p, o := range resp[backlogTopic] {
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// readAt returns the value of the record at the given offset of each partition.
func readAt(ctx context.Context, seeds []string, topic string, offsets map[int32]int64) (map[int32][]byte, error) {
	start := map[int32]kgo.Offset{}
	for p, o := range offsets {
		start[p] = kgo.NewOffset().At(o)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))
	if err != nil {
		return nil, fmt.Errorf("read records of %s: %w", topic, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out := map[int32][]byte{}
	for len(out) < len(offsets) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("read records of %s: %d of %d partitions: %w", topic, len(out), len(offsets), ctx.Err())
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if _, ok := out[rec.Partition]; !ok && rec.Offset == offsets[rec.Partition] {
				out[rec.Partition] = rec.Value
			}
		})
	}
	return out, nil
}
