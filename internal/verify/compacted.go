package verify

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/units"
)

// maxExamples bounds the examples of each kind of key difference per topic.
const maxExamples = 5

// keyState is the latest state of one partition of a compacted topic at the
// cut, on one side: the SHA-256 of each live key maps to the hash of its latest
// record and that record's offset. Keys written at or after the cut are in
// after instead: their state at the cut is uncertain.
type keyState struct {
	cut   int64
	live  map[[sha256.Size]byte]keyEntry
	after map[[sha256.Size]byte]struct{}
}

type keyEntry struct {
	sum recordhash.Sum
	off int64
}

func newKeyState(cut int64) *keyState {
	return &keyState{cut: cut, live: map[[sha256.Size]byte]keyEntry{}, after: map[[sha256.Size]byte]struct{}{}}
}

// apply folds one record, in offset order.
func (k *keyState) apply(r *kgo.Record, h *recordhash.Hasher) {
	key := sha256.Sum256(r.Key)
	switch {
	case r.Offset >= k.cut:
		k.after[key] = struct{}{}
	case r.Value == nil:
		delete(k.live, key) // a tombstone deletes the key
	default:
		k.live[key] = keyEntry{sum: h.Record(r), off: r.Offset}
	}
}

// keyDiff is the difference between two states.
type keyDiff struct {
	compared, left            int
	missing, extra, different int
	missingEx, extraEx        []keyEntry // offsets on the source, on the target
	differentEx               [][2]keyEntry
}

// diffStates compares the source and target states of one partition, leaving
// out the keys written after the cut on either side.
func diffStates(src, tgt *keyState) keyDiff {
	var d keyDiff
	skip := func(k [sha256.Size]byte) bool {
		_, a := src.after[k]
		_, b := tgt.after[k]
		return a || b
	}
	for k, s := range src.live {
		if skip(k) {
			d.left++
			continue
		}
		d.compared++
		t, ok := tgt.live[k]
		switch {
		case !ok:
			d.missing++
			if len(d.missingEx) < maxExamples {
				d.missingEx = append(d.missingEx, s)
			}
		case t.sum != s.sum:
			d.different++
			if len(d.differentEx) < maxExamples {
				d.differentEx = append(d.differentEx, [2]keyEntry{s, t})
			}
		}
	}
	for k, t := range tgt.live {
		if _, ok := src.live[k]; ok {
			continue
		}
		if skip(k) {
			d.left++
			continue
		}
		d.compared++
		d.extra++
		if len(d.extraEx) < maxExamples {
			d.extraEx = append(d.extraEx, t)
		}
	}
	// Examples in offset order read better and are stable.
	sort.Slice(d.missingEx, func(i, j int) bool { return d.missingEx[i].off < d.missingEx[j].off })
	sort.Slice(d.extraEx, func(i, j int) bool { return d.extraEx[i].off < d.extraEx[j].off })
	sort.Slice(d.differentEx, func(i, j int) bool { return d.differentEx[i][0].off < d.differentEx[j][0].off })
	return d
}

// compacted compares the latest state per key of every compacted topic on both
// clusters at the checkpoint, one topic at a time to bound memory.
func (s *session) compacted(ctx context.Context, opts Options) (*Check, error) {
	c := newCheck(CheckCompacted, "topics")
	byTopic := map[string][]*part{}
	var names []string
	for _, p := range s.comparable(true) {
		if byTopic[p.tp.Topic] == nil {
			names = append(names, p.tp.Topic)
		}
		byTopic[p.tp.Topic] = append(byTopic[p.tp.Topic], p)
	}
	sort.Strings(names)
	var keys, left int
	for _, name := range names {
		c.Checked++
		if s.topics[name].deletes {
			c.note("%s: cleanup.policy is compact,delete: retention deletes its oldest records on each cluster independently, so keys written near the retention limit may differ", name)
		}
		k, l, err := s.compareTopic(ctx, c, name, byTopic[name], opts)
		if err != nil {
			return nil, err
		}
		keys += k
		left += l
	}
	c.Summary = fmt.Sprintf("%s, %s compared at the checkpoint, same latest state", count(len(names), "topic"), count(keys, "key"))
	if !c.Pass {
		c.Summary = fmt.Sprintf("%s, %s compared at the checkpoint; the state differs in %s", count(len(names), "topic"), count(keys, "key"), count(c.Failed, "topic"))
	}
	if len(names) == 0 {
		c.Summary = "no compacted topics"
	}
	if left > 0 {
		c.note("%s keys were written after the checkpoint on one side and were not compared (their state at the cut is uncertain); verify again once the copy has caught up and the source is quiet", units.Count(int64(left)))
	}
	return c, nil
}

// compareTopic compares one compacted topic and adds a failure with examples
// when the states differ. It returns the keys compared and left out.
func (s *session) compareTopic(ctx context.Context, c *Check, topic string, parts []*part, opts Options) (int, int, error) {
	srcSpans := make([]span, len(parts))
	tgtSpans := make([]span, len(parts))
	srcS := make([]*keyState, len(parts))
	tgtS := make([]*keyState, len(parts))
	for i, p := range parts {
		// Read everything either side holds: records past the cut mark their
		// keys as written after it.
		srcSpans[i] = span{topic: p.tp.Topic, partition: p.tp.Partition, from: p.srcStart, to: p.srcEnd}
		tgtSpans[i] = span{topic: p.tgtTopic, partition: p.tp.Partition, from: p.tgtStart, to: p.tgtEnd}
		srcS[i], tgtS[i] = newKeyState(p.sHi), newKeyState(p.tHi)
	}
	fold := func(states []*keyState) scanFunc {
		hs := make([]*recordhash.Hasher, opts.Workers)
		for i := range hs {
			hs[i] = recordhash.New()
		}
		return func(w, i int, recs []*kgo.Record) error {
			for _, r := range recs {
				states[i].apply(r, hs[w])
			}
			return nil
		}
	}
	srcFn, tgtFn := fold(srcS), fold(tgtS)
	var srcErr, tgtErr error
	var wg sync.WaitGroup
	wg.Go(func() { srcErr = s.src.scan(ctx, srcSpans, opts.Workers, srcFn) })
	wg.Go(func() { tgtErr = s.tgt.scan(ctx, tgtSpans, opts.Workers, tgtFn) })
	wg.Wait()
	if srcErr != nil {
		return 0, 0, fmt.Errorf("read compacted source topic %s: %w", topic, srcErr)
	}
	if tgtErr != nil {
		return 0, 0, fmt.Errorf("read compacted target topic %s: %w", parts[0].tgtTopic, tgtErr)
	}
	var total keyDiff
	type example struct {
		kind     string
		p        *part
		src, tgt int64 // -1 when absent
	}
	var examples []example
	for i, p := range parts {
		d := diffStates(srcS[i], tgtS[i])
		total.compared += d.compared
		total.left += d.left
		total.missing += d.missing
		total.extra += d.extra
		total.different += d.different
		for _, e := range d.missingEx {
			examples = append(examples, example{"missing", p, e.off, -1})
		}
		for _, e := range d.extraEx {
			examples = append(examples, example{"extra", p, -1, e.off})
		}
		for _, e := range d.differentEx {
			examples = append(examples, example{"different", p, e[0].off, e[1].off})
		}
	}
	if total.missing+total.extra+total.different == 0 {
		return total.compared, total.left, nil
	}
	// Keep maxExamples per kind over the topic, then read their records to
	// show the keys and what differs.
	perKind := map[string]int{}
	var keep []example
	for _, e := range examples {
		if perKind[e.kind] < maxExamples {
			perKind[e.kind]++
			keep = append(keep, e)
		}
	}
	var srcPts, tgtPts []point
	for _, e := range keep {
		var sp, tp point
		if e.src >= 0 {
			sp = point{topic: e.p.tp.Topic, partition: e.p.tp.Partition, from: e.src, end: e.src + 1}
		}
		if e.tgt >= 0 {
			tp = point{topic: e.p.tgtTopic, partition: e.p.tp.Partition, from: e.tgt, end: e.tgt + 1}
		}
		srcPts, tgtPts = append(srcPts, sp), append(tgtPts, tp)
	}
	srcRecs, tgtRecs, err := s.readBoth(ctx, srcPts, tgtPts)
	if err != nil {
		return 0, 0, fmt.Errorf("read examples of compacted topic %s: %w", topic, err)
	}
	f := Failure{Topic: topic, Kind: "state", Message: fmt.Sprintf(
		"latest state per key differs at the checkpoint: %s keys missing on the target, %s extra on the target, %s with a different latest record (of %s keys compared)",
		units.Count(int64(total.missing)), units.Count(int64(total.extra)), units.Count(int64(total.different)), units.Count(int64(total.compared)))}
	for i, e := range keep {
		sr, tr := srcRecs[i], tgtRecs[i]
		switch e.kind {
		case "missing":
			f.Examples = append(f.Examples, fmt.Sprintf("missing: key %s (source partition %d, offset %d)", keyText(sr), e.p.tp.Partition, e.src))
		case "extra":
			f.Examples = append(f.Examples, fmt.Sprintf("extra: key %s (target partition %d, offset %d)", keyText(tr), e.p.tp.Partition, e.tgt))
		default:
			what := "the latest record"
			if sr != nil && tr != nil {
				what = recordhash.Diff(sr, tr)
			}
			f.Examples = append(f.Examples, fmt.Sprintf("different: key %s: %s differs (source partition %d offset %d, target offset %d)", keyText(sr), what, e.p.tp.Partition, e.src, e.tgt))
		}
	}
	c.fail(f)
	return total.compared, total.left, nil
}

// keyText shows a record's key for a report: quoted when it is printable text,
// hex otherwise, cut to 64 characters.
func keyText(r *kgo.Record) string {
	if r == nil {
		return "(unread)"
	}
	k := r.Key
	if k == nil {
		return "(null)"
	}
	const maxLen = 64
	cut := ""
	if len(k) > maxLen {
		k, cut = k[:maxLen], "…"
	}
	if utf8.Valid(k) && strings.IndexFunc(string(k), func(r rune) bool { return !strconv.IsPrint(r) }) < 0 {
		return strconv.Quote(string(k)) + cut
	}
	return fmt.Sprintf("0x%x%s", k, cut)
}
