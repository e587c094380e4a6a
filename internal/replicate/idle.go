package replicate

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// idleAfter is how long a partition gets no record before the engine asks where
// its source really ends.
const idleAfter = 3 * time.Second

// idleLoop handles partitions whose source position sits before an end that no
// record will ever reach: the log cleaner can remove the last records of a
// compacted partition (a tombstone past delete.retention.ms) or the transaction
// markers at its end, leaving offsets that hold nothing. The consumer skips them
// silently, so nothing tells the map; a consumer group committed at the end would
// stay "pending" and --until-caught-up would never finish. For such a partition
// the loop fetches at the position itself and advances the map over the offsets
// that hold no committed record.
func (e *Engine) idleLoop(ctx context.Context) {
	every(ctx, idleAfter, func(ctx context.Context) {
		if err := e.probeIdle(ctx); err != nil && ctx.Err() == nil {
			e.log.Debug("probing idle partitions failed", "err", err)
		}
	})
}

func (e *Engine) probeIdle(ctx context.Context) error {
	now := e.now()
	idle := map[TP]*partition{}
	var topics []string
	seen := map[string]bool{}
	for _, p := range e.snapshotParts() {
		p.mu.Lock()
		ok := p.err == nil && p.m != nil && len(p.inflight) == 0 && now.Sub(p.lastFetch) > idleAfter
		if ok {
			srcNext, _ := p.m.Next()
			ok = srcNext == p.srcPos
		}
		p.mu.Unlock()
		if ok {
			idle[p.tp] = p
			if !seen[p.tp.Topic] {
				seen[p.tp.Topic] = true
				topics = append(topics, p.tp.Topic)
			}
		}
	}
	if len(idle) == 0 {
		return nil
	}
	ends, err := e.srcAdm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list source end offsets: %w", err)
	}
	starts, err := e.srcAdm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list source start offsets: %w", err)
	}
	details, err := e.srcAdm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list source topics: %w", err)
	}
	for tp, p := range idle {
		o, ok := ends.Lookup(tp.Topic, tp.Partition)
		if !ok || o.Err != nil {
			continue
		}
		p.mu.Lock()
		p.srcLSO = o.Offset
		p.srcHWM = max(p.srcHWM, o.Offset)
		pos := p.srcPos
		p.mu.Unlock()
		if o.Offset <= pos {
			continue
		}
		if s, ok := starts.Lookup(tp.Topic, tp.Partition); ok && s.Err == nil && s.Offset > pos {
			// Retention deleted everything from pos on; the consumer moved to
			// the new start without a record to show it.
			p.mu.Lock()
			if p.err == nil && len(p.inflight) == 0 && p.srcPos == pos {
				e.loseLocked(p, pos, s.Offset)
				p.srcPos = s.Offset
			}
			p.mu.Unlock()
			continue
		}
		next, err := e.nextCommitted(ctx, tp, details[tp.Topic].ID, pos)
		if err != nil {
			e.log.Debug("probe idle partition", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			continue
		}
		if next <= pos {
			continue
		}
		p.mu.Lock()
		srcNext, _ := p.m.Next()
		if p.err == nil && len(p.inflight) == 0 && p.srcPos == pos && srcNext == pos {
			if err := p.m.Advance(next); err != nil {
				p.failLocked(fmt.Errorf("%v: %w", tp, err))
			} else {
				p.srcPos = next
				p.dirty = true
			}
		}
		p.mu.Unlock()
	}
	return nil
}

// nextCommitted fetches one partition at pos with read_committed and returns the
// next offset to fetch when the offsets from pos hold no committed data record
// (only removed records, aborted records or control records), or pos when a
// record is there: the consumer will deliver it.
func (e *Engine) nextCommitted(ctx context.Context, tp TP, topicID [16]byte, pos int64) (int64, error) {
	leader, _, err := e.src.PartitionLeader(tp.Topic, tp.Partition)
	if err != nil || leader < 0 {
		return pos, fmt.Errorf("no leader known for %v: %v", tp, err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.IsolationLevel = 1
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = tp.Topic, topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = tp.Partition
	rp.CurrentLeaderEpoch = -1
	rp.FetchOffset = pos
	rp.LogStartOffset = -1
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := e.src.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return pos, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return pos, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return pos, fmt.Errorf("fetch %v: unexpected response shape", tp)
	}
	part := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
		return pos, err
	}
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
		KeepControlRecords: true,
		Offset:             pos,
		IsolationLevel:     kgo.ReadCommitted(),
		Topic:              tp.Topic,
		Partition:          tp.Partition,
	}, part, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		return pos, fp.Err
	}
	for _, r := range fp.Records {
		if !r.Attrs.IsControl() {
			return pos, nil // a record is there; the consumer delivers it
		}
	}
	return next, nil
}
