package cutover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// The steps of a cutover, each with its gate: nil passes, a gateError is a
// NO-GO with its details, any other error a NO-GO because the step could not
// run.

// preflight: every selected topic on the target with the same partitions,
// nothing stopped, lag under the threshold, a sample verification without
// failure, the permissions the later steps need, and exactly one live run.
func (c *cutover) preflight(ctx context.Context, st *Step) error {
	var problems []string
	writers, err := replicate.LiveWriters(ctx, c.src, c.cfg.Migration)
	if err != nil {
		return err
	}
	switch len(writers) {
	case 0:
		problems = append(problems, "no `kmigrate run` of this migration is alive: start it, the cutover drains through it")
	case 1:
		st.Details = append(st.Details, "run: "+writers[0])
	default:
		problems = append(problems, fmt.Sprintf("%d runs of this migration are alive: %s", len(writers), strings.Join(writers, "; ")))
	}
	names := c.sourceNames()
	tgtNames := make([]string, len(names))
	for i, n := range names {
		tgtNames[i] = c.target(n)
	}
	td, err := c.tgtAdm.ListTopics(ctx, tgtNames...)
	if err != nil {
		return fmt.Errorf("list target topics: %w", err)
	}
	for i, n := range names {
		t, ok := td[tgtNames[i]]
		switch {
		case !ok || errors.Is(t.Err, kerr.UnknownTopicOrPartition):
			problems = append(problems, fmt.Sprintf("source topic %s: target topic %s does not exist", n, tgtNames[i]))
		case t.Err != nil:
			problems = append(problems, fmt.Sprintf("target topic %s: %v", tgtNames[i], t.Err))
		case int32(len(t.Partitions)) != c.topics[n]:
			problems = append(problems, fmt.Sprintf("source topic %s has %d partitions, target topic %s has %d", n, c.topics[n], tgtNames[i], len(t.Partitions)))
		}
	}
	v := verify.New(c.cfg, c.builder, c.log)
	rep, err := v.Status(ctx, nil, nil)
	if err != nil {
		return err
	}
	for _, p := range rep.Partitions {
		if p.Error != "" {
			problems = append(problems, fmt.Sprintf("%s[%d] stopped: %s", p.Topic, p.Partition, p.Error))
		}
	}
	if lag := rep.Totals.LagRecords; lag > c.opts.MaxLag {
		problems = append(problems, fmt.Sprintf("lag is %d records, over the threshold of %d (--max-lag): let the copy catch up first", lag, c.opts.MaxLag))
	}
	problems = append(problems, c.runStopped(ctx)...)
	vopts, err := c.verifyOptions(ctx)
	if err != nil {
		return err
	}
	vr, err := v.Verify(ctx, vopts)
	if err != nil {
		return fmt.Errorf("sample verification: %w", err)
	}
	for _, ch := range vr.Checks {
		if ch.Result == verify.ResultFail {
			problems = append(problems, fmt.Sprintf("sample verification: %s check failed: %s", ch.Name, ch.Summary))
			for _, f := range ch.Failures {
				problems = append(problems, "  "+failureText(f))
			}
		}
	}
	// The final translation must be able to read every selected group on both
	// sides: a dry pass now finds what it could not.
	unreadable, err := c.unreadableGroups(ctx)
	if err != nil {
		return err
	}
	problems = append(problems, unreadable...)
	if c.opts.FenceSource {
		if _, err := acls.Describe(ctx, c.src); err != nil {
			problems = append(problems, fmt.Sprintf("--fence-source needs ACLs on the source, which refused to list them: %v", err))
		}
	}
	if len(problems) > 0 {
		return noGo(problems, "%d problem(s) before the cutover", len(problems))
	}
	st.Summary = fmt.Sprintf("%d topics, %d partitions on both sides; lag %d records; sample verification %s; one live run", len(names), len(rep.Partitions), rep.Totals.LagRecords, vr.Result)
	return nil
}

func failureText(f verify.Failure) string {
	var b strings.Builder
	b.WriteString(f.Kind)
	if f.Topic != "" {
		b.WriteString(" " + f.Topic)
		if f.Partition != nil {
			fmt.Fprintf(&b, "[%d]", *f.Partition)
		}
	}
	if f.Group != "" {
		b.WriteString(" group " + f.Group)
	}
	if f.Message != "" {
		b.WriteString(": " + f.Message)
	}
	return b.String()
}

// runStopped asks the live run's HTTP server for partitions it stopped; a
// server that does not answer is noted, not a failure (a stopped partition
// also shows as lag, which the drain gate refuses).
func (c *cutover) runStopped(ctx context.Context) []string {
	url := c.opts.RunURL
	if url == "" {
		l := c.cfg.HTTP.Listen
		if l == "" || l == "off" {
			return nil
		}
		if strings.HasPrefix(l, ":") || strings.HasPrefix(l, "0.0.0.0:") {
			l = "127.0.0.1" + l[strings.LastIndex(l, ":"):]
		}
		url = "http://" + l
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/api/partitions", nil)
	if err != nil {
		return []string{fmt.Sprintf("--run-url %s: %v", url, err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.log.Info("the run's status API does not answer; stopped partitions are found by their lag", "url", url, "err", err)
		return nil
	}
	defer resp.Body.Close()
	var parts []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Error     string `json:"error"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&parts) != nil {
		return nil
	}
	var out []string
	for _, p := range parts {
		if p.Error != "" {
			out = append(out, fmt.Sprintf("the run stopped %s[%d]: %s", p.Topic, p.Partition, p.Error))
		}
	}
	return out
}

// ends lists the source end offsets (high watermarks) and last stable offsets
// of the selected partitions.
func (c *cutover) ends(ctx context.Context) (hw, lso map[offsetmap.TopicPartition]int64, err error) {
	names := c.sourceNames()
	h, err := c.srcAdm.ListEndOffsets(ctx, names...)
	if err == nil {
		err = h.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list source end offsets: %w", err)
	}
	l, err := c.srcAdm.ListCommittedOffsets(ctx, names...)
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list source last stable offsets: %w", err)
	}
	hw, lso = map[offsetmap.TopicPartition]int64{}, map[offsetmap.TopicPartition]int64{}
	h.Each(func(o kadm.ListedOffset) {
		hw[offsetmap.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	})
	l.Each(func(o kadm.ListedOffset) {
		lso[offsetmap.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	})
	return hw, lso, nil
}

// freeze waits until the source producers stopped: every end offset unchanged
// for the quiet period and no transaction open. With --fence-source it first
// denies them writes.
func (c *cutover) freeze(ctx context.Context, st *Step) error {
	if c.opts.FenceSource && !c.opts.DryRun {
		if err := c.fenceSource(ctx, st); err != nil {
			return err
		}
	}
	start := time.Now()
	changed := map[offsetmap.TopicPartition]time.Time{}
	last := map[offsetmap.TopicPartition]int64{}
	lastPrint := time.Now()
	for {
		hw, lso, err := c.ends(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		var moving, open []offsetmap.TopicPartition
		for tp, o := range hw {
			if prev, ok := last[tp]; !ok || prev != o {
				changed[tp] = now
				last[tp] = o
			}
			if now.Sub(changed[tp]) < c.opts.QuietPeriod {
				moving = append(moving, tp)
			}
			if lso[tp] < o {
				open = append(open, tp)
			}
		}
		if len(moving) == 0 && len(open) == 0 {
			c.rec.Frozen = map[string]map[int32]int64{}
			for tp, o := range hw {
				if c.rec.Frozen[tp.Topic] == nil {
					c.rec.Frozen[tp.Topic] = map[int32]int64{}
				}
				c.rec.Frozen[tp.Topic][tp.Partition] = o
			}
			st.Summary = fmt.Sprintf("%d partitions unchanged for %s, no open transaction", len(hw), c.opts.QuietPeriod)
			return nil
		}
		waited := time.Since(start)
		if waited > c.opts.FreezeTimeout {
			sortTPs(moving)
			sortTPs(open)
			var details []string
			for _, tp := range moving {
				details = append(details, fmt.Sprintf("%s[%d] still moving (end offset %d): %s", tp.Topic, tp.Partition, last[tp], c.producers(ctx, tp)))
			}
			for _, tp := range open {
				details = append(details, fmt.Sprintf("%s[%d] has an open transaction (last stable offset %d < end offset %d): %s", tp.Topic, tp.Partition, lso[tp], hw[tp], c.producers(ctx, tp)))
			}
			return noGo(details, "the source producers did not stop within %s (--freeze-timeout): %d partitions moving, %d with an open transaction", c.opts.FreezeTimeout, len(moving), len(open))
		}
		if time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			c.printf("      freeze: waiting for %d partitions to stay unchanged for %s and %d open transactions to end; %s waited of %s", len(moving), c.opts.QuietPeriod, len(open), waited.Round(time.Second), c.opts.FreezeTimeout)
		}
		if err := sleep(ctx, c.opts.Poll); err != nil {
			return err
		}
	}
}

// stillFrozen rechecks, for a resumed cutover, that the source did not move
// since the freeze.
func (c *cutover) stillFrozen(ctx context.Context, _ *Step) error {
	hw, _, err := c.ends(ctx)
	if err != nil {
		return err
	}
	var moved []string
	for tp, o := range hw {
		if f, ok := c.rec.Frozen[tp.Topic][tp.Partition]; !ok || f != o {
			moved = append(moved, fmt.Sprintf("%s[%d]: end offset %d, frozen at %d: %s", tp.Topic, tp.Partition, o, f, c.producers(ctx, tp)))
		}
	}
	if len(moved) > 0 {
		sort.Strings(moved)
		return noGo(moved, "the source moved after the freeze: %d partitions", len(moved))
	}
	return nil
}

// producers describes who writes to a source partition, as far as the broker
// tells (DescribeProducers).
func (c *cutover) producers(ctx context.Context, tp offsetmap.TopicPartition) string {
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
	req.Topics = []kmsg.DescribeProducersRequestTopic{rt}
	var ids []string
	for _, shard := range c.src.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return "producers unknown: " + shard.Err.Error()
		}
		for _, t := range shard.Resp.(*kmsg.DescribeProducersResponse).Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return "producers unknown: " + err.Error()
				}
				for _, ap := range p.ActiveProducers {
					s := fmt.Sprintf("producer id %d epoch %d, last write %s", ap.ProducerID, ap.ProducerEpoch, time.UnixMilli(ap.LastTimestamp).UTC().Format(time.RFC3339))
					if ap.CurrentTxnStartOffset >= 0 {
						s += fmt.Sprintf(", transaction open since offset %d", ap.CurrentTxnStartOffset)
					}
					ids = append(ids, s)
				}
			}
		}
	}
	if len(ids) == 0 {
		return "no producer id known to the broker"
	}
	sort.Strings(ids)
	return strings.Join(ids, "; ")
}

// drain waits until the copy's checkpoints reach the frozen offsets and the
// target holds exactly what they say, and records the figures per topic.
func (c *cutover) drain(ctx context.Context, st *Step) error {
	start, lastPrint := time.Now(), time.Now()
	for {
		if err := c.stillFrozen(ctx, st); err != nil {
			return err
		}
		s, err := c.store.Load(ctx)
		if err != nil {
			return err
		}
		behind, err := c.behind(ctx, s)
		if err != nil {
			return err
		}
		if len(behind) == 0 {
			c.figures(s)
			var recs int64
			for _, t := range c.rec.Topics {
				recs += t.Records
			}
			st.Summary = fmt.Sprintf("zero lag: every partition copied up to its frozen end offset and checkpointed; %d records in %d topics", recs, len(c.rec.Topics))
			return nil
		}
		waited := time.Since(start)
		if waited > c.opts.DrainTimeout {
			return noGo(behind, "the copy did not reach the frozen offsets within %s (--drain-timeout): %d partitions behind", c.opts.DrainTimeout, len(behind))
		}
		if time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			c.printf("      drain: %d partitions behind the frozen offsets; %s waited of %s", len(behind), waited.Round(time.Second), c.opts.DrainTimeout)
		}
		if err := sleep(ctx, c.opts.Poll); err != nil {
			return err
		}
	}
}

// behind lists the partitions whose checkpoint has not reached the frozen end
// offset, or whose target holds more or less than the checkpoint says.
func (c *cutover) behind(ctx context.Context, s *state.State) ([]string, error) {
	tgtNames := make([]string, 0, len(c.topics))
	for _, n := range c.sourceNames() {
		tgtNames = append(tgtNames, c.target(n))
	}
	te, err := c.tgtAdm.ListEndOffsets(ctx, tgtNames...)
	if err == nil {
		err = te.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list target end offsets: %w", err)
	}
	var out []string
	for _, topic := range c.sourceNames() {
		for p := range c.topics[topic] {
			frozen := c.rec.Frozen[topic][p]
			saved := s.Partitions[offsetmap.TopicPartition{Topic: topic, Partition: p}]
			switch {
			case saved == nil:
				out = append(out, fmt.Sprintf("%s[%d]: not copied yet (frozen end offset %d)", topic, p, frozen))
				continue
			case saved.Err != nil:
				out = append(out, fmt.Sprintf("%s[%d]: state inconsistent: %v", topic, p, saved.Err))
				continue
			}
			cp := saved.Checkpoint
			tgtEnd, _ := te.Lookup(c.target(topic), p)
			switch {
			case cp.SrcNext < frozen:
				out = append(out, fmt.Sprintf("%s[%d]: checkpointed up to source offset %d of %d (lag %d)", topic, p, cp.SrcNext, frozen, frozen-cp.SrcNext))
			case tgtEnd.Offset != cp.TgtNext:
				out = append(out, fmt.Sprintf("%s[%d]: target %s[%d] ends at %d, the checkpoint says %d", topic, p, c.target(topic), p, tgtEnd.Offset, cp.TgtNext))
			}
		}
	}
	return out, nil
}

// figures records the records copied per topic.
func (c *cutover) figures(s *state.State) {
	c.rec.Topics = nil
	for _, topic := range c.sourceNames() {
		f := TopicFigures{Source: topic, Target: c.target(topic), Partitions: int(c.topics[topic])}
		for p := range c.topics[topic] {
			if saved := s.Partitions[offsetmap.TopicPartition{Topic: topic, Partition: p}]; saved != nil && saved.Map != nil {
				f.Records += saved.Map.Copied()
			}
		}
		c.rec.Topics = append(c.rec.Topics, f)
	}
}

// consumers waits until the selected source groups have no members.
func (c *cutover) consumers(ctx context.Context, st *Step) error {
	start, lastPrint := time.Now(), time.Now()
	for {
		listed, err := c.srcAdm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list source groups: %w", err)
		}
		var names []string
		for _, g := range listed.Groups() {
			if scope.Group(&c.cfg.Groups, g) {
				names = append(names, g)
			}
		}
		var active []string
		if len(names) > 0 {
			d, err := c.srcAdm.DescribeGroups(ctx, names...)
			if err != nil {
				return fmt.Errorf("describe source groups: %w", err)
			}
			for _, g := range d.Sorted() {
				if g.Err != nil {
					return fmt.Errorf("describe source group %s: %w", g.Group, g.Err)
				}
				for _, m := range g.Members {
					active = append(active, fmt.Sprintf("group %s: member %s, client id %s, host %s", g.Group, m.MemberID, m.ClientID, m.ClientHost))
				}
			}
		}
		if len(active) == 0 {
			st.Summary = fmt.Sprintf("%d selected source groups, none with members", len(names))
			return nil
		}
		waited := time.Since(start)
		if waited > c.opts.ConsumersTimeout {
			return noGo(active, "%d consumers are still members of source groups after %s (--consumers-timeout): stop them first", len(active), c.opts.ConsumersTimeout)
		}
		if time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			c.printf("      consumers: %d members still in source groups; %s waited of %s", len(active), waited.Round(time.Second), c.opts.ConsumersTimeout)
		}
		if err := sleep(ctx, c.opts.Poll); err != nil {
			return err
		}
	}
}

// groups runs the final translation pass through the drained state.
func (c *cutover) groups(ctx context.Context, st *Step) error {
	s, err := c.store.Load(ctx)
	if err != nil {
		return err
	}
	tr, err := c.translator(ctx, s)
	if err != nil {
		return err
	}
	sy := groups.NewSyncer(c.cfg, c.log, c.src, c.tgt, tr, nil)
	defer sy.Close()
	rep, err := sy.Pass(ctx, !c.opts.DryRun)
	if err != nil {
		return fmt.Errorf("final group translation: %w", err)
	}
	f := &GroupFigures{Statuses: map[string]int{}}
	seen := map[string]bool{}
	var bad []string
	for _, r := range rep.Rows {
		seen[r.Group] = true
		f.Partitions++
		f.Statuses[string(r.Status)]++
		if r.Committed {
			f.Committed++
		}
		switch r.Status {
		case groups.InSync, groups.BehindRetention:
		case groups.Skipped:
			st.Details = append(st.Details, fmt.Sprintf("group %s %s[%d] skipped: %s", r.Group, r.Topic, r.Partition, r.Reason))
		default:
			bad = append(bad, fmt.Sprintf("group %s %s[%d] is %s: %s", r.Group, r.Topic, r.Partition, r.Status, r.Reason))
		}
	}
	bad = append(bad, rep.Errors...)
	f.Groups = len(seen)
	c.rec.Groups = f
	if len(bad) > 0 {
		return noGo(bad, "%d group partitions are not translated", len(bad))
	}
	verb := "committed"
	if c.opts.DryRun {
		verb = "would commit"
	}
	st.Summary = fmt.Sprintf("%d groups, %d partitions in sync; %s %d", f.Groups, f.Partitions, verb, f.Committed)
	return nil
}

// unreadableGroups runs a translation pass that commits nothing and lists the
// group partitions it could not read.
func (c *cutover) unreadableGroups(ctx context.Context) ([]string, error) {
	s, err := c.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	tr, err := c.translator(ctx, s)
	if err != nil {
		return nil, err
	}
	sy := groups.NewSyncer(c.cfg, c.log, c.src, c.tgt, tr, nil)
	defer sy.Close()
	rep, err := sy.Pass(ctx, false)
	if err != nil {
		return []string{fmt.Sprintf("group translation cannot run: %v", err)}, nil
	}
	var out []string
	for _, r := range rep.Rows {
		if r.Status == groups.Failed {
			out = append(out, fmt.Sprintf("group %s %s[%d]: %s", r.Group, r.Topic, r.Partition, r.Reason))
		}
	}
	for _, e := range rep.Errors {
		out = append(out, "group translation: "+e)
	}
	return out, nil
}

// translator translates group positions through the state s; for a reverse
// migration, positions before the switch go back through the forward map.
func (c *cutover) translator(ctx context.Context, s *state.State) (groups.Translator, error) {
	var tr groups.Translator = groups.NewStateTranslator(c.cfg, s)
	if c.cfg.ReverseOf != "" {
		rev, err := c.loadReverse(ctx)
		if err != nil {
			return nil, err
		}
		tr = rev.Translator(tr)
	}
	return tr, nil
}

// verifyOptions are the options of the sample verifications: for a reverse
// migration, group positions before the switch translate through the forward
// map.
func (c *cutover) verifyOptions(ctx context.Context) (verify.Options, error) {
	opts := verify.Options{Mode: verify.ModeSample}
	if c.cfg.ReverseOf != "" {
		rev, err := c.loadReverse(ctx)
		if err != nil {
			return opts, err
		}
		opts.Before = rev.before
	}
	return opts, nil
}

// verify runs the final verification: counts, a SHA-256 sample, compacted
// state and groups. Anything but PASS is NO-GO.
func (c *cutover) verify(ctx context.Context, st *Step) error {
	opts, err := c.verifyOptions(ctx)
	if err != nil {
		return err
	}
	v := verify.New(c.cfg, c.builder, c.log)
	rep, err := v.Verify(ctx, opts)
	if err != nil {
		return fmt.Errorf("final verification: %w", err)
	}
	f := &VerifyFigures{Result: string(rep.Result), Seed: rep.Seed}
	var bad []string
	for _, ch := range rep.Checks {
		f.Checks = append(f.Checks, VerifyCheck{Name: ch.Name, Result: string(ch.Result), Summary: ch.Summary})
		if ch.Result != verify.ResultPass {
			bad = append(bad, fmt.Sprintf("%s: %s: %s", ch.Name, ch.Result, ch.Summary))
			for _, fl := range ch.Failures {
				bad = append(bad, "  "+failureText(fl))
			}
		}
	}
	c.rec.Verify = f
	if rep.Result != verify.ResultPass {
		return noGo(bad, "the final verification is %s (seed %d)", rep.Result, rep.Seed)
	}
	st.Summary = fmt.Sprintf("PASS: %d topics, %d partitions (seed %d)", rep.Topics, rep.Partitions, rep.Seed)
	return nil
}

// seal stops the copy for good: it records the seal on the target, waits until
// the run left (it flushes and checkpoints on the seal) and until no request
// of any earlier writer can still land, denies kmigrate's own principal writes
// on the target topics where the target has an authorizer, and checks that the
// target ends exactly where the drained checkpoints say.
func (c *cutover) seal(ctx context.Context, st *Step) error {
	host, _ := os.Hostname()
	seal := replicate.Seal{Cutover: c.rec.ID, Host: host, PID: os.Getpid(), Time: time.Now().UTC()}
	if err := replicate.WriteSeal(ctx, c.tgtAdm, c.cfg.Migration, c.store.Topic(), seal); err != nil {
		return err
	}
	start := time.Now()
	for {
		w, err := replicate.LiveWriters(ctx, c.src, c.cfg.Migration)
		if err != nil {
			return err
		}
		if len(w) == 0 {
			break
		}
		if time.Since(start) > c.opts.SealTimeout {
			return noGo(w, "the run did not stop within %s of the seal", c.opts.SealTimeout)
		}
		if err := sleep(ctx, c.opts.Poll); err != nil {
			return err
		}
	}
	// A writer that did not leave cleanly may have requests in flight until
	// its lease plus the fence's grace: wait that out from the moment the
	// group was seen empty.
	if err := sleep(ctx, kafka.FenceGrace); err != nil {
		return err
	}
	st.Details = append(st.Details, c.fenceTarget(ctx)...)
	s, err := c.store.Load(ctx)
	if err != nil {
		return err
	}
	behind, err := c.behind(ctx, s)
	if err != nil {
		return err
	}
	if len(behind) > 0 {
		return noGo(behind, "after the seal the target does not end where the drained copy did")
	}
	if err := c.stillFrozen(ctx, st); err != nil {
		return err
	}
	c.figures(s)
	c.rec.TargetEnds = map[string]map[int32]int64{}
	for _, topic := range c.sourceNames() {
		m := map[int32]int64{}
		for p := range c.topics[topic] {
			m[p] = s.Partitions[offsetmap.TopicPartition{Topic: topic, Partition: p}].Checkpoint.TgtNext
		}
		c.rec.TargetEnds[c.target(topic)] = m
	}
	c.rec.Sealed = true
	st.Summary = fmt.Sprintf("copy sealed (group %s on the target); the run stopped; the target ends exactly at the drained offsets", replicate.SealGroup(c.cfg.Migration))
	return nil
}
