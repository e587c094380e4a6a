// Package groups translates consumer-group positions from the source to the target
// through the exact offset map, so that a consumer that moves to the target resumes
// at exactly the next record: no duplicate, no skip.
//
// A pass lists the selected source groups, fetches their committed offsets for the
// migrated topics, translates each position and commits it to the same group on
// the target, keeping the commit metadata. The rules: only a target group with no
// active members is written (a live consumer's position is never overwritten); a
// target group that is ahead is never moved back unless AllowBackwards; a position
// beyond what has been copied is pending, never guessed; a position below the
// first copied source offset (the consumer fell behind retention) goes to the
// first copied record and is flagged. Every group partition gets a row with its
// status and the reason.
//
// Exactness follows the map: Exact translations are exact; a partition whose map
// was coarsened gives Approximate translations that may re-read records, never
// skip, and the row says so.
package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/scope"
)

// Status of one group partition.
type Status string

// The statuses a row can have.
const (
	// InSync: the target group holds the translated offset.
	InSync Status = "in-sync"
	// Pending: the source position is beyond what has been copied.
	Pending Status = "pending"
	// ActiveOnTarget: the target group has live members; it is not written.
	ActiveOnTarget Status = "active-on-target"
	// BehindRetention: the source position is below the first copied offset;
	// the target gets the first copied record.
	BehindRetention Status = "behind-retention"
	// Skipped: not translated, for the reason given (target ahead, topic not
	// migrated, commit refused, ...).
	Skipped Status = "skipped"
	// Stopped: the partition's map no longer belongs to the topic of that name
	// (deleted and recreated on the source or the target); never translated.
	Stopped Status = "stopped"
	// Failed: the group's committed offset for the partition could not be read
	// or written; the reason is the error.
	Failed Status = "error"
)

// Statuses lists every status a row can have, in report order.
func Statuses() []Status {
	return []Status{InSync, Pending, ActiveOnTarget, BehindRetention, Skipped, Stopped, Failed}
}

// IdentityTranslator is a Translator that knows which topic ids each source
// topic's maps belong to. The syncer compares them with the topics' current
// ids and refuses to translate through the map of a recreated topic.
type IdentityTranslator interface {
	Translator
	// TopicIDs returns the ids a source topic's maps belong to; ok is false
	// when none are recorded.
	TopicIDs(source string) (ids offsetmap.TopicIDs, ok bool)
}

// Translator maps source positions to target positions: the live engine or the
// state on the target.
type Translator interface {
	// Translate maps source position c of a partition; ok is false when the
	// partition is not migrated.
	Translate(topic string, partition int32, c int64) (t offsetmap.Translation, ok bool)
	// TargetTopic returns the target name of a migrated source topic.
	TargetTopic(source string) (string, bool)
}

// Row is one group partition in a report.
type Row struct {
	Group       string `json:"group"`
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	TargetTopic string `json:"target_topic,omitempty"`
	// SourceCommitted is the group's committed offset on the source.
	SourceCommitted int64 `json:"source_committed"`
	// SourceStart is the source log start offset.
	SourceStart int64 `json:"source_start"`
	SourceEnd   int64 `json:"source_end"`
	// Translated is the target offset the source position maps to; -1 when
	// pending or not migrated.
	Translated int64 `json:"translated"`
	// Kind is the translation kind: exact, approximate, pending, behind-start.
	Kind string `json:"translation,omitempty"`
	// TargetCommitted is the group's committed offset on the target after the
	// pass; -1 when none.
	TargetCommitted int64 `json:"target_committed"`
	TargetEnd       int64 `json:"target_end"`
	// SourceLag and TargetLag are end minus committed on each side, in offsets.
	SourceLag int64  `json:"source_lag"`
	TargetLag int64  `json:"target_lag"`
	Status    Status `json:"status"`
	Reason    string `json:"reason,omitempty"`
	// Committed is set when this pass wrote the target offset.
	Committed bool `json:"committed,omitempty"`
}

// Report is the result of a pass.
type Report struct {
	Time     time.Time `json:"time"`
	Duration float64   `json:"duration_seconds"`
	Groups   int       `json:"groups"`
	Rows     []Row     `json:"rows"`
	// Errors are groups that could not be read or written at all.
	Errors []string `json:"errors,omitempty"`
}

// Counts returns the number of rows per status.
func (r *Report) Counts() map[Status]int {
	out := map[Status]int{}
	for _, row := range r.Rows {
		out[row.Status]++
	}
	return out
}

// AllInSync reports whether every row is in-sync and no group failed.
func (r *Report) AllInSync() bool {
	if len(r.Errors) > 0 {
		return false
	}
	for _, row := range r.Rows {
		if row.Status != InSync {
			return false
		}
	}
	return true
}

// Syncer runs translation passes.
type Syncer struct {
	cfg     *config.Config
	log     *slog.Logger
	src     *kadm.Client
	tgt     *kadm.Client
	tgtCl   *kgo.Client
	tr      Translator
	metrics *Metrics
	// workers bounds concurrent commits.
	workers int
	// committers are extra target clients for commits. A broker handles the
	// requests of one connection one at a time, so commits to many groups go
	// faster over several connections. Made on the first pass that commits.
	committers []*kgo.Client

	mu   sync.Mutex
	last *Report
}

// NewSyncer returns a Syncer that reads groups through src, writes them through
// tgt and translates with tr. metrics may be nil.
func NewSyncer(cfg *config.Config, log *slog.Logger, src, tgt *kgo.Client, tr Translator, metrics *Metrics) *Syncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg, log: log, src: kadm.NewClient(src), tgt: kadm.NewClient(tgt), tgtCl: tgt, tr: tr, metrics: metrics, workers: 32}
}

// Selected reports whether a source group is translated (package scope's rule).
func (s *Syncer) Selected(group string) bool { return scope.Group(&s.cfg.Groups, group) }

// Last returns the report of the latest pass, nil before the first.
func (s *Syncer) Last() *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Run runs a pass every interval until ctx is done.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) { s.RunWhen(ctx, interval, nil) }

// RunWhen is Run, passing only while when (if set) reports true: the processes
// of a shared migration translate on the one that leads it.
func (s *Syncer) RunWhen(ctx context.Context, interval time.Duration, when func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if when != nil && !when() {
			// Not this process's turn.
		} else if _, err := s.Pass(ctx, true); err != nil && ctx.Err() == nil {
			s.log.Warn("group translation pass failed; retrying at the next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass translates every selected group once. With commit false it only reports
// what it would do.
func (s *Syncer) Pass(ctx context.Context, commit bool) (*Report, error) {
	start := time.Now()
	rep := &Report{Time: start}
	listed, err := s.src.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list source groups: %w", err)
	}
	var names []string
	for _, g := range listed.Sorted() {
		if s.Selected(g.Group) && (g.ProtocolType == "consumer" || g.ProtocolType == "") {
			names = append(names, g.Group)
		}
	}
	if len(names) == 0 {
		s.finish(rep, start)
		return rep, nil
	}
	srcOffsets := s.src.FetchManyOffsets(ctx, names...)
	// Which target topics and partitions matter, for end offsets.
	type gp struct {
		group string
		off   kadm.OffsetResponse
	}
	var work []gp
	srcTopics := map[string]bool{}
	tgtTopics := map[string]bool{}
	for _, g := range names {
		r, ok := srcOffsets[g]
		if !ok {
			continue
		}
		if r.Err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("fetch offsets of source group %s: %v", g, r.Err))
			continue
		}
		r.Fetched.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At < 0 {
				return
			}
			tt, ok := s.tr.TargetTopic(o.Topic)
			if !ok {
				return // a topic outside the migration: scan reports those groups
			}
			if o.Err != nil {
				// Never silently missing: --check must not pass over it.
				rep.Rows = append(rep.Rows, Row{Group: g, Topic: o.Topic, Partition: o.Partition, TargetTopic: tt,
					SourceCommitted: -1, Translated: -1, TargetCommitted: -1, Status: Failed,
					Reason: fmt.Sprintf("fetch the committed offset on the source: %v", o.Err)})
				return
			}
			srcTopics[o.Topic] = true
			tgtTopics[tt] = true
			work = append(work, gp{g, o})
		})
	}
	if len(work) == 0 {
		s.finish(rep, start)
		return rep, nil
	}
	srcEnds, err := s.src.ListCommittedOffsets(ctx, keys(srcTopics)...)
	if err != nil {
		return nil, fmt.Errorf("list source end offsets: %w", err)
	}
	srcStarts, err := s.src.ListStartOffsets(ctx, keys(srcTopics)...)
	if err != nil {
		return nil, fmt.Errorf("list source start offsets: %w", err)
	}
	tgtEnds, err := s.tgt.ListEndOffsets(ctx, keys(tgtTopics)...)
	if err != nil {
		return nil, fmt.Errorf("list target end offsets: %w", err)
	}
	groupsWithWork := map[string]bool{}
	for _, w := range work {
		groupsWithWork[w.group] = true
	}
	active, err := s.activeTargetGroups(ctx)
	if err != nil {
		return nil, err
	}
	tgtOffsets := s.tgt.FetchManyOffsets(ctx, keys(groupsWithWork)...)
	recreated, err := s.recreated(ctx, srcTopics, tgtTopics)
	if err != nil {
		return nil, err
	}

	commits := map[string]kadm.Offsets{}
	rowIdx := map[string][]int{}
	for _, w := range work {
		tt, _ := s.tr.TargetTopic(w.off.Topic)
		row := Row{
			Group: w.group, Topic: w.off.Topic, Partition: w.off.Partition, TargetTopic: tt,
			SourceCommitted: w.off.At, Translated: -1, TargetCommitted: -1,
		}
		if o, ok := srcEnds.Lookup(w.off.Topic, w.off.Partition); ok && o.Err == nil {
			row.SourceEnd = o.Offset
			row.SourceLag = max(0, o.Offset-w.off.At)
		}
		if o, ok := srcStarts.Lookup(w.off.Topic, w.off.Partition); ok && o.Err == nil {
			row.SourceStart = o.Offset
		}
		if o, ok := tgtEnds.Lookup(tt, w.off.Partition); ok && o.Err == nil {
			row.TargetEnd = o.Offset
		}
		if tr := tgtOffsets[w.group]; tr.Err == nil {
			if o, ok := tr.Fetched.Lookup(tt, w.off.Partition); ok && o.Err == nil && o.At >= 0 {
				row.TargetCommitted = o.At
			}
		}
		t, ok := s.tr.Translate(w.off.Topic, w.off.Partition, w.off.At)
		switch {
		case recreated[w.off.Topic] != "":
			row.Status, row.Reason = Stopped, recreated[w.off.Topic]
		case !ok:
			row.Status, row.Reason = Skipped, "partition is not being copied"
		case t.Kind == offsetmap.Pending:
			row.Kind = t.Kind.String()
			row.Status, row.Reason = Pending, "the source position is beyond what has been copied"
		default:
			row.Kind = t.Kind.String()
			row.Translated = t.Offset
			row.Status = s.decide(&row, t, active[w.group])
			if row.Status == "" { // to be committed
				os := commits[w.group]
				if os == nil {
					os = kadm.Offsets{}
					commits[w.group] = os
				}
				os.Add(kadm.Offset{Topic: tt, Partition: w.off.Partition, At: t.Offset, LeaderEpoch: -1, Metadata: w.off.Metadata})
				rowIdx[w.group] = append(rowIdx[w.group], len(rep.Rows))
			}
		}
		if row.TargetCommitted >= 0 {
			row.TargetLag = max(0, row.TargetEnd-row.TargetCommitted)
		}
		rep.Rows = append(rep.Rows, row)
	}
	if commit {
		s.commit(ctx, rep, commits, rowIdx)
	} else {
		for _, idx := range rowIdx {
			for _, i := range idx {
				r := &rep.Rows[i]
				r.Status, r.Reason = Skipped, fmt.Sprintf("would commit %d (dry run)", r.Translated)
				if r.Kind == offsetmap.BehindStart.String() {
					r.Status = BehindRetention
				}
			}
		}
	}
	rep.Groups = len(groupsWithWork)
	sortRows(rep.Rows)
	s.finish(rep, start)
	return rep, nil
}

// recreated returns, for each source topic whose map belongs to another
// source or target topic than the one of that name now, why it must not be
// translated. It asks only when the translator records topic ids.
func (s *Syncer) recreated(ctx context.Context, srcTopics, tgtTopics map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	it, ok := s.tr.(IdentityTranslator)
	if !ok || len(srcTopics) == 0 {
		return out, nil
	}
	src, err := s.src.ListTopics(ctx, keys(srcTopics)...)
	if err != nil {
		return nil, fmt.Errorf("list source topics: %w", err)
	}
	tgt, err := s.tgt.ListTopics(ctx, keys(tgtTopics)...)
	if err != nil {
		return nil, fmt.Errorf("list target topics: %w", err)
	}
	for topic := range srcTopics {
		ids, bound := it.TopicIDs(topic)
		if !bound {
			continue
		}
		tt, _ := s.tr.TargetTopic(topic)
		var curSrc, curTgt offsetmap.TopicID
		if d, ok := src[topic]; ok && d.Err == nil {
			curSrc = offsetmap.TopicID(d.ID)
		}
		if d, ok := tgt[tt]; ok && d.Err == nil {
			curTgt = offsetmap.TopicID(d.ID)
		}
		switch {
		case ids.Source != (offsetmap.TopicID{}) && curSrc != ids.Source:
			out[topic] = fmt.Sprintf("source topic %s was deleted or recreated (id %s; the offset map belongs to %s): not translated", topic, curSrc, ids.Source)
		case ids.Target != (offsetmap.TopicID{}) && curTgt != ids.Target:
			out[topic] = fmt.Sprintf("target topic %s was deleted or recreated (id %s; the offset map belongs to %s): not translated", tt, curTgt, ids.Target)
		}
	}
	return out, nil
}

// decide applies the commit rules to a translated row. It returns "" when the
// offset must be committed, or the final status with row.Reason set.
func (s *Syncer) decide(row *Row, t offsetmap.Translation, active bool) Status {
	switch {
	case active:
		row.Reason = "the target group has active members; a live consumer's position is never overwritten"
		return ActiveOnTarget
	case row.TargetCommitted == t.Offset:
		return s.settled(row, t)
	case row.TargetCommitted > t.Offset && !s.cfg.GroupSync.AllowBackwards:
		row.Reason = fmt.Sprintf("the target group is ahead (%d > %d) and is never moved back (group_sync.allow_backwards)", row.TargetCommitted, t.Offset)
		return Skipped
	}
	return ""
}

// settled returns the status of a row whose target offset is the translated one.
func (s *Syncer) settled(row *Row, t offsetmap.Translation) Status {
	switch {
	case t.Kind == offsetmap.BehindStart:
		row.Reason = "the source position is below the first copied offset (the consumer fell behind retention); the target group starts at the first copied record"
		return BehindRetention
	case row.SourceCommitted < row.SourceStart:
		row.Reason = fmt.Sprintf("the source position is below the source log start %d (retention deleted records the consumer has not read); the target group resumes where those records were copied", row.SourceStart)
		return BehindRetention
	}
	switch t.Kind {
	case offsetmap.Approximate:
		row.Reason = fmt.Sprintf("the offset map of this partition was coarsened: the consumer may re-read up to %d records, never skip", t.MaxDuplicates)
	}
	return InSync
}

// commit writes the target offsets, one request per group, several at a time.
func (s *Syncer) commit(ctx context.Context, rep *Report, commits map[string]kadm.Offsets, rowIdx map[string][]int) {
	type result struct {
		group string
		resp  kadm.OffsetResponses
		err   error
	}
	// Topic ids once per pass: kadm's CommitOffsets looks them up on every call,
	// which doubles the requests of a pass over many groups.
	ids, err := s.topicIDs(ctx, commits)
	if err != nil {
		for g := range commits {
			for _, i := range rowIdx[g] {
				rep.Rows[i].Status, rep.Rows[i].Reason = Skipped, fmt.Sprintf("commit not attempted: %v", err)
			}
		}
		return
	}
	clients := s.commitClients(len(commits))
	groups := make(chan string)
	results := make(chan result)
	var wg sync.WaitGroup
	for w := range min(s.workers, len(commits)) {
		cl := clients[w%len(clients)]
		wg.Go(func() {
			for g := range groups {
				resp, err := s.commitGroup(ctx, cl, g, commits[g], ids)
				results <- result{g, resp, err}
			}
		})
	}
	go func() {
		for g := range commits {
			groups <- g
		}
		close(groups)
		wg.Wait()
		close(results)
	}()
	for res := range results {
		for _, i := range rowIdx[res.group] {
			r := &rep.Rows[i]
			err := res.err
			if err == nil {
				if o, ok := res.resp.Lookup(r.TargetTopic, r.Partition); !ok {
					err = errors.New("no response for the partition")
				} else {
					err = o.Err
				}
			}
			if err != nil {
				r.Status, r.Reason = Skipped, fmt.Sprintf("commit refused: %v", err)
				if isActiveErr(err) {
					r.Status, r.Reason = ActiveOnTarget, "the target group became active during the pass; not written"
				}
				continue
			}
			r.Committed = true
			r.TargetCommitted = r.Translated
			r.TargetLag = max(0, r.TargetEnd-r.TargetCommitted)
			r.Status = s.settled(r, offsetmap.Translation{Kind: kindOf(r.Kind)})
		}
	}
}

// maxCommitters bounds the extra connections a pass opens for commits.
const maxCommitters = 8

// commitClients returns the clients to commit n groups with: the target client
// alone for a few groups, else up to maxCommitters copies of it, made once.
func (s *Syncer) commitClients(n int) []*kgo.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 50 {
		return []*kgo.Client{s.tgtCl}
	}
	for len(s.committers) < maxCommitters-1 {
		cl, err := kgo.NewClient(s.tgtCl.Opts()...)
		if err != nil {
			// The target client's options built a client before, so this is not
			// expected; the commits go over the connections there are.
			s.log.Warn("open an extra connection to the target for group commits", "connections", 1+len(s.committers), "err", err)
			break
		}
		s.committers = append(s.committers, cl)
	}
	return append([]*kgo.Client{s.tgtCl}, s.committers...)
}

// Close releases the extra connections of commits; the clients given to
// NewSyncer stay open.
func (s *Syncer) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cl := range s.committers {
		cl.Close()
	}
	s.committers = nil
}

// topicIDs returns the target topic ids of the topics in commits.
func (s *Syncer) topicIDs(ctx context.Context, commits map[string]kadm.Offsets) (map[string][16]byte, error) {
	seen := map[string]bool{}
	for _, os := range commits {
		for t := range os {
			seen[t] = true
		}
	}
	topics, err := s.tgt.ListTopics(ctx, keys(seen)...)
	if err != nil {
		return nil, fmt.Errorf("list target topics: %w", err)
	}
	ids := map[string][16]byte{}
	for t, d := range topics {
		if d.Err == nil {
			ids[t] = d.ID
		}
	}
	return ids, nil
}

// commitGroup commits offsets to a target group as a non-member (generation
// -1, no member id): the coordinator accepts that only from a group with no
// active members, which is the rule kmigrate wants.
func (s *Syncer) commitGroup(ctx context.Context, cl *kgo.Client, group string, os kadm.Offsets, ids map[string][16]byte) (kadm.OffsetResponses, error) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	for t, ps := range os {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = t, ids[t]
		for p, o := range ps {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, o.At, o.LeaderEpoch
			if o.Metadata != "" {
				rp.Metadata = kmsg.StringPtr(o.Metadata)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := kadm.OffsetResponses{}
	for _, rt := range resp.Topics {
		name := rt.Topic
		if name == "" {
			for t, id := range ids {
				if id == rt.TopicID {
					name = t
				}
			}
		}
		m := map[int32]kadm.OffsetResponse{}
		for _, rp := range rt.Partitions {
			m[rp.Partition] = kadm.OffsetResponse{Offset: os[name][rp.Partition], Err: kerr.ErrorForCode(rp.ErrorCode)}
		}
		out[name] = m
	}
	return out, nil
}

func kindOf(s string) offsetmap.TranslationKind {
	for _, k := range []offsetmap.TranslationKind{offsetmap.Exact, offsetmap.Approximate, offsetmap.Pending, offsetmap.BehindStart} {
		if k.String() == s {
			return k
		}
	}
	return 0
}

// isActiveErr reports whether a commit was refused because the group has members:
// the coordinator accepts commits without a member id only from empty groups.
func isActiveErr(err error) bool {
	return errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.StaleMemberEpoch)
}

// activeTargetGroups returns the target groups that have live members.
func (s *Syncer) activeTargetGroups(ctx context.Context) (map[string]bool, error) {
	listed, err := s.tgt.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list target groups: %w", err)
	}
	out := map[string]bool{}
	for _, g := range listed {
		switch g.State {
		case "Empty", "Dead", "":
		default:
			out[g.Group] = true
		}
	}
	return out, nil
}

func (s *Syncer) finish(rep *Report, start time.Time) {
	rep.Duration = time.Since(start).Seconds()
	if s.metrics != nil {
		s.metrics.observe(rep)
	}
	s.mu.Lock()
	s.last = rep
	s.mu.Unlock()
}

func sortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
