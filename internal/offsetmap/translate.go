package offsetmap

import (
	"fmt"
	"sort"
)

// TranslationKind says how far a [Translation] can be trusted.
type TranslationKind uint8

// The zero TranslationKind is invalid, so that a zero Translation is never
// mistaken for an exact answer.
const (
	// Exact: the consumer resumes on the target at the same record, with no
	// duplicate and no skip.
	Exact TranslationKind = iota + 1
	// Approximate: the position falls inside a coarsened segment. The offset is
	// at or before the exact one: the consumer may re-read up to MaxDuplicates
	// records but skips none.
	Approximate
	// Pending: the position is beyond what has been copied. There is no offset;
	// translate again later.
	Pending
	// BehindStart: the position is before the first offset replication read, so
	// the records in between were never copied. The offset is the target start;
	// reports must flag the partition.
	BehindStart
)

// String returns a lowercase word for reports and JSON.
func (k TranslationKind) String() string {
	switch k {
	case Exact:
		return "exact"
	case Approximate:
		return "approximate"
	case Pending:
		return "pending"
	case BehindStart:
		return "behind-start"
	}
	return fmt.Sprintf("TranslationKind(%d)", uint8(k))
}

// Translation is a consumer position translated to the target.
type Translation struct {
	Kind TranslationKind
	// Offset is the target position: the next target offset the consumer should
	// read. It is -1 when Kind is Pending.
	Offset int64
	// MaxDuplicates bounds, for Approximate, how many records before the exact
	// position the offset may be. It is zero otherwise.
	MaxDuplicates int64
}

// String formats the translation, for example "exact 42" or
// "approximate 40 (up to 2 duplicates)".
func (t Translation) String() string {
	switch t.Kind {
	case Pending:
		return "pending"
	case Approximate:
		return fmt.Sprintf("approximate %d (up to %d duplicates)", t.Offset, t.MaxDuplicates)
	}
	return fmt.Sprintf("%v %d", t.Kind, t.Offset)
}

// Translate maps a consumer's source position c (the next source offset it
// would read, as committed by a consumer group) to a target position. The
// package doc lists the cases.
func (p *Partition) Translate(c int64) Translation {
	switch {
	case c < p.srcBegin:
		return Translation{Kind: BehindStart, Offset: p.t0}
	case c > p.srcNext:
		return Translation{Kind: Pending, Offset: -1}
	}
	i := p.lastBefore(c)
	if i < 0 {
		return Translation{Kind: Exact, Offset: p.t0}
	}
	r := p.runs[i]
	if i == 0 && p.coarsened {
		if c >= p.segEnd {
			return Translation{Kind: Exact, Offset: r.tgt + r.count}
		}
		// The records in [c, segEnd) number at most segEnd-c, so at least
		// count-(segEnd-c) lie below c; at most c-src can, and never more than
		// count. The lower bound is the safe answer.
		lo := max(0, r.count-(p.segEnd-c))
		hi := min(r.count, c-r.src)
		if lo == hi {
			return Translation{Kind: Exact, Offset: r.tgt + lo}
		}
		return Translation{Kind: Approximate, Offset: r.tgt + lo, MaxDuplicates: hi - lo}
	}
	if d := c - r.src; d < r.count {
		return Translation{Kind: Exact, Offset: r.tgt + d}
	}
	return Translation{Kind: Exact, Offset: r.tgt + r.count}
}

// TargetOf returns the target offset of the copied source record at src. ok is
// false if src was not copied, is not copied yet, or lies in a coarsened
// segment where its target offset is unknown.
func (p *Partition) TargetOf(src int64) (tgt int64, ok bool) {
	if src < p.srcBegin || src >= p.srcNext {
		return 0, false
	}
	i := p.lastBefore(src + 1)
	if i < 0 || (i == 0 && p.coarsened) {
		return 0, false
	}
	r := p.runs[i]
	if d := src - r.src; d < r.count {
		return r.tgt + d, true
	}
	return 0, false
}

// SourceOf returns the source offset of the record copied to target offset tgt.
// ok is false if tgt was not written by this map or lies in a coarsened
// segment.
func (p *Partition) SourceOf(tgt int64) (src int64, ok bool) {
	if tgt < p.t0 || tgt >= p.tgtNext() {
		return 0, false
	}
	// Runs are contiguous in target space, so the run holding tgt is the last
	// one starting at or before it.
	lo, hi := 0, len(p.runs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.runs[m].tgt <= tgt {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	if i == 0 && p.coarsened {
		return 0, false
	}
	r := p.runs[i]
	return r.src + (tgt - r.tgt), true
}

// lastBefore returns the index of the last run starting below c, or -1.
func (p *Partition) lastBefore(c int64) int {
	n := len(p.runs)
	if n == 0 {
		return -1
	}
	// Consumers are mostly near the head: try the last run first.
	if p.runs[n-1].src < c {
		return n - 1
	}
	lo, hi := 0, n-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.runs[m].src < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// Inverse maps a target consumer position t (the next target offset to read)
// back to a source position: the source offset of the record copied to target
// offset t, or the next source offset to read when t is the target's next
// offset. It is what a consumer needs to go back from the target to the source
// (the reverse of Translate). Inside a coarsened segment the answer is the
// lowest source offset the record can have: the consumer may re-read up to
// MaxDuplicates records but skips none. Below the first copied target offset
// it is BehindStart with the first source offset read; beyond what was copied,
// Pending.
func (p *Partition) Inverse(t int64) Translation {
	next := p.tgtNext()
	switch {
	case t < p.t0:
		return Translation{Kind: BehindStart, Offset: p.srcBegin}
	case t > next:
		return Translation{Kind: Pending, Offset: -1}
	case t == next:
		return Translation{Kind: Exact, Offset: p.srcNext}
	}
	// The run holding target offset t: runs are contiguous in target space.
	i := sort.Search(len(p.runs), func(i int) bool { return p.runs[i].tgt+p.runs[i].count > t })
	r := p.runs[i]
	k := t - r.tgt
	if i == 0 && p.coarsened {
		lo, hi := r.src+k, p.segEnd-(r.count-k)
		if lo == hi {
			return Translation{Kind: Exact, Offset: lo}
		}
		return Translation{Kind: Approximate, Offset: lo, MaxDuplicates: hi - lo}
	}
	return Translation{Kind: Exact, Offset: r.src + k}
}
