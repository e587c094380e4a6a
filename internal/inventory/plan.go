package inventory

import (
	"context"
	"errors"
	"fmt"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// PlanSchema is the schema version of a Plan's JSON form.
const PlanSchema = "kmigrate.plan/v1"

// DefaultAssumedRate is the copy rate, in bytes per second, that the retention
// check assumes when neither the operator (`plan --assumed-rate`) nor the
// configuration (replication.max_bytes_per_second) gives one: 20 MiB/s, what
// one kmigrate process sustains across a wide-area link with room to spare. A
// slower real rate makes the check optimistic, so pass a measured figure.
const DefaultAssumedRate = 20 << 20

// Finding codes. Blockers: `run` would refuse or fail.
const (
	// CodePartitionCount: a target topic exists with a partition count that
	// differs from the source's, and kmigrate did not create it.
	CodePartitionCount = "partition-count-differs"
	// CodeForeignData: a target partition holds records and kmigrate's state
	// has nothing for it.
	CodeForeignData = "foreign-data"
	// CodeStateMismatch: kmigrate's state says it wrote records that the target
	// no longer holds (topic deleted or recreated), or the state is inconsistent.
	CodeStateMismatch = "state-mismatch"
	// CodeCannotReadSource: the principal may not read a selected source topic
	// or group.
	CodeCannotReadSource = "cannot-read-source"
	// CodeCannotCreate: the target refuses to create a topic (permission, or the
	// spec: replication factor, configs).
	CodeCannotCreate = "cannot-create-target"
	// CodeCannotWrite: the principal may not write, or configure, a target topic
	// (the state topic included).
	CodeCannotWrite = "cannot-write-target"
)

// Warning codes: the migration can run; the operator must know.
const (
	// CodeRFCapped: the source replication factor is above the target's broker
	// count; the target topic gets fewer replicas.
	CodeRFCapped = "rf-capped"
	// CodeMinInsync: min.insync.replicas is above the replication factor the
	// target topic gets.
	CodeMinInsync = "min-insync-above-rf"
	// CodeMaxMessageBytes: the target's max.message.bytes is below the
	// source's: records the source accepted may not fit.
	CodeMaxMessageBytes = "max-message-bytes-lower"
	// CodeLogAppendTime: the target topic stamps records with LogAppendTime, so
	// the source timestamps are not kept.
	CodeLogAppendTime = "log-append-time"
	// CodeCleanupPolicy: the target topic's cleanup.policy differs from the
	// source's.
	CodeCleanupPolicy = "cleanup-policy-differs"
	// CodeRetention: source retention deletes records before the copy, at the
	// assumed rate, reaches them.
	CodeRetention = "retention-before-copy"
)

// Information codes.
const (
	CodePartitionsRaised = "partitions-raised"
	CodeTailToReconcile  = "tail-to-reconcile"
	CodeTopicMissing     = "topic-missing"
	CodeGroupMissing     = "group-missing"
	CodeGroupUnselected  = "group-reads-unselected"
	CodeNothingSelected  = "nothing-selected"
	CodeRetentionUnknown = "retention-unknown"
)

// Plan is what a migration will do to the target and what stands in its way.
type Plan struct {
	// Schema is PlanSchema.
	Schema    string    `json:"schema"`
	Migration string    `json:"migration"`
	TakenAt   time.Time `json:"taken_at"`
	// Source and Target describe the two clusters.
	Source PlanCluster `json:"source"`
	Target PlanCluster `json:"target"`
	// Rate is the copy rate the retention check assumed.
	Rate CopyRate `json:"rate"`
	// Summary counts what follows; Ready is false when any blocker exists.
	Summary PlanSummary `json:"summary"`
	// Findings are the problems, blockers first, then warnings, then notes.
	Findings []Finding `json:"findings"`
	// Topics are the selected source topics and what the target gets.
	Topics []PlannedTopic `json:"topics"`
	// Groups are the selected consumer groups.
	Groups []PlannedGroup `json:"groups"`
	// Unavailable lists what could not be seen on either cluster.
	Unavailable []Gap `json:"unavailable,omitempty"`
}

// PlanCluster describes one side of the plan.
type PlanCluster struct {
	ClusterID string `json:"cluster_id"`
	Brokers   int    `json:"brokers"`
}

// CopyRate is the copy rate assumed and where it comes from.
type CopyRate struct {
	BytesPerSecond int64 `json:"bytes_per_second"`
	// Origin is "--assumed-rate", "replication.max_bytes_per_second" or
	// "default".
	Origin string `json:"origin"`
}

// PlanSummary counts a plan.
type PlanSummary struct {
	Topics     int `json:"topics"`
	Create     int `json:"create"`
	Existing   int `json:"existing"`
	Partitions int `json:"partitions"`
	// Records and SizeBytes total the selected topics (Records is an upper
	// bound when RecordsUpperBound is set; SizeBytes Unknown when not visible).
	Records           int64 `json:"records"`
	RecordsUpperBound bool  `json:"records_upper_bound"`
	SizeBytes         int64 `json:"size_bytes"`
	// CopySeconds is SizeBytes at the assumed rate; Unknown with SizeBytes.
	CopySeconds int64 `json:"copy_seconds"`
	Groups      int   `json:"groups"`
	Blockers    int   `json:"blockers"`
	Warnings    int   `json:"warnings"`
	Infos       int   `json:"infos"`
	// Ready is true when there is no blocker.
	Ready bool `json:"ready"`
}

// Finding is one problem or note.
type Finding struct {
	// Severity is blocker, warning or info; Code is one of the Code constants.
	Severity string `json:"severity"`
	Code     string `json:"code"`
	// Topic is the source topic and Target the target topic concerned; Group the
	// consumer group; any may be empty.
	Topic  string `json:"topic,omitempty"`
	Target string `json:"target,omitempty"`
	Group  string `json:"group,omitempty"`
	// Partitions lists the partitions concerned, when not all of them.
	Partitions []int32 `json:"partitions,omitempty"`
	Message    string  `json:"message"`
	// Fix says what to do about it, when something can be done.
	Fix string `json:"fix,omitempty"`
}

// PlannedTopic is one selected source topic and its target.
type PlannedTopic struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Action is "create", "exists", "raise partitions", "update configs" or
	// "blocked".
	Action            string `json:"action"`
	Partitions        int32  `json:"partitions"`
	ReplicationFactor int16  `json:"replication_factor"`
	SourceRF          int16  `json:"source_replication_factor"`
	// Configs are the configs kmigrate sets on the target topic; Skipped the
	// source overrides it does not copy, with the reason.
	Configs           map[string]string `json:"configs,omitempty"`
	Skipped           map[string]string `json:"skipped,omitempty"`
	Compacted         bool              `json:"compacted,omitempty"`
	Records           int64             `json:"records"`
	RecordsUpperBound bool              `json:"records_upper_bound"`
	SizeBytes         int64             `json:"size_bytes"`
}

// PlannedGroup is one selected consumer group.
type PlannedGroup struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Members int    `json:"members"`
	Lag     int64  `json:"lag"`
	// Topics are the topics it has committed offsets for; UnselectedTopics those
	// of them the topic selection leaves out.
	Topics           []string `json:"topics"`
	UnselectedTopics []string `json:"unselected_topics,omitempty"`
}

// PlanOptions are the inputs of MakePlan.
type PlanOptions struct {
	// Config is the migration.
	Config *config.Config
	// Source and Target are clients of the two clusters, as kmigrate's principal
	// on each.
	Source, Target *kgo.Client
	// NewTargetReader builds a client of the target that reads the state topic
	// (state.NewStore's reader).
	NewTargetReader func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error)
	// Rate is the copy rate the retention check assumes.
	Rate CopyRate
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// MakePlan compares the selected source topics and groups with the target and
// returns what `run` will create and every problem it found. It changes neither
// cluster. It fails only when a cluster cannot be reached; what the principal may
// not see becomes findings and gaps.
func MakePlan(ctx context.Context, o PlanOptions) (*Plan, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if o.Config == nil || o.Source == nil || o.Target == nil || o.NewTargetReader == nil {
		return nil, errors.New("make plan: Config, Source, Target and NewTargetReader are required")
	}
	cfg := o.Config
	src, err := Scan(ctx, o.Source, Options{
		Role: kafka.Source, Topics: &cfg.Topics, Groups: &cfg.Groups, OnlySelected: true, SkipCluster: true, Now: now,
	})
	if err != nil {
		return nil, err
	}
	tgtMetas, tgtBrokers, tgtID, err := metadata(ctx, o.Target, nil)
	if err != nil {
		return nil, fmt.Errorf("read metadata of the target cluster: %w", err)
	}
	p := &planner{o: o, cfg: cfg, src: src, tgtMetas: tgtMetas, now: now}
	for _, b := range tgtBrokers {
		p.tgtBrokerIDs = append(p.tgtBrokerIDs, b.NodeID)
	}
	sort.Slice(p.tgtBrokerIDs, func(i, j int) bool { return p.tgtBrokerIDs[i] < p.tgtBrokerIDs[j] })
	p.plan = &Plan{
		Schema: PlanSchema, Migration: cfg.Migration, TakenAt: src.TakenAt, Rate: o.Rate,
		Source:   PlanCluster{ClusterID: src.ClusterID, Brokers: len(src.Brokers)},
		Target:   PlanCluster{ClusterID: tgtID, Brokers: len(tgtBrokers)},
		Findings: []Finding{}, Topics: []PlannedTopic{}, Groups: []PlannedGroup{},
	}
	for _, g := range src.Unavailable {
		p.plan.Unavailable = append(p.plan.Unavailable, Gap{What: "source: " + g.What, Request: g.Request, Reason: g.Reason})
	}
	if err := p.run(ctx, len(tgtBrokers)); err != nil {
		return nil, err
	}
	p.finish()
	return p.plan, nil
}

// planner holds one plan's working state.
type planner struct {
	o        PlanOptions
	cfg      *config.Config
	src      *Snapshot
	tgtMetas map[string]topicMeta
	// tgtBrokerIDs are the target's brokers, by id.
	tgtBrokerIDs []int32
	now          func() time.Time
	plan         *Plan

	// specs are the target specs of the readable selected topics, by source.
	specs map[string]scope.TopicSpec
	// tgtConfigs are the effective configs of existing target topics.
	tgtConfigs map[string]map[string]string
	// tgtOverrides are the topic-level overrides of existing target topics.
	tgtOverrides map[string]map[string]string
	// brokerDefaults are the target's broker-level topic defaults, by topic
	// config name; nil when they could not be read.
	brokerDefaults map[string]string
	// createConfigs are the configs the target reports for a topic it would
	// create (validate-only CreateTopics), by target name.
	createConfigs map[string]map[string]string
	st            *state.State
}

func (p *planner) add(f Finding) { p.plan.Findings = append(p.plan.Findings, f) }

func (p *planner) gap(what, request string, err error) {
	reason := err.Error()
	if hint := kafka.Hint(err); hint != "" {
		reason += " (" + hint + ")"
	}
	p.plan.Unavailable = append(p.plan.Unavailable, Gap{What: what, Request: request, Reason: reason})
}

func (p *planner) run(ctx context.Context, tgtBrokers int) error {
	readable := p.checkSource(ctx)
	details := kadm.TopicDetails{}
	for _, t := range p.src.Topics {
		if !readable[t.Name] {
			continue
		}
		m := p.src.metas[t.Name]
		d := kadm.TopicDetail{Topic: t.Name, Partitions: kadm.PartitionDetails{}}
		for _, mp := range m.partitions {
			d.Partitions[mp.Partition] = kadm.PartitionDetail{Topic: t.Name, Partition: mp.Partition, Leader: mp.Leader, Replicas: mp.Replicas, ISR: mp.ISR}
		}
		details[t.Name] = d
	}
	specs, err := scope.Specs(ctx, kadm.NewClient(p.o.Source), details, p.cfg, tgtBrokers)
	if err != nil {
		return fmt.Errorf("plan target topics: %w", err)
	}
	p.specs = map[string]scope.TopicSpec{}
	for _, s := range specs {
		p.specs[s.Source] = s
	}
	p.readTarget(ctx)
	p.checkCreate(ctx, tgtBrokers)
	for _, t := range p.src.Topics {
		p.topic(ctx, t)
	}
	p.retention(ctx)
	p.groups()
	return nil
}

// checkSource reports the selected source topics and groups the principal may
// not read, and returns the topics it may.
func (p *planner) checkSource(ctx context.Context) map[string]bool {
	readable := map[string]bool{}
	for _, t := range p.src.Topics {
		m := p.src.metas[t.Name]
		var missing []string
		if !allowed(m.ops, kmsg.ACLOperationRead) {
			missing = append(missing, "Read")
		}
		if !allowed(m.ops, kmsg.ACLOperationDescribeConfigs) {
			missing = append(missing, "DescribeConfigs")
		}
		if m.err != nil {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Topic: t.Name,
				Message: fmt.Sprintf("source topic %s cannot be described: %v", t.Name, m.err)})
			continue
		}
		if len(missing) > 0 {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Topic: t.Name,
				Message: fmt.Sprintf("the source principal may not %s topic %s: kmigrate reads its records and copies its configs", strings.Join(missing, " or "), t.Name),
				Fix:     fmt.Sprintf("grant the principal Read and DescribeConfigs on topic %s", t.Name)})
			continue
		}
		readable[t.Name] = true
	}
	// Names the selection spells out literally but the scan did not see: absent,
	// or hidden from this principal.
	var names []string
	for _, n := range literals(p.cfg.Topics.Include) {
		if _, seen := p.src.metas[n]; !seen && scope.Topic(&p.cfg.Topics, n) {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		metas, _, _, err := metadata(ctx, p.o.Source, names)
		if err != nil {
			p.gap("source topics named in the selection", "Metadata", err)
		}
		for _, n := range names {
			m, ok := metas[n]
			switch {
			case !ok:
			case errors.Is(m.err, kerr.TopicAuthorizationFailed):
				p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Topic: n,
					Message: fmt.Sprintf("the source principal may not even describe topic %s, which the selection names", n),
					Fix:     fmt.Sprintf("grant the principal Read and DescribeConfigs on topic %s", n)})
			case m.err == nil:
				// Created since the scan: it will be picked up by run.
			default:
				p.add(Finding{Severity: SeverityInfo, Code: CodeTopicMissing, Topic: n,
					Message: fmt.Sprintf("topic %s, named in the selection, does not exist on the source (%v)", n, m.err)})
			}
		}
	}
	for _, g := range p.src.Groups {
		if g.Error != "" && strings.Contains(g.Error, "AUTHORIZATION") {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Group: g.Name,
				Message: fmt.Sprintf("the source principal may not read group %s: %s", g.Name, g.Error),
				Fix:     fmt.Sprintf("grant the principal Describe on group %s", g.Name)})
		}
	}
	seenGroups := map[string]bool{}
	for _, g := range p.src.Groups {
		seenGroups[g.Name] = true
	}
	var groups []string
	for _, n := range literals(p.cfg.Groups.Include) {
		if !seenGroups[n] && scope.Group(&p.cfg.Groups, n) {
			groups = append(groups, n)
		}
	}
	for _, dg := range describeGroupsSettled(ctx, p.o.Source, groups, 15*time.Second) {
		switch err := dg.err; {
		case errors.Is(err, kerr.GroupAuthorizationFailed):
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Group: dg.group,
				Message: fmt.Sprintf("the source principal may not describe group %s, which the selection names", dg.group),
				Fix:     fmt.Sprintf("grant the principal Describe on group %s", dg.group)})
		case err != nil && !errors.Is(err, kerr.GroupIDNotFound):
			p.gap("source group "+dg.group, "DescribeGroups", err)
		default:
			p.add(Finding{Severity: SeverityInfo, Code: CodeGroupMissing, Group: dg.group,
				Message: fmt.Sprintf("group %s, named in the selection, has no committed offsets on the source", dg.group)})
		}
	}
	if len(p.src.Topics) == 0 {
		p.add(Finding{Severity: SeverityInfo, Code: CodeNothingSelected,
			Message: "no source topic is selected and visible: check topics.include, and that the principal may describe the topics"})
	}
	return readable
}

// literals returns the patterns that match exactly one name, as that name.
func literals(patterns []string) []string {
	var out []string
	for _, pat := range patterns {
		re, err := syntax.Parse(pat, syntax.Perl)
		if err != nil {
			continue
		}
		re = re.Simplify()
		if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
			out = append(out, string(re.Rune))
		}
	}
	return out
}

// readTarget reads what the target already holds: configs and offsets of the
// existing target topics, the broker defaults new topics get, and kmigrate's
// state.
func (p *planner) readTarget(ctx context.Context) {
	var existing []string
	for _, s := range p.specs {
		if m, ok := p.tgtMetas[s.Target]; ok && m.err == nil && allowed(m.ops, kmsg.ACLOperationDescribeConfigs) {
			existing = append(existing, s.Target)
		}
	}
	sort.Strings(existing)
	p.tgtConfigs, p.tgtOverrides = map[string]map[string]string{}, map[string]map[string]string{}
	cfgs, err := describeConfigs(ctx, p.o.Target, kmsg.ConfigResourceTypeTopic, existing)
	if err != nil {
		p.gap("target: topic configs", "DescribeConfigs", err)
	}
	for name, rc := range cfgs {
		if rc.err != nil {
			p.gap("target: configs of topic "+name, "DescribeConfigs", rc.err)
			continue
		}
		eff, over := map[string]string{}, map[string]string{}
		for _, c := range rc.configs {
			if c.Value == nil {
				continue
			}
			eff[c.Name] = *c.Value
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				over[c.Name] = *c.Value
			}
		}
		p.tgtConfigs[name], p.tgtOverrides[name] = eff, over
	}
	// The defaults a new topic gets come from the brokers that host it; they
	// are meant to be the same on every broker, so one is asked.
	if len(p.tgtBrokerIDs) > 0 {
		id := strconv.Itoa(int(p.tgtBrokerIDs[0]))
		bc, err := describeConfigs(ctx, p.o.Target, kmsg.ConfigResourceTypeBroker, []string{id})
		if err == nil && bc[id].err != nil {
			err = bc[id].err
		}
		if err != nil {
			p.gap("target: broker defaults for new topics", "DescribeConfigs", err)
		} else {
			p.brokerDefaults = map[string]string{}
			for _, c := range bc[id].configs {
				if topicKey, ok := brokerToTopicConfig[c.Name]; ok && c.Value != nil {
					p.brokerDefaults[topicKey] = *c.Value
				}
			}
		}
	}
	store := state.NewStore(p.o.Target, p.cfg.Migration, p.o.NewTargetReader)
	stateMeta, exists := p.tgtMetas[store.Topic()]
	switch {
	case !exists:
		p.st = &state.State{Partitions: map[state.Key]*state.Saved{}}
	case !allowed(stateMeta.ops, kmsg.ACLOperationRead):
		p.gap("target: kmigrate's state "+store.Topic(), "Fetch", errNotAllowed("Read", "topic", store.Topic()))
	default:
		st, err := store.Load(ctx)
		if err != nil {
			p.gap("target: kmigrate's state "+store.Topic(), "Fetch", err)
		} else {
			p.st = st
		}
	}
}

// brokerToTopicConfig maps the broker settings that give topics their defaults
// to the topic configs they stand for.
var brokerToTopicConfig = map[string]string{
	"message.max.bytes":          "max.message.bytes",
	"log.message.timestamp.type": "message.timestamp.type",
	"log.cleanup.policy":         "cleanup.policy",
	"min.insync.replicas":        "min.insync.replicas",
}

// checkCreate asks the target to validate, without creating anything, every
// topic run would create (the state topic included), and checks that the
// principal may at least describe them.
func (p *planner) checkCreate(ctx context.Context, tgtBrokers int) {
	p.createConfigs = map[string]map[string]string{}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = true
	req.TimeoutMillis = 30000
	source := map[string]string{}
	for _, name := range sortedKeys(p.specs) {
		s := p.specs[name]
		if m, ok := p.tgtMetas[s.Target]; ok && m.err == nil {
			continue
		}
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = s.Target, s.Partitions, s.ReplicationFactor
		for _, k := range sortedKeys(s.Configs) {
			v := s.Configs[k]
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name, rc.Value = k, &v
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
		source[s.Target] = s.Source
	}
	stateTopic := state.TopicName(p.cfg.Migration)
	if m, ok := p.tgtMetas[stateTopic]; !ok || m.err != nil {
		rf, cfgs := state.TopicSpec(tgtBrokers)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = stateTopic, 1, rf
		for _, k := range sortedKeys(cfgs) {
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name, rc.Value = k, cfgs[k]
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
	} else {
		var missing []string
		for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite} {
			if !allowed(m.ops, op) {
				missing = append(missing, opName(op))
			}
		}
		if len(missing) > 0 {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotWrite, Target: stateTopic,
				Message: fmt.Sprintf("the target principal may not %s kmigrate's state topic %s, where the offset map is kept", strings.Join(missing, " or "), stateTopic),
				Fix:     fmt.Sprintf("grant the principal Read and Write on topic %s (or on the prefix _kmigrate.)", stateTopic)})
		}
	}
	if len(req.Topics) == 0 {
		return
	}
	resp, err := req.RequestWith(ctx, p.o.Target)
	if err != nil {
		p.gap("target: topic creation check", "CreateTopics (validate only)", err)
		return
	}
	var names []string
	for _, rt := range resp.Topics {
		names = append(names, rt.Topic)
		err := kerrWithMessage(rt.ErrorCode, rt.ErrorMessage)
		f := Finding{Severity: SeverityBlocker, Topic: source[rt.Topic], Target: rt.Topic}
		switch {
		case err == nil:
			cfgs := map[string]string{}
			for _, c := range rt.Configs {
				if c.Value != nil {
					cfgs[c.Name] = *c.Value
				}
			}
			p.createConfigs[rt.Topic] = cfgs
			continue
		case errors.Is(err, kerr.TopicAlreadyExists):
			f.Code = CodeCannotWrite
			f.Message = fmt.Sprintf("target topic %s exists but the target principal may not describe it", rt.Topic)
			f.Fix = fmt.Sprintf("grant the principal Describe, Write, DescribeConfigs and AlterConfigs on topic %s", rt.Topic)
		case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
			f.Code = CodeCannotCreate
			f.Message = fmt.Sprintf("the target principal may not create topic %s: %v", rt.Topic, err)
			f.Fix = fmt.Sprintf("grant the principal Create on the cluster or on topic %s, or create the topic beforehand", rt.Topic)
		default:
			f.Code = CodeCannotCreate
			f.Message = fmt.Sprintf("the target refuses to create topic %s: %v", rt.Topic, err)
		}
		p.add(f)
	}
	// A principal that may not even describe a topic may not write it.
	metas, _, _, err := metadata(ctx, p.o.Target, names)
	if err != nil {
		p.gap("target: permissions on new topics", "Metadata", err)
		return
	}
	for _, n := range names {
		if m, ok := metas[n]; ok && errors.Is(m.err, kerr.TopicAuthorizationFailed) {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotWrite, Topic: source[n], Target: n,
				Message: fmt.Sprintf("the target principal may not describe topic %s once created, so it may not write it either", n),
				Fix:     fmt.Sprintf("grant the principal Write on topic %s (Write implies Describe)", n)})
		}
	}
}

func opName(op kmsg.ACLOperation) string {
	switch op {
	case kmsg.ACLOperationRead:
		return "Read"
	case kmsg.ACLOperationWrite:
		return "Write"
	case kmsg.ACLOperationDescribeConfigs:
		return "DescribeConfigs"
	case kmsg.ACLOperationAlterConfigs:
		return "AlterConfigs"
	case kmsg.ACLOperationAlter:
		return "Alter"
	}
	return op.String()
}

// topic plans one selected source topic.
func (p *planner) topic(ctx context.Context, t Topic) {
	s, ok := p.specs[t.Name]
	pt := PlannedTopic{
		Source: t.Name, Target: scope.TargetTopic(p.cfg.Replication, t.Name), Action: "blocked",
		Records: t.Records, RecordsUpperBound: t.RecordsUpperBound, SizeBytes: t.SizeBytes, Compacted: t.Compacted,
		Partitions: int32(t.Partitions), SourceRF: int16(t.ReplicationFactor),
	}
	if !ok {
		p.plan.Topics = append(p.plan.Topics, pt)
		return
	}
	pt.Partitions, pt.ReplicationFactor, pt.SourceRF = s.Partitions, s.ReplicationFactor, s.SourceRF
	pt.Configs, pt.Skipped = s.Configs, s.Skipped
	if len(pt.Configs) == 0 {
		pt.Configs = nil
	}
	if len(pt.Skipped) == 0 {
		pt.Skipped = nil
	}
	tm, exists := p.tgtMetas[s.Target]
	exists = exists && tm.err == nil
	rf := int(s.ReplicationFactor)
	blocked := false
	if exists {
		pt.Action = "exists"
		// The existing topic keeps its own replication factor.
		rf = 0
		for _, mp := range tm.partitions {
			rf = max(rf, len(mp.Replicas))
		}
		pt.ReplicationFactor = int16(rf)
		blocked = p.existing(ctx, t, s, tm, &pt)
	} else {
		pt.Action = "create"
		if s.Capped {
			p.add(Finding{Severity: SeverityWarning, Code: CodeRFCapped, Topic: t.Name, Target: s.Target,
				Message: fmt.Sprintf("source replication factor %d is above the target's %d broker(s): target topic %s gets replication factor %d", s.SourceRF, p.plan.Target.Brokers, s.Target, s.ReplicationFactor),
				Fix:     "add target brokers, or accept the lower replication factor (replication.replication_factor sets it per topic)"})
		}
		p.stateWithoutTopic(t, s)
	}
	for _, f := range p.plan.Findings {
		if f.Severity == SeverityBlocker && (f.Topic == t.Name || f.Target == s.Target) {
			blocked = true
		}
	}
	if blocked {
		pt.Action = "blocked"
	}
	p.compareConfigs(t, s, exists, rf)
	p.plan.Topics = append(p.plan.Topics, pt)
}

// existing checks a target topic that already exists: partition count, foreign
// data, permissions. It reports whether the topic is blocked.
func (p *planner) existing(ctx context.Context, t Topic, s scope.TopicSpec, tm topicMeta, pt *PlannedTopic) bool {
	blocked := false
	managed := false
	if p.st != nil {
		for k := range p.st.Partitions {
			if k.Topic == t.Name {
				managed = true
				break
			}
		}
	}
	have := int32(len(tm.partitions))
	switch {
	case have > s.Partitions:
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodePartitionCount, Topic: t.Name, Target: s.Target,
			Message: fmt.Sprintf("target topic %s has %d partitions, source topic %s has %d: kmigrate copies partition n to partition n, and the target's extra partitions would stay empty", s.Target, have, t.Name, s.Partitions),
			Fix:     "delete the target topic (kmigrate creates it) or pick another target name with a rename rule"})
	case have < s.Partitions && managed:
		pt.Action = "raise partitions"
		p.add(Finding{Severity: SeverityInfo, Code: CodePartitionsRaised, Topic: t.Name, Target: s.Target,
			Message: fmt.Sprintf("source topic %s grew to %d partitions; run raises target topic %s from %d", t.Name, s.Partitions, s.Target, have)})
	case have < s.Partitions:
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodePartitionCount, Topic: t.Name, Target: s.Target,
			Message: fmt.Sprintf("target topic %s exists with %d partitions, source topic %s has %d, and kmigrate did not create it: it is someone else's topic", s.Target, have, t.Name, s.Partitions),
			Fix:     "delete the target topic (kmigrate creates it), raise its partitions to match if it is meant for this migration, or pick another target name with a rename rule"})
	}
	// Permissions run needs on an existing topic.
	var missing []string
	if !allowed(tm.ops, kmsg.ACLOperationWrite) {
		missing = append(missing, "Write")
	}
	if !allowed(tm.ops, kmsg.ACLOperationDescribeConfigs) {
		missing = append(missing, "DescribeConfigs")
	}
	if over, ok := p.tgtOverrides[s.Target]; ok {
		for k, v := range s.Configs {
			if over[k] != v {
				if pt.Action == "exists" {
					pt.Action = "update configs"
				}
				if !allowed(tm.ops, kmsg.ACLOperationAlterConfigs) {
					missing = append(missing, "AlterConfigs")
				}
				break
			}
		}
	}
	if have < s.Partitions && !allowed(tm.ops, kmsg.ACLOperationAlter) {
		missing = append(missing, "Alter")
	}
	if len(missing) > 0 {
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotWrite, Topic: t.Name, Target: s.Target,
			Message: fmt.Sprintf("the target principal may not %s topic %s", strings.Join(missing, " or "), s.Target),
			Fix:     fmt.Sprintf("grant the principal %s on topic %s", strings.Join(missing, ", "), s.Target)})
	}
	// Foreign data: records in a partition kmigrate has no state for.
	if p.st == nil {
		return blocked
	}
	parts := map[string][]int32{}
	for _, mp := range tm.partitions {
		if mp.Leader >= 0 {
			parts[s.Target] = append(parts[s.Target], mp.Partition)
		}
	}
	starts := listOffsets(ctx, p.o.Target, parts, readUncommitted, listEarliest)
	ends := listOffsets(ctx, p.o.Target, parts, readUncommitted, listLatest)
	var foreign, mismatch, tails []int32
	var foreignRecords int64
	var mismatchWhy []string
	for _, mp := range sortedParts(tm.partitions) {
		k := tp{s.Target, mp}
		st, en := starts[k], ends[k]
		if st.err != nil || en.err != nil {
			p.gap(fmt.Sprintf("target: offsets of %s", k), "ListOffsets", errors.Join(st.err, en.err))
			continue
		}
		saved := p.st.Partitions[state.Key{Topic: t.Name, Partition: mp}]
		switch {
		case saved == nil && en.offset > st.offset:
			foreign = append(foreign, mp)
			foreignRecords += en.offset - st.offset
		case saved == nil:
		case saved.Err != nil:
			mismatch = append(mismatch, mp)
			mismatchWhy = append(mismatchWhy, fmt.Sprintf("partition %d: state inconsistent: %v", mp, saved.Err))
		case en.offset < saved.Checkpoint.TgtNext:
			mismatch = append(mismatch, mp)
			mismatchWhy = append(mismatchWhy, fmt.Sprintf("partition %d ends at offset %d but kmigrate wrote up to offset %d", mp, en.offset, saved.Checkpoint.TgtNext-1))
		case en.offset > saved.Checkpoint.TgtNext:
			tails = append(tails, mp)
		}
	}
	if len(foreign) > 0 {
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodeForeignData, Topic: t.Name, Target: s.Target, Partitions: foreign,
			Message: fmt.Sprintf("target topic %s holds %d records that kmigrate did not write (partitions %s): kmigrate must be the only writer of its target partitions", s.Target, foreignRecords, ids(foreign)),
			Fix:     "empty or delete the target topic, or pick another target name with a rename rule"})
	}
	if len(mismatch) > 0 {
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodeStateMismatch, Topic: t.Name, Target: s.Target, Partitions: mismatch,
			Message: fmt.Sprintf("target topic %s no longer holds what kmigrate wrote (topic deleted and recreated?): %s", s.Target, strings.Join(mismatchWhy, "; ")),
			Fix:     "start a new migration (another migration name) into an empty target topic"})
	}
	if len(tails) > 0 {
		p.add(Finding{Severity: SeverityInfo, Code: CodeTailToReconcile, Topic: t.Name, Target: s.Target, Partitions: tails,
			Message: fmt.Sprintf("target topic %s has records past kmigrate's last checkpoint in partitions %s (a run is live, or crashed): run matches them against the source record by record and refuses any that differ", s.Target, ids(tails))})
	}
	return blocked
}

// stateWithoutTopic reports state for a topic that is missing on the target.
func (p *planner) stateWithoutTopic(t Topic, s scope.TopicSpec) {
	if p.st == nil {
		return
	}
	var parts []int32
	for k, saved := range p.st.Partitions {
		if k.Topic == t.Name && saved.Checkpoint.TgtNext > 0 {
			parts = append(parts, k.Partition)
		}
	}
	if len(parts) == 0 {
		return
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	p.add(Finding{Severity: SeverityBlocker, Code: CodeStateMismatch, Topic: t.Name, Target: s.Target, Partitions: parts,
		Message: fmt.Sprintf("target topic %s does not exist, but kmigrate's state says it copied records into partitions %s: the topic was deleted", s.Target, ids(parts)),
		Fix:     "start a new migration (another migration name), or restore the target topic"})
}

func sortedParts(parts []kmsg.MetadataResponseTopicPartition) []int32 {
	out := make([]int32, 0, len(parts))
	for _, mp := range parts {
		out = append(out, mp.Partition)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// targetValue is the value a target topic config will have once run has
// created or updated the topic, and where it comes from.
func (p *planner) targetValue(s scope.TopicSpec, exists bool, key string) (string, string, bool) {
	if v, ok := s.Configs[key]; ok {
		return v, "copied from the source", true
	}
	if exists {
		if v, ok := p.tgtConfigs[s.Target][key]; ok {
			src := "target topic default"
			if _, over := p.tgtOverrides[s.Target][key]; over {
				src = "target topic override"
			}
			return v, src, true
		}
		return "", "", false
	}
	if v, ok := p.brokerDefaults[key]; ok {
		return v, "target broker default", true
	}
	if v, ok := p.createConfigs[s.Target][key]; ok {
		return v, "target default", true
	}
	return "", "", false
}

// compareConfigs warns about configs whose target value defeats the copy.
func (p *planner) compareConfigs(t Topic, s scope.TopicSpec, exists bool, rf int) {
	add := func(code, msg, fix string) {
		p.add(Finding{Severity: SeverityWarning, Code: code, Topic: t.Name, Target: s.Target, Message: msg, Fix: fix})
	}
	// min.insync.replicas against the replication factor the target topic gets.
	if why, capped := s.Skipped["min.insync.replicas"]; capped {
		add(CodeMinInsync, fmt.Sprintf("min.insync.replicas of %s: %s", t.Name, why),
			"accept the lower guarantee, or give the target topic more replicas")
	} else if v, from, ok := p.targetValue(s, exists, "min.insync.replicas"); ok && int(parseInt(v)) > rf {
		add(CodeMinInsync, fmt.Sprintf("target topic %s gets min.insync.replicas %s (%s), above its replication factor %d: every acks=all write, kmigrate's included, will fail with NOT_ENOUGH_REPLICAS", s.Target, v, from, rf),
			fmt.Sprintf("set min.insync.replicas of %s to at most %d", s.Target, rf))
	} else if t.MinInsyncReplicas > rf {
		add(CodeMinInsync, fmt.Sprintf("source topic %s requires min.insync.replicas %d, above the replication factor %d target topic %s gets: the target cannot give the same durability", t.Name, t.MinInsyncReplicas, rf, s.Target),
			"add target brokers, or accept the weaker guarantee")
	}
	if v, from, ok := p.targetValue(s, exists, "max.message.bytes"); ok && t.MaxMessageBytes > 0 && parseInt(v) >= 0 && parseInt(v) < t.MaxMessageBytes {
		add(CodeMaxMessageBytes, fmt.Sprintf("target topic %s accepts batches up to %s bytes (max.message.bytes, %s), the source topic up to %d: a large source record may not fit", s.Target, v, from, t.MaxMessageBytes),
			fmt.Sprintf("set max.message.bytes of %s to at least %d", s.Target, t.MaxMessageBytes))
	}
	if v, from, ok := p.targetValue(s, exists, "message.timestamp.type"); ok && v == "LogAppendTime" {
		add(CodeLogAppendTime, fmt.Sprintf("target topic %s uses message.timestamp.type=LogAppendTime (%s): the broker overwrites every record's timestamp, so source timestamps are not kept", s.Target, from),
			fmt.Sprintf("set message.timestamp.type=CreateTime on %s", s.Target))
	}
	if v, from, ok := p.targetValue(s, exists, "cleanup.policy"); ok && t.CleanupPolicy != "" && normPolicy(v) != normPolicy(t.CleanupPolicy) {
		add(CodeCleanupPolicy, fmt.Sprintf("target topic %s gets cleanup.policy=%s (%s), source topic %s has %s", s.Target, v, from, t.Name, t.CleanupPolicy),
			fmt.Sprintf("set cleanup.policy=%s on %s", t.CleanupPolicy, s.Target))
	}
}

func normPolicy(v string) string {
	parts := strings.Split(strings.ReplaceAll(v, " ", ""), ",")
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// groups lists the selected groups.
func (p *planner) groups() {
	for _, g := range p.src.Groups {
		pg := PlannedGroup{Name: g.Name, State: g.State, Members: g.Members, Lag: g.Lag, Topics: []string{}, UnselectedTopics: g.UnselectedTopics}
		seen := map[string]bool{}
		for _, o := range g.Offsets {
			if !seen[o.Topic] {
				seen[o.Topic] = true
				pg.Topics = append(pg.Topics, o.Topic)
			}
		}
		if len(g.UnselectedTopics) > 0 {
			p.add(Finding{Severity: SeverityInfo, Code: CodeGroupUnselected, Group: g.Name,
				Message: fmt.Sprintf("group %s also reads %s, outside the topic selection: its positions there are not translated", g.Name, strings.Join(g.UnselectedTopics, ", "))})
		}
		p.plan.Groups = append(p.plan.Groups, pg)
	}
}

// finish orders the findings and counts.
func (p *planner) finish() {
	rank := map[string]int{SeverityBlocker: 0, SeverityWarning: 1, SeverityInfo: 2}
	sort.SliceStable(p.plan.Findings, func(i, j int) bool {
		a, b := p.plan.Findings[i], p.plan.Findings[j]
		if rank[a.Severity] != rank[b.Severity] {
			return rank[a.Severity] < rank[b.Severity]
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		return a.Group < b.Group
	})
	sort.SliceStable(p.plan.Unavailable, func(i, j int) bool { return p.plan.Unavailable[i].What < p.plan.Unavailable[j].What })
	sum := &p.plan.Summary
	sum.Topics = len(p.plan.Topics)
	sum.SizeBytes = 0
	for _, t := range p.plan.Topics {
		switch t.Action {
		case "create":
			sum.Create++
		case "blocked":
		default:
			sum.Existing++
		}
		sum.Partitions += int(t.Partitions)
		sum.Records += t.Records
		sum.RecordsUpperBound = sum.RecordsUpperBound || t.RecordsUpperBound
		if t.SizeBytes < 0 || sum.SizeBytes < 0 {
			sum.SizeBytes = Unknown
		} else {
			sum.SizeBytes += t.SizeBytes
		}
	}
	sum.CopySeconds = Unknown
	if sum.SizeBytes >= 0 && p.plan.Rate.BytesPerSecond > 0 {
		sum.CopySeconds = (sum.SizeBytes + p.plan.Rate.BytesPerSecond - 1) / p.plan.Rate.BytesPerSecond
	}
	sum.Groups = len(p.plan.Groups)
	for _, f := range p.plan.Findings {
		switch f.Severity {
		case SeverityBlocker:
			sum.Blockers++
		case SeverityWarning:
			sum.Warnings++
		default:
			sum.Infos++
		}
	}
	sum.Ready = sum.Blockers == 0
}
