package replicate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// TestSourceTruncatedWhileStopped loses the tail of a source partition after
// kmigrate copied it and stopped, as a broker that lost its disk (or an
// unclean leader election) does: the source broker is killed, its log segment
// cut in half on disk, and restarted, so Kafka's recovery truncates the log.
// The next run must stop the partition naming the offsets, not copy on (the
// first fetch past the new end would otherwise reset silently): first while
// the source ends before the checkpoint, then after new records took the lost
// offsets. The target is never written again.
func TestSourceTruncatedWhileStopped(t *testing.T) {
	src := kafkatest.StartT(t, kafkatest.UniqueName(t, "trunc"), kafkatest.Options{Topology: kafkatest.TopologySingle})
	_, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "truncated")
	createTopic(t, src, topic, 1, nil)
	cl := src.Client(t)
	for i := range 400 {
		produce(t, cl, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "old %d", i)})
	}
	cfg := migrationConfig(t, src, tgt, topic)
	r := startEngine(t, cfg, replicate.Options{UntilCaughtUp: true})
	select {
	case err := <-r.done:
		r.done <- nil
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the first copy did not finish")
	}
	r.stop(t)
	if n := endOffset(t, tgt, topic, 0); n != 400 {
		t.Fatalf("target holds %d records, want 400", n)
	}

	// The source broker loses the second half of its log.
	node := src.Brokers()[0]
	if err := src.KillNode(node.ID); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(node.DataDir, topic+"-0", "00000000000000000000.log")
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := src.StartNode(context.Background(), node.ID); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if n := endOffset(t, src, topic, 0); n >= 400 || n <= 0 {
			return fmt.Errorf("source ends at %d", n)
		}
		return nil
	})
	end := endOffset(t, src, topic, 0)

	run := func(wants ...string) {
		t.Helper()
		r := startEngine(t, cfg, replicate.Options{UntilCaughtUp: true})
		var err error
		select {
		case err = <-r.done:
			r.done <- nil // stop would report the expected failure
		case <-time.After(90 * time.Second):
			t.Fatal("the run did not end")
		}
		r.stop(t)
		if err == nil {
			t.Fatal("the run copied on over a truncated source")
		}
		ev := r.eventLike(t, append([]string{topic + "/0"}, wants...)...)
		if ev.Level != "error" {
			t.Errorf("truncation reported at level %s: %s", ev.Level, ev.Message)
		}
		if !strings.Contains(ev.Message, "kmigrate reset --topic "+topic) {
			t.Errorf("the error does not say the way forward: %s", ev.Message)
		}
		if n := endOffset(t, tgt, topic, 0); n != 400 {
			t.Errorf("the target changed from 400 to %d records", n)
		}
	}
	// The source ends before what was copied.
	run(fmt.Sprintf("ends at offset %d, but kmigrate had read it up to offset 399", end), fmt.Sprintf("lost offsets %d to 399", end))

	// New records take the lost offsets and the source grows past the
	// checkpoint: the record at the last copied offset is not the copied one.
	for i := range 400 - int(end) + 50 {
		produce(t, cl, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "new %d", i)})
	}
	run("offset 399 is not the record kmigrate copied from there")
}
