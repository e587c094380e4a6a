package replicate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// TestCheckpointOutagePausesCopy makes the state topic refuse every write (its
// max.message.bytes below any checkpoint) while records keep arriving: after
// the outage bound the engine stops taking new source data, so that a crash
// would leave a bounded tail to reconcile; once the state topic takes writes
// again the copy resumes and ends exact.
func TestCheckpointOutagePausesCopy(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "outage")
	createTopic(t, src, topic, 1, nil)
	produce(t, src.Client(t), records(topic, "before", 100)...)
	cfg := migrationConfig(t, src, tgt, topic)
	r := startEngine(t, cfg, replicate.Options{})
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0); n != 100 {
			return fmt.Errorf("target has %d records", n)
		}
		return nil
	})
	adm := tgt.Admin(t)
	setStateLimit := func(v *string) {
		t.Helper()
		op := kadm.SetConfig
		if v == nil {
			op = kadm.DeleteConfig
		}
		resp, err := adm.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Op: op, Name: "max.message.bytes", Value: v}}, state.TopicName(cfg.Migration))
		if err == nil {
			err = resp[0].Err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tiny := "16"
	setStateLimit(&tiny)
	broke := time.Now()
	// Keep the source busy until the engine says it paused.
	var paused replicate.Event
	kafkatest.Eventually(t, 90*time.Second, func() error {
		produce(t, src.Client(t), records(topic, "during", 20)...)
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.events {
			if e.Level == "error" && strings.Contains(e.Message, "new source data is paused") {
				paused = e
				return nil
			}
		}
		return fmt.Errorf("not paused yet")
	})
	t.Logf("paused after %s: %s", time.Since(broke).Round(time.Second), paused.Message)
	// While paused, none of the records written from now on is copied (what
	// was fetched before the pause may still land).
	limit := endOffset(t, src, topic, 0)
	produce(t, src.Client(t), records(topic, "paused", 200)...)
	if err := kafkatest.Poll(5*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0); n > limit {
			return nil
		}
		return fmt.Errorf("target at or below %d", limit)
	}); err == nil {
		t.Errorf("the target grew past %d while the state topic could not be written", limit)
	}
	setStateLimit(nil)
	want := endOffset(t, src, topic, 0)
	kafkatest.Eventually(t, 90*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0); n != want {
			return fmt.Errorf("target has %d of %d records", n, want)
		}
		return nil
	})
	r.eventLike(t, "copying resumes")
	r.stop(t)
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
}
