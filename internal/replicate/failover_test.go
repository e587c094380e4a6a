package replicate_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// TestTargetBrokerKilledMidCopy copies to the article's topology (3 controllers,
// 3 brokers, RF 3, min.insync.replicas 2) and kills a target broker with SIGKILL
// in the middle of the copy, then starts it again: leaders move, the producer
// retries, and the target still holds every source record exactly once, in order.
func TestTargetBrokerKilledMidCopy(t *testing.T) {
	src, _ := clusters(t)
	tgt := kafkatest.StartT(t, kafkatest.UniqueName(t, "tgt-failover"), kafkatest.Options{Topology: kafkatest.TopologySeed})
	topic := kafkatest.UniqueName(t, "failover")
	createTopic(t, src, topic, 6, nil)
	value := bytes.Repeat([]byte("f"), 1000)
	var recs []*kgo.Record
	for i := range 12000 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: value})
	}
	produce(t, src.Client(t, kgo.ProducerBatchMaxBytes(64<<10)), recs...)

	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Replication.MaxBytesPerSecond = 1_000_000
	r := startEngine(t, cfg, replicate.Options{})
	copied := func() int64 {
		var n int64
		for _, s := range r.engine.Status() {
			n += s.TgtNext - s.TgtStart
		}
		return n
	}
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if n := copied(); n < 2000 {
			return fmt.Errorf("copied %d", n)
		}
		return nil
	})
	victim := tgt.Brokers()[1].ID
	if err := tgt.KillBroker(victim); err != nil {
		t.Fatal(err)
	}
	before := copied()
	kafkatest.Eventually(t, 90*time.Second, func() error {
		if n := copied(); n < before+2000 {
			return fmt.Errorf("copied %d since broker %d died, waiting for 2000", n-before, victim)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tgt.StartBroker(ctx, victim); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 120*time.Second, func() error {
		if n := copied(); n < 12000 {
			return fmt.Errorf("copied %d of 12000", n)
		}
		return nil
	})
	for _, s := range r.engine.Status() {
		if s.Error != "" {
			t.Errorf("partition %d failed: %s", s.Partition, s.Error)
		}
	}
	r.stop(t)
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
}
