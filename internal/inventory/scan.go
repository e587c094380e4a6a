package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/scope"
)

// Options tune a scan.
type Options struct {
	// Role is "source" or "target". It is recorded in the snapshot; on a source
	// scan the selections below mark what the migration picks.
	Role kafka.Role
	// Topics and Groups are the migration's selections. On a source scan they set
	// Topic.Selected and Group.Selected and name the topics a group reads outside
	// the selection. Nil selects everything.
	Topics, Groups *config.Selection
	// OnlySelected limits a source scan to the selected topics and groups.
	OnlySelected bool
	// IncludeInternal lists Kafka's and kmigrate's internal topics too, flagged.
	IncludeInternal bool
	// SkipCluster leaves out the KRaft quorum and the ACLs.
	SkipCluster bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Progress, when set, is told how many of the scan's requests (sections:
	// configs, offsets, log dirs, groups, ...) are done out of how many.
	Progress interface{ Set(done, total int64) }
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Scan takes a read-only snapshot of the cluster cl is connected to. It fails only
// when the cluster cannot be reached; everything the principal may not see is
// recorded in Snapshot.Unavailable. Independent requests run concurrently, each
// batched into one request per broker.
func Scan(ctx context.Context, cl *kgo.Client, opts Options) (*Snapshot, error) {
	started := opts.now()
	s := &scanner{cl: cl, opts: opts, snap: &Snapshot{
		Schema: ScanSchema, Role: string(opts.Role), TakenAt: started.UTC(), Authorizer: "unknown",
		Brokers: []Broker{}, Topics: []Topic{}, Groups: []Group{},
	}}
	metas, brokers, clusterID, err := metadata(ctx, cl, nil)
	if err != nil {
		return nil, fmt.Errorf("read metadata of the %s cluster: %w", opts.Role, err)
	}
	s.snap.ClusterID = clusterID
	for _, b := range brokers {
		br := Broker{ID: b.NodeID, Host: b.Host, Port: b.Port}
		if b.Rack != nil {
			br.Rack = *b.Rack
		}
		s.snap.Brokers = append(s.snap.Brokers, br)
	}
	s.pickTopics(metas)

	sections := []func(context.Context){s.describeCluster, s.describeConfigs, s.listAllOffsets, s.describeLogDirs, s.describeProducers, s.scanGroups}
	if !opts.SkipCluster {
		sections = append(sections, s.describeQuorum, s.describeACLs)
	}
	var wg sync.WaitGroup
	var done atomic.Int64
	total := int64(len(sections))
	if opts.Progress != nil {
		opts.Progress.Set(0, total)
	}
	for _, section := range sections {
		wg.Go(func() {
			section(ctx)
			if n := done.Add(1); opts.Progress != nil {
				opts.Progress.Set(n, total)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan the %s cluster: %w", opts.Role, err)
	}
	s.assemble(ctx)
	s.snap.ElapsedMillis = opts.now().Sub(started).Milliseconds()
	return s.snap, nil
}

// scanner holds one scan's intermediate results. Each section writes only its
// own fields, so the concurrent sections need no lock but the one around gaps.
type scanner struct {
	cl   *kgo.Client
	opts Options
	snap *Snapshot

	// metas is every topic of the metadata; picked (sorted) and pickedSet the
	// topics the scan covers.
	metas     map[string]topicMeta
	picked    []string
	pickedSet map[string]bool

	mu   sync.Mutex
	gaps []Gap

	cluster   *clusterInfo
	configs   map[string]resourceConfigs
	earliest  map[tp]listed
	latest    map[tp]listed
	stable    map[tp]listed
	firstTime map[tp]listed
	logDirs   kadm.DescribedAllLogDirs
	// logDirsOK is set when at least one broker described its log dirs.
	logDirsOK bool
	producers map[tp]producers
	groups    []Group
	// groupTopics are the topics groups commit to, for their end offsets.
	groupTopics map[string]bool
}

func (s *scanner) gap(what, request string, err error) {
	reason := err.Error()
	if hint := kafka.Hint(err); hint != "" {
		reason += " (" + hint + ")"
	}
	s.mu.Lock()
	s.gaps = append(s.gaps, Gap{What: what, Request: request, Reason: reason})
	s.mu.Unlock()
}

// internalTopic reports whether a topic belongs to Kafka or to kmigrate.
func internalTopic(m topicMeta) bool {
	return m.internal || !scope.Migratable(m.name)
}

// selectedTopic reports whether the migration picks topic name (source scans).
func (s *scanner) selectedTopic(name string) bool {
	if s.opts.Role != kafka.Source {
		return false
	}
	return scope.Topic(s.opts.Topics, name)
}

// selectedGroup reports whether the migration picks group name (source scans).
func (s *scanner) selectedGroup(name string) bool {
	if s.opts.Role != kafka.Source {
		return false
	}
	return scope.Group(s.opts.Groups, name)
}

func (s *scanner) pickTopics(metas map[string]topicMeta) {
	s.metas = metas
	s.pickedSet = map[string]bool{}
	for _, name := range sortedKeys(metas) {
		m := metas[name]
		switch {
		case internalTopic(m) && !s.opts.IncludeInternal:
			s.snap.Summary.HiddenInternalTopics++
			continue
		case s.opts.OnlySelected && !s.selectedTopic(name):
			continue
		}
		s.picked = append(s.picked, name)
		s.pickedSet[name] = true
	}
}

// partitions returns the picked topics' partitions that have a leader (filter may
// narrow the topics further).
func (s *scanner) partitions(filter func(topicMeta) bool) map[string][]int32 {
	out := map[string][]int32{}
	for _, name := range s.picked {
		m := s.metas[name]
		if m.err != nil || (filter != nil && !filter(m)) {
			continue
		}
		for _, p := range m.partitions {
			if p.Leader >= 0 {
				out[name] = append(out[name], p.Partition)
			}
		}
	}
	return out
}

func (s *scanner) describeCluster(ctx context.Context) {
	ci, err := describeCluster(ctx, s.cl)
	if err != nil {
		s.gap("fenced brokers and cluster permissions", "DescribeCluster", err)
		return
	}
	s.cluster = ci
}

func (s *scanner) describeConfigs(ctx context.Context) {
	var names []string
	for _, name := range s.picked {
		m := s.metas[name]
		if m.err != nil {
			continue
		}
		if !allowed(m.ops, kmsg.ACLOperationDescribeConfigs) {
			s.gap("configs of topic "+name, "DescribeConfigs", errNotAllowed("DescribeConfigs", "topic", name))
			continue
		}
		names = append(names, name)
	}
	cfgs, err := describeConfigs(ctx, s.cl, kmsg.ConfigResourceTypeTopic, names)
	if err != nil {
		s.gap("topic configs", "DescribeConfigs", err)
		return
	}
	for _, name := range names {
		if rc, ok := cfgs[name]; ok && rc.err != nil {
			s.gap("configs of topic "+name, "DescribeConfigs", rc.err)
		}
	}
	s.configs = cfgs
}

func (s *scanner) listAllOffsets(ctx context.Context) {
	parts := s.partitions(nil)
	var wg sync.WaitGroup
	wg.Go(func() { s.earliest = listOffsets(ctx, s.cl, parts, readUncommitted, listEarliest) })
	wg.Go(func() { s.latest = listOffsets(ctx, s.cl, parts, readUncommitted, listLatest) })
	wg.Go(func() { s.stable = listOffsets(ctx, s.cl, parts, readCommitted, listLatest) })
	wg.Go(func() { s.firstTime = listOffsets(ctx, s.cl, parts, readUncommitted, 0) })
	wg.Wait()
}

func (s *scanner) describeLogDirs(ctx context.Context) {
	// Every partition, offline ones too: their replicas still take disk space
	// on the brokers that answer.
	set := kadm.TopicsSet{}
	for _, name := range s.picked {
		for _, p := range s.metas[name].partitions {
			set.Add(name, p.Partition)
		}
	}
	if len(set) == 0 {
		s.logDirsOK = true
		return
	}
	dirs, err := kadm.NewClient(s.cl).DescribeAllLogDirs(ctx, set)
	s.logDirs = dirs
	var se *kadm.ShardErrors
	switch {
	case err == nil:
	case errors.As(err, &se):
		for _, e := range se.Errs {
			s.gap(fmt.Sprintf("log dir sizes on broker %d", e.Broker.NodeID), "DescribeLogDirs", e.Err)
		}
	default:
		s.gap("log dir sizes", "DescribeLogDirs", err)
	}
	s.logDirsOK = len(dirs) > 0
}

func (s *scanner) describeProducers(ctx context.Context) {
	parts := s.partitions(func(m topicMeta) bool {
		if !allowed(m.ops, kmsg.ACLOperationRead) {
			s.gap("transactional producers of topic "+m.name, "DescribeProducers", errNotAllowed("DescribeProducers", "topic", m.name))
			return false
		}
		return true
	})
	s.producers = describeProducers(ctx, s.cl, parts)
	failed := map[string]error{}
	for p, pr := range s.producers {
		if pr.err != nil && failed[p.topic] == nil {
			failed[p.topic] = pr.err
		}
	}
	for _, t := range sortedKeys(failed) {
		s.gap("transactional producers of topic "+t, "DescribeProducers", failed[t])
	}
}

func (s *scanner) describeQuorum(ctx context.Context) {
	q, err := describeQuorum(ctx, s.cl, s.opts.now().UnixMilli())
	if err != nil {
		if errors.Is(err, kerr.UnsupportedVersion) || errors.Is(err, kerr.InvalidRequest) || strings.Contains(err.Error(), "too old") {
			err = fmt.Errorf("%w (the cluster is not in KRaft mode or too old to describe its quorum)", err)
		}
		s.gap("KRaft quorum and active controller", "DescribeQuorum", err)
		return
	}
	s.snap.Quorum = q
}

func (s *scanner) describeACLs(ctx context.Context) {
	acls, err := describeACLs(ctx, s.cl)
	switch {
	case errors.Is(err, errSecurityDisabled):
		s.snap.Authorizer = "off"
	case err != nil:
		s.gap("ACLs", "DescribeAcls", err)
	default:
		s.snap.Authorizer = "on"
		s.snap.ACLs = acls
	}
}

// errNotAllowed says that the principal's authorized operations, as the broker
// reported them, do not include a request's.
func errNotAllowed(request, kind, name string) error {
	return fmt.Errorf("%w: the principal may not %s %s %s", kerr.TopicAuthorizationFailed, request, kind, name)
}

// sourceName turns a config source into the word reports use.
func sourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "broker"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "cluster"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "static"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	}
	return strings.ToLower(s.String())
}

// applyConfigs fills a topic's configuration fields from its DescribeConfigs
// answer and collects the broker-level defaults that differ from Kafka's.
func applyConfigs(t *Topic, cfgs []kmsg.DescribeConfigsResponseResourceConfig, defaults map[string]Config) {
	for _, c := range cfgs {
		val := ""
		if c.Value != nil {
			val = *c.Value
		}
		switch c.Name {
		case "cleanup.policy":
			t.CleanupPolicy = val
			t.Compacted = strings.Contains(val, "compact")
		case "retention.ms":
			t.RetentionMillis = parseInt(val)
		case "max.message.bytes":
			t.MaxMessageBytes = parseInt(val)
		case "min.insync.replicas":
			t.MinInsyncReplicas = int(parseInt(val))
		case "message.timestamp.type":
			t.TimestampType = val
		}
		cv := Config{Name: c.Name, Value: val, Sensitive: c.IsSensitive, Source: sourceName(c.Source)}
		switch c.Source {
		case kmsg.ConfigSourceDynamicTopicConfig:
			// The first synonym that is set is the value the override hides; it
			// is often a broker setting of another name, and unit
			// (log.roll.hours for segment.ms).
			for _, syn := range c.ConfigSynonyms {
				if syn.Source == kmsg.ConfigSourceDynamicTopicConfig || syn.Value == nil {
					continue
				}
				cv.Default = *syn.Value
				if syn.Name != c.Name {
					cv.DefaultName = syn.Name
				}
				cv.DefaultSource = sourceName(syn.Source)
				break
			}
			t.Configs = append(t.Configs, cv)
		case kmsg.ConfigSourceDynamicBrokerConfig, kmsg.ConfigSourceDynamicDefaultBrokerConfig, kmsg.ConfigSourceStaticBrokerConfig:
			builtIn, hasBuiltIn := "", false
			for _, syn := range c.ConfigSynonyms {
				if syn.Source == kmsg.ConfigSourceDefaultConfig && syn.Value != nil {
					builtIn, hasBuiltIn = *syn.Value, true
				}
			}
			if hasBuiltIn && builtIn == val {
				continue
			}
			if _, ok := defaults[c.Name]; !ok {
				if hasBuiltIn {
					cv.Default, cv.DefaultSource = builtIn, "default"
				}
				defaults[c.Name] = cv
			}
		}
	}
	sort.Slice(t.Configs, func(i, j int) bool { return t.Configs[i].Name < t.Configs[j].Name })
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return Unknown
	}
	return n
}

// assemble turns the sections' answers into the snapshot.
func (s *scanner) assemble(ctx context.Context) {
	snap := s.snap
	snap.metas = s.metas
	if s.cluster != nil {
		if snap.ClusterID == "" {
			snap.ClusterID = s.cluster.id
		}
		if len(s.cluster.brokers) > 0 {
			snap.Brokers = s.cluster.brokers
		}
	}
	sort.Slice(snap.Brokers, func(i, j int) bool { return snap.Brokers[i].ID < snap.Brokers[j].ID })
	brokerIdx := map[int32]int{}
	for i := range snap.Brokers {
		brokerIdx[snap.Brokers[i].ID] = i
		snap.Brokers[i].SizeBytes = Unknown
		if d, ok := s.logDirs[snap.Brokers[i].ID]; ok {
			snap.Brokers[i].SizeBytes = d.Size()
		}
	}

	defaults := map[string]Config{}
	for _, name := range s.picked {
		snap.Topics = append(snap.Topics, s.topic(name, defaults, brokerIdx))
	}
	for _, k := range sortedKeys(defaults) {
		snap.TopicDefaults = append(snap.TopicDefaults, defaults[k])
	}

	if snap.Authorizer == "unknown" && !s.opts.SkipCluster {
		// An authorizer refused to list ACLs: it may hide topics and groups too.
		s.gaps = append(s.gaps, Gap{What: "topics and groups this principal may not describe", Request: "Metadata, ListGroups",
			Reason: "Kafka leaves them out of its answers without an error, so the lists below may be incomplete"})
	}
	s.finishGroups(ctx)
	snap.Groups = append(snap.Groups, s.groups...)
	s.health()
	snap.Unavailable = append(snap.Unavailable, s.gaps...)
	sort.SliceStable(snap.Unavailable, func(i, j int) bool { return snap.Unavailable[i].What < snap.Unavailable[j].What })
	s.summarize()
}

// topic builds one topic's row.
func (s *scanner) topic(name string, defaults map[string]Config, brokerIdx map[int32]int) Topic {
	m := s.metas[name]
	t := Topic{
		Name: name, Internal: internalTopic(m), Selected: s.selectedTopic(name),
		Partitions: len(m.partitions), RetentionMillis: Unknown, MaxMessageBytes: Unknown,
		MinInsyncReplicas: Unknown, SizeBytes: Unknown, ReplicaBytes: Unknown,
		OldestTimestampMillis: Unknown, PartitionList: []Partition{},
	}
	if m.id != ([16]byte{}) {
		t.ID = kadm.TopicID(m.id).String()
	}
	if m.err != nil {
		t.Error = m.err.Error()
		return t
	}
	if rc, ok := s.configs[name]; ok && rc.err == nil {
		applyConfigs(&t, rc.configs, defaults)
	}
	parts := append([]kmsg.MetadataResponseTopicPartition(nil), m.partitions...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].Partition < parts[j].Partition })
	var sizeKnown, replicaKnown bool
	var size, replicaSize int64
	for _, mp := range parts {
		p := s.partition(name, mp, brokerIdx)
		t.ReplicationFactor = max(t.ReplicationFactor, len(p.Replicas))
		if p.UnderReplicated {
			t.UnderReplicated++
		}
		if p.Offline {
			t.Offline++
		}
		if p.Records > 0 {
			t.Records += p.Records
		}
		if p.SizeBytes >= 0 {
			size += p.SizeBytes
			sizeKnown = true
		}
		if p.ReplicaBytes >= 0 {
			replicaSize += p.ReplicaBytes
			replicaKnown = true
		}
		if p.FirstTimestampMillis >= 0 && (t.OldestTimestampMillis < 0 || p.FirstTimestampMillis < t.OldestTimestampMillis) {
			t.OldestTimestampMillis = p.FirstTimestampMillis
		}
		if p.TransactionalProducers > 0 || p.OpenTransaction {
			t.Transactional = true
		}
		t.PartitionList = append(t.PartitionList, p)
	}
	if sizeKnown {
		t.SizeBytes = size
	}
	if replicaKnown {
		t.ReplicaBytes = replicaSize
	}
	t.RecordsUpperBound = t.Compacted || t.Transactional
	return t
}

// partition builds one partition's row.
func (s *scanner) partition(topic string, mp kmsg.MetadataResponseTopicPartition, brokerIdx map[int32]int) Partition {
	key := tp{topic, mp.Partition}
	p := Partition{
		Partition: mp.Partition, Leader: mp.Leader,
		Replicas: sorted32(mp.Replicas), ISR: sorted32(mp.ISR), OfflineReplicas: sorted32(mp.OfflineReplicas),
		Earliest: Unknown, Latest: Unknown, Stable: Unknown, Records: Unknown,
		FirstTimestampMillis: Unknown, SizeBytes: Unknown, ReplicaBytes: Unknown,
	}
	if len(p.OfflineReplicas) == 0 {
		p.OfflineReplicas = nil
	}
	// An offline partition counts as offline only (Kafka 4 may shrink its ISR
	// to nothing, KIP-966).
	p.Offline = mp.Leader < 0
	p.UnderReplicated = !p.Offline && len(mp.ISR) < len(mp.Replicas)
	for _, r := range mp.Replicas {
		if i, ok := brokerIdx[r]; ok {
			s.snap.Brokers[i].Replicas++
		}
	}
	if i, ok := brokerIdx[mp.Leader]; ok {
		s.snap.Brokers[i].Leaders++
	}
	var errs []string
	if err := kerr.ErrorForCode(mp.ErrorCode); err != nil {
		errs = append(errs, err.Error())
	}
	if !p.Offline {
		get := func(what string, m map[tp]listed) int64 {
			l, ok := m[key]
			switch {
			case !ok:
				return Unknown
			case l.err != nil:
				errs = append(errs, what+": "+l.err.Error())
				return Unknown
			}
			return l.offset
		}
		p.Earliest = get("earliest offset", s.earliest)
		p.Latest = get("latest offset", s.latest)
		p.Stable = get("last stable offset", s.stable)
		if p.Earliest >= 0 && p.Latest >= 0 {
			p.Records = max(0, p.Latest-p.Earliest)
		}
		if l, ok := s.firstTime[key]; ok && l.err == nil && l.offset >= 0 && l.timestamp >= 0 && (p.Latest < 0 || l.offset < p.Latest) {
			p.FirstTimestampMillis = l.timestamp
		}
		if pr, ok := s.producers[key]; ok && pr.err == nil {
			p.TransactionalProducers = pr.transactional
			p.OpenTransaction = pr.open
		}
		if p.Stable >= 0 && p.Latest > p.Stable {
			p.OpenTransaction = true
		}
	}
	if s.logDirsOK {
		if d, ok := s.logDirs[mp.Leader]; ok {
			if lp, ok := d.LookupPartition(topic, mp.Partition); ok && !lp.IsFuture {
				p.SizeBytes = lp.Size
			}
		}
		var sum int64
		var seen bool
		for _, r := range mp.Replicas {
			if d, ok := s.logDirs[r]; ok {
				if lp, ok := d.LookupPartition(topic, mp.Partition); ok && !lp.IsFuture {
					sum += lp.Size
					seen = true
				}
			}
		}
		if seen {
			p.ReplicaBytes = sum
		}
	}
	if len(errs) > 0 {
		p.Error = strings.Join(errs, "; ")
	}
	return p
}

func sorted32(in []int32) []int32 {
	out := append([]int32{}, in...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// health derives the notes on what looks wrong.
func (s *scanner) health() {
	snap := s.snap
	add := func(sev, code, subject, format string, args ...any) {
		snap.Health = append(snap.Health, Note{Severity: sev, Code: code, Subject: subject, Message: fmt.Sprintf(format, args...)})
	}
	for _, b := range snap.Brokers {
		if b.Fenced {
			add(SeverityWarning, "fenced-broker", fmt.Sprintf("broker %d", b.ID), "broker %d is registered but fenced: it serves no partition", b.ID)
		}
	}
	racks := 0
	for _, b := range snap.Brokers {
		if b.Rack != "" {
			racks++
		}
	}
	if racks > 0 && racks < len(snap.Brokers) {
		for _, b := range snap.Brokers {
			if b.Rack == "" {
				add(SeverityWarning, "rack-missing", fmt.Sprintf("broker %d", b.ID), "broker %d has no rack while others have one: rack-aware placement cannot spread replicas evenly", b.ID)
			}
		}
	}
	if q := snap.Quorum; q != nil {
		for _, set := range []struct {
			role    string
			members []QuorumMember
		}{{"voter", q.Voters}, {"observer", q.Observers}} {
			for _, m := range set.members {
				// A member that has not caught up for 30s is behind, not just
				// between fetches.
				if m.ID != q.LeaderID && m.Lag > 0 && m.CaughtUpMillisAgo > 30000 {
					add(SeverityWarning, "quorum-lag", fmt.Sprintf("%s %d", set.role, m.ID),
						"quorum %s %d is %d records behind the metadata high watermark and last caught up %s ago", set.role, m.ID, m.Lag, time.Duration(m.CaughtUpMillisAgo)*time.Millisecond)
				}
			}
		}
	}
	for _, t := range snap.Topics {
		for _, p := range t.PartitionList {
			subject := fmt.Sprintf("%s[%d]", t.Name, p.Partition)
			switch {
			case p.Offline:
				add(SeverityWarning, "offline", subject, "%s has no leader: replicas %s are all offline or out of sync; its data cannot be read", subject, ids(p.Replicas))
			case p.UnderReplicated:
				add(SeverityWarning, "under-replicated", subject, "%s is under-replicated: ISR %s of replicas %s", subject, ids(p.ISR), ids(p.Replicas))
			}
			if p.OpenTransaction && p.Stable >= 0 && p.Latest > p.Stable {
				add(SeverityInfo, "open-transaction", subject, "%s has an open transaction: read_committed consumers stop at offset %d (high watermark %d)", subject, p.Stable, p.Latest)
			}
			if p.Error != "" && !p.Offline {
				add(SeverityWarning, "partition-error", subject, "%s: %s", subject, p.Error)
			}
		}
	}
	for _, id := range sortedInt32Keys(s.logDirs) {
		for _, d := range s.logDirs[id].Sorted() {
			if d.Err != nil {
				add(SeverityWarning, "log-dir-error", fmt.Sprintf("broker %d", id), "broker %d log dir %s: %v", id, d.Dir, d.Err)
			}
		}
	}
}

func sortedInt32Keys[V any](m map[int32]V) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func ids(in []int32) string {
	if len(in) == 0 {
		return "none"
	}
	parts := make([]string, len(in))
	for i, v := range in {
		parts[i] = strconv.Itoa(int(v))
	}
	return strings.Join(parts, ",")
}

// summarize counts what the snapshot holds.
func (s *scanner) summarize() {
	snap := s.snap
	sum := &snap.Summary
	sum.Brokers = len(snap.Brokers)
	sum.Controllers = Unknown
	if snap.Quorum != nil {
		sum.Controllers = len(snap.Quorum.Voters)
	}
	sum.Topics = len(snap.Topics)
	sum.SizeBytes, sum.ReplicaBytes = Unknown, Unknown
	for _, t := range snap.Topics {
		if t.Internal {
			sum.InternalTopics++
		}
		if t.Selected {
			sum.SelectedTopics++
		}
		sum.Partitions += t.Partitions
		sum.UnderReplicated += t.UnderReplicated
		sum.Offline += t.Offline
		if t.Compacted {
			sum.CompactedTopics++
		}
		if t.Transactional {
			sum.TransactionalTopics++
		}
		sum.Records += t.Records
		sum.RecordsUpperBound = sum.RecordsUpperBound || t.RecordsUpperBound
		if t.SizeBytes >= 0 {
			sum.SizeBytes = max(sum.SizeBytes, 0) + t.SizeBytes
		}
		if t.ReplicaBytes >= 0 {
			sum.ReplicaBytes = max(sum.ReplicaBytes, 0) + t.ReplicaBytes
		}
	}
	if !s.logDirsOK {
		sum.SizeBytes, sum.ReplicaBytes = Unknown, Unknown
	} else if len(snap.Topics) == 0 {
		sum.SizeBytes, sum.ReplicaBytes = 0, 0
	}
	sum.Groups = len(snap.Groups)
	for _, g := range snap.Groups {
		sum.TotalLag += max(0, g.Lag)
	}
	sum.ACLs = len(snap.ACLs)
	for _, n := range snap.Health {
		if n.Severity == SeverityWarning {
			sum.Warnings++
		}
	}
	sum.Unavailable = len(snap.Unavailable)
}
