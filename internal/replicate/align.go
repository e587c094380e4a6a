package replicate

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/recordhash"
)

// Tail alignment: which source record each target record past a checkpoint
// was copied from.
//
// A run that crashed after writing records and before checkpointing them left
// target offsets tgtNext..tgtEnd-1, copied in order from the committed data
// records of the source at or after srcNext. Since then either side may have
// lost some of them:
//
//   - target compaction removed some target records: the target offsets are
//     holes (a record is never moved, only removed);
//   - source compaction removed some source records: the records still there
//     are a subsequence of what was copied;
//   - source retention (or DeleteRecords) removed a prefix: the target records
//     copied from it cannot be compared any more.
//
// alignTail walks both sides once. A target record whose hash equals the next
// source record's is that record: an anchor. Between two anchors lies a
// segment: target holes and target records that equal no source record still
// there (copied from records removed since), and on the source the records
// still there (each must have been copied, so each is a target hole's) and the
// offsets with no record (free: compaction holes on a compacted source, or
// anything below the source log start). The segment is resolved when its
// right anchor is found, from the right, giving removed records the latest
// free offsets (see resolve). What no removal explains is an error: a record
// kmigrate did not write. The result counts the tail by cause.

// tailRecord is one record of an alignment stream.
type tailRecord struct {
	offset int64
	sum    recordhash.Sum
	// rec is the record itself, for error messages (may be nil in tests).
	rec *kgo.Record
	// controls are the offsets of the control records read just before this
	// record (source only), in increasing order.
	controls []int64
}

// tailStream yields the records of one side in offset order; ok is false at
// the end.
type tailStream interface {
	next() (r tailRecord, ok bool, err error)
}

// mapSink receives the alignment: each Append gives the next target offset
// its source offset; Advance moves past control records. *offsetmap.Partition
// is one.
type mapSink interface {
	Append(src int64) error
	Advance(srcNext int64) error
}

// alignSpec is what alignTail knows about a partition.
type alignSpec struct {
	// srcNext and tgtNext are the checkpoint's; tgtEnd is the target end offset.
	srcNext, tgtNext, tgtEnd int64
	// srcStart is the source log start offset; offsets below it are gone.
	srcStart int64
	// srcEnd is the source's last stable offset: the source stream ends there.
	srcEnd int64
	// tgtStart is the target log start offset: target offsets below it were
	// removed by retention, holes like those of compaction.
	tgtStart int64
	// srcCompacted and tgtCompacted say whether compaction may have removed
	// records on each side (cleanup.policy includes compact).
	srcCompacted, tgtCompacted bool
	// srcName and tgtName name the partitions in messages, "topic[p]".
	srcName, tgtName string
}

// alignCounts says how the tail was adopted, by cause.
type alignCounts struct {
	// matched target records equal, hash for hash, a source record still there.
	matched int64
	// srcCompacted target records were copied from source records that
	// compaction removed since; their source offsets are the latest free ones
	// below the next source record.
	srcCompacted int64
	// srcRetention target records were copied from source records deleted by
	// retention since: they could not be compared.
	srcRetention int64
	// tgtHoles target offsets have no record any more (compaction, or target
	// retention for tgtRetention of them); bothRemoved of them lost their source
	// record too.
	tgtHoles, tgtRetention, bothRemoved int64
	// last is the hash of the record at tgtEnd-1, when either side still has it.
	last *recordhash.Sum
}

// adopted returns the number of target offsets the alignment covered.
func (c alignCounts) adopted() int64 {
	return c.matched + c.srcCompacted + c.srcRetention + c.tgtHoles
}

// item is a run of target offsets of a segment: n holes from tgt, or one
// target record that equals no source record still there.
type item struct {
	hole bool
	tgt  int64
	n    int64
	sum  recordhash.Sum
	// retention marks holes below the target log start.
	retention bool
}

type aligner struct {
	sp     alignSpec
	m      mapSink
	srcPos int64 // next source offset that may be given
	tgtPos int64 // next target offset to give a source offset
	// The open segment: target items in order, the source records still
	// there (each a hole's), and the first unequal pair, for the error.
	items    []item
	holes    int64
	records  int64
	presents []tailRecord
	unequal  *[2]tailRecord
	counts   alignCounts
}

// alignTail gives each target offset in [sp.tgtNext, sp.tgtEnd) a source
// offset, in target order, through m. tgt yields the target records of that
// range still there; src the committed data records of the source from
// max(srcNext, srcStart) up to srcEnd.
func alignTail(sp alignSpec, tgt, src tailStream, m mapSink) (alignCounts, error) {
	a := &aligner{sp: sp, m: m, srcPos: sp.srcNext, tgtPos: sp.tgtNext}
	if sp.tgtStart > a.tgtPos {
		n := min(sp.tgtStart, sp.tgtEnd) - a.tgtPos
		a.push(item{hole: true, tgt: a.tgtPos, n: n, retention: true})
		a.tgtPos += n
	}
	t, tok, err := tgt.next()
	if err != nil {
		return a.counts, err
	}
	ps := &peekStream{in: src}
	s, sok, err := ps.next()
	if err != nil {
		return a.counts, err
	}
	for {
		// Holes before t (or at the end of the tail).
		upTo := sp.tgtEnd
		if tok {
			upTo = t.offset
		}
		if a.tgtPos < upTo {
			if !sp.tgtCompacted {
				return a.counts, fmt.Errorf("target %s has no record at offset %d (the next is at %d) and the topic is not compacted: records were removed or never written there by kmigrate; refusing to continue this partition",
					sp.tgtName, a.tgtPos, upTo)
			}
			a.push(item{hole: true, tgt: a.tgtPos, n: upTo - a.tgtPos})
			a.tgtPos = upTo
		}
		slack := a.holes - int64(len(a.presents))
		switch {
		case !tok:
			// The tail is done; the last segment has no right anchor.
			return a.counts, a.finish(s, sok, ps, slack)
		case sok && t.sum == s.sum && a.feasible(s.offset, s.controls):
			if err := a.resolve(s.offset, s.controls); err != nil {
				return a.counts, err
			}
			if err := a.take(s); err != nil {
				return a.counts, err
			}
			a.counts.matched++
			a.setLast(t.offset, &s.sum)
			a.tgtPos++
			if t, tok, err = tgt.next(); err != nil {
				return a.counts, err
			}
			if s, sok, err = ps.next(); err != nil {
				return a.counts, err
			}
		case sok && slack > 0 && (t.sum == s.sum || a.holeTakes(t, ps, slack)):
			// (t equals s, but what is open before t cannot end below s: s is
			// a hole's, and t an identical record after it.)
			// s is a target hole's: target compaction removed its copy.
			a.presents = append(a.presents, s)
			if s, sok, err = ps.next(); err != nil {
				return a.counts, err
			}
		default:
			// t was copied from a source record removed since.
			if !a.sp.srcCompacted && a.srcPos >= a.sp.srcStart {
				return a.counts, a.mismatch(t, s, sok)
			}
			if a.unequal == nil {
				a.unequal = &[2]tailRecord{t, s}
				if !sok {
					a.unequal[1].offset = -1
				}
			}
			a.push(item{tgt: t.offset, n: 1, sum: t.sum})
			a.tgtPos++
			if t, tok, err = tgt.next(); err != nil {
				return a.counts, err
			}
		}
	}
}

// finish resolves the last segment, after the last target record. s is the
// next source record (if sok).
//
// Without a right anchor it is not known how many of the source records that
// follow were copied to the segment's holes: finish gives the holes as few of
// them as can end the segment (p), free source offsets the rest. If it guesses
// too few, a record the run had copied is copied again; too many, and a
// record never copied would be skipped. A duplicate is the safe error. On a
// source that is not compacted there are no free offsets, and p is exactly the
// number of holes left. (The last target record of a partition is never
// removed by compaction, which leaves the active segment alone, so the tail
// ends with a hole only after a target retention or a record kmigrate did not
// write.)
func (a *aligner) finish(s tailRecord, sok bool, ps *peekStream, slack int64) error {
	base := len(a.presents)
	for p := int64(0); p <= min(slack, lookahead); p++ {
		a.presents = a.presents[:base]
		limit, controls := a.sp.srcEnd, []int64(nil)
		next, ok := s, sok
		for i := int64(0); ok && i <= p; i++ {
			if i > 0 {
				var err error
				if next, ok, err = ps.peek(int(i)); err != nil {
					return err
				}
			}
			if !ok {
				break
			}
			if i == p {
				limit, controls = next.offset, next.controls
			} else {
				a.presents = append(a.presents, next)
			}
		}
		if !ok && int64(len(a.presents)-base) < p {
			break // fewer source records left than p
		}
		if a.feasible(limit, controls) {
			return a.resolve(limit, controls)
		}
	}
	a.presents = a.presents[:base]
	limit, controls := a.sp.srcEnd, []int64(nil)
	if sok {
		limit, controls = s.offset, s.controls
	}
	return a.resolve(limit, controls) // fails, naming what does not fit
}

// feasible says whether the open segment can end below limit.
func (a *aligner) feasible(limit int64, controls []int64) bool {
	_, err := a.plan(limit, controls)
	return err == nil
}

// holeTakes decides, with slack holes of the segment not yet given a source
// record and t not the next source record s, which of the two holds: s was a
// target hole's record, or t was copied from a source record removed since.
// If t's source record is still there, every source record before it was a
// hole's, so it is at most slack records after s: t was removed at the source
// if it is not among them and the source can have removed records.
func (a *aligner) holeTakes(t tailRecord, ps *peekStream, slack int64) bool {
	if !a.sp.srcCompacted && a.srcPos >= a.sp.srcStart {
		return true
	}
	for i := 1; int64(i) <= min(slack, lookahead); i++ {
		r, ok, err := ps.peek(i)
		if err != nil {
			return true // the error comes with the next read
		}
		if !ok {
			return false
		}
		if r.sum == t.sum {
			return true
		}
	}
	return slack > lookahead
}

// lookahead bounds how many source records holeTakes holds in memory.
const lookahead = 1000

// peekStream is a tailStream that can look ahead.
type peekStream struct {
	in  tailStream
	buf []tailRecord
	end bool
	err error
}

// next returns the next record.
func (p *peekStream) next() (tailRecord, bool, error) {
	if len(p.buf) > 0 {
		r := p.buf[0]
		p.buf = p.buf[1:]
		return r, true, nil
	}
	if p.end || p.err != nil {
		return tailRecord{}, false, p.err
	}
	return p.in.next()
}

// peek returns the record i places after the one next returned last (peek(1)
// is the one next will return).
func (p *peekStream) peek(i int) (tailRecord, bool, error) {
	for len(p.buf) < i && !p.end && p.err == nil {
		r, ok, err := p.in.next()
		switch {
		case err != nil:
			p.err = err
		case !ok:
			p.end = true
		default:
			p.buf = append(p.buf, r)
		}
	}
	if len(p.buf) < i {
		return tailRecord{}, false, p.err
	}
	return p.buf[i-1], true, nil
}

func (a *aligner) push(it item) {
	a.items = append(a.items, it)
	a.records += it.n
	if it.hole {
		a.holes += it.n
	}
}

// mismatch is the error of a target record that no removal explains; s.offset
// is -1 when the source has no record left.
func (a *aligner) mismatch(t, s tailRecord, sok bool) error {
	if !sok || s.offset < 0 {
		return fmt.Errorf("target %s offset %d holds a record that source %s does not have (none is left between offset %d and its end, %d): it was not written by kmigrate; refusing to continue this partition",
			a.sp.tgtName, t.offset, a.sp.srcName, a.srcPos, a.sp.srcEnd)
	}
	diff := "content"
	if t.rec != nil && s.rec != nil {
		diff = recordhash.Diff(s.rec, t.rec)
	}
	why := ""
	if a.sp.srcCompacted {
		why = ", and too few source offsets are free before it for records compaction removed"
	}
	return fmt.Errorf("target %s offset %d holds a record that differs from source offset %d (%s)%s: it was not written by kmigrate; refusing to continue this partition",
		a.sp.tgtName, t.offset, s.offset, diff, why)
}

// setLast records the hash of the record given to target offset tgt when it
// is the last of the tail (nil: neither side has it any more).
func (a *aligner) setLast(tgt int64, sum *recordhash.Sum) {
	if tgt != a.sp.tgtEnd-1 {
		return
	}
	a.counts.last = nil
	if sum != nil {
		s := *sum
		a.counts.last = &s
	}
}

// resolve gives the open segment's target offsets their source offsets, all
// below limit (the right anchor), controls being the control records just
// before it.
//
// Holes and records were copied in order from the segment's source range,
// [srcPos, limit). Each source record still there was copied to a hole (the
// copy skipped none), in order; the target offsets between two of those holes
// take free source offsets between the two records. A target record with no
// equal on the source takes a free offset, and so does a hole whose source
// record is gone too. Among the ways to do this, resolve takes the one that
// gives the removed records the latest offsets: each source record still there
// goes to the earliest hole that lets the rest fit, and within a stretch of
// free offsets the records take the latest ones.
//
// Why the latest: the true offset of a removed record is somewhere in its free
// range, at or below the one it gets here. A group position c translates to
// the first target record whose source offset is at or above c, so a record
// given an offset above its true one can only make a position between the two
// translate to that record instead of the one after it: the consumer reads it
// again, it never skips it. The earliest offsets would err the other way.
//
// Below the source log start (retention deleted the source records) the
// records take the earliest offsets instead: on a topic without transactions
// that is exactly where they came from, the copy having read the source in
// order from srcNext, so the source range deleted past them is reported as
// lost with its true offsets. Consumer positions there are out of range on the
// source anyway.
func (a *aligner) resolve(limit int64, controls []int64) error {
	src, err := a.plan(limit, controls)
	if err != nil {
		return err
	}
	return a.emit(src)
}

// maxPlanCells bounds the table plan builds (records × source records of one
// segment, a byte each): 16 MiB.
const maxPlanCells = 1 << 24

// plan returns the source offsets resolve gives the open segment, in target
// order.
func (a *aligner) plan(limit int64, controls []int64) ([]int64, error) {
	if a.records == 0 && len(a.presents) == 0 {
		return nil, nil
	}
	fail := func() error {
		if a.unequal != nil {
			return a.mismatch(a.unequal[0], a.unequal[1], true)
		}
		return fmt.Errorf("target %s offsets %d to %d have no records any more, and source %s holds %d records for them between offsets %d and %d: they were not copied by kmigrate from this source; refusing to continue this partition",
			a.sp.tgtName, a.items[0].tgt, a.tgtPos-1, a.sp.srcName, len(a.presents), a.srcPos, limit-1)
	}
	n, m := a.records, len(a.presents)
	if int64(m) > a.holes {
		return nil, fail()
	}
	if n*int64(m) > maxPlanCells {
		return nil, fmt.Errorf("target %s offsets %d to %d: %d records and %d source records are too many to align at once; refusing to continue this partition",
			a.sp.tgtName, a.items[0].tgt, a.tgtPos-1, n, m)
	}
	// The free source offsets of each gap: gap k lies before source record k
	// (gap m before limit).
	gaps := make([][][2]int64, m+1)
	counts := make([]int64, m+1)
	pos := a.srcPos
	for k := 0; k <= m; k++ {
		end, cs := limit, controls
		if k < m {
			end, cs = a.presents[k].offset, a.presents[k].controls
		}
		add := func(from, to int64) {
			if from < a.sp.srcStart {
				e := min(to, a.sp.srcStart)
				gaps[k] = append(gaps[k], [2]int64{from, e})
				counts[k] += e - from
				from = e
			}
			if from < to && a.sp.srcCompacted {
				gaps[k] = append(gaps[k], [2]int64{from, to})
				counts[k] += to - from
			}
		}
		from := pos
		for _, c := range cs {
			if c >= from && c < end {
				add(from, c)
				from = c + 1
			}
		}
		if from < end {
			add(from, end)
		}
		pos = end + 1
	}
	isHole := make([]bool, 0, n)
	for _, it := range a.items {
		for range it.n {
			isHole = append(isHole, it.hole)
		}
	}
	// at[k] is the target position of source record k. ok[k][i]: record k at
	// position i leaves the rest able to fit; built from the last record back.
	at := make([]int64, m)
	if m == 0 {
		if n > counts[0] {
			return nil, fail()
		}
	} else {
		ok := make([][]bool, m)
		next := make([]int64, n+1) // next[i]: first position >= i where ok[k+1] holds
		for k := m - 1; k >= 0; k-- {
			ok[k] = make([]bool, n)
			for i := range n {
				switch {
				case !isHole[i]:
				case k == m-1:
					ok[k][i] = n-1-i <= counts[m]
				default:
					ok[k][i] = next[i+1] <= i+counts[k+1]+1
				}
			}
			next[n] = n + 1
			for i := n - 1; i >= 0; i-- {
				next[i] = next[i+1]
				if ok[k][i] {
					next[i] = i
				}
			}
		}
		prev := int64(-1)
		for k := range m {
			// The earliest position after the previous record's, within the gap.
			i := prev + 1
			for ; i < n && i <= prev+counts[k]+1 && !ok[k][i]; i++ {
			}
			if i >= n || i > prev+counts[k]+1 {
				return nil, fail()
			}
			at[k] = i
			prev = i
		}
	}
	// Source offsets: each gap's positions take its free offsets, retention
	// ones earliest, the others latest.
	src := make([]int64, n)
	prev := int64(-1)
	for k := 0; k <= m; k++ {
		end := n
		if k < m {
			end = at[k]
			src[end] = a.presents[k].offset
		}
		want := end - prev - 1
		var off []int64
		for _, g := range gaps[k] {
			if g[0] < a.sp.srcStart {
				for o := g[0]; o < g[1] && int64(len(off)) < want; o++ {
					off = append(off, o)
				}
			}
		}
		var top []int64
		for gi := len(gaps[k]) - 1; gi >= 0 && int64(len(off)+len(top)) < want; gi-- {
			g := gaps[k][gi]
			if g[0] < a.sp.srcStart {
				continue
			}
			for o := g[1] - 1; o >= g[0] && int64(len(off)+len(top)) < want; o-- {
				top = append(top, o)
			}
		}
		for i := len(top) - 1; i >= 0; i-- {
			off = append(off, top[i])
		}
		if int64(len(off)) < want {
			return nil, fail()
		}
		for i := range want {
			src[prev+1+i] = off[i]
		}
		prev = end
	}
	return src, nil
}

// emit hands the planned source offsets of the open segment to the map, in
// target order, and closes the segment.
func (a *aligner) emit(src []int64) error {
	pi := 0
	i := 0
	for _, it := range a.items {
		for j := range it.n {
			o := src[i]
			i++
			if err := a.m.Append(o); err != nil {
				return fmt.Errorf("align target %s: %w", a.sp.tgtName, err)
			}
			present := pi < len(a.presents) && a.presents[pi].offset == o
			switch {
			case it.hole && present:
				a.counts.tgtHoles++
				a.setLast(it.tgt+j, &a.presents[pi].sum)
			case it.hole:
				a.counts.tgtHoles++
				a.counts.bothRemoved++
				a.setLast(it.tgt+j, nil)
			case o < a.sp.srcStart:
				a.counts.srcRetention++
				a.setLast(it.tgt+j, &it.sum)
			default:
				a.counts.srcCompacted++
				a.setLast(it.tgt+j, &it.sum)
			}
			if present {
				pi++
			}
			if it.hole && it.retention {
				a.counts.tgtRetention++
			}
			a.srcPos = o + 1
		}
	}
	a.items, a.presents, a.unequal = a.items[:0], a.presents[:0], nil
	a.holes, a.records = 0, 0
	return nil
}

// take gives source record s to the next target offset in line.
func (a *aligner) take(s tailRecord) error {
	for _, c := range s.controls {
		if c >= a.srcPos {
			if err := a.m.Advance(c + 1); err != nil {
				return fmt.Errorf("align target %s: %w", a.sp.tgtName, err)
			}
			a.srcPos = c + 1
		}
	}
	if err := a.m.Append(s.offset); err != nil {
		return fmt.Errorf("align target %s: %w", a.sp.tgtName, err)
	}
	a.srcPos = s.offset + 1
	return nil
}
