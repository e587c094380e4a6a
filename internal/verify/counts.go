package verify

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/units"
)

// maxTail bounds how many records past a checkpoint are matched against the
// source per partition.
const maxTail = 1 << 20

// counts compares, per partition, the records the map says were copied with
// those the source and the target hold, checks that the target still holds the
// checkpoint's record, and matches any tail. With full set, the counts come
// from the full pass instead of offsets.
func (s *session) counts(ctx context.Context, opts Options, full *fullResult) (*Check, error) {
	c := newCheck(CheckCounts, "partitions")
	plain := s.comparable(false)
	var total int64
	var read []*part
	srcCount := map[*part]int64{}
	for _, p := range plain {
		c.Checked++
		switch {
		case full != nil:
			srcCount[p] = full.src[p].n
		case p.sHi-p.sLo == p.copied():
			// Every source offset of the range was copied, so the range has no
			// gap: Kafka offsets are dense until compaction (excluded here)
			// or retention (bounded above) removes records.
			srcCount[p] = p.copied()
		default:
			read = append(read, p)
		}
	}
	if len(read) > 0 {
		counted, err := s.countSource(ctx, read, opts.Workers)
		if err != nil {
			return nil, err
		}
		for p, r := range counted {
			srcCount[p] = r.n
			if r.notCopied >= 0 {
				f := p.failure("not-copied", "source offset %d holds a committed record that the offset map does not list as copied", r.notCopied)
				f.SourceOffset = ptr(r.notCopied)
				c.fail(f)
			}
		}
		c.note("%s with gaps in the source (transactions) counted by reading", count(len(read), "partition"))
	}
	var boundary []*part
	for _, p := range plain {
		mapped := p.copied()
		var tgt int64
		switch {
		case full != nil:
			tgt = full.tgt[p].n
		default:
			tgt = max(0, min(p.tgtEnd, p.tHi)-p.tLo)
		}
		total += mapped
		switch {
		case p.srcEnd < p.sHi:
			f := p.failure("count", "the source ends at offset %d, before the end of the copied range (%d): the source topic was recreated or truncated", p.srcEnd, p.sHi)
			f.SourceOffset = ptr(p.srcEnd)
			c.fail(f)
		case p.tgtEnd < p.tHi:
			from := max(p.tgtEnd, p.tLo)
			f := p.failure("missing", "the target ends at offset %d but kmigrate wrote up to offset %d: %s copied records are missing (target offsets %d to %d%s)",
				p.tgtEnd, p.tHi-1, units.Count(p.tHi-from), from, p.tHi-1, sourceSpan(p, from))
			f.TargetOffset = ptr(from)
			c.fail(f)
		case srcCount[p] != mapped || tgt != mapped:
			c.fail(p.failure("count", "the source holds %s records in offsets %d to %d, the map lists %s copied, the target holds %s",
				units.Count(srcCount[p]), p.sLo, p.sHi-1, units.Count(mapped), units.Count(tgt)))
		default:
			if cp := p.saved.Checkpoint; cp.HasHash && cp.TgtNext == p.tHi && p.tHi > p.tLo {
				boundary = append(boundary, p)
			}
		}
	}
	if err := s.checkBoundaries(ctx, c, boundary); err != nil {
		return nil, err
	}
	tailed, err := s.tails(ctx, c)
	if err != nil {
		return nil, err
	}
	c.Summary = fmt.Sprintf("%s in %s, source, map and target agree", count(total, "record"), count(len(plain), "partition"))
	if !c.Pass {
		c.Summary = fmt.Sprintf("%s in %s; source, map and target disagree in %s", count(total, "record"), count(len(plain), "partition"), count(c.Failed, "partition"))
	}
	if n := len(s.comparable(true)); n > 0 {
		c.note("%s of compacted topics compared by state, not counts", count(n, "partition"))
	}
	if tailed > 0 {
		c.note("%s records written after the last checkpoint match the source, record by record (the copy is running)", units.Count(tailed))
	}
	return c, nil
}

// sourceSpan names the source offsets of the target offsets [from, p.tHi).
func sourceSpan(p *part, from int64) string {
	a, ok1 := p.m.SourceOf(from)
	b, ok2 := p.m.SourceOf(p.tHi - 1)
	if !ok1 || !ok2 {
		return ""
	}
	return fmt.Sprintf(", source offsets %d to %d", a, b)
}

type sourceCount struct {
	n int64
	// notCopied is the first committed source offset missing from the map,
	// or -1.
	notCopied int64
}

// countSource reads the compared source range of parts and counts its
// committed records, checking each is in the map.
func (s *session) countSource(ctx context.Context, parts []*part, workers int) (map[*part]*sourceCount, error) {
	spans := make([]span, len(parts))
	res := make([]*sourceCount, len(parts))
	for i, p := range parts {
		spans[i] = span{topic: p.tp.Topic, partition: p.tp.Partition, from: p.sLo, to: p.sHi}
		res[i] = &sourceCount{notCopied: -1}
	}
	err := s.src.scan(ctx, spans, workers, func(_, i int, recs []*kgo.Record) error {
		p, r := parts[i], res[i]
		r.n += int64(len(recs))
		if r.notCopied < 0 {
			for _, rec := range recs {
				if _, ok := p.m.TargetOf(rec.Offset); !ok && !p.inSegment(rec.Offset) {
					r.notCopied = rec.Offset
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count source records: %w", err)
	}
	out := map[*part]*sourceCount{}
	for i, p := range parts {
		out[p] = res[i]
	}
	return out, nil
}

// checkBoundaries checks that the target still holds, at the checkpoint's last
// offset, the record whose hash the checkpoint stored: a cheap proof that the
// target partition was not recreated or rewritten since.
func (s *session) checkBoundaries(ctx context.Context, c *Check, parts []*part) error {
	pts := make([]point, len(parts))
	for i, p := range parts {
		pts[i] = point{topic: p.tgtTopic, partition: p.tp.Partition, from: p.tHi - 1, end: p.tHi}
	}
	recs, err := s.tgt.readPoints(ctx, pts)
	if err != nil {
		return fmt.Errorf("read checkpoint records: %w", err)
	}
	h := recordhash.New()
	for i, p := range parts {
		if r := recs[i]; r == nil || h.Record(r) != recordhash.Sum(p.saved.Checkpoint.Hash) {
			f := p.failure("differs", "target offset %d no longer holds the record kmigrate wrote there (its SHA-256 differs from the checkpoint's): the target topic was recreated or rewritten", p.tHi-1)
			f.TargetOffset = ptr(p.tHi - 1)
			c.fail(f)
		}
	}
	return nil
}

// hashed is one record's offset and hash.
type hashed struct {
	off int64
	sum recordhash.Sum
}

// readHashes reads spans on one side and returns each span's records as
// offsets and hashes.
func (s *side) readHashes(ctx context.Context, spans []span, workers int) ([][]hashed, error) {
	out := make([][]hashed, len(spans))
	hashers := make([]*recordhash.Hasher, max(1, workers))
	for i := range hashers {
		hashers[i] = recordhash.New()
	}
	err := s.scan(ctx, spans, workers, func(w, i int, recs []*kgo.Record) error {
		for _, r := range recs {
			out[i] = append(out[i], hashed{r.Offset, hashers[w].Record(r)})
		}
		return nil
	})
	return out, err
}

// tails matches the records written to the target after each partition's
// checkpoint with the next source records, and fails the partitions where they
// differ: those records were not copied by kmigrate. It returns the number of
// records that matched.
func (s *session) tails(ctx context.Context, c *Check) (int64, error) {
	var parts []*part
	for _, p := range s.parts {
		if !p.skip && p.tgtEnd > p.tHi && p.tgtStart <= p.tHi {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return 0, nil
	}
	srcSpans := make([]span, len(parts))
	tgtSpans := make([]span, len(parts))
	for i, p := range parts {
		k := min(p.tgtEnd-p.tHi, maxTail)
		tgtSpans[i] = span{topic: p.tgtTopic, partition: p.tp.Partition, from: p.tHi, to: p.tHi + k}
		srcSpans[i] = span{topic: p.tp.Topic, partition: p.tp.Partition, from: p.sHi, to: p.srcEnd, limit: k}
		if p.tgtEnd-p.tHi > maxTail {
			c.note("%s: only the first %d of %d records past the checkpoint were matched", p, maxTail, p.tgtEnd-p.tHi)
		}
	}
	var src, tgt [][]hashed
	var srcErr, tgtErr error
	var wg sync.WaitGroup
	wg.Go(func() { src, srcErr = s.src.readHashes(ctx, srcSpans, 1) })
	wg.Go(func() { tgt, tgtErr = s.tgt.readHashes(ctx, tgtSpans, 1) })
	wg.Wait()
	if srcErr != nil {
		return 0, fmt.Errorf("read source records after the checkpoints: %w", srcErr)
	}
	if tgtErr != nil {
		return 0, fmt.Errorf("read target records after the checkpoints: %w", tgtErr)
	}
	var matched int64
	var mismatched []recordPair
	for i, p := range parts {
		t, sr := tgt[i], src[i]
		for j := range t {
			if j >= len(sr) {
				f := p.failure("foreign", "target offset %d holds a record that kmigrate did not copy: the source has no committed record for it after offset %d", t[j].off, lastOff(sr, p.sHi-1))
				f.TargetOffset = ptr(t[j].off)
				c.fail(f)
				break
			}
			if t[j].sum != sr[j].sum {
				mismatched = append(mismatched, recordPair{p, sr[j].off, t[j].off})
				break
			}
			matched++
		}
	}
	parts2, err := s.diffParts(ctx, mismatched)
	if err != nil {
		return 0, err
	}
	for i, m := range mismatched {
		f := m.p.failure("foreign", "target offset %d holds a record that kmigrate did not copy: it differs from the next source record, at offset %d%s", m.tgt, m.src, partText(parts2[i]))
		f.SourceOffset, f.TargetOffset, f.Part = ptr(m.src), ptr(m.tgt), parts2[i]
		c.fail(f)
	}
	return matched, nil
}

func lastOff(h []hashed, def int64) int64 {
	if len(h) == 0 {
		return def
	}
	return h[len(h)-1].off
}

// recordPair names a record on each cluster that should be the same.
type recordPair struct {
	p        *part
	src, tgt int64
}

// diffParts reads the records of each pair and returns what differs between
// them (key, value, a header, timestamp): "" when one is missing or they are
// equal.
func (s *session) diffParts(ctx context.Context, pairs []recordPair) ([]string, error) {
	out := make([]string, len(pairs))
	if len(pairs) == 0 {
		return out, nil
	}
	srcPts := make([]point, len(pairs))
	tgtPts := make([]point, len(pairs))
	for i, d := range pairs {
		if d.src < d.p.srcEnd {
			srcPts[i] = point{topic: d.p.tp.Topic, partition: d.p.tp.Partition, from: d.src, end: d.src + 1}
		}
		if d.tgt < d.p.tgtEnd {
			tgtPts[i] = point{topic: d.p.tgtTopic, partition: d.p.tp.Partition, from: d.tgt, end: d.tgt + 1}
		}
	}
	src, tgt, err := s.readBoth(ctx, srcPts, tgtPts)
	if err != nil {
		return nil, err
	}
	for i := range pairs {
		if src[i] != nil && tgt[i] != nil {
			out[i] = recordhash.Diff(src[i], tgt[i])
		}
	}
	return out, nil
}

// partText turns a differing part into a clause for a message.
func partText(part string) string {
	switch part {
	case "":
		return ""
	case "headers":
		return " (they differ in their number of headers)"
	}
	return " (they differ in " + part + ")"
}

// readBoth reads points on both clusters at once.
func (s *session) readBoth(ctx context.Context, srcPts, tgtPts []point) (src, tgt []*kgo.Record, err error) {
	var srcErr, tgtErr error
	var wg sync.WaitGroup
	wg.Go(func() { src, srcErr = s.src.readPoints(ctx, srcPts) })
	wg.Go(func() { tgt, tgtErr = s.tgt.readPoints(ctx, tgtPts) })
	wg.Wait()
	if srcErr != nil {
		return nil, nil, fmt.Errorf("read source records: %w", srcErr)
	}
	if tgtErr != nil {
		return nil, nil, fmt.Errorf("read target records: %w", tgtErr)
	}
	return src, tgt, nil
}
