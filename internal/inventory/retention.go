package inventory

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/units"
)

// retentionSteps is how many moments of the copy the retention check looks at.
const retentionSteps = 8

// retention warns about source records that retention.ms deletes before the copy
// reaches them.
//
// The model: `run` copies every partition at once, from its log start to its end,
// sharing the copy rate R in proportion to the partitions' sizes, so all of them
// finish after T = (bytes of all selected topics) / R, and a partition's copy
// position moves linearly from its earliest to its latest offset over T. A
// record is deleted at the earliest when its timestamp is retention.ms old
// (brokers delete whole segments, once the newest record of the segment is that
// old, so this is the early side). At moments t = 0, T/8, ..., T the check asks
// each partition's leader for the first offset whose timestamp is at least
// now + t − retention.ms (ListOffsets by time): every record before it may be gone
// by then. Where that offset is ahead of the copy position, the difference is
// at risk; the largest difference over the moments is reported per topic. The
// source's own growth during the copy is not counted (it makes T longer), and
// neither is retention.bytes.
func (p *planner) retention(ctx context.Context) {
	rate := p.plan.Rate.BytesPerSecond
	if rate <= 0 {
		return
	}
	var total int64
	var unknown []string
	type part struct {
		topic            string
		partition        int32
		earliest, latest int64
		first            int64
		retention        int64
	}
	var parts []part
	for _, t := range p.src.Topics {
		if _, ok := p.specs[t.Name]; !ok {
			continue
		}
		if t.SizeBytes < 0 {
			unknown = append(unknown, t.Name)
			continue
		}
		total += t.SizeBytes
		if t.RetentionMillis <= 0 || !strings.Contains(t.CleanupPolicy, "delete") {
			continue
		}
		for _, pp := range t.PartitionList {
			if pp.Records > 0 && pp.FirstTimestampMillis >= 0 {
				parts = append(parts, part{t.Name, pp.Partition, pp.Earliest, pp.Latest, pp.FirstTimestampMillis, t.RetentionMillis})
			}
		}
	}
	if len(unknown) > 0 {
		p.add(Finding{Severity: SeverityInfo, Code: CodeRetentionUnknown,
			Message: fmt.Sprintf("cannot tell whether retention deletes records before the copy reaches them for %s: sizes on disk are not visible (DescribeLogDirs)", strings.Join(unknown, ", "))})
	}
	if total == 0 || len(parts) == 0 {
		return
	}
	copyMillis := total * 1000 / rate
	now := p.now().UnixMilli()
	risk := map[tp]int64{}
	for step := 0; step <= retentionSteps; step++ {
		t := copyMillis * int64(step) / retentionSteps
		// Ask only about partitions whose oldest record is old enough to expire
		// by then; one request per moment covers all of them.
		ask := map[string][]int32{}
		byKey := map[tp]part{}
		for _, pp := range parts {
			if pp.first < now+t-pp.retention {
				ask[pp.topic] = append(ask[pp.topic], pp.partition)
				byKey[tp{pp.topic, pp.partition}] = pp
			}
		}
		if len(ask) == 0 {
			continue
		}
		// Partitions of one topic share its retention; group the asks by it.
		byRetention := map[int64]map[string][]int32{}
		for topic, ps := range ask {
			r := byKey[tp{topic, ps[0]}].retention
			if byRetention[r] == nil {
				byRetention[r] = map[string][]int32{}
			}
			byRetention[r][topic] = ps
		}
		for r, ask := range byRetention {
			for key, l := range listOffsets(ctx, p.o.Source, ask, readUncommitted, now+t-r) {
				if l.err != nil {
					continue
				}
				pp := byKey[key]
				expired := l.offset
				if expired < 0 || expired > pp.latest {
					expired = pp.latest // every record is that old
				}
				pos := pp.earliest
				if copyMillis > 0 {
					pos += (pp.latest - pp.earliest) * t / copyMillis
				}
				if lost := expired - pos; lost > risk[key] {
					risk[key] = lost
				}
			}
		}
	}
	byTopic := map[string][]int32{}
	lost := map[string]int64{}
	for key, n := range risk {
		if n > 0 {
			byTopic[key.topic] = append(byTopic[key.topic], key.partition)
			lost[key.topic] += n
		}
	}
	for _, topic := range sortedKeys(byTopic) {
		ps := byTopic[topic]
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		var t Topic
		for _, st := range p.src.Topics {
			if st.Name == topic {
				t = st
			}
		}
		expiresIn := time.Duration(t.OldestTimestampMillis+t.RetentionMillis-now) * time.Millisecond
		when := "its oldest records are already past retention"
		if expiresIn > 0 {
			when = fmt.Sprintf("its oldest records expire in %s", expiresIn.Round(time.Second))
		}
		if len(ps) == len(t.PartitionList) {
			ps = nil
		}
		p.add(Finding{Severity: SeverityWarning, Code: CodeRetention, Topic: topic, Target: scope.TargetTopic(p.cfg.Replication, topic), Partitions: ps,
			Message: fmt.Sprintf("retention (retention.ms=%d) may delete about %d records of %s before the copy reaches them: copying %s at %s/s takes about %s, and %s",
				t.RetentionMillis, lost[topic], topic, units.Bytes(total), units.Bytes(p.plan.Rate.BytesPerSecond), (time.Duration(copyMillis) * time.Millisecond).Round(time.Second), when),
			Fix: fmt.Sprintf("raise retention.ms of %s on the source for the duration of the copy, or copy faster (replication.max_bytes_per_second, more bandwidth)", topic)})
	}
}
