package inventory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/inventory"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

func findTopic(t *testing.T, snap *inventory.Snapshot, name string) inventory.Topic {
	t.Helper()
	for _, tp := range snap.Topics {
		if tp.Name == name {
			return tp
		}
	}
	t.Fatalf("topic %s not in the scan", name)
	return inventory.Topic{}
}

func findGroup(t *testing.T, snap *inventory.Snapshot, name string) inventory.Group {
	t.Helper()
	for _, g := range snap.Groups {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("group %s not in the scan", name)
	return inventory.Group{}
}

// countRecords reads partition p of topic from its start to its high watermark
// (read_uncommitted, control records skipped) and counts the records.
func countRecords(t *testing.T, c *kafkatest.Cluster, topic string, p int32) (int, error) {
	ctx := ctxT(t, 30*time.Second)
	adm := kadm.NewClient(c.Client(t))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	end, ok := ends.Lookup(topic, p)
	if !ok || end.Err != nil {
		// Without the end the loop below would stop after one fetch and
		// report a partial count.
		return 0, fmt.Errorf("end offset of %s[%d]: %v (listed %v)", topic, p, end.Err, ok)
	}
	cl := c.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		last := int64(-1)
		fs.EachRecord(func(r *kgo.Record) { n++; last = r.Offset })
		if last+1 >= end.Offset || ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}

// TestScanSeed scans a seed cluster (3 controllers, 3 brokers) holding a
// compacted topic that really was compacted, a topic whose log start moved
// (DeleteRecords), a transactional topic with an aborted transaction, and groups
// with lag, a live member and a topic outside the selection.
func TestScanSeed(t *testing.T) {
	t.Parallel()
	c := seedSrc(t)
	cl := admin(t, c)
	adm := kadm.NewClient(cl)
	ctx := ctxT(t, 3*time.Minute)
	compacted := kafkatest.UniqueName(t, "compacted")
	trimmed := kafkatest.UniqueName(t, "trimmed")
	txn := kafkatest.UniqueName(t, "txn")
	other := kafkatest.UniqueName(t, "other")
	createTopics(t, cl,
		topicSpec{name: compacted, partitions: 1, rf: -1, configs: map[string]string{
			"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.001", "min.compaction.lag.ms": "0",
		}},
		topicSpec{name: trimmed, partitions: 2, rf: -1, configs: map[string]string{"retention.ms": "-1"}},
		topicSpec{name: txn, partitions: 1, rf: -1},
		topicSpec{name: other, partitions: 1, rf: -1},
	)
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	// Compacted: 5 keys written 10 times each; compaction keeps one per key.
	var recs []*kgo.Record
	for i := range 50 {
		recs = append(recs, &kgo.Record{Topic: compacted, Key: fmt.Appendf(nil, "key%d", i%5), Value: fmt.Appendf(nil, "v%d", i), Timestamp: at})
	}
	produce(t, cl, recs...)
	kafkatest.Eventually(t, 90*time.Second, func() error {
		// A new record rolls the segment (segment.ms, measured in record
		// timestamps), which lets the cleaner compact the old one.
		produce(t, cl, &kgo.Record{Topic: compacted, Key: []byte("tick"), Value: []byte("t"), Timestamp: time.Now()})
		ends, err := adm.ListEndOffsets(ctx, compacted)
		if err != nil {
			return err
		}
		end, _ := ends.Lookup(compacted, 0)
		n, err := countRecords(t, c, compacted, 0)
		if err != nil {
			return err
		}
		if int64(n) >= end.Offset {
			return fmt.Errorf("not compacted yet: %d records in offsets [0,%d)", n, end.Offset)
		}
		return nil
	})

	// Trimmed: 10 records per partition, partition 0's log start moved to 4.
	produce(t, cl, append(records(trimmed, 0, 10, at), records(trimmed, 1, 10, at)...)...)
	produce(t, cl, records(other, 0, 3, at)...)
	del := kadm.Offsets{}
	del.AddOffset(trimmed, 0, 4, -1)
	if res, err := adm.DeleteRecords(ctx, del); err != nil || res.Error() != nil {
		t.Fatalf("delete records: %v %v", err, res.Error())
	}

	// Transactional: a committed transaction of 5 records, an aborted one of 3.
	tx := c.Client(t, kgo.TransactionalID(kafkatest.UniqueName(t, "tx")), kgo.DefaultProduceTopic(txn))
	for _, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		n := 5
		if !commit {
			n = 3
		}
		for _, r := range records(txn, 0, n, at) {
			tx.Produce(ctx, r, nil)
		}
		if err := tx.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tx.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}

	// Groups: one with lag, one that also reads a topic outside the selection,
	// one with a live member.
	lagging := kafkatest.UniqueName(t, "lagging")
	mixed := kafkatest.UniqueName(t, "mixed")
	live := kafkatest.UniqueName(t, "live")
	commit(t, adm, lagging, map[string]map[int32]int64{trimmed: {0: 6, 1: 3}})
	commit(t, adm, mixed, map[string]map[int32]int64{trimmed: {0: 10, 1: 10}, other: {0: 1}})
	member := c.Client(t, kgo.ConsumerGroup(live), kgo.ConsumeTopics(txn), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	kafkatest.Eventually(t, 60*time.Second, func() error {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		member.PollFetches(pctx)
		d, err := adm.DescribeGroups(ctx, live)
		if err != nil {
			return err
		}
		if g := d[live]; g.State != "Stable" || len(g.Members) != 1 {
			return fmt.Errorf("group %s is %s with %d members", live, g.State, len(g.Members))
		}
		return nil
	})

	cfg := migrationConfig(t, c, c, []string{compacted, trimmed, txn}, []string{lagging, mixed, live})
	started := time.Now()
	snap, err := inventory.Scan(ctx, cl, inventory.Options{Role: kafka.Source, Topics: &cfg.Topics, Groups: &cfg.Groups, OnlySelected: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scan of %d partitions and %d groups took %s", snap.Summary.Partitions, snap.Summary.Groups, time.Since(started))

	if snap.Schema != inventory.ScanSchema || snap.Role != "source" || snap.ClusterID == "" {
		t.Errorf("schema %q role %q cluster %q", snap.Schema, snap.Role, snap.ClusterID)
	}
	if len(snap.Brokers) != 3 || snap.Summary.Brokers != 3 {
		t.Errorf("brokers: %+v", snap.Brokers)
	}
	if q := snap.Quorum; q == nil {
		t.Errorf("no quorum; unavailable: %+v", snap.Unavailable)
	} else {
		var voters []int32
		for _, v := range q.Voters {
			voters = append(voters, v.ID)
		}
		if !slices.Equal(voters, []int32{101, 102, 103}) || !slices.Contains(voters, q.LeaderID) || len(q.Observers) < 3 {
			t.Errorf("quorum: leader %d voters %v observers %+v", q.LeaderID, voters, q.Observers)
		}
		if snap.Summary.Controllers != 3 {
			t.Errorf("controllers: %d", snap.Summary.Controllers)
		}
	}
	if snap.Authorizer != "off" {
		t.Errorf("authorizer %q, want off", snap.Authorizer)
	}
	if len(snap.Unavailable) > 0 {
		t.Errorf("an unrestricted scan could not see: %+v", snap.Unavailable)
	}
	if !slices.ContainsFunc(snap.TopicDefaults, func(c inventory.Config) bool {
		return c.Name == "min.insync.replicas" && c.Value == "2" && c.Default == "1" && c.Source != "default"
	}) {
		t.Errorf("topic defaults miss the cluster's min.insync.replicas=2: %+v", snap.TopicDefaults)
	}
	if snap.Summary.Topics != 3 || snap.Summary.SelectedTopics != 3 || snap.Summary.Partitions != 4 {
		t.Errorf("summary: %+v", snap.Summary)
	}
	leaders, replicas := 0, 0
	for _, b := range snap.Brokers {
		leaders += b.Leaders
		replicas += b.Replicas
	}
	if leaders != 4 || replicas != 12 {
		t.Errorf("leaders per broker add up to %d, replicas to %d; want 4 and 12", leaders, replicas)
	}

	ct := findTopic(t, snap, compacted)
	if !ct.Compacted || !ct.RecordsUpperBound || ct.CleanupPolicy != "compact" {
		t.Errorf("compacted topic: %+v", ct)
	}
	if !slices.ContainsFunc(ct.Configs, func(c inventory.Config) bool {
		return c.Name == "cleanup.policy" && c.Value == "compact" && c.Source == "topic" && c.Default == "delete" && c.DefaultName == "log.cleanup.policy"
	}) {
		t.Errorf("compacted topic overrides: %+v", ct.Configs)
	}
	if n, err := countRecords(t, c, compacted, 0); err != nil || int64(n) >= ct.Records {
		t.Errorf("compacted topic: %d records readable, scan says at most %d (%v)", n, ct.Records, err)
	}

	tt := findTopic(t, snap, trimmed)
	p0, p1 := tt.PartitionList[0], tt.PartitionList[1]
	if p0.Earliest != 4 || p0.Latest != 10 || p0.Records != 6 || p1.Earliest != 0 || p1.Latest != 10 || tt.Records != 16 || tt.RecordsUpperBound {
		t.Errorf("trimmed topic: %+v", tt)
	}
	if tt.ReplicationFactor != 3 || len(p0.ISR) != 3 || p0.UnderReplicated || tt.UnderReplicated != 0 {
		t.Errorf("trimmed topic replication: %+v", tt)
	}
	if tt.SizeBytes <= 0 || tt.ReplicaBytes <= tt.SizeBytes {
		t.Errorf("trimmed topic sizes: leaders %d, replicas %d", tt.SizeBytes, tt.ReplicaBytes)
	}
	if tt.OldestTimestampMillis != at.UnixMilli() || p1.FirstTimestampMillis != at.UnixMilli() {
		t.Errorf("trimmed topic oldest timestamp %d, want %d", tt.OldestTimestampMillis, at.UnixMilli())
	}
	if tt.RetentionMillis != -1 {
		t.Errorf("trimmed topic retention %d, want -1", tt.RetentionMillis)
	}

	xt := findTopic(t, snap, txn)
	xp := xt.PartitionList[0]
	// 5 committed records + commit marker + 3 aborted records + abort marker.
	if !xt.Transactional || !xt.RecordsUpperBound || xp.Latest != 10 || xp.Stable != 10 || xp.Records != 10 || xp.TransactionalProducers < 1 || xp.OpenTransaction {
		t.Errorf("transactional topic: %+v", xt)
	}

	if g := findGroup(t, snap, lagging); g.Lag != 4+7 || len(g.Offsets) != 2 || g.Offsets[0].Lag != 4 || g.Offsets[1].Lag != 7 || !g.Selected || g.State != "Empty" {
		t.Errorf("lagging group: %+v", g)
	}
	if g := findGroup(t, snap, mixed); !slices.Equal(g.UnselectedTopics, []string{other}) || g.Lag != 2 {
		t.Errorf("mixed group: %+v", g)
	}
	if g := findGroup(t, snap, live); g.Members != 1 || g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol == "" {
		t.Errorf("live group: %+v", g)
	}
	if snap.Summary.TotalLag < 11 {
		t.Errorf("total lag %d", snap.Summary.TotalLag)
	}
	for _, n := range snap.Health {
		if n.Severity == inventory.SeverityWarning {
			t.Errorf("healthy cluster reported: %+v", n)
		}
	}

	// The copy's goal is the last stable offset, the end a read_committed
	// copy reaches: the transactional topic's, after its commit marker.
	if p := findTopic(t, snap, txn).PartitionList[0]; p.Stable != 10 || p.Latest != 10 {
		t.Errorf("transactional partition: stable %d, latest %d, want 10 and 10", p.Stable, p.Latest)
	}

	// Reports: JSON round-trips with its schema; text and Markdown say what
	// matters.
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back inventory.Snapshot
	if err := json.Unmarshal(data, &back); err != nil || back.Schema != inventory.ScanSchema || len(back.Topics) != 3 {
		t.Errorf("json round trip: %v", err)
	}
	var text, md bytes.Buffer
	if err := snap.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := snap.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SUMMARY", "KRAFT QUORUM", "≤", compacted, "reads topics outside the migration's selection: " + other} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "## Summary") || !strings.Contains(md.String(), "| "+trimmed+" |") {
		t.Errorf("markdown report:\n%s", md.String())
	}
}

// TestScanStoppedBroker stops a broker of a cluster of its own: partitions it
// held a replica of are reported under-replicated, the one it alone held
// offline, and the scan still completes.
func TestScanStoppedBroker(t *testing.T) {
	t.Parallel()
	c := kafkatest.StartT(t, kafkatest.UniqueName(t, "inv"), kafkatest.Options{Topology: kafkatest.TopologySeed})
	cl := admin(t, c)
	urp := kafkatest.UniqueName(t, "urp")
	solo := kafkatest.UniqueName(t, "solo")
	createTopics(t, cl,
		topicSpec{name: urp, partitions: 3, rf: 3},
		topicSpec{name: solo, assignment: map[int32][]int32{0: {3}}},
	)
	at := time.Now()
	produce(t, cl, append(records(urp, 0, 5, at), records(solo, 0, 5, at)...)...)
	if err := c.StopBroker(3); err != nil {
		t.Fatal(err)
	}
	var snap *inventory.Snapshot
	kafkatest.Eventually(t, 90*time.Second, func() error {
		ctx := ctxT(t, 60*time.Second)
		var err error
		snap, err = inventory.Scan(ctx, cl, inventory.Options{Role: kafka.Source})
		if err != nil {
			return err
		}
		if snap.Summary.UnderReplicated != 3 || snap.Summary.Offline != 1 {
			return fmt.Errorf("%d under-replicated and %d offline partitions, want 3 and 1", snap.Summary.UnderReplicated, snap.Summary.Offline)
		}
		return nil
	})
	u := findTopic(t, snap, urp)
	for _, p := range u.PartitionList {
		if !p.UnderReplicated || slices.Contains(p.ISR, 3) || len(p.Replicas) != 3 || p.Latest < 0 {
			t.Errorf("%s[%d]: %+v", urp, p.Partition, p)
		}
	}
	s := findTopic(t, snap, solo)
	if sp := s.PartitionList[0]; !sp.Offline || sp.Leader != -1 || sp.Latest != inventory.Unknown || s.Offline != 1 {
		t.Errorf("%s: %+v", solo, s)
	}
	codes := map[string]int{}
	for _, n := range snap.Health {
		codes[n.Code]++
	}
	if codes["under-replicated"] != 3 || codes["offline"] != 1 {
		t.Errorf("health: %+v", snap.Health)
	}
	for _, b := range snap.Brokers {
		if b.ID == 3 && !b.Fenced {
			t.Errorf("stopped broker 3 listed as serving: %+v", b)
		}
	}
	var text bytes.Buffer
	if err := snap.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "3 under-replicated; 1 offline") {
		t.Errorf("text summary lacks the replication problems:\n%s", text.String())
	}
}

// TestScanRestricted scans as a principal with no right but Describe on one
// topic: the report says what it could not see instead of failing.
func TestScanRestricted(t *testing.T) {
	t.Parallel()
	c := authCluster(t)
	cl := admin(t, c)
	adm := kadm.NewClient(cl)
	ctx := ctxT(t, 2*time.Minute)
	visible := kafkatest.UniqueName(t, "visible")
	hidden := kafkatest.UniqueName(t, "hidden")
	createTopics(t, cl, topicSpec{name: visible, partitions: 1, rf: -1}, topicSpec{name: hidden, partitions: 1, rf: -1})
	produce(t, cl, append(records(visible, 0, 4, time.Now()), records(hidden, 0, 4, time.Now())...)...)
	group := kafkatest.UniqueName(t, "g")
	commit(t, adm, group, map[string]map[int32]int64{visible: {0: 2}})
	grantAnonymous(t, adm, kadm.NewACLs().Topics(visible).Operations(kadm.OpDescribe))

	anon := c.Client(t) // PLAINTEXT: User:ANONYMOUS
	var snap *inventory.Snapshot
	kafkatest.Eventually(t, 30*time.Second, func() error {
		var err error
		snap, err = inventory.Scan(ctx, anon, inventory.Options{Role: kafka.Source})
		if err != nil {
			return err
		}
		// Other tests grant User:ANONYMOUS rights on their own topics too.
		for _, tp := range snap.Topics {
			if tp.Name == hidden {
				t.Fatalf("topic %s visible without Describe on it", hidden)
			}
			if tp.Name == visible {
				return nil
			}
		}
		return fmt.Errorf("topic %s not visible yet", visible)
	})
	tp := findTopic(t, snap, visible)
	if tp.PartitionList[0].Latest != 4 || tp.Records != 4 || tp.CleanupPolicy != "" || tp.SizeBytes != inventory.Unknown {
		t.Errorf("visible topic: %+v", tp)
	}
	for _, g := range snap.Groups {
		if g.Name == group {
			t.Errorf("group %s visible without Describe on it", group)
		}
	}
	if snap.Authorizer != "unknown" || snap.Quorum != nil || snap.Summary.SizeBytes != inventory.Unknown {
		t.Errorf("authorizer %q quorum %+v size %d", snap.Authorizer, snap.Quorum, snap.Summary.SizeBytes)
	}
	requests := map[string]bool{}
	for _, g := range snap.Unavailable {
		requests[g.Request] = true
		if g.Request != "Metadata, ListGroups" && !strings.Contains(g.Reason, "AUTHORIZATION_FAILED") {
			t.Errorf("gap %+v: reason does not name the refusal", g)
		}
	}
	for _, r := range []string{"DescribeConfigs", "DescribeProducers", "DescribeLogDirs", "DescribeQuorum", "DescribeAcls", "Metadata, ListGroups"} {
		if !requests[r] {
			t.Errorf("no gap for %s: %+v", r, snap.Unavailable)
		}
	}
	var text bytes.Buffer
	if err := snap.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "NOT VISIBLE") || !strings.Contains(text.String(), "unknown (quorum not visible)") {
		t.Errorf("text report does not say what it could not see:\n%s", text.String())
	}
}

// grantAnonymous grants User:ANONYMOUS the ACLs of b and removes them when the
// test ends; it waits until the broker enforces them.
func grantAnonymous(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	b = b.Allow("User:ANONYMOUS").AllowHosts("*").ResourcePatternType(kadm.ACLPatternLiteral)
	res, err := adm.CreateACLs(ctx, b)
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	t.Cleanup(func() {
		if _, err := adm.DeleteACLs(context.Background(), b); err != nil {
			t.Errorf("delete ACLs: %v", err)
		}
	})
}
