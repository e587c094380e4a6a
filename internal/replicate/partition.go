package replicate

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/state"
)

// TP names a source topic partition.
type TP = offsetmap.TopicPartition

// pending is a record produced to the target and not yet acknowledged.
type pending struct {
	src int64
	// nextAfter, when above src+1, is the source position once this record is
	// acknowledged: control records or gaps seen after it, before the next copied
	// record.
	nextAfter int64
}

// partition is the copy state of one source partition.
//
// Two goroutines touch it: the poll loop (which produces, so it appends to
// inflight) and franz-go's promise goroutine (which acknowledges, so it pops
// inflight and appends to the map). The checkpointer and status readers take
// snapshots. mu guards everything below it; it is never held across Produce,
// which may block on a full buffer until a promise, which needs mu, runs.
type partition struct {
	tp       TP
	tgtTopic string
	// srcTopicID is the id of the source topic the map belongs to (zero when
	// unknown); records fetched under another id are never copied.
	srcTopicID offsetmap.TopicID
	// maxRecordBytes is the largest record the target accepts, from the target
	// topic's max.message.bytes and the producer's batch limit.
	maxRecordBytes int64
	onAck          func(*kgo.Record, error)
	metrics        *Metrics // may be nil
	// anyFailed is the engine's flag, raised when this partition fails.
	anyFailed *atomic.Bool

	copiedRecords atomic.Int64
	copiedBytes   atomic.Int64

	mu sync.Mutex
	// m is the durable map: only acknowledged records are in it, so its Next is
	// always a valid checkpoint.
	m *offsetmap.Partition
	// inflight are produced, unacknowledged records in source order.
	inflight []pending
	// srcPos is the next source offset the poll loop expects.
	srcPos int64
	// expectTgt is the target offset the next acknowledged record must have.
	expectTgt int64
	// sent counts the records handed to the producer.
	sent int64
	// lastAcked is the last record written, hashed at checkpoint time.
	lastAcked *kgo.Record
	// lastAckedTS is the source timestamp of lastAcked.
	lastAckedTS time.Time
	// lastHash is the hash of the last record written before this process
	// started (from the checkpoint or reconciliation), kept until lastAcked
	// replaces it. Set before the partition runs; read by the checkpointer.
	lastHash *recordhash.Sum
	dirty    bool
	// checkpointed is when the partition's changes last landed in the state
	// topic (zero: never by this process).
	checkpointed time.Time
	err          error
	// recovering is the write error, one that may heal, that paused the
	// partition; recoverSince is when it came, and recoverStarted is set once
	// recoverPartition runs for it (see recover.go).
	recovering     error
	recoverSince   time.Time
	recoverStarted bool
	// produceCtx is the context the partition's records are produced under:
	// the lock's, and cancelled by stopProduce the moment a write fails, so
	// that no record after the failed one is sent before the partition was
	// reconciled (franz-go may otherwise send later batches once the
	// connection heals, leaving a gap on the target).
	produceCtx  context.Context
	stopProduce context.CancelFunc
	// stopping is set when the partition is being handed to another process
	// of a shared migration (or dropped after the membership expired): it
	// copies nothing more. abandoned is set once one of its writes failed
	// then; later acknowledgements are not taken into the map.
	stopping, abandoned bool
	// reported is set once the poll loop has stopped fetching a failed partition.
	reported bool
	// lost lists source ranges deleted by retention before they were copied;
	// the first lostSynced of them are in the state topic.
	lost       []state.LostRange
	lostSynced int
	// Source offsets seen in fetches, and when the last fetch with records came.
	srcHWM, srcLSO, srcLogStart int64
	lastFetch                   time.Time
	// goal is the source position that counts as caught up for
	// --until-caught-up; -1 when unset.
	goal int64
}

func newPartition(tp TP, tgtTopic string, m *offsetmap.Partition, maxRecordBytes int64) *partition {
	srcNext, tgtNext := m.Next()
	p := &partition{
		tp:             tp,
		tgtTopic:       tgtTopic,
		maxRecordBytes: maxRecordBytes,
		m:              m,
		srcPos:         srcNext,
		expectTgt:      tgtNext,
		goal:           -1,
	}
	p.onAck = p.ack
	return p
}

// failedPartition stands for a partition that could not start: it is reported,
// never copied.
func failedPartition(tp TP, tgtTopic string, err error) *partition {
	p := &partition{tp: tp, tgtTopic: tgtTopic, err: err, goal: -1, reported: true}
	p.onAck = p.ack
	return p
}

// produceUnder sets the context the partition's records are produced under
// from now on: a child of parent, which ends with the writer lock. Called
// before the partition is fetched, and again when it resumes after a pause.
func (p *partition) produceUnder(parent context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.produceUnderLocked(parent)
}

func (p *partition) produceUnderLocked(parent context.Context) {
	if p.stopProduce != nil {
		p.stopProduce()
	}
	p.produceCtx, p.stopProduce = context.WithCancel(parent)
}

// failLocked stops the partition with err; the first error wins.
func (p *partition) failLocked(err error) {
	if p.err == nil {
		p.err = err
		if p.anyFailed != nil {
			p.anyFailed.Store(true)
		}
	}
}

// Err returns the error that stopped the partition, if any.
func (p *partition) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// ack is the produce promise. franz-go calls promises of one partition in produce
// order, so the head of inflight is the record acknowledged.
func (p *partition) ack(r *kgo.Record, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.inflight) == 0 {
		p.failLocked(fmt.Errorf("%s: acknowledgement with nothing in flight", p.tp))
		return
	}
	head := p.inflight[0]
	p.inflight = p.inflight[1:]
	if len(p.inflight) == 0 {
		p.inflight = p.inflight[:0:0] // let the array go once drained
	}
	if p.err != nil || p.recovering != nil || p.abandoned {
		return
	}
	if err != nil && p.stopping {
		// Cancelled while being let go: the next owner reconciles it.
		p.abandoned = true
		return
	}
	if err != nil {
		p.metrics.countError("produce")
		err = fmt.Errorf("write %s source offset %d to target %s[%d]: %w", p.tp, head.src, p.tgtTopic, p.tp.Partition, err)
		if permanentWriteError(err) {
			p.failLocked(err)
			return
		}
		p.recovering, p.recoverSince = err, time.Now()
		if p.stopProduce != nil {
			p.stopProduce()
		}
		if p.anyFailed != nil {
			p.anyFailed.Store(true)
		}
		return
	}
	if r.Offset != p.expectTgt {
		p.failLocked(fmt.Errorf("target %s[%d]: the record from source offset %d landed at target offset %d, expected %d: another writer is producing to this partition; kmigrate must be its only writer",
			p.tgtTopic, p.tp.Partition, head.src, r.Offset, p.expectTgt))
		return
	}
	if err := p.m.Append(head.src); err != nil {
		p.failLocked(fmt.Errorf("%s: %w", p.tp, err))
		return
	}
	if head.nextAfter > head.src+1 {
		if err := p.m.Advance(head.nextAfter); err != nil {
			p.failLocked(fmt.Errorf("%s: %w", p.tp, err))
			return
		}
	}
	p.expectTgt++
	p.metrics.observeLatency(r.Timestamp, time.Now())
	p.lastAcked = r
	p.lastAckedTS = r.Timestamp
	p.dirty = true
	p.copiedRecords.Add(1)
	p.copiedBytes.Add(int64(len(r.Key) + len(r.Value)))
}

// skipLocked moves the source position past offset off, which is not copied (a
// control record). With records in flight the move waits for the last of them.
func (p *partition) skipLocked(off int64) error {
	if n := len(p.inflight); n > 0 {
		p.inflight[n-1].nextAfter = off + 1
		return nil
	}
	if err := p.m.Advance(off + 1); err != nil {
		return err
	}
	p.dirty = true
	return nil
}

// caughtUp reports whether the durable position reached the goal.
func (p *partition) caughtUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.goal < 0 || p.m == nil {
		return false
	}
	srcNext, _ := p.m.Next()
	return srcNext >= p.goal
}

// checkpoint returns the state records that persist the partition's progress,
// and a function to call once they are all acknowledged; nil when nothing changed.
func (p *partition) checkpoint(migration string, h *recordhash.Hasher, now time.Time) ([]*kgo.Record, func(), error) {
	p.mu.Lock()
	if !p.dirty || p.m == nil {
		p.mu.Unlock()
		return nil, nil, nil
	}
	ch := p.m.Changes()
	last := p.lastAcked
	lost := append([]state.LostRange(nil), p.lost[p.lostSynced:]...)
	nLost := len(p.lost)
	p.dirty = false
	p.mu.Unlock()

	if last != nil {
		ch.Checkpoint.Hash = h.Record(last)
		ch.Checkpoint.HasHash = true
	} else if p.lastHash != nil {
		ch.Checkpoint.Hash, ch.Checkpoint.HasHash = *p.lastHash, true
	}
	ch.Checkpoint.UnixMilli = now.UnixMilli()
	recs, err := state.ChangeRecords(migration, p.tp, ch, lost)
	if err != nil {
		return nil, nil, err
	}
	return recs, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		_ = p.m.MarkSynced(ch) // ch came from p.m: cannot fail
		p.lostSynced = max(p.lostSynced, nLost)
		p.checkpointed = now
	}, nil
}

// oldestCheckpoints returns the limit dirty partitions of parts checkpointed
// longest ago.
func oldestCheckpoints(parts []*partition, limit int) []*partition {
	type aged struct {
		p  *partition
		at time.Time
	}
	var dirty []aged
	for _, p := range parts {
		p.mu.Lock()
		if p.dirty {
			dirty = append(dirty, aged{p, p.checkpointed})
		}
		p.mu.Unlock()
	}
	if len(dirty) <= limit {
		out := make([]*partition, len(dirty))
		for i, a := range dirty {
			out[i] = a.p
		}
		return out
	}
	slices.SortFunc(dirty, func(a, b aged) int { return a.at.Compare(b.at) })
	out := make([]*partition, limit)
	for i := range out {
		out[i] = dirty[i].p
	}
	return out
}

// redirty marks the partition for another checkpoint after a failed write.
func (p *partition) redirty() {
	p.mu.Lock()
	p.dirty = true
	p.mu.Unlock()
}

// PartitionStatus is a snapshot of one partition's progress.
type PartitionStatus struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	TargetTopic string `json:"target_topic"`
	// SrcBegin is where copying began; SrcNext is the next source offset to copy.
	SrcBegin int64 `json:"src_begin"`
	SrcNext  int64 `json:"src_next"`
	TgtStart int64 `json:"tgt_start"`
	TgtNext  int64 `json:"tgt_next"`
	// SrcEnd is the last high watermark seen on the source.
	SrcEnd   int64 `json:"src_end"`
	SrcStart int64 `json:"src_log_start"`
	// Lag is SrcEnd - SrcNext, in offsets (an upper bound of records where the
	// source has gaps).
	Lag int64 `json:"lag"`
	// LagSeconds is the age of the oldest record not yet copied, approximately:
	// now minus the timestamp of the last record copied, when there is lag.
	LagSeconds float64           `json:"lag_seconds"`
	InFlight   int               `json:"in_flight"`
	Copied     int64             `json:"copied_records"`
	Bytes      int64             `json:"copied_bytes"`
	Runs       int               `json:"runs"`
	Coarsened  bool              `json:"coarsened,omitempty"`
	Lost       []state.LostRange `json:"lost,omitempty"`
	Error      string            `json:"error,omitempty"`
	// Recovering is the write error, one that may heal, that paused the
	// partition until its writes settle and it resumes by itself.
	Recovering string `json:"recovering,omitempty"`
}

func (p *partition) status(now time.Time) PartitionStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		return PartitionStatus{Topic: p.tp.Topic, Partition: p.tp.Partition, TargetTopic: p.tgtTopic, Error: p.err.Error()}
	}
	srcNext, tgtNext := p.m.Next()
	s := PartitionStatus{
		Topic: p.tp.Topic, Partition: p.tp.Partition, TargetTopic: p.tgtTopic,
		SrcBegin: p.m.SrcBegin(), SrcNext: srcNext, TgtStart: p.m.TgtStart(), TgtNext: tgtNext,
		SrcEnd: max(p.srcHWM, srcNext), SrcStart: p.srcLogStart,
		InFlight: len(p.inflight), Copied: p.copiedRecords.Load(), Bytes: p.copiedBytes.Load(),
		Runs: p.m.NumRuns(), Coarsened: p.m.Coarsened(), Lost: append([]state.LostRange(nil), p.lost...),
	}
	s.Lag = s.SrcEnd - srcNext
	if s.Lag > 0 && !p.lastAckedTS.IsZero() {
		s.LagSeconds = max(0, now.Sub(p.lastAckedTS).Seconds())
	}
	if p.err != nil {
		s.Error = p.err.Error()
	}
	if p.recovering != nil {
		s.Recovering = p.recovering.Error()
	}
	return s
}
