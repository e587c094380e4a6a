package replicate_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

func records(topic, prefix string, n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		out[i] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	return out
}

// recreate deletes a topic and creates it again under the same name, waiting
// until the new topic has a new id.
func recreate(t *testing.T, c *kafkatest.Cluster, topic string) {
	t.Helper()
	adm := c.Admin(t)
	ctx := context.Background()
	old, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 60*time.Second, func() error {
		resp, err := adm.CreateTopic(ctx, 1, -1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		return err
	})
	kafkatest.Eventually(t, 30*time.Second, func() error {
		now, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return err
		}
		if d := now[topic]; d.Err != nil || d.ID == old[topic].ID || len(d.Partitions) == 0 || d.Partitions[0].Leader < 0 {
			return fmt.Errorf("topic %s not recreated yet", topic)
		}
		return nil
	})
}

// TestRecreatedSourceTopicStops deletes and recreates a source topic between two
// runs (1,000 records copied; then 1,500 new ones and a group committed at 500
// on the new topic): the second run must stop the topic with an error naming
// both topic ids, copy nothing more, and the group must not be translated into
// the old topic's records. `kmigrate reset --topic` then starts it over and the
// target ends with exactly the new topic's records.
func TestRecreatedSourceTopicStops(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "recreated")
	createTopic(t, src, topic, 1, nil)
	produce(t, src.Client(t), records(topic, "old", 1000)...)
	cfg := migrationConfig(t, src, tgt, topic)
	if err := runUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	oldID := topicID(t, src, topic)

	recreate(t, src, topic)
	produce(t, src.Client(t), records(topic, "new", 1500)...)
	group := kafkatest.UniqueName(t, "g")
	if err := src.Admin(t).CommitAllOffsets(context.Background(), group, offsets(topic, 0, 500)); err != nil {
		t.Fatal(err)
	}

	err := runUntilCaughtUp(t, cfg)
	if err == nil || !errors.Is(err, replicate.ErrTopicRecreated) {
		t.Fatalf("second run: %v, want an error for the recreated topic", err)
	}
	for _, want := range []string{topic, oldID, topicID(t, src, topic), "kmigrate reset"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
	if n := endOffset(t, tgt, topic, 0); n != 1000 {
		t.Errorf("target has %d records after the refused run, want the 1000 old ones", n)
	}

	rep := groupPass(t, src, tgt, cfg)
	var row *groups.Row
	for i := range rep.Rows {
		if rep.Rows[i].Group == group {
			row = &rep.Rows[i]
		}
	}
	if row == nil || row.Status != groups.Stopped || !strings.Contains(row.Reason, "recreated") {
		t.Fatalf("group row = %+v, want status stopped", row)
	}
	if offs, err := tgt.Admin(t).FetchOffsets(context.Background(), group); err == nil {
		if o, ok := offs.Lookup(topic, 0); ok && o.At >= 0 {
			t.Errorf("the group was committed on the target at %d", o.At)
		}
	}

	// The documented way forward.
	out, err := exec.Command(kafkatest.KmigrateBinary(t), "reset", "-c", writeConfig(t, cfg.Migration, src, tgt, "", topic), "--topic", topic, "--yes").CombinedOutput()
	if err != nil {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	if err := runUntilCaughtUp(t, cfg); err != nil {
		t.Fatalf("run after reset: %v", err)
	}
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
}

// TestTopicRecreatedWhileRunning recreates the source topic under a running
// engine: the partition stops with the identity error, and not one record of
// the new topic follows the old ones on the target.
func TestTopicRecreatedWhileRunning(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "recreated-live")
	createTopic(t, src, topic, 1, nil)
	produce(t, src.Client(t), records(topic, "old", 300)...)
	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Replication.DiscoveryInterval.Duration = time.Second
	r := startEngine(t, cfg, replicate.Options{})
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0); n != 300 {
			return fmt.Errorf("target has %d records", n)
		}
		return nil
	})
	recreate(t, src, topic)
	produce(t, src.Client(t), records(topic, "new", 500)...)
	kafkatest.Eventually(t, 60*time.Second, func() error {
		s, ok := r.partition(topic, 0)
		if !ok || !strings.Contains(s.Error, "recreated") {
			return fmt.Errorf("partition status %+v", s)
		}
		return nil
	})
	if n := endOffset(t, tgt, topic, 0); n != 300 {
		t.Errorf("target has %d records, want the 300 of the old topic", n)
	}
}

// TestDeletedTargetTopicNotRecreated deletes the target topic between runs: the
// next run stops the topic (the map describes offsets that no longer exist)
// instead of creating an empty target topic and copying into it from the
// checkpoint.
func TestDeletedTargetTopicNotRecreated(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "tgt-deleted")
	createTopic(t, src, topic, 1, nil)
	produce(t, src.Client(t), records(topic, "a", 200)...)
	cfg := migrationConfig(t, src, tgt, topic)
	if err := runUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.Admin(t).DeleteTopic(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		d, err := tgt.Admin(t).ListTopics(context.Background(), topic)
		if err == nil && d[topic].Err == nil {
			err = fmt.Errorf("target topic %s still listed", topic)
		}
		if err != nil && strings.Contains(err.Error(), "still listed") {
			return err
		}
		return nil
	})
	err := runUntilCaughtUp(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "target topic "+topic+" was deleted") {
		t.Fatalf("run after the target topic was deleted: %v", err)
	}
	d, lerr := tgt.Admin(t).ListTopics(context.Background(), topic)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if dd, ok := d[topic]; ok && dd.Err == nil {
		t.Errorf("the run recreated target topic %s", topic)
	}
}

func topicID(t *testing.T, c *kafkatest.Cluster, topic string) string {
	t.Helper()
	d, err := c.Admin(t).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return offsetmap.TopicID(d[topic].ID).String()
}

// groupPass runs one translation pass through the state on the target, as
// `kmigrate groups sync --once` does while no run is alive.
func groupPass(t *testing.T, src, tgt *kafkatest.Cluster, cfg *config.Config) *groups.Report {
	t.Helper()
	tr := groups.NewStateTranslator(cfg, loadState(t, tgt, cfg))
	rep, err := groups.NewSyncer(cfg, nil, src.Client(t), tgt.Client(t), tr, nil).Pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestForeignAppendDetected appends records to a target partition behind the
// engine's back while it has nothing in flight: the partition stops within
// seconds, naming the offsets, instead of at the next record it copies.
func TestForeignAppendDetected(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "foreign-append")
	createTopic(t, src, topic, 1, nil)
	produce(t, src.Client(t), records(topic, "a", 100)...)
	r := startEngine(t, migrationConfig(t, src, tgt, topic), replicate.Options{})
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0); n != 100 {
			return fmt.Errorf("target has %d records", n)
		}
		return nil
	})
	start := time.Now()
	produce(t, tgt.Client(t), records(topic, "intruder", 3)...)
	kafkatest.Eventually(t, 30*time.Second, func() error {
		s, _ := r.partition(topic, 0)
		if !strings.Contains(s.Error, "offsets 100 to 102 that this process did not write") || !strings.Contains(s.Error, "producer ids") {
			return fmt.Errorf("partition status error %q", s.Error)
		}
		return nil
	})
	t.Logf("foreign append found after %s", time.Since(start).Round(100*time.Millisecond))
}
