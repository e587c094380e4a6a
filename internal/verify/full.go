package verify

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/units"
)

// digest folds one side of one partition, in order, into digests of chunks of
// records: chunk i covers records [i*size, (i+1)*size) of the compared range.
type digest struct {
	size   int
	n      int64 // records so far
	bytes  int64
	chunks []recordhash.Sum
	// firsts holds the offset (on this side) of each chunk's first record.
	firsts []int64
	cur    hash.Hash
	in     int // records in the current chunk
}

func newDigest(size int) *digest { return &digest{size: size, cur: sha256.New()} }

func (d *digest) add(off int64, sum recordhash.Sum, bytes int64) {
	if d.in == 0 {
		d.firsts = append(d.firsts, off)
	}
	d.cur.Write(sum[:])
	d.in++
	d.n++
	d.bytes += bytes
	if d.in == d.size {
		d.seal()
	}
}

func (d *digest) seal() {
	if d.in == 0 {
		return
	}
	var s recordhash.Sum
	d.cur.Sum(s[:0])
	d.chunks = append(d.chunks, s)
	d.cur.Reset()
	d.in = 0
}

// firstDifferentChunk returns the first chunk whose digests differ, or -1 when
// the digests agree as far as both go.
func firstDifferentChunk(a, b *digest) int {
	for i := range min(len(a.chunks), len(b.chunks)) {
		if a.chunks[i] != b.chunks[i] {
			return i
		}
	}
	if len(a.chunks) != len(b.chunks) {
		return min(len(a.chunks), len(b.chunks))
	}
	return -1
}

// fullResult is what the full pass found: per partition digests of both sides,
// and the check.
type fullResult struct {
	src, tgt   map[*part]*digest
	check      *Check
	throughput *Throughput
}

// full hashes every record of the compared range of every partition, on both
// clusters at once, and names the first diverging record of each partition.
func (s *session) full(ctx context.Context, opts Options) (*fullResult, error) {
	parts := s.comparable(false)
	res := &fullResult{src: map[*part]*digest{}, tgt: map[*part]*digest{}, check: newCheck(CheckFull, "partitions")}
	c := res.check
	srcSpans := make([]span, len(parts))
	tgtSpans := make([]span, len(parts))
	srcD := make([]*digest, len(parts))
	tgtD := make([]*digest, len(parts))
	// mapErr holds, per partition, the first record whose place in the range
	// disagrees with the map.
	mapErr := make([]*Failure, len(parts))
	for i, p := range parts {
		srcSpans[i] = span{topic: p.tp.Topic, partition: p.tp.Partition, from: p.sLo, to: min(p.sHi, p.srcEnd)}
		tgtSpans[i] = span{topic: p.tgtTopic, partition: p.tp.Partition, from: p.tLo, to: min(p.tHi, p.tgtEnd)}
		srcD[i], tgtD[i] = newDigest(opts.ChunkRecords), newDigest(opts.ChunkRecords)
		res.src[p], res.tgt[p] = srcD[i], tgtD[i]
	}
	hashers := func() []*recordhash.Hasher {
		hs := make([]*recordhash.Hasher, opts.Workers)
		for i := range hs {
			hs[i] = recordhash.New()
		}
		return hs
	}
	srcH, tgtH := hashers(), hashers()
	var total int64
	for _, sp := range tgtSpans {
		total += max(0, sp.to-sp.from)
	}
	var hashed atomic.Int64
	if opts.Progress != nil {
		opts.Progress.Set(0, total)
	}
	start := time.Now()
	var srcErr, tgtErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		srcErr = s.src.scan(ctx, srcSpans, opts.Workers, func(w, i int, recs []*kgo.Record) error {
			p, d := parts[i], srcD[i]
			for _, r := range recs {
				// The k-th committed record of the range must be the k-th copied
				// one: the map, where exact, must agree.
				if mapErr[i] == nil {
					want := p.tLo + d.n
					if got, ok := p.m.TargetOf(r.Offset); ok && got != want {
						f := p.failure("map", "the map says source offset %d was copied to target offset %d, but it is the record for target offset %d", r.Offset, got, want)
						f.SourceOffset, f.TargetOffset = ptr(r.Offset), ptr(want)
						mapErr[i] = &f
					} else if !ok && !p.inSegment(r.Offset) {
						f := p.failure("not-copied", "source offset %d holds a committed record that the offset map does not list as copied", r.Offset)
						f.SourceOffset = ptr(r.Offset)
						mapErr[i] = &f
					}
				}
				d.add(r.Offset, srcH[w].Record(r), recordBytes(r))
			}
			return nil
		})
	})
	wg.Go(func() {
		tgtErr = s.tgt.scan(ctx, tgtSpans, opts.Workers, func(w, i int, recs []*kgo.Record) error {
			d := tgtD[i]
			for _, r := range recs {
				d.add(r.Offset, tgtH[w].Record(r), recordBytes(r))
			}
			if n := hashed.Add(int64(len(recs))); opts.Progress != nil {
				opts.Progress.Set(n, total)
			}
			return nil
		})
	})
	wg.Wait()
	if srcErr != nil {
		return nil, fmt.Errorf("full pass over the source: %w", srcErr)
	}
	if tgtErr != nil {
		return nil, fmt.Errorf("full pass over the target: %w", tgtErr)
	}
	elapsed := time.Since(start).Seconds()
	var records, bytes int64
	for i := range parts {
		srcD[i].seal()
		tgtD[i].seal()
		records += srcD[i].n
		bytes += srcD[i].bytes
	}
	res.throughput = &Throughput{Records: records, Bytes: bytes, Seconds: elapsed}
	if elapsed > 0 {
		res.throughput.MBPerSecond = float64(bytes) / 1e6 / elapsed
	}

	var diverged []*part
	for i, p := range parts {
		c.Checked++
		if mapErr[i] != nil {
			c.fail(*mapErr[i])
			continue
		}
		if firstDifferentChunk(srcD[i], tgtD[i]) >= 0 {
			diverged = append(diverged, p)
		}
	}
	if err := s.locate(ctx, c, diverged, res, opts); err != nil {
		return nil, err
	}
	c.Summary = fmt.Sprintf("%s (%s) in %s hashed on both sides, identical",
		count(records, "record"), units.Bytes(bytes), count(len(parts), "partition"))
	if !c.Pass {
		c.Summary = fmt.Sprintf("%s (%s) in %s hashed on both sides; diverging in %s",
			count(records, "record"), units.Bytes(bytes), count(len(parts), "partition"), count(c.Failed, "partition"))
	}
	return res, nil
}

// locate reads again, on both sides, the first chunk whose digests differ in
// each diverged partition, and reports the first differing record, what differs
// in it, and when the target record is a later source record (or the other way
// round) the range missing on one side.
func (s *session) locate(ctx context.Context, c *Check, parts []*part, res *fullResult, opts Options) error {
	if len(parts) == 0 {
		return nil
	}
	srcSpans := make([]span, len(parts))
	tgtSpans := make([]span, len(parts))
	chunk := make([]int, len(parts))
	for i, p := range parts {
		sd, td := res.src[p], res.tgt[p]
		k := firstDifferentChunk(sd, td)
		chunk[i] = k
		// A side without chunk k has nothing to read: an empty span.
		srcSpans[i] = span{topic: p.tp.Topic, partition: p.tp.Partition, from: p.sHi, to: p.sHi}
		tgtSpans[i] = span{topic: p.tgtTopic, partition: p.tp.Partition, from: p.tHi, to: p.tHi}
		if k < len(sd.firsts) {
			srcSpans[i] = span{topic: p.tp.Topic, partition: p.tp.Partition, from: sd.firsts[k], to: min(p.sHi, p.srcEnd), limit: int64(opts.ChunkRecords)}
		}
		if k < len(td.firsts) {
			tgtSpans[i] = span{topic: p.tgtTopic, partition: p.tp.Partition, from: td.firsts[k], to: min(p.tHi, p.tgtEnd), limit: int64(opts.ChunkRecords)}
		}
	}
	var src, tgt [][]hashed
	var srcErr, tgtErr error
	var wg sync.WaitGroup
	wg.Go(func() { src, srcErr = s.src.readHashes(ctx, srcSpans, opts.Workers) })
	wg.Go(func() { tgt, tgtErr = s.tgt.readHashes(ctx, tgtSpans, opts.Workers) })
	wg.Wait()
	if srcErr != nil {
		return fmt.Errorf("locate divergence on the source: %w", srcErr)
	}
	if tgtErr != nil {
		return fmt.Errorf("locate divergence on the target: %w", tgtErr)
	}
	// The first divergence of each partition, once both sides are aligned.
	type divergence struct {
		p      *part
		pos    int64
		sr, tr hashed
		shift  string
		extra  int64
	}
	var divs []divergence
	for i, p := range parts {
		sr, tr := src[i], tgt[i]
		base := int64(chunk[i]) * int64(opts.ChunkRecords)
		j := 0
		for j < len(sr) && j < len(tr) && sr[j].sum == tr[j].sum {
			j++
		}
		pos := base + int64(j) // index of the first difference in the range
		switch {
		case j < len(sr) && j < len(tr):
			divs = append(divs, divergence{p: p, pos: pos, sr: sr[j], tr: tr[j], shift: shifted(sr, tr, j), extra: res.tgt[p].n - res.src[p].n})
		case j < len(sr):
			f := p.failure("missing", "the target ends after %s records of the range: source offset %d and %s later records have no copy (the target should hold them from offset %d)",
				units.Count(pos), sr[j].off, units.Count(res.src[p].n-pos-1), p.tLo+pos)
			f.SourceOffset, f.TargetOffset = ptr(sr[j].off), ptr(p.tLo+pos)
			c.fail(f)
		case j < len(tr):
			f := p.failure("foreign", "the target holds %s records more than the source: target offset %d and later have no source record", units.Count(res.tgt[p].n-pos), tr[j].off)
			f.TargetOffset = ptr(tr[j].off)
			c.fail(f)
		default:
			// Digests differed but the records agree: they changed between
			// the two reads.
			c.fail(p.failure("differs", "the chunk of records from target offset %d hashed differently in two reads: the partition changed during verification", p.tLo+base))
		}
	}
	probes := make([]shiftProbe, len(divs))
	pairs := make([]recordPair, len(divs))
	for i, d := range divs {
		probes[i] = shiftProbe{p: d.p, pos: d.pos, src: d.sr, tgt: d.tr, extra: d.extra, skip: d.shift != ""}
		pairs[i] = recordPair{d.p, d.sr.off, d.tr.off}
	}
	shifts, err := s.probeShifts(ctx, probes)
	if err != nil {
		return err
	}
	diffs, err := s.diffParts(ctx, pairs)
	if err != nil {
		return err
	}
	for i, d := range divs {
		shift := d.shift
		if shift == "" {
			shift = shifts[i]
		}
		f := d.p.failure("differs", "first divergence at source offset %d and target offset %d, record %s of the range%s%s",
			d.sr.off, d.tr.off, units.Count(d.pos), partText(diffs[i]), shift)
		f.SourceOffset, f.TargetOffset, f.Part = ptr(d.sr.off), ptr(d.tr.off), diffs[i]
		c.fail(f)
	}
	return nil
}

// shiftProbe tests whether a divergence is one contiguous range missing on one
// side: when the target holds d records fewer than the source, the target
// record at the divergence is, if so, the source record d positions further.
type shiftProbe struct {
	p        *part
	pos      int64 // position of the divergence in the range
	src, tgt hashed
	// extra is the target count minus the source count.
	extra int64
	// skip is set when the shift is already known.
	skip bool
}

// probeShifts reads the one record each probe needs and, where it matches,
// returns a clause saying which range is missing on which side.
func (s *session) probeShifts(ctx context.Context, probes []shiftProbe) ([]string, error) {
	out := make([]string, len(probes))
	srcPts := make([]point, len(probes))
	tgtPts := make([]point, len(probes))
	for i, pr := range probes {
		p := pr.p
		switch {
		case pr.skip:
		case pr.extra < 0:
			// The source position pos-extra, through the map where exact.
			if o, ok := p.m.SourceOf(p.tLo + pr.pos - pr.extra); ok && o < p.srcEnd {
				srcPts[i] = point{topic: p.tp.Topic, partition: p.tp.Partition, from: o, end: o + 1}
			}
		case pr.extra > 0:
			if o := pr.tgt.off + pr.extra; o < p.tgtEnd {
				tgtPts[i] = point{topic: p.tgtTopic, partition: p.tp.Partition, from: o, end: o + 1}
			}
		}
	}
	src, tgt, err := s.readBoth(ctx, srcPts, tgtPts)
	if err != nil {
		return nil, fmt.Errorf("locate a shifted range: %w", err)
	}
	h := recordhash.New()
	for i, pr := range probes {
		switch {
		case src[i] != nil && h.Record(src[i]) == pr.tgt.sum:
			out[i] = fmt.Sprintf("; the target record is the copy of source offset %d: source offsets %d to %d (%s records) are missing on the target",
				src[i].Offset, pr.src.off, src[i].Offset-1, units.Count(-pr.extra))
		case tgt[i] != nil && h.Record(tgt[i]) == pr.src.sum:
			out[i] = fmt.Sprintf("; the source record was copied to target offset %d: target offsets %d to %d (%s records) are not in the source",
				tgt[i].Offset, pr.tgt.off, tgt[i].Offset-1, units.Count(pr.extra))
		}
	}
	return out, nil
}

// shifted explains a divergence at index j when the records are shifted: the
// target record is a later source record (a range missing on the target), or
// the source record is a later target record (records inserted on the target).
func shifted(src, tgt []hashed, j int) string {
	for k := j + 1; k < len(src); k++ {
		if src[k].sum == tgt[j].sum {
			return fmt.Sprintf("; the target record is the copy of source offset %d: source offsets %d to %d (%s records) are missing on the target", src[k].off, src[j].off, src[k].off-1, units.Count(int64(k-j)))
		}
	}
	for k := j + 1; k < len(tgt); k++ {
		if tgt[k].sum == src[j].sum {
			return fmt.Sprintf("; the source record was copied to target offset %d: target offsets %d to %d (%s records) are not in the source", tgt[k].off, tgt[j].off, tgt[k].off-1, units.Count(int64(k-j)))
		}
	}
	return ""
}
