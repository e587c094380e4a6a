package inventory_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/inventory"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// makePlan plans cfg with clients built the way the CLI builds them.
func makePlan(t *testing.T, cfg *config.Config, rate int64) *inventory.Plan {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	b := &kafka.Builder{}
	src, err := b.Client(ctx, kafka.Source, cfg.Source)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tgt, err := b.Client(ctx, kafka.Target, cfg.Target)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	started := time.Now()
	plan, err := inventory.MakePlan(ctx, inventory.PlanOptions{
		Config: cfg, Source: src, Target: tgt,
		Rate: inventory.CopyRate{BytesPerSecond: rate, Origin: "--assumed-rate"},
		NewTargetReader: func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
			return b.Client(ctx, kafka.Target, cfg.Target, opts...)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan of %d topics took %s", len(plan.Topics), time.Since(started))
	return plan
}

// codes returns the finding codes about each subject (source topic, else target
// topic, else group, else "").
func codes(p *inventory.Plan) map[string][]string {
	out := map[string][]string{}
	for _, f := range p.Findings {
		subject := f.Topic
		if subject == "" {
			subject = f.Target
		}
		if subject == "" {
			subject = f.Group
		}
		out[subject] = append(out[subject], f.Code)
	}
	for _, c := range out {
		sort.Strings(c)
	}
	return out
}

func plannedTopic(t *testing.T, p *inventory.Plan, source string) inventory.PlannedTopic {
	t.Helper()
	for _, tp := range p.Topics {
		if tp.Source == source {
			return tp
		}
	}
	t.Fatalf("topic %s not in the plan", source)
	return inventory.PlannedTopic{}
}

// TestPlanFindings provokes each topic-level blocker and warning for real,
// between two single-node clusters, and checks that a clean topic gets none.
func TestPlanFindings(t *testing.T) {
	t.Parallel()
	src, tgt := singleSrc(t), singleTgt(t)
	srcCl, tgtCl := admin(t, src), admin(t, tgt)
	name := func(p string) string { return kafkatest.UniqueName(t, p) }
	plain, parts, foreign, maxmsg := name("plain"), name("parts"), name("foreign"), name("maxmsg")
	logappend, cleanup, insync, retention := name("logappend"), name("cleanup"), name("insync"), name("retention")
	createTopics(t, srcCl,
		topicSpec{name: plain, partitions: 1, rf: -1},
		topicSpec{name: parts, partitions: 3, rf: -1},
		topicSpec{name: foreign, partitions: 1, rf: -1},
		topicSpec{name: maxmsg, partitions: 1, rf: -1},
		topicSpec{name: logappend, partitions: 1, rf: -1},
		topicSpec{name: cleanup, partitions: 1, rf: -1},
		// Kafka accepts a min.insync.replicas above the replication factor;
		// acks=all writes then fail.
		topicSpec{name: insync, partitions: 1, rf: -1, configs: map[string]string{"min.insync.replicas": "2"}},
		topicSpec{name: retention, partitions: 1, rf: -1, configs: map[string]string{"retention.ms": "600000"}},
	)
	now := time.Now()
	for _, tp := range []string{plain, parts, foreign, maxmsg, logappend, cleanup} {
		produce(t, srcCl, records(tp, 0, 5, now)...)
	}
	// Retention: 200 records of 1 KiB written over the last 8 minutes of a
	// 10-minute retention.
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Topic: retention, Value: bytes.Repeat([]byte{'r'}, 1024), Timestamp: now.Add(-8*time.Minute + time.Duration(i)*2400*time.Millisecond)})
	}
	produce(t, srcCl, recs...)
	createTopics(t, tgtCl,
		topicSpec{name: parts, partitions: 2, rf: -1},
		topicSpec{name: foreign, partitions: 1, rf: -1},
		topicSpec{name: maxmsg, partitions: 1, rf: -1, configs: map[string]string{"max.message.bytes": "10000"}},
		topicSpec{name: logappend, partitions: 1, rf: -1, configs: map[string]string{"message.timestamp.type": "LogAppendTime"}},
		topicSpec{name: cleanup, partitions: 1, rf: -1, configs: map[string]string{"cleanup.policy": "compact"}},
	)
	produce(t, tgtCl, records(foreign, 0, 3, now)...)

	missingGroup := name("nogroup")
	cfg := migrationConfig(t, src, tgt, []string{plain, parts, foreign, maxmsg, logappend, cleanup, insync, retention}, []string{missingGroup})

	// At 1 byte per second, copying takes days: retention deletes the
	// 10-minute topic's records long before, and nothing else's.
	slow := makePlan(t, cfg, 1)
	want := map[string][]string{
		parts:        {inventory.CodePartitionCount},
		foreign:      {inventory.CodeForeignData},
		cleanup:      {inventory.CodeCleanupPolicy},
		insync:       {inventory.CodeMinInsync},
		retention:    {inventory.CodeRetention},
		missingGroup: {inventory.CodeGroupMissing},
	}
	got := codes(slow)
	for subject, w := range want {
		if !slices.Equal(got[subject], w) {
			t.Errorf("%s: findings %v, want %v", subject, got[subject], w)
		}
	}
	for subject, c := range got {
		if _, ok := want[subject]; !ok {
			t.Errorf("unexpected findings about %q: %v", subject, c)
		}
	}
	if slow.Summary.Ready || slow.Summary.Blockers != 2 || slow.Summary.Warnings != 3 {
		t.Errorf("summary: %+v", slow.Summary)
	}
	// A target topic that would refuse what the source took is no finding
	// any more: run sets the config, and the plan says so.
	for topic, key := range map[string]string{maxmsg: "max.message.bytes", logappend: "message.timestamp.type"} {
		pt := plannedTopic(t, slow, topic)
		if pt.Accepts[key] == "" || pt.Action != "update configs" {
			t.Errorf("%s: action %q, accepts %v; want %s set and the configs updated", topic, pt.Action, pt.Accepts, key)
		}
	}
	if v := plannedTopic(t, slow, logappend).Configs["message.timestamp.type"]; v != "CreateTime" {
		t.Errorf("%s gets message.timestamp.type %q, want CreateTime", logappend, v)
	}
	for _, f := range slow.Findings {
		if f.Code == inventory.CodeForeignData && (!slices.Equal(f.Partitions, []int32{0}) || !strings.Contains(f.Message, "3 records")) {
			t.Errorf("foreign data finding: %+v", f)
		}
	}
	if tp := plannedTopic(t, slow, plain); tp.Action != "create" || tp.Partitions != 1 || tp.ReplicationFactor != 1 || tp.Records != 5 {
		t.Errorf("plain topic: %+v", tp)
	}
	if tp := plannedTopic(t, slow, parts); tp.Action != "blocked" {
		t.Errorf("topic with the wrong partition count: %+v", tp)
	}
	if tp := plannedTopic(t, slow, insync); tp.Configs["min.insync.replicas"] != "1" {
		t.Errorf("min.insync.replicas not capped in the target spec: %+v", tp)
	}

	// At 1 GiB/s the copy outruns retention.
	fast := makePlan(t, cfg, 1<<30)
	if c := codes(fast)[retention]; len(c) != 0 {
		t.Errorf("retention findings at 1 GiB/s: %v", c)
	}

	var text, md bytes.Buffer
	if err := slow.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := slow.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "NOT READY: 2 blockers, 3 warnings, 1 note") || !strings.Contains(text.String(), "BLOCKERS") {
		t.Errorf("text plan:\n%s", text.String())
	}
	if !strings.Contains(md.String(), "## Blockers") || !strings.Contains(md.String(), "| "+inventory.CodeForeignData+" |") {
		t.Errorf("markdown plan:\n%s", md.String())
	}
}

// TestPlanReplicationFactor plans a seed cluster's topic (replication factor 3,
// min.insync.replicas 2) onto a single broker.
func TestPlanReplicationFactor(t *testing.T) {
	t.Parallel()
	src, tgt := seedSrc(t), singleTgt(t)
	topic := kafkatest.UniqueName(t, "rf")
	createTopics(t, admin(t, src), topicSpec{name: topic, partitions: 2, rf: 3})
	plan := makePlan(t, migrationConfig(t, src, tgt, []string{topic}, nil), inventory.DefaultAssumedRate)
	if got := codes(plan)[topic]; !slices.Equal(got, []string{inventory.CodeMinInsync, inventory.CodeRFCapped}) {
		t.Errorf("findings %v", got)
	}
	if tp := plannedTopic(t, plan, topic); tp.ReplicationFactor != 1 || tp.SourceRF != 3 || tp.Action != "create" {
		t.Errorf("planned topic: %+v", tp)
	}
	if !plan.Summary.Ready {
		t.Errorf("warnings only, yet not ready: %+v", plan.Summary)
	}
}

// TestPlanPermissions plans as principals that lack rights on both sides: the
// plan names every topic and group they cannot read, create or write.
func TestPlanPermissions(t *testing.T) {
	t.Parallel()
	c := authCluster(t)
	cl := admin(t, c)
	adm := kadm.NewClient(cl)
	name := func(p string) string { return kafkatest.UniqueName(t, p) }
	describeOnly, hidden, readable, existing := name("describe"), name("hidden"), name("readable"), name("existing")
	createTopics(t, cl,
		topicSpec{name: describeOnly, partitions: 1, rf: -1},
		topicSpec{name: hidden, partitions: 1, rf: -1},
		topicSpec{name: readable, partitions: 1, rf: -1},
		topicSpec{name: existing, partitions: 1, rf: -1},
		topicSpec{name: "tgt-" + existing, partitions: 1, rf: -1},
	)
	group := name("group")
	commit(t, adm, group, map[string]map[int32]int64{readable: {0: 0}})
	grantAnonymous(t, adm, kadm.NewACLs().Topics(describeOnly, "tgt-"+existing).Operations(kadm.OpDescribe))
	grantAnonymous(t, adm, kadm.NewACLs().Topics(readable, existing).Operations(kadm.OpRead, kadm.OpDescribeConfigs))

	// Source and target are the same cluster, reached as User:ANONYMOUS on
	// PLAINTEXT; target names get a prefix.
	cfg := migrationConfig(t, c, c, []string{describeOnly, hidden, readable, existing}, []string{group})
	cfg.Replication.TopicPrefix = "tgt-"
	stateTopic := state.TopicName(cfg.Migration)
	var plan *inventory.Plan
	kafkatest.Eventually(t, 30*time.Second, func() error {
		plan = makePlan(t, cfg, inventory.DefaultAssumedRate)
		if len(plan.Topics) != 3 {
			return fmt.Errorf("the principal sees %d of the 3 topics it may describe", len(plan.Topics))
		}
		return nil
	})
	want := map[string][]string{
		describeOnly:      {inventory.CodeCannotReadSource},
		hidden:            {inventory.CodeCannotReadSource},
		group:             {inventory.CodeCannotReadSource},
		readable:          {inventory.CodeCannotCreate, inventory.CodeCannotWrite},
		existing:          {inventory.CodeCannotWrite},
		stateTopic:        {inventory.CodeCannotCreate, inventory.CodeCannotWrite},
		"tgt-" + readable: nil,
	}
	got := codes(plan)
	for subject, w := range want {
		if !slices.Equal(got[subject], w) {
			t.Errorf("%s: findings %v, want %v", subject, got[subject], w)
		}
	}
	for _, f := range plan.Findings {
		if f.Topic == existing && !strings.Contains(f.Message, "Write or DescribeConfigs") {
			t.Errorf("existing target topic: %s", f.Message)
		}
		if f.Severity == inventory.SeverityBlocker && f.Fix == "" {
			t.Errorf("blocker without a fix: %+v", f)
		}
	}
	if plan.Summary.Ready || len(plan.Unavailable) == 0 {
		t.Errorf("summary %+v, unavailable %+v", plan.Summary, plan.Unavailable)
	}
}

// TestPlanAfterRun plans a topic kmigrate has copied: its data is not foreign;
// records written after the checkpoint are a tail to reconcile; a recreated
// target topic contradicts the state.
func TestPlanAfterRun(t *testing.T) {
	t.Parallel()
	src, tgt := singleSrc(t), singleTgt(t)
	srcCl, tgtCl := admin(t, src), admin(t, tgt)
	topic := kafkatest.UniqueName(t, "copied")
	createTopics(t, srcCl, topicSpec{name: topic, partitions: 2, rf: -1})
	produce(t, srcCl, append(records(topic, 0, 10, time.Now()), records(topic, 1, 10, time.Now())...)...)
	cfg := migrationConfig(t, src, tgt, []string{topic}, nil)
	cfg.Replication.CheckpointInterval.Duration = 100 * time.Millisecond
	ctx := ctxT(t, 2*time.Minute)
	if err := replicate.New(cfg, nil, nil, nil).Run(ctx, replicate.Options{UntilCaughtUp: true}); err != nil {
		t.Fatalf("copy: %v", err)
	}

	plan := makePlan(t, cfg, inventory.DefaultAssumedRate)
	if got := codes(plan)[topic]; len(got) != 0 || !plan.Summary.Ready {
		t.Errorf("a topic kmigrate copied: findings %v, summary %+v", got, plan.Summary)
	}
	if tp := plannedTopic(t, plan, topic); tp.Action != "exists" {
		t.Errorf("planned topic: %+v", tp)
	}

	produce(t, tgtCl, records(topic, 1, 2, time.Now())...)
	plan = makePlan(t, cfg, inventory.DefaultAssumedRate)
	if got := codes(plan)[topic]; !slices.Equal(got, []string{inventory.CodeTailToReconcile}) || !plan.Summary.Ready {
		t.Errorf("records past the checkpoint: findings %v", got)
	}

	tgtAdm := kadm.NewClient(tgtCl)
	if _, err := tgtAdm.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		plan = makePlan(t, cfg, inventory.DefaultAssumedRate)
		if got := codes(plan)[topic]; !slices.Equal(got, []string{inventory.CodeStateMismatch}) {
			return fmt.Errorf("deleted target topic: findings %v", got)
		}
		return nil
	})
	var created kadm.CreateTopicResponse
	kafkatest.Eventually(t, 30*time.Second, func() error {
		var err error
		created, err = tgtAdm.CreateTopic(ctx, 2, -1, nil, topic)
		return err
	})
	// The plan must see the new topic, not a broker that has not applied it yet
	// (it would report the deleted topic again and the check would prove nothing).
	kafkatest.WaitTopicID(t, tgtCl, 30*time.Second, topic, created.ID)
	plan = makePlan(t, cfg, inventory.DefaultAssumedRate)
	if got := codes(plan)[topic]; !slices.Equal(got, []string{inventory.CodeStateMismatch}) || plan.Summary.Ready {
		t.Errorf("recreated target topic: findings %v", got)
	}
}

// TestPlanListsClientQuotas checks that the plan lists the source's client
// quotas, which `kmigrate quotas sync` copies.
func TestPlanListsClientQuotas(t *testing.T) {
	t.Parallel()
	src, tgt := singleSrc(t), singleTgt(t)
	topic := kafkatest.UniqueName(t, "quota")
	createTopics(t, admin(t, src), topicSpec{name: topic, partitions: 1, rf: -1})
	client := kafkatest.UniqueName(t, "svc")
	res, err := src.Admin(t).AlterClientQuotas(context.Background(), []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &client}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1048576}},
	}})
	if err == nil && len(res) > 0 {
		err = res[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := migrationConfig(t, src, tgt, []string{topic}, nil)
	// The broker learns the quota from the metadata log: poll.
	var p *inventory.Plan
	kafkatest.Eventually(t, 30*time.Second, func() error {
		p = makePlan(t, cfg, inventory.DefaultAssumedRate)
		for _, q := range p.ClientQuotas {
			if q.Entity == "client-id="+client && q.Key == "producer_byte_rate" && q.Value == 1048576 {
				return nil
			}
		}
		return fmt.Errorf("client-id %s not in the plan's quotas %+v", client, p.ClientQuotas)
	})
	var text strings.Builder
	if err := p.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "CLIENT QUOTAS") || !strings.Contains(text.String(), "client-id="+client) {
		t.Errorf("text plan lacks the client quota:\n%s", text.String())
	}
}

// TestPlanSameCluster plans a migration whose target is its source: a blocker.
func TestPlanSameCluster(t *testing.T) {
	t.Parallel()
	src := singleSrc(t)
	topic := kafkatest.UniqueName(t, "self")
	createTopics(t, admin(t, src), topicSpec{name: topic, partitions: 1, rf: -1})
	plan := makePlan(t, migrationConfig(t, src, src, []string{topic}, nil), inventory.DefaultAssumedRate)
	var found bool
	for _, f := range plan.Findings {
		found = found || (f.Code == inventory.CodeSameCluster && f.Severity == inventory.SeverityBlocker)
	}
	if !found || plan.Summary.Ready {
		t.Errorf("same cluster as source and target: findings %+v, ready %v", plan.Findings, plan.Summary.Ready)
	}
}
