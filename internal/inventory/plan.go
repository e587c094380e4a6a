package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/quotas"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

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
	if src.ClusterID != "" && src.ClusterID == tgtID {
		// Every copied record would be appended to the topic it came from.
		p.add(Finding{Severity: SeverityBlocker, Code: CodeSameCluster,
			Message: fmt.Sprintf("source and target are the same cluster (cluster id %s): the copy would write into the topics it reads", tgtID),
			Fix:     "point target.bootstrap_servers at the cluster you migrate to"})
	}
	if qs, err := quotas.Describe(ctx, o.Source); err != nil {
		p.gap("source: client quotas", "DescribeClientQuotas", err)
	} else if len(qs) > 0 {
		p.plan.ClientQuotas = qs
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
