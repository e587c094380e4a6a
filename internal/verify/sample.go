package verify

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/kmigrate/kmigrate/internal/recordhash"
)

// sampleOffsets picks the target offsets to compare in [lo, hi): the first, the
// last and n distinct random ones between them, or all when there are no more
// than n+2. They are sorted.
func sampleOffsets(lo, hi int64, n int, rng *rand.Rand) []int64 {
	size := hi - lo
	if size <= 0 {
		return nil
	}
	if size <= int64(n)+2 {
		out := make([]int64, size)
		for i := range out {
			out[i] = lo + int64(i)
		}
		return out
	}
	pick := map[int64]bool{lo: true, hi - 1: true}
	for len(pick) < n+2 {
		pick[lo+1+rng.Int64N(size-2)] = true
	}
	out := make([]int64, 0, len(pick))
	for o := range pick {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

// partitionRand returns the random source of one partition: derived from the
// seed and the partition's name, so that a seed reproduces the same samples
// whatever else is verified.
func partitionRand(seed int64, p *part) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", p.tp.Topic, p.tp.Partition)
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// sample compares the SHA-256 of the first, the last and Samples random copied
// records of each partition on both clusters, paired through the map.
func (s *session) sample(ctx context.Context, opts Options) (*Check, error) {
	c := newCheck(CheckSample, "records")
	type pair struct {
		p        *part
		src, tgt int64
	}
	var pairs []pair
	var skipped int64
	parts := s.comparable(false)
	for _, p := range parts {
		for i, t := range sampleOffsets(p.tLo, p.tHi, opts.Samples, partitionRand(opts.Seed, p)) {
			src, ok := p.m.SourceOf(t)
			if !ok && i == 0 {
				// The first record lies in the coarsened segment: take the
				// first one after it instead.
				_, end, _ := p.m.CoarsenedRange()
				if tr := p.m.Translate(end); tr.Offset < p.tHi {
					t = tr.Offset
					src, ok = p.m.SourceOf(t)
				}
			}
			if !ok {
				skipped++
				continue
			}
			pairs = append(pairs, pair{p, src, t})
		}
	}
	var srcPts, tgtPts []point
	for _, pr := range pairs {
		// A record beyond a cluster's end is not asked for: it is missing.
		if pr.src < pr.p.srcEnd {
			srcPts = append(srcPts, point{topic: pr.p.tp.Topic, partition: pr.p.tp.Partition, from: pr.src, end: pr.src + 1})
		} else {
			srcPts = append(srcPts, point{})
		}
		if pr.tgt < pr.p.tgtEnd {
			tgtPts = append(tgtPts, point{topic: pr.p.tgtTopic, partition: pr.p.tp.Partition, from: pr.tgt, end: pr.tgt + 1})
		} else {
			tgtPts = append(tgtPts, point{})
		}
	}
	src, tgt, err := s.readBoth(ctx, srcPts, tgtPts)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	h := recordhash.New()
	for i, pr := range pairs {
		c.Checked++
		p := pr.p
		var f Failure
		switch sr, tr := src[i], tgt[i]; {
		case tr == nil:
			f = p.failure("missing", "target offset %d, the copy of source offset %d, is missing", pr.tgt, pr.src)
		case sr == nil:
			f = p.failure("missing", "source offset %d, copied to target offset %d, no longer holds a committed record", pr.src, pr.tgt)
		case h.Record(sr) != h.Record(tr):
			part := recordhash.Diff(sr, tr)
			f = p.failure("differs", "source offset %d and its copy at target offset %d differ in %s", pr.src, pr.tgt, part)
			f.Part = part
		default:
			continue
		}
		f.SourceOffset, f.TargetOffset = ptr(pr.src), ptr(pr.tgt)
		c.fail(f)
	}
	c.Summary = fmt.Sprintf("%s in %s (first, last and %d random each; seed %d), SHA-256 identical",
		count(c.Checked, "record"), count(len(parts), "partition"), opts.Samples, opts.Seed)
	if !c.Pass {
		c.Summary = fmt.Sprintf("%s in %s (seed %d), %d differ or are missing",
			count(c.Checked, "record"), count(len(parts), "partition"), opts.Seed, c.Failed)
	}
	if skipped > 0 {
		c.note("%d sampled offsets fell in coarsened parts of offset maps, where single records cannot be paired, and were not compared", skipped)
	}
	return c, nil
}
