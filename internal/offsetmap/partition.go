package offsetmap

import (
	"fmt"
	"math"
)

// MaxOffset bounds every source offset and srcNext, and t0 stays below it.
// Then no sum in this package can overflow: tgtNext <= t0 + (srcNext -
// srcBegin) < 2^63, so the hot path needs no overflow checks. At a billion
// records a second a partition reaches it in 146 years.
const MaxOffset = 1 << 62

// Run is one stretch of the map: Count source records copied to the target
// offsets [TgtStart, TgtStart+Count).
//
// An exact run holds the consecutive source offsets [SrcStart, SrcStart+Count).
// A coarsened segment (Coarsened set) holds Count source records somewhere in
// [SrcStart, SpanEnd), whose exact offsets were forgotten to save memory.
type Run struct {
	// SrcStart is the first source offset of the run. It keys the run's record in
	// the state topic.
	SrcStart int64
	// Count is the number of records copied, at least 1.
	Count int64
	// TgtStart is the target offset of the first record.
	TgtStart int64
	// Coarsened marks a segment that merged several runs; see the package doc.
	Coarsened bool
	// SpanEnd is, for a coarsened segment, the exclusive end of the source span
	// holding its records. It is zero for an exact run.
	SpanEnd int64
}

// SrcEnd is the exclusive end of the run's source span.
func (r Run) SrcEnd() int64 {
	if r.Coarsened {
		return r.SpanEnd
	}
	return r.SrcStart + r.Count
}

// TgtEnd is the exclusive end of the run's target offsets.
func (r Run) TgtEnd() int64 { return r.TgtStart + r.Count }

// String formats the run as its source span and target range.
func (r Run) String() string {
	if r.Coarsened {
		return fmt.Sprintf("coarsened source [%d,%d) %d records -> target [%d,%d)",
			r.SrcStart, r.SpanEnd, r.Count, r.TgtStart, r.TgtEnd())
	}
	return fmt.Sprintf("source [%d,%d) -> target [%d,%d)", r.SrcStart, r.SrcEnd(), r.TgtStart, r.TgtEnd())
}

// validate checks one run on its own; continuity with its neighbours is
// checked by the partition.
func (r Run) validate() error {
	switch {
	case r.SrcStart < 0:
		return fmt.Errorf("source start %d is negative", r.SrcStart)
	case r.Count < 1:
		return fmt.Errorf("count %d is not positive", r.Count)
	case r.TgtStart < 0:
		return fmt.Errorf("target start %d is negative", r.TgtStart)
	case r.Count > MaxOffset-r.SrcStart:
		return fmt.Errorf("source start %d plus count %d overflows", r.SrcStart, r.Count)
	case r.Count > math.MaxInt64-r.TgtStart:
		return fmt.Errorf("target start %d plus count %d overflows", r.TgtStart, r.Count)
	case !r.Coarsened && r.SpanEnd != 0:
		return fmt.Errorf("exact run has span end %d", r.SpanEnd)
	case r.Coarsened && (r.SpanEnd > MaxOffset || r.SpanEnd-r.SrcStart < r.Count):
		return fmt.Errorf("coarsened span [%d,%d) cannot hold %d records", r.SrcStart, r.SpanEnd, r.Count)
	}
	return nil
}

// run is the in-memory form of an exact run, 24 bytes. The one coarsened
// segment a partition may have is always runs[0]; its span end lives in
// Partition.segEnd so that every other run stays this small.
type run struct {
	src, count, tgt int64
}

// Partition is the offset map of one partition. It is not safe for concurrent
// use; see [Map] for a synchronised container.
//
// Invariants: runs are ordered and disjoint in source space, contiguous in
// target space from t0, every run lies in [srcBegin, srcNext), and only runs[0]
// may be a coarsened segment.
type Partition struct {
	runs     []run
	srcNext  int64
	t0       int64
	srcBegin int64

	// coarsened says runs[0] is a segment whose span ends at segEnd.
	coarsened bool
	segEnd    int64

	// base is the whole array behind runs, which coarsening reslices from
	// the front; grow reuses it and SizeBytes counts it.
	base []run
	// maxRuns bounds len(runs) when positive; see SetMaxRuns.
	maxRuns int

	sync syncState
}

// New returns the map of a partition whose copy starts at source offset
// srcBegin and writes its first record at target offset tgtStart (t0).
// srcBegin is the first offset replication reads: records below it were never
// seen, because retention removed them or the migration began there.
func New(tgtStart, srcBegin int64) (*Partition, error) {
	if tgtStart < 0 || tgtStart >= MaxOffset {
		return nil, fmt.Errorf("new offset map: target start %d is out of range", tgtStart)
	}
	if srcBegin < 0 || srcBegin > MaxOffset {
		return nil, fmt.Errorf("new offset map: source begin %d is out of range", srcBegin)
	}
	return &Partition{
		t0:       tgtStart,
		srcBegin: srcBegin,
		srcNext:  srcBegin,
		sync:     newSyncState(),
	}, nil
}

// Append records that source offset src was copied to the next target offset.
// src must be at or after the next source offset (Next), because every offset
// below it was already copied or skipped and translated as such.
//
// Append is the hot path: extending the last run is a few instructions and no
// allocation; only a gap (a new run) takes the slow path.
func (p *Partition) Append(src int64) error {
	if n := len(p.runs); n > 0 && src == p.srcNext && src < MaxOffset {
		r := &p.runs[n-1]
		// n > 1 || !p.coarsened: the segment never grows, so that the records
		// after it stay exact.
		if r.src+r.count == src && (n > 1 || !p.coarsened) {
			r.count++
			p.srcNext++
			return nil
		}
	}
	return p.appendSlow(src, 1)
}

// AppendRun records that the count consecutive source offsets starting at
// srcStart were copied to the next count target offsets, as Append would one by
// one.
func (p *Partition) AppendRun(srcStart, count int64) error {
	if count < 1 {
		return fmt.Errorf("append run at source offset %d: count %d is not positive", srcStart, count)
	}
	if n := len(p.runs); n > 0 && srcStart == p.srcNext && count <= MaxOffset-srcStart {
		r := &p.runs[n-1]
		if r.src+r.count == srcStart && (n > 1 || !p.coarsened) {
			r.count += count
			p.srcNext += count
			return nil
		}
	}
	return p.appendSlow(srcStart, count)
}

func (p *Partition) appendSlow(src, count int64) error {
	switch {
	case src < p.srcNext:
		return fmt.Errorf("append source offset %d: below next source offset %d", src, p.srcNext)
	case src >= MaxOffset || count > MaxOffset-src:
		return fmt.Errorf("append source offset %d: out of range", src)
	}
	// The fast paths took every in-range extension of the last run, so this
	// record starts a new run.
	if len(p.runs) == cap(p.runs) {
		p.grow()
	}
	p.runs = append(p.runs, run{src: src, count: count, tgt: p.tgtNext()})
	p.srcNext = src + count
	if p.maxRuns > 0 && len(p.runs) > p.maxRuns {
		p.merge(len(p.runs) - p.maxRuns)
	}
	return nil
}

// grow makes room for one more run. Coarsening reslices runs past the front
// of base; if that freed enough room, the runs slide back to the front (no
// allocation, so a bounded map with a gap after every record makes no
// garbage); otherwise the array doubles.
func (p *Partition) grow() {
	n := len(p.runs)
	if free := cap(p.base) - n; free > 0 && free >= n/4 {
		copy(p.base[:n], p.runs) // memmove: the ranges may overlap
		p.runs = p.base[:n]
		return
	}
	nr := make([]run, n, max(2*n, 4))
	copy(nr, p.runs)
	p.runs = nr
	p.base = nr[:cap(nr)]
}

// Advance records that the source read position moved to srcNext without
// copying the offsets in between: transaction markers, aborted records or
// compaction holes at the end of what was read. Translation is exact up to
// srcNext afterwards. srcNext may not move backwards.
func (p *Partition) Advance(srcNext int64) error {
	switch {
	case srcNext < p.srcNext:
		return fmt.Errorf("advance to source offset %d: below next source offset %d", srcNext, p.srcNext)
	case srcNext > MaxOffset:
		return fmt.Errorf("advance to source offset %d: out of range", srcNext)
	}
	p.srcNext = srcNext
	return nil
}

// Next returns the checkpoint pair: the next source offset to read and the
// target offset the next copied record will get.
func (p *Partition) Next() (srcNext, tgtNext int64) {
	return p.srcNext, p.tgtNext()
}

func (p *Partition) tgtNext() int64 {
	if n := len(p.runs); n > 0 {
		r := &p.runs[n-1]
		return r.tgt + r.count
	}
	return p.t0
}

// TgtStart returns t0, the target offset of the first copied record.
func (p *Partition) TgtStart() int64 { return p.t0 }

// SrcBegin returns the source offset replication started reading at.
func (p *Partition) SrcBegin() int64 { return p.srcBegin }

// Copied returns the number of records copied so far.
func (p *Partition) Copied() int64 { return p.tgtNext() - p.t0 }

// NumRuns returns the number of runs, a coarsened segment counting as one.
func (p *Partition) NumRuns() int { return len(p.runs) }

// Runs returns a copy of the runs in source order.
func (p *Partition) Runs() []Run {
	out := make([]Run, len(p.runs))
	for i := range p.runs {
		out[i] = p.pub(i)
	}
	return out
}

// pub returns runs[i] in its exported form.
func (p *Partition) pub(i int) Run {
	r := p.runs[i]
	out := Run{SrcStart: r.src, Count: r.count, TgtStart: r.tgt}
	if i == 0 && p.coarsened {
		out.Coarsened = true
		out.SpanEnd = p.segEnd
	}
	return out
}

// partitionBytes approximates the fixed size of a Partition and its pointer.
const partitionBytes = 160

// runBytes is the in-memory size of one run.
const runBytes = 24

// SizeBytes estimates the memory the partition holds: its fixed part, the run
// array (including spare capacity) and pending tombstones.
func (p *Partition) SizeBytes() int64 {
	return partitionBytes + int64(cap(p.base))*runBytes + int64(cap(p.sync.deleted))*8
}

// Checkpoint returns the partition's checkpoint. Hash and UnixMilli are left
// for the caller, who knows the last record written and the time.
func (p *Partition) Checkpoint() Checkpoint {
	return Checkpoint{
		SrcBegin: p.srcBegin,
		SrcNext:  p.srcNext,
		TgtStart: p.t0,
		TgtNext:  p.tgtNext(),
	}
}

// String summarises the partition for logs.
func (p *Partition) String() string {
	s := fmt.Sprintf("offset map source [%d,%d) -> target [%d,%d), %d runs",
		p.srcBegin, p.srcNext, p.t0, p.tgtNext(), len(p.runs))
	if p.coarsened {
		s += fmt.Sprintf(", coarsened source [%d,%d)", p.runs[0].src, p.segEnd)
	}
	return s
}

// check verifies the invariants; tests and Rebuild use it.
func (p *Partition) check() error {
	if p.srcBegin < 0 || p.t0 < 0 || p.t0 >= MaxOffset || p.srcNext < p.srcBegin || p.srcNext > MaxOffset {
		return fmt.Errorf("bounds: source [%d,%d) target start %d", p.srcBegin, p.srcNext, p.t0)
	}
	prevEnd, tgt := p.srcBegin, p.t0
	for i := range p.runs {
		r := p.pub(i)
		if err := r.validate(); err != nil {
			return fmt.Errorf("run %d (%v): %w", i, r, err)
		}
		if r.SrcStart < prevEnd {
			return fmt.Errorf("run %d (%v): starts before source offset %d", i, r, prevEnd)
		}
		if r.TgtStart != tgt {
			return fmt.Errorf("run %d (%v): target start is not %d", i, r, tgt)
		}
		prevEnd, tgt = r.SrcEnd(), r.TgtEnd()
	}
	if prevEnd > p.srcNext {
		return fmt.Errorf("runs end at source offset %d, after next source offset %d", prevEnd, p.srcNext)
	}
	return nil
}
