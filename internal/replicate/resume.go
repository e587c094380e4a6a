package replicate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
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
	// srcStart is the source log start offset and srcEnd its last stable
	// offset; tgtStart and tgtEnd bound the target partition.
	srcStart, srcEnd, tgtStart, tgtEnd int64
	// srcCompacted and tgtCompacted say whether the topics' cleanup.policy
	// includes compact: compaction may have removed records since the
	// checkpoint.
	srcCompacted, tgtCompacted bool
	// start, when set, is where a partition never copied before begins
	// (Options.Start).
	start *StartAt
	// history and boundary, when set, are the point reads of historyPoint
	// and boundaryPoint, made ahead for many partitions at once
	// (prefetchPoints); when nil, the checks read for themselves.
	history, boundary *pointRead
}

// pointRead is the outcome of a point read: the first record of the point's
// range, or nil when the range holds none.
type pointRead struct{ rec *kgo.Record }

// historyPoint is the source record checkSourceHistory compares with the
// checkpoint's hash: the one at the last copied offset, when the source
// should still have it.
func historyPoint(in resumeInput) (kafka.Point, bool) {
	if in.saved == nil || in.saved.Err != nil {
		return kafka.Point{}, false
	}
	cp, m := in.saved.Checkpoint, in.saved.Map
	if cp.SrcNext > in.srcEnd || !cp.HasHash || cp.TgtNext <= m.TgtStart() {
		return kafka.Point{}, false
	}
	last := m.Inverse(cp.TgtNext - 1)
	if last.Kind != offsetmap.Exact || last.Offset < in.srcStart || last.Offset >= in.srcEnd {
		return kafka.Point{}, false
	}
	return kafka.Point{Topic: in.tp.Topic, Partition: in.tp.Partition, From: last.Offset, End: last.Offset + 1}, true
}

// boundaryPoint is the target record checkBoundary compares with the
// checkpoint's hash, for a partition without a tail past its checkpoint (one
// with a tail reads it in the same pass as the tail).
func boundaryPoint(in resumeInput) (kafka.Point, bool) {
	if in.saved == nil || in.saved.Err != nil {
		return kafka.Point{}, false
	}
	cp := in.saved.Checkpoint
	if !cp.HasHash || in.tgtEnd != cp.TgtNext || in.tgtStart > cp.TgtNext-1 {
		return kafka.Point{}, false
	}
	return kafka.Point{Topic: in.tgtTopic, Partition: in.tp.Partition, From: cp.TgtNext - 1, End: cp.TgtNext, Controls: true}, true
}

// prefetchPoints makes the point reads of every partition about to resume
// with one reading client per cluster: resuming thousands of partitions then
// costs a few fetches instead of a client and its metadata load for each. A
// read that fails leaves the points unread; each partition's check then reads
// for itself and fails, if it must, with its own error.
func (e *Engine) prefetchPoints(ctx context.Context, ins []resumeInput) {
	type batch struct {
		role kafka.Role
		c    config.Cluster
		pts  []kafka.Point
		idx  []int
		recs []*kgo.Record
	}
	batches := []*batch{{role: kafka.Source, c: e.cfg.Source}, {role: kafka.Target, c: e.cfg.Target}}
	for i := range ins {
		if pt, ok := historyPoint(ins[i]); ok {
			batches[0].pts, batches[0].idx = append(batches[0].pts, pt), append(batches[0].idx, i)
		}
		if pt, ok := boundaryPoint(ins[i]); ok {
			batches[1].pts, batches[1].idx = append(batches[1].pts, pt), append(batches[1].idx, i)
		}
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		if len(b.pts) == 0 {
			continue
		}
		wg.Go(func() {
			recs, err := e.readPoints(ctx, b.role, b.c, b.pts)
			if err != nil {
				e.log.Warn("could not read ahead for resuming partitions; each reads for itself", "cluster", b.role, "partitions", len(b.pts), "err", err)
				return
			}
			b.recs = recs
		})
	}
	wg.Wait()
	for _, b := range batches {
		if b.recs == nil {
			continue
		}
		for j, i := range b.idx {
			r := &pointRead{rec: b.recs[j]}
			if b.role == kafka.Source {
				ins[i].history = r
			} else {
				ins[i].boundary = r
			}
		}
	}
}

// readPoints reads pts of cluster c with one client: the source as the copy
// reads it (read_committed), the target as it is.
func (e *Engine) readPoints(ctx context.Context, role kafka.Role, c config.Cluster, pts []kafka.Point) ([]*kgo.Record, error) {
	opts := []kgo.Opt{
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxPartitionBytes(kafka.PointPartitionBytes),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	if role == kafka.Source {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := e.builder.Client(ctx, role, c, opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return kafka.ReadPoints(ctx, cl, role, pts, readTimeout)
}

// tailOf turns a record read ahead into what the checks compare.
func tailOf(rec *kgo.Record) *tailRecord {
	if rec == nil {
		return nil
	}
	return &tailRecord{offset: rec.Offset, sum: recordhash.New().Record(rec), rec: rec}
}

// readTimeout bounds each wait of reconciliation for the next records of a
// partition.
const readTimeout = 60 * time.Second

// resume decides where a partition continues and returns its state and the
// source offset to fetch from:
//
//   - never copied: the target partition must be empty; copying starts at the
//     source log start, and the caller writes an initial checkpoint before the
//     first record (checkpointNew).
//   - copied before: the target must still hold what the checkpoint says was
//     written (end offset not below it, the last record's hash unchanged, or
//     that record removed by compaction of a compacted target). Records past
//     the checkpoint, written by a run that crashed before checkpointing them,
//     are aligned with the source records from the checkpoint on and adopted
//     (tail reconciliation, alignTail), whatever compaction or retention
//     removed on either side since.
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
		p.dirty = true // its initial checkpoint: see checkpointNew
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
		p.dirty = true // its initial checkpoint: see checkpointNew
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
	if err := e.checkSourceHistory(ctx, in, cp); err != nil {
		return nil, 0, err
	}
	if err := e.reconcile(ctx, p, in, cp); err != nil {
		return nil, 0, err
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

// checkSourceHistory refuses a partition whose source lost, while kmigrate was
// not running, records it had already copied (an unclean leader election, a
// broker that lost its disk): the source ends before the checkpoint, or the
// source record at the checkpoint's last copied offset is not the one copied
// (new records took the lost offsets). Either way the target holds records
// the source no longer has, and copying on would drop the new ones silently
// (the first fetch past the new end resets without a word). A record removed
// since by retention or compaction proves nothing either way.
func (e *Engine) checkSourceHistory(ctx context.Context, in resumeInput, cp offsetmap.Checkpoint) error {
	if cp.SrcNext > in.srcEnd {
		return fmt.Errorf("source %v ends at offset %d, but kmigrate had read it up to offset %d: the source lost offsets %d to %d after they were copied (unclean leader election or log truncation on the source); the target holds records the source no longer has. Check the source cluster, then start the topic over with `kmigrate reset --topic %s`",
			in.tp, in.srcEnd, cp.SrcNext-1, in.srcEnd, cp.SrcNext-1, in.tp.Topic)
	}
	pt, ok := historyPoint(in)
	if !ok {
		return nil
	}
	var r *tailRecord
	if in.history != nil {
		r = tailOf(in.history.rec)
	} else {
		src, err := e.openReader(ctx, kafka.Source, in.tp.Topic, in.tp.Partition, pt.From, pt.End)
		if err != nil {
			return err
		}
		defer src.close()
		t, ok, err := src.next()
		if err != nil {
			return fmt.Errorf("check the history of source %v at offset %d: %w", in.tp, pt.From, err)
		}
		if ok {
			r = &t
		}
	}
	if r == nil || r.offset != pt.From {
		return nil // compacted away since: nothing to compare
	}
	last := pt.From
	if r.sum != recordhash.Sum(cp.Hash) {
		return fmt.Errorf("source %v offset %d is not the record kmigrate copied from there (its SHA-256 differs from the checkpoint's): the source lost records after they were copied and new ones took their offsets (unclean leader election or log truncation on the source); the target holds records the source no longer has. Check the source cluster, then start the topic over with `kmigrate reset --topic %s`",
			in.tp, last, in.tp.Topic)
	}
	return nil
}

// checkpointNew writes the initial checkpoints of partitions never copied
// before, in one write: each must have state on the target before its first
// record is copied, so that a crash at any later moment finds state to
// reconcile with.
func (e *Engine) checkpointNew(ctx context.Context, parts []*partition) error {
	var recs []*kgo.Record
	var dones []func()
	h := recordhash.New()
	for _, p := range parts {
		r, done, err := p.checkpoint(e.cfg.Migration, h, e.now())
		if err != nil {
			return fmt.Errorf("%v: %w", p.tp, err)
		}
		if r != nil {
			recs = append(recs, r...)
			dones = append(dones, done)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	if err := e.store.Write(ctx, recs); err != nil {
		return err
	}
	for _, done := range dones {
		done()
	}
	return nil
}

// reconcile checks the checkpoint's boundary record and adopts the records
// written to the target after the checkpoint: alignTail gives each its source
// record, read from the checkpoint's next offset with the same filter as the
// copy (committed records, control records skipped). The map then includes
// them, so the copy resumes right after the last of them: nothing lost,
// nothing twice. One client reads each side for the whole tail; each wait for
// records has the read timeout, the whole none.
func (e *Engine) reconcile(ctx context.Context, p *partition, in resumeInput, cp offsetmap.Checkpoint) error {
	k := in.tgtEnd - cp.TgtNext
	boundary := cp.HasHash && in.tgtStart <= cp.TgtNext-1
	if k <= 0 && !boundary {
		return nil
	}
	tgtName := fmt.Sprintf("%s[%d]", in.tgtTopic, in.tp.Partition)
	if k <= 0 && in.boundary != nil {
		if rec := in.boundary.rec; rec != nil && rec.Attrs.IsControl() {
			return targetMarkerError("target "+tgtName, rec.Offset)
		}
		return e.checkBoundary(in, cp, tailOf(in.boundary.rec), tgtName)
	}
	from := max(cp.TgtNext, in.tgtStart)
	if boundary {
		from = cp.TgtNext - 1
	}
	tgt, err := e.openReader(ctx, kafka.Target, in.tgtTopic, in.tp.Partition, from, in.tgtEnd)
	if err != nil {
		return err
	}
	defer tgt.close()
	if boundary {
		r, ok, err := tgt.next()
		if err != nil {
			return err
		}
		var first *tailRecord
		if ok {
			first = &r
		}
		if err := e.checkBoundary(in, cp, first, tgtName); err != nil {
			return err
		}
		if ok && r.offset != cp.TgtNext-1 {
			tgt.unread(r)
		}
	}
	if k <= 0 {
		return nil
	}
	src, err := e.openReader(ctx, kafka.Source, in.tp.Topic, in.tp.Partition, max(cp.SrcNext, in.srcStart), in.srcEnd)
	if err != nil {
		return fmt.Errorf("reconcile %v: %w", in.tp, err)
	}
	defer src.close()
	sp := alignSpec{
		srcNext: cp.SrcNext, tgtNext: cp.TgtNext, tgtEnd: in.tgtEnd,
		srcStart: in.srcStart, srcEnd: in.srcEnd, tgtStart: in.tgtStart,
		srcCompacted: in.srcCompacted, tgtCompacted: in.tgtCompacted,
		srcName: in.tp.String(), tgtName: tgtName,
	}
	c, err := alignTail(sp, tgt, src, lockedSink{p})
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, p.expectTgt = p.m.Next()
	p.lastHash = c.last
	p.dirty = true
	how := ", each matched by SHA-256"
	if c.matched != k {
		var parts []string
		for _, n := range []struct {
			n    int64
			what string
		}{
			{c.matched, "matched by SHA-256"},
			{c.srcCompacted, "whose source record compaction removed since (not compared)"},
			{c.srcRetention, "whose source record retention deleted since (not compared)"},
			{c.tgtHoles - c.tgtRetention, "removed by target compaction"},
			{c.tgtRetention, "removed by target retention"},
		} {
			if n.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n.n, n.what))
			}
		}
		how = ": " + strings.Join(parts, ", ")
		if c.bothRemoved > 0 {
			how += fmt.Sprintf(" (%d of those with no record on either side)", c.bothRemoved)
		}
	}
	next, _ := p.m.Next()
	e.event("info", in.tp.Topic, "source %v: adopted %d records written to target %s after the last checkpoint (offsets %d to %d)%s; the copy resumes at source offset %d",
		in.tp, k, tgtName, cp.TgtNext, cp.TgtNext+k-1, how, next)
	return nil
}

// checkBoundary checks that the target still holds, at the checkpoint's last
// offset, the record kmigrate wrote there. On a compacted target compaction
// may have removed it: that is no sign of another writer (the topic is the
// one the state is bound to, by topic id), and the records after it are
// checked one by one anyway.
func (e *Engine) checkBoundary(in resumeInput, cp offsetmap.Checkpoint, first *tailRecord, tgtName string) error {
	at := cp.TgtNext - 1
	if first != nil && first.offset == at {
		if first.sum != recordhash.Sum(cp.Hash) {
			return fmt.Errorf("target %s offset %d is not the record kmigrate wrote there (its SHA-256 differs from the checkpoint's): the topic was recreated or rewritten by someone else; refusing to continue this partition",
				tgtName, at)
		}
		return nil
	}
	next := in.tgtEnd
	if first != nil {
		next = first.offset
	}
	if !in.tgtCompacted {
		return fmt.Errorf("target %s has no record at offset %d, the last one kmigrate wrote before its checkpoint (the next is at %d), and the topic is not compacted: records were removed from the target by someone else; refusing to continue this partition",
			tgtName, at, next)
	}
	e.event("info", in.tp.Topic, "target %s: the record kmigrate wrote at offset %d before the last checkpoint was removed by compaction (the topic is compacted); the boundary check is skipped",
		tgtName, at)
	return nil
}

// lockedSink hands alignTail's results to a partition's map under its lock.
type lockedSink struct{ p *partition }

func (s lockedSink) Append(src int64) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.m.Append(src)
}

func (s lockedSink) Advance(next int64) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.m.Advance(next)
}

// partReader streams the records of one partition in [from, end) for
// reconciliation, with one client. Source reads use read_committed and keep
// control records (to know where they are); target reads see everything, and
// a control record there is another writer's: kmigrate never writes one.
type partReader struct {
	ctx      context.Context
	cl       *kgo.Client
	role     kafka.Role
	name     string
	end      int64
	pos      int64 // the next offset that may come
	buf      []*kgo.Record
	controls []int64
	back     *tailRecord
	h        *recordhash.Hasher
}

func (e *Engine) openReader(ctx context.Context, role kafka.Role, topic string, partition int32, from, end int64) (*partReader, error) {
	c := e.cfg.Target
	if role == kafka.Source {
		c = e.cfg.Source
	}
	opts := []kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.KeepControlRecords(),
		// An offset out of range (the log start moved meanwhile) is an
		// error, never a silent restart elsewhere.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
	}
	if role == kafka.Source {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := e.builder.Client(ctx, role, c, opts...)
	if err != nil {
		return nil, readError{err}
	}
	return &partReader{ctx: ctx, cl: cl, role: role, name: fmt.Sprintf("%s %s[%d]", role, topic, partition),
		end: end, pos: from, h: recordhash.New()}, nil
}

func (r *partReader) close() { r.cl.Close() }

// unread puts back the record next returned last.
func (r *partReader) unread(t tailRecord) { r.back = &t }

// next returns the next data record before end; ok is false at end.
func (r *partReader) next() (tailRecord, bool, error) {
	if b := r.back; b != nil {
		r.back = nil
		return *b, true, nil
	}
	for {
		for len(r.buf) > 0 {
			rec := r.buf[0]
			r.buf = r.buf[1:]
			if rec.Offset < r.pos {
				continue
			}
			if rec.Offset >= r.end {
				r.pos, r.buf = r.end, nil
				break
			}
			r.pos = rec.Offset + 1
			if rec.Attrs.IsControl() {
				if r.role == kafka.Target {
					return tailRecord{}, false, targetMarkerError(r.name, rec.Offset)
				}
				r.controls = append(r.controls, rec.Offset)
				continue
			}
			t := tailRecord{offset: rec.Offset, sum: r.h.Record(rec), rec: rec, controls: r.controls}
			r.controls = nil
			return t, true, nil
		}
		if r.pos >= r.end {
			return tailRecord{}, false, nil
		}
		if err := r.fetch(); err != nil {
			return tailRecord{}, false, err
		}
	}
}

// targetMarkerError is the error for a transaction marker found on the target
// partition name (named with its role): kmigrate never writes one.
func targetMarkerError(name string, offset int64) error {
	return fmt.Errorf("%s offset %d is a transaction marker: kmigrate never writes one, another producer wrote transactions to this partition; refusing to continue this partition",
		name, offset)
}

// fetch waits up to the read timeout for more records.
func (r *partReader) fetch() error {
	ctx, cancel := context.WithTimeout(r.ctx, readTimeout)
	defer cancel()
	for len(r.buf) == 0 {
		fs := r.cl.PollFetches(ctx)
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return readError{fmt.Errorf("read %s: no record at or after offset %d within %s (the partition ends at %d)", r.name, r.pos, readTimeout, r.end)}
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && ferr == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return readError{fmt.Errorf("read %s from offset %d: %w", r.name, r.pos, ferr)}
		}
		r.buf = fs.Records()
	}
	return nil
}
