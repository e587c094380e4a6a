package replicate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/state"
)

// A write to the target can fail for a reason that heals: a connection that
// broke, timed out or was answered by something that is not the broker (a
// port briefly taken by another program), a broker that is busy or moving. The
// partition must not stop for good then. It pauses instead, waits until none
// of its writes can still land, finds out which of them did (they are adopted
// exactly as after a crash, matched with their source records by SHA-256),
// and goes on, as often as it takes. Only a refusal by the broker (no
// permission, a record too large, a timestamp out of range) or a verdict (the
// target does not hold what the map says) stops a partition.

// permanentWriteError reports whether a produce error cannot heal by itself.
func permanentWriteError(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, ErrLockLost),
		errors.Is(err, kgo.ErrClientClosed), errors.Is(err, kgo.ErrAborting):
		// The writer is going away: the lock was lost or the run stops.
		return true
	case errors.Is(err, kafka.ErrFenced):
		// A lapsed lease may be confirmed again; a revoked one is not.
		var t interface{ Temporary() bool }
		return !errors.As(err, &t) || !t.Temporary()
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return !ke.Retriable
	}
	return false
}

// readError is a failure to read a partition during reconciliation: the
// cluster did not answer, not a verdict about what it holds.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// errHandedOver stops the recovery of a partition that is being let go.
var errHandedOver = errors.New("the partition is being handed over")

// recoveryBackoff bounds the pause between two attempts to recover a
// partition.
const recoveryBackoff = 30 * time.Second

// recoverPartition brings p back after a write failed for a reason that may
// heal (p.recovering). It waits until every record handed to the producer has
// its outcome, then out the fence's grace, so that no write of p can still
// land; then it reconciles p's map with what the target holds (resume) and
// fetches again from where the map ends. Failed attempts are retried with a
// growing pause until one succeeds or a verdict stops the partition.
func (e *Engine) recoverPartition(ctx context.Context, p *partition) {
	p.mu.Lock()
	cause, since := p.recovering, p.recoverSince
	p.mu.Unlock()
	e.event("warn", p.tp.Topic, "partition %s paused: %v; it resumes by itself once its writes have settled and the target answers", p.tp, cause)
	for {
		p.mu.Lock()
		n := len(p.inflight)
		p.mu.Unlock()
		if n == 0 {
			break
		}
		if sleepCtx(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
	// A request that broke off may still be delivered by the broker: wait
	// until none can land before reading what did.
	if sleepCtx(ctx, kafka.FenceGrace) != nil {
		return
	}
	for attempt, wait := 1, time.Second; ; attempt, wait = attempt+1, min(2*wait, recoveryBackoff) {
		from, adopted, err := e.reresume(ctx, p)
		if ctx.Err() != nil || errors.Is(err, errHandedOver) {
			return
		}
		if err == nil {
			how := "none of the failed writes had landed"
			if adopted > 0 {
				how = fmt.Sprintf("%d records of the failed writes had landed and were adopted, each matched by SHA-256", adopted)
			}
			e.event("info", p.tp.Topic, "partition %s resumed after %s (attempt %d): %s; copying from source offset %d",
				p.tp, e.now().Sub(since).Round(100*time.Millisecond), attempt, how, from)
			if e.metrics != nil {
				e.metrics.Recoveries.WithLabelValues(p.tp.Topic).Inc()
			}
			return
		}
		var re readError
		if !errors.As(err, &re) {
			p.mu.Lock()
			p.recovering = nil
			p.failLocked(err)
			p.mu.Unlock()
			return
		}
		e.log.Warn("partition recovery: the clusters did not answer; trying again", "topic", p.tp.Topic, "partition", p.tp.Partition,
			"attempt", attempt, "retry_in", wait, "err", err)
		if sleepCtx(ctx, wait) != nil {
			return
		}
	}
}

// reresume reconciles a paused partition's map with the target and starts
// fetching it again; it returns the source offset it resumes at and the
// number of records it adopted. Errors reaching the clusters are readErrors.
func (e *Engine) reresume(ctx context.Context, p *partition) (int64, int64, error) {
	tp := p.tp
	srcStarts, err := e.srcAdm.ListStartOffsets(ctx, tp.Topic)
	if err != nil {
		return 0, 0, readError{fmt.Errorf("list source start offsets of %s: %w", tp.Topic, err)}
	}
	srcEnds, err := e.srcAdm.ListCommittedOffsets(ctx, tp.Topic)
	if err != nil {
		return 0, 0, readError{fmt.Errorf("list source end offsets of %s: %w", tp.Topic, err)}
	}
	tgtStarts, err := e.tgtReadAdm().ListStartOffsets(ctx, p.tgtTopic)
	if err != nil {
		return 0, 0, readError{fmt.Errorf("list target start offsets of %s: %w", p.tgtTopic, err)}
	}
	tgtEnds, err := e.tgtReadAdm().ListEndOffsets(ctx, p.tgtTopic)
	if err != nil {
		return 0, 0, readError{fmt.Errorf("list target end offsets of %s: %w", p.tgtTopic, err)}
	}
	_, compacted, err := e.targetLimits(ctx, []string{p.tgtTopic})
	if err != nil {
		return 0, 0, readError{err}
	}
	in := resumeInput{tp: tp, tgtTopic: p.tgtTopic, tgtCompacted: compacted[p.tgtTopic]}
	e.mu.RLock()
	in.srcCompacted = e.specs[tp.Topic].Compacted
	e.mu.RUnlock()
	lookups := []struct {
		offsets offsetLookup
		topic   string
		into    *int64
	}{
		{srcStarts.Lookup, tp.Topic, &in.srcStart},
		{srcEnds.Lookup, tp.Topic, &in.srcEnd},
		{tgtStarts.Lookup, p.tgtTopic, &in.tgtStart},
		{tgtEnds.Lookup, p.tgtTopic, &in.tgtEnd},
	}
	for _, l := range lookups {
		o, ok := l.offsets(l.topic, tp.Partition)
		if !ok || o.Err != nil {
			return 0, 0, readError{fmt.Errorf("list offsets of %s[%d]: %v", l.topic, tp.Partition, lookupErr(o, ok))}
		}
		*l.into = o.Offset
	}

	p.mu.Lock()
	srcNext, tgtNext := p.m.Next()
	cp := offsetmap.Checkpoint{SrcBegin: p.m.SrcBegin(), SrcNext: srcNext, TgtStart: p.m.TgtStart(), TgtNext: tgtNext}
	switch {
	case p.lastAcked != nil:
		cp.Hash, cp.HasHash = recordhash.New().Record(p.lastAcked), true
	case p.lastHash != nil:
		cp.Hash, cp.HasHash = *p.lastHash, true
	}
	in.saved = &state.Saved{Map: p.m, Checkpoint: cp}
	p.mu.Unlock()
	tgtName := fmt.Sprintf("%s[%d]", p.tgtTopic, tp.Partition)
	if in.tgtEnd < tgtNext {
		return 0, 0, fmt.Errorf("target %s ends at offset %d but kmigrate had written up to offset %d: records were removed from the target while a write was retried; refusing to continue this partition",
			tgtName, in.tgtEnd, tgtNext-1)
	}
	if err := e.reconcile(ctx, p, in, cp); err != nil {
		return 0, 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return 0, 0, errHandedOver
	}
	from, next := p.m.Next()
	adopted := next - tgtNext
	if adopted > 0 {
		p.lastAcked = nil // the last record is now one adopted: lastHash has it
	}
	p.expectTgt = next
	if from < in.srcStart {
		e.loseLocked(p, from, in.srcStart)
		from = in.srcStart
	}
	p.srcPos = from
	p.recovering = nil
	p.recoverStarted = false
	p.dirty = true
	p.produceUnderLocked(e.epoch())
	e.src.AddConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {tp.Partition: kgo.NewOffset().At(from)}})
	return from, adopted, nil
}

// offsetLookup finds a listed offset (kadm.ListedOffsets.Lookup).
type offsetLookup func(topic string, partition int32) (kadm.ListedOffset, bool)
