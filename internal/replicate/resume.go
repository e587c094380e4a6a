package replicate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/state"
)

// resumeInput is what resume needs to know about one partition.
type resumeInput struct {
	tp       TP
	tgtTopic string
	saved    *state.Saved
	// srcStart is the source log start offset; tgtStart and tgtEnd bound the
	// target partition.
	srcStart, tgtStart, tgtEnd int64
	// start, when set, is where a partition never copied before begins
	// (Options.Start).
	start *StartAt
	// srcEnd is the source end offset (high watermark) at start; -1 unknown.
	srcEnd int64
}

// readTimeout bounds each read of reconciliation (one chunk of records).
const readTimeout = 60 * time.Second

// resume decides where a partition continues and returns its state and the
// source offset to fetch from:
//
//   - never copied: the target partition must be empty; copying starts at the
//     source log start, and an initial checkpoint is written before the first
//     record so that a crash at any later moment finds state to reconcile with.
//   - copied before: the target must still hold what the checkpoint says was
//     written (end offset not below it, the last record's hash unchanged). Records
//     past the checkpoint, written by a run that crashed before checkpointing
//     them, are matched against the source one by one and adopted (tail
//     reconciliation).
//
// A partition that fails these checks gets an error naming it and is not copied.
func (e *Engine) resume(ctx context.Context, in resumeInput, maxRecordBytes int64) (*partition, int64, error) {
	tgtName := fmt.Sprintf("%s[%d]", in.tgtTopic, in.tp.Partition)
	p, from, err := e.resumeMap(ctx, in, maxRecordBytes, tgtName)
	if err != nil {
		return nil, 0, err
	}
	// Bound the map in memory: beyond the limit its oldest runs coarsen in the
	// safe direction, and reports say so.
	p.mu.Lock()
	err = p.m.SetMaxRuns(e.cfg.Replication.MaxOffsetMapRuns)
	p.mu.Unlock()
	if err != nil {
		return nil, 0, fmt.Errorf("%v: %w", in.tp, err)
	}
	return p, from, nil
}

func (e *Engine) resumeMap(ctx context.Context, in resumeInput, maxRecordBytes int64, tgtName string) (*partition, int64, error) {
	if in.saved == nil && in.start != nil {
		// A continuation (the reverse copy after a cutover): the target must end
		// exactly where the switch left it, or someone else wrote to it since.
		if in.tgtEnd != in.start.TargetEnd {
			return nil, 0, fmt.Errorf("target %s ends at offset %d, but the copy must continue it from offset %d, where it ended at the switch: %d records were written to it since by someone else; refusing to continue this partition",
				tgtName, in.tgtEnd, in.start.TargetEnd, in.tgtEnd-in.start.TargetEnd)
		}
		m, err := offsetmap.New(in.tgtEnd, in.start.From)
		if err != nil {
			return nil, 0, fmt.Errorf("%v: %w", in.tp, err)
		}
		p := newPartition(in.tp, in.tgtTopic, m, maxRecordBytes)
		p.dirty = true
		if err := e.checkpointOne(ctx, p); err != nil {
			return nil, 0, err
		}
		from := in.start.From
		if from < in.srcStart {
			p.mu.Lock()
			e.loseLocked(p, from, in.srcStart)
			p.mu.Unlock()
			from = in.srcStart
		}
		p.srcPos = from
		return p, from, nil
	}
	if in.saved == nil {
		if in.tgtEnd > in.tgtStart {
			return nil, 0, fmt.Errorf("target %s holds %d records (offsets %d to %d) that kmigrate did not write; kmigrate must be the only writer of its target partitions: empty or delete that topic, or pick another name with a rename rule",
				tgtName, in.tgtEnd-in.tgtStart, in.tgtStart, in.tgtEnd-1)
		}
		m, err := offsetmap.New(in.tgtEnd, in.srcStart)
		if err != nil {
			return nil, 0, fmt.Errorf("%v: %w", in.tp, err)
		}
		p := newPartition(in.tp, in.tgtTopic, m, maxRecordBytes)
		p.dirty = true
		if err := e.checkpointOne(ctx, p); err != nil {
			return nil, 0, err
		}
		return p, in.srcStart, nil
	}
	if in.saved.Err != nil {
		return nil, 0, fmt.Errorf("state of %v is inconsistent, refusing to copy it: %w", in.tp, in.saved.Err)
	}
	cp := in.saved.Checkpoint
	m := in.saved.Map
	switch {
	case in.tgtEnd < cp.TgtNext:
		return nil, 0, fmt.Errorf("target %s ends at offset %d but kmigrate had written up to offset %d: records were removed from the target (topic deleted and recreated?); refusing to continue this partition",
			tgtName, in.tgtEnd, cp.TgtNext-1)
	case in.tgtStart > cp.TgtStart:
		e.log.Warn("target retention or DeleteRecords removed copied records; verification covers what is left",
			"topic", in.tgtTopic, "partition", in.tp.Partition, "target_start", in.tgtStart)
	}
	p := newPartition(in.tp, in.tgtTopic, m, maxRecordBytes)
	p.lost = in.saved.Lost
	p.lostSynced = len(p.lost)
	if cp.HasHash {
		h := recordhash.Sum(cp.Hash)
		p.lastHash = &h
	}
	k := in.tgtEnd - cp.TgtNext
	if cp.HasHash && in.tgtStart <= cp.TgtNext-1 {
		if err := e.checkBoundary(ctx, in, cp); err != nil {
			return nil, 0, err
		}
	}
	if err := e.checkSourceHistory(ctx, in, cp, m); err != nil {
		return nil, 0, err
	}
	if k > 0 {
		if err := e.reconcile(ctx, p, in, cp, k); err != nil {
			return nil, 0, err
		}
	}
	from, _ := m.Next()
	if from < in.srcStart {
		p.mu.Lock()
		e.loseLocked(p, from, in.srcStart)
		p.mu.Unlock()
		from = in.srcStart
	}
	p.srcPos = from
	return p, from, nil
}

// checkpointOne writes the state of one partition now.
func (e *Engine) checkpointOne(ctx context.Context, p *partition) error {
	recs, done, err := p.checkpoint(e.cfg.Migration, recordhash.New(), e.now())
	if err != nil {
		return err
	}
	if recs == nil {
		return nil
	}
	if err := e.store.Write(ctx, recs); err != nil {
		return fmt.Errorf("write initial checkpoint of %v: %w", p.tp, err)
	}
	done()
	return nil
}

// checkBoundary checks that the target still holds, at the checkpoint's last
// offset, the record kmigrate wrote there.
func (e *Engine) checkBoundary(ctx context.Context, in resumeInput, cp offsetmap.Checkpoint) error {
	recs, err := e.readTarget(ctx, in.tgtTopic, in.tp.Partition, cp.TgtNext-1, 1)
	if err != nil {
		return err
	}
	if got := recordhash.Record(recs[0]); got != recordhash.Sum(cp.Hash) {
		return fmt.Errorf("target %s[%d] offset %d is not the record kmigrate wrote there (its SHA-256 differs from the checkpoint's): the topic was recreated or rewritten by someone else; refusing to continue this partition",
			in.tgtTopic, in.tp.Partition, cp.TgtNext-1)
	}
	return nil
}

// checkSourceHistory refuses a partition whose source lost, while kmigrate was
// not running, records it had already copied (an unclean leader election, a
// broker that lost its disk): the source ends before the checkpoint, or the
// source record at the checkpoint's last copied offset is not the one copied
// (new records reuse the lost offsets). Either way the target holds records
// the source no longer has, and copying on would drop the new ones silently.
// A record removed since by retention or compaction proves nothing either way
// and is not an error.
func (e *Engine) checkSourceHistory(ctx context.Context, in resumeInput, cp offsetmap.Checkpoint, m *offsetmap.Partition) error {
	if in.srcEnd >= 0 && cp.SrcNext > in.srcEnd {
		return fmt.Errorf("source %v ends at offset %d, but kmigrate had read it up to offset %d: the source lost offsets %d to %d after they were copied (unclean leader election or log truncation on the source); the target holds records the source no longer has. Check the source cluster, then start the topic over with `kmigrate reset --topic %s`",
			in.tp, in.srcEnd, cp.SrcNext-1, in.srcEnd, cp.SrcNext-1, in.tp.Topic)
	}
	if !cp.HasHash || cp.TgtNext <= m.TgtStart() {
		return nil
	}
	last := m.Inverse(cp.TgtNext - 1)
	if last.Kind != offsetmap.Exact || last.Offset < in.srcStart {
		return nil
	}
	got, err := e.readSource(ctx, in.tp, last.Offset, 1)
	if err != nil {
		return fmt.Errorf("read source %v at offset %d to check its history: %w", in.tp, last.Offset, err)
	}
	r := got.data[0]
	if r.Offset != last.Offset {
		return nil // compacted away since: nothing to compare
	}
	if recordhash.Record(r) != recordhash.Sum(cp.Hash) {
		return fmt.Errorf("source %v offset %d is not the record kmigrate copied from there (its SHA-256 differs from the checkpoint's): the source lost records after they were copied and new ones took their offsets (unclean leader election or log truncation on the source); the target holds records the source no longer has. Check the source cluster, then start the topic over with `kmigrate reset --topic %s`",
			in.tp, last.Offset, in.tp.Topic)
	}
	return nil
}

// reconcileChunk is how many record pairs reconciliation reads at a time, so
// that a long unreconciled tail streams instead of sitting in memory.
const reconcileChunk = 1000

// reconcile adopts the k records written to the target after the checkpoint:
// it reads them, reads the source from the checkpoint's next offset with the
// same filter as the copy (committed records, control records skipped), and
// requires each pair to hash the same. The map then includes them, so the copy
// resumes right after the k-th source record: nothing lost, nothing twice. The
// tail is read in chunks; each chunk has the read timeout, the whole has none.
func (e *Engine) reconcile(ctx context.Context, p *partition, in resumeInput, cp offsetmap.Checkpoint, k int64) error {
	h := recordhash.New()
	srcFrom := cp.SrcNext
	var last *kgo.Record
	for done := int64(0); done < k; {
		n := min(k-done, reconcileChunk)
		tgt, err := e.readTarget(ctx, in.tgtTopic, in.tp.Partition, cp.TgtNext+done, int(n))
		if err != nil {
			return err
		}
		src, err := e.readSource(ctx, in.tp, srcFrom, int(n))
		if err != nil {
			return fmt.Errorf("reconcile %v: %w", in.tp, err)
		}
		for i, t := range tgt {
			s := src.data[i]
			if h.Record(s) != h.Record(t) {
				return fmt.Errorf("target %s[%d] offset %d holds a record that differs from source offset %d (%s): it was not written by kmigrate; refusing to continue this partition",
					in.tgtTopic, in.tp.Partition, t.Offset, s.Offset, recordhash.Diff(s, t))
			}
		}
		p.mu.Lock()
		for i, s := range src.data {
			for _, c := range src.skippedBefore[i] {
				if err := p.m.Advance(c + 1); err != nil {
					p.mu.Unlock()
					return fmt.Errorf("reconcile %v: %w", in.tp, err)
				}
			}
			if err := p.m.Append(s.Offset); err != nil {
				p.mu.Unlock()
				return fmt.Errorf("reconcile %v: %w", in.tp, err)
			}
		}
		p.mu.Unlock()
		srcFrom = src.data[len(src.data)-1].Offset + 1
		last = tgt[len(tgt)-1]
		done += n
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, p.expectTgt = p.m.Next()
	sum := recordhash.Record(last)
	p.lastHash = &sum
	p.dirty = true
	e.event("info", in.tp.Topic, "source %v: adopted %d records written to target %s[%d] after the last checkpoint (offsets %d to %d), each matched by SHA-256",
		in.tp, k, in.tgtTopic, in.tp.Partition, cp.TgtNext, cp.TgtNext+k-1)
	return nil
}

// readTarget reads exactly n records of a target partition from offset from.
func (e *Engine) readTarget(ctx context.Context, topic string, partition int32, from int64, n int) ([]*kgo.Record, error) {
	got, err := e.read(ctx, kafka.Target, topic, partition, from, n, false)
	if err != nil {
		return nil, fmt.Errorf("read target %s[%d] from offset %d: %w", topic, partition, from, err)
	}
	return got.data, nil
}

// sourceRead is what readSource found: n data records, and for each the control
// records skipped just before it.
type sourceRead struct {
	data          []*kgo.Record
	skippedBefore [][]int64
}

func (e *Engine) readSource(ctx context.Context, tp TP, from int64, n int) (sourceRead, error) {
	return e.read(ctx, kafka.Source, tp.Topic, tp.Partition, from, n, true)
}

// read reads n data records of one partition from offset from, with its own
// short-lived client. Source reads use read_committed and keep control records
// (to know where they are); target reads see everything.
func (e *Engine) read(ctx context.Context, role kafka.Role, topic string, partition int32, from int64, n int, committed bool) (sourceRead, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	c := e.cfg.Target
	if role == kafka.Source {
		c = e.cfg.Source
	}
	opts := []kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), // never silently restart elsewhere
	}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := e.builder.Client(ctx, role, c, opts...)
	if err != nil {
		return sourceRead{}, err
	}
	defer cl.Close()
	var out sourceRead
	var skipped []int64
	next := from
	for len(out.data) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("got %d of %d records before the deadline", len(out.data), n)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = err
			}
		})
		if ferr != nil {
			return out, ferr
		}
		for _, r := range fs.Records() {
			if r.Offset < next || len(out.data) == n {
				continue
			}
			if r.Offset != from && len(out.data) == 0 && len(skipped) == 0 && r.Offset > from && !committed {
				return out, fmt.Errorf("the partition has no record at offset %d (next is %d)", from, r.Offset)
			}
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				skipped = append(skipped, r.Offset)
				continue
			}
			out.data = append(out.data, r)
			out.skippedBefore = append(out.skippedBefore, skipped)
			skipped = nil
		}
	}
	return out, nil
}
