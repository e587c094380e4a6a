// Package replicate is kmigrate's copy engine. Each selected source partition is
// copied to the same partition number of its target topic, record by record: key,
// value (null stays null), headers and timestamp are kept and nothing is
// deserialized. Sources are read with read_committed, so aborted and control
// records are never copied; the target producer is idempotent with acks=all.
//
// The engine is the only writer of its target partitions, so target offsets are
// contiguous and an exact offset map (package offsetmap) records which source
// offsets were copied. Only acknowledged records enter the map, and the map is
// persisted on the target (package state) as replication advances. After a crash,
// the records written after the last checkpoint are matched one by one against
// the source by SHA-256 and adopted (tail reconciliation), so no record is lost
// and none is written twice. Any mismatch stops that partition with an error that
// names it; other partitions go on.
//
// The unit of work is the partition: everything here is per partition, so that
// partitions can later be spread over several processes.
package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// Options change how Run behaves.
type Options struct {
	// UntilCaughtUp stops Run, with a nil error, once every partition has copied
	// up to the source end offsets (last stable offsets) seen at start.
	UntilCaughtUp bool
	// Events receives notable events (topic created, data lost to retention,
	// partition failed); nil discards them.
	Events func(Event)
	// Start, for partitions never copied before, copies from a given source
	// offset onto a target partition that already holds records, instead of
	// from the source log start onto an empty one: the reverse copy after a
	// cutover continues from the switch point. A partition in Start whose
	// target does not end exactly at TargetEnd is refused.
	Start map[TP]StartAt
	// KeepTargetConfigs leaves the configs of existing target topics as they
	// are (the reverse copy writes to the original source topics).
	KeepTargetConfigs bool
}

// StartAt is where a partition's first copy begins: source offset From,
// appended to a target partition that ends at TargetEnd.
type StartAt struct {
	From, TargetEnd int64
}

// Event is something an operator should see in the event log of the dashboard.
type Event struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // info, warn, error
	Topic   string    `json:"topic,omitempty"`
	Message string    `json:"message"`
}

// Engine copies the selected topics of the source to the target.
type Engine struct {
	cfg     *config.Config
	log     *slog.Logger
	builder *kafka.Builder
	metrics *Metrics
	now     func() time.Time

	src    *kgo.Client // consumes, and answers admin requests
	srcAdm *kadm.Client
	tgt    *kgo.Client // produces records, fenced
	// tgtRead is unfenced, for the few reads that must work after the lease lapsed.
	tgtRead *kgo.Client
	// sealed is the cutover's seal that stopped the copy (under mu).
	sealed *Seal
	tgtAdm *kadm.Client
	store  *state.Store
	// lockCtx ends when the writer lock is lost; records are produced under it.
	lockCtx context.Context
	// fence stops every write to the target once this process's writer lease
	// lapses; the writer lock extends it.
	fence    *kafka.Fence
	limiter  *rate.Limiter
	opts     Options
	started  time.Time
	hasher   *recordhash.Hasher // checkpointer only
	initDone chan struct{}
	// checkpointMu serialises checkpoints (the loop and the final one).
	checkpointMu sync.Mutex

	mu    sync.RWMutex
	parts map[TP]*partition
	specs map[string]scope.TopicSpec // by source topic
	// deleted lists source topics that disappeared while being copied.
	deleted map[string]bool
	// bindings are the topic ids each source topic's maps belong to (from the
	// state, then as topics start); broken lists topics stopped because their
	// identity changed.
	bindings map[string]state.TopicIDs
	broken   map[string]bool
	// anyFailed is raised when a partition fails, for the poll loop to report
	// it and stop fetching it.
	anyFailed atomic.Bool
	// recoveries are the running recoverPartition calls.
	recoveries sync.WaitGroup
	// share is set for a shared migration (replication.scale_out; shared.go).
	share *shareState
	// holder is this process's random id in the writer group.
	holder string
}

// New builds an engine; Run connects.
func New(cfg *config.Config, log *slog.Logger, builder *kafka.Builder, metrics *Metrics) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if builder == nil {
		builder = &kafka.Builder{}
	}
	e := &Engine{
		cfg: cfg, log: log, builder: builder, metrics: metrics, now: time.Now,
		parts: map[TP]*partition{}, specs: map[string]scope.TopicSpec{}, deleted: map[string]bool{},
		bindings: map[string]state.TopicIDs{}, broken: map[string]bool{},
		hasher: recordhash.New(), initDone: make(chan struct{}), fence: kafka.NewFence(),
	}
	if cfg.Replication.ScaleOut {
		e.share = newShareState(cfg.HTTP.Listen)
	}
	if n := cfg.Replication.MaxBytesPerSecond; n > 0 {
		// A burst of a tenth of a second keeps the rate smooth from the start.
		e.limiter = rate.NewLimiter(rate.Limit(n), int(max(n/10, 16<<10)))
	}
	return e
}

// Run copies until ctx is done (then it flushes, checkpoints and returns nil) or,
// with UntilCaughtUp, until the copy reaches the source end offsets seen at start.
// It returns an error when it cannot start, or when a partition failed and
// UntilCaughtUp was asked for.
func (e *Engine) Run(ctx context.Context, opts Options) error {
	e.opts = opts
	e.started = e.now()
	if e.share != nil && opts.UntilCaughtUp {
		return errSharedUntilCaughtUp
	}
	defer e.close()
	if err := e.connectSource(ctx); err != nil {
		return err
	}
	// One writer per migration: wait for a crashed predecessor's membership to
	// expire, refuse if another process is alive. The lock's lease opens the
	// fence of the target clients built below. A shared migration's
	// processes share the partitions through the same group instead.
	var share *sharing
	if e.share != nil {
		share = e.shared()
	}
	lock, err := acquireLock(ctx, e.src, e.log, e.fence, WriterGroup(e.cfg.Migration), lockSession+2*time.Second, share)
	if err != nil {
		return err
	}
	e.holder = lock.holder
	if e.share == nil {
		e.metrics.lead(true)
	}
	lock.event = func(level, format string, args ...any) { e.event(level, "", format, args...) }
	clean := false
	defer func() { lock.release(clean) }()
	ctx, stopCopy := context.WithCancelCause(ctx)
	// Records are produced under lockCtx, which ends only when the lock is
	// lost: then every record not yet sent fails at once instead of waiting,
	// fenced, for a buffer that never drains.
	var lockLost context.CancelCauseFunc
	e.lockCtx, lockLost = context.WithCancelCause(context.Background())
	defer lockLost(nil)
	var keeper sync.WaitGroup
	keeper.Go(func() {
		if err := lock.keep(ctx); err != nil {
			e.event("error", "", "%v: stopping at once", err)
			lockLost(err)
			stopCopy(err)
		}
	})
	defer func() {
		stopCopy(nil)
		keeper.Wait()
	}()

	if err := e.connectTarget(ctx); err != nil {
		return err
	}
	if e.share != nil {
		return e.runShared(ctx, stopCopy, func(c bool) { clean = c })
	}
	if err := lock.claim(ctx, e.cfg.Migration, e.store.Topic(), e.tgt, e.tgtRead); err != nil {
		return err
	}
	// A sealed migration is not copied forward any more: its cutover made
	// the target the system of record.
	seal, err := ReadSeal(ctx, e.tgtReadAdm(), e.cfg.Migration, e.store.Topic())
	if err != nil {
		return err
	}
	if seal != nil {
		return sealError(e.cfg.Migration, seal)
	}
	// A predecessor that did not stop cleanly may have requests in flight:
	// read nothing of the target before they landed or died.
	if err := lock.waitGrace(ctx); err != nil {
		return err
	}
	st, err := e.store.Load(ctx)
	if err != nil {
		return err
	}
	e.log.Info("loaded state", "topic", e.store.Topic(), "partitions", len(st.Partitions))
	e.mu.Lock()
	for name, ids := range st.Topics {
		e.bindings[name] = ids
	}
	e.mu.Unlock()
	if err := e.writeBaseline(ctx, st); err != nil {
		// Status falls back to the current source end offsets; the next
		// start tries again.
		e.log.Warn("baseline not recorded", "err", err)
	}
	if err := e.discover(ctx, st); err != nil {
		return err
	}
	close(e.initDone)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { e.checkpointLoop(runCtx) })
	wg.Go(func() { e.discoveryLoop(runCtx, st) })
	wg.Go(func() { e.idleLoop(runCtx) })
	wg.Go(func() { e.foreignLoop(runCtx) })
	wg.Go(func() { e.sealLoop(runCtx, stopCopy) })

	err = e.copyLoop(runCtx)
	cancel()
	wg.Wait()
	e.recoveries.Wait()
	if cause := context.Cause(ctx); errors.Is(cause, ErrLockLost) {
		// Another process may be writing now: no flush, no checkpoint.
		return cause
	}
	flushed, ferr := e.shutdown()
	if ferr != nil && err == nil {
		err = ferr
	}
	clean = flushed && ferr == nil
	if err == nil && opts.UntilCaughtUp {
		err = e.failures()
	}
	return err
}

// connectSource builds the source client.
func (e *Engine) connectSource(ctx context.Context) error {
	r := e.cfg.Replication
	var err error
	e.src, err = e.builder.InstrumentedClient(ctx, kafka.Source, e.cfg.Source,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(r.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(r.FetchMaxPartitionBytes),
		kgo.BrokerMaxReadBytes(2*r.FetchMaxBytes+1<<20),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return err
	}
	e.srcAdm = kadm.NewClient(e.src)
	return kafka.Ping(ctx, kafka.Source, e.cfg.Source, e.src)
}

// connectTarget builds the target writer, fenced by the writer lock's lease,
// and makes sure the state topic exists.
func (e *Engine) connectTarget(ctx context.Context) error {
	r := e.cfg.Replication
	fenced := *e.builder
	fenced.Fence = e.fence
	var err error
	e.tgt, err = fenced.InstrumentedClient(ctx, kafka.Target, e.cfg.Target,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec(r.Compression)),
		kgo.ProducerLinger(r.Linger.Duration),
		kgo.ProducerBatchMaxBytes(r.BatchMaxBytes),
		kgo.MaxBufferedBytes(bufferedBytes(r)),
		kgo.MaxBufferedRecords(1<<20),
		// Records are only ever cancelled when the writer lock is lost (their
		// context is the lock's), and a process that lost the lock produces
		// nothing again: cancelling a batch in flight cannot turn into a
		// duplicate here, and without this a fenced batch would wait forever.
		kgo.AllowIdempotentProduceCancellation(),
	)
	if err != nil {
		return err
	}
	e.tgtAdm = kadm.NewClient(e.tgt)
	if err := kafka.Ping(ctx, kafka.Target, e.cfg.Target, e.tgt); err != nil {
		return err
	}
	if e.tgtRead, err = e.builder.Client(ctx, kafka.Target, e.cfg.Target); err != nil {
		return err
	}
	e.store = state.NewStore(e.tgt, e.cfg.Migration, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return e.builder.Client(ctx, kafka.Target, e.cfg.Target, opts...)
	})
	return e.store.Ensure(ctx)
}

func (e *Engine) close() {
	if e.src != nil {
		e.src.Close()
	}
	if e.tgt != nil {
		e.tgt.Close()
	}
	if e.tgtRead != nil {
		e.tgtRead.Close()
	}
}

// bufferedBytes bounds the records waiting for the target's acknowledgement: two
// full fetches, enough to keep the producer busy while the next fetch arrives,
// and the main term of the process's memory.
func bufferedBytes(r config.Replication) int {
	return int(2 * r.FetchMaxBytes)
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func (e *Engine) event(level, topic, format string, args ...any) {
	ev := Event{Time: e.now(), Level: level, Topic: topic, Message: fmt.Sprintf(format, args...)}
	switch level {
	case "error":
		e.log.Error(ev.Message, "topic", topic)
	case "warn":
		e.log.Warn(ev.Message, "topic", topic)
	default:
		e.log.Info(ev.Message, "topic", topic)
	}
	if e.opts.Events != nil {
		e.opts.Events(ev)
	}
}

// discover plans the selected topics, creates or updates them on the target and
// starts copying every partition not copied yet. It runs at start and every
// discovery interval.
func (e *Engine) discover(ctx context.Context, st *state.State) error {
	topics, err := scope.SourceTopics(ctx, e.srcAdm, &e.cfg.Topics)
	if err != nil {
		return err
	}
	brokers, err := e.tgtAdm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("list target brokers: %w", err)
	}
	specs, err := scope.Specs(ctx, e.srcAdm, topics, e.cfg, len(brokers))
	if err != nil {
		return err
	}
	e.noteDeletedTopics(topics)
	// A topic recreated on either side stops before anything is created or
	// written for it; a bound topic whose target was deleted is not recreated.
	if specs, err = e.checkIdentity(ctx, topics, specs); err != nil {
		return err
	}
	actions, err := ensureTopics(ctx, e.tgtAdm, specs, !e.opts.KeepTargetConfigs)
	if err != nil {
		return err
	}
	failed := map[string]bool{}
	for _, a := range actions {
		switch {
		case a.Err != nil:
			failed[a.Topic] = true
			e.event("error", a.Topic, "%v", a.Err)
		case a.Action != "exists":
			e.event("info", a.Topic, "target topic %s %s (%s)", a.Topic, a.Action, a.Detail)
		}
	}
	var start []scope.TopicSpec
	e.mu.Lock()
	for _, s := range specs {
		if failed[s.Target] {
			continue
		}
		old, known := e.specs[s.Source]
		e.specs[s.Source] = s
		e.metrics.topicStarted(s.Source)
		if !known || old.Partitions < s.Partitions {
			start = append(start, s)
		}
	}
	e.mu.Unlock()
	if len(start) == 0 {
		return nil
	}
	if err := e.bind(ctx, topics, start); err != nil {
		return err
	}
	if e.share != nil {
		// The group's next generation hands the new partitions out.
		e.share.sharing.requestRejoin()
		return nil
	}
	return e.startPartitions(ctx, st, start, nil, nil)
}

func (e *Engine) noteDeletedTopics(present kadm.TopicDetails) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name := range e.specs {
		if _, ok := present[name]; ok || e.deleted[name] {
			continue
		}
		e.deleted[name] = true
		var drop []int32
		for tp := range e.parts {
			if tp.Topic == name {
				drop = append(drop, tp.Partition)
			}
		}
		e.src.RemoveConsumePartitions(map[string][]int32{name: drop})
		e.event("warn", name, "source topic %s was deleted or is no longer selected; its target topic is kept as it is", name)
	}
}

// startPartitions resumes or starts every partition of specs not yet running;
// with only set, only those of its partitions.
//
// The partitions' records are produced under produce (nil: the lock's
// context).
func (e *Engine) startPartitions(ctx context.Context, st *state.State, specs []scope.TopicSpec, only map[TP]bool, produce context.Context) error {
	if produce == nil {
		produce = e.lockCtx
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Source)
	}
	srcStarts, err := e.srcAdm.ListStartOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("list source start offsets: %w", err)
	}
	// The source ends seen now: the goal of --until-caught-up, and the lag
	// until the first fetch reports it.
	ends, err := e.srcAdm.ListCommittedOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("list source end offsets: %w", err)
	}
	var tgtNames []string
	for _, s := range specs {
		tgtNames = append(tgtNames, s.Target)
	}
	// Topics created a moment ago may not have leaders yet: wait for them.
	var tgtStarts, tgtEnds kadm.ListedOffsets
	err = retry(ctx, 30*time.Second, func() error {
		if tgtStarts, err = e.tgtAdm.ListStartOffsets(ctx, tgtNames...); err != nil {
			return fmt.Errorf("list target start offsets: %w", err)
		}
		if tgtEnds, err = e.tgtAdm.ListEndOffsets(ctx, tgtNames...); err != nil {
			return fmt.Errorf("list target end offsets: %w", err)
		}
		for _, s := range specs {
			for p := int32(0); p < s.Partitions; p++ {
				for _, l := range []kadm.ListedOffsets{tgtStarts, tgtEnds} {
					if o, ok := l.Lookup(s.Target, p); !ok || o.Err != nil {
						return fmt.Errorf("list offsets of target %s[%d]: %v", s.Target, p, lookupErr(o, ok))
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	limits, tgtCompacted, err := e.targetLimits(ctx, tgtNames)
	if err != nil {
		return err
	}
	for _, s := range specs {
		if err := e.waitProducerPartitions(ctx, s.Target, s.Partitions); err != nil {
			return err
		}
	}
	var ins []resumeInput
	for _, s := range specs {
		for p := int32(0); p < s.Partitions; p++ {
			tp := TP{Topic: s.Source, Partition: p}
			e.mu.RLock()
			_, running := e.parts[tp]
			e.mu.RUnlock()
			if running || (only != nil && !only[tp]) {
				continue
			}
			in := resumeInput{
				tp: tp, tgtTopic: s.Target,
				saved:        st.Partitions[state.Key{Topic: tp.Topic, Partition: p}],
				srcCompacted: s.Compacted, tgtCompacted: tgtCompacted[s.Target],
			}
			if o, ok := ends.Lookup(s.Source, p); ok && o.Err == nil {
				in.srcEnd = o.Offset
			} else {
				return fmt.Errorf("list end offset of source %s: %v", tp, lookupErr(o, ok))
			}
			if at, ok := e.opts.Start[tp]; ok {
				in.start = &at
			}
			if o, ok := srcStarts.Lookup(s.Source, p); ok && o.Err == nil {
				in.srcStart = o.Offset
			} else {
				return fmt.Errorf("list start offset of source %s: %v", tp, lookupErr(o, ok))
			}
			if o, ok := tgtStarts.Lookup(s.Target, p); ok && o.Err == nil {
				in.tgtStart = o.Offset
			} else {
				return fmt.Errorf("list start offset of target %s[%d]: %v", s.Target, p, lookupErr(o, ok))
			}
			if o, ok := tgtEnds.Lookup(s.Target, p); ok && o.Err == nil {
				in.tgtEnd = o.Offset
			} else {
				return fmt.Errorf("list end offset of target %s[%d]: %v", s.Target, p, lookupErr(o, ok))
			}
			ins = append(ins, in)
		}
	}
	e.prefetchPoints(ctx, ins)
	type resumed struct {
		part *partition
		from int64
		err  error
	}
	res := make([]resumed, len(ins))
	var fresh []*partition
	var freshIdx []int
	for i, in := range ins {
		part, from, err := e.resume(ctx, in, limits[in.tgtTopic])
		res[i] = resumed{part, from, err}
		if err == nil && in.saved == nil {
			fresh, freshIdx = append(fresh, part), append(freshIdx, i)
		}
	}
	if err := e.checkpointNew(ctx, fresh); err != nil {
		for _, i := range freshIdx {
			res[i].err = fmt.Errorf("write initial checkpoint of %v: %w", ins[i].tp, err)
		}
	}
	consume := map[string]map[int32]kgo.Offset{}
	for i, in := range ins {
		tp := in.tp
		part, from, err := res[i].part, res[i].from, res[i].err
		if err != nil {
			e.event("error", tp.Topic, "%v", err)
			part = failedPartition(tp, in.tgtTopic, err)
		}
		part.srcHWM, part.srcLSO, part.srcLogStart = in.srcEnd, in.srcEnd, in.srcStart
		if e.opts.UntilCaughtUp {
			part.goal = in.srcEnd
		}
		part.metrics, part.anyFailed = e.metrics, &e.anyFailed
		e.mu.RLock()
		part.srcTopicID = e.bindings[tp.Topic].Source
		e.mu.RUnlock()
		if part.Err() != nil && !part.reported {
			e.anyFailed.Store(true) // failed while resuming
		}
		e.mu.Lock()
		e.parts[tp] = part
		e.mu.Unlock()
		if err != nil {
			continue
		}
		part.produceUnder(produce)
		if consume[tp.Topic] == nil {
			consume[tp.Topic] = map[int32]kgo.Offset{}
		}
		consume[tp.Topic][tp.Partition] = kgo.NewOffset().At(from)
	}
	if len(consume) > 0 {
		e.src.AddConsumePartitions(consume)
	}
	return nil
}

// waitProducerPartitions makes sure the producer knows every partition of a
// target topic whose partition count just grew: franz-go fails a record whose
// partition is beyond the count it has cached. A topic it has not loaded yet is
// loaded on the first record, so there is nothing to wait for.
func (e *Engine) waitProducerPartitions(ctx context.Context, topic string, n int32) error {
	if leader, _, _ := e.tgt.PartitionLeader(topic, 0); leader < 0 {
		return nil
	}
	return retry(ctx, 30*time.Second, func() error {
		if leader, _, _ := e.tgt.PartitionLeader(topic, n-1); leader < 0 {
			e.tgt.ForceMetadataRefresh()
			return fmt.Errorf("the producer does not see partition %d of target %s yet", n-1, topic)
		}
		return nil
	})
}

// retry calls f until it succeeds or timeout passes, returning its last error.
func retry(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func lookupErr(o kadm.ListedOffset, ok bool) error {
	if !ok {
		return errors.New("not in the response")
	}
	return o.Err
}

// targetLimits returns, per target topic, the largest record (key, value and
// headers) that is sure to fit both the producer's batch limit and the topic's
// max.message.bytes, with room for the batch and record overhead; and whether
// the topic is compacted (cleanup.policy includes compact), which tail
// reconciliation needs to know.
func (e *Engine) targetLimits(ctx context.Context, topics []string) (map[string]int64, map[string]bool, error) {
	rcs, err := e.tgtAdm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, nil, fmt.Errorf("describe target topic configs: %w", err)
	}
	const overhead = 61 + 21 // record batch header + the largest record header
	out, compacted := map[string]int64{}, map[string]bool{}
	for _, rc := range rcs {
		limit := int64(e.cfg.Replication.BatchMaxBytes)
		for _, c := range rc.Configs {
			switch {
			case c.Value == nil:
			case c.Key == "max.message.bytes":
				if v, err := strconv.ParseInt(*c.Value, 10, 64); err == nil {
					limit = min(limit, v)
				}
			case c.Key == "cleanup.policy":
				compacted[rc.Name] = strings.Contains(*c.Value, "compact")
			}
		}
		out[rc.Name] = limit - overhead
	}
	return out, compacted, nil
}

// copyLoop polls the source and produces to the target until ctx is done or,
// with UntilCaughtUp, every partition reached its goal.
func (e *Engine) copyLoop(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		if e.opts.UntilCaughtUp && e.allCaughtUp() {
			return nil
		}
		pollCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fetches := e.src.PollRecords(pollCtx, 10000)
		cancel()
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			var dl *kgo.ErrDataLoss
			if errors.As(err, &dl) {
				e.sourceTruncated(dl)
				return
			}
			e.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			e.metrics.countError("fetch")
		})
		fetches.EachTopic(func(ft kgo.FetchTopic) {
			for _, fp := range ft.Partitions {
				if fp.Err != nil && len(fp.Records) == 0 {
					continue
				}
				e.mu.RLock()
				p := e.parts[TP{Topic: ft.Topic, Partition: fp.Partition}]
				spec := e.specs[ft.Topic]
				e.mu.RUnlock()
				if p == nil {
					continue
				}
				// Records of a topic recreated under the same name must
				// never follow the old topic's on the target.
				if id := offsetmap.TopicID(ft.TopicID); id != (offsetmap.TopicID{}) && p.srcTopicID != (offsetmap.TopicID{}) && id != p.srcTopicID {
					e.src.RemoveConsumePartitions(map[string][]int32{ft.Topic: nil})
					e.stopTopic(spec, identityError("source", ft.Topic, p.srcTopicID, id, ft.Topic))
					continue
				}
				e.copyPartition(ctx, p, fp)
			}
		})
		if e.anyFailed.Swap(false) {
			e.stopFailed(ctx)
		}
	}
}

// stopFailed reports the partitions that failed since the last call and stops
// fetching them. A partition fails in the poll loop or in a produce promise; both
// raise anyFailed, so the loop scans only when something happened.
//
// A partition paused by a write error that may heal stops being fetched too,
// and recoverPartition brings it back (recover.go).
func (e *Engine) stopFailed(ctx context.Context) {
	failed := map[string][]int32{}
	for _, p := range e.snapshotParts() {
		p.mu.Lock()
		err, reported := p.err, p.reported
		recover := p.recovering != nil && !p.recoverStarted && err == nil
		if err != nil {
			p.reported = true
		}
		if recover {
			p.recoverStarted = true
		}
		p.mu.Unlock()
		switch {
		case err != nil && !reported:
			failed[p.tp.Topic] = append(failed[p.tp.Topic], p.tp.Partition)
			e.event("error", p.tp.Topic, "partition %s stopped: %v", p.tp, err)
			e.metrics.countError("partition")
		case recover:
			e.src.RemoveConsumePartitions(map[string][]int32{p.tp.Topic: {p.tp.Partition}})
			e.recoveries.Go(func() { e.recoverPartition(ctx, p) })
		}
	}
	if len(failed) > 0 {
		e.src.RemoveConsumePartitions(failed)
	}
}

// copyPartition handles one partition of a fetch: detects gaps and data lost to
// retention, skips control records and produces the rest.
func (e *Engine) copyPartition(ctx context.Context, p *partition, fp kgo.FetchPartition) {
	p.mu.Lock()
	if p.err != nil || p.recovering != nil || p.stopping {
		p.mu.Unlock()
		return
	}
	p.srcHWM, p.srcLSO, p.srcLogStart = fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset
	p.lastFetch = e.now()
	var produce []*kgo.Record
	for _, r := range fp.Records {
		switch {
		case r.Offset < p.srcPos:
			// Already handled: a fetch can repeat records after a reset.
			continue
		case r.Offset > p.srcPos && fp.LogStartOffset > p.srcPos:
			// The source deleted records before we read them.
			e.loseLocked(p, p.srcPos, min(r.Offset, fp.LogStartOffset))
		}
		p.srcPos = r.Offset + 1
		if r.Attrs.IsControl() {
			if err := p.skipLocked(r.Offset); err != nil {
				p.failLocked(fmt.Errorf("%s: %w", p.tp, err))
				break
			}
			continue
		}
		size := int64(len(r.Key) + len(r.Value))
		for _, h := range r.Headers {
			size += int64(len(h.Key) + len(h.Value) + 10)
		}
		if size > p.maxRecordBytes {
			p.failLocked(fmt.Errorf("source %s offset %d: the record is %d bytes, more than target topic %s accepts (%d with its max.message.bytes and replication.batch_max_bytes); raise them on the target", p.tp, r.Offset, size, p.tgtTopic, p.maxRecordBytes))
			break
		}
		p.inflight = append(p.inflight, pending{src: r.Offset})
		p.sent++
		r.Topic = p.tgtTopic
		produce = append(produce, r)
	}
	pctx := p.produceCtx
	p.mu.Unlock()
	if pctx == nil {
		pctx = e.lockCtx
	}
	for _, r := range produce {
		if e.limiter != nil {
			e.throttle(ctx, len(r.Key)+len(r.Value))
		}
		// Producing under the lock's context (the partition's child of it),
		// not the run's, keeps shutdown from cancelling records in the
		// middle of a partition, which would leave a gap; the shutdown flush
		// has its own deadline instead.
		r.Context = nil
		e.tgt.Produce(pctx, r, p.onAck)
	}
}

// sourceTruncated stops a partition whose source log was truncated below what
// was already copied (an unclean leader election, or a replica that lost
// data): the target holds records the source no longer has, and new source
// records will reuse their offsets, which no exact map can describe. The
// consumer would move on silently; the partition stops loudly instead.
func (e *Engine) sourceTruncated(dl *kgo.ErrDataLoss) {
	e.mu.RLock()
	p := e.parts[TP{Topic: dl.Topic, Partition: dl.Partition}]
	e.mu.RUnlock()
	if p == nil {
		return
	}
	lost := dl.ConsumedTo - dl.ResetTo
	p.mu.Lock()
	p.failLocked(fmt.Errorf("source %s lost offsets %d to %d after kmigrate had read them (unclean leader election or log truncation on the source): the target holds %d records the source no longer has and new source records would reuse their offsets; stopped. Check the source cluster, then start the topic over with `kmigrate reset --topic %s`",
		p.tp, dl.ResetTo, dl.ConsumedTo-1, lost, p.tp.Topic))
	p.mu.Unlock()
	if e.metrics != nil && lost > 0 {
		e.metrics.LostRecords.WithLabelValues(p.tp.Topic).Add(float64(lost))
	}
}

// loseLocked records that source offsets [from, to) were deleted by retention
// before they were copied: reported loudly (event, metric, status, state), and
// the map moves past them so that translation stays exact for what was copied.
// With records in flight the map moves when the last of them is acknowledged.
func (e *Engine) loseLocked(p *partition, from, to int64) {
	lost := state.LostRange{From: from, To: to, DetectedMilli: e.now().UnixMilli()}
	p.lost = append(p.lost, lost)
	p.dirty = true
	if len(p.inflight) == 0 {
		if err := p.m.Advance(to); err != nil {
			p.failLocked(fmt.Errorf("%v: %w", p.tp, err))
		}
	}
	e.event("error", p.tp.Topic, "source %s: offsets %d to %d were deleted by retention before they were copied (%d records at most)",
		p.tp, lost.From, lost.To-1, lost.To-lost.From)
	if e.metrics != nil {
		e.metrics.LostRecords.WithLabelValues(p.tp.Topic).Add(float64(lost.To - lost.From))
	}
}

// throttle waits until n more bytes may be copied. On shutdown the wait ends
// early: records already queued in inflight must still be produced, to keep
// inflight and the producer in step.
func (e *Engine) throttle(ctx context.Context, n int) {
	for burst := e.limiter.Burst(); n > 0 && ctx.Err() == nil; n -= burst {
		_ = e.limiter.WaitN(ctx, min(n, burst))
	}
}

func (e *Engine) snapshotParts() []*partition {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*partition, 0, len(e.parts))
	for _, p := range e.parts {
		out = append(out, p)
	}
	return out
}

func (e *Engine) allCaughtUp() bool {
	select {
	case <-e.initDone:
	default:
		return false
	}
	for _, p := range e.snapshotParts() {
		if p.Err() == nil && !p.caughtUp() {
			return false
		}
	}
	return true
}

func (e *Engine) failures() error {
	var errs []error
	parts := e.snapshotParts()
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].tp.Topic != parts[j].tp.Topic {
			return parts[i].tp.Topic < parts[j].tp.Topic
		}
		return parts[i].tp.Partition < parts[j].tp.Partition
	})
	for _, p := range parts {
		if err := p.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d partition(s) failed:\n%w", len(errs), errors.Join(errs...))
}

// checkpointOutage is how long checkpoints may fail before the engine stops
// taking new source data: what is written after the last checkpoint must be
// reconciled after a crash, so its size stays bounded by this much copying.
func checkpointOutage(interval time.Duration) time.Duration { return max(30*time.Second, 10*interval) }

// checkpointLoop persists progress every checkpoint interval. While the state
// topic cannot be written for longer than checkpointOutage, source fetching is
// paused; it resumes with the first checkpoint that lands.
func (e *Engine) checkpointLoop(ctx context.Context) {
	interval := e.cfg.Replication.CheckpointInterval.Duration
	t := time.NewTicker(interval)
	defer t.Stop()
	lastOK, paused := e.now(), false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := e.checkpointSome(ctx, e.cfg.Replication.CheckpointMaxPartitions)
		switch {
		case err == nil:
			lastOK = e.now()
			if paused {
				paused = false
				e.src.ResumeFetchTopics(e.src.GetConsumeTopics()...)
				e.event("info", "", "the state topic takes checkpoints again: copying resumes")
			}
		case ctx.Err() != nil:
			return
		default:
			e.log.Warn("checkpoint failed; retrying at the next interval", "err", err)
			e.metrics.countError("checkpoint")
			if down := e.now().Sub(lastOK); !paused && down > checkpointOutage(interval) {
				paused = true
				e.src.PauseFetchTopics(e.src.GetConsumeTopics()...)
				e.event("error", "", "the state topic %s could not be written for %s (%v): new source data is paused so that what a crash would leave to reconcile stays bounded; copying resumes with the first checkpoint that lands",
					e.store.Topic(), down.Round(time.Second), err)
			}
		}
	}
}

// checkpoint writes the changes of every partition to the state topic.
func (e *Engine) checkpoint(ctx context.Context) error { return e.checkpointSome(ctx, 0) }

// checkpointSome writes the changes of at most limit partitions (0: all),
// those checkpointed longest ago first: the bound on the state topic's write
// rate (replication.checkpoint_max_partitions).
func (e *Engine) checkpointSome(ctx context.Context, limit int) error {
	e.checkpointMu.Lock()
	defer e.checkpointMu.Unlock()
	now := e.now()
	var recs []*kgo.Record
	var done []func()
	var dirty []*partition
	parts := e.snapshotParts()
	if limit > 0 && len(parts) > limit {
		parts = oldestCheckpoints(parts, limit)
	}
	for _, p := range parts {
		r, ok, err := p.checkpoint(e.cfg.Migration, e.hasher, now)
		if err != nil {
			return err
		}
		if ok == nil {
			continue
		}
		recs = append(recs, r...)
		done = append(done, ok)
		dirty = append(dirty, p)
	}
	if len(recs) == 0 {
		return nil
	}
	wctx, done1 := e.stateWriteContext(ctx)
	defer done1()
	if err := e.store.Write(wctx, recs); err != nil {
		for _, p := range dirty {
			p.redirty()
		}
		return err
	}
	for _, f := range done {
		f()
	}
	if e.metrics != nil {
		e.metrics.Checkpoints.Inc()
	}
	return nil
}

// discoveryLoop picks up new topics, partition increases and config changes.
func (e *Engine) discoveryLoop(ctx context.Context, st *state.State) {
	var now <-chan struct{}
	if e.share != nil {
		now = e.share.discoverNow
	}
	t := time.NewTicker(e.cfg.Replication.DiscoveryInterval.Duration)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-now:
		}
		if !e.Leads() {
			continue
		}
		if err := e.discover(ctx, st); err != nil {
			if ctx.Err() == nil {
				e.log.Warn("topic discovery failed; retrying at the next interval", "err", err)
				e.metrics.countError("discovery")
			}
			continue
		}
		if e.share != nil {
			e.discovered(ctx, st)
		}
	}
}

// every calls f every interval until ctx is done; the engine's background
// loops are all of this shape.
func every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// shutdown flushes what is in flight, within the shutdown timeout, and writes a
// final checkpoint. flushed reports whether nothing was left in flight.
func (e *Engine) shutdown() (flushed bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Replication.ShutdownTimeout.Duration)
	defer cancel()
	e.src.PauseFetchTopics(e.src.GetConsumeTopics()...)
	flushed = true
	if err := e.tgt.Flush(ctx); err != nil {
		flushed = false
		e.log.Warn("flush on shutdown did not finish; the next start reconciles what landed", "err", err)
	}
	if err := e.checkpoint(ctx); err != nil {
		return false, fmt.Errorf("final checkpoint: %w", err)
	}
	return flushed, nil
}

// tgtReadAdm returns an admin client over the unfenced target reader.
func (e *Engine) tgtReadAdm() *kadm.Client { return kadm.NewClient(e.tgtRead) }

// Fence returns the fence of the engine's target writes, for other writers of
// the same process (group translation) to share.
func (e *Engine) Fence() *kafka.Fence { return e.fence }

// Status returns a snapshot of every partition, sorted by topic and partition.
func (e *Engine) Status() []PartitionStatus {
	now := e.now()
	parts := e.snapshotParts()
	out := make([]PartitionStatus, 0, len(parts))
	for _, p := range parts {
		out = append(out, p.status(now))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Translate maps a source consumer position through the live offset map of a
// partition; ok is false when the partition is not being copied.
func (e *Engine) Translate(topic string, partition int32, c int64) (offsetmap.Translation, bool) {
	e.mu.RLock()
	p := e.parts[TP{Topic: topic, Partition: partition}]
	broken := e.broken[topic]
	e.mu.RUnlock()
	if p == nil && !broken && e.share != nil {
		return e.remoteTranslate(TP{Topic: topic, Partition: partition}, c)
	}
	if p == nil || broken {
		return offsetmap.Translation{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		return offsetmap.Translation{}, false
	}
	return p.m.Translate(c), true
}

// TargetTopic returns the target name of a source topic being copied.
func (e *Engine) TargetTopic(source string) (string, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s, ok := e.specs[source]
	return s.Target, ok
}

// Ready is closed once the engine has started every partition.
func (e *Engine) Ready() <-chan struct{} { return e.initDone }
