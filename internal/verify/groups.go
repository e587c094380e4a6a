package verify

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/scope"
)

// groupRow is one translated group partition: a source group's committed offset
// and the same group's committed offset on the target.
type groupRow struct {
	group string
	p     *part
	// src and tgt are the committed offsets: the next offset the group reads.
	src, tgt int64
}

// groupOffsets lists the committed offsets of the selected source groups for the
// verified partitions, and of the same groups on the target. It reads them
// itself, so that it depends on nothing but the clusters; rows whose target
// group has no offset for the partition are counted, not returned.
func (s *session) groupOffsets(ctx context.Context, c *Check) (rows []groupRow, groupsN, untranslated int, err error) {
	s.activeSrc = map[string]bool{}
	listed, err := s.src.adm.ListGroups(ctx)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("list source consumer groups: %w", err)
	}
	var names []string
	for _, g := range listed.Sorted() {
		// Consumer groups only, as translation does: other kinds (connect,
		// share) have no committed offsets to translate.
		if scope.Group(&s.v.cfg.Groups, g.Group) && (g.ProtocolType == "consumer" || g.ProtocolType == "") {
			names = append(names, g.Group)
			if g.State != "Empty" && g.State != "Dead" && g.State != "" {
				s.activeSrc[g.Group] = true
			}
		}
	}
	parts := map[offsetmap.TopicPartition]*part{}
	for _, p := range s.parts {
		if !p.skip {
			parts[p.tp] = p
		}
	}
	if len(names) == 0 {
		return nil, 0, 0, nil
	}
	// One batched request per coordinator for all groups: a cluster may hold
	// thousands of them.
	srcAll := s.src.adm.FetchManyOffsets(ctx, names...)
	mine := map[string][]kadm.OffsetResponse{}
	var withOffsets []string
	for _, g := range names {
		r, ok := srcAll[g]
		if !ok {
			continue
		}
		err := r.Err
		if err == nil {
			err = r.Fetched.Error()
		}
		if err != nil {
			c.fail(Failure{Group: g, Kind: "state", Message: fmt.Sprintf("cannot fetch the group's committed offsets on the source: %v", err)})
			continue
		}
		r.Fetched.Each(func(o kadm.OffsetResponse) {
			if parts[offsetmap.TopicPartition{Topic: o.Topic, Partition: o.Partition}] != nil && o.At >= 0 {
				mine[g] = append(mine[g], o)
			}
		})
		if len(mine[g]) > 0 {
			withOffsets = append(withOffsets, g)
		}
	}
	groupsN = len(withOffsets)
	tgtAll := s.tgt.adm.FetchManyOffsets(ctx, withOffsets...)
	for _, g := range withOffsets {
		r := tgtAll[g]
		err := r.Err
		if err == nil {
			err = r.Fetched.Error()
		}
		if err != nil {
			c.fail(Failure{Group: g, Kind: "state", Message: fmt.Sprintf("cannot fetch the group's committed offsets on the target: %v", err)})
			continue
		}
		for _, o := range mine[g] {
			p := parts[offsetmap.TopicPartition{Topic: o.Topic, Partition: o.Partition}]
			t, ok := r.Fetched.Lookup(p.tgtTopic, o.Partition)
			if !ok || t.At < 0 {
				untranslated++
				continue
			}
			rows = append(rows, groupRow{group: g, p: p, src: o.At, tgt: t.At})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.p.tp.Topic != b.p.tp.Topic {
			return a.p.tp.Topic < b.p.tp.Topic
		}
		return a.p.tp.Partition < b.p.tp.Partition
	})
	return rows, groupsN, untranslated, nil
}

// groups checks every translated group partition: the next record the group
// would read on the source and on the target hash the same (or both are at the
// end), and the target lag is what the map says it must be.
func (s *session) groups(ctx context.Context, before func(string, int32, int64) (offsetmap.Translation, bool)) (*Check, error) {
	c := newCheck(CheckGroups, "group partitions")
	rows, groups, untranslated, err := s.groupOffsets(ctx, c)
	if err != nil {
		return nil, err
	}
	srcPts := make([]point, len(rows))
	tgtPts := make([]point, len(rows))
	for i, r := range rows {
		p := r.p
		if r.src >= p.srcStart {
			srcPts[i] = point{topic: p.tp.Topic, partition: p.tp.Partition, from: r.src, end: p.srcEnd}
		}
		if r.tgt >= p.tgtStart {
			tgtPts[i] = point{topic: p.tgtTopic, partition: p.tp.Partition, from: r.tgt, end: p.tgtEnd}
		}
	}
	srcRecs, tgtRecs, err := s.readBoth(ctx, srcPts, tgtPts)
	if err != nil {
		return nil, fmt.Errorf("read records at group positions: %w", err)
	}
	h := recordhash.New()
	var behind, approx, moving, compacted int
	for i, r := range rows {
		c.Checked++
		p := r.p
		fail := func(kind string, pending bool, msgs ...string) {
			f := Failure{Group: r.group, Topic: p.tp.Topic, Partition: ptr(p.tp.Partition), Kind: kind,
				SourceOffset: ptr(r.src), TargetOffset: ptr(r.tgt), Pending: pending,
				Message: fmt.Sprintf("committed at source offset %d and target offset %d: %s", r.src, r.tgt, strings.Join(msgs, "; "))}
			c.fail(f)
		}
		tr := p.m.Translate(r.src)
		if tr.Kind == offsetmap.BehindStart && before != nil {
			if t, ok := before(p.tp.Topic, p.tp.Partition, r.src); ok {
				tr = t
			}
		}
		switch tr.Kind {
		case offsetmap.Pending:
			srcNext, _ := p.m.Next()
			fail("pending", true, fmt.Sprintf("the source position is beyond what was copied (up to source offset %d); verify again once the copy has caught up", srcNext-1))
			continue
		case offsetmap.BehindStart:
			behind++
		case offsetmap.Approximate:
			approx++
		}
		var msgs []string
		kind := "position"
		if r.tgt > p.tgtEnd {
			msgs = append(msgs, fmt.Sprintf("the target offset is beyond the target end (%d)", p.tgtEnd))
		}
		// The record the group reads next, on each side.
		sr, trec := srcRecs[i], tgtRecs[i]
		switch {
		case tr.Kind != offsetmap.Exact:
			// Behind the start, the records the group had yet to read were
			// never copied; in a coarsened segment the target offset may be
			// early. The lag below is the check.
		case p.compacted:
			// Each cluster compacts on its own: the next record on one side
			// may be gone on the other. The position check below is exact.
			compacted++
		case sr == nil && trec == nil:
			// Both at the end.
		case sr != nil && trec == nil:
			if !(sr.Offset >= p.sHi && r.tgt == p.tgtEnd && p.tgtEnd == p.tHi) {
				msgs = append(msgs, fmt.Sprintf("the group has source offset %d left to read but nothing on the target", sr.Offset))
			}
		case sr == nil:
			msgs = append(msgs, fmt.Sprintf("the group read everything on the source but has target offset %d left to read", trec.Offset))
		case h.Record(sr) != h.Record(trec):
			msgs = append(msgs, fmt.Sprintf("the next record differs: source offset %d and target offset %d differ in %s", sr.Offset, trec.Offset, recordhash.Diff(sr, trec)))
		}
		// Lag: the target lag must be the records copied at or after the
		// source position, plus any tail past the checkpoint.
		tgtLag, want := p.tgtEnd-r.tgt, p.tgtEnd-tr.Offset
		if tgtLag > want || tgtLag < want-tr.MaxDuplicates {
			if len(msgs) == 0 {
				kind = "lag"
			}
			exp := fmt.Sprint(want)
			if tr.MaxDuplicates > 0 {
				exp = fmt.Sprintf("%d to %d", want-tr.MaxDuplicates, want)
			}
			msgs = append(msgs, fmt.Sprintf("target lag %d, expected %s (the %s translation of source offset %d is target offset %d); source lag %d",
				tgtLag, exp, tr.Kind, r.src, tr.Offset, p.srcEnd-r.src))
		}
		if len(msgs) > 0 && s.activeSrc[r.group] && r.tgt <= tr.Offset {
			// The group is still consuming on the source: its target position
			// is the translation of an earlier source position, and catches up
			// at the next pass. Not a failure; the final check is made once
			// source consumers have stopped.
			moving++
			continue
		}
		if len(msgs) > 0 && r.tgt < tr.Offset && tr.Kind == offsetmap.Exact && r.tgt <= p.tgtEnd {
			// The target group sits at the translation of an earlier source
			// position: the group moved on the source since the last
			// translation pass, which will move it. It heals by itself.
			fail("behind", true, append(msgs, fmt.Sprintf("the target group is behind the translation of its source position (target offset %d); the next translation pass moves it", tr.Offset))...)
			continue
		}
		if len(msgs) > 0 {
			fail(kind, false, msgs...)
		}
	}
	c.Summary = fmt.Sprintf("%s, %s translated: same next record and lag", count(groups, "group"), count(c.Checked, "group partition"))
	if !c.Pass {
		c.Summary = fmt.Sprintf("%s, %s translated, %d wrong", count(groups, "group"), count(c.Checked, "group partition"), c.Failed)
	}
	if groups == 0 {
		c.Summary = "no selected group has committed offsets on the verified partitions"
	}
	if untranslated > 0 {
		c.note("%d group partitions have a committed offset on the source but none on the target (not translated yet) and were not checked", untranslated)
	}
	if behind > 0 {
		c.note("%d group partitions were committed before the first copied record (their next records were lost to retention before the copy); checked to start at the first copied record", behind)
	}
	if moving > 0 {
		c.note("%d group partitions belong to groups still consuming on the source and sit behind their latest source position; they catch up at the next translation pass and are checked for real once the source consumers stop", moving)
	}
	if compacted > 0 {
		c.note("%d group partitions are on compacted topics: their positions were checked through the offset map, their next records were not compared (each cluster compacts on its own)", compacted)
	}
	if approx > 0 {
		c.note("%d group partitions fall in coarsened parts of offset maps: their target offsets may be up to the map's bound early (re-reads, never skips)", approx)
	}
	return c, nil
}
