package replicate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// foreignCheckEvery is how often the engine looks for records on its target
// partitions that it did not write.
const foreignCheckEvery = 5 * time.Second

// foreignLoop watches the target partitions this process writes for appends it
// did not make. The fence keeps an old kmigrate process that lost its lock from
// writing, except for a pause of a few hundred nanoseconds between its last
// lease check and the write itself; an application writing by mistake is not
// fenced at all. A partition with nothing in flight must end exactly where this
// process's last acknowledged record ends it: an end beyond that is a foreign
// append, found within seconds rather than at the next record copied, and the
// partition stops with the offsets and the producer ids that wrote them.
func (e *Engine) foreignLoop(ctx context.Context) {
	every(ctx, foreignCheckEvery, func(ctx context.Context) {
		if err := e.checkForeign(ctx); err != nil && ctx.Err() == nil {
			e.log.Debug("looking for foreign appends on the target failed", "err", err)
		}
	})
}

// quiet is a partition's position when nothing was in flight.
type quiet struct {
	p        *partition
	expect   int64 // target offset of the next record this process writes
	produced int64 // records produced so far
}

func (e *Engine) checkForeign(ctx context.Context) error {
	var qs []quiet
	topics := map[string]bool{}
	for _, p := range e.snapshotParts() {
		p.mu.Lock()
		if p.err == nil && p.recovering == nil && p.m != nil && len(p.inflight) == 0 {
			qs = append(qs, quiet{p: p, expect: p.expectTgt, produced: p.sent})
			topics[p.tgtTopic] = true
		}
		p.mu.Unlock()
	}
	if len(qs) == 0 {
		return nil
	}
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	ends, err := e.tgtAdm.ListEndOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("list target end offsets: %w", err)
	}
	for _, q := range qs {
		o, ok := ends.Lookup(q.p.tgtTopic, q.p.tp.Partition)
		if !ok || o.Err != nil || o.Offset <= q.expect {
			continue
		}
		q.p.mu.Lock()
		// Only if this process produced nothing meanwhile: then the end it
		// saw is the end it made, plus what someone else appended.
		still := q.p.err == nil && q.p.recovering == nil && len(q.p.inflight) == 0 && q.p.sent == q.produced && q.p.expectTgt == q.expect
		q.p.mu.Unlock()
		if !still {
			continue
		}
		who := e.describeWriters(ctx, q.p.tgtTopic, q.p.tp.Partition)
		q.p.mu.Lock()
		q.p.failLocked(fmt.Errorf("target %s[%d] holds records at offsets %d to %d that this process did not write (%s): another writer appended to it (an old kmigrate process that lost its lock, or an application); kmigrate must be the only writer of its target partitions; stopped",
			q.p.tgtTopic, q.p.tp.Partition, q.expect, o.Offset-1, who))
		q.p.mu.Unlock()
	}
	return nil
}

// describeWriters names the producers the target broker keeps state for on a
// partition, other than this process's own.
func (e *Engine) describeWriters(ctx context.Context, topic string, partition int32) string {
	own, _, _ := e.tgt.ProducerID(ctx)
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = []kmsg.DescribeProducersRequestTopic{rt}
	var ids []string
	for _, shard := range e.tgt.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return "producer ids unknown: " + shard.Err.Error()
		}
		for _, t := range shard.Resp.(*kmsg.DescribeProducersResponse).Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return "producer ids unknown: " + err.Error()
				}
				for _, ap := range p.ActiveProducers {
					if ap.ProducerID != own {
						ids = append(ids, fmt.Sprintf("%d (last write %s)", ap.ProducerID, time.UnixMilli(ap.LastTimestamp).UTC().Format(time.RFC3339)))
					}
				}
			}
		}
	}
	if len(ids) == 0 {
		return "no other producer id is known to the broker"
	}
	sort.Strings(ids)
	return "producer ids " + strings.Join(ids, ", ")
}
