package replicate_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// running is an engine copying in the background, with the events it reported.
type running struct {
	engine *replicate.Engine
	mu     sync.Mutex
	events []replicate.Event
	done   chan error
	cancel context.CancelFunc
}

func startEngine(t *testing.T, cfg *config.Config, opts replicate.Options) *running {
	t.Helper()
	r := &running{engine: replicate.New(cfg, nil, nil, nil), done: make(chan error, 1)}
	opts.Events = func(e replicate.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.engine.Run(ctx, opts) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("engine: %v", err)
		}
		r.done <- nil
	case <-time.After(60 * time.Second):
		t.Error("engine did not stop")
	}
}

// eventLike waits for an event whose message contains every fragment.
func (r *running) eventLike(t *testing.T, fragments ...string) replicate.Event {
	t.Helper()
	var found replicate.Event
	kafkatest.Eventually(t, 60*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
	next:
		for _, e := range r.events {
			for _, f := range fragments {
				if !strings.Contains(e.Message, f) {
					continue next
				}
			}
			found = e
			return nil
		}
		return fmt.Errorf("no event with %q among %d", fragments, len(r.events))
	})
	return found
}

func (r *running) partition(topic string, p int32) (replicate.PartitionStatus, bool) {
	for _, s := range r.engine.Status() {
		if s.Topic == topic && s.Partition == p {
			return s, true
		}
	}
	return replicate.PartitionStatus{}, false
}

// TestRetentionRaceReported deletes source records (as retention would) ahead of
// a slow copy: the lost range is reported with topic, partition and offsets, in
// the status and the persisted state, and the copy continues from the new start.
func TestRetentionRaceReported(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "retention")
	createTopic(t, src, topic, 1, nil)
	value := bytes.Repeat([]byte("r"), 1000)
	var recs []*kgo.Record
	for i := range 2000 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: value})
	}
	// Small batches: a fetch returns at least one whole batch, and the copy must
	// not hold the whole partition in memory before the deletion.
	produce(t, src.Client(t, kgo.ProducerBatchMaxBytes(8<<10)), recs...)

	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Replication.MaxBytesPerSecond = 100_000
	cfg.Replication.FetchMaxBytes, cfg.Replication.FetchMaxPartitionBytes = 16<<10, 16<<10
	r := startEngine(t, cfg, replicate.Options{})
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if s, _ := r.partition(topic, 0); s.TgtNext < 50 {
			return fmt.Errorf("copied %d", s.TgtNext)
		}
		return nil
	})
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1500})
	if _, err := src.Admin(t).DeleteRecords(context.Background(), del); err != nil {
		t.Fatal(err)
	}
	ev := r.eventLike(t, "were deleted by retention before they were copied", topic+"/0")
	if ev.Level != "error" {
		t.Errorf("loss reported at level %s", ev.Level)
	}
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if s, _ := r.partition(topic, 0); s.SrcNext != 2000 {
			return fmt.Errorf("source next %d", s.SrcNext)
		}
		return nil
	})
	s, _ := r.partition(topic, 0)
	if len(s.Lost) != 1 || s.Lost[0].To != 1500 || s.Lost[0].From < 50 {
		t.Fatalf("lost ranges %+v, want one ending at 1500", s.Lost)
	}
	lost := s.Lost[0]
	r.stop(t)

	// The target holds the source's records below the lost range, then from 1500.
	got := readAll(t, tgt, topic)[0]
	if int64(len(got)) != lost.From+500 {
		t.Fatalf("target holds %d records, want %d", len(got), lost.From+500)
	}
	if string(got[lost.From].Key) != "1500" || string(got[lost.From-1].Key) != fmt.Sprint(lost.From-1) {
		t.Errorf("records around the gap: %q then %q", got[lost.From-1].Key, got[lost.From].Key)
	}
	saved := loadState(t, tgt, cfg).Partitions[state.Key{Topic: topic, Partition: 0}]
	if len(saved.Lost) != 1 || saved.Lost[0].From != lost.From || saved.Lost[0].To != 1500 {
		t.Errorf("persisted lost ranges %+v", saved.Lost)
	}
	// A consumer inside the lost range resumes at the first record after it.
	if tr := saved.Map.Translate(lost.From + 10); tr.Kind != offsetmap.Exact || tr.Offset != lost.From {
		t.Errorf("translate inside the lost range = %v, want exact %d", tr, lost.From)
	}
}

// TestRecordTooLargeStopsPartition gives the target a topic that accepts smaller
// records than the source holds: the partition stops at that record with an
// error naming topic, partition, offset and size; nothing is skipped, and the
// other partition is copied.
func TestRecordTooLargeStopsPartition(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "large")
	createTopic(t, src, topic, 2, nil)
	createTopic(t, tgt, topic, 2, map[string]string{"max.message.bytes": "20000"})
	cl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range 10 {
		v := []byte("small")
		if i == 5 {
			v = bytes.Repeat([]byte("L"), 50000)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: v}, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("fine")})
	}
	produce(t, cl, recs...)
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// kmigrate raises the target topic's max.message.bytes to the source's,
	// so the record is refused by the producer's batch limit here.
	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Replication.BatchMaxBytes = 20000
	err := replicate.New(cfg, nil, nil, replicate.NewMetrics(reg)).Run(ctx, replicate.Options{UntilCaughtUp: true})
	if err == nil {
		t.Fatal("run succeeded")
	}
	if n := testutil.ToFloat64(replicate.NewMetrics(nil).Errors.WithLabelValues("partition")); n != 0 {
		t.Fatalf("a fresh metrics set counts %v", n)
	}
	mfs, gerr := reg.Gather()
	if gerr != nil {
		t.Fatal(gerr)
	}
	counted := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "kmigrate_errors_total" {
			for _, m := range mf.GetMetric() {
				counted[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if counted["partition"] != 1 || len(counted) != 5 {
		t.Errorf("kmigrate_errors_total = %v, want partition 1 and every kind present", counted)
	}
	want := fmt.Sprintf("source %s/0 offset 5: the record is 50000 bytes, more than target topic %s accepts", topic, topic)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	got := readAll(t, tgt, topic)
	if len(got[0]) != 5 {
		t.Errorf("partition 0: %d records copied, want the 5 before the large one", len(got[0]))
	}
	if len(got[1]) != 10 {
		t.Errorf("partition 1: %d records copied, want 10", len(got[1]))
	}
}

// TestDiscoveryFollowsSource changes the source while the engine runs: a new
// matching topic is created and copied from its start, a partition increase is
// followed, a config change is copied, and a deleted source topic is reported and
// kept on the target.
func TestDiscoveryFollowsSource(t *testing.T) {
	src, tgt := clusters(t)
	prefix := kafkatest.UniqueName(t, "disc")
	first := prefix + ".first"
	createTopic(t, src, first, 1, map[string]string{"retention.ms": "86400000"})
	cl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, cl, &kgo.Record{Topic: first, Value: []byte("a")})

	cfg := migrationConfig(t, src, tgt)
	cfg.Topics.Include = []string{regexp.QuoteMeta(prefix) + `\..*`}
	if err := cfg.Topics.Compile(); err != nil {
		t.Fatal(err)
	}
	r := startEngine(t, cfg, replicate.Options{})
	ctx := context.Background()
	waitRecords := func(topic string, p int32, n int64) {
		t.Helper()
		kafkatest.Eventually(t, 60*time.Second, func() error {
			ends, err := tgt.Admin(t).ListEndOffsets(ctx, topic)
			if err != nil {
				return err
			}
			if o, ok := ends.Lookup(topic, p); !ok || o.Offset != n {
				return fmt.Errorf("target %s[%d] end %v, want %d", topic, p, o.Offset, n)
			}
			return nil
		})
	}
	waitRecords(first, 0, 1)

	// A new topic appears.
	second := prefix + ".second"
	createTopic(t, src, second, 2, nil)
	produce(t, cl, &kgo.Record{Topic: second, Partition: 1, Value: []byte("b")})
	waitRecords(second, 1, 1)

	// Partitions increase.
	if _, err := src.Admin(t).UpdatePartitions(ctx, 3, first); err != nil {
		t.Fatal(err)
	}
	// A fresh client sees the third partition at once.
	kafkatest.Eventually(t, 30*time.Second, func() error {
		c := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		defer c.Close()
		return c.ProduceSync(ctx, &kgo.Record{Topic: first, Partition: 2, Value: []byte("c")}).FirstErr()
	})
	waitRecords(first, 2, 1)

	// A config changes.
	v := "3600000"
	if _, err := src.Admin(t).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &v}}, first); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 60*time.Second, func() error {
		rcs, err := tgt.Admin(t).DescribeTopicConfigs(ctx, first)
		if err != nil {
			return err
		}
		c, err := rcs.On(first, nil)
		if err != nil {
			return err
		}
		for _, kv := range c.Configs {
			if kv.Key == "retention.ms" && kv.Value != nil && *kv.Value == v {
				return nil
			}
		}
		return fmt.Errorf("target retention.ms not %s yet", v)
	})

	// The source topic goes away; the target keeps it.
	if _, err := src.Admin(t).DeleteTopics(ctx, second); err != nil {
		t.Fatal(err)
	}
	r.eventLike(t, "source topic "+second+" was deleted")
	tds, err := tgt.Admin(t).ListTopics(ctx, second)
	if err != nil || tds[second].Err != nil {
		t.Errorf("target topic %s is gone: %v %v", second, err, tds[second].Err)
	}
}

// TestRetentionDeletesEverything deletes every source record while the copy is
// behind: no record follows to reveal the jump, so the engine must notice the new
// log start itself, report the lost range and count the partition as caught up.
func TestRetentionDeletesEverything(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "wiped")
	createTopic(t, src, topic, 1, nil)
	value := bytes.Repeat([]byte("w"), 1000)
	var recs []*kgo.Record
	for range 600 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: value})
	}
	produce(t, src.Client(t, kgo.ProducerBatchMaxBytes(8<<10)), recs...)
	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Replication.MaxBytesPerSecond = 50_000
	cfg.Replication.FetchMaxBytes, cfg.Replication.FetchMaxPartitionBytes = 16<<10, 16<<10
	r := startEngine(t, cfg, replicate.Options{})
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if s, _ := r.partition(topic, 0); s.TgtNext < 20 {
			return fmt.Errorf("copied %d", s.TgtNext)
		}
		return nil
	})
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 600})
	if _, err := src.Admin(t).DeleteRecords(context.Background(), del); err != nil {
		t.Fatal(err)
	}
	r.eventLike(t, "were deleted by retention before they were copied", "to 599")
	kafkatest.Eventually(t, 60*time.Second, func() error {
		s, _ := r.partition(topic, 0)
		if s.SrcNext != 600 || s.Lag != 0 {
			return fmt.Errorf("source next %d, lag %d", s.SrcNext, s.Lag)
		}
		if len(s.Lost) != 1 || s.Lost[0].To != 600 {
			return fmt.Errorf("lost %+v", s.Lost)
		}
		return nil
	})
	if tr, ok := r.engine.Translate(topic, 0, 600); !ok || tr.Kind != offsetmap.Exact {
		t.Errorf("translate(end) = %v, want exact", tr)
	}
}
