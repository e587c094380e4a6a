package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// A shared migration (replication.scale_out) is copied by every `run` process
// started with its id: they share its source partitions through the writer
// group (assign.go), and each writes only the partitions it was assigned.
//
// A partition changes hands in three steps, each recorded in the state topic
// (partition 0, so in order):
//  1. the new owner claims it (an owner record, written through its fenced
//     client) before it writes anything of it;
//  2. it copies, checkpointing as usual;
//  3. when the group takes it away, the owner stops fetching it, waits until
//     every record it sent has its outcome, writes its final checkpoint and
//     a release record; then it rejoins, and the next generation gives the
//     partition to someone else.
//
// The next owner reads the partition's latest owner record. A release means
// nothing of the partition is in flight. A claim means its owner died or was
// cut off with writes possibly in flight: the next owner waits out the
// fence's grace (the old owner's lease ended before the coordinator expired
// it), then resumes from the last checkpoint and reconciles the tail, exactly
// as after a crash.
//
// The singletons (topic creation and config sync, discovery, the baseline,
// group translation) run on the group's leader only, and move with it.

// ShareProtocol is the writer group's protocol for shared migrations (status
// tells the two kinds of group apart by it); a process of the other mode
// cannot join the same group.
const ShareProtocol = "shared-partitions"

// handoverWait bounds how long a partition being let go waits for its writes
// to be acknowledged before they are cancelled (and the next owner waits out
// the fence's grace instead of taking over at once).
const handoverWait = 15 * time.Second

// sharing connects the writer group's member (lock.go) with the engine.
type sharing struct {
	http    string
	owned   func() []TP
	plan    func(leaderID string, members []kmsg.JoinGroupResponseMember) map[string][]byte
	deliver func(a assignment, leader bool, generation int32)
	lost    func(ctx context.Context)
	rejoin  chan struct{}
}

// requestRejoin asks the member to join again soon (once, however often it
// is asked before it does).
func (s *sharing) requestRejoin() {
	select {
	case s.rejoin <- struct{}{}:
	default:
	}
}

// shareState is the engine's side of a shared migration.
type shareState struct {
	sharing *sharing
	// latest is the newest assignment not yet applied.
	latest chan delivered
	// discoverNow wakes the discovery loop when this process became leader.
	discoverNow chan struct{}

	mu         sync.Mutex
	leader     bool
	discovered bool
	generation int32
	// held are the partitions this process claimed and has not let go.
	held map[TP]bool
	// epoch ends when the membership expired: every write of this process
	// (records and state) is made under the epoch it was decided in, so that
	// nothing decided before the expiry can land after it. epochN counts
	// the epochs; an assignment is applied only in the epoch it came in.
	epoch       context.Context
	endEpoch    context.CancelFunc
	epochN      int
	readyClosed bool
	// remote caches the maps of partitions other processes hold, for the
	// leader's group translation.
	remote     map[TP]*offsetmap.Partition
	remoteRead time.Time
	remoteMu   sync.Mutex
}

type delivered struct {
	a          assignment
	leader     bool
	generation int32
	epoch      int
}

func newShareState(httpAddr string) *shareState {
	s := &shareState{latest: make(chan delivered, 1), discoverNow: make(chan struct{}, 1), held: map[TP]bool{}}
	s.sharing = &sharing{http: httpAddr, rejoin: make(chan struct{}, 1)}
	return s
}

// Leads reports whether this process runs the migration's singletons: always
// for a single-writer migration, only on the group's leader for a shared one.
func (e *Engine) Leads() bool {
	if e.share == nil {
		return true
	}
	e.share.mu.Lock()
	defer e.share.mu.Unlock()
	return e.share.leader
}

// shared wires the engine into the member's callbacks.
func (e *Engine) shared() *sharing {
	s := e.share
	s.sharing.owned = e.ownedPartitions
	s.sharing.plan = e.plan
	s.sharing.deliver = func(a assignment, leader bool, generation int32) {
		s.mu.Lock()
		was := s.leader
		s.leader, s.generation = leader, generation
		if !leader {
			s.discovered = false
		}
		epoch := s.epochN
		s.mu.Unlock()
		e.metrics.lead(leader)
		if leader && !was {
			e.event("info", "", "this process leads the migration now (generation %d): it runs topic creation, discovery and group translation", generation)
			select {
			case s.discoverNow <- struct{}{}:
			default:
			}
		}
		select {
		case <-s.latest:
		default:
		}
		s.latest <- delivered{a, leader, generation, epoch}
	}
	s.sharing.lost = e.dropAll
	return s.sharing
}

// runShared is Run for a shared migration, once the target is connected.
func (e *Engine) runShared(ctx context.Context, stopCopy context.CancelCauseFunc, setClean func(bool)) error {
	// A new target's group coordinator may still be loading.
	var seal *Seal
	err := retryRetriable(ctx, 30*time.Second, func() (err error) {
		seal, err = ReadSeal(ctx, e.tgtReadAdm(), e.cfg.Migration, e.store.Topic())
		return err
	})
	if err != nil {
		return err
	}
	if seal != nil {
		return sealError(e.cfg.Migration, seal)
	}
	st, err := e.store.Load(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	for name, ids := range st.Topics {
		e.bindings[name] = ids
	}
	e.mu.Unlock()
	e.share.mu.Lock()
	e.share.epoch, e.share.endEpoch = context.WithCancel(e.lockCtx)
	e.share.mu.Unlock()
	if e.Leads() {
		select {
		case e.share.discoverNow <- struct{}{}:
		default:
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { e.checkpointLoop(runCtx) })
	wg.Go(func() { e.discoveryLoop(runCtx, st) })
	wg.Go(func() { e.idleLoop(runCtx) })
	wg.Go(func() { e.foreignLoop(runCtx) })
	wg.Go(func() { e.assignLoop(runCtx) })
	wg.Go(func() { e.sealLoop(runCtx, stopCopy) })
	err = e.copyLoop(runCtx)
	cancel()
	wg.Wait()
	e.recoveries.Wait()
	if cause := context.Cause(ctx); errors.Is(cause, ErrLockLost) {
		return cause
	}
	flushed, ferr := e.shutdown()
	if ferr != nil && err == nil {
		err = ferr
	}
	e.releaseAll(flushed && ferr == nil)
	setClean(flushed && ferr == nil)
	return err
}

// discovered notes that the leader planned the topics: the first time after
// it became leader, it writes the baseline if none exists and starts a new
// generation, whose assignments are the real ones.
func (e *Engine) discovered(ctx context.Context, st *state.State) {
	e.share.mu.Lock()
	first := e.share.leader && !e.share.discovered
	if first {
		e.share.discovered = true
	}
	e.share.mu.Unlock()
	if !first {
		return
	}
	if err := e.writeBaseline(ctx, st); err != nil {
		e.log.Warn("baseline not recorded", "err", err)
	}
	e.share.sharing.requestRejoin()
}

// ownedPartitions lists what this process holds, for its join metadata.
func (e *Engine) ownedPartitions() []TP {
	e.share.mu.Lock()
	defer e.share.mu.Unlock()
	out := make([]TP, 0, len(e.share.held))
	for tp := range e.share.held {
		out = append(out, tp)
	}
	slices.SortFunc(out, compareTP)
	return out
}

// plan computes every member's assignment (this process is the leader).
func (e *Engine) plan(leaderID string, members []kmsg.JoinGroupResponseMember) map[string][]byte {
	e.share.mu.Lock()
	ready := e.share.discovered
	e.share.mu.Unlock()
	var all []TP
	specs := map[string]scope.TopicSpec{}
	e.mu.RLock()
	for name, s := range e.specs {
		if e.deleted[name] || e.broken[name] {
			continue
		}
		// The member needs what it copies by; the configs are the leader's
		// business, and they would make the group's metadata large.
		s.Configs, s.Skipped, s.Accepts = nil, nil, nil
		specs[name] = s
		for p := int32(0); p < s.Partitions; p++ {
			all = append(all, TP{Topic: name, Partition: p})
		}
	}
	e.mu.RUnlock()
	states := make([]memberState, 0, len(members))
	for _, m := range members {
		var info memberInfo
		_ = json.Unmarshal(m.ProtocolMetadata, &info)
		var owned []TP
		for t, ps := range info.Owned {
			for _, p := range ps {
				owned = append(owned, TP{Topic: t, Partition: p})
			}
		}
		states = append(states, memberState{id: m.MemberID, owned: owned})
	}
	plan := balance(states, all)
	out := make(map[string][]byte, len(members))
	for _, m := range members {
		a := assignment{Leader: leaderID, Ready: ready, Partitions: byTopic(plan[m.MemberID])}
		for t := range a.Partitions {
			a.Specs = append(a.Specs, specs[t])
		}
		slices.SortFunc(a.Specs, func(x, y scope.TopicSpec) int { return compareTP(TP{Topic: x.Source}, TP{Topic: y.Source}) })
		b, _ := json.Marshal(a)
		out[m.MemberID] = b
	}
	e.log.Info("writer group: partitions assigned", "members", len(members), "partitions", len(all), "ready", ready)
	return out
}

// assignLoop applies the newest assignment: it lets go of the partitions
// taken away, then claims and starts the ones given. What could not be
// started is tried again.
func (e *Engine) assignLoop(ctx context.Context) {
	var cur *delivered
	retry := time.NewTicker(2 * time.Second)
	defer retry.Stop()
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-e.share.latest:
			cur = &d
		case <-retry.C:
			if !pending || cur == nil {
				continue
			}
		}
		err := e.apply(ctx, *cur)
		pending = err != nil && !errors.Is(err, errSuperseded)
		if pending && ctx.Err() == nil {
			e.log.Warn("applying the group's assignment failed; trying again", "err", err)
		}
	}
}

// apply makes the partitions this process holds those of d's assignment,
// unless the membership it came with expired since.
func (e *Engine) apply(ctx context.Context, d delivered) error {
	a, leader := d.a, d.leader
	e.share.mu.Lock()
	epoch, current := e.share.epoch, e.share.epochN == d.epoch
	e.share.mu.Unlock()
	if !current {
		return nil // the next membership brings its own assignment
	}
	want := map[TP]bool{}
	for _, tp := range a.tps() {
		want[tp] = true
	}
	if !leader {
		e.mu.Lock()
		for _, s := range a.Specs {
			if _, ok := e.specs[s.Source]; !ok {
				e.metrics.topicStarted(s.Source)
			}
			e.specs[s.Source] = s
		}
		e.mu.Unlock()
	}
	var revoke, add []TP
	for _, tp := range e.ownedPartitions() {
		if !want[tp] {
			revoke = append(revoke, tp)
		}
	}
	e.share.mu.Lock()
	for tp := range want {
		if !e.share.held[tp] {
			add = append(add, tp)
		}
	}
	e.share.mu.Unlock()
	slices.SortFunc(add, compareTP)
	if len(revoke) > 0 {
		e.handOver(ctx, revoke, epoch)
		// The next generation gives them to their new owners.
		e.share.sharing.requestRejoin()
	}
	var err error
	if len(add) > 0 {
		err = e.claimAndStart(ctx, add, epoch, d.epoch)
	}
	if a.Ready && err == nil {
		e.share.mu.Lock()
		first := !e.share.readyClosed
		e.share.readyClosed = true
		e.share.mu.Unlock()
		if first {
			close(e.initDone)
		}
	}
	return err
}

// claimAndStart claims partitions given to this process and starts them,
// under the epoch (n) the assignment came in.
func (e *Engine) claimAndStart(ctx context.Context, add []TP, epoch context.Context, n int) error {
	st, err := e.store.Load(ctx)
	if err != nil {
		return err
	}
	var unclean []string
	for _, tp := range add {
		o, ok := st.Owners[tp]
		switch {
		case ok && o.Released:
		case ok:
			unclean = append(unclean, fmt.Sprintf("%v (pid %d on %s)", tp, o.PID, o.Host))
		case st.Partitions[tp] != nil:
			unclean = append(unclean, fmt.Sprintf("%v (a writer that recorded no owner)", tp))
		}
	}
	if len(unclean) > 0 {
		e.log.Info("partitions given to this process were not released cleanly: waiting until none of their previous owner's writes can land",
			"partitions", len(unclean), "first", unclean[0], "wait", kafka.FenceGrace)
		// A newer assignment (a rebalance meanwhile) is applied instead:
		// it may not give these partitions to this process any more.
		for until := time.Now().Add(kafka.FenceGrace); time.Now().Before(until); {
			if len(e.share.latest) > 0 {
				return errSuperseded
			}
			if err := sleepCtx(ctx, min(100*time.Millisecond, time.Until(until))); err != nil {
				return err
			}
		}
		if st, err = e.store.Load(ctx); err != nil {
			return err
		}
	}
	recs := make([]*kgo.Record, 0, len(add))
	host, _ := os.Hostname()
	for _, tp := range add {
		r, err := state.OwnerRecord(e.cfg.Migration, tp, state.Owner{Holder: e.holder, Host: host, PID: os.Getpid(), UnixMilli: e.now().UnixMilli()})
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	wctx, done := underEpoch(ctx, epoch)
	err = e.store.Write(wctx, recs)
	done()
	if err != nil {
		return fmt.Errorf("claim %d partitions: %w", len(add), err)
	}
	e.share.mu.Lock()
	if e.share.epochN != n {
		e.share.mu.Unlock()
		return errors.New("the membership expired while partitions were being claimed")
	}
	for _, tp := range add {
		e.share.held[tp] = true
	}
	e.share.mu.Unlock()
	e.mu.Lock()
	for name, ids := range st.Topics {
		if _, ok := e.bindings[name]; !ok {
			e.bindings[name] = ids
		}
	}
	var specs []scope.TopicSpec
	only := map[TP]bool{}
	seen := map[string]bool{}
	for _, tp := range add {
		only[tp] = true
		if !seen[tp.Topic] {
			seen[tp.Topic] = true
			specs = append(specs, e.specs[tp.Topic])
		}
	}
	e.mu.Unlock()
	err = e.startPartitions(ctx, st, specs, only, epoch)
	e.share.mu.Lock()
	expired := e.share.epochN != n
	e.share.mu.Unlock()
	if expired {
		// Started under an epoch that ended: they can write nothing (their
		// records are produced under it); let go of them.
		e.dropParts(add)
		return errors.New("the membership expired while partitions were being started")
	}
	if err != nil {
		return err
	}
	e.event("info", "", "claimed %d partitions (%d not released cleanly by their previous owner)", len(add), len(unclean))
	return nil
}

// stateWriteContext bounds a state write by the current membership: when it
// expires, a write not yet sent must never land.
func (e *Engine) stateWriteContext(ctx context.Context) (context.Context, func()) {
	if e.share == nil {
		return ctx, func() {}
	}
	return underEpoch(ctx, e.epoch())
}

// epoch returns the current epoch's context (e.lockCtx when the migration is
// not shared or not yet running).
func (e *Engine) epoch() context.Context {
	if e.share == nil {
		return e.lockCtx
	}
	e.share.mu.Lock()
	defer e.share.mu.Unlock()
	if e.share.epoch == nil {
		return e.lockCtx
	}
	return e.share.epoch
}

// underEpoch derives from ctx a context that also ends with epoch.
func underEpoch(ctx, epoch context.Context) (context.Context, func()) {
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(epoch, cancel)
	return wctx, func() { stop(); cancel() }
}

// handOver lets go of partitions the group took away: nothing more is copied,
// every record sent gets its outcome (cancelled after handoverWait), the
// final checkpoint and a release record are written, under the epoch the
// assignment that took them away came in.
func (e *Engine) handOver(ctx context.Context, tps []TP, epoch context.Context) {
	parts := e.stopCopying(tps)
	clean := waitSettled(ctx, parts, handoverWait)
	if !clean {
		for _, p := range parts {
			p.mu.Lock()
			if p.stopProduce != nil {
				p.stopProduce()
			}
			p.mu.Unlock()
		}
		waitSettled(ctx, parts, time.Minute)
	}
	e.checkpointMu.Lock()
	defer e.checkpointMu.Unlock()
	err := e.writeRelease(ctx, epoch, parts, clean)
	e.forget(tps)
	how := "cleanly: the next owner takes over at once"
	if err == nil && clean {
		e.metrics.handedOver("clean", len(tps))
	} else {
		e.metrics.handedOver("unclean", len(tps))
	}
	switch {
	case err != nil:
		how = fmt.Sprintf("without recording the release (%v): the next owner waits out the fence's grace and reconciles", err)
	case !clean:
		how = "with writes that did not settle in time: the next owner waits out the fence's grace and reconciles"
	}
	e.event("info", "", "handed over %d partitions %s", len(tps), how)
}

// stopCopying marks partitions as being let go and stops fetching them.
func (e *Engine) stopCopying(tps []TP) []*partition {
	var parts []*partition
	e.mu.RLock()
	for _, tp := range tps {
		if p := e.parts[tp]; p != nil {
			parts = append(parts, p)
		}
	}
	e.mu.RUnlock()
	for _, p := range parts {
		p.mu.Lock()
		p.stopping = true
		p.mu.Unlock()
	}
	e.src.RemoveConsumePartitions(byTopic(tps))
	return parts
}

// waitSettled waits until no record of parts is in flight, up to d.
func waitSettled(ctx context.Context, parts []*partition, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		n := 0
		for _, p := range parts {
			p.mu.Lock()
			n += len(p.inflight)
			p.mu.Unlock()
		}
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) || sleepCtx(ctx, 20*time.Millisecond) != nil {
			return false
		}
	}
}

// writeRelease writes the final checkpoints of parts and, when clean, their
// release records, under epoch: a release written after the membership
// expired could hide another process's claim. The caller holds checkpointMu.
func (e *Engine) writeRelease(ctx, epoch context.Context, parts []*partition, clean bool) error {
	var recs []*kgo.Record
	var done []func()
	host, _ := os.Hostname()
	for _, p := range parts {
		r, ok, err := p.checkpoint(e.cfg.Migration, e.hasher, e.now())
		if err != nil {
			return err
		}
		if ok != nil {
			recs = append(recs, r...)
			done = append(done, ok)
		}
		p.mu.Lock()
		settled := clean && !p.abandoned
		p.mu.Unlock()
		if settled {
			r, err := state.OwnerRecord(e.cfg.Migration, p.tp, state.Owner{Holder: e.holder, Released: true, Host: host, PID: os.Getpid(), UnixMilli: e.now().UnixMilli()})
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wctx, stop := underEpoch(wctx, epoch)
	defer stop()
	if err := e.store.Write(wctx, recs); err != nil {
		return err
	}
	for _, f := range done {
		f()
	}
	return nil
}

// forget removes partitions this process no longer holds.
func (e *Engine) forget(tps []TP) {
	e.mu.Lock()
	for _, tp := range tps {
		delete(e.parts, tp)
	}
	e.mu.Unlock()
	e.share.mu.Lock()
	for _, tp := range tps {
		delete(e.share.held, tp)
	}
	e.share.mu.Unlock()
}

// dropAll lets go of every partition without writing anything more: the
// membership expired, so other processes may hold them already. It returns
// once nothing this process produced can still be sent; the member joins
// again only then, since the join confirms the lease.
func (e *Engine) dropAll(ctx context.Context) {
	e.share.mu.Lock()
	if e.share.endEpoch != nil {
		e.share.endEpoch() // every write decided so far fails from now on
	}
	e.share.epochN++
	e.share.leader, e.share.discovered = false, false
	e.share.mu.Unlock()
	e.metrics.lead(false)
	tps := e.ownedPartitions()
	n := e.dropParts(tps)
	e.metrics.handedOver("expired", n)
	for t := time.Now(); e.tgt != nil && e.tgt.BufferedProduceRecords() > 0; {
		if sleepCtx(ctx, 20*time.Millisecond) != nil {
			return
		}
		if time.Since(t) > 10*time.Second {
			e.log.Warn("writer group: records of the expired membership are still buffered; waiting for them to fail before joining again", "records", e.tgt.BufferedProduceRecords())
			t = time.Now()
		}
	}
	e.share.mu.Lock()
	if e.lockCtx != nil {
		e.share.epoch, e.share.endEpoch = context.WithCancel(e.lockCtx)
	}
	e.share.mu.Unlock()
	if n > 0 {
		e.event("warn", "", "this process's membership of the writer group expired (paused or cut off for longer than %s): it let go of its %d partitions without writing anything more; they resume from their checkpoints wherever the group assigns them", lockSession, n)
	}
}

// dropParts lets go of partitions at once: nothing more is fetched or
// produced (what is buffered is cancelled), nothing more is checkpointed.
func (e *Engine) dropParts(tps []TP) int {
	parts := e.stopCopying(tps)
	for _, p := range parts {
		p.mu.Lock()
		if p.stopProduce != nil {
			p.stopProduce()
		}
		p.mu.Unlock()
	}
	e.checkpointMu.Lock()
	e.forget(tps)
	e.checkpointMu.Unlock()
	return len(tps)
}

// releaseAll records the clean release of every partition held, on shutdown
// after the final flush and checkpoint.
func (e *Engine) releaseAll(clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tps := e.ownedPartitions()
	var parts []*partition
	e.mu.RLock()
	for _, tp := range tps {
		if p := e.parts[tp]; p != nil {
			parts = append(parts, p)
		}
	}
	e.mu.RUnlock()
	e.checkpointMu.Lock()
	defer e.checkpointMu.Unlock()
	if err := e.writeRelease(ctx, e.epoch(), parts, clean); err != nil {
		e.log.Warn("could not record the release of this process's partitions; their next owners wait out the fence's grace", "err", err)
	}
}

// remoteTranslate maps a position of a partition another process holds,
// through its map as last checkpointed (refreshed at most every few seconds):
// exact for what that checkpoint covers, pending beyond.
func (e *Engine) remoteTranslate(tp TP, c int64) (offsetmap.Translation, bool) {
	s := e.share
	s.remoteMu.Lock()
	defer s.remoteMu.Unlock()
	if time.Since(s.remoteRead) > 5*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := e.store.Load(ctx)
		cancel()
		if err != nil {
			e.log.Warn("group translation: cannot read the maps of partitions other processes hold", "err", err)
			return offsetmap.Translation{}, false
		}
		s.remote = map[TP]*offsetmap.Partition{}
		for k, sv := range st.Partitions {
			if sv.Err == nil && sv.Map != nil {
				s.remote[k] = sv.Map
			}
		}
		s.remoteRead = time.Now()
	}
	m := s.remote[tp]
	if m == nil {
		return offsetmap.Translation{}, false
	}
	return m.Translate(c), true
}

// errSuperseded stops applying an assignment when a newer one came.
var errSuperseded = errors.New("a newer assignment came")

var errSharedUntilCaughtUp = errors.New("--until-caught-up cannot be used with replication.scale_out: the processes of a shared migration copy until they are stopped")
