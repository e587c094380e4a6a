package replicate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestFutureTimestampsAccepted copies records stamped two hours ahead, from a
// source topic without a bound on future timestamps (what Kafka 3 clusters
// effectively had). Kafka 4's default bound on the target is one hour, so a
// target topic created with the broker defaults refuses them with
// INVALID_TIMESTAMP; kmigrate creates it able to take what the source took.
func TestFutureTimestampsAccepted(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "future")
	createTopic(t, src, topic, 1, map[string]string{"message.timestamp.after.max.ms": "9223372036854775807"})
	ahead := time.Now().Add(2 * time.Hour)
	var recs []*kgo.Record
	for i := range 50 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "ahead-%d", i), Timestamp: ahead})
	}
	produce(t, src.Client(t), recs...)
	cfg := migrationConfig(t, src, tgt, topic)
	if err := runUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, tgt, topic)
	assertSameRecords(t, readAll(t, src, topic), got)
	if len(got[0]) != 50 || !got[0][0].Timestamp.Equal(ahead.Truncate(time.Millisecond)) {
		t.Errorf("target holds %d records, first stamped %v, want 50 stamped %v", len(got[0]), got[0][0].Timestamp, ahead)
	}
}

// TestLogAppendTimeTargetDefault copies to a target whose broker default is
// LogAppendTime: the copied records keep their source timestamps.
func TestLogAppendTimeTargetDefault(t *testing.T) {
	src, _ := clusters(t)
	tgt := kafkatest.StartT(t, kafkatest.UniqueName(t, "lat"), kafkatest.Options{Topology: kafkatest.TopologySingle})
	adm := tgt.Admin(t)
	ctx := context.Background()
	v := "LogAppendTime"
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.message.timestamp.type", Value: &v}})
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("set the target's default timestamp type: %v", err)
	}
	// The default applies once the broker has it: a probe topic shows it.
	probe := kafkatest.UniqueName(t, "probe")
	createTopic(t, tgt, probe, 1, nil)
	kafkatest.Eventually(t, 30*time.Second, func() error {
		rcs, err := adm.DescribeTopicConfigs(ctx, probe)
		if err != nil {
			return err
		}
		rc, err := rcs.On(probe, nil)
		if err != nil {
			return err
		}
		for _, c := range rc.Configs {
			if c.Key == "message.timestamp.type" && c.Value != nil && *c.Value == "LogAppendTime" {
				return nil
			}
		}
		return fmt.Errorf("topics on the target do not default to LogAppendTime yet")
	})
	topic := kafkatest.UniqueName(t, "stamped")
	createTopic(t, src, topic, 1, nil)
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	produce(t, src.Client(t), &kgo.Record{Topic: topic, Value: []byte("old"), Timestamp: old})
	cfg := migrationConfig(t, src, tgt, topic)
	if err := runUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, tgt, topic)[0]
	if len(got) != 1 || !got[0].Timestamp.Equal(old) || got[0].Attrs.TimestampType() != 0 {
		t.Fatalf("target record %+v, want one CreateTime record stamped %v", got, old)
	}
}
