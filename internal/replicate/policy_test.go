package replicate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// TestCleanupPolicyChangedMidCopy turns a source topic from delete to
// compact while it is copied and written: the target topic follows, the copy
// stays exact, and a restart resumes it as the compacted topic it now is.
func TestCleanupPolicyChangedMidCopy(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "policy")
	createTopic(t, src, topic, 2, map[string]string{"cleanup.policy": "delete"})
	cl := src.Client(t)
	write := func(from, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%50), Value: fmt.Appendf(nil, "v%d", i)})
		}
		produce(t, cl, recs...)
	}
	write(0, 500)
	cfg := migrationConfig(t, src, tgt, topic)
	r := startEngine(t, cfg, replicate.Options{})
	ctx := context.Background()
	policy := func(c *kafkatest.Cluster) string {
		rc, err := c.Admin(t).DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, cf := range rc[0].Configs {
			if cf.Key == "cleanup.policy" && cf.Value != nil {
				return *cf.Value
			}
		}
		return ""
	}
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0) + endOffset(t, tgt, topic, 1); n < 500 {
			return fmt.Errorf("target holds %d records", n)
		}
		return nil
	})
	if _, err := src.Admin(t).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, topic); err != nil {
		t.Fatal(err)
	}
	write(500, 500)
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if p := policy(tgt); p != "compact" {
			return fmt.Errorf("target cleanup.policy %q", p)
		}
		if n := endOffset(t, tgt, topic, 0) + endOffset(t, tgt, topic, 1); n < 1000 {
			return fmt.Errorf("target holds %d records", n)
		}
		return nil
	})
	r.stop(t)
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))

	write(1000, 100)
	again := startEngine(t, cfg, replicate.Options{UntilCaughtUp: true})
	select {
	case err := <-again.done:
		again.done <- nil
		if err != nil {
			t.Fatalf("restart after the policy change: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the restart did not catch up")
	}
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
}
