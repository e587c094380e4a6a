package groups_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

func clusters(t *testing.T) (src, tgt *kafkatest.Cluster) {
	t.Helper()
	src = kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt = kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	return src, tgt
}

// consumed is a record as a third-party consumer printed it.
type consumed = kafkatest.Consumed

var (
	kcatGroup = kafkatest.KcatGroup
	javaGroup = kafkatest.JavaGroup
)

// nextOnSource returns the first committed record of partition 0 after offset.
func nextOnSource(t *testing.T, src *kafkatest.Cluster, topic string, after int64) consumed {
	t.Helper()
	for _, r := range kafkatest.ReadAll(t, src, topic)[0] {
		if r.Offset > after {
			return consumed{Offset: r.Offset, Key: string(r.Key), Value: string(r.Value)}
		}
	}
	t.Fatalf("no record after offset %d in %s", after, topic)
	return consumed{}
}

// migration runs the copy engine in the background until the test ends, and a
// producer that keeps writing to keep.
type migration struct {
	cfg    *config.Config
	engine *replicate.Engine
	syncer *groups.Syncer
}

func startMigration(t *testing.T, src, tgt *kafkatest.Cluster, keepWriting string, topics ...string) *migration {
	t.Helper()
	cfg := kafkatest.MigrationConfig(t, src, tgt, topics...)
	e := replicate.New(cfg, nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := e.Run(ctx, replicate.Options{}); err != nil {
			t.Errorf("engine: %v", err)
		}
	})
	if keepWriting != "" {
		cl := src.Client(t)
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				cl.ProduceSync(ctx, &kgo.Record{Topic: keepWriting, Key: []byte("live"), Value: []byte(fmt.Sprintf("live-%d", i))})
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-e.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("engine did not start")
	}
	s := groups.NewSyncer(cfg, nil, src.Client(t), tgt.Client(t), e, nil)
	t.Cleanup(s.Close)
	return &migration{cfg: cfg, engine: e, syncer: s}
}

// syncUntil runs passes until the row of group/topic/partition 0 has status want.
func (m *migration) syncUntil(t *testing.T, group, topic string, want groups.Status) groups.Row {
	t.Helper()
	var row groups.Row
	kafkatest.Eventually(t, 60*time.Second, func() error {
		rep, err := m.syncer.Pass(context.Background(), true)
		if err != nil {
			return err
		}
		for _, r := range rep.Rows {
			if r.Group == group && r.Topic == topic && r.Partition == 0 {
				row = r
				if r.Status == want {
					return nil
				}
				return fmt.Errorf("status %s (%s), want %s", r.Status, r.Reason, want)
			}
		}
		return fmt.Errorf("no row for group %s topic %s", group, topic)
	})
	return row
}

// TestConsumerResumesAtNextRecord is the proof of exact translation: a real
// consumer that is not ours reads part of a topic on the source and commits; the
// group is translated while replication runs and records keep arriving; the same
// group then reads on the target, and the first record it gets is exactly the
// record after the last one it got on the source. For an ordinary topic whose
// earliest offset is above 0, a compacted topic with holes, and a transactional
// topic with aborted transactions.
func TestConsumerResumesAtNextRecord(t *testing.T) {
	src, tgt := clusters(t)
	ordinary := kafkatest.UniqueName(t, "ordinary")
	compacted := kafkatest.UniqueName(t, "compacted")
	txn := kafkatest.UniqueName(t, "txn")
	kafkatest.CreateTopic(t, src, ordinary, 1, nil)
	kafkatest.CreateTopic(t, src, compacted, 1, map[string]string{
		"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.001", "delete.retention.ms": "100",
	})
	kafkatest.CreateTopic(t, src, txn, 1, nil)
	cl := src.Client(t)
	ctx := context.Background()

	// Ordinary: 200 records, the first 50 deleted.
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Topic: ordinary, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("ordinary-%d", i))})
	}
	kafkatest.Produce(t, cl, recs...)
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: ordinary, Partition: 0, At: 50})
	if _, err := src.Admin(t).DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}

	// Compacted: rounds of one key written once and updates to 9 hot keys, until
	// the cleaner has removed the superseded updates between the kept keys.
	round := 0
	kafkatest.Eventually(t, 90*time.Second, func() error {
		recs := []*kgo.Record{{Topic: compacted, Key: []byte(fmt.Sprintf("once-%d", round)), Value: []byte(fmt.Sprintf("once-%d", round))}}
		for k := range 9 {
			recs = append(recs, &kgo.Record{Topic: compacted, Key: []byte(fmt.Sprintf("hot-%d", k)), Value: []byte(fmt.Sprintf("v%d-%d", round, k))})
		}
		round++
		kafkatest.Produce(t, cl, recs...)
		got := kafkatest.ReadAll(t, src, compacted)[0]
		if len(got) > 0 && got[len(got)-1].Offset+1-got[0].Offset > int64(len(got))+20 {
			return nil
		}
		return fmt.Errorf("compaction has not left holes yet (%d records)", len(got))
	})

	// Transactional: committed and aborted transactions.
	tx := src.Client(t, kgo.TransactionalID(kafkatest.UniqueName(t, "tx")))
	kafkatest.ProduceTransactions(t, tx, 12, func(i int) bool { return i%2 == 1 }, func(i int) []*kgo.Record {
		var recs []*kgo.Record
		for j := range 10 {
			recs = append(recs, &kgo.Record{Topic: txn, Key: []byte(fmt.Sprintf("t%d-%d", i, j)), Value: []byte(fmt.Sprintf("txn-%d-%d", i, j))})
		}
		return recs
	})

	// A real consumer reads part of each topic on the source and commits.
	group := kafkatest.UniqueName(t, "app")
	// kcat (librdkafka) for two topics, Apache's Java console consumer for the
	// transactional one: librdkafka's read_committed consumer stores positions
	// past aborted batches it has only prefetched, so it commits the end of the
	// topic rather than the position after its last record.
	type tc struct {
		topic string
		n     int
		read  func(testing.TB, *kafkatest.Cluster, string, string, int) []consumed
		last  consumed
	}
	cases := []*tc{{topic: ordinary, n: 37, read: kcatGroup}, {topic: compacted, n: 7, read: kcatGroup}, {topic: txn, n: 25, read: javaGroup}}
	for _, c := range cases {
		got := c.read(t, src, group, c.topic, c.n)
		c.last = got[len(got)-1]
	}
	if cases[0].last.Offset != 50+36 {
		t.Fatalf("kcat did not start at the log start: last offset %d", cases[0].last.Offset)
	}

	m := startMigration(t, src, tgt, ordinary, ordinary, compacted, txn)
	for _, c := range cases {
		t.Run(c.topic, func(t *testing.T) {
			row := m.syncUntil(t, group, c.topic, groups.InSync)
			if row.Kind != "exact" {
				t.Errorf("translation %s, want exact", row.Kind)
			}
			want := nextOnSource(t, src, c.topic, c.last.Offset)
			got := c.read(t, tgt, group, c.topic, 1)[0]
			if got.Key != want.Key || got.Value != want.Value {
				t.Errorf("on the target the group resumed at %q=%q (offset %d), want the record after its last source record: %q=%q (source offset %d)",
					got.Key, got.Value, got.Offset, want.Key, want.Value, want.Offset)
			}
		})
	}
}

// TestLiveAndAheadGroupsLeftAlone checks the two rules that protect target
// groups: a group with an active member on the target is never written, and a
// target group that is ahead is never moved back.
func TestLiveAndAheadGroupsLeftAlone(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "rules")
	kafkatest.CreateTopic(t, src, topic, 1, nil)
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))})
	}
	kafkatest.Produce(t, src.Client(t), recs...)
	ctx := context.Background()
	live, ahead := kafkatest.UniqueName(t, "live"), kafkatest.UniqueName(t, "ahead")
	for _, g := range []string{live, ahead} {
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 40, LeaderEpoch: -1})
		if err := src.Admin(t).CommitAllOffsets(ctx, g, o); err != nil {
			t.Fatal(err)
		}
	}
	m := startMigration(t, src, tgt, "", topic)
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if tr, ok := m.engine.Translate(topic, 0, 100); !ok || tr.Kind.String() != "exact" {
			return fmt.Errorf("not copied yet: %v", tr)
		}
		return nil
	})

	// The target "ahead" group is at 70; the translation says 40.
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 70, LeaderEpoch: -1})
	if err := tgt.Admin(t).CommitAllOffsets(ctx, ahead, o); err != nil {
		t.Fatal(err)
	}
	// The target "live" group has a running member.
	consumer := tgt.Client(t, kgo.ConsumerGroup(live), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	kafkatest.Eventually(t, 60*time.Second, func() error {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		consumer.PollFetches(pctx)
		gs, err := tgt.Admin(t).DescribeGroups(ctx, live)
		if err != nil {
			return err
		}
		if g := gs[live]; g.State != "Stable" {
			return fmt.Errorf("live group is %s", g.State)
		}
		return nil
	})

	row := m.syncUntil(t, live, topic, groups.ActiveOnTarget)
	if row.Committed {
		t.Error("a pass committed to a group with an active member")
	}
	row = m.syncUntil(t, ahead, topic, groups.Skipped)
	if !strings.Contains(row.Reason, "ahead (70 > 40)") {
		t.Errorf("reason %q does not say the group is ahead", row.Reason)
	}
	off, err := tgt.Admin(t).FetchOffsets(ctx, ahead)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := off.Lookup(topic, 0); o.At != 70 {
		t.Errorf("the ahead group was moved to %d", o.At)
	}
}

// TestBehindRetentionFlagged commits a group below the source log start: the
// consumer fell behind retention. The target group goes to the first copied
// record and the row is flagged, never reported in-sync.
func TestBehindRetentionFlagged(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "behind")
	kafkatest.CreateTopic(t, src, topic, 1, nil)
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("r%d", i))})
	}
	kafkatest.Produce(t, src.Client(t), recs...)
	ctx := context.Background()
	group := kafkatest.UniqueName(t, "slow")
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 10, LeaderEpoch: -1})
	if err := src.Admin(t).CommitAllOffsets(ctx, group, o); err != nil {
		t.Fatal(err)
	}
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 50})
	if _, err := src.Admin(t).DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	m := startMigration(t, src, tgt, "", topic)
	row := m.syncUntil(t, group, topic, groups.BehindRetention)
	kafkatest.Eventually(t, 30*time.Second, func() error {
		rep, err := m.syncer.Pass(ctx, true)
		if err != nil {
			return err
		}
		for _, r := range rep.Rows {
			if r.Group == group {
				row = r
			}
		}
		if row.TargetCommitted != 0 {
			return fmt.Errorf("target committed %d, want 0 (the first copied record)", row.TargetCommitted)
		}
		return nil
	})
	if row.Status != groups.BehindRetention || !strings.Contains(row.Reason, "fell behind retention") {
		t.Errorf("row %+v", row)
	}
	if got := kcatGroup(t, tgt, group, topic, 1)[0]; got.Value != "r50" {
		t.Errorf("the group resumed on the target at %q, want r50 (the first record the source still had)", got.Value)
	}
}

// TestGroupAtTheEndLandsAtTheTargetEnd commits a group at the end of a fully
// copied partition and on an empty partition whose log start moved: both
// translate exactly to the end of the target partition.
func TestGroupAtTheEndLandsAtTheTargetEnd(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "end")
	kafkatest.CreateTopic(t, src, topic, 2, nil)
	cl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))})
	}
	kafkatest.Produce(t, cl, recs...)
	ctx := context.Background()
	// Partition 1 is emptied: its log start is its end, 15.
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 1, At: 15})
	if _, err := src.Admin(t).DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	group := kafkatest.UniqueName(t, "done")
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 15, LeaderEpoch: -1})
	o.Add(kadm.Offset{Topic: topic, Partition: 1, At: 15, LeaderEpoch: -1})
	if err := src.Admin(t).CommitAllOffsets(ctx, group, o); err != nil {
		t.Fatal(err)
	}
	m := startMigration(t, src, tgt, "", topic)
	m.syncUntil(t, group, topic, groups.InSync)
	rep, err := m.syncer.Pass(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if r.Group != group {
			continue
		}
		want := map[int32]int64{0: 15, 1: 0}[r.Partition]
		if r.Status != groups.InSync || r.Translated != want || r.TargetCommitted != want || r.TargetEnd != want || r.Kind != "exact" {
			t.Errorf("partition %d: %+v, want in-sync exactly at the target end %d", r.Partition, r, want)
		}
	}
}
