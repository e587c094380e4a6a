package offsetmap

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Rebuild reconstructs the map of partition tp from its checkpoint and its run
// records read back from the state topic in log order (run upserts and
// tombstones; a later record for a key replaces an earlier one, as compaction
// would). The checkpoint is authoritative:
//
//   - run records describing target offsets at or after cp.TgtNext were written
//     after the checkpoint, by a flush that did not finish. They are dropped, a
//     run straddling cp.TgtNext is cut there, and the records they describe are
//     found again by tail reconciliation.
//   - exact runs starting inside the span of the coarsened segment are
//     superseded by it (their tombstones were not written yet) and dropped.
//
// Dropped keys are scheduled as tombstones, and a cut run for rewriting, in
// the partition's next Changes. What remains must be consistent: runs disjoint
// and ordered in source space, inside [cp.SrcBegin, cp.SrcNext), contiguous in
// target space from cp.TgtStart, and holding exactly cp.TgtNext-cp.TgtStart
// records. Otherwise the error names tp and what is wrong.
func Rebuild(tp TopicPartition, cp Checkpoint, log []Record) (*Partition, error) {
	latest := make(map[int64]Run)
	for i, rec := range log {
		switch {
		case rec.Key.Kind != KindRun:
			return nil, fmt.Errorf("rebuild offset map of %v: record %d is a %v, not a run", tp, i, rec.Key.Kind)
		case rec.Key.TopicPartition != tp:
			return nil, fmt.Errorf("rebuild offset map of %v: record %d belongs to %v", tp, i, rec.Key.TopicPartition)
		case rec.Tombstone:
			delete(latest, rec.Key.SrcStart)
		case rec.Run.SrcStart != rec.Key.SrcStart:
			return nil, fmt.Errorf("rebuild offset map of %v: record %d holds run %v under key %d", tp, i, rec.Run, rec.Key.SrcStart)
		default:
			latest[rec.Key.SrcStart] = rec.Run
		}
	}
	return rebuild(tp, cp, latest)
}

// rebuild is Rebuild on the latest run per key.
func rebuild(tp TopicPartition, cp Checkpoint, latest map[int64]Run) (*Partition, error) {
	fail := func(format string, args ...any) (*Partition, error) {
		return nil, fmt.Errorf("rebuild offset map of %v: %s", tp, fmt.Sprintf(format, args...))
	}
	if err := cp.validate(); err != nil {
		return fail("checkpoint: %v", err)
	}
	all := slices.SortedFunc(maps.Values(latest), func(a, b Run) int { return cmp.Compare(a.SrcStart, b.SrcStart) })
	handedOut := int64(-1)
	for _, r := range all {
		if err := r.validate(); err != nil {
			return fail("run %v: %v", r, err)
		}
		handedOut = max(handedOut, r.SrcStart)
	}

	var stale []int64
	// Only runs starting before the checkpoint's target position are committed.
	committed := all[:0:0]
	var seg *Run
	for _, r := range all {
		if r.TgtStart >= cp.TgtNext {
			stale = append(stale, r.SrcStart)
			continue
		}
		if r.Coarsened {
			if seg != nil {
				return fail("two coarsened segments, %v and %v", *seg, r)
			}
			if len(committed) > 0 {
				return fail("run %v before coarsened segment %v", committed[len(committed)-1], r)
			}
			seg = &r
		} else if seg != nil && r.SrcStart < seg.SpanEnd {
			// Merged into the segment by a flush whose tombstones did not land.
			// It may even reach past the span: a segment cut at an earlier
			// checkpoint is rewritten shorter than the runs it once merged.
			// Continuity and the record count below still catch a run that
			// held anything the segment does not.
			stale = append(stale, r.SrcStart)
			continue
		}
		committed = append(committed, r)
	}

	prevEnd, tgt := cp.SrcBegin, cp.TgtStart
	cut := false
	for i := range committed {
		r := &committed[i]
		if r.SrcStart < prevEnd {
			if i == 0 {
				return fail("run %v starts before source begin %d", *r, cp.SrcBegin)
			}
			return fail("run %v overlaps run %v in source offsets", *r, committed[i-1])
		}
		if r.TgtStart != tgt {
			return fail("run %v should start at target offset %d: records are missing or written twice", *r, tgt)
		}
		if over := r.TgtEnd() - cp.TgtNext; over > 0 {
			// Only the last committed run can reach past the checkpoint, since
			// the next one would start at or after cp.TgtNext.
			r.Count -= over
			if r.Coarsened {
				r.SpanEnd = min(r.SpanEnd, cp.SrcNext)
				if r.SpanEnd-r.SrcStart < r.Count {
					return fail("coarsened segment cut at the checkpoint cannot hold %d records before source offset %d", r.Count, cp.SrcNext)
				}
			}
			cut = true
		}
		prevEnd, tgt = r.SrcEnd(), r.TgtEnd()
	}
	if tgt != cp.TgtNext {
		return fail("runs hold %d records but the checkpoint says %d were copied", tgt-cp.TgtStart, cp.TgtNext-cp.TgtStart)
	}
	if prevEnd > cp.SrcNext {
		return fail("runs reach source offset %d, past the checkpoint's next source offset %d", prevEnd, cp.SrcNext)
	}

	p := &Partition{
		runs:     make([]run, len(committed)),
		srcNext:  cp.SrcNext,
		t0:       cp.TgtStart,
		srcBegin: cp.SrcBegin,
		sync:     newSyncState(),
	}
	for i, r := range committed {
		p.runs[i] = run{src: r.SrcStart, count: r.Count, tgt: r.TgtStart}
	}
	p.base = p.runs
	if seg != nil {
		p.coarsened = true
		p.segEnd = committed[0].SpanEnd
	}
	s := &p.sync
	s.handedOut = handedOut
	s.deleted = stale
	if n := len(committed); n > 0 {
		last := committed[n-1]
		s.syncKey, s.syncCount = last.SrcStart, last.Count
		if cut || last.Coarsened {
			// A cut run is stored with more records than it now has.
			s.syncCount = -1
		}
		s.segDirty = cut && last.Coarsened
	}
	if err := p.check(); err != nil {
		return fail("%v", err)
	}
	return p, nil
}

// Loader collects the state-topic records of one migration, read from the
// beginning of the topic in log order, and rebuilds their partitions. It keeps
// only the latest record per key, as compaction would.
type Loader struct {
	migration string
	parts     map[TopicPartition]*loaded
}

type loaded struct {
	cp    Checkpoint
	hasCP bool
	runs  map[int64]Run
}

// NewLoader returns a Loader for the named migration; records of other
// migrations sharing the state topic are ignored.
func NewLoader(migration string) *Loader {
	return &Loader{migration: migration, parts: make(map[TopicPartition]*loaded)}
}

// Add decodes and applies one state-topic record. A nil value is a tombstone.
func (l *Loader) Add(key, value []byte) error {
	k, err := DecodeKey(key)
	if err != nil {
		return err
	}
	if k.Migration != l.migration {
		// Skipped before decoding the value: another migration's format is
		// not ours to judge.
		return nil
	}
	rec, err := Decode(key, value)
	if err != nil {
		return err
	}
	l.AddRecord(rec)
	return nil
}

// AddRecord applies one decoded record.
func (l *Loader) AddRecord(rec Record) {
	if rec.Key.Migration != l.migration || (rec.Key.Kind != KindRun && rec.Key.Kind != KindCheckpoint) {
		return
	}
	st := l.parts[rec.Key.TopicPartition]
	if st == nil {
		st = &loaded{runs: make(map[int64]Run)}
		l.parts[rec.Key.TopicPartition] = st
	}
	switch {
	case rec.Key.Kind == KindCheckpoint && rec.Tombstone:
		st.cp, st.hasCP = Checkpoint{}, false
	case rec.Key.Kind == KindCheckpoint:
		st.cp, st.hasCP = rec.Checkpoint, true
	case rec.Tombstone:
		delete(st.runs, rec.Key.SrcStart)
	default:
		st.runs[rec.Key.SrcStart] = rec.Run
	}
}

// Partitions lists, sorted, the partitions with a checkpoint or run records.
func (l *Loader) Partitions() []TopicPartition {
	var out []TopicPartition
	for tp, st := range l.parts {
		if st.hasCP || len(st.runs) > 0 {
			out = append(out, tp)
		}
	}
	slices.SortFunc(out, compareTP)
	return out
}

// Checkpoint returns the latest checkpoint of tp, with the hash of the last
// record written for tail reconciliation.
func (l *Loader) Checkpoint(tp TopicPartition) (Checkpoint, bool) {
	if st := l.parts[tp]; st != nil && st.hasCP {
		return st.cp, true
	}
	return Checkpoint{}, false
}

// Rebuild rebuilds the map of tp; see the package-level Rebuild. ok is false if
// the state topic holds nothing for tp (a partition not started yet).
func (l *Loader) Rebuild(tp TopicPartition) (p *Partition, ok bool, err error) {
	st := l.parts[tp]
	if st == nil || (!st.hasCP && len(st.runs) == 0) {
		return nil, false, nil
	}
	if !st.hasCP {
		// The first checkpoint is written before the first record is copied,
		// so runs without one are not state kmigrate left behind.
		return nil, false, fmt.Errorf("rebuild offset map of %v: %d run records but no checkpoint", tp, len(st.runs))
	}
	p, err = rebuild(tp, st.cp, st.runs)
	if err != nil {
		return nil, false, err
	}
	return p, true, nil
}

// Load rebuilds every partition into a Map. It reports every partition that
// fails, joined into one error, and still returns the Map of those that
// loaded.
func (l *Loader) Load() (*Map, error) {
	m := NewMap()
	var errs []error
	for _, tp := range l.Partitions() {
		p, ok, err := l.Rebuild(tp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			m.Put(tp, p)
		}
	}
	return m, errors.Join(errs...)
}

func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}
