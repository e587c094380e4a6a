package offsetmap

import "fmt"

// MinMaxRuns is the smallest run bound: the coarsened segment plus the newest
// run, which therefore always stays exact.
const MinMaxRuns = 2

// Coarsen merges the oldest runs into one coarsened segment until at most
// maxRuns remain. Translation stays safe (never past the exact offset) and stays
// exact outside the segment; TargetOf and SourceOf stop answering inside it.
// It does nothing if the partition already has at most maxRuns runs.
func (p *Partition) Coarsen(maxRuns int) error {
	if maxRuns < MinMaxRuns {
		return fmt.Errorf("coarsen offset map to %d runs: below the minimum of %d", maxRuns, MinMaxRuns)
	}
	if len(p.runs) <= maxRuns {
		return nil
	}
	p.merge(len(p.runs) - maxRuns)
	// merge reslices from the front; an explicit Coarsen is asked to give
	// memory back, so copy into an array of the new size.
	nr := make([]run, len(p.runs))
	copy(nr, p.runs)
	p.runs, p.base = nr, nr
	return nil
}

// SetMaxRuns bounds the number of runs: whenever a gap would create run
// maxRuns+1, the oldest runs are coarsened. Zero removes the bound. It applies
// the bound at once.
func (p *Partition) SetMaxRuns(maxRuns int) error {
	if maxRuns != 0 && maxRuns < MinMaxRuns {
		return fmt.Errorf("bound offset map to %d runs: below the minimum of %d", maxRuns, MinMaxRuns)
	}
	p.maxRuns = maxRuns
	if maxRuns > 0 {
		return p.Coarsen(maxRuns)
	}
	return nil
}

// MaxRuns returns the run bound set by SetMaxRuns, zero if unbounded.
func (p *Partition) MaxRuns() int { return p.maxRuns }

// Coarsened reports whether part of the map is a coarsened segment, where
// translation may be approximate.
func (p *Partition) Coarsened() bool { return p.coarsened }

// CoarsenedRange returns the source span [start, end) of the coarsened
// segment; ok is false if the map is fully exact. Reports use it to say which
// consumer positions may translate with duplicates.
func (p *Partition) CoarsenedRange() (start, end int64, ok bool) {
	if !p.coarsened {
		return 0, 0, false
	}
	return p.runs[0].src, p.segEnd, true
}

// merge folds runs[0..k] (k+1 runs) into one coarsened segment at runs[0].
// It costs O(1) plus one step per merged run that needs a tombstone: the
// segment is written over runs[k] and the slice resliced past the rest, so
// the automatic bound stays cheap even with a gap after every record.
func (p *Partition) merge(k int) {
	if k < 1 || k >= len(p.runs) {
		return
	}
	first, last := p.runs[0], p.runs[k]
	// runs[k] is exact: only runs[0] can be a segment and k >= 1.
	segEnd := last.src + last.count
	// The merged keys disappear from the state topic. Keys above handedOut were
	// never handed to the caller for writing, so they need no tombstone.
	for i := 1; i <= k && p.runs[i].src <= p.sync.handedOut; i++ {
		p.sync.deleted = append(p.sync.deleted, p.runs[i].src)
	}
	p.runs[k] = run{src: first.src, tgt: first.tgt, count: last.tgt + last.count - first.tgt}
	p.runs = p.runs[k:]
	p.coarsened = true
	p.segEnd = segEnd
	p.sync.segDirty = true
	p.sync.segGen++
}
