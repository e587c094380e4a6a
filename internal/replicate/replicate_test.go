package replicate_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

func clusters(t *testing.T) (src, tgt *kafkatest.Cluster) {
	t.Helper()
	src = kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt = kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	return src, tgt
}

func migrationConfig(t *testing.T, src, tgt *kafkatest.Cluster, topics ...string) *config.Config {
	return kafkatest.MigrationConfig(t, src, tgt, topics...)
}

var (
	createTopic = kafkatest.CreateTopic
	produce     = kafkatest.Produce
	readAll     = kafkatest.ReadAll
)

// assertSameRecords checks that target holds exactly the source's records, in
// order, partition by partition, byte for byte.
func assertSameRecords(t testing.TB, src, tgt map[int32][]*kgo.Record) {
	t.Helper()
	for p, s := range src {
		d := tgt[p]
		if len(d) != len(s) {
			t.Errorf("partition %d: source has %d records, target %d", p, len(s), len(d))
			continue
		}
		for i := range s {
			if diff := recordhash.Diff(s[i], d[i]); diff != "" {
				t.Errorf("partition %d: source offset %d and target offset %d differ in %s", p, s[i].Offset, d[i].Offset, diff)
				break
			}
		}
	}
	for p, d := range tgt {
		if _, ok := src[p]; !ok && len(d) > 0 {
			t.Errorf("partition %d: target has %d records the source does not", p, len(d))
		}
	}
}

func loadState(t *testing.T, tgt *kafkatest.Cluster, cfg *config.Config) *state.State {
	t.Helper()
	cl := tgt.Client(t)
	b := &kafka.Builder{}
	store := state.NewStore(cl, cfg.Migration, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return b.Client(ctx, kafka.Target, cfg.Target, opts...)
	})
	st, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func runUntilCaughtUp(t *testing.T, cfg *config.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return replicate.New(cfg, nil, nil, nil).Run(ctx, replicate.Options{UntilCaughtUp: true})
}

// TestCopyIsExact copies records of every shape (null and empty keys and values,
// repeated headers with null values, old timestamps) from partitions whose log
// start is above 0, and checks the target byte for byte and the offset map.
func TestCopyIsExact(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "exact")
	createTopic(t, src, topic, 3, map[string]string{"retention.ms": "-1"})
	cl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.UnixMilli(1500000000000) // 2017: older than any default retention
	var recs []*kgo.Record
	for i := range 300 {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Timestamp: base.Add(time.Duration(i) * time.Second)}
		switch i % 6 {
		case 0:
			r.Key, r.Value = []byte(fmt.Sprintf("k%d", i)), []byte(strings.Repeat("v", i))
		case 1:
			r.Key, r.Value = nil, []byte("null key")
		case 2:
			r.Key, r.Value = []byte{}, []byte{}
		case 3:
			r.Key, r.Value = []byte("tombstone"), nil
		case 4:
			r.Key = []byte("headers")
			r.Headers = []kgo.RecordHeader{{Key: "h", Value: []byte("1")}, {Key: "h", Value: nil}, {Key: "", Value: []byte{}}}
		case 5:
			r.Key, r.Value = []byte{0, 0xff, 0}, []byte{0xde, 0xad, 0xbe, 0xef}
		}
		recs = append(recs, r)
	}
	produce(t, cl, recs...)
	// Retention moved partition 0's log start: the copy starts there.
	if _, err := src.Admin(t).DeleteRecords(context.Background(), offsets(topic, 0, 40)); err != nil {
		t.Fatal(err)
	}

	cfg := migrationConfig(t, src, tgt, topic)
	running := goleak.IgnoreCurrent()
	if err := runUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	// Run leaves nothing behind: clients, loops and the lock's heartbeat end.
	goleak.VerifyNone(t, running)
	want := readAll(t, src, topic)
	if n := len(want[0]); n != 60 {
		t.Fatalf("partition 0 should hold 60 records after DeleteRecords, has %d", n)
	}
	assertSameRecords(t, want, readAll(t, tgt, topic))

	st := loadState(t, tgt, cfg)
	for p := int32(0); p < 3; p++ {
		saved := st.Partitions[state.Key{Topic: topic, Partition: p}]
		if saved == nil || saved.Err != nil {
			t.Fatalf("partition %d: no state (%v)", p, saved)
		}
		srcNext, tgtNext := saved.Map.Next()
		if srcNext != 100 || tgtNext != int64(len(want[p])) {
			t.Errorf("partition %d: map next (%d, %d), want (100, %d)", p, srcNext, tgtNext, len(want[p]))
		}
		if tr := saved.Map.Translate(100); tr.Kind != offsetmap.Exact || tr.Offset != tgtNext {
			t.Errorf("partition %d: translate(end) = %v, want exact %d", p, tr, tgtNext)
		}
		if p == 0 {
			if tr := saved.Map.Translate(10); tr.Kind != offsetmap.BehindStart || tr.Offset != 0 {
				t.Errorf("translate(10) below the log start = %v, want behind-start 0", tr)
			}
			if tr := saved.Map.Translate(41); tr.Kind != offsetmap.Exact || tr.Offset != 1 {
				t.Errorf("translate(41) = %v, want exact 1", tr)
			}
		}
	}
}

func offsets(topic string, p int32, at int64) kadm.Offsets {
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: p, At: at})
	return o
}

// TestForeignDataRefused puts a record into a target partition before the first
// run: that partition refuses to run with an error naming it; the others copy.
func TestForeignDataRefused(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "foreign")
	createTopic(t, src, topic, 2, nil)
	createTopic(t, tgt, topic, 2, nil)
	produce(t, src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		&kgo.Record{Topic: topic, Partition: 0, Value: []byte("a")}, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("b")})
	produce(t, tgt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), &kgo.Record{Topic: topic, Partition: 1, Value: []byte("intruder")})

	err := runUntilCaughtUp(t, migrationConfig(t, src, tgt, topic))
	if err == nil {
		t.Fatal("run succeeded over foreign data")
	}
	wantMsg := fmt.Sprintf("target %s[1] holds 1 records (offsets 0 to 0) that kmigrate did not write", topic)
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("error %q does not say %q", err, wantMsg)
	}
	got := readAll(t, tgt, topic)
	if len(got[0]) != 1 || string(got[0][0].Value) != "a" {
		t.Errorf("partition 0 was not copied: %v", got[0])
	}
	if len(got[1]) != 1 || string(got[1][0].Value) != "intruder" {
		t.Errorf("partition 1 was touched: %v", got[1])
	}
}

// TestRenameAndConfigs copies a topic under a prefix rule: the target topic gets
// the new name, the source's overrides except the documented unsafe ones, a
// min.insync.replicas capped at its replication factor, and the records with
// their source timestamps even though the source used LogAppendTime.
func TestRenameAndConfigs(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "renamed")
	createTopic(t, src, topic, 2, map[string]string{
		"retention.ms":           "604800000",
		"max.message.bytes":      "2000000",
		"message.timestamp.type": "LogAppendTime",
		"min.insync.replicas":    "1",
	})
	produce(t, src.Client(t), &kgo.Record{Topic: topic, Value: []byte("x"), Timestamp: time.UnixMilli(1)})
	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Replication.TopicPrefix = "mig."
	if err := runUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	target := "mig." + topic
	rcs, err := tgt.Admin(t).DescribeTopicConfigs(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(target, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rc.Configs {
		if c.Value != nil && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			got[c.Key] = *c.Value
		}
	}
	want := map[string]string{"retention.ms": "604800000", "max.message.bytes": "2000000", "min.insync.replicas": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("target %s = %q, want %q", k, got[k], v)
		}
	}
	// Not copied from the source (LogAppendTime there), but set so that the
	// target keeps the copied timestamps whatever its broker default.
	if v := got["message.timestamp.type"]; v != "CreateTime" {
		t.Errorf("target message.timestamp.type = %q, want CreateTime set explicitly", v)
	}
	srcRecs, tgtRecs := readAll(t, src, topic), readAll(t, tgt, target)
	assertSameRecords(t, srcRecs, tgtRecs)
	for _, rs := range tgtRecs {
		for _, r := range rs {
			if r.Attrs.TimestampType() != 0 {
				t.Errorf("target record has timestamp type %d, want CreateTime", r.Attrs.TimestampType())
			}
		}
	}
}
