package groups_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
)

// The commit rules of group translation, on two in-process kfake clusters and an
// offset map built by hand: part of the fast tier (go test -short). The same rules
// are tested against real Kafka with the engine's live map in groups_test.go.

// mapTranslator translates through offset maps of one topic, named the same on
// both sides.
type mapTranslator struct {
	topic string
	parts map[int32]*offsetmap.Partition
}

func (m mapTranslator) Translate(topic string, partition int32, c int64) (offsetmap.Translation, bool) {
	p, ok := m.parts[partition]
	if topic != m.topic || !ok {
		return offsetmap.Translation{}, false
	}
	return p.Translate(c), true
}

func (m mapTranslator) TargetTopic(source string) (string, bool) {
	return source, source == m.topic
}

func fakeCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func fakeClient(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// fill creates topic with one partition on c and writes n records to it.
func fill(t *testing.T, c *kfake.Cluster, topic string, n int) {
	t.Helper()
	cl := fakeClient(t, c)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	for i := range n {
		kafkatest.Produce(t, cl, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "r%d", i)})
	}
}

func commitAt(t *testing.T, c *kfake.Cluster, group, topic string, at int64) {
	t.Helper()
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: at, LeaderEpoch: -1})
	if err := kadm.NewClient(fakeClient(t, c)).CommitAllOffsets(context.Background(), group, o); err != nil {
		t.Fatalf("commit %s at %d: %v", group, at, err)
	}
}

func committed(t *testing.T, c *kfake.Cluster, group, topic string) int64 {
	t.Helper()
	off, err := kadm.NewClient(fakeClient(t, c)).FetchOffsets(context.Background(), group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return -1 // never committed (kfake's answer; Kafka returns no offsets)
	}
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := off.Lookup(topic, 0); ok {
		return o.At
	}
	return -1
}

func rowOf(t *testing.T, rep *groups.Report, group string) groups.Row {
	t.Helper()
	for _, r := range rep.Rows {
		if r.Group == group {
			return r
		}
	}
	t.Fatalf("no row for group %s in %+v (errors %v)", group, rep.Rows, rep.Errors)
	return groups.Row{}
}

func TestFakeSyncRules(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	const topic = "payments"
	// Source offsets 0-11; offset 5 was never copied (a compacted hole), and the
	// copy has reached source offset 10: 0-4 and 6-9 landed at target 0-8.
	fill(t, src, topic, 12)
	fill(t, tgt, topic, 9)
	m, err := offsetmap.New(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []int64{0, 1, 2, 3, 4, 6, 7, 8, 9} {
		if err := m.Append(o); err != nil {
			t.Fatal(err)
		}
	}
	tr := mapTranslator{topic: topic, parts: map[int32]*offsetmap.Partition{0: m}}

	exact, pending, ahead, active := "exact", "pending", "ahead", "active"
	commitAt(t, src, exact, topic, 7)    // next record is source 7 → target 6
	commitAt(t, src, pending, topic, 11) // beyond the copy
	commitAt(t, src, ahead, topic, 7)
	commitAt(t, tgt, ahead, topic, 8) // the target group already read further
	commitAt(t, src, active, topic, 3)
	// A live member of the target group "active".
	member := fakeClient(t, tgt, kgo.ConsumerGroup(active), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	tgtAdm := kadm.NewClient(fakeClient(t, tgt))
	kafkatest.Eventually(t, 30*time.Second, func() error {
		pctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		member.PollFetches(pctx)
		d, err := tgtAdm.DescribeGroups(context.Background(), active)
		if err != nil {
			return err
		}
		if g := d[active]; g.State != "Stable" || len(g.Members) != 1 {
			return fmt.Errorf("target group %s is %s with %d members", active, g.State, len(g.Members))
		}
		return nil
	})
	before := committed(t, tgt, active, topic)

	cfg := config.Default()
	cfg.Migration = "rules"
	cfg.Groups.Include = []string{"^(" + regexp.QuoteMeta(exact) + "|" + pending + "|" + ahead + "|" + active + ")$"}
	if err := cfg.Groups.Compile(); err != nil {
		t.Fatal(err)
	}
	s := groups.NewSyncer(cfg, nil, fakeClient(t, src), fakeClient(t, tgt), tr, nil)
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := s.Pass(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("pass errors: %v", rep.Errors)
	}

	if r := rowOf(t, rep, exact); r.Status != groups.InSync || !r.Committed || r.Translated != 6 || r.Kind != "exact" {
		t.Errorf("exact: %+v, want in-sync, committed at 6", r)
	}
	if got := committed(t, tgt, exact, topic); got != 6 {
		t.Errorf("target group %s at %d, want 6: the consumer resumes at the record after the one it read", exact, got)
	}
	if r := rowOf(t, rep, pending); r.Status != groups.Pending || r.Committed || r.Translated != -1 {
		t.Errorf("pending: %+v, want pending, nothing committed", r)
	}
	if got := committed(t, tgt, pending, topic); got != -1 {
		t.Errorf("target group %s committed at %d; a pending translation must not be guessed", pending, got)
	}
	if r := rowOf(t, rep, ahead); r.Status != groups.Skipped || r.Committed || !strings.Contains(r.Reason, "ahead (8 > 6)") {
		t.Errorf("ahead: %+v, want skipped because the target is ahead (8 > 6)", r)
	}
	if got := committed(t, tgt, ahead, topic); got != 8 {
		t.Errorf("target group %s moved to %d, want it left at 8", ahead, got)
	}
	if r := rowOf(t, rep, active); r.Status != groups.ActiveOnTarget || r.Committed {
		t.Errorf("active: %+v, want active-on-target, nothing committed", r)
	}
	if got := committed(t, tgt, active, topic); got != before {
		t.Errorf("target group %s with a live member moved from %d to %d", active, before, got)
	}

	// A second pass finds the exact group settled and writes nothing.
	rep, err = s.Pass(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if r := rowOf(t, rep, exact); r.Status != groups.InSync || r.Committed || r.TargetCommitted != 6 || r.TargetLag != 3 {
		t.Errorf("exact on the second pass: %+v, want in-sync, not committed again, target lag 3", r)
	}

	// The copy advances past the source position of the pending group: it
	// translates now.
	if err := m.Append(10); err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, fakeClient(t, tgt), &kgo.Record{Topic: topic, Value: []byte("r10")})
	rep, err = s.Pass(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if r := rowOf(t, rep, pending); r.Status != groups.InSync || !r.Committed || r.Translated != 10 {
		t.Errorf("formerly pending: %+v, want in-sync, committed at 10", r)
	}
}

// TestFakeFencedSyncerCommitsNothing: a syncer whose target client is fenced
// by a writer lease that has lapsed (a run paused past its lock, whose successor
// owns the migration now) commits no translation; the same pass through a held
// lease commits it. `run` builds its syncer's target client this way.
func TestFakeFencedSyncerCommitsNothing(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	const topic, group = "orders", "billing"
	fill(t, src, topic, 5)
	fill(t, tgt, topic, 5)
	m, err := offsetmap.New(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AppendRun(0, 5); err != nil {
		t.Fatal(err)
	}
	tr := mapTranslator{topic: topic, parts: map[int32]*offsetmap.Partition{0: m}}
	commitAt(t, src, group, topic, 3)

	cfg := config.Default()
	cfg.Migration = "fenced"
	cfg.Groups.Include = []string{"^" + group + "$"}
	if err := cfg.Groups.Compile(); err != nil {
		t.Fatal(err)
	}
	cfg.Target.BootstrapServers = tgt.ListenAddrs()
	fence := kafka.NewFence()
	fenced := &kafka.Builder{Fence: fence}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pass := func() *groups.Report {
		t.Helper()
		tgtCl, err := fenced.Client(ctx, kafka.Target, cfg.Target)
		if err != nil {
			t.Fatal(err)
		}
		defer tgtCl.Close()
		s := groups.NewSyncer(cfg, nil, fakeClient(t, src), tgtCl, tr, nil)
		defer s.Close()
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		defer pcancel()
		rep, err := s.Pass(pctx, true)
		if err != nil {
			return &groups.Report{Errors: []string{err.Error()}}
		}
		return rep
	}

	// The lease lapsed a moment ago.
	fence.Extend(time.Now().Add(-time.Second))
	rep := pass()
	for _, r := range rep.Rows {
		if r.Committed {
			t.Errorf("a fenced syncer reports a commit: %+v", r)
		}
	}
	if got := committed(t, tgt, group, topic); got != -1 {
		t.Fatalf("a fenced syncer committed target group %s at %d", group, got)
	}

	fence.Extend(time.Now().Add(time.Minute))
	rep = pass()
	if r := rowOf(t, rep, group); !r.Committed || r.Translated != 3 {
		t.Errorf("with the lease held: %+v (errors %v), want committed at 3", r, rep.Errors)
	}
	if got := committed(t, tgt, group, topic); got != 3 {
		t.Errorf("with the lease held the target group is at %d, want 3", got)
	}
}
